/**
 * Key lists and defaults of open-iscsi's node, iface and discovery (sendtargets) records.
 *
 * Order: usr/idbm.c idbm_recinfo_node / idbm_recinfo_iface / idbm_recinfo_discovery (read at
 * open-iscsi commit ef4cfcdc, the 2.0.87x layout), with the keys 2.1.x added (node.leading_login,
 * node.session.nr_sessions, auth.chap_algs, scan, reopen_max, the integer iface offload keys) placed
 * where 2.1.x records carry them. Defaults: idbm_node_setup_defaults / reference/open-iscsi.md.
 */
import { checkRecordRule } from './record-rules.js';
import type { KeyDef, Rec, Schema } from './record.js';

const str = (key: string, def = '', masked = false): KeyDef => ({ key, type: 'str', def, masked });
const int = (key: string, def: number): KeyDef => ({ key, type: 'int', def: String(def) });
/** A timer in seconds; ours may have a fraction (machines/timer-values.ts holds the rule). */
const secs = (key: string, def: number): KeyDef => ({ key, type: 'num', def: String(def) });
const en = (key: string, def: string, options: readonly string[]): KeyDef => ({ key, type: 'enum', def, options });

const NO_YES = ['No', 'Yes'] as const;
const STARTUP = ['manual', 'automatic', 'onboot'] as const;
const DIGEST = ['None', 'CRC32C', 'CRC32C,None', 'None,CRC32C'] as const;

/** Integer iface keys (offload HBAs) that 2.1.x writes in node and iface records. */
const IFACE_INTS: KeyDef[] = [
  int('iface.vlan_id', 0),
  int('iface.vlan_priority', 0),
  int('iface.iface_num', 0),
  int('iface.mtu', 0),
  int('iface.port', 0),
  int('iface.tos', 0),
  int('iface.ttl', 0),
  int('iface.tcp_wsf', 0),
  int('iface.tcp_timer_scale', 0),
  int('iface.def_task_mgmt_timeout', 0),
  int('iface.erl', 0),
  int('iface.max_receive_data_len', 0),
  int('iface.first_burst_len', 0),
  int('iface.max_outstanding_r2t', 0),
  int('iface.max_burst_len', 0),
];

export const NODE_SCHEMA: Schema = {
  name: 'node',
  keys: [
    str('node.name'),
    int('node.tpgt', -1),
    en('node.startup', 'manual', STARTUP),
    en('node.leading_login', 'No', NO_YES),
    str('iface.hwaddress'),
    str('iface.ipaddress'),
    str('iface.iscsi_ifacename', 'default'),
    str('iface.net_ifacename'),
    str('iface.transport_name', 'tcp'),
    str('iface.initiatorname'),
    ...IFACE_INTS,
    str('node.discovery_address'),
    int('node.discovery_port', 0),
    en('node.discovery_type', 'static', ['send_targets', 'isns', 'offload_send_targets', 'slp', 'static', 'fw']),
    int('node.session.initial_cmdsn', 0),
    int('node.session.initial_login_retry_max', 4),
    int('node.session.xmit_thread_priority', -20),
    int('node.session.cmds_max', 128),
    int('node.session.queue_depth', 32),
    int('node.session.nr_sessions', 1),
    en('node.session.auth.authmethod', 'None', ['None', 'CHAP']),
    str('node.session.auth.username'),
    str('node.session.auth.password', '', true),
    str('node.session.auth.username_in'),
    str('node.session.auth.password_in', '', true),
    str('node.session.auth.chap_algs', 'MD5'),
    secs('node.session.timeo.replacement_timeout', 120),
    secs('node.session.err_timeo.abort_timeout', 15),
    secs('node.session.err_timeo.lu_reset_timeout', 30),
    secs('node.session.err_timeo.tgt_reset_timeout', 30),
    int('node.session.err_timeo.host_reset_timeout', 60),
    en('node.session.iscsi.FastAbort', 'Yes', NO_YES),
    en('node.session.iscsi.InitialR2T', 'No', NO_YES),
    en('node.session.iscsi.ImmediateData', 'Yes', NO_YES),
    int('node.session.iscsi.FirstBurstLength', 262144),
    int('node.session.iscsi.MaxBurstLength', 16776192),
    int('node.session.iscsi.DefaultTime2Retain', 0),
    int('node.session.iscsi.DefaultTime2Wait', 2),
    int('node.session.iscsi.MaxConnections', 1),
    int('node.session.iscsi.MaxOutstandingR2T', 1),
    int('node.session.iscsi.ERL', 0),
    en('node.session.scan', 'auto', ['manual', 'auto']),
    int('node.session.reopen_max', 0),
    str('node.conn[0].address'),
    int('node.conn[0].port', 3260),
    en('node.conn[0].startup', 'manual', STARTUP),
    int('node.conn[0].tcp.window_size', 524288),
    int('node.conn[0].tcp.type_of_service', 0),
    secs('node.conn[0].timeo.logout_timeout', 15),
    secs('node.conn[0].timeo.login_timeout', 30),
    secs('node.conn[0].timeo.auth_timeout', 45),
    secs('node.conn[0].timeo.noop_out_interval', 5),
    secs('node.conn[0].timeo.noop_out_timeout', 5),
    int('node.conn[0].iscsi.MaxXmitDataSegmentLength', 0),
    int('node.conn[0].iscsi.MaxRecvDataSegmentLength', 262144),
    en('node.conn[0].iscsi.HeaderDigest', 'None', DIGEST),
    en('node.conn[0].iscsi.DataDigest', 'None', DIGEST),
    en('node.conn[0].iscsi.IFMarker', 'No', NO_YES),
    en('node.conn[0].iscsi.OFMarker', 'No', NO_YES),
  ],
};

export const IFACE_SCHEMA: Schema = {
  name: 'iface',
  keys: [
    str('iface.iscsi_ifacename'),
    str('iface.net_ifacename'),
    str('iface.ipaddress'),
    str('iface.hwaddress'),
    str('iface.transport_name', 'tcp'),
    str('iface.initiatorname'),
    ...IFACE_INTS,
  ],
};

export const DISCOVERY_SCHEMA: Schema = {
  name: 'discovery',
  keys: [
    en('discovery.startup', 'manual', ['manual', 'automatic']),
    en('discovery.type', 'sendtargets', ['sendtargets', 'isns', 'offload_send_targets', 'slp', 'static', 'fw']),
    str('discovery.sendtargets.address'),
    int('discovery.sendtargets.port', 3260),
    en('discovery.sendtargets.auth.authmethod', 'None', ['None', 'CHAP']),
    str('discovery.sendtargets.auth.username'),
    str('discovery.sendtargets.auth.password', '', true),
    str('discovery.sendtargets.auth.username_in'),
    str('discovery.sendtargets.auth.password_in', '', true),
    int('discovery.sendtargets.timeo.login_timeout', 15),
    en('discovery.sendtargets.use_discoveryd', 'No', NO_YES),
    int('discovery.sendtargets.discoveryd_poll_inval', 30),
    int('discovery.sendtargets.reopen_max', 5),
    int('discovery.sendtargets.timeo.auth_timeout', 45),
    int('discovery.sendtargets.timeo.active_timeout', 30),
    int('discovery.sendtargets.iscsi.MaxRecvDataSegmentLength', 32768),
  ],
};

function defaults(schema: Schema): Rec {
  return new Map(schema.keys.map((k) => [k.key, k.def]));
}

export interface Portal {
  readonly address: string;
  readonly port: number;
  /** Target portal group tag; -1 when unknown. */
  readonly tpgt?: number;
}

/** A node record with open-iscsi's defaults for one target, portal and iface. */
export function defaultNodeRecord(target: string, portal: Portal, iface: string | Rec = 'default'): Rec {
  // Refused before anything is written: these name the record's directories.
  checkRecordRule('node.name', target);
  checkRecordRule('node.conn[0].address', portal.address);
  if (typeof iface === 'string') checkRecordRule('iface.iscsi_ifacename', iface);
  const r = defaults(NODE_SCHEMA);
  r.set('node.name', target);
  r.set('node.tpgt', String(portal.tpgt ?? -1));
  r.set('node.conn[0].address', portal.address);
  r.set('node.conn[0].port', String(portal.port));
  if (typeof iface === 'string') {
    r.set('iface.iscsi_ifacename', iface);
    if (iface === 'iser') r.set('iface.transport_name', 'iser');
  } else {
    for (const [k, v] of iface) if (k.startsWith('iface.')) r.set(k, v);
  }
  return r;
}

export function defaultIfaceRecord(name: string, transport = 'tcp'): Rec {
  checkRecordRule('iface.iscsi_ifacename', name);
  const r = defaults(IFACE_SCHEMA);
  r.set('iface.iscsi_ifacename', name);
  r.set('iface.transport_name', transport);
  return r;
}

export function defaultDiscoveryRecord(address: string, port = 3260): Rec {
  checkRecordRule('discovery.sendtargets.address', address);
  const r = defaults(DISCOVERY_SCHEMA);
  r.set('discovery.sendtargets.address', address);
  r.set('discovery.sendtargets.port', String(port));
  return r;
}

/** The built-in ifaces: listed always, never stored. */
export const BUILTIN_IFACES: ReadonlyMap<string, Rec> = new Map([
  ['default', defaultIfaceRecord('default', 'tcp')],
  ['iser', defaultIfaceRecord('iser', 'iser')],
]);

/** Identity of a node record in the database. */
export interface NodeKey {
  readonly target: string;
  readonly address: string;
  readonly port: number;
  readonly tpgt: number;
  readonly iface: string;
}

export function nodeKeyOf(r: Rec): NodeKey {
  return {
    target: r.get('node.name') ?? '',
    address: r.get('node.conn[0].address') ?? '',
    port: Number(r.get('node.conn[0].port') ?? 3260),
    tpgt: Number(r.get('node.tpgt') ?? -1),
    iface: r.get('iface.iscsi_ifacename') || 'default',
  };
}
