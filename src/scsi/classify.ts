/**
 * What the initiator should do with a command's outcome: retry it, fail the path over, or hand the answer
 * to the caller; the multipath policy for SCSI status (SAM-5) and sense data (SPC-4 §4.5).
 *
 * The classes follow Linux, which dm-multipath users know: scsi_check_sense() decides what is retried on
 * the same path, and dm-mpath's blk_path_error() decides what fails over. Failing over is the default:
 * dm-mpath re-issues on another path every error except the ones that are the logical unit's own answer
 * about the command or the data (BLK_STS_TARGET, _MEDIUM, _NEXUS, _NOSPC, _PROTECTION, _NOTSUPP). Those
 * would get the same answer on every path, so re-issuing them only delays the caller's error, and for
 * writes it can hide a real failure. Anything we cannot place counts as a path problem: a healthy path is
 * reinstated by the path checker, while a wrong "target answer" would fail I/O that another path serves.
 */
import { CheckConditionError, ScsiStatusError } from './errors.js';
import { parseSense, SenseKey, type SenseData } from './sense.js';
import { ScsiStatus } from './status.js';

/**
 * - `ok`: the command completed; the sense data is informational (RECOVERED ERROR, NO SENSE, COMPLETED).
 * - `retry`: transient, re-issue on the same path at once (UNIT ATTENTION after a reset or a change,
 *   ABORTED COMMAND, TASK ABORTED). A UNIT ATTENTION may also ask the caller to re-read something:
 *   capacity (2A/09), LUN list (3F/0E), ALUA states (2A/06), INQUIRY data (3F/03).
 * - `retry-after-pause`: transient, re-issue on the same path after a short pause (BUSY, TASK SET FULL,
 *   ACA ACTIVE; NOT READY while becoming ready, formatting, or in an ALUA transition, 04/01 04/0A...).
 * - `transport`: this path cannot serve the command but another may: fail the path and re-issue elsewhere
 *   (ALUA standby/unavailable 04/0B 04/0C, LOGICAL UNIT NOT SUPPORTED on this port, any other NOT READY,
 *   unknown sense keys). The iSCSI layer adds its own transport errors (connection loss, timeouts).
 * - `target-answer`: the logical unit's answer; return it to the caller and never re-issue it on another
 *   path (MEDIUM ERROR, HARDWARE ERROR, ILLEGAL REQUEST, DATA PROTECT, MISCOMPARE, RESERVATION CONFLICT,
 *   protection information errors).
 */
export type SenseClass = 'ok' | 'retry' | 'retry-after-pause' | 'transport' | 'target-answer';

/**
 * NOT READY ASC 0x04 qualifiers where the logical unit is on its way to ready; Linux
 * (scsi_io_completion_action) waits and retries these on the same path.
 */
const BECOMING_READY_ASCQ: ReadonlySet<number> = new Set([
  0x01, // in process of becoming ready
  0x04, // format in progress
  0x05, // rebuild in progress
  0x06, // recalculation in progress
  0x07, // operation in progress
  0x08, // long write in progress
  0x09, // self-test in progress
  0x0a, // asymmetric access state transition
  0x11, // notify (enable spinup) required
  0x14, // space allocation in progress
  0x1a, // start stop unit command in progress
  0x1b, // sanitize in progress
  0x1d, // configuration in progress
]);

/** Classifies the sense data of a CHECK CONDITION; see `SenseClass`. */
export function classifySense(sense: Pick<SenseData, 'key' | 'asc' | 'ascq'>): SenseClass {
  const { key, asc, ascq } = sense;
  switch (key) {
    case SenseKey.NO_SENSE:
    case SenseKey.RECOVERED_ERROR:
    case SenseKey.COMPLETED:
      return 'ok';

    case SenseKey.UNIT_ATTENTION:
      return 'retry';

    case SenseKey.NOT_READY:
      if (asc === 0x04 && BECOMING_READY_ASCQ.has(ascq)) return 'retry-after-pause';
      // 04/0B standby, 04/0C unavailable: this target port group cannot serve the LU now; another can.
      return 'transport';

    case SenseKey.ABORTED_COMMAND:
      // 10/xx: protection information check failed; the data itself is wrong, on every path.
      return asc === 0x10 ? 'target-answer' : 'retry';

    case SenseKey.ILLEGAL_REQUEST:
      // 25/00: the LU is not mapped behind this target port (a LUN masking or reuse accident): a path problem.
      return asc === 0x25 ? 'transport' : 'target-answer';

    case SenseKey.MEDIUM_ERROR:
    case SenseKey.HARDWARE_ERROR:
    case SenseKey.DATA_PROTECT:
    case SenseKey.BLANK_CHECK:
    case SenseKey.COPY_ABORTED:
    case SenseKey.VOLUME_OVERFLOW:
    case SenseKey.MISCOMPARE:
      return 'target-answer';

    default:
      return 'transport';
  }
}

/**
 * Classifies a SCSI status, with the sense data when the status is CHECK CONDITION. CHECK CONDITION
 * without sense data is retried: the target owes an explanation and usually gives it the second time.
 */
export function classifyStatus(status: number, sense?: Pick<SenseData, 'key' | 'asc' | 'ascq'>): SenseClass {
  switch (status) {
    case ScsiStatus.GOOD:
    case ScsiStatus.CONDITION_MET:
      return 'ok';
    case ScsiStatus.CHECK_CONDITION:
      return sense === undefined ? 'retry' : classifySense(sense);
    case ScsiStatus.BUSY:
    case ScsiStatus.TASK_SET_FULL:
    case ScsiStatus.ACA_ACTIVE:
      return 'retry-after-pause';
    case ScsiStatus.TASK_ABORTED:
      return 'retry';
    case ScsiStatus.RESERVATION_CONFLICT:
      // Another initiator holds a reservation: every path of this host gets the same answer.
      return 'target-answer';
    default:
      return 'transport';
  }
}

/**
 * The one mapping from a SCSI Response's status and sense bytes to an error: undefined for GOOD and
 * CONDITION MET, a CheckConditionError when sense data parses, a ScsiStatusError otherwise (with the
 * ScsiParseError as `cause` when CHECK CONDITION came with sense data we could not read).
 */
export function errorForStatus(status: number, senseBytes?: Buffer): CheckConditionError | ScsiStatusError | undefined {
  if (status === ScsiStatus.GOOD || status === ScsiStatus.CONDITION_MET) return undefined;
  if (status === ScsiStatus.CHECK_CONDITION && senseBytes !== undefined && senseBytes.length > 0) {
    try {
      return new CheckConditionError(parseSense(senseBytes));
    } catch (cause) {
      return new ScsiStatusError(status, { cause });
    }
  }
  return new ScsiStatusError(status);
}
