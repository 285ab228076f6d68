/**
 * The control API's message codec (DESIGN.md "Control plane (NATS)"): the plain objects of src/control/api.ts
 * to protobuf binary or proto3 JSON and back, over the descriptors protoc-gen-es generated from
 * proto/mpiscsi/v1/*.proto (src/control/gen/, `npm run proto:gen`), with @bufbuild/protobuf doing the encoding.
 *
 * What this file adds to the library, and why:
 * - The plain-object form the control code works in: lowerCamelCase fields, 64-bit integers as JS numbers
 *   (the library uses bigint), every scalar and repeated field present, absent sub-messages left out except
 *   the few of ALWAYS_SET, no `$typeName`. Values that do not fit the field are refused, not coerced.
 * - Binary decoding as proto3 wants it (https://protobuf.dev/programming-guides/encoding/): unknown fields
 *   are skipped, so that a client one version newer is served by a daemon not yet upgraded; but the library
 *   reads a known field whatever its wire type, so every tag is checked against the schema first.
 * - proto3 JSON (https://protobuf.dev/programming-guides/json/) stays strict, as the library's fromJson is,
 *   with errors that name the path of the bad key or value (`filter.port must be ...`).
 * Malformed bodies throw ControlDecodeError.
 *
 * Over 500 lines because those three walks over the same descriptors (plain mapping, wire check, JSON check)
 * share their range and error helpers; apart, each would import the others' internals.
 */
import {
  create,
  createRegistry,
  fromBinary,
  fromJson,
  ScalarType,
  toBinary,
  toJson,
  type DescField,
  type DescMessage,
  type JsonValue,
  type Message,
  type Registry,
} from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { WireFormat } from './wire.js';
import { file_mpiscsi_v1_common } from './gen/mpiscsi/v1/common_pb.js';
import { file_mpiscsi_v1_discovery } from './gen/mpiscsi/v1/discovery_pb.js';
import { file_mpiscsi_v1_events } from './gen/mpiscsi/v1/events_pb.js';
import { file_mpiscsi_v1_export } from './gen/mpiscsi/v1/export_pb.js';
import { file_mpiscsi_v1_iface } from './gen/mpiscsi/v1/iface_pb.js';
import { file_mpiscsi_v1_mpath } from './gen/mpiscsi/v1/mpath_pb.js';
import { file_mpiscsi_v1_node } from './gen/mpiscsi/v1/node_pb.js';
import { file_mpiscsi_v1_session } from './gen/mpiscsi/v1/session_pb.js';

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

// The body formats and the header that picks one live in wire.ts (no protobuf code), shared with the client.
export { CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE, type WireFormat } from './wire.js';

/**
 * Sub-message fields that are always present in the plain objects (an absent one reads as its default message,
 * as proto3 getters give it, and is sent as one): the parts of an identity or a session without which the
 * object means nothing, so that the code reading them need not test for each. Every other sub-message field
 * is left out when absent: an absent `filter` means "no filter", not "a filter of empty strings".
 * src/control/api.ts types these fields as required; checked against the schema when this module loads.
 */
export const ALWAYS_SET = {
  'mpiscsi.v1.NodeKey': ['portal'],
  'mpiscsi.v1.LoginResult': ['node'],
  'mpiscsi.v1.DiscoveredNode': ['node'],
  'mpiscsi.v1.NodeRecord': ['node'],
  'mpiscsi.v1.NodeNewRequest': ['node'],
  'mpiscsi.v1.SessionInfo': ['node', 'currentPortal', 'timeouts', 'chap'],
  'mpiscsi.v1.SessionEvent': ['node'],
} as const;

let registry: Registry | undefined;

/**
 * Every message of the API, from the generated descriptors (nothing is read from disk). Kept under its
 * protobufjs-era name: the service calls it once at start so that a schema the mapping cannot handle fails
 * there, not on the first request.
 */
export function loadSchema(): Registry {
  if (registry) return registry;
  const r = createRegistry(
    file_mpiscsi_v1_common,
    file_mpiscsi_v1_discovery,
    file_mpiscsi_v1_node,
    file_mpiscsi_v1_session,
    file_mpiscsi_v1_iface,
    file_mpiscsi_v1_mpath,
    file_mpiscsi_v1_export,
    file_mpiscsi_v1_events,
  );
  checkMapping(r);
  registry = r;
  return r;
}

/**
 * The plain-object mapping covers what the API uses; refuse at load what it does not, rather than mangle it
 * at run time: enums (their plain form would be the value's name, not written until a message has one),
 * groups and delimited messages (not proto3), and ALWAYS_SET entries that name no message field.
 */
function checkMapping(r: Registry): void {
  for (const t of r) {
    if (t.kind !== 'message') continue;
    for (const f of t.fields) {
      const where = `${t.typeName}.${f.name}`;
      if (f.enum) throw new Error(`${where}: enum fields are not mapped to plain objects yet (src/control/schema.ts)`);
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

/** The message type by its fully qualified name (mpiscsi.v1.X); a descriptor is returned as it is. */
export function messageType(name: string | DescMessage): DescMessage {
  if (typeof name !== 'string') return name;
  const t = loadSchema().getMessage(name);
  if (!t) throw new Error(`no message type ${name} in proto/mpiscsi/v1`);
  return t;
}

const alwaysSet = (t: DescMessage, f: DescField): boolean =>
  ((ALWAYS_SET as Record<string, readonly string[]>)[t.typeName] ?? []).includes(f.localName);

// ---------------------------------------------------------------------------------------------------------
// Plain objects <-> messages

const is64 = (s: ScalarType): boolean =>
  s === ScalarType.INT64 || s === ScalarType.UINT64 || s === ScalarType.SINT64 || s === ScalarType.FIXED64 || s === ScalarType.SFIXED64;

const INT32 = { min: -0x80000000, max: 0x7fffffff };
const UINT32 = { min: 0, max: 0xffffffff };
const INT53 = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
const UINT53 = { min: 0, max: Number.MAX_SAFE_INTEGER };

/**
 * The integer range a field takes in a plain object. 64-bit fields are JS numbers there, so they stop at
 * 2^53: beyond it a number is no longer exact, and a counter that silently rounds is worse than a refusal.
 */
function intRange(s: ScalarType): { min: number; max: number } | undefined {
  switch (s) {
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return INT32;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return UINT32;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return INT53;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return UINT53;
    default:
      return undefined;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** A plain scalar as the library's message holds it (bigint for 64-bit); throws when it does not fit. */
function toScalar(s: ScalarType, v: unknown, where: string): unknown {
  const bad = (want: string): Error => new Error(`${where} must be ${want}, got ${describe(v)}`);
  switch (s) {
    case ScalarType.STRING:
      if (typeof v !== 'string') throw bad('a string');
      return v;
    case ScalarType.BOOL:
      if (typeof v !== 'boolean') throw bad('true or false');
      return v;
    case ScalarType.BYTES:
      if (!(v instanceof Uint8Array)) throw bad('a Uint8Array');
      return v;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof v !== 'number') throw bad('a number');
      return v;
    default: {
      const range = intRange(s)!;
      const n = checkInteger(s, typeof v === 'bigint' && v >= BigInt(range.min) && v <= BigInt(range.max) ? Number(v) : v, bad);
      return is64(s) ? BigInt(n) : n;
    }
  }
}

/** `n` when it is an integer in scalar type `s`'s range; else the error `bad` makes of the rule it broke. */
function checkInteger(s: ScalarType, n: unknown, bad: (want: string) => Error): number {
  const range = intRange(s)!;
  const type = ScalarType[s].toLowerCase();
  if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(`an integer (${type})`);
  if (n < range.min || n > range.max) throw bad(`an integer in ${range.min}..${range.max} (${type})`);
  return n;
}

/** A message scalar back in its plain form (64-bit as a number, refused when not exact). */
function fromScalar(s: ScalarType, v: unknown, where: string): unknown {
  if (typeof v !== 'bigint') return v;
  const range = intRange(s)!;
  if (v < BigInt(range.min) || v > BigInt(range.max))
    throw new Error(`${where} = ${v} is beyond what a JS number holds exactly (${range.min}..${range.max})`);
  return Number(v);
}

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
          f.listKind === 'message' ? toMessage(f.message, x, `${at}[${i}]`) : toScalar(f.scalar as ScalarType, x, `${at}[${i}]`),
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
              : toScalar(f.scalar as ScalarType, x, `${at}[${JSON.stringify(k)}]`);
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

/** Object keys are strings: a map keyed by a number or a bool must have keys that read as one. */
function checkMapKey(s: ScalarType, k: string, where: string): void {
  if (s === ScalarType.STRING) return;
  if (s === ScalarType.BOOL) {
    if (k !== 'true' && k !== 'false') throw new Error(`${where} must be true or false, got ${describe(k)}`);
    return;
  }
  toScalar(s, /^-?\d+$/.test(k) ? Number(k) : k, where);
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
          f.listKind === 'message'
            ? fromMessage(f.message, x as Message, `${at}[${i}]`)
            : fromScalar(f.scalar as ScalarType, x, `${at}[${i}]`),
        );
        break;
      case 'map': {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
          o[k] =
            f.mapKind === 'message'
              ? fromMessage(f.message, x as Message, `${at}[${JSON.stringify(k)}]`)
              : fromScalar(f.scalar as ScalarType, x, at);
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
  const t = messageType(type);
  return toBinary(t, toMessage(t, obj ?? {}, ''));
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
  const scalar = (s: ScalarType, x: JsonValue): JsonValue => (is64(s) && typeof x === 'string' ? Number(x) : x);
  switch (f.fieldKind) {
    case 'scalar':
      return scalar(f.scalar, v);
    case 'message':
      return int64AsNumbers(f.message, v);
    case 'list':
      if (!Array.isArray(v)) return v;
      return v.map((x) => (f.listKind === 'message' ? int64AsNumbers(f.message, x) : scalar(f.scalar as ScalarType, x)));
    case 'map':
      if (!isPlainObject(v)) return v;
      return Object.fromEntries(
        Object.entries(v as Record<string, JsonValue>).map(([k, x]) => [
          k,
          f.mapKind === 'message' ? int64AsNumbers(f.message, x) : scalar(f.scalar as ScalarType, x),
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
  const t = messageType(type);
  try {
    checkWire(t, data, t.typeName, t.typeName);
    // Unknown fields were checked and are dropped: the plain objects have no place for them.
    return fromMessage(t, fromBinary(t, data, { readUnknownFields: false }), '') as T;
  } catch (err) {
    if (err instanceof ControlDecodeError) throw err;
    throw new ControlDecodeError(t.typeName, `malformed protobuf ${t.typeName}: ${(err as Error).message}`, { cause: err });
  }
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
// Protobuf wire check (encoding spec "Message Structure": tag = field_number << 3 | wire_type)

/** The wire type a scalar arrives with when not packed. */
function scalarWireType(s: ScalarType): WireType {
  switch (s) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

/** The next tag of `r`: where it starts, its field number and its wire type. */
function readTag(r: BinaryReader): { at: number; id: number; wt: number } {
  const at = r.pos;
  const tag = r.uint32();
  return { at, id: tag >>> 3, wt: tag & 7 };
}

/** Walks every tag of `data` as message `t`: wrong wire types are rejected, unknown fields skipped (proto3). */
function checkWire(t: DescMessage, data: Uint8Array, top: string, path: string): void {
  const r = new BinaryReader(data);
  while (r.pos < r.len) {
    const { at, id, wt } = readTag(r);
    if (id === 0) throw new ControlDecodeError(top, `malformed protobuf ${path}: field number 0 at offset ${at}`);
    const field = fieldOf(t, id);
    if (!field) {
      // proto3: an unknown field is skipped, so that a client one version newer (a field added to a request)
      // is served by a daemon not yet upgraded. It must still be well formed: a group (3, 4) or a wire type
      // proto3 does not have is malformed.
      skipUnknown(r, wt, top, `${path} field ${id}`, at);
      continue;
    }
    const where = `${path}.${field.localName}`;
    const wrongWire = (want: number): ControlDecodeError =>
      new ControlDecodeError(top, `malformed protobuf ${where}: wire type ${wt}, expected ${want} (offset ${at})`);
    switch (field.fieldKind) {
      case 'map':
        if (wt !== WireType.LengthDelimited) throw wrongWire(WireType.LengthDelimited);
        checkMapEntry(field, r.bytes(), top, where);
        break;
      case 'message':
        if (wt !== WireType.LengthDelimited) throw wrongWire(WireType.LengthDelimited);
        checkWire(field.message, r.bytes(), top, where);
        break;
      case 'list':
        if (field.listKind === 'message') {
          if (wt !== WireType.LengthDelimited) throw wrongWire(WireType.LengthDelimited);
          checkWire(field.message, r.bytes(), top, where);
        } else {
          const want = scalarWireType(field.scalar as ScalarType);
          // A repeated number may come packed (one LEN record) or one record per element; decoders take both.
          if (wt === want || (wt === WireType.LengthDelimited && want !== WireType.LengthDelimited)) r.skip(wt);
          else throw wrongWire(want);
        }
        break;
      case 'scalar': {
        const want = scalarWireType(field.scalar);
        if (wt !== want) throw wrongWire(want);
        r.skip(wt);
        break;
      }
      default:
        throw new ControlDecodeError(top, `malformed protobuf ${where}: unsupported field kind ${field.fieldKind}`);
    }
  }
}

const numbers = new WeakMap<DescMessage, Map<number, DescField>>();

/** The field of `t` numbered `id`, if the schema has one. */
function fieldOf(t: DescMessage, id: number): DescField | undefined {
  let m = numbers.get(t);
  if (!m) {
    m = new Map(t.fields.map((f) => [f.number, f]));
    numbers.set(t, m);
  }
  return m.get(id);
}

/** Skips an unknown field's value; throws on a wire type proto3 has no use for, or a value that runs out. */
function skipUnknown(r: BinaryReader, wt: number, top: string, where: string, at: number): void {
  if (wt !== WireType.Varint && wt !== WireType.Bit64 && wt !== WireType.LengthDelimited && wt !== WireType.Bit32)
    throw new ControlDecodeError(top, `malformed protobuf ${where}: wire type ${wt} (offset ${at})`);
  r.skip(wt);
}

/** A map entry is a message with key = 1 and value = 2. */
function checkMapEntry(field: DescField & { fieldKind: 'map' }, data: Uint8Array, top: string, path: string): void {
  const r = new BinaryReader(data);
  while (r.pos < r.len) {
    const { at, id, wt } = readTag(r);
    if (id === 1) {
      const want = scalarWireType(field.mapKey);
      if (wt !== want) throw new ControlDecodeError(top, `malformed protobuf ${path}: map key wire type ${wt}, expected ${want}`);
      r.skip(wt);
    } else if (id === 2) {
      if (field.mapKind === 'message') {
        if (wt !== WireType.LengthDelimited)
          throw new ControlDecodeError(top, `malformed protobuf ${path}: map value wire type ${wt}, expected 2`);
        checkWire(field.message, r.bytes(), top, `${path}[]`);
      } else {
        const want = scalarWireType(field.scalar as ScalarType);
        if (wt !== want) throw new ControlDecodeError(top, `malformed protobuf ${path}: map value wire type ${wt}, expected ${want}`);
        r.skip(wt);
      }
    } else {
      skipUnknown(r, wt, top, `${path} map entry field ${id}`, at);
    }
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
            : checkJsonScalar(field.scalar as ScalarType, x, typeName, at);
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
          : checkJsonScalar(field.scalar as ScalarType, x, typeName, at);
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
function checkJsonScalar(s: ScalarType, v: unknown, typeName: string, where: string): JsonValue {
  const bad = (want: string): ControlDecodeError =>
    new ControlDecodeError(typeName, `invalid JSON ${typeName}: ${where} must be ${want}, got ${describe(v)}`);
  switch (s) {
    case ScalarType.STRING:
      if (typeof v !== 'string') throw bad('a string');
      return v;
    case ScalarType.BOOL:
      if (typeof v !== 'boolean') throw bad('true or false');
      return v;
    case ScalarType.BYTES:
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw bad('base64 text');
      return v;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof v === 'number') return v;
      if (v === 'NaN' || v === 'Infinity' || v === '-Infinity') return v;
      if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
      throw bad('a number');
    default:
      // proto3 JSON allows integers as numbers or as decimal strings (64-bit ones usually are strings).
      return checkInteger(s, typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : Number.NaN, bad);
  }
}
