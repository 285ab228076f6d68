/**
 * The keys of open-iscsi's node, iface and discovery (sendtargets) records: each one's value type, default
 * and whether it applies live. Order: usr/idbm.c idbm_recinfo_node / idbm_recinfo_iface /
 * idbm_recinfo_discovery (open-iscsi commit ef4cfcdc, the 2.0.87x layout), with the keys 2.1.x added
 * (node.leading_login, node.session.nr_sessions, auth.chap_algs, scan, reopen_max, the integer iface offload
 * keys) where 2.1.x records carry them; record files are written in this order, so it is byte-compatible.
 * Defaults: what `iscsiadm -m discovery` writes with the shipped iscsid.conf (reference/open-iscsi.md: the
 * conf's value where it differs from the code's, login_timeout 15 and initial_login_retry_max 8), which are
 * also the timers a session without a record runs. Ranges: open-iscsi's, and RFC 7143 §13's for the keys
 * offered at login, so a value stored is one the login accepts.
 */
import type { Setting } from './setting.js';
import { table } from './setting.js';
import { choice, count, integer, refine, seconds, text, valueType, yesNo, type ValueType } from './values.js';

/** 2^24 - 1: the largest data segment and burst (RFC 7143 §13.12-§13.14). */
const MAX_24 = 16_777_215;

const STARTUP = ['manual', 'automatic', 'onboot'] as const;
const DISCOVERY_TYPES = ['send_targets', 'isns', 'offload_send_targets', 'slp', 'static', 'fw'] as const;
const AUTH_METHODS = ['None', 'CHAP'] as const;
/**
 * A digest list: None, CRC32C or both in the order of preference offered (RFC 7143 §13.1), the four values
 * open-iscsi's HeaderDigest/DataDigest take.
 */
const digests: ValueType<Array<'None' | 'CRC32C'>> = valueType({
  unit: 'choice',
  rule: 'None, CRC32C, "CRC32C,None" or "None,CRC32C"',
  options: ['None', 'CRC32C', 'CRC32C,None', 'None,CRC32C'],
  parse: (t) => {
    const items = t.split(',').map((d) => d.trim());
    return { value: items as Array<'None' | 'CRC32C'>, text: items.join(',') };
  },
  check: (v) => {
    if (!Array.isArray(v) || v.length === 0) return 'empty digest list';
    const bad = v.find((d) => d !== 'None' && d !== 'CRC32C');
    if (bad !== undefined) return `digest ${JSON.stringify(bad)} is not None or CRC32C`;
    return new Set(v).size === v.length ? undefined : 'names a digest twice';
  },
});
/** CHAP algorithms open-iscsi 2.1.x knows (RFC 7143 §12.1.3 and RFC 8502 numbers). */
export const CHAP_ALGORITHM_NAMES = ['MD5', 'SHA1', 'SHA256', 'SHA3-256'] as const;

/** A comma-separated list of CHAP algorithm names (any case), each once, in order of preference (iscsid.conf chap_algs). */
const chapAlgs: ValueType<string[]> = valueType({
  unit: 'choice',
  rule: `a list of ${CHAP_ALGORITHM_NAMES.join(', ')}`,
  options: CHAP_ALGORITHM_NAMES,
  parse: (t) => {
    const names = [
      ...new Set(
        t
          .split(',')
          .map((n) => n.trim().toUpperCase())
          .filter((n) => n !== ''),
      ),
    ];
    return { value: names, text: names.join(',') };
  },
  check: (v) => {
    if (!Array.isArray(v) || v.length === 0) return 'empty CHAP algorithm list';
    const bad = v.find((n) => !(CHAP_ALGORITHM_NAMES as readonly unknown[]).includes(n));
    return bad === undefined ? undefined : `unknown CHAP algorithm ${JSON.stringify(bad)} (known: ${CHAP_ALGORITHM_NAMES.join(', ')})`;
  },
});

/** 0 (take the target's MaxRecvDataSegmentLength, open-iscsi) or a data segment length (RFC 7143 §13.12). */
const maxXmit: ValueType<number> = refine(integer({ min: 0, max: MAX_24 }, 'bytes'), `0 (the target's) or bytes, 512..${MAX_24}`, (n) =>
  n === 0 || n >= 512 ? undefined : "must be 0 (the target's) or at least 512",
);

type Opts = { live?: boolean; masked?: boolean };
const s = <T>(key: string, type: ValueType<T>, def: string | number, o: Opts = {}): Setting<T> => ({
  key,
  type,
  default: String(def),
  live: o.live ?? false,
  ...(o.masked ? { masked: true } : {}),
});
/** A timer of the session or connection machines: seconds, applied to running sessions at once. */
const timer = (key: string, type: ValueType<number>, def: number): Setting<number> => s(key, type, def, { live: true });
const str = (key: string, def = ''): Setting<string> => s(key, text, def);
const secret = (key: string): Setting<string> => s(key, text, '', { masked: true });
const int = (key: string, def: number): Setting<number> => s(key, integer(), def);

/** CHAP of a node's session or a discovery session: the method, our credentials, the target's (mutual CHAP). */
const auth = (prefix: string): Setting[] => [
  s(`${prefix}.authmethod`, choice(AUTH_METHODS), 'None'),
  str(`${prefix}.username`),
  secret(`${prefix}.password`),
  str(`${prefix}.username_in`),
  secret(`${prefix}.password_in`),
];

/**
 * The iface keys (offload HBAs: kept, written back, not used by us), as open-iscsi 2.1.8 lists them. Text keys
 * default to empty (written only when set, shown as `<empty>`), numbers to 0 (always written). Which ones a
 * record lists depends on its address family: the IPv4 block or the IPv6 block, never both (IfaceFamily).
 */
const ifs = (name: string): Setting => str(`iface.${name}`);
const ifi = (name: string): Setting => int(`iface.${name}`, 0);

/** The keys of idbm_recinfo_iface's IPv4 block that usr/idbm.c's node record lists outside it (always). */
const IFACE_ADDR_V4 = [ifs('subnet_mask'), ifs('gateway')];
const IFACE_V4: Setting[] = [
  ifs('bootproto'),
  ...['dhcp_alt_client_id_state', 'dhcp_alt_client_id', 'dhcp_dns', 'dhcp_learn_iqn', 'dhcp_req_vendor_id_state'].map(ifs),
  ...['dhcp_vendor_id_state', 'dhcp_vendor_id', 'dhcp_slp_da', 'fragmentation', 'gratuitous_arp', 'incoming_forwarding', 'tos_state'].map(
    ifs,
  ),
  ifi('tos'),
  ifi('ttl'),
];
const IFACE_V6: Setting[] = [
  ...['ipv6_autocfg', 'linklocal_autocfg', 'router_autocfg', 'ipv6_linklocal', 'ipv6_router'].map(ifs),
  ifi('dup_addr_detect_cnt'),
  ifi('flow_label'),
  ifs('gratuitous_neighbor_adv'),
  ifi('hop_limit'),
  ifs('mld'),
  ...['nd_reachable_tmo', 'nd_rexmit_time', 'nd_stale_tmo', 'router_adv_link_mtu', 'traffic_class'].map(ifi),
];
/** After the family blocks, in both record kinds. */
const IFACE_TAIL: Setting[] = [
  ...['delayed_ack', 'tcp_nagle', 'tcp_wsf_state'].map(ifs),
  ifi('tcp_wsf'),
  ifi('tcp_timer_scale'),
  ifs('tcp_timestamp'),
  ifs('redirect'),
  ifi('def_task_mgmt_timeout'),
  ...['header_digest', 'data_digest', 'immediate_data', 'initial_r2t', 'data_seq_inorder', 'data_pdu_inorder'].map(ifs),
  ...['erl', 'max_receive_data_len', 'first_burst_len', 'max_outstanding_r2t', 'max_burst_len'].map(ifi),
  ...['chap_auth', 'bidi_chap', 'strict_login_compliance', 'discovery_auth', 'discovery_logout'].map(ifs),
];
const IFACE_VLAN: Setting[] = [
  ifs('state'),
  ifi('vlan_id'),
  ifi('vlan_priority'),
  ifs('vlan_state'),
  ifi('iface_num'),
  ifi('mtu'),
  ifi('port'),
];
const IFACE_NAME = str('iface.iscsi_ifacename', 'default');
const IFACE_TRANSPORT = str('iface.transport_name', 'tcp');

/**
 * An iface's address family as open-iscsi decides which block of keys to list: usr/iface.c iface_get_iptype
 * for record files (IPv6 when the address has no "." and bootproto is not dhcp, or with no address when the
 * name holds "ipv6"), libopeniscsiusr for `-o show` (IPv6 when the name holds "ipv6").
 */
export type IfaceFamily = 'ipv4' | 'ipv6';

export function ifaceFamily(rec: ReadonlyMap<string, string>, use: 'file' | 'show'): IfaceFamily {
  const name = rec.get('iface.iscsi_ifacename') ?? '';
  const ip = rec.get('iface.ipaddress') ?? '';
  if (use === 'show' || ip === '' || ip === '<empty>') return name.includes('ipv6') ? 'ipv6' : 'ipv4';
  return rec.get('iface.bootproto') !== 'dhcp' && !ip.includes('.') ? 'ipv6' : 'ipv4';
}

const V4_KEYS = new Set(IFACE_V4.map((k) => k.key));
const V6_KEYS = new Set(IFACE_V6.map((k) => k.key));
const ADDR_V4_KEYS = new Set(IFACE_ADDR_V4.map((k) => k.key));

/**
 * The family an iface key belongs to in a layout ('node': usr/idbm.c's node record, where subnet_mask and gateway
 * are listed for both families; 'iface': the iface order of iface records and of `-o show`), or undefined.
 */
export function ifaceKeyFamily(key: string, layout: 'node' | 'iface'): IfaceFamily | undefined {
  if (V4_KEYS.has(key) || (layout === 'iface' && ADDR_V4_KEYS.has(key))) return 'ipv4';
  return V6_KEYS.has(key) ? 'ipv6' : undefined;
}

/** idbm_recinfo_iface's order (iface records; the iface block of `-o show`, libopeniscsiusr's _idbm_iface_rec_link). */
const IFACE_ORDER: Setting[] = [
  IFACE_NAME,
  ifs('net_ifacename'),
  ifs('ipaddress'),
  ifi('prefix_len'),
  ifs('hwaddress'),
  IFACE_TRANSPORT,
  ifs('initiatorname'),
  ...IFACE_VLAN,
  ifs('bootproto'),
  ...IFACE_ADDR_V4,
  ...IFACE_V4.slice(1),
  ...IFACE_V6,
  ...IFACE_TAIL,
];

/** usr/idbm.c idbm_recinfo_node's order of the iface keys in node record files. */
const NODE_IFACE_ORDER: Setting[] = [
  ifs('hwaddress'),
  ifs('ipaddress'),
  IFACE_NAME,
  ifs('net_ifacename'),
  ifs('gateway'),
  ifs('subnet_mask'),
  ifi('prefix_len'),
  IFACE_TRANSPORT,
  ifs('initiatorname'),
  ...IFACE_VLAN,
  ...IFACE_V4,
  ...IFACE_V6,
  ...IFACE_TAIL,
];

export const NODE_SETTINGS = table([
  str('node.name'),
  int('node.tpgt', -1),
  s('node.startup', choice(STARTUP), 'manual'),
  s('node.leading_login', yesNo, 'No'),
  ...NODE_IFACE_ORDER,
  str('node.discovery_address'),
  s('node.discovery_port', integer({ min: 0, max: 65535 }), 0),
  s('node.discovery_type', choice(DISCOVERY_TYPES), 'static'),
  int('node.session.initial_cmdsn', 0),
  timer('node.session.initial_login_retry_max', count(), 8),
  int('node.session.xmit_thread_priority', -20),
  // open-iscsi: a power of 2 in 2..2048 (it rounds others); ours takes any count in that range.
  s('node.session.cmds_max', integer({ min: 2, max: 2048 }, 'count'), 128),
  s('node.session.queue_depth', count({ min: 1, max: 1024 }), 32),
  s('node.session.nr_sessions', count({ min: 1, max: 1024 }), 1),
  ...auth('node.session.auth'),
  s('node.session.auth.chap_algs', chapAlgs, 'MD5'),
  // 0 fails I/O at once, negative holds it forever (reference/open-iscsi.md).
  timer('node.session.timeo.replacement_timeout', seconds(), 120),
  timer('node.session.err_timeo.abort_timeout', seconds({ min: 0, minExclusive: true }), 15),
  timer('node.session.err_timeo.lu_reset_timeout', seconds({ min: 0, minExclusive: true }), 30),
  timer('node.session.err_timeo.tgt_reset_timeout', seconds({ min: 0, minExclusive: true }), 30),
  int('node.session.err_timeo.host_reset_timeout', 60),
  s('node.session.iscsi.FastAbort', yesNo, 'Yes'),
  s('node.session.iscsi.InitialR2T', yesNo, 'No'),
  s('node.session.iscsi.ImmediateData', yesNo, 'Yes'),
  s('node.session.iscsi.FirstBurstLength', integer({ min: 512, max: MAX_24 }, 'bytes'), 262144),
  s('node.session.iscsi.MaxBurstLength', integer({ min: 512, max: MAX_24 }, 'bytes'), 16776192),
  s('node.session.iscsi.DefaultTime2Retain', integer({ min: 0, max: 3600 }), 0),
  // An iSCSI key sent to the target (RFC 7143 §13.15: 0..3600, whole seconds), and the relogin delay's fallback.
  timer('node.session.iscsi.DefaultTime2Wait', seconds({ min: 0, max: 3600, whole: true }), 2),
  s('node.session.iscsi.MaxConnections', integer({ min: 1, max: 65535 }), 1),
  s('node.session.iscsi.MaxOutstandingR2T', integer({ min: 1, max: 65535 }), 1),
  s('node.session.iscsi.ERL', integer({ min: 0, max: 2 }), 0),
  s('node.session.scan', choice(['manual', 'auto'] as const), 'auto'),
  timer('node.session.reopen_max', count(), 0),
  str('node.conn[0].address'),
  s('node.conn[0].port', integer({ min: 1, max: 65535 }), 3260),
  s('node.conn[0].startup', choice(STARTUP), 'manual'),
  s('node.conn[0].tcp.window_size', integer({ min: 0 }, 'bytes'), 524288),
  int('node.conn[0].tcp.type_of_service', 0),
  timer('node.conn[0].timeo.logout_timeout', seconds({ min: 0, minExclusive: true }), 15),
  timer('node.conn[0].timeo.login_timeout', seconds({ min: 0, minExclusive: true }), 15),
  timer('node.conn[0].timeo.auth_timeout', seconds({ min: 0, minExclusive: true }), 45),
  // 0 disables the NOP ping (and its timeout).
  timer('node.conn[0].timeo.noop_out_interval', seconds({ min: 0 }), 5),
  timer('node.conn[0].timeo.noop_out_timeout', seconds({ min: 0 }), 5),
  // 0: use the target's MaxRecvDataSegmentLength (open-iscsi); else what we send at most (RFC 7143 §13.12).
  s('node.conn[0].iscsi.MaxXmitDataSegmentLength', maxXmit, 0),
  s('node.conn[0].iscsi.MaxRecvDataSegmentLength', integer({ min: 512, max: MAX_24 }, 'bytes'), 262144),
  s('node.conn[0].iscsi.HeaderDigest', digests, 'None'),
  s('node.conn[0].iscsi.DataDigest', digests, 'None'),
  s('node.conn[0].iscsi.IFMarker', yesNo, 'No'),
  s('node.conn[0].iscsi.OFMarker', yesNo, 'No'),
]);

/** iface records (ifaces/<name>): idbm_recinfo_iface's order. */
export const IFACE_SETTINGS = table(IFACE_ORDER);

/** The order `-o show` lists a node record in (libopeniscsiusr's _idbm_node_rec_link: the iface block in iface order). */
export const NODE_SHOW_ORDER: readonly string[] = [
  ...[...NODE_SETTINGS.keys()].slice(0, 4),
  ...IFACE_ORDER.map((k) => k.key),
  ...[...NODE_SETTINGS.keys()].filter((k) => !k.startsWith('iface.')).slice(4),
];

/** Discovery records (send_targets/<portal>/st_config): idbm_recinfo_discovery's order. */
export const DISCOVERY_SETTINGS = table([
  s('discovery.startup', choice(['manual', 'automatic'] as const), 'manual'),
  s('discovery.type', choice(['sendtargets', 'isns', 'offload_send_targets', 'slp', 'static', 'fw'] as const), 'sendtargets'),
  str('discovery.sendtargets.address'),
  s('discovery.sendtargets.port', integer({ min: 1, max: 65535 }), 3260),
  ...auth('discovery.sendtargets.auth'),
  // 2.1.8 writes the discovery session's CHAP algorithms under the node key ("reusing SESSION_CHAP_ALGS").
  s('node.session.auth.chap_algs', chapAlgs, 'MD5'),
  s('discovery.sendtargets.timeo.login_timeout', integer({ min: 1 }), 15),
  s('discovery.sendtargets.use_discoveryd', yesNo, 'No'),
  int('discovery.sendtargets.discoveryd_poll_inval', 30),
  s('discovery.sendtargets.reopen_max', count(), 5),
  int('discovery.sendtargets.timeo.auth_timeout', 45),
  int('discovery.sendtargets.timeo.active_timeout', 30),
  s('discovery.sendtargets.iscsi.MaxRecvDataSegmentLength', integer({ min: 512, max: MAX_24 }, 'bytes'), 32768),
]);
