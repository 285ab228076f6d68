/**
 * The client's protobuf codec (src/control/proto-binary.ts) gives the library's bytes: every message of the
 * endpoint table, with every field set and with every field at its zero value, is encoded to exactly what
 * @bufbuild/protobuf's toBinary writes for the same message (built by the library's fromJson from the
 * JSON path of schema.ts, which does not use proto-binary.ts), and decodes what toBinary wrote. Also: its scalar
 * numbers are the library's ScalarType, and the rule messages.ts loads files by (an endpoint's messages are
 * in its group's file, what that imports, or common.proto) holds for every endpoint.
 */
import { fromBinary, fromJson, ScalarType, toBinary, type DescFile, type DescMessage } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENDPOINTS, EVENT_TYPES } from '../../src/control/endpoints.js';
import { loadMessages } from '../../src/control/messages.js';
import { ControlDecodeError, decodeBinary, encodeBinary, Scalar } from '../../src/control/proto-binary.js';
import { encodeJson, loadSchema, messageType } from '../../src/control/schema.js';
import { sample } from './helpers.js';

const ALL_TYPES = [...new Set([...ENDPOINTS.flatMap((e) => [e.request, e.response]), ...Object.values(EVENT_TYPES), 'mpiscsi.v1.Error'])];

/** The library's bytes for plain object `obj`: through proto3 JSON (schema.ts) into the library's message. */
function libraryBytes(t: DescMessage, obj: unknown): Uint8Array {
  const json = JSON.parse(new TextDecoder().decode(encodeJson(t, obj)));
  return toBinary(t, fromJson(t, json));
}

/** `obj` with every scalar at its zero value and every list and map empty (sub-messages kept, zeroed). */
function zeroed(t: DescMessage, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of t.fields) {
    if (f.fieldKind === 'list') out[f.localName] = [];
    else if (f.fieldKind === 'map') out[f.localName] = {};
    else if (f.fieldKind === 'message') out[f.localName] = zeroed(f.message, obj[f.localName] as Record<string, unknown>);
    else out[f.localName] = typeof obj[f.localName] === 'string' ? '' : typeof obj[f.localName] === 'boolean' ? false : 0;
  }
  return out;
}

describe.each(ALL_TYPES)('%s', (typeName) => {
  const t = messageType(typeName);

  it('is encoded to the bytes toBinary writes, every field set, and decodes them', () => {
    const full = sample(typeName);
    const lib = libraryBytes(t, full);
    expect(Buffer.from(encodeBinary(t, full)).toString('hex')).toBe(Buffer.from(lib).toString('hex'));
    expect(decodeBinary(t, lib)).toEqual(full);
  });

  it('is encoded to the bytes toBinary writes, every field at its zero value (not written)', () => {
    const zero = zeroed(t, sample(typeName));
    expect(Buffer.from(encodeBinary(t, zero)).toString('hex')).toBe(Buffer.from(libraryBytes(t, zero)).toString('hex'));
  });
});

describe('what the codec relies on', () => {
  it('has the scalar numbers of the library', () => {
    for (const [name, n] of Object.entries(Scalar)) expect(ScalarType[name as keyof typeof ScalarType], name).toBe(n);
  });

  it("finds every endpoint's messages in its group's file, what that imports, or common.proto", async () => {
    const files = new Map<string, DescFile>();
    for (const t of loadSchema()) if (t.kind === 'message') files.set(t.file.name, t.file);
    const closure = (f: DescFile | undefined): string[] => (f ? [f.name, ...f.dependencies.flatMap(closure)] : []);
    for (const ep of ENDPOINTS) {
      const loaded = new Set([...closure(files.get(`mpiscsi/v1/${ep.group}`)), ...closure(files.get('mpiscsi/v1/common'))]);
      for (const type of [ep.request, ep.response, 'mpiscsi.v1.Error'])
        expect([...loaded], `${ep.group}.${ep.verb}: ${type}`).toContain(messageType(type).file.name);
    }
    for (const type of Object.values(EVENT_TYPES)) expect(messageType(type).file.name).toBe('mpiscsi/v1/events');
    await expect(loadMessages('no-such-group')).rejects.toThrow(/no proto file for no-such-group/);
  });

  it("lazily loads every endpoint group's file and the events' (messages.ts lists the files schema.ts imports)", async () => {
    for (const group of new Set([...ENDPOINTS.map((ep) => ep.group), 'events']))
      await expect(loadMessages(group), group).resolves.toBeUndefined();
  });
});

describe('hostile bytes (fuzz)', () => {
  it('random bytes for any message: a value or a ControlDecodeError, never another throw', () => {
    const types = ALL_TYPES.map((n) => messageType(n));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: types.length - 1 }), fc.uint8Array({ maxLength: 256 }), (i, bytes) => {
        try {
          decodeBinary(types[i], bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(ControlDecodeError);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('a valid message with unknown fields after it (a newer peer) decodes to the same value', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ALL_TYPES),
        fc.array(fc.tuple(fc.integer({ min: 1000, max: 5000 }), fc.oneof(fc.nat(), fc.string({ maxLength: 20 }))), { maxLength: 5 }),
        (typeName, extra) => {
          const t = messageType(typeName);
          const full = sample(typeName);
          const w = new BinaryWriter();
          for (const [no, v] of extra)
            if (typeof v === 'number') w.tag(no, WireType.Varint).uint32(v);
            else w.tag(no, WireType.LengthDelimited).string(v);
          const bytes = Buffer.concat([Buffer.from(encodeBinary(t, full)), Buffer.from(w.finish())]);
          expect(decodeBinary(t, bytes)).toEqual(full);
          expect(() => fromBinary(t, bytes)).not.toThrow(); // the library reads the same bytes as valid
        },
      ),
      { numRuns: 300 },
    );
  });
});
