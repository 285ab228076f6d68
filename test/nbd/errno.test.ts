/** nbdErrno: the one mapping from server checks, SCSI and transport errors to NBD error values (proto.md "Error values"). */
import { describe, expect, it } from 'vitest';
import * as C from '../../src/nbd/constants.js';
import { NbdRequestError, NbdShutdownError, nbdErrno } from '../../src/nbd/errors.js';
import { TaskAbortedError, TransportError } from '../../src/iscsi/errors.js';
import { CheckConditionError, ScsiStatusError } from '../../src/scsi/errors.js';
import { encodeFixedSense, parseSense, SenseKey } from '../../src/scsi/sense.js';
import { ScsiStatus } from '../../src/scsi/status.js';

const cc = (key: number, asc = 0, ascq = 0) => new CheckConditionError(parseSense(encodeFixedSense({ key, asc, ascq })));

describe('nbdErrno', () => {
  it.each([
    ['server check: ENOSPC', new NbdRequestError(C.NBD_ENOSPC, 'past the end'), C.NBD_ENOSPC],
    ['server check: EOVERFLOW', new NbdRequestError(C.NBD_EOVERFLOW, 'too big'), C.NBD_EOVERFLOW],
    ['shutdown', new NbdShutdownError(), C.NBD_ESHUTDOWN],
    ['RangeError from the device (unaligned, out of range)', new RangeError('unaligned'), C.NBD_EINVAL],
    ['ILLEGAL REQUEST, LBA out of range', cc(SenseKey.ILLEGAL_REQUEST, 0x21), C.NBD_EINVAL],
    ['ILLEGAL REQUEST, invalid opcode', cc(SenseKey.ILLEGAL_REQUEST, 0x20), C.NBD_EINVAL],
    ['DATA PROTECT, write protected', cc(SenseKey.DATA_PROTECT, 0x27), C.NBD_EPERM],
    ['MEDIUM ERROR', cc(SenseKey.MEDIUM_ERROR, 0x11), C.NBD_EIO],
    ['HARDWARE ERROR', cc(SenseKey.HARDWARE_ERROR, 0x44), C.NBD_EIO],
    ['NOT READY', cc(SenseKey.NOT_READY, 0x04), C.NBD_EIO],
    ['RESERVATION CONFLICT', new ScsiStatusError(ScsiStatus.RESERVATION_CONFLICT), C.NBD_EPERM],
    ['BUSY after retries', new ScsiStatusError(ScsiStatus.BUSY), C.NBD_EIO],
    ['TransportError', new TransportError('connection reset'), C.NBD_EIO],
    ['TaskAbortedError', new TaskAbortedError('aborted'), C.NBD_EIO],
    ['anything else', new Error('surprise'), C.NBD_EIO],
    ['not even an Error', 'a string', C.NBD_EIO],
  ])('%s', (_name, err, errno) => {
    expect(nbdErrno(err)).toBe(errno);
  });
});
