/**
 * An open-iscsi node record (reference/open-iscsi.md "Keys and defaults") as session options: portal, CHAP
 * (node.session.auth.*), iface binding (iface.ipaddress / iface.net_ifacename, iface.initiatorname), timers
 * (machines/timers.ts) and the operational keys that become negotiation wishes (RFC 7143 §13).
 */
import { timersFromNodeRecord } from '../../machines/timers.js';
import type { SessionTimers } from '../../machines/timers.js';
import type { ChapAlgorithmName } from '../iscsi/chap.js';
import type { AuthConfig } from '../iscsi/login.js';
import type { SessionWishes } from '../iscsi/negotiation.js';
import { NODE_SETTINGS } from '../settings/index.js';
import { ifaceSourceAddress } from './iface.js';
import type { ManagedSessionOptions } from './managed-session.js';

/** A record value that does not fit its key: iscsiadm's INVAL (7) like other RangeErrors. */
export class NodeSettingError extends RangeError {
  override readonly name = 'NodeSettingError';
}

/**
 * `v` read by `key`'s setting, the same rule `-o update` and the stores apply (src/settings/records.ts), so a
 * record a store holds is one a login reads.
 */
function read<T>(key: string, v: string): T {
  const setting = NODE_SETTINGS.get(key);
  if (!setting) throw new NodeSettingError(`${key} is not a node record key`);
  const r = setting.type.read(v);
  if (!r.ok) throw new NodeSettingError(`${key} = ${v}: ${r.problem}`);
  return r.value as T;
}

const int = (key: string, v: string): number => read<number>(key, v);
const yesNo = (key: string, v: string): boolean => read<boolean>(key, v);
/** open-iscsi's digest values ("None", "CRC32C,None", ...) as the list of preference offered. */
const digestList = (key: string, v: string): Array<'None' | 'CRC32C'> => read<Array<'None' | 'CRC32C'>>(key, v);

/**
 * Node record keys that become login wishes. MaxXmitDataSegmentLength 0 means "use the target's"
 * (open-iscsi), so it is no wish at all.
 */
export const WISH_KEYS: Readonly<Record<string, (w: Partial<SessionWishes>, v: string, key: string) => void>> = {
  'node.conn[0].iscsi.HeaderDigest': (w, v, k) => (w.headerDigest = digestList(k, v)),
  'node.conn[0].iscsi.DataDigest': (w, v, k) => (w.dataDigest = digestList(k, v)),
  'node.conn[0].iscsi.MaxRecvDataSegmentLength': (w, v, k) => (w.maxRecvDataSegmentLength = int(k, v)),
  'node.conn[0].iscsi.MaxXmitDataSegmentLength': (w, v, k) => {
    const n = int(k, v);
    if (n > 0) w.maxXmitDataSegmentLength = n;
  },
  'node.session.iscsi.FirstBurstLength': (w, v, k) => (w.firstBurstLength = int(k, v)),
  'node.session.iscsi.MaxBurstLength': (w, v, k) => (w.maxBurstLength = int(k, v)),
  'node.session.iscsi.InitialR2T': (w, v, k) => (w.initialR2T = yesNo(k, v)),
  'node.session.iscsi.ImmediateData': (w, v, k) => (w.immediateData = yesNo(k, v)),
  'node.session.iscsi.MaxOutstandingR2T': (w, v, k) => (w.maxOutstandingR2T = int(k, v)),
  'node.session.iscsi.DefaultTime2Retain': (w, v, k) => (w.defaultTime2Retain = int(k, v)),
  // Also the timers' fallback (machines/timers.ts); offered at login too, as iscsid does (RFC 7143 §13.15).
  // The setting reads seconds into ms; the wire value is whole seconds.
  'node.session.iscsi.DefaultTime2Wait': (w, v, k) => (w.defaultTime2Wait = read<number>(k, v) / 1000),
};

/** The wishes a set of record keys states (keys absent or empty keep the negotiation defaults). */
export function wishesFromRecord(rec: ReadonlyMap<string, string>): Partial<SessionWishes> {
  const w: Partial<SessionWishes> = {};
  for (const [key, apply] of Object.entries(WISH_KEYS)) {
    const v = rec.get(key);
    if (v !== undefined && v !== '') apply(w, v.trim(), key);
  }
  return w;
}

/** The record's timers (every timer key; defaults for absent ones). */
export function timersFromRecord(rec: ReadonlyMap<string, string>): SessionTimers {
  return timersFromNodeRecord(Object.fromEntries(rec));
}

/** node.session.auth.*: None, or CHAP (mutual when username_in is set) with the record's algorithm list. */
export function authFromRecord(rec: ReadonlyMap<string, string>): AuthConfig {
  const method = rec.get('node.session.auth.authmethod') ?? 'None';
  if (method !== 'CHAP') return { method: 'None' };
  const usernameIn = rec.get('node.session.auth.username_in') ?? '';
  return {
    method: 'CHAP',
    username: rec.get('node.session.auth.username') ?? '',
    password: rec.get('node.session.auth.password') ?? '',
    ...(usernameIn ? { usernameIn, passwordIn: rec.get('node.session.auth.password_in') ?? '' } : {}),
    algorithms: read<ChapAlgorithmName[]>('node.session.auth.chap_algs', rec.get('node.session.auth.chap_algs') || 'MD5'),
  };
}

/** Where the record's iface binds: iface.ipaddress, else iface.net_ifacename's address, else nothing. */
export function sourceAddressFromRecord(rec: ReadonlyMap<string, string>): string | undefined {
  const ip = rec.get('iface.ipaddress');
  if (ip) return ip;
  const dev = rec.get('iface.net_ifacename');
  return dev ? ifaceSourceAddress(dev) : undefined;
}

export type NodeSessionOptions = Pick<
  ManagedSessionOptions,
  'host' | 'port' | 'targetName' | 'initiatorName' | 'auth' | 'wishes' | 'localAddress' | 'timers' | 'cmdsMax'
>;

/**
 * Everything a node record says about its session. The initiator name comes from the iface record's
 * iface.initiatorname when set, else `initiatorName`.
 */
export function sessionOptionsFromRecord(rec: ReadonlyMap<string, string>, opts: { initiatorName?: string } = {}): NodeSessionOptions {
  const targetName = rec.get('node.name');
  const host = rec.get('node.conn[0].address');
  if (!targetName || !host) throw new NodeSettingError('the node record names no target (node.name) or portal (node.conn[0].address)');
  const cmdsMax = rec.get('node.session.cmds_max');
  return {
    host,
    port: int('node.conn[0].port', rec.get('node.conn[0].port') || '3260'),
    targetName,
    initiatorName: rec.get('iface.initiatorname') || opts.initiatorName,
    auth: authFromRecord(rec),
    wishes: wishesFromRecord(rec),
    localAddress: sourceAddressFromRecord(rec),
    timers: timersFromRecord(rec),
    cmdsMax: cmdsMax ? int('node.session.cmds_max', cmdsMax) : undefined,
  };
}
