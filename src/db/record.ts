/**
 * The open-iscsi record text format (usr/idbm.c): `# BEGIN RECORD <ver>`, one `key = value` line per
 * field in a fixed order, `# END RECORD`. Parsing follows idbm_recinfo_config: blank and `#` lines are
 * skipped, the key runs to whitespace or `=`, the value is the rest, trimmed. Unlike iscsiadm, a line
 * that is not `key = value` is an error (RecordError names the file and 1-based line), so a corrupt
 * record is never silently half-read.
 */
import { ifaceFamily, ifaceKeyFamily, type Setting } from '../settings/index.js';
import { checkRecordLines, checkRecordValues } from './record-rules.js';

/** Version string we write in `# BEGIN RECORD`. */
export const RECORD_VERSION = '2.1.8';
export const BEGIN_RECORD = '# BEGIN RECORD';
export const END_RECORD = '# END RECORD';

/** A record key's definition: its entry in the settings table (value type, default, masked). */
export type KeyDef = Setting;

/** Numbers are always written, even when empty (iscsiadm prints every integer field). */
export const isNumeric = (def: KeyDef): boolean => ['seconds', 'count', 'integer', 'bytes'].includes(def.type.unit);

/** Ordered key definitions of one record kind (node, iface, discovery). */
export interface Schema {
  readonly name: string;
  /** Every key, in the order record files are written in (usr/idbm.c). */
  readonly keys: readonly KeyDef[];
  /** The order `-o show` lists them in, when it differs (node records: libopeniscsiusr's iface order). */
  readonly show?: readonly KeyDef[];
}

/**
 * The known keys a record lists, in order: the file order or the show order, and of the iface keys only the
 * block of the record's address family (open-iscsi lists the IPv4 or the IPv6 offload keys, not both).
 */
export function listedKeys(schema: Schema, record: ReadonlyMap<string, string>, use: 'file' | 'show'): KeyDef[] {
  const keys = use === 'show' ? (schema.show ?? schema.keys) : schema.keys;
  const family = ifaceFamily(record, use);
  const layout = use === 'show' || schema.name === 'iface' ? 'iface' : 'node';
  return keys.filter((def) => {
    const f = ifaceKeyFamily(def.key, layout);
    return f === undefined || f === family;
  });
}

/** A record: every key (known ones in schema order, then unknown ones in file order) to its text value. */
export type Rec = Map<string, string>;

export interface RecordWarning {
  readonly file?: string;
  readonly line: number;
  readonly key: string;
  readonly message: string;
}

export interface ParsedRecord {
  readonly record: Rec;
  /** Version from `# BEGIN RECORD <ver>` if present. */
  readonly version?: string;
  readonly warnings: RecordWarning[];
}

export class RecordError extends Error {
  constructor(
    readonly file: string | undefined,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file ?? '<record>'}:${line}: ${reason}`);
    this.name = 'RecordError';
  }
}

/** C isspace(): what strstrip() and the key scanner in idbm.c treat as whitespace. */
const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';

function cTrim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isSpace(s[a]!)) a++;
  while (b > a && isSpace(s[b - 1]!)) b--;
  return s.slice(a, b);
}

/** `node.session.auth.password_length` and friends: derived by iscsiadm, never written. */
export const isLengthKey = (key: string): boolean => key.endsWith('_length');

function schemaIndex(schema: Schema | undefined): Map<string, KeyDef> {
  return new Map((schema?.keys ?? []).map((k) => [k.key, k]));
}

/** Split one non-blank, non-comment, trimmed line into key and value, or say why it is malformed. */
function splitLine(line: string): { key: string; value: string } | string {
  let i = 0;
  while (i < line.length && !isSpace(line[i]!) && line[i] !== '=') i++;
  const key = line.slice(0, i);
  if (key.length === 0) return 'line has no key before "="';
  while (i < line.length && isSpace(line[i]!)) i++;
  if (i >= line.length) return `key "${key}" has no "=" and no value`;
  if (line[i] !== '=') return `expected "=" after key "${key}"`;
  return { key, value: cTrim(line.slice(i + 1)) };
}

/**
 * Parse record text. With a schema, the result starts from the schema's defaults (as iscsiadm starts
 * from idbm_node_setup_defaults) and lists known keys in schema order, then unknown keys in file order
 * (each reported as a warning). A value its setting refuses (a bad number, enum or timer value) is ignored
 * with a warning, keeping the default, as iscsiadm does; with `strict` (an import, which must not bring in
 * what a login would refuse) it is a RecordError naming the file, the line, the key, the value and the rule.
 * Known values are stored in their setting's normal form ("0.50" -> "0.5", "yes" -> "Yes").
 */
export function parseRecord(text: string, opts: { schema?: Schema; file?: string; strict?: boolean } = {}): ParsedRecord {
  const { schema, file, strict = false } = opts;
  const known = schemaIndex(schema);
  const record: Rec = new Map();
  for (const k of schema?.keys ?? []) record.set(k.key, k.default);
  const warnings: RecordWarning[] = [];
  let version: string | undefined;
  const lines = text.split('\n');
  // A trailing newline yields one empty last element; that is not a line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((raw, idx) => {
    const lineNo = idx + 1;
    const line = cTrim(raw);
    if (line.length === 0) return;
    if (line.startsWith('#')) {
      if (line.startsWith(BEGIN_RECORD)) {
        const v = cTrim(line.slice(BEGIN_RECORD.length));
        if (v) version = v;
      }
      return;
    }
    if (line.includes('\0')) throw new RecordError(file, lineNo, 'line contains a NUL byte');
    const kv = splitLine(line);
    if (typeof kv === 'string') throw new RecordError(file, lineNo, kv);
    const { key, value } = kv;
    if (isLengthKey(key)) return; // derived; iscsiadm recomputes it
    const def = known.get(key);
    if (!def) {
      if (schema) warnings.push({ file, line: lineNo, key, message: `unknown key "${key}" kept as is` });
      record.set(key, value);
      return;
    }
    const read = def.type.read(value);
    if (!read.ok) {
      const why = `${key} = ${value}: ${read.problem}`;
      if (strict) throw new RecordError(file, lineNo, why);
      warnings.push({ file, line: lineNo, key, message: `${why}; ignored, "${def.default}" kept` });
      return;
    }
    record.set(key, read.text);
  });
  return { record, version, warnings };
}

/** The lines iscsiadm writes for a record, without BEGIN/END. */
function bodyLines(record: Rec, schema: Schema | undefined, show?: { showSecrets: boolean }): string[] {
  const out: string[] = [];
  const known = schemaIndex(schema);
  for (const def of schema ? listedKeys(schema, record, show ? 'show' : 'file') : []) {
    if (isLengthKey(def.key)) continue;
    let value = record.get(def.key) ?? def.default;
    if (isNumeric(def) && value === '') value = def.default === '' ? '0' : def.default;
    if (show) {
      if (def.masked && value !== '' && !show.showSecrets) value = '********';
      out.push(`${def.key} = ${value === '' ? '<empty>' : value}`);
    } else if (isNumeric(def) || value !== '') {
      out.push(`${def.key} = ${value}`);
    }
  }
  for (const [key, value] of record) {
    if (known.has(key) || isLengthKey(key)) continue;
    if (show) out.push(`${key} = ${value === '' ? '<empty>' : value}`);
    else if (value !== '') out.push(`${key} = ${value}`);
  }
  return out;
}

/** Record file text as iscsiadm writes it: fixed order, empty strings omitted, ints always, `*_length` never. */
export function formatRecord(record: Rec, schema?: Schema, version: string = RECORD_VERSION): string {
  // Nothing that would turn one value into two lines (or a name into a path) reaches a record file, nor a
  // value its setting refuses: every store writes through here, so no store keeps what a login would refuse.
  checkRecordLines(record);
  if (schema) checkRecordValues(record, schema.keys);
  return [`${BEGIN_RECORD} ${version}`, ...bodyLines(record, schema), END_RECORD, ''].join('\n');
}

/** `-o show` text: every known key, `<empty>` for empty values, passwords masked unless showSecrets. */
export function showRecord(record: Rec, opts: { schema?: Schema; showSecrets?: boolean } = {}): string {
  const lines = bodyLines(record, opts.schema, { showSecrets: opts.showSecrets ?? false });
  return [`${BEGIN_RECORD} ${RECORD_VERSION}`, ...lines, END_RECORD, ''].join('\n');
}
