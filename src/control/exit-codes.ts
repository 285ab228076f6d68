/** The one mapping from our errors (the domain services' and the lower layers') to iscsiadm exit codes (open-iscsi include/iscsi_err.h). */
import { LoginError, ProtocolError, TransportError, DigestError, ReplacementTimeoutError, CommandTimeoutError } from '../iscsi/errors.js';
import { IdentityChangedError } from '../../machines/errors.js';
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
import { ControlError } from './api.js';

export { ExitCode, exitCodeText } from './exit-code-table.js';
import { ExitCode } from './exit-code-table.js';

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
