/**
 * Protobuf binary encoding of the control API's plain objects (DESIGN.md "Control plane (NATS)";
 * https://protobuf.dev/programming-guides/encoding/), walking the descriptors protoc-gen-es generated
 * (src/control/gen/) with @bufbuild/protobuf's wire reader and writer only.
 *
 * Why not the library's toBinary/fromBinary: they are exported from its index alone, which also loads its JSON
 * code and boots every well-known type's descriptor (google/protobuf/*.proto, 14 files): about a third of a
 * daemon round trip's start time in mpiscsiadm (issue 17). Going from the plain object to bytes directly also
 * saves the message the library would build in between. The bytes are the library's: fields in number order,
 * proto3 implicit presence (zero values not written), repeated numbers packed, map entries as key 1 and
 * value 2 (test/control/proto-binary.test.ts compares both ways against toBinary and fromBinary).
 *
 * Decoding checks every tag against the schema as it reads (the library would read a known field whatever its
 * wire type), skips unknown fields (proto3: a client one version newer is served by a daemon not yet upgraded)
 * and gives every field of the plain form: scalars and repeated fields always, sub-messages when present or in
 * ALWAYS_SET. Malformed bodies throw ControlDecodeError. schema.ts adds proto3 JSON and the whole registry.
 */
import type { DescField, DescMessage } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

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

/**
 * Sub-message fields that are always present in the plain objects (an absent one reads as its default message,
 * as proto3 getters give it, and is sent as one): the parts of an identity or a session without which the
 * object means nothing, so that the code reading them need not test for each. Every other sub-message field
 * is left out when absent: an absent `filter` means "no filter", not "a filter of empty strings".
 * src/control/api.ts types these fields as required; schema.ts checks them against the schema.
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

export const alwaysSet = (t: DescMessage, f: DescField): boolean =>
  ((ALWAYS_SET as Record<string, readonly string[]>)[t.typeName] ?? []).includes(f.localName);

/**
 * Scalar types by their numbers in descriptor.proto (FieldDescriptorProto.Type), the values of the library's
 * ScalarType, which only its index exports. test/control/proto-binary.test.ts checks that they agree.
 */
export const Scalar = {
  DOUBLE: 1,
  FLOAT: 2,
  INT64: 3,
  UINT64: 4,
  INT32: 5,
  FIXED64: 6,
  FIXED32: 7,
  BOOL: 8,
  STRING: 9,
  BYTES: 12,
  UINT32: 13,
  SFIXED32: 15,
  SFIXED64: 16,
  SINT32: 17,
  SINT64: 18,
} as const;

export const SCALAR_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Scalar).map(([k, v]) => [v, k.toLowerCase()]),
);

export const is64 = (s: number): boolean =>
  s === Scalar.INT64 || s === Scalar.UINT64 || s === Scalar.SINT64 || s === Scalar.FIXED64 || s === Scalar.SFIXED64;

const INT32 = { min: -0x80000000, max: 0x7fffffff };
const UINT32 = { min: 0, max: 0xffffffff };
const INT53 = { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER };
const UINT53 = { min: 0, max: Number.MAX_SAFE_INTEGER };

/**
 * The integer range a field takes in a plain object. 64-bit fields are JS numbers there, so they stop at
 * 2^53: beyond it a number is no longer exact, and a counter that silently rounds is worse than a refusal.
 */
function intRange(s: number): { min: number; max: number } | undefined {
  switch (s) {
    case Scalar.INT32:
    case Scalar.SINT32:
    case Scalar.SFIXED32:
      return INT32;
    case Scalar.UINT32:
    case Scalar.FIXED32:
      return UINT32;
    case Scalar.INT64:
    case Scalar.SINT64:
    case Scalar.SFIXED64:
      return INT53;
    case Scalar.UINT64:
    case Scalar.FIXED64:
      return UINT53;
    default:
      return undefined;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** A plain scalar as the wire (and the library's message) holds it: bigint for 64-bit; throws when it does not fit. */
export function toScalar(s: number, v: unknown, where: string): unknown {
  const bad = (want: string): Error => new Error(`${where} must be ${want}, got ${describe(v)}`);
  switch (s) {
    case Scalar.STRING:
      if (typeof v !== 'string') throw bad('a string');
      return v;
    case Scalar.BOOL:
      if (typeof v !== 'boolean') throw bad('true or false');
      return v;
    case Scalar.BYTES:
      if (!(v instanceof Uint8Array)) throw bad('a Uint8Array');
      return v;
    case Scalar.DOUBLE:
    case Scalar.FLOAT:
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
export function checkInteger(s: number, n: unknown, bad: (want: string) => Error): number {
  const range = intRange(s)!;
  const type = SCALAR_NAMES[s];
  if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(`an integer (${type})`);
  if (n < range.min || n > range.max) throw bad(`an integer in ${range.min}..${range.max} (${type})`);
  return n;
}

/** A wire scalar back in its plain form (64-bit as a number, refused when not exact). */
export function fromScalar(s: number, v: unknown, where: string): unknown {
  if (typeof v !== 'bigint') return v;
  const range = intRange(s)!;
  if (v < BigInt(range.min) || v > BigInt(range.max))
    throw new Error(`${where} = ${v} is beyond what a JS number holds exactly (${range.min}..${range.max})`);
  return Number(v);
}

/** Object keys are strings: a map keyed by a number or a bool must have keys that read as one. Returns the key's value. */
export function checkMapKey(s: number, k: string, where: string): unknown {
  if (s === Scalar.STRING) return k;
  if (s === Scalar.BOOL) {
    if (k !== 'true' && k !== 'false') throw new Error(`${where} must be true or false, got ${describe(k)}`);
    return k === 'true';
  }
  return toScalar(s, /^-?\d+$/.test(k) ? Number(k) : k, where);
}

/** The wire type a scalar arrives with when not packed. */
export function scalarWireType(s: number): WireType {
  switch (s) {
    case Scalar.STRING:
    case Scalar.BYTES:
      return WireType.LengthDelimited;
    case Scalar.DOUBLE:
    case Scalar.FIXED64:
    case Scalar.SFIXED64:
      return WireType.Bit64;
    case Scalar.FLOAT:
    case Scalar.FIXED32:
    case Scalar.SFIXED32:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Encodes plain object `obj` of message `t` as protobuf binary; a value that does not fit its field throws. */
export function encodeBinary(t: DescMessage, obj: unknown): Uint8Array {
  const w = new BinaryWriter();
  writeMessage(w, t, obj ?? {}, '');
  return w.finish();
}

const sortedFields = new WeakMap<DescMessage, DescField[]>();

/** The fields of `t` in number order, the order the library (and protoc) writes them in. */
function byNumber(t: DescMessage): DescField[] {
  let fs = sortedFields.get(t);
  if (!fs) {
    fs = [...t.fields].sort((a, b) => a.number - b.number);
    sortedFields.set(t, fs);
  }
  return fs;
}

/** proto3 implicit presence: a scalar equal to its zero value is not written. */
function isZero(s: number, v: unknown): boolean {
  switch (s) {
    case Scalar.STRING:
      return v === '';
    case Scalar.BOOL:
      return v === false;
    case Scalar.BYTES:
      return (v as Uint8Array).byteLength === 0;
    case Scalar.DOUBLE:
    case Scalar.FLOAT:
      return Object.is(v, 0); // -0 is written, as the library does
    default:
      return v === 0 || v === 0n;
  }
}

/** Keys `obj` has that the message does not are ignored (the types keep typos out); null and undefined mean the default. */
function writeMessage(w: BinaryWriter, t: DescMessage, obj: unknown, where: string): void {
  if (!isPlainObject(obj)) throw new Error(`${where || t.typeName} must be an object (${t.typeName}), got ${describe(obj)}`);
  for (const f of byNumber(t)) {
    const v = obj[f.localName];
    const at = where ? `${where}.${f.localName}` : f.localName;
    if (v === undefined || v === null) {
      // An ALWAYS_SET sub-message is sent as its default message (tag and length 0), as when it is given.
      if (f.fieldKind === 'message' && alwaysSet(t, f)) w.tag(f.number, WireType.LengthDelimited).bytes(new Uint8Array(0));
      continue;
    }
    switch (f.fieldKind) {
      case 'scalar': {
        const x = toScalar(f.scalar, v, at);
        if (!isZero(f.scalar, x)) writeScalar(w.tag(f.number, scalarWireType(f.scalar)), f.scalar, x);
        break;
      }
      case 'message':
        w.tag(f.number, WireType.LengthDelimited).fork();
        writeMessage(w, f.message, v, at);
        w.join();
        break;
      case 'list': {
        if (!Array.isArray(v)) throw new Error(`${at} must be an array, got ${describe(v)}`);
        if (f.listKind === 'message') {
          v.forEach((x, i) => {
            w.tag(f.number, WireType.LengthDelimited).fork();
            writeMessage(w, f.message, x, `${at}[${i}]`);
            w.join();
          });
          break;
        }
        const s = f.scalar as number;
        const xs = v.map((x, i) => toScalar(s, x, `${at}[${i}]`));
        if (f.packed) {
          if (xs.length === 0) break;
          w.tag(f.number, WireType.LengthDelimited).fork();
          for (const x of xs) writeScalar(w, s, x);
          w.join();
        } else {
          for (const x of xs) writeScalar(w.tag(f.number, scalarWireType(s)), s, x);
        }
        break;
      }
      case 'map': {
        if (!isPlainObject(v)) throw new Error(`${at} must be an object (map), got ${describe(v)}`);
        for (const [k, x] of Object.entries(v)) {
          const key = checkMapKey(f.mapKey, k, `${at} key`);
          const xAt = `${at}[${JSON.stringify(k)}]`;
          // A map entry is a message with key = 1 and value = 2, both always written.
          w.tag(f.number, WireType.LengthDelimited).fork();
          writeScalar(w.tag(1, scalarWireType(f.mapKey)), f.mapKey, key);
          if (f.mapKind === 'message') {
            w.tag(2, WireType.LengthDelimited).fork();
            writeMessage(w, f.message, x, xAt);
            w.join();
          } else {
            const s = f.scalar as number;
            writeScalar(w.tag(2, scalarWireType(s)), s, toScalar(s, x, xAt));
          }
          w.join();
        }
        break;
      }
      default:
        throw new Error(`${at}: unsupported field kind ${f.fieldKind}`);
    }
  }
}

function writeScalar(w: BinaryWriter, s: number, v: unknown): void {
  switch (s) {
    case Scalar.STRING:
      w.string(v as string);
      return;
    case Scalar.BOOL:
      w.bool(v as boolean);
      return;
    case Scalar.BYTES:
      w.bytes(v as Uint8Array);
      return;
    case Scalar.DOUBLE:
      w.double(v as number);
      return;
    case Scalar.FLOAT:
      w.float(v as number);
      return;
    case Scalar.INT32:
      w.int32(v as number);
      return;
    case Scalar.UINT32:
      w.uint32(v as number);
      return;
    case Scalar.SINT32:
      w.sint32(v as number);
      return;
    case Scalar.FIXED32:
      w.fixed32(v as number);
      return;
    case Scalar.SFIXED32:
      w.sfixed32(v as number);
      return;
    case Scalar.INT64:
      w.int64(v as bigint);
      return;
    case Scalar.UINT64:
      w.uint64(v as bigint);
      return;
    case Scalar.SINT64:
      w.sint64(v as bigint);
      return;
    case Scalar.FIXED64:
      w.fixed64(v as bigint);
      return;
    case Scalar.SFIXED64:
      w.sfixed64(v as bigint);
      return;
    default:
      throw new Error(`unsupported scalar type ${s}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Decoding (encoding spec "Message Structure": tag = field_number << 3 | wire_type)

/** Decodes a protobuf body of message `t` into its plain object; malformed bodies throw ControlDecodeError. */
export function decodeBinary<T = Record<string, unknown>>(t: DescMessage, data: Uint8Array): T {
  try {
    return readMessage(t, data, t.typeName, t.typeName, '') as T;
  } catch (err) {
    if (err instanceof ControlDecodeError) throw err;
    throw new ControlDecodeError(t.typeName, `malformed protobuf ${t.typeName}: ${(err as Error).message}`, { cause: err });
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

/** The next tag of `r`: where it starts, its field number and its wire type. */
function readTag(r: BinaryReader): { at: number; id: number; wt: number } {
  const at = r.pos;
  const tag = r.uint32();
  return { at, id: tag >>> 3, wt: tag & 7 };
}

/** Skips an unknown field's value; throws on a wire type proto3 has no use for, or a value that runs out. */
function skipUnknown(r: BinaryReader, wt: number, top: string, where: string, at: number): void {
  if (wt !== WireType.Varint && wt !== WireType.Bit64 && wt !== WireType.LengthDelimited && wt !== WireType.Bit32)
    throw new ControlDecodeError(top, `malformed protobuf ${where}: wire type ${wt} (offset ${at})`);
  r.skip(wt);
}

function readScalar(r: BinaryReader, f: DescField, s: number): unknown {
  switch (s) {
    case Scalar.STRING:
      return r.string(f.utf8Validation);
    case Scalar.BOOL:
      return r.bool();
    case Scalar.BYTES:
      return r.bytes();
    case Scalar.DOUBLE:
      return r.double();
    case Scalar.FLOAT:
      return r.float();
    case Scalar.INT32:
      return r.int32();
    case Scalar.UINT32:
      return r.uint32();
    case Scalar.SINT32:
      return r.sint32();
    case Scalar.FIXED32:
      return r.fixed32();
    case Scalar.SFIXED32:
      return r.sfixed32();
    case Scalar.INT64:
      return BigInt(r.int64());
    case Scalar.UINT64:
      return BigInt(r.uint64());
    case Scalar.SINT64:
      return BigInt(r.sint64());
    case Scalar.FIXED64:
      return BigInt(r.fixed64());
    case Scalar.SFIXED64:
      return BigInt(r.sfixed64());
    default:
      throw new Error(`unsupported scalar type ${s}`);
  }
}

/** The plain zero value of a scalar (proto3: an absent field reads as it). */
function zeroOf(s: number): unknown {
  switch (s) {
    case Scalar.STRING:
      return '';
    case Scalar.BOOL:
      return false;
    case Scalar.BYTES:
      return new Uint8Array(0);
    default:
      return 0;
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * Reads message `t` from `data`: `top` is the message named in errors, `path` the field path in messages of
 * the wire check, `where` the plain-object path in messages of values that do not fit.
 */
function readMessage(t: DescMessage, data: Uint8Array, top: string, path: string, where: string): Record<string, unknown> {
  const r = new BinaryReader(data);
  const values = new Map<DescField, unknown>();
  // A singular sub-message given more than once is merged (encoding spec "Last One Wins"): the parts are decoded
  // as one, which is what merging them means.
  const parts = new Map<DescField, Uint8Array[]>();
  while (r.pos < r.len) {
    const { at, id, wt } = readTag(r);
    if (id === 0) throw new ControlDecodeError(top, `malformed protobuf ${path}: field number 0 at offset ${at}`);
    const f = fieldOf(t, id);
    if (!f) {
      // proto3: an unknown field is skipped, so that a client one version newer (a field added to a request)
      // is served by a daemon not yet upgraded. It must still be well formed: a group (3, 4) or a wire type
      // proto3 does not have is malformed.
      skipUnknown(r, wt, top, `${path} field ${id}`, at);
      continue;
    }
    const fPath = `${path}.${f.localName}`;
    const fAt = where ? `${where}.${f.localName}` : f.localName;
    const wrongWire = (want: number): ControlDecodeError =>
      new ControlDecodeError(top, `malformed protobuf ${fPath}: wire type ${wt}, expected ${want} (offset ${at})`);
    switch (f.fieldKind) {
      case 'scalar': {
        const want = scalarWireType(f.scalar);
        if (wt !== want) throw wrongWire(want);
        values.set(f, readScalar(r, f, f.scalar));
        break;
      }
      case 'message': {
        if (wt !== WireType.LengthDelimited) throw wrongWire(WireType.LengthDelimited);
        const list = parts.get(f) ?? [];
        list.push(r.bytes());
        parts.set(f, list);
        break;
      }
      case 'list': {
        const list = (values.get(f) as unknown[] | undefined) ?? [];
        values.set(f, list);
        if (f.listKind === 'message') {
          if (wt !== WireType.LengthDelimited) throw wrongWire(WireType.LengthDelimited);
          list.push(readMessage(f.message, r.bytes(), top, fPath, `${fAt}[${list.length}]`));
          break;
        }
        const s = f.scalar as number;
        const want = scalarWireType(s);
        if (wt === want) {
          list.push(readScalar(r, f, s));
        } else if (wt === WireType.LengthDelimited && want !== WireType.LengthDelimited) {
          // A repeated number may come packed (one LEN record) or one record per element; decoders take both.
          const packed = new BinaryReader(r.bytes());
          while (packed.pos < packed.len) list.push(readScalar(packed, f, s));
        } else {
          throw wrongWire(want);
        }
        break;
      }
      case 'map': {
        if (wt !== WireType.LengthDelimited) throw wrongWire(WireType.LengthDelimited);
        const map = (values.get(f) as Record<string, unknown> | undefined) ?? {};
        values.set(f, map);
        readMapEntry(f, r.bytes(), map, top, fPath, fAt);
        break;
      }
      default:
        throw new ControlDecodeError(top, `malformed protobuf ${fPath}: unsupported field kind ${f.fieldKind}`);
    }
  }
  // Every field of the plain form, in the schema's order.
  const out: Record<string, unknown> = {};
  for (const f of t.fields) {
    const fPath = `${path}.${f.localName}`;
    const fAt = where ? `${where}.${f.localName}` : f.localName;
    switch (f.fieldKind) {
      case 'scalar':
        out[f.localName] = values.has(f) ? fromScalar(f.scalar, values.get(f), fAt) : zeroOf(f.scalar);
        break;
      case 'message': {
        const p = parts.get(f);
        if (p) out[f.localName] = readMessage(f.message, concat(p), top, fPath, fAt);
        else if (alwaysSet(t, f)) out[f.localName] = readMessage(f.message, new Uint8Array(0), top, fPath, fAt);
        break;
      }
      case 'list': {
        const list = (values.get(f) as unknown[] | undefined) ?? [];
        out[f.localName] = f.listKind === 'message' ? list : list.map((x, i) => fromScalar(f.scalar as number, x, `${fAt}[${i}]`));
        break;
      }
      case 'map':
        out[f.localName] = values.get(f) ?? {};
        break;
    }
  }
  return out;
}

/** A map entry is a message with key = 1 and value = 2; an absent key or value is its default, the last entry for a key wins. */
function readMapEntry(
  f: DescField & { fieldKind: 'map' },
  data: Uint8Array,
  into: Record<string, unknown>,
  top: string,
  path: string,
  where: string,
): void {
  const r = new BinaryReader(data);
  let key: unknown = zeroOf(f.mapKey);
  let value: unknown;
  while (r.pos < r.len) {
    const { at, id, wt } = readTag(r);
    if (id === 1) {
      const want = scalarWireType(f.mapKey);
      if (wt !== want) throw new ControlDecodeError(top, `malformed protobuf ${path}: map key wire type ${wt}, expected ${want}`);
      key = readScalar(r, f, f.mapKey);
    } else if (id === 2) {
      if (f.mapKind === 'message') {
        if (wt !== WireType.LengthDelimited)
          throw new ControlDecodeError(top, `malformed protobuf ${path}: map value wire type ${wt}, expected 2`);
        value = r.bytes();
      } else {
        const want = scalarWireType(f.scalar as number);
        if (wt !== want) throw new ControlDecodeError(top, `malformed protobuf ${path}: map value wire type ${wt}, expected ${want}`);
        value = readScalar(r, f, f.scalar as number);
      }
    } else {
      skipUnknown(r, wt, top, `${path} map entry field ${id}`, at);
    }
  }
  const k = String(key);
  const at = `${where}[${JSON.stringify(k)}]`;
  into[k] =
    f.mapKind === 'message'
      ? readMessage(f.message, (value as Uint8Array | undefined) ?? new Uint8Array(0), top, `${path}[]`, at)
      : value === undefined
        ? zeroOf(f.scalar as number)
        : fromScalar(f.scalar as number, value, where);
}
