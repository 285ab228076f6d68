/**
 * The node, iface and discovery (sendtargets) record schemas, and records with open-iscsi's defaults. The keys,
 * their order (usr/idbm.c's, so record files are byte-compatible with open-iscsi), types and defaults are the
 * settings table's (src/settings/records.ts); this module adds what a record is in the database: its identity.
 */
import { DISCOVERY_SETTINGS, IFACE_SETTINGS, NODE_SETTINGS, NODE_SHOW_ORDER } from '../settings/index.js';
import { checkRecordRule } from './record-rules.js';
import type { Rec, Schema } from './record.js';

export const NODE_SCHEMA: Schema = {
  name: 'node',
  keys: [...NODE_SETTINGS.values()],
  show: NODE_SHOW_ORDER.map((k) => NODE_SETTINGS.get(k)!),
};
export const IFACE_SCHEMA: Schema = { name: 'iface', keys: [...IFACE_SETTINGS.values()] };
export const DISCOVERY_SCHEMA: Schema = { name: 'discovery', keys: [...DISCOVERY_SETTINGS.values()] };

function defaults(schema: Schema): Rec {
  return new Map(schema.keys.map((k) => [k.key, k.default]));
}

export interface NodePortal {
  readonly address: string;
  readonly port: number;
  /** Target portal group tag; -1 when unknown. */
  readonly tpgt?: number;
}

/** A node record with open-iscsi's defaults for one target, portal and iface. */
export function defaultNodeRecord(target: string, portal: NodePortal, iface: string | Rec = 'default'): Rec {
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
