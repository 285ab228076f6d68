/**
 * What a node database value may be, checked before anything is stored (issue 16, issue 12): the value its
 * key's setting accepts (src/settings: unit, range, choices, the same rule a login applies), no control
 * character in any value (a newline would become a second record line), names that are iSCSI names (RFC 7143
 * §4.2.7), iface and portal names that stay one path component within the file system's 255-byte limit. One
 * rule per kind; the stores, `-o update`, --import, discovery and NATS share them.
 */
import { iscsiNameProblem } from '../iscsi/names.js';
import { DISCOVERY_SETTINGS, IFACE_SETTINGS, NODE_SETTINGS, type Setting } from '../settings/index.js';

/** A value refused before it is stored; `key` is the record key. iscsiadm answers these with INVAL (7). */
export class RecordRuleError extends RangeError {
  override readonly name = 'RecordRuleError';
  constructor(
    readonly key: string,
    readonly value: string,
    readonly why: string,
  ) {
    super(`${key} = ${JSON.stringify(value)}: ${why}`);
  }
}

/** Longest path component on Linux file systems (NAME_MAX). */
export const NAME_MAX_BYTES = 255;
/** open-iscsi's ISCSI_MAX_IFACE_LEN (65 with the NUL). */
export const IFACE_NAME_MAX = 64;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why a record value cannot be stored as one line of a record file, or undefined. */
export function recordTextProblem(value: string): string | undefined {
  const c = CONTROL.exec(value);
  return c ? `holds a control character (${JSON.stringify(c[0])} at ${c.index}); record values are one line` : undefined;
}

/** Why `name` cannot be an iface name (one path component under ifaces/), or undefined. */
export function ifaceNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'is not an iface name';
  if (!/^[A-Za-z0-9._:-]+$/.test(name)) return 'may hold only letters, digits, ".", "_", ":" and "-"';
  if (name.length > IFACE_NAME_MAX) return `is longer than ${IFACE_NAME_MAX} characters (open-iscsi ISCSI_MAX_IFACE_LEN)`;
  return undefined;
}

/** Why `address` cannot be a portal address (a host name or IP literal in a directory name), or undefined. */
export function portalAddressProblem(address: string): string | undefined {
  if (address === '') return 'is empty';
  if (!/^[A-Za-z0-9._:%-]+$/.test(address)) return 'is not a host name or IP address';
  // "ADDRESS,PORT,TPGT" is one directory name.
  if (Buffer.byteLength(address) > NAME_MAX_BYTES - 12) return `is longer than ${NAME_MAX_BYTES - 12} bytes`;
  return undefined;
}

/**
 * Why a node cannot be stored: its discovery link (send_targets/PORTAL/ or static/) is one file name
 * "TARGET,ADDRESS,PORT,TPGT,IFACE", which a 223-byte name with a long address and iface can take past
 * NAME_MAX. Checked before anything of the node is written. Undefined when it fits.
 */
export function nodeLinkProblem(k: { target: string; address: string; port: number; tpgt: number; iface: string }): string | undefined {
  const bytes = Buffer.byteLength(`${k.target},${k.address},${k.port},${k.tpgt},${k.iface}`);
  return bytes > NAME_MAX_BYTES
    ? `with portal ${k.address}:${k.port},${k.tpgt} and iface ${k.iface} it makes a ${bytes}-byte record link name, over the file system's ${NAME_MAX_BYTES}`
    : undefined;
}

/** The rule for each key whose values are names; every other key only has to be one line of text. */
const NAME_KEYS: Readonly<Record<string, (v: string) => string | undefined>> = {
  'node.name': iscsiNameProblem,
  'iface.iscsi_ifacename': ifaceNameProblem,
  'iface.initiatorname': (v) => (v === '' ? undefined : iscsiNameProblem(v)),
  'node.conn[0].address': portalAddressProblem,
  'discovery.sendtargets.address': portalAddressProblem,
};

/**
 * The setting of a record key. Node, iface and discovery keys are disjoint but for the iface.* keys a node
 * record carries, which the two tables define alike (test/settings checks it), so one lookup serves all three.
 */
export function recordSetting(key: string): Setting | undefined {
  return NODE_SETTINGS.get(key) ?? IFACE_SETTINGS.get(key) ?? DISCOVERY_SETTINGS.get(key);
}

/** Why `value` is not one line of text or not a valid name for `key`, or undefined (the value's form). */
export function recordFormProblem(key: string, value: string): string | undefined {
  return recordTextProblem(value) ?? NAME_KEYS[key]?.(value);
}

/**
 * Why `value` cannot be stored under `key`, or undefined: its form, then its setting's rule. An empty value
 * of a non-text key is not stored (iscsiadm omits it, or writes the default), so it passes.
 */
export function recordValueProblem(key: string, value: string): string | undefined {
  const form = recordFormProblem(key, value);
  if (form !== undefined || value === '') return form;
  const r = recordSetting(key)?.type.read(value);
  return r && !r.ok ? r.problem : undefined;
}

/**
 * Throws RecordRuleError for the first known key whose value its setting refuses. The last check before a
 * record is written (formatRecord), so no store, import or update path keeps a value a login would refuse.
 */
export function checkRecordValues(record: ReadonlyMap<string, string>, settings: readonly Setting[]): void {
  for (const s of settings) {
    const value = record.get(s.key);
    if (value === undefined || value === '') continue;
    const r = s.type.read(value);
    if (!r.ok) throw new RecordRuleError(s.key, value, r.problem);
  }
}

/** Throws RecordRuleError unless `value` can be stored under `key`. */
export function checkRecordRule(key: string, value: string): string {
  const why = recordValueProblem(key, value);
  if (why !== undefined) throw new RecordRuleError(key, value, why);
  return value;
}

const LINE_BREAK = /[\n\r\0]/;

/**
 * The last check before record text is written: no key or value can break its line (newline, CR, NUL), so
 * a record file always reads back as the lines it was written as. The full rules (recordValueProblem) apply
 * where values come in: record creation, `-o update`, NATS.
 */
export function checkRecordLines(record: ReadonlyMap<string, string>): void {
  for (const [key, value] of record) {
    if (LINE_BREAK.test(key) || key.includes('=')) throw new RecordRuleError(key, value, 'is not a record key');
    if (LINE_BREAK.test(value)) throw new RecordRuleError(key, value, recordTextProblem(value)!);
  }
}
