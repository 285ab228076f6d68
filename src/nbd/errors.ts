/**
 * Error classes of the NBD server and the one mapping from any error to an NBD error value (proto.md
 * "Error values"): the boundary between the block device (SCSI errors, transport errors) and the NBD client.
 */
import { TaskAbortedError, TransportError } from '../iscsi/errors.js';
import { CheckConditionError, ScsiStatusError } from '../scsi/errors.js';
import { SenseKey } from '../scsi/sense.js';
import { ScsiStatus } from '../scsi/status.js';
import { NBD_EINVAL, NBD_EIO, NBD_EPERM, NBD_ESHUTDOWN } from './constants.js';

/**
 * Bytes from the peer that break the protocol: a bad magic, a field that contradicts the spec, a string that
 * is not UTF-8. `offset` is where in the decoded message the problem was found; `context` names the message.
 */
export class NbdProtocolError extends Error {
  override readonly name = 'NbdProtocolError';

  constructor(
    readonly context: string,
    readonly offset: number,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${context}: ${detail} (offset ${offset})`, options);
  }
}

/** A request the server refuses before it reaches the device: carries the NBD error value to send. */
export class NbdRequestError extends Error {
  override readonly name = 'NbdRequestError';

  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** The server (or this export) is shutting down: requests get ESHUTDOWN (proto.md "Terminating the transmission phase"). */
export class NbdShutdownError extends Error {
  override readonly name = 'NbdShutdownError';

  constructor(message = 'server is shutting down') {
    super(message);
  }
}

/**
 * The NBD error value for an error from the server's checks or the device. Errors are recognised by
 * class (and by `name`, so copies from another module instance map the same way):
 * - NbdRequestError: its own errno (EINVAL, ENOSPC, EPERM, EOVERFLOW, ENOTSUP from the server's checks);
 * - NbdShutdownError: ESHUTDOWN;
 * - RangeError (unaligned or out of range at the device): EINVAL;
 * - CheckConditionError: ILLEGAL REQUEST -> EINVAL, DATA PROTECT -> EPERM, anything else (MEDIUM ERROR,
 *   HARDWARE ERROR, NOT READY, ABORTED COMMAND...) -> EIO;
 * - ScsiStatusError: RESERVATION CONFLICT -> EPERM (another host holds the LU), else EIO;
 * - TransportError, TaskAbortedError and anything else: EIO.
 */
export function nbdErrno(err: unknown): number {
  if (err instanceof NbdRequestError) return err.errno;
  if (err instanceof NbdShutdownError) return NBD_ESHUTDOWN;
  const name = err instanceof Error ? err.name : '';
  if (err instanceof RangeError) return NBD_EINVAL;
  if (err instanceof CheckConditionError || name === 'CheckConditionError') {
    const key = (err as CheckConditionError).sense?.key;
    if (key === SenseKey.ILLEGAL_REQUEST) return NBD_EINVAL;
    if (key === SenseKey.DATA_PROTECT) return NBD_EPERM;
    return NBD_EIO;
  }
  if (err instanceof ScsiStatusError || name === 'ScsiStatusError') {
    return (err as ScsiStatusError).status === ScsiStatus.RESERVATION_CONFLICT ? NBD_EPERM : NBD_EIO;
  }
  if (err instanceof TransportError || err instanceof TaskAbortedError) return NBD_EIO;
  return NBD_EIO;
}
