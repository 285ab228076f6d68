/**
 * The domain services' failures, one class per kind, so that each boundary maps them once: src/control/exit-codes.ts
 * holds the one table from these classes to iscsiadm exit codes (open-iscsi include/iscsi_err.h), which the NATS
 * replies, the offline mpiscsiadm and `mpiscsi serve` all use. No service builds an exit code itself.
 */

/** What every service failure has: a message, and lines iscsiadm prints after it (e.g. "Could not execute operation ..."). */
export abstract class ServiceError extends Error {
  readonly lines: string[];
  constructor(message: string, options?: { cause?: unknown; lines?: string[] }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.lines = options?.lines ?? [];
  }
}

/** The request itself is wrong: a missing name, a bad value, an empty filter where "all" must be said. */
export class InvalidRequestError extends ServiceError {
  override readonly name = 'InvalidRequestError';
}

/** Nothing matched: no node record, iface, session for a filter, multipath device, path or export of that name. */
export class NotFoundError extends ServiceError {
  override readonly name = 'NotFoundError';
}

/** A session id that names no session (iscsiadm -m session -r SID). */
export class SessionNotFoundError extends ServiceError {
  override readonly name = 'SessionNotFoundError';
}

/** The thing asked for is there already: a session for the node record, an export of that name. */
export class AlreadyExistsError extends ServiceError {
  override readonly name = 'AlreadyExistsError';
}

/** A node record a session is using cannot be deleted (iscsiadm: "Logout session then rerun command"). */
export class RecordInUseError extends ServiceError {
  override readonly name = 'RecordInUseError';
}

/**
 * `-o new` names an iface that has no record. Its own kind because iscsiadm 2.1.8 answers it with its own code
 * (3), not the "no objects found" of a missing iface elsewhere.
 */
export class IfaceMissingError extends ServiceError {
  override readonly name = 'IfaceMissingError';
}

/** The request would go outside what the daemon allows: a socket outside its directories, a non-loopback export. */
export class AccessDeniedError extends ServiceError {
  override readonly name = 'AccessDeniedError';
}

/** The daemon is shutting down: no new logins, and logins in progress are abandoned. */
export class ShuttingDownError extends ServiceError {
  override readonly name = 'ShuttingDownError';
}

/**
 * An operation failed because a lower layer did (a login the target refused, a discovery that could not
 * connect, a LU that would not open): the message says what was being done, and the exit code is the cause's.
 */
export class OperationFailedError extends ServiceError {
  override readonly name = 'OperationFailedError';
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

/** A logout the target did not complete (the session is stopped all the same). */
export class LogoutFailedError extends ServiceError {
  override readonly name = 'LogoutFailedError';
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}
