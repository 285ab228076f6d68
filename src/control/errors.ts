/**
 * The control plane's one mapping from failures to wire error codes (iscsiadm exit codes, open-iscsi
 * include/iscsi_err.h) and the mpiscsi.v1.Error body: used by the service on every error reply and by the
 * client for every failure it reports.
 */
import { ServiceError } from '../services/errors.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { ControlError } from './api.js';
import { ControlDecodeError } from './proto-binary.js';

/** What iscsiadm prints when it cannot reach iscsid; the client's message for an unreachable daemon. */
export const DAEMON_NOT_CONNECTED = 'can not connect to iSCSI daemon (mpiscsid is not running)!';

type ControlErrorLike = Error & { code: number; lines?: unknown };

function isControlErrorLike(err: unknown): err is ControlErrorLike {
  // instanceof fails across two copies of this module (dist/ and src/ in one process); the shape does not.
  return err instanceof Error && err.name === 'ControlError' && typeof (err as { code?: unknown }).code === 'number';
}

/** Any failure inside the service as the ControlError its error reply carries. */
export function toControlError(err: unknown): ControlError {
  if (err instanceof ControlError) return err;
  if (isControlErrorLike(err)) {
    const lines = Array.isArray(err.lines) ? err.lines.map(String) : [];
    return new ControlError(err.code, err.message, lines, { cause: err });
  }
  if (err instanceof ControlDecodeError) return new ControlError(ExitCode.INVAL, err.message, [], { cause: err });
  // A domain service's failure: its code from the one table (exit-codes.ts), its lines as iscsiadm prints them.
  if (err instanceof ServiceError) return new ControlError(exitCodeFor(err), err.message, err.lines, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new ControlError(ExitCode.INTERNAL, message || 'internal error', [], { cause: err });
}

/** A NATS header value may not hold CR or LF; the body keeps the full text. */
export function headerSafe(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1024);
}

/** The client's error for a daemon it cannot reach (no responders, timeout, connection down). */
export function notConnected(cause: unknown, ...lines: string[]): ControlError {
  return new ControlError(ExitCode.ISCSID_NOTCONN, DAEMON_NOT_CONNECTED, lines, { cause });
}
