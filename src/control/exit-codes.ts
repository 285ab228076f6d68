/** The one mapping from our errors (the domain services' and the lower layers') to iscsiadm exit codes (open-iscsi include/iscsi_err.h). */
import { LoginError, ProtocolError, TransportError, DigestError, ReplacementTimeoutError, CommandTimeoutError } from '../iscsi/errors.js';
import { IdentityChangedError } from '../../machines/session.machine.js';
import {
  AccessDeniedError,
  AlreadyExistsError,
  IfaceMissingError,
  InvalidRequestError,
  LogoutFailedError,
  NotFoundError,
  OperationFailedError,
  RecordInUseError,
  SessionNotFoundError,
  ShuttingDownError,
  type ServiceError,
} from '../services/errors.js';
import { ControlError } from './host.js';

export const ExitCode = {
  SUCCESS: 0,
  GENERIC: 1,
  SESS_NOT_FOUND: 2,
  NOMEM: 3,
  TRANS: 4,
  LOGIN: 5,
  IDBM: 6,
  INVAL: 7,
  TRANS_TIMEOUT: 8,
  INTERNAL: 9,
  LOGOUT: 10,
  PDU_TIMEOUT: 11,
  TRANS_NOT_FOUND: 12,
  ACCESS: 13,
  TRANS_CAPS: 14,
  SESS_EXISTS: 15,
  INVALID_MGMT_REQ: 16,
  ISNS_UNAVAILABLE: 17,
  ISCSID_COMM_ERR: 18,
  FATAL_LOGIN: 19,
  ISCSID_NOTCONN: 20,
  NO_OBJS_FOUND: 21,
  SYSFS_LOOKUP: 22,
  HOST_NOT_FOUND: 23,
  LOGIN_AUTH_FAILED: 24,
  ISNS_QUERY: 25,
  ISNS_REG_FAILED: 26,
  OP_NOT_SUPP: 27,
  BUSY: 28,
  AGAIN: 29,
  UNKNOWN_DISCOVERY_TYPE: 30,
  CHILD_TERMINATED: 31,
  SESSION_NOT_CONNECTED: 32,
  REQ_TIMEDOUT: 33,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** iscsiadm's words for each code (open-iscsi's iscsi_err_to_str), as in `initiator reported error (24 - ...)`. */
const EXIT_CODE_TEXT: Readonly<Record<number, string>> = {
  0: 'success',
  1: 'unknown error',
  2: 'session not found',
  3: 'no available memory',
  4: 'encountered connection failure',
  5: 'encountered iSCSI login failure',
  6: 'encountered iSCSI database failure',
  7: 'invalid parameter',
  8: 'connection timed out',
  9: 'internal error',
  10: 'encountered iSCSI logout failure',
  11: 'iSCSI PDU timed out',
  12: 'iSCSI driver not found',
  13: 'daemon access denied',
  14: 'iSCSI driver does not support requested capability',
  15: 'session exists',
  16: 'Unknown request',
  17: 'iSNS service not supported',
  18: 'could not communicate to iscsid',
  19: 'encountered non-retryable iSCSI login failure',
  20: 'could not connect to iscsid',
  21: 'no objects found',
  22: 'sysfs lookup failure',
  23: 'host not found',
  24: 'iSCSI login failed due to authorization failure',
  25: 'iSNS query failed',
  26: 'iSNS registration failed',
  27: 'operation not supported',
  28: 'device or resource in use',
  29: 'operation failed but retry may succeed',
  30: 'unknown discovery type',
  31: 'child process terminated',
  32: 'iSCSI session is not connected',
  33: 'request timed out',
};

export function exitCodeText(code: number): string {
  return EXIT_CODE_TEXT[code] ?? 'unknown error';
}

/** Each domain failure kind (src/services/errors.ts) and its code: the one table, for NATS replies and the CLIs alike. */
const SERVICE_ERROR_CODES: ReadonlyArray<readonly [abstract new (...args: never[]) => ServiceError, ExitCode]> = [
  [InvalidRequestError, ExitCode.INVAL],
  [NotFoundError, ExitCode.NO_OBJS_FOUND],
  [SessionNotFoundError, ExitCode.SESS_NOT_FOUND],
  [AlreadyExistsError, ExitCode.SESS_EXISTS],
  // iscsiadm's answer to deleting a record a session uses ("Logout session then rerun command").
  [RecordInUseError, ExitCode.SESS_EXISTS],
  // iscsiadm 2.1.8 answers 3 to `-m node -o new -I MISSING`; the daemon's node.new answers the same.
  [IfaceMissingError, ExitCode.NOMEM],
  [AccessDeniedError, ExitCode.ACCESS],
  [LogoutFailedError, ExitCode.LOGOUT],
  // As iscsiadm when iscsid goes away under it.
  [ShuttingDownError, ExitCode.ISCSID_NOTCONN],
];

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof OperationFailedError) return exitCodeFor(err.cause);
  for (const [kind, code] of SERVICE_ERROR_CODES) if (err instanceof kind) return code;
  if (err instanceof ControlError) return err.code as ExitCode;
  if (err instanceof LoginError) {
    switch (err.kind) {
      case 'authentication':
        return ExitCode.LOGIN_AUTH_FAILED;
      case 'authorization':
        return ExitCode.ACCESS;
      case 'timeout':
        return ExitCode.TRANS_TIMEOUT;
      case 'not-found':
      case 'initiator':
        return ExitCode.FATAL_LOGIN;
      default:
        return ExitCode.LOGIN;
    }
  }
  // A relogin reached another LU behind the same target name and LUN (VPD 0x83 WWID / 0x80 serial changed):
  // the session is failed for good, like a login the target refuses with status class 2. Not TRANS (4):
  // that says "connection failure", which invites a retry, and a retry reaches the same other LU.
  if (err instanceof IdentityChangedError) return ExitCode.FATAL_LOGIN;
  // The held commands failed because no relogin succeeded within replacement_timeout: the transport
  // timed out (the kernel logs "session recovery timed out"), iscsiadm's "connection timed out".
  if (err instanceof ReplacementTimeoutError) return ExitCode.TRANS_TIMEOUT;
  // A command the target never completed, through every abort, reset and re-issue: timed out, like the above.
  if (err instanceof CommandTimeoutError) return ExitCode.TRANS_TIMEOUT;
  if (err instanceof TransportError || err instanceof DigestError) return ExitCode.TRANS;
  if (err instanceof ProtocolError) return ExitCode.TRANS;
  if (err instanceof RangeError || (err instanceof Error && err.name === 'UrlError')) return ExitCode.INVAL;
  return ExitCode.GENERIC;
}
