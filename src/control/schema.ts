/**
 * The control API's message codec (DESIGN.md "Control plane (NATS)"): the plain objects of src/control/api.ts
 * to protobuf binary or proto3 JSON and back, over the descriptors protoc-gen-es generated from
 * proto/mpiscsi/v1/*.proto (src/control/gen/, `npm run proto:gen`), every file of them registered here.
 *
 * The plain-object form the control code works in: lowerCamelCase fields, 64-bit integers as JS numbers
 * (the library uses bigint), every scalar and repeated field present, absent sub-messages left out except
 * the few of ALWAYS_SET, no `$typeName`. Values that do not fit the field are refused, not coerced.
 * - Protobuf binary is proto-binary.ts (over @bufbuild/protobuf's wire reader and writer alone, so that a
 *   client, which loads that and messages.ts without this file, starts fast: issue 17).
 * - proto3 JSON (https://protobuf.dev/programming-guides/json/) is here, with @bufbuild/protobuf's toJson and
 *   fromJson, as strict as fromJson is, with errors that name the path of the bad key or value
 *   (`filter.port must be ...`).
 * Malformed bodies throw ControlDecodeError.
 */
import {
  create,
  createRegistry,
  fromJson,
  toJson,
  type DescField,
  type DescMessage,
  type JsonValue,
  type Message,
  type Registry,
} from '@bufbuild/protobuf';
import { file_mpiscsi_v1_common } from './gen/mpiscsi/v1/common_pb.js';
import { file_mpiscsi_v1_discovery } from './gen/mpiscsi/v1/discovery_pb.js';
import { file_mpiscsi_v1_events } from './gen/mpiscsi/v1/events_pb.js';
import { file_mpiscsi_v1_export } from './gen/mpiscsi/v1/export_pb.js';
import { file_mpiscsi_v1_iface } from './gen/mpiscsi/v1/iface_pb.js';
import { file_mpiscsi_v1_mpath } from './gen/mpiscsi/v1/mpath_pb.js';
import { file_mpiscsi_v1_node } from './gen/mpiscsi/v1/node_pb.js';
import { file_mpiscsi_v1_session } from './gen/mpiscsi/v1/session_pb.js';
import { messageType, registerFile } from './messages.js';
import {
  ALWAYS_SET,
  alwaysSet,
  checkInteger,
  checkMapKey,
  ControlDecodeError,
  decodeBinary,
  describe,
  encodeBinary,
  fromScalar,
  is64,
  isPlainObject,
  Scalar,
  toScalar,
} from './proto-binary.js';
import type { WireFormat } from './wire.js';

export { ALWAYS_SET, ControlDecodeError } from './proto-binary.js';
export { messageType } from './messages.js';
// The body formats and the header that picks one live in wire.ts (no protobuf code), shared with the client.
export { CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE, type WireFormat } from './wire.js';

const FILES = [
  file_mpiscsi_v1_common,
  file_mpiscsi_v1_discovery,
  file_mpiscsi_v1_node,
  file_mpiscsi_v1_session,
  file_mpiscsi_v1_iface,
  file_mpiscsi_v1_mpath,
  file_mpiscsi_v1_export,
  file_mpiscsi_v1_events,
];
for (const f of FILES) registerFile(f);

let registry: Registry | undefined;

/**
 * Every message of the API, from the generated descriptors (nothing is read from disk). Kept under its
 * protobufjs-era name: the service calls it once at start so that a schema the mapping cannot handle fails
 * there, not on the first request.
 */
export function loadSchema(): Registry {
  if (registry) return registry;
  const r = createRegistry(...FILES);
  checkMapping(r);
  registry = r;
  return r;
}

/**
 * The plain-object mapping covers what the API uses; refuse at load what it does not, rather than mangle it
 * at run time: enums (their plain form would be the value's name, not written until a message has one),
 * oneofs and proto3 `optional` (explicit presence: the plain form cannot say "unset"), groups and delimited
 * messages (not proto3), and ALWAYS_SET entries that name no message field.
 */
function checkMapping(r: Registry): void {
  for (const t of r) {
    if (t.kind !== 'message') continue;
    for (const f of t.fields) {
      const where = `${t.typeName}.${f.name}`;
      if (f.enum) throw new Error(`${where}: enum fields are not mapped to plain objects yet (src/control/schema.ts)`);
      if (f.oneof) throw new Error(`${where}: oneof fields are not mapped to plain objects yet (src/control/schema.ts)`);
      if (f.fieldKind === 'scalar' && f.presence !== IMPLICIT_PRESENCE)
        throw new Error(`${where}: fields with explicit presence (optional) are not mapped to plain objects yet`);
      if ((f as { delimitedEncoding?: boolean }).delimitedEncoding) throw new Error(`${where}: delimited (group) encoding is not proto3`);
    }
  }
  for (const [typeName, names] of Object.entries(ALWAYS_SET)) {
    const t = r.getMessage(typeName);
    if (!t) throw new Error(`ALWAYS_SET names ${typeName}, which the schema does not have`);
    for (const n of names) {
      const f = t.fields.find((x) => x.localName === n);
      if (f?.fieldKind !== 'message') throw new Error(`ALWAYS_SET names ${typeName}.${n}, which is not a message field`);
    }
  }
}

/** FeatureSet.FieldPresence.IMPLICIT (descriptor.proto): a proto3 scalar without `optional`. */
const IMPLICIT_PRESENCE = 2;

// ---------------------------------------------------------------------------------------------------------
// Plain objects <-> messages (for toJson and fromJson)

/**
 * Builds the message for plain object `obj`. Keys the message does not have are ignored (the host's objects
 * may carry more than the wire does; the types keep typos out); null and undefined mean the default.
 */
function toMessage(t: DescMessage, obj: unknown, where: string): Message {
  if (!isPlainObject(obj)) throw new Error(`${where || t.typeName} must be an object (${t.typeName}), got ${describe(obj)}`);
  const msg = create(t) as unknown as Record<string, unknown>;
  for (const f of t.fields) {
    const v = obj[f.localName];
    const at = where ? `${where}.${f.localName}` : f.localName;
    if (v === undefined || v === null) {
      if (alwaysSet(t, f) && f.message) msg[f.localName] = create(f.message);
      continue;
    }
    switch (f.fieldKind) {
      case 'scalar':
        msg[f.localName] = toScalar(f.scalar, v, at);
        break;
      case 'message':
        msg[f.localName] = toMessage(f.message, v, at);
        break;
      case 'list': {
        if (!Array.isArray(v)) throw new Error(`${at} must be an array, got ${describe(v)}`);
        msg[f.localName] = v.map((x, i) =>
          f.listKind === 'message' ? toMessage(f.message, x, `${at}[${i}]`) : toScalar(f.scalar as number, x, `${at}[${i}]`),
        );
        break;
      }
      case 'map': {
        if (!isPlainObject(v)) throw new Error(`${at} must be an object (map), got ${describe(v)}`);
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) {
          checkMapKey(f.mapKey, k, `${at} key`);
          out[k] =
            f.mapKind === 'message'
              ? toMessage(f.message, x, `${at}[${JSON.stringify(k)}]`)
              : toScalar(f.scalar as number, x, `${at}[${JSON.stringify(k)}]`);
        }
        msg[f.localName] = out;
        break;
      }
      default:
        throw new Error(`${at}: unsupported field kind ${f.fieldKind}`);
    }
  }
  return msg as unknown as Message;
}

/** The plain object of a decoded message. */
function fromMessage(t: DescMessage, m: Message, where: string): Record<string, unknown> {
  const msg = m as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const f of t.fields) {
    const v = msg[f.localName];
    const at = where ? `${where}.${f.localName}` : f.localName;
    switch (f.fieldKind) {
      case 'scalar':
        out[f.localName] = fromScalar(f.scalar, v, at);
        break;
      case 'message':
        if (v !== undefined) out[f.localName] = fromMessage(f.message, v as Message, at);
        else if (alwaysSet(t, f)) out[f.localName] = fromMessage(f.message, create(f.message), at);
        break;
      case 'list':
        out[f.localName] = (v as unknown[]).map((x, i) =>
          f.listKind === 'message' ? fromMessage(f.message, x as Message, `${at}[${i}]`) : fromScalar(f.scalar as number, x, `${at}[${i}]`),
        );
        break;
      case 'map': {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
          o[k] =
            f.mapKind === 'message'
              ? fromMessage(f.message, x as Message, `${at}[${JSON.stringify(k)}]`)
              : fromScalar(f.scalar as number, x, at);
        }
        out[f.localName] = o;
        break;
      }
      default:
        throw new Error(`${at}: unsupported field kind ${f.fieldKind}`);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Encodes a plain object (lowerCamelCase fields, numbers for 64-bit) as `format`. */
export function encodeMessage(type: string | DescMessage, obj: unknown, format: WireFormat = 'protobuf'): Uint8Array {
  return format === 'json' ? encodeJson(type, obj) : encodeProtobuf(type, obj);
}

export function encodeProtobuf(type: string | DescMessage, obj: unknown): Uint8Array {
  return encodeBinary(messageType(type), obj);
}

/**
 * proto3 JSON with every field present (defaults included) and 64-bit integers as JSON numbers: proto3 JSON
 * writers use strings for them, but parsers must take numbers as well, and ours stop at 2^53 anyway, so
 * numbers keep `jq` and shell clients simple.
 */
export function encodeJson(type: string | DescMessage, obj: unknown): Uint8Array {
  const t = messageType(type);
  const json = toJson(t, toMessage(t, obj ?? {}, ''), { alwaysEmitImplicit: true });
  return new TextEncoder().encode(JSON.stringify(int64AsNumbers(t, json)));
}

/** toJson's 64-bit decimal strings as numbers (exact: toMessage refused anything beyond 2^53). */
function int64AsNumbers(t: DescMessage, json: JsonValue): JsonValue {
  if (!isPlainObject(json)) return json;
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(json as Record<string, JsonValue>)) {
    const f = t.fields.find((x) => x.jsonName === k);
    out[k] = f ? fieldAsNumbers(f, v) : v;
  }
  return out;
}

function fieldAsNumbers(f: DescField, v: JsonValue): JsonValue {
  const scalar = (s: number, x: JsonValue): JsonValue => (is64(s) && typeof x === 'string' ? Number(x) : x);
  switch (f.fieldKind) {
    case 'scalar':
      return scalar(f.scalar, v);
    case 'message':
      return int64AsNumbers(f.message, v);
    case 'list':
      if (!Array.isArray(v)) return v;
      return v.map((x) => (f.listKind === 'message' ? int64AsNumbers(f.message, x) : scalar(f.scalar as number, x)));
    case 'map':
      if (!isPlainObject(v)) return v;
      return Object.fromEntries(
        Object.entries(v as Record<string, JsonValue>).map(([k, x]) => [
          k,
          f.mapKind === 'message' ? int64AsNumbers(f.message, x) : scalar(f.scalar as number, x),
        ]),
      );
    default:
      return v;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/** Decodes a body as `format`; a malformed body (or, in JSON, an unknown field) throws ControlDecodeError. */
export function decodeMessage<T = Record<string, unknown>>(
  type: string | DescMessage,
  data: Uint8Array,
  format: WireFormat = 'protobuf',
): T {
  return format === 'json' ? decodeJson<T>(type, data) : decodeProtobuf<T>(type, data);
}

export function decodeProtobuf<T = Record<string, unknown>>(type: string | DescMessage, data: Uint8Array): T {
  return decodeBinary<T>(messageType(type), data);
}

export function decodeJson<T = Record<string, unknown>>(type: string | DescMessage, data: Uint8Array): T {
  const t = messageType(type);
  const typeName = t.typeName;
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
  const checked = checkJsonMessage(t, value, typeName, '');
  try {
    return fromMessage(t, fromJson(t, checked, { ignoreUnknownFields: false }), '') as T;
  } catch (err) {
    throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${(err as Error).message}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------------------
// proto3 JSON check: every key must name a field (its lowerCamelCase JSON name or its proto name), every value
// must have the field's JSON type. Returns the same value with JSON names as keys, which the library's fromJson
// then reads: the check is here for its messages, which say where in the body the fault is.

const jsonNames = new WeakMap<DescMessage, Map<string, DescField>>();

/** JSON key -> field: the lowerCamelCase JSON name (what we emit) and the proto file's snake_case name. */
function fieldsByJsonName(t: DescMessage): Map<string, DescField> {
  let m = jsonNames.get(t);
  if (!m) {
    m = new Map();
    for (const f of t.fields) {
      m.set(f.jsonName, f);
      m.set(f.name, f);
    }
    jsonNames.set(t, m);
  }
  return m;
}

function checkJsonMessage(t: DescMessage, value: unknown, typeName: string, path: string): Record<string, JsonValue> {
  if (!isPlainObject(value)) {
    throw new ControlDecodeError(
      typeName,
      `invalid JSON ${typeName}: ${path || 'body'} must be an object (${t.typeName}), got ${describe(value)}`,
    );
  }
  const byName = fieldsByJsonName(t);
  const out: Record<string, JsonValue> = {};
  const seen = new Set<DescField>();
  for (const [key, v] of Object.entries(value)) {
    const field = byName.get(key);
    const where = path ? `${path}.${key}` : key;
    if (!field)
      throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: unknown field "${where}" (${t.typeName} has no field ${key})`);
    if (seen.has(field)) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: field "${where}" given twice`);
    seen.add(field);
    if (v === null) continue; // proto3 JSON: null is the field's default
    out[field.jsonName] = checkJsonField(field, v, typeName, where);
  }
  return out;
}

function checkJsonField(field: DescField, v: unknown, typeName: string, where: string): JsonValue {
  const bad = (what: string): ControlDecodeError => new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where} ${what}`);
  switch (field.fieldKind) {
    case 'map': {
      if (!isPlainObject(v)) throw bad(`must be an object (map), got ${describe(v)}`);
      const out: Record<string, JsonValue> = {};
      for (const [k, x] of Object.entries(v)) {
        try {
          checkMapKey(field.mapKey, k, `${where} key`);
        } catch (err) {
          throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${(err as Error).message}`, { cause: err });
        }
        const at = `${where}[${JSON.stringify(k)}]`;
        if (x === null) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${at} is null`);
        out[k] =
          field.mapKind === 'message'
            ? checkJsonMessage(field.message, x, typeName, at)
            : checkJsonScalar(field.scalar as number, x, typeName, at);
      }
      return out;
    }
    case 'list':
      if (!Array.isArray(v)) throw bad(`must be an array, got ${describe(v)}`);
      return v.map((x, i) => {
        const at = `${where}[${i}]`;
        if (x === null) throw new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${at} is null`);
        return field.listKind === 'message'
          ? checkJsonMessage(field.message, x, typeName, at)
          : checkJsonScalar(field.scalar as number, x, typeName, at);
      });
    case 'message':
      return checkJsonMessage(field.message, v, typeName, where);
    case 'scalar':
      return checkJsonScalar(field.scalar, v, typeName, where);
    default:
      throw bad(`has an unsupported field kind ${field.fieldKind}`);
  }
}

/** A proto3 JSON scalar, returned in the form fromJson reads (integers as numbers, after the range check). */
function checkJsonScalar(s: number, v: unknown, typeName: string, where: string): JsonValue {
  const bad = (want: string): ControlDecodeError =>
    new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where} must be ${want}, got ${describe(v)}`);
  switch (s) {
    case Scalar.STRING:
      if (typeof v !== 'string') throw bad('a string');
      return v;
    case Scalar.BOOL:
      if (typeof v !== 'boolean') throw bad('true or false');
      return v;
    case Scalar.BYTES:
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw bad('base64 text');
      return v;
    case Scalar.DOUBLE:
    case Scalar.FLOAT:
      if (typeof v === 'number') return v;
      if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return v;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw bad('a number');
    default:
      // proto3 JSON allows integers as numbers or as decimal strings (64-bit ones usually are strings).
      return checkInteger(s, typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : Number.NaN, bad);
  }
}
