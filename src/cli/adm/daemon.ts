/**
 * Operations that need the daemon (login, logout, sessions). mpiscsid does not exist yet, so they fail the
 * way iscsiadm fails when iscsid cannot be reached: ISCSI_ERR_ISCSID_NOTCONN (20).
 */
import type { NodeKey } from '../../db/node-record.js';
import { ExitCode } from '../../control/exit-codes.js';
import { AdmError, warn } from './common.js';

export const DAEMON_UNREACHABLE = 'can not connect to iSCSI daemon (mpiscsid is not running)!';

export function daemonError(...more: string[]): AdmError {
  return new AdmError(ExitCode.ISCSID_NOTCONN, DAEMON_UNREACHABLE, ...more);
}

const portalText = (k: NodeKey): string => `${k.address},${k.port}`;

/** `-l` on matched node records: each one reported as iscsiadm reports a login iscsid could not take. */
export function loginNodes(keys: readonly NodeKey[]): never {
  warn(DAEMON_UNREACHABLE);
  for (const k of keys) {
    warn(`Could not login to [iface: ${k.iface}, target: ${k.target}, portal: ${portalText(k)}].`);
    warn('initiator reported error (20 - could not connect to iscsid)');
  }
  throw new AdmError(ExitCode.ISCSID_NOTCONN, 'Could not log into all portals');
}

/** `-u` on matched node records. */
export function logoutNodes(keys: readonly NodeKey[]): never {
  warn(DAEMON_UNREACHABLE);
  for (const k of keys) {
    warn(`Could not logout of [iface: ${k.iface}, target: ${k.target}, portal: ${portalText(k)}].`);
    warn('initiator reported error (20 - could not connect to iscsid)');
  }
  throw new AdmError(ExitCode.ISCSID_NOTCONN, 'Could not logout of all requested sessions');
}
