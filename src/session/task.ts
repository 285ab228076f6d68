/** The initiator's view of one SCSI task (RFC 7143 §3.2.4): its command, data buffers and completion. */
import type { ScsiCommandRequest, ScsiResult } from './types.js';

export interface Task {
  itt: number;
  cmdSN: number;
  req: ScsiCommandRequest;
  resolve(result: ScsiResult): void;
  reject(err: Error): void;
  /** Where Data-In lands: the caller's readInto, or a buffer allocated at the first Data-In. */
  dest: Buffer | undefined;
  /** Bytes of Data-In received, and the end of the highest range written into dest. */
  inBytes: number;
  inEnd: number;
  /** Next DataSN expected from the target on Data-In (§11.7.5; ERL 0 drops on a gap). */
  expDataSN: number;
  /** Bytes of write data sent (unsolicited + R2T-driven). */
  outSent: number;
}
