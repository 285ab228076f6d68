/**
 * Error classes of the SCSI codecs: target data whose length fields contradict it (SPC-4), and commands
 * that ended with a status other than GOOD (SAM-5), with their sense data (SPC-4 §4.5).
 */
import type { SenseData } from './sense.js';
import { ScsiStatus, scsiStatusName } from './status.js';

export { ScsiParseError } from './parse-error.js';

/** `ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)`: the one-line form used in logs. */
export function senseSummary(sense: Pick<SenseData, 'keyName' | 'description' | 'asc' | 'ascq'>): string {
  return `${sense.keyName}, ${sense.description} (0x${hex2(sense.asc)}/0x${hex2(sense.ascq)})`;
}

/** The command ended with CHECK CONDITION and the target sent sense data explaining why. */
export class CheckConditionError extends Error {
  override readonly name = 'CheckConditionError';
  readonly status = ScsiStatus.CHECK_CONDITION;

  constructor(
    readonly sense: SenseData,
    options?: ErrorOptions,
  ) {
    super(`CHECK CONDITION: ${senseSummary(sense)}`, options);
  }
}

/**
 * The command ended with a status that carries no sense data (BUSY, RESERVATION CONFLICT, TASK SET FULL,
 * ACA ACTIVE, TASK ABORTED), or with CHECK CONDITION but no usable sense data (then `cause` says why).
 */
export class ScsiStatusError extends Error {
  override readonly name = 'ScsiStatusError';
  readonly statusName: string;

  constructor(
    readonly status: number,
    options?: ErrorOptions,
  ) {
    const statusName = scsiStatusName(status);
    super(`SCSI status ${statusName} (0x${hex2(status)})`, options);
    this.statusName = statusName;
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
