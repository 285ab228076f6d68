/**
 * Record operations both front ends share (mpiscsiadm offline, the daemon over NATS): selecting node records
 * the way iscsiadm's -T/-p/-I do, checking a `-n KEY -v VALUE` change against a schema, and a record's fields
 * as listings show them (schema order, `<empty>`, passwords `********` unless asked).
 */
import { DISCOVERY_SCHEMA, IFACE_SCHEMA, NODE_SCHEMA, type NodeKey } from './node-record.js';
import { listedKeys, type Rec, type Schema } from './record.js';
import { recordFormProblem } from './record-rules.js';

/** iscsiadm's -T, -p ADDR[:PORT][,TPGT] and -I: an absent field matches anything. */
export interface NodeMatch {
  target?: string;
  address?: string;
  port?: number;
  tpgt?: number;
  iface?: string;
}

export function matchesNode(k: NodeKey, f: NodeMatch): boolean {
  if (f.target !== undefined && k.target !== f.target) return false;
  if (f.iface !== undefined && k.iface !== f.iface) return false;
  if (f.address !== undefined && k.address !== f.address) return false;
  if (f.port !== undefined && k.port !== f.port) return false;
  if (f.tpgt !== undefined && k.tpgt !== f.tpgt) return false;
  return true;
}

/** Keys that name a record (its path): iscsiadm does not let -o update change them. */
export const IDENTITY_KEYS: Readonly<Record<'node' | 'iface' | 'discovery', ReadonlySet<string>>> = {
  node: new Set(['node.name', 'node.tpgt', 'node.conn[0].address', 'node.conn[0].port', 'iface.iscsi_ifacename']),
  iface: new Set(['iface.iscsi_ifacename']),
  discovery: new Set(['discovery.type', 'discovery.sendtargets.address', 'discovery.sendtargets.port']),
};

export const SCHEMAS = { node: NODE_SCHEMA, iface: IFACE_SCHEMA, discovery: DISCOVERY_SCHEMA } as const;

/** Why a `-n KEY -v VALUE` was refused; iscsiadm answers these with INVAL (7). */
export class RecordValueError extends RangeError {
  override readonly name = 'RecordValueError';
  constructor(
    readonly key: string,
    readonly why: string,
  ) {
    super(`Cannot modify ${key}. ${why}`);
  }
}

/**
 * Whether `-o update -n KEY` may set a schema key: not one naming the record (`readOnly`, IDENTITY_KEYS) nor a
 * `*_length` one (derived from its value). The man page's and completion's key lists are the keys this accepts.
 */
export function isUpdatableKey(readOnly: ReadonlySet<string>, key: string): boolean {
  return !readOnly.has(key) && !key.endsWith('_length');
}

/**
 * Checks a change against a schema: a known key, not an identity key nor a `*_length` one, and a value its
 * setting accepts (src/settings: the rule the login applies, so `-v -5` on a timer is refused here rather than
 * stored and failing every later login, and `-v 0.5` is taken as --set takes it). Returns the value in its
 * stored form ("0.50" -> "0.5").
 */
export function checkRecordValue(schema: Schema, readOnly: ReadonlySet<string>, key: string, value: string): string {
  const def = schema.keys.find((k) => k.key === key);
  if (!def || !isUpdatableKey(readOnly, key)) throw new RecordValueError(key, 'Invalid param name.');
  const v = value.trim();
  // A newline would become a second record line (node.startup = automatic hidden in a password).
  const form = recordFormProblem(key, v);
  if (form !== undefined) throw new RecordValueError(key, `Invalid value: ${form}.`);
  const r = def.type.read(v);
  if (!r.ok) throw new RecordValueError(key, `Invalid value "${value}": ${r.problem} (${def.type.rule}).`);
  return r.text;
}

export const MASK = '********';

/** Every field as `-o show` lists it: schema keys (defaults filled in) then unknown ones; `*_length` never. */
export function recordFields(
  rec: Rec,
  schema: Schema,
  opts: { showSecrets?: boolean; empty?: string } = {},
): Array<{ key: string; value: string }> {
  const out: Array<{ key: string; value: string }> = [];
  const seen = new Set<string>();
  const show = (key: string, v: string, masked: boolean) => {
    seen.add(key);
    if (key.endsWith('_length')) return;
    const value = v === '' ? (opts.empty ?? '') : masked && !opts.showSecrets ? MASK : v;
    out.push({ key, value });
  };
  for (const def of listedKeys(schema, rec, 'show')) show(def.key, rec.get(def.key) ?? def.default, !!def.masked);
  // Known keys of the other address family are not listed; unknown ones are, in file order.
  for (const def of schema.keys) seen.add(def.key);
  for (const [k, v] of rec) if (!seen.has(k)) show(k, v, false);
  return out;
}
