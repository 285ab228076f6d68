/**
 * What a node database value may be, by kind of key, checked before anything is stored (issue 16; the seed of
 * issue 12's settings table): no record value holds a control character (a newline would become a second
 * record line), names are iSCSI names (RFC 7143 §4.2.7), iface and portal names stay one path component within
 * the file system's 255-byte limit. One rule per kind; the stores, `-o update`, discovery and NATS share them.
 */
import { iscsiNameProblem } from '../iscsi/names.js';

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

/** Why `value` cannot be stored under `key`, or undefined. */
export function recordValueProblem(key: string, value: string): string | undefined {
  return recordTextProblem(value) ?? NAME_KEYS[key]?.(value);
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
