/** The one mapping from our errors to iscsiadm exit codes (open-iscsi include/iscsi_err.h). */
import { LoginError, ProtocolError, TransportError, DigestError } from '../iscsi/errors.js';

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

export function exitCodeFor(err: unknown): ExitCode {
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
  if (err instanceof TransportError || err instanceof DigestError) return ExitCode.TRANS;
  if (err instanceof ProtocolError) return ExitCode.TRANS;
  if (err instanceof RangeError || (err instanceof Error && err.name === 'UrlError')) return ExitCode.INVAL;
  return ExitCode.GENERIC;
}
