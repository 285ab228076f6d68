/** The initiator's view of one SCSI task (RFC 7143 §3.2.4): its command, data buffers and completion. */
import type { ScsiCommandRequest, ScsiResult } from './types.js';

export interface Task {
  itt: number;
  cmdSN: number;
  req: ScsiCommandRequest;
  /** Where the outcome goes: once, with the result or the error. */
  sink: TaskSink;
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

/**
 * Receives a task's outcome. Session.execute wraps a promise's resolve/reject in one; ManagedSession's command
 * record is one itself, so a command costs no promise or closures between the session and its owner.
 * Session calls it synchronously from the PDU that completes the task (or from the failure that ends it).
 */
export interface TaskSink {
  done(result: ScsiResult): void;
  fail(err: Error): void;
}
