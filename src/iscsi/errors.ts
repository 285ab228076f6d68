/** Error classes of the iSCSI layer, one per failure kind (RFC 7143 §7 error handling and §11.13 login status). */

/** Malformed or out-of-contract PDU or text data; the connection that produced it must be dropped. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    message: string,
    readonly opcode?: number,
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(
      message +
        (opcode !== undefined ? ` (opcode 0x${opcode.toString(16).padStart(2, '0')}` : '') +
        (opcode !== undefined && offset !== undefined ? `, offset ${offset})` : opcode !== undefined ? ')' : ''),
      options,
    );
  }
}

/** A header or data digest (CRC32C) did not match (RFC 7143 §7.8). */
export class DigestError extends Error {
  override readonly name = 'DigestError';
  constructor(
    readonly which: 'header' | 'data',
    readonly expected: number,
    readonly actual: number,
    readonly opcode?: number,
  ) {
    super(
      `${which} digest mismatch: received 0x${actual.toString(16).padStart(8, '0')}, computed 0x${expected.toString(16).padStart(8, '0')}`,
    );
  }
}

/** Names of login Status-Class/Status-Detail pairs (RFC 7143 §11.13.5). */
export const LOGIN_STATUS_NAMES: Readonly<Record<string, string>> = {
  '0/0': 'success',
  '1/1': 'target moved temporarily',
  '1/2': 'target moved permanently',
  '2/0': 'initiator error',
  '2/1': 'authentication failure',
  '2/2': 'authorization failure',
  '2/3': 'target not found',
  '2/4': 'target removed',
  '2/5': 'unsupported version',
  '2/6': 'too many connections',
  '2/7': 'missing parameter',
  '2/8': "can't include in session",
  '2/9': 'session type not supported',
  '2/10': 'session does not exist',
  '2/11': 'invalid during login',
  '3/0': 'target error',
  '3/1': 'service unavailable',
  '3/2': 'out of resources',
};

export type LoginFailureKind =
  | 'redirect'
  | 'authentication'
  | 'authorization'
  | 'not-found'
  | 'initiator'
  | 'target'
  | 'negotiation'
  | 'timeout';

/**
 * A login that did not reach full-feature phase. Status class 2 is final for this target (retrying is
 * pointless); class 3 may be retried (§11.13.5). `kind` is what callers branch on.
 */
export class LoginError extends Error {
  override readonly name = 'LoginError';
  /** Where a redirect (status class 1, §11.13.5) points: the response's TargetAddress (§13.8). */
  targetAddress?: { host: string; port: number; tpgt?: number };
  constructor(
    message: string,
    readonly kind: LoginFailureKind,
    readonly statusClass?: number,
    readonly statusDetail?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static fromStatus(statusClass: number, statusDetail: number, extra = ''): LoginError {
    const name = LOGIN_STATUS_NAMES[`${statusClass}/${statusDetail}`] ?? 'unknown status';
    const kind: LoginFailureKind =
      statusClass === 1
        ? 'redirect'
        : statusClass === 2 && statusDetail === 1
          ? 'authentication'
          : statusClass === 2 && statusDetail === 2
            ? 'authorization'
            : statusClass === 2 && (statusDetail === 3 || statusDetail === 4)
              ? 'not-found'
              : statusClass === 2
                ? 'initiator'
                : 'target';
    return new LoginError(
      `login failed: ${name} (status class ${statusClass}, detail ${statusDetail})${extra ? `: ${extra}` : ''}`,
      kind,
      statusClass,
      statusDetail,
    );
  }

  /** Class 2 errors and authentication failures are final: another attempt gets the same answer. */
  get final(): boolean {
    return this.kind === 'authentication' || this.kind === 'authorization' || this.statusClass === 2;
  }
}

/** The transport (TCP connection) failed or was closed; tasks on it did not complete. */
export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A task was aborted (task management, session reinstatement or logout) before it completed. */
export class TaskAbortedError extends Error {
  override readonly name = 'TaskAbortedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A command the target did not complete although it was given its time again and again: it timed out (the
 * SCSI command timeout), was aborted or its connection dropped by the escalation, and was re-issued up to
 * the retry limit, or its run time passed (retries + 1) x the command timeout (Linux's
 * scsi_cmd_runtime_exceeded). Nothing waits forever on a target that takes commands and never answers them.
 */
export class CommandTimeoutError extends Error {
  override readonly name = 'CommandTimeoutError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Session recovery gave up holding commands: the connection failed and no relogin succeeded within
 * node.session.timeo.replacement_timeout (open-iscsi's recovery_tmo, after which the kernel fails the held
 * I/O). Relogin may go on; the commands it held have failed.
 */
export class ReplacementTimeoutError extends Error {
  override readonly name = 'ReplacementTimeoutError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
