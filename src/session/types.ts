/** Types the session data path exchanges with its callers. */

export interface ScsiCommandRequest {
  lun: number;
  cdb: Buffer;
  /** Bytes the command reads from the target (Data-In), 0 for none. */
  dataIn?: number;
  /** Bytes the command writes to the target (Data-Out). */
  dataOut?: Buffer;
  /** Read straight into this buffer (length >= dataIn) instead of a new one. */
  readInto?: Buffer;
  /** Task attribute (§11.3.1); SIMPLE unless given. */
  attr?: number;
}

export interface ScsiResult {
  /** SCSI status byte (0 GOOD, 2 CHECK CONDITION, ...). */
  status: number;
  /** Data-In bytes received (reads); empty for other commands. */
  data: Buffer;
  /** Residual count and its direction (§11.4.5). */
  residual: number;
  underflow: boolean;
  overflow: boolean;
  /** Sense data (CHECK CONDITION), without the 2-byte SenseLength. */
  sense?: Buffer;
}
