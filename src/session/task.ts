/** The initiator's view of one SCSI task (RFC 7143 §3.2.4): its command, data buffers and completion. */
import type { ScsiCommandRequest, ScsiResult } from './types.js';

export interface Task {
  itt: number;
  cmdSN: number;
  req: ScsiCommandRequest;
  resolve(result: ScsiResult): void;
  reject(err: Error): void;
  /** Data-In segments received so far (read commands). */
  inSegments: Buffer[];
  inOffsets: number[];
  inBytes: number;
  /** Next DataSN expected from the target on Data-In (§11.7.5; ERL 0 drops on a gap). */
  expDataSN: number;
  /** Bytes of write data sent (unsolicited + R2T-driven). */
  outSent: number;
  issuedAt: number;
}
