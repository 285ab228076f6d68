/**
 * The control API's message codec (DESIGN.md "Control plane (NATS)"): loads proto/mpiscsi/v1/*.proto with
 * protobufjs at runtime and turns plain objects into protobuf binary or proto3 JSON and back, rejecting
 * malformed bodies with a ControlDecodeError. Binary bodies follow proto3: unknown fields are skipped (a newer
 * client's added field reaches an older daemon harmlessly); JSON stays strict (an unknown key is an error).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** A request, reply or event body that is not a valid encoding of the message it should be. */
export class ControlDecodeError extends Error {
  override readonly name = 'ControlDecodeError';
  constructor(
    /** Fully qualified message name, e.g. mpiscsi.v1.NodeLoginRequest. */
    readonly messageType: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How a body is encoded: protobuf binary (the default) or proto3 JSON. */
export type WireFormat = 'protobuf' | 'json';

/** The header value that selects proto3 JSON (header `Content-Type`). */
export const JSON_CONTENT_TYPE = 'application/json';
export const CONTENT_TYPE_HEADER = 'Content-Type';

/** The proto files of the API, relative to the proto/ directory. */
export const PROTO_FILES = [
  'mpiscsi/v1/common.proto',
  'mpiscsi/v1/discovery.proto',
  'mpiscsi/v1/node.proto',
  'mpiscsi/v1/session.proto',
  'mpiscsi/v1/iface.proto',
  'mpiscsi/v1/mpath.proto',
  'mpiscsi/v1/export.proto',
  'mpiscsi/v1/events.proto',
] as const;

/** protobufjs toObject options: lowerCamelCase names, 64-bit as numbers, every field present. */
const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, arrays: true };

/**
 * The package root: the first directory at or above `from` that holds proto/mpiscsi/v1/common.proto. Works
 * from src/control/ (vitest) and from dist/src/control/ (compiled).
 */
export function findPackageRoot(from: string = import.meta.url): string {
  let dir = dirname(from.startsWith('file:') ? fileURLToPath(from) : from);
  for (;;) {
    if (existsSync(join(dir, 'proto', PROTO_FILES[0]))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`proto/${PROTO_FILES[0]} not found above ${from}`);
    dir = up;
  }
}

let cachedRoot: protobuf.Root | undefined;

/** The schema, loaded once. Imports in the proto files are relative to the proto/ directory. */
export function loadSchema(): protobuf.Root {
  if (cachedRoot) return cachedRoot;
  const protoDir = join(findPackageRoot(), 'proto');
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : join(protoDir, target));
  root.loadSync([...PROTO_FILES], { keepCase: false });
  root.resolveAll();
  cachedRoot = root;
  return root;
}

const types = new Map<string, protobuf.Type>();

/** The message type by its fully qualified name (mpiscsi.v1.X). */
export function messageType(name: string): protobuf.Type {
  let t = types.get(name);
  if (!t) {
    t = loadSchema().lookupType(name);
    types.set(name, t);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Encodes a plain object (lowerCamelCase fields, numbers for 64-bit) as `format`. */
export function encodeMessage(typeName: string, obj: unknown, format: WireFormat = 'protobuf'): Uint8Array {
  return format === 'json' ? encodeJson(typeName, obj) : encodeProtobuf(typeName, obj);
}

export function encodeProtobuf(typeName: string, obj: unknown): Uint8Array {
  const t = messageType(typeName);
  return t.encode(t.fromObject((obj ?? {}) as Record<string, unknown>)).finish();
}

/** proto3 JSON with every field present (defaults included), 64-bit integers as JSON numbers. */
export function encodeJson(typeName: string, obj: unknown): Uint8Array {
  const t = messageType(typeName);
  const plain = stripNulls(t.toObject(t.fromObject((obj ?? {}) as Record<string, unknown>), TO_OBJECT));
  return new TextEncoder().encode(JSON.stringify(plain));
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/** Decodes a body as `format`; a malformed body (or, in JSON, an unknown field) throws ControlDecodeError. */
export function decodeMessage<T = Record<string, unknown>>(typeName: string, data: Uint8Array, format: WireFormat = 'protobuf'): T {
  return format === 'json' ? decodeJson<T>(typeName, data) : decodeProtobuf<T>(typeName, data);
}

export function decodeProtobuf<T = Record<string, unknown>>(typeName: string, data: Uint8Array): T {
  const t = messageType(typeName);
  let msg: protobuf.Message;
  try {
    // protobufjs trusts wire types; walk the tags first so a wrong one does not pass unseen.
    checkWire(t, data, typeName, typeName);
    msg = t.decode(data);
  } catch (err) {
    if (err instanceof ControlDecodeError) throw err;
    throw new ControlDecodeError(typeName, `malformed protobuf ${typeName}: ${(err as Error).message}`, { cause: err });
  }
  return stripNulls(t.toObject(msg, TO_OBJECT)) as T;
}

export function decodeJson<T = Record<string, unknown>>(typeName: string, data: Uint8Array): T {
  const t = messageType(typeName);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch (err) {
    throw new ControlDecodeError(typeName, `malformed JSON ${typeName}: body is not UTF-8`, { cause: err });
  }
  // An empty body is the empty message, as an empty protobuf body is.
  if (text.trim() === '') text = '{}';
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ControlDecodeError(typeName, `malformed JSON ${typeName}: ${(err as Error).message}`, { cause: err });
  }
  const normalized = checkJsonMessage(t, value, typeName, '');
  let msg: protobuf.Message;
  try {
    msg = t.fromObject(normalized);
  } catch (err) {
    throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${(err as Error).message}`, { cause: err });
  }
  return stripNulls(t.toObject(msg, TO_OBJECT)) as T;
}

/** Absent message fields come out of toObject as null; our objects leave them out (undefined). */
function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null && x !== undefined) out[k] = stripNulls(x);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------
// Protobuf wire check (protobuf encoding spec: tag = field_number << 3 | wire_type)

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** The wire type a scalar field must arrive with (enums are varints). */
function scalarWireType(field: protobuf.FieldBase, type: string = field.type): number {
  const basic = (protobuf.types.basic as Record<string, number | undefined>)[type];
  if (basic !== undefined) return basic;
  if (field.resolvedType instanceof protobuf.Enum) return WIRE_VARINT;
  throw new Error(`unsupported field type ${type}`);
}

function isPackable(type: string, field: protobuf.FieldBase): boolean {
  return (protobuf.types.packed as Record<string, number | undefined>)[type] !== undefined || field.resolvedType instanceof protobuf.Enum;
}

/** The next tag of `r`: where it starts, its field number and its wire type. */
function readTag(r: protobuf.Reader): { at: number; id: number; wt: number } {
  const at = r.pos;
  const tag = r.uint32();
  return { at, id: tag >>> 3, wt: tag & 7 };
}

/** Walks every tag of `data` as message `t`: wrong wire types are rejected, unknown fields skipped (proto3). */
function checkWire(t: protobuf.Type, data: Uint8Array, top: string, path: string): void {
  const r = protobuf.Reader.create(data);
  while (r.pos < r.len) {
    const { at, id, wt } = readTag(r);
    if (id === 0) throw new ControlDecodeError(top, `malformed protobuf ${path}: field number 0 at offset ${at}`);
    const field = t.fieldsById[id];
    if (!field) {
      // proto3: an unknown field is skipped, so that a client one version newer (a field added to a request)
      // is served by a daemon not yet upgraded. It must still be well formed: a group (3, 4) or a wire type
      // proto3 does not have is malformed.
      skipUnknown(r, wt, top, `${path} field ${id}`, at);
      continue;
    }
    const where = `${path}.${field.name}`;
    const wrongWire = (want: number): ControlDecodeError =>
      new ControlDecodeError(top, `malformed protobuf ${where}: wire type ${wt}, expected ${want} (offset ${at})`);
    if (field instanceof protobuf.MapField) {
      if (wt !== WIRE_LEN) throw wrongWire(WIRE_LEN);
      checkMapEntry(field, r.bytes(), top, where);
    } else if (field.resolvedType instanceof protobuf.Type) {
      if (wt !== WIRE_LEN) throw wrongWire(WIRE_LEN);
      checkWire(field.resolvedType, r.bytes(), top, where);
    } else {
      const want = scalarWireType(field);
      if (wt === want) r.skipType(wt);
      else if (field.repeated && wt === WIRE_LEN && isPackable(field.type, field)) r.skipType(wt);
      else throw wrongWire(want);
    }
  }
}

/** Skips an unknown field's value; throws on a wire type proto3 has no use for, or a value that runs out. */
function skipUnknown(r: protobuf.Reader, wt: number, top: string, where: string, at: number): void {
  if (wt !== 0 && wt !== 1 && wt !== WIRE_LEN && wt !== 5)
    throw new ControlDecodeError(top, `malformed protobuf ${where}: wire type ${wt} (offset ${at})`);
  r.skipType(wt);
}

/** A map entry is a message with key = 1 and value = 2. */
function checkMapEntry(field: protobuf.MapField, data: Uint8Array, top: string, path: string): void {
  const r = protobuf.Reader.create(data);
  while (r.pos < r.len) {
    const { at, id, wt } = readTag(r);
    if (id === 1) {
      const want = scalarWireType(field, field.keyType);
      if (wt !== want) throw new ControlDecodeError(top, `malformed protobuf ${path}: map key wire type ${wt}, expected ${want}`);
      r.skipType(wt);
    } else if (id === 2) {
      if (field.resolvedType instanceof protobuf.Type) {
        if (wt !== WIRE_LEN) throw new ControlDecodeError(top, `malformed protobuf ${path}: map value wire type ${wt}, expected 2`);
        checkWire(field.resolvedType, r.bytes(), top, `${path}[]`);
      } else {
        const want = scalarWireType(field);
        if (wt !== want) throw new ControlDecodeError(top, `malformed protobuf ${path}: map value wire type ${wt}, expected ${want}`);
        r.skipType(wt);
      }
    } else {
      skipUnknown(r, wt, top, `${path} map entry field ${id}`, at);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// proto3 JSON check (https://protobuf.dev/programming-guides/json/): every key must name a field (its
// lowerCamelCase JSON name or its original proto name), every value must have the field's JSON type.
// Returns an object protobufjs' fromObject takes without guessing.

const INT32 = { min: -0x80000000, max: 0x7fffffff };
const UINT32 = { min: 0, max: 0xffffffff };
const RANGES: Record<string, { min: number; max: number } | undefined> = {
  int32: INT32,
  sint32: INT32,
  sfixed32: INT32,
  uint32: UINT32,
  fixed32: UINT32,
  int64: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  sint64: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  sfixed64: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER },
  uint64: { min: 0, max: Number.MAX_SAFE_INTEGER },
  fixed64: { min: 0, max: Number.MAX_SAFE_INTEGER },
};

function snakeCase(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const jsonNames = new WeakMap<protobuf.Type, Map<string, protobuf.FieldBase>>();

/** JSON key -> field: lowerCamelCase (what we emit) and the proto file's snake_case name. */
function fieldsByJsonName(t: protobuf.Type): Map<string, protobuf.FieldBase> {
  let m = jsonNames.get(t);
  if (!m) {
    m = new Map();
    for (const f of t.fieldsArray) {
      m.set(f.name, f);
      m.set(snakeCase(f.name), f);
    }
    jsonNames.set(t, m);
  }
  return m;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

function checkJsonMessage(t: protobuf.Type, value: unknown, typeName: string, path: string): Record<string, unknown> {
  const name = t.fullName.slice(1);
  if (!isPlainObject(value)) {
    throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${path || 'body'} must be an object (${name}), got ${describe(value)}`);
  }
  const byName = fieldsByJsonName(t);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = byName.get(key);
    const where = path ? `${path}.${key}` : key;
    if (!field) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: unknown field "${where}" (${name} has no field ${key})`);
    if (field.name in out) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: field "${where}" given twice`);
    if (v === null) continue; // proto3 JSON: null is the field's default
    out[field.name] = checkJsonField(field, v, typeName, where);
  }
  return out;
}

function checkJsonField(field: protobuf.FieldBase, v: unknown, typeName: string, where: string): unknown {
  if (field instanceof protobuf.MapField) {
    if (!isPlainObject(v)) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where} must be an object (map), got ${describe(v)}`);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (field.keyType !== 'string') checkJsonScalar(field, field.keyType, k, typeName, `${where} key`);
      if (x === null) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where}[${JSON.stringify(k)}] is null`);
      out[k] = checkJsonValue(field, x, typeName, `${where}[${JSON.stringify(k)}]`);
    }
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(v)) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where} must be an array, got ${describe(v)}`);
    return v.map((x, i) => {
      if (x === null) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where}[${i}] is null`);
      return checkJsonValue(field, x, typeName, `${where}[${i}]`);
    });
  }
  return checkJsonValue(field, v, typeName, where);
}

function checkJsonValue(field: protobuf.FieldBase, v: unknown, typeName: string, where: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) return checkJsonMessage(rt, v, typeName, where);
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'string' && v in rt.values) return v;
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where} must be one of ${Object.keys(rt.values).join(', ')}, got ${describe(v)}`);
  }
  return checkJsonScalar(field, field.type, v, typeName, where);
}

function checkJsonScalar(_field: protobuf.FieldBase, type: string, v: unknown, typeName: string, where: string): unknown {
  const bad = (want: string): ControlDecodeError =>
    new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where} must be ${want}, got ${describe(v)}`);
  switch (type) {
    case 'string':
      if (typeof v !== 'string') throw bad('a string');
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw bad('true or false');
      return v;
    case 'bytes':
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw bad('base64 text');
      return v;
    case 'double':
    case 'float':
      if (typeof v === 'number') return v;
      if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return Number(v);
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw bad('a number');
    default: {
      const range = RANGES[type];
      if (!range) throw bad(`a ${type}`);
      // proto3 JSON allows integers as numbers or as decimal strings (64-bit ones usually are strings).
      const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n)) throw bad(`an integer (${type})`);
      if (n < range.min || n > range.max) throw bad(`an integer in ${range.min}..${range.max} (${type})`);
      return n;
    }
  }
}
