/**
 * The control API codec (src/control/schema.ts over the generated src/control/gen/): protobuf and proto3 JSON
 * round trips of every message of the endpoint table, rejection of malformed bodies and unknown fields, the
 * plain-object mapping (64-bit numbers, ALWAYS_SET), and random bytes that never make the decoder throw
 * anything but ControlDecodeError.
 */
import { create, createFileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENDPOINTS, EVENT_TYPES } from '../../src/control/endpoints.js';
import {
  ControlDecodeError,
  decodeJson,
  decodeMessage,
  decodeProtobuf,
  encodeJson,
  encodeMessage,
  encodeProtobuf,
  loadSchema,
  messageType,
} from '../../src/control/schema.js';
import { sample } from './helpers.js';

const ALL_TYPES = [...new Set([...ENDPOINTS.flatMap((e) => [e.request, e.response]), ...Object.values(EVENT_TYPES), 'mpiscsi.v1.Error'])];
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function decodeError(fn: () => unknown): ControlDecodeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ControlDecodeError);
    return err as ControlDecodeError;
  }
  throw new Error('decoded without an error');
}

describe('schema loading', () => {
  it('has every message of the endpoint table in the generated descriptors', () => {
    const registry = loadSchema();
    for (const t of ALL_TYPES) expect(registry.getMessage(t)?.typeName).toBe(t);
    expect(() => messageType('mpiscsi.v1.NoSuchThing')).toThrow(/no message type mpiscsi.v1.NoSuchThing/);
  });
});

describe.each(ALL_TYPES)('%s', (typeName) => {
  const full = sample(typeName);

  it('round-trips protobuf with every field set (64-bit values above 2^32 as numbers)', () => {
    expect(decodeProtobuf(typeName, encodeProtobuf(typeName, full))).toEqual(full);
  });

  it('round-trips proto3 JSON with lowerCamelCase names', () => {
    const json = encodeJson(typeName, full);
    expect(JSON.parse(text(json))).toEqual(full);
    expect(decodeJson(typeName, json)).toEqual(full);
  });

  it('decodes an empty body as the default message in both formats', () => {
    const fromProto = decodeProtobuf<Record<string, unknown>>(typeName, new Uint8Array());
    expect(decodeJson(typeName, utf8('{}'))).toEqual(fromProto);
    expect(decodeJson(typeName, new Uint8Array())).toEqual(fromProto);
  });

  it('skips an unknown protobuf field of every proto3 wire type (a newer sender), as proto3 decoders do', () => {
    // Field 99: tag 99 << 3 | wt = 0x98|wt 0x06. Varint, 64-bit, length-delimited, 32-bit.
    const extra = [0x98, 0x06, 0x01, 0x99, 0x06, 1, 2, 3, 4, 5, 6, 7, 8, 0x9a, 0x06, 0x02, 0x61, 0x62, 0x9d, 0x06, 1, 2, 3, 4];
    const body = new Uint8Array([...encodeProtobuf(typeName, full), ...extra]);
    expect(decodeProtobuf(typeName, body)).toEqual(decodeProtobuf(typeName, encodeProtobuf(typeName, full)));
  });

  it('still rejects an unknown field that is malformed (group wire type, or cut short)', () => {
    const base = [...encodeProtobuf(typeName, full)];
    expect(decodeError(() => decodeProtobuf(typeName, new Uint8Array([...base, 0x9b, 0x06]))).message).toMatch(/wire type 3/);
    expect(decodeError(() => decodeProtobuf(typeName, new Uint8Array([...base, 0x9a, 0x06, 0x05, 0x61]))).message).toMatch(
      /malformed protobuf/,
    );
  });

  it('rejects an unknown JSON field', () => {
    const err = decodeError(() => decodeJson(typeName, utf8(JSON.stringify({ ...full, bogusField: 1 }))));
    expect(err.message).toMatch(/unknown field "bogusField"/);
  });
});

describe('protobuf checks', () => {
  it('skips an unknown field inside a nested message; a wrong wire type there is still named', () => {
    // NodeLoginRequest.filter (field 1, LEN) holding field 9 varint.
    const skipped = decodeProtobuf<{ filter: unknown }>('mpiscsi.v1.NodeLoginRequest', new Uint8Array([0x0a, 0x02, 0x48, 0x01]));
    expect(skipped.filter).toEqual(decodeProtobuf<{ filter: unknown }>('mpiscsi.v1.NodeLoginRequest', new Uint8Array([0x0a, 0x00])).filter);
    // filter.target (field 1) is a string; as a varint it is malformed, and the error says where.
    const err = decodeError(() => decodeProtobuf('mpiscsi.v1.NodeLoginRequest', new Uint8Array([0x0a, 0x02, 0x08, 0x01])));
    expect(err.message).toContain('filter');
    expect(err.message).toMatch(/wire type 0, expected 2/);
  });

  it('rejects a truncated length-delimited field', () => {
    const err = decodeError(() => decodeProtobuf('mpiscsi.v1.NodeLoginRequest', new Uint8Array([0x12, 0x05, 0x61])));
    expect(err.message).toMatch(/malformed protobuf/);
  });

  it('rejects a field with the wrong wire type', () => {
    // startup (field 2) is a string; send it as a varint.
    const err = decodeError(() => decodeProtobuf('mpiscsi.v1.NodeLoginRequest', new Uint8Array([0x10, 0x01])));
    expect(err.message).toMatch(/wire type 0, expected 2/);
  });

  it('accepts packed and unpacked repeated scalars alike, and no other wire type for them', () => {
    // None of our repeated fields are numeric, so describe one at run time: message x.P { repeated uint32 n = 1; }
    const file = create(FileDescriptorProtoSchema, {
      name: 'x.proto',
      package: 'x',
      syntax: 'proto3',
      messageType: [
        { name: 'P', field: [{ name: 'n', number: 1, label: 3 /* LABEL_REPEATED */, type: 13 /* TYPE_UINT32 */, jsonName: 'n' }] },
      ],
    });
    const P = createFileRegistry(file, () => undefined).getMessage('x.P')!;
    expect(decodeProtobuf(P, new Uint8Array([0x0a, 0x02, 0x01, 0x02]))).toEqual({ n: [1, 2] });
    expect(decodeProtobuf(P, new Uint8Array([0x08, 0x01, 0x08, 0x02]))).toEqual({ n: [1, 2] });
    expect(decodeError(() => decodeProtobuf(P, new Uint8Array([0x0d, 1, 0, 0, 0]))).message).toMatch(/x.P.n: wire type 5, expected 0/);
  });

  it('maps keyed by bool or integer take keys that read as one, in both formats', () => {
    // None of our maps have such keys: message x.M { map<bool, string> b = 1; map<uint32, string> u = 2; }
    const entry = (name: string, keyType: number) => ({
      name,
      field: [
        { name: 'key', number: 1, label: 1, type: keyType, jsonName: 'key' },
        { name: 'value', number: 2, label: 1, type: 9 /* TYPE_STRING */, jsonName: 'value' },
      ],
      options: { mapEntry: true },
    });
    const mapField = (name: string, number: number, entryName: string) => ({
      name,
      number,
      label: 3,
      type: 11 /* TYPE_MESSAGE */,
      typeName: `.x.M.${entryName}`,
      jsonName: name,
    });
    const file = create(FileDescriptorProtoSchema, {
      name: 'm.proto',
      package: 'x',
      syntax: 'proto3',
      messageType: [
        {
          name: 'M',
          field: [mapField('b', 1, 'BEntry'), mapField('u', 2, 'UEntry')],
          nestedType: [entry('BEntry', 8 /* TYPE_BOOL */), entry('UEntry', 13 /* TYPE_UINT32 */)],
        },
      ],
    });
    const M = createFileRegistry(file, () => undefined).getMessage('x.M')!;
    const value = { b: { true: 'yes' }, u: { '7': 'seven' } };
    expect(decodeProtobuf(M, encodeProtobuf(M, value))).toEqual(value);
    expect(decodeJson(M, encodeJson(M, value))).toEqual(value);
    expect(() => encodeProtobuf(M, { b: { yes: 'x' } })).toThrow(/b key must be true or false/);
    expect(() => encodeProtobuf(M, { u: { '-1': 'x' } })).toThrow(/u key must be an integer in 0\.\.4294967295/);
    expect(decodeError(() => decodeJson(M, utf8('{"b":{"1":"x"}}'))).message).toMatch(/b key must be true or false/);
    expect(decodeError(() => decodeJson(M, utf8('{"u":{"x":"x"}}'))).message).toMatch(/u key must be an integer/);
  });

  it('checks map entries (MpathSetPolicyRequest.settings)', () => {
    const ok = encodeProtobuf('mpiscsi.v1.MpathSetPolicyRequest', { device: 'mpatha', settings: { failback: 'immediate' } });
    expect(decodeProtobuf('mpiscsi.v1.MpathSetPolicyRequest', ok)).toEqual({ device: 'mpatha', settings: { failback: 'immediate' } });
    // A settings entry holding an unknown field 3 beside its key and value: skipped.
    const entry = [0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76, 0x18, 0x01];
    expect(decodeProtobuf('mpiscsi.v1.MpathSetPolicyRequest', new Uint8Array([0x12, entry.length, ...entry]))).toMatchObject({
      settings: { k: 'v' },
    });
    // A map key with the wrong wire type is still an error.
    const err = decodeError(() => decodeProtobuf('mpiscsi.v1.MpathSetPolicyRequest', new Uint8Array([0x12, 0x02, 0x08, 0x01])));
    expect(err.message).toMatch(/map key wire type 0, expected 2/);
  });

  it('never throws anything but ControlDecodeError on random bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ALL_TYPES), fc.uint8Array({ maxLength: 200 }), (typeName, bytes) => {
        try {
          decodeProtobuf(typeName, bytes);
        } catch (err) {
          if (!(err instanceof ControlDecodeError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('never throws anything but ControlDecodeError on mutated valid messages', () => {
    const bodies = ALL_TYPES.map((t) => [t, encodeProtobuf(t, sample(t))] as const);
    fc.assert(
      fc.property(fc.constantFrom(...bodies), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), ([typeName, body], at, byte, cut) => {
        const b = new Uint8Array(body);
        if (b.length > 0) b[at % b.length] = byte;
        const mutated = b.subarray(0, b.length - (cut % Math.max(1, Math.floor(b.length / 4))));
        try {
          decodeProtobuf(typeName, mutated);
        } catch (err) {
          if (!(err instanceof ControlDecodeError)) throw err;
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('proto3 JSON checks', () => {
  const T = 'mpiscsi.v1.NodeLoginRequest';

  it('rejects malformed JSON with the parser message', () => {
    expect(decodeError(() => decodeJson(T, utf8('{"filter":'))).message).toMatch(/malformed JSON mpiscsi.v1.NodeLoginRequest/);
  });

  it('rejects a body that is not UTF-8', () => {
    expect(decodeError(() => decodeJson(T, new Uint8Array([0x7b, 0xff, 0x7d]))).message).toMatch(/not UTF-8/);
  });

  it('rejects an unknown field in a nested message with its path', () => {
    const err = decodeError(() => decodeJson(T, utf8('{"filter":{"target":"t","portt":1}}')));
    expect(err.message).toContain('unknown field "filter.portt"');
  });

  it('rejects values of the wrong JSON type', () => {
    expect(decodeError(() => decodeJson(T, utf8('{"startup":1}'))).message).toMatch(/startup must be a string/);
    expect(decodeError(() => decodeJson(T, utf8('{"filter":{"port":"abc"}}'))).message).toMatch(/filter.port must be an integer/);
    expect(decodeError(() => decodeJson(T, utf8('{"filter":{"port":-1}}'))).message).toMatch(/0\.\.4294967295/);
    expect(decodeError(() => decodeJson(T, utf8('{"filter":[]}'))).message).toMatch(/filter must be an object/);
    expect(decodeError(() => decodeJson(T, utf8('[]'))).message).toMatch(/body must be an object/);
    expect(decodeError(() => decodeJson('mpiscsi.v1.SendTargetsRequest', utf8('{"ifaces":"default"}'))).message).toMatch(
      /ifaces must be an array/,
    );
    expect(decodeError(() => decodeJson('mpiscsi.v1.SessionRequest', utf8('{"showSecrets":"yes"}'))).message).toMatch(/true or false/);
  });

  it('accepts the proto field names, decimal strings for integers and null for defaults', () => {
    const r = decodeJson(
      'mpiscsi.v1.MpathDevice',
      utf8('{"size_bytes":"1099511627776","active_group":2,"paths":[{"in_flight":3}],"policy":null}'),
    );
    expect(r).toMatchObject({ sizeBytes: 2 ** 40, activeGroup: 2, policy: '', paths: [{ inFlight: 3 }] });
  });

  it('rejects the same field under both names', () => {
    expect(decodeError(() => decodeJson('mpiscsi.v1.SessionRequest', utf8('{"showSecrets":true,"show_secrets":false}'))).message).toMatch(
      /given twice/,
    );
  });

  it('never throws anything but ControlDecodeError on random JSON', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ALL_TYPES), fc.json(), (typeName, j) => {
        try {
          decodeMessage(typeName, utf8(j), 'json');
        } catch (err) {
          if (!(err instanceof ControlDecodeError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but ControlDecodeError on random bytes as JSON', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ALL_TYPES), fc.uint8Array({ maxLength: 100 }), (typeName, bytes) => {
        try {
          decodeJson(typeName, bytes);
        } catch (err) {
          if (!(err instanceof ControlDecodeError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves absent sub-messages out instead of null', () => {
    expect(decodeJson(T, utf8('{}'))).toEqual({ startup: '', all: false });
    expect(decodeProtobuf(T, encodeMessage(T, { filter: { target: 'iqn.x' } }))).toEqual({
      startup: '',
      all: false,
      filter: { target: 'iqn.x', address: '', port: 0, iface: '' },
    });
  });
});

describe('plain objects', () => {
  it('fills the ALWAYS_SET sub-messages with their defaults and leaves other absent ones out', () => {
    const portal = { address: '', port: 0, tpgt: 0 };
    expect(decodeProtobuf('mpiscsi.v1.NodeKey', new Uint8Array())).toEqual({ target: '', portal, iface: '' });
    expect(decodeJson('mpiscsi.v1.LoginResult', utf8('{"sid":1}'))).toEqual({
      node: { target: '', portal, iface: '' },
      sid: 1,
      code: 0,
      message: '',
    });
    const info = decodeProtobuf<Record<string, unknown>>('mpiscsi.v1.SessionInfo', new Uint8Array());
    expect(Object.keys(info).filter((k) => typeof info[k] === 'object' && !Array.isArray(info[k]))).toEqual([
      'node',
      'currentPortal',
      'timeouts',
      'chap',
    ]);
    expect(info).not.toHaveProperty('params');
    // Sent as well: an empty NodeKey still carries its (empty) portal, field 2.
    expect([...encodeProtobuf('mpiscsi.v1.NodeKey', {})]).toEqual([0x12, 0x00]);
    expect(JSON.parse(text(encodeJson('mpiscsi.v1.NodeKey', {})))).toEqual({ target: '', portal, iface: '' });
  });

  it('refuses a 64-bit value a JS number cannot hold exactly, both ways', () => {
    // MpathDevice.size_bytes (field 5, varint) = 2^53.
    const big = new Uint8Array([0x28, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
    expect(decodeError(() => decodeProtobuf('mpiscsi.v1.MpathDevice', big)).message).toMatch(/sizeBytes = 9007199254740992 is beyond/);
    expect(() => encodeProtobuf('mpiscsi.v1.MpathDevice', { sizeBytes: 2 ** 53 })).toThrow(
      /sizeBytes must be an integer in 0\.\.9007199254740991/,
    );
    const ok = decodeProtobuf<{ sizeBytes: number }>(
      'mpiscsi.v1.MpathDevice',
      encodeProtobuf('mpiscsi.v1.MpathDevice', { sizeBytes: 2 ** 53 - 1 }),
    );
    expect(ok.sizeBytes).toBe(2 ** 53 - 1);
  });

  it('refuses values of the wrong type on encode instead of coercing them', () => {
    expect(() => encodeProtobuf('mpiscsi.v1.NodeLoginRequest', { startup: 5 })).toThrow(/startup must be a string, got number 5/);
    expect(() => encodeProtobuf('mpiscsi.v1.NodeLoginRequest', { filter: { port: -1 } })).toThrow(
      /filter.port must be an integer in 0\.\.4294967295/,
    );
    expect(() => encodeProtobuf('mpiscsi.v1.MpathPath', { inFlight: 1.5 })).toThrow(/inFlight must be an integer/);
    expect(() => encodeJson('mpiscsi.v1.SendTargetsRequest', { ifaces: 'default' })).toThrow(/ifaces must be an array/);
  });

  it('writes 64-bit integers as JSON numbers', () => {
    const json = JSON.parse(text(encodeJson('mpiscsi.v1.SessionStats', { sid: 1, txdataOctets: 2 ** 40 + 7 }))) as Record<string, unknown>;
    expect(json.txdataOctets).toBe(2 ** 40 + 7);
    expect(json.rxdataOctets).toBe(0);
  });
});
