/**
 * NBD codec tests (proto.md): the captured nbdinfo conversation (fixtures.ts) decoded message by message and
 * re-encoded byte for byte, both stream decoders fed the captured streams split at every byte and one byte at a
 * time, oversize options and payloads discarded in step, malformed input as NbdProtocolError, fast-check round
 * trips, and random bytes that never make a decoder throw anything but NbdProtocolError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteQueue } from '../../src/nbd/byte-queue.js';
import {
  ClientStreamDecoder,
  ServerStreamDecoder,
  decodeClientFlags,
  decodeExportNameReply,
  decodeGreeting,
  decodeOptionHeader,
  decodeOptionReply,
  decodeReplyHeader,
  decodeRequestHeader,
  encodeChunkHeader,
  encodeClientFlags,
  encodeErrorChunk,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfo,
  encodeInfoRequest,
  encodeNoneChunk,
  encodeOffsetDataHeader,
  encodeOption,
  encodeOptionReply,
  encodeRequest,
  encodeServerEntry,
  encodeSimpleReply,
  parseErrorChunk,
  parseExportName,
  parseInfo,
  parseInfoRequest,
  parseOffsetData,
  parseServerEntry,
  type ClientMessage,
  type NbdInfo,
  type RequestHeader,
  type ServerMessage,
} from '../../src/nbd/codec.js';
import * as C from '../../src/nbd/constants.js';
import { NbdProtocolError } from '../../src/nbd/errors.js';
import { c2s, c2sStream, s2c, s2cStream } from './fixtures.js';

const h = (hex: string) => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

/** Runs a client stream through a decoder the way the server does: GO / EXPORT_NAME switch to transmission. */
function decodeClient(chunks: Buffer[], options = {}): ClientMessage[] {
  const d = new ClientStreamDecoder(options);
  const out: ClientMessage[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let m = d.next(); m; m = d.next()) {
      out.push(m);
      if (m.type === 'option' && (m.option === C.NBD_OPT_GO || m.option === C.NBD_OPT_EXPORT_NAME)) d.enterTransmission();
    }
  }
  return out;
}

/** Runs a server stream through the client-side decoder: the final GO ACK enters transmission. */
function decodeServer(chunks: Buffer[], readLength = (_c: bigint): number | undefined => 8192): ServerMessage[] {
  const d = new ServerStreamDecoder(readLength);
  const out: ServerMessage[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let m = d.next(); m; m = d.next()) {
      out.push(m);
      if (m.type === 'optionReply' && m.option === C.NBD_OPT_GO && m.replyType === C.NBD_REP_ACK) d.enterTransmission();
    }
  }
  return out;
}

function splits(buf: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  for (let i = 0; i <= buf.length; i++) out.push([buf.subarray(0, i), buf.subarray(i)]);
  return out;
}

function bytewise(buf: Buffer): Buffer[] {
  return [...buf].map((b) => Buffer.from([b]));
}

function expectProtocolErrorOrNothing(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof NbdProtocolError)) throw err;
  }
}

describe('captured nbdinfo conversation', () => {
  it('client stream: every message decodes and re-encodes to the captured bytes', () => {
    const msgs = decodeClient([c2sStream]);
    expect(msgs.map((m) => m.type)).toEqual(['flags', 'option', 'option', 'option', 'option', 'request', 'request']);
    expect(msgs[0]).toEqual({ type: 'flags', flags: C.NBD_FLAG_C_FIXED_NEWSTYLE | C.NBD_FLAG_C_NO_ZEROES });
    const options = msgs.filter((m): m is Extract<ClientMessage, { type: 'option' }> => m.type === 'option');
    expect(options.map((o) => o.option)).toEqual([C.NBD_OPT_STRUCTURED_REPLY, C.NBD_OPT_INFO, C.NBD_OPT_LIST_META_CONTEXT, C.NBD_OPT_GO]);
    expect(parseInfoRequest(options[3].data)).toEqual({
      name: 'disk',
      infos: [C.NBD_INFO_BLOCK_SIZE, C.NBD_INFO_NAME, C.NBD_INFO_DESCRIPTION],
    });
    const reqs = msgs.filter((m): m is Extract<ClientMessage, { type: 'request' }> => m.type === 'request');
    expect(reqs.map((r) => r.header)).toEqual([
      { flags: 0, type: C.NBD_CMD_READ, cookie: 1n, offset: 0n, length: 8192 },
      { flags: 0, type: C.NBD_CMD_DISC, cookie: 2n, offset: 0n, length: 0 },
    ]);
    // Re-encode each message: the concatenation is the captured stream.
    const again = Buffer.concat([
      encodeClientFlags(3),
      ...options.map((o) =>
        encodeOption(
          o.option,
          o.option === C.NBD_OPT_GO || o.option === C.NBD_OPT_INFO ? encodeInfoRequest(parseInfoRequest(o.data)) : o.data,
        ),
      ),
      ...reqs.map((r) => encodeRequest(r.header)),
    ]);
    expect(again.toString('hex')).toBe(c2sStream.toString('hex'));
  });

  it('server stream: every message decodes and re-encodes to the captured bytes', () => {
    const msgs = decodeServer([s2cStream]);
    expect(msgs[0]).toEqual({ type: 'greeting', handshakeFlags: C.NBD_FLAG_FIXED_NEWSTYLE | C.NBD_FLAG_NO_ZEROES });
    const replies = msgs.filter((m): m is Extract<ServerMessage, { type: 'optionReply' }> => m.type === 'optionReply');
    expect(replies.map((r) => C.replyName(r.replyType))).toEqual([
      'NBD_REP_ACK',
      ...Array(4).fill('NBD_REP_INFO'),
      'NBD_REP_ACK',
      'NBD_REP_ERR_UNSUP',
      ...Array(4).fill('NBD_REP_INFO'),
      'NBD_REP_ACK',
    ]);
    const infos = replies.filter((r) => r.option === C.NBD_OPT_GO && r.replyType === C.NBD_REP_INFO).map((r) => parseInfo(r.data));
    expect(infos).toEqual([
      { type: C.NBD_INFO_EXPORT, size: 1048576n, transmissionFlags: 0x05ed },
      { type: C.NBD_INFO_NAME, name: 'disk' },
      { type: C.NBD_INFO_DESCRIPTION, description: 'memory device' },
      { type: C.NBD_INFO_BLOCK_SIZE, minimum: 512, preferred: 4096, maximum: 32 * 1024 * 1024 },
    ]);
    const chunk = msgs[msgs.length - 1];
    expect(chunk).toMatchObject({ type: 'chunk', flags: C.NBD_REPLY_FLAG_DONE, chunkType: C.NBD_REPLY_TYPE_OFFSET_DATA, cookie: 1n });
    const { offset, data } = parseOffsetData((chunk as Extract<ServerMessage, { type: 'chunk' }>).payload);
    expect(offset).toBe(0n);
    expect(data.equals(s2c.readData)).toBe(true);

    const again = Buffer.concat([
      encodeGreeting(3),
      ...replies.map((r) =>
        encodeOptionReply(r.option, r.replyType, r.replyType === C.NBD_REP_INFO ? encodeInfo(parseInfo(r.data) as NbdInfo) : r.data),
      ),
      encodeOffsetDataHeader(1n, 0n, 8192),
      s2c.readData,
    ]);
    expect(again.toString('hex')).toBe(s2cStream.toString('hex'));
  });

  it('decodes the same messages whatever the split point (client stream)', () => {
    const whole = decodeClient([c2sStream]);
    for (const parts of splits(c2sStream)) expect(decodeClient(parts)).toEqual(whole);
    expect(decodeClient(bytewise(c2sStream))).toEqual(whole);
  });

  it('decodes the same messages whatever the split point (server stream)', () => {
    const handshake = s2cStream.subarray(0, s2cStream.length - 8192 + 64);
    const whole = decodeServer([handshake], () => 64);
    for (const parts of splits(handshake)) expect(decodeServer(parts, () => 64)).toEqual(whole);
    expect(decodeServer(bytewise(handshake), () => 64)).toEqual(whole);
  });

  it('each single message decoder says "need more" for every proper prefix', () => {
    const cases: [Buffer, (b: Buffer) => unknown][] = [
      [s2c.greeting, decodeGreeting],
      [c2s.clientFlags, decodeClientFlags],
      [c2s.go.subarray(0, 16), decodeOptionHeader],
      [s2c.go[0], (b) => decodeOptionReply(b)],
      [c2s.read, decodeRequestHeader],
      [s2c.readChunkHeader.subarray(0, 20), decodeReplyHeader],
      [encodeSimpleReply(5, 7n), decodeReplyHeader],
    ];
    for (const [bytes, decode] of cases) {
      for (let i = 0; i < bytes.length; i++) expect(decode(bytes.subarray(0, i))).toBeUndefined();
      expect(decode(bytes)).toMatchObject({ bytes: bytes.length });
    }
  });
});

describe('messages built from proto.md layouts', () => {
  it('NBD_OPT_EXPORT_NAME reply with and without the 124 zeroes', () => {
    expect(encodeExportNameReply(0x4000000n, 0x0103, true).toString('hex')).toBe('00000000040000000103');
    const withZeroes = encodeExportNameReply(0x4000000n, 0x0103, false);
    expect(withZeroes.length).toBe(134);
    expect(decodeExportNameReply(withZeroes, false)).toEqual({ value: { size: 0x4000000n, transmissionFlags: 0x0103 }, bytes: 134 });
    expect(decodeExportNameReply(withZeroes.subarray(0, 133), false)).toBeUndefined();
  });

  it('simple reply, error chunk, NONE chunk', () => {
    expect(encodeSimpleReply(C.NBD_EINVAL, 0x0102030405060708n).toString('hex')).toBe('67446698000000160102030405060708');
    const err = encodeErrorChunk(9n, C.NBD_EIO, 'medium error');
    expect(err.subarray(0, 20).toString('hex')).toBe('668e33ef00018001000000000000000900000012');
    const hdr = decodeReplyHeader(err)!.value;
    expect(hdr).toEqual({ kind: 'structured', flags: 1, type: C.NBD_REPLY_TYPE_ERROR, cookie: 9n, length: 18 });
    expect(parseErrorChunk(C.NBD_REPLY_TYPE_ERROR, err.subarray(20))).toEqual({ error: C.NBD_EIO, message: 'medium error' });
    expect(encodeNoneChunk(3n).toString('hex')).toBe('668e33ef00010000000000000000000300000000');
    // Long messages are cut to 1 KiB without splitting a UTF-8 sequence.
    const long = encodeErrorChunk(1n, 5, 'é'.repeat(1000));
    const parsed = parseErrorChunk(C.NBD_REPLY_TYPE_ERROR, long.subarray(20));
    expect(Buffer.byteLength(parsed.message)).toBeLessThanOrEqual(1024);
    expect(parsed.message).toBe('é'.repeat(512));
  });

  it('NBD_REPLY_TYPE_ERROR_OFFSET carries the offset after the message', () => {
    const payload = h('00000005 0002 6f6b 0000000000001000');
    expect(parseErrorChunk(C.NBD_REPLY_TYPE_ERROR_OFFSET, payload)).toEqual({ error: 5, message: 'ok', offset: 4096n });
  });

  it('NBD_REP_SERVER entries', () => {
    const e = encodeServerEntry('disk', 'IET VIRTUAL-DISK 0001');
    expect(e.subarray(0, 8).toString('hex')).toBe('000000046469736b');
    expect(parseServerEntry(e)).toEqual({ name: 'disk', description: 'IET VIRTUAL-DISK 0001' });
  });

  it('option and chunk headers', () => {
    expect(encodeOption(C.NBD_OPT_ABORT).toString('hex')).toBe('49484156454f50540000000200000000');
    expect(encodeChunkHeader({ flags: 0, type: 2, cookie: 1n, length: 12 }).toString('hex')).toBe(
      '668e33ef000000020000000000000001' + '0000000c',
    );
  });
});

describe('stream decoders keep in step past what they refuse', () => {
  it('option data over maxOptionLength is discarded, the next option still decodes', () => {
    const big = encodeOption(C.NBD_OPT_INFO, Buffer.alloc(1000, 1));
    const stream = Buffer.concat([encodeClientFlags(1), big, encodeOption(C.NBD_OPT_LIST)]);
    const expected = [
      { type: 'flags', flags: 1 },
      { type: 'option.oversize', option: C.NBD_OPT_INFO, length: 1000 },
      { type: 'option', option: C.NBD_OPT_LIST, data: Buffer.alloc(0) },
    ];
    for (const parts of splits(stream)) expect(decodeClient(parts, { maxOptionLength: 100 })).toEqual(expected);
  });

  it('a write payload over maxPayload is discarded, the next request still decodes', () => {
    const w: RequestHeader = { flags: 0, type: C.NBD_CMD_WRITE, cookie: 1n, offset: 0n, length: 600 };
    const r: RequestHeader = { flags: 0, type: C.NBD_CMD_READ, cookie: 2n, offset: 512n, length: 512 };
    const ok: RequestHeader = { flags: 1, type: C.NBD_CMD_WRITE, cookie: 3n, offset: 0n, length: 4 };
    const stream = Buffer.concat([
      encodeClientFlags(1),
      encodeOption(C.NBD_OPT_GO, encodeInfoRequest({ name: '', infos: [] })),
      encodeRequest(w, Buffer.alloc(600, 7)),
      encodeRequest(r),
      encodeRequest(ok, h('01020304')),
    ]);
    const expected = decodeClient([stream], { maxPayload: 512 }).slice(2);
    expect(expected).toEqual([
      { type: 'request.oversize', header: w },
      { type: 'request', header: r },
      { type: 'request', header: ok, data: h('01020304') },
    ]);
    for (const parts of splits(stream)) expect(decodeClient(parts, { maxPayload: 512 }).slice(2)).toEqual(expected);
  });
});

describe('malformed input is NbdProtocolError', () => {
  it.each([
    ['greeting magic', () => decodeGreeting(h('4e42444d41474944 49484156454f5054 0003'))],
    ['oldstyle greeting', () => decodeGreeting(h('4e42444d41474943 0000420281861253 0003'))],
    ['option magic', () => decodeOptionHeader(h('49484156454f5055 00000007 00000000'))],
    ['option reply magic', () => decodeOptionReply(h('0003e889045565a8 00000007 00000001 00000000'))],
    ['option reply too long', () => decodeOptionReply(h('0003e889045565a9 00000007 00000001 00100001'))],
    ['request magic', () => decodeRequestHeader(h('25609514'))],
    ['reply magic', () => decodeReplyHeader(h('67446699'))],
    ['INFO shorter than 6 bytes', () => parseInfoRequest(h('0000000000'))],
    ['INFO name past the data', () => parseInfoRequest(h('00000009 6469736b 0000'))],
    ['INFO count disagrees with data', () => parseInfoRequest(h('00000004 6469736b 0002 0003'))],
    ['export name not UTF-8', () => parseExportName(h('c328'))],
    ['export name with NUL', () => parseExportName(h('61006200'))],
    ['export name over 4096 bytes', () => parseExportName(Buffer.alloc(4097, 0x61))],
    ['INFO_EXPORT of wrong length', () => parseInfo(h('0000 0000000000100000'))],
    ['OFFSET_DATA without data', () => parseOffsetData(h('0000000000000000'))],
    ['error chunk message past payload', () => parseErrorChunk(C.NBD_REPLY_TYPE_ERROR, h('00000005 0009 6f6b'))],
    ['server entry name past reply', () => parseServerEntry(h('00000009 6469736b'))],
  ])('%s', (_name, f) => {
    expect(f).toThrow(NbdProtocolError);
  });

  it('a client stream with a bad request magic throws from next()', () => {
    const d = new ClientStreamDecoder();
    d.push(Buffer.concat([encodeClientFlags(1), encodeOption(C.NBD_OPT_GO, encodeInfoRequest({ name: 'x', infos: [] }))]));
    d.next();
    d.next();
    d.enterTransmission();
    d.push(h('deadbeef'));
    expect(() => d.next()).toThrow(NbdProtocolError);
  });

  it('encoders refuse strings the spec forbids', () => {
    expect(() => encodeInfoRequest({ name: 'a\0b', infos: [] })).toThrow(RangeError);
    expect(() => encodeServerEntry('x'.repeat(4097))).toThrow(RangeError);
  });
});

describe('properties', () => {
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
  const u16 = fc.integer({ min: 0, max: 0xffff });
  const nbdString = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0'));

  it('requests round-trip', () => {
    fc.assert(
      fc.property(u16, u16, u64, u64, u32, (flags, type, cookie, offset, length) => {
        const header = { flags, type, cookie, offset, length };
        expect(decodeRequestHeader(encodeRequest(header))).toEqual({ value: header, bytes: 28 });
      }),
    );
  });

  it('INFO/GO requests round-trip', () => {
    fc.assert(
      fc.property(nbdString, fc.array(u16, { maxLength: 20 }), (name, infos) => {
        expect(parseInfoRequest(encodeInfoRequest({ name, infos }))).toEqual({ name, infos });
      }),
    );
  });

  it('NBD_REP_INFO payloads round-trip', () => {
    const info = fc.oneof(
      fc.record({ type: fc.constant(C.NBD_INFO_EXPORT), size: u64, transmissionFlags: u16 }),
      fc.record({ type: fc.constant(C.NBD_INFO_NAME), name: nbdString }),
      fc.record({ type: fc.constant(C.NBD_INFO_DESCRIPTION), description: nbdString }),
      fc.record({ type: fc.constant(C.NBD_INFO_BLOCK_SIZE), minimum: u32, preferred: u32, maximum: u32 }),
    ) as fc.Arbitrary<NbdInfo>;
    fc.assert(
      fc.property(info, (i) => {
        expect(parseInfo(encodeInfo(i))).toEqual(i);
      }),
    );
  });

  it('random bytes never make a single-message decoder throw anything but NbdProtocolError', () => {
    const decoders: ((b: Buffer) => unknown)[] = [
      decodeGreeting,
      decodeClientFlags,
      decodeOptionHeader,
      (b) => decodeOptionReply(b),
      (b) => decodeExportNameReply(b, true),
      decodeRequestHeader,
      decodeReplyHeader,
      parseExportName,
      (b) => parseInfoRequest(b),
      parseInfo,
      parseServerEntry,
      parseOffsetData,
      (b) => parseErrorChunk(C.NBD_REPLY_TYPE_ERROR, b),
      (b) => parseErrorChunk(C.NBD_REPLY_TYPE_ERROR_OFFSET, b),
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(decoders.length - 1), (bytes, i) => {
        expectProtocolErrorOrNothing(() => decoders[i](Buffer.from(bytes)));
      }),
      { numRuns: 2000 },
    );
  });

  it('random bytes, in random chunks, never make a stream decoder throw anything but NbdProtocolError', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }),
        fc.constantFrom<'flags' | 'options' | 'transmission'>('flags', 'options', 'transmission'),
        (chunks, phase) => {
          const d = new ClientStreamDecoder({ maxOptionLength: 16, maxPayload: 16 });
          if (phase !== 'flags') {
            d.push(encodeClientFlags(1));
            d.next();
          }
          if (phase === 'transmission') d.enterTransmission();
          const s = new ServerStreamDecoder(() => 8);
          expectProtocolErrorOrNothing(() => {
            for (const c of chunks) {
              d.push(Buffer.from(c));
              while (d.next());
            }
          });
          expectProtocolErrorOrNothing(() => {
            for (const c of chunks) {
              s.push(Buffer.from(c));
              while (s.next());
            }
          });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('valid request streams decode the same in any chunking', () => {
    const request = fc.record({
      flags: u16,
      type: fc.constantFrom(C.NBD_CMD_READ, C.NBD_CMD_WRITE, C.NBD_CMD_FLUSH, C.NBD_CMD_TRIM, 99),
      cookie: u64,
      offset: u64,
      length: fc.integer({ min: 0, max: 300 }),
    });
    fc.assert(
      fc.property(
        fc.array(request, { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 20 }),
        (reqs, cuts) => {
          const stream = Buffer.concat(
            reqs.map((r) => encodeRequest(r, r.type === C.NBD_CMD_WRITE ? Buffer.alloc(r.length, r.length & 0xff) : undefined)),
          );
          const chunks: Buffer[] = [];
          let at = 0;
          for (const c of cuts) {
            chunks.push(stream.subarray(at, Math.min(stream.length, at + c)));
            at = Math.min(stream.length, at + c);
          }
          chunks.push(stream.subarray(at));
          const d = new ClientStreamDecoder({ maxPayload: 200 });
          d.push(encodeClientFlags(1));
          d.next();
          d.enterTransmission();
          const got: ClientMessage[] = [];
          for (const c of chunks) {
            d.push(c);
            for (let m = d.next(); m; m = d.next()) got.push(m);
          }
          expect(got.map((m) => (m.type === 'request' || m.type === 'request.oversize' ? m.header : m))).toEqual(reqs);
          expect(got.map((m) => m.type)).toEqual(
            reqs.map((r) => (r.type === C.NBD_CMD_WRITE && r.length > 200 ? 'request.oversize' : 'request')),
          );
        },
      ),
    );
  });

  it('ByteQueue: take/takeInto/skip over random chunks match slicing the concatenation', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 10 }),
        fc.array(fc.tuple(fc.constantFrom('take', 'takeInto', 'skip'), fc.nat(25)), { maxLength: 20 }),
        (chunks, ops) => {
          const q = new ByteQueue();
          for (const c of chunks) q.push(Buffer.from(c));
          let model = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          for (const [take, n] of ops) {
            const k = Math.min(n, model.length);
            if (take === 'take') expect(q.take(k).equals(model.subarray(0, k))).toBe(true);
            else if (take === 'takeInto') {
              const dest = Buffer.alloc(k + 3, 0xee);
              expect(q.takeInto(k, dest).equals(model.subarray(0, k))).toBe(true);
              expect(dest.subarray(k).equals(Buffer.alloc(3, 0xee))).toBe(true);
            } else expect(q.skip(n)).toBe(k);
            model = model.subarray(k);
            expect(q.length).toBe(model.length);
            expect(q.peek(model.length).equals(model)).toBe(true);
          }
        },
      ),
    );
  });

  it('a write payload that arrived in several reads is joined in a pool buffer; one inside a read is not copied', () => {
    const given: Buffer[] = [];
    const pool = {
      get: (n: number) => {
        const b = Buffer.alloc(8192);
        given.push(b);
        expect(n).toBe(5000);
        return b;
      },
    };
    const d = new ClientStreamDecoder({ payloadPool: pool });
    d.push(encodeClientFlags(1));
    d.next();
    d.enterTransmission();
    const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff));
    const req = encodeRequest({ flags: 0, type: C.NBD_CMD_WRITE, cookie: 5n, offset: 0n, length: 5000 }, payload);
    // In one read: a view of that read, no pool buffer.
    d.push(req);
    const one = d.next();
    expect(one?.type === 'request' && one.pooled).toBeUndefined();
    expect(one?.type === 'request' && one.data?.buffer).toBe(req.buffer);
    // Over three reads: copied once, into the pool's buffer, which the message names.
    d.push(req.subarray(0, 100));
    d.push(req.subarray(100, 3000));
    expect(d.next()).toBeUndefined();
    d.push(req.subarray(3000));
    const split = d.next();
    expect(split?.type).toBe('request');
    if (split?.type !== 'request') return;
    expect(split.pooled).toBe(given[0]);
    expect(split.data?.buffer).toBe(given[0].buffer);
    expect(split.data?.equals(payload)).toBe(true);
    expect(d.buffered).toBe(0);
  });

  it('with a reused receive buffer (volatileChunks, retain, direct reads) the messages are those of owned chunks', () => {
    const pool = { get: (n: number) => Buffer.alloc(Math.max(4096, n * 2), 0xcc) };
    const request = fc.oneof(
      fc.record({ type: fc.constant(C.NBD_CMD_READ), length: fc.integer({ min: 1, max: 9000 }) }),
      fc.record({ type: fc.constant(C.NBD_CMD_WRITE), length: fc.integer({ min: 0, max: 9000 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(request, { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 7000 }), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        (reqs, cuts, pooled) => {
          const stream = Buffer.concat([
            encodeClientFlags(C.NBD_FLAG_C_FIXED_NEWSTYLE),
            encodeOption(C.NBD_OPT_GO, Buffer.from('\0\0\0\x04disk\0\0')),
            ...reqs.map((r, i) =>
              encodeRequest(
                { flags: 0, type: r.type, cookie: BigInt(i), offset: BigInt(i * 512), length: r.length },
                r.type === C.NBD_CMD_WRITE ? Buffer.alloc(r.length, i + 1) : undefined,
              ),
            ),
          ]);
          const want = decodeClient([stream]);
          const recv = Buffer.alloc(8192);
          const d = new ClientStreamDecoder(pooled ? { payloadPool: pool, volatileChunks: true } : { volatileChunks: true });
          const got: ClientMessage[] = [];
          const drain = () => {
            for (let m = d.next(); m; m = d.next()) {
              got.push(m.type === 'option' ? { ...m, data: Buffer.from(m.data) } : m);
              if (m.type === 'option' && m.option === C.NBD_OPT_GO) d.enterTransmission();
            }
          };
          let at = 0;
          for (let i = 0; at < stream.length; i++) {
            const n = Math.min(cuts[i % cuts.length], stream.length - at, recv.length);
            const direct = d.directTarget();
            if (direct) {
              const k = Math.min(n, direct.length);
              stream.copy(direct, 0, at, at + k);
              d.directReceived(k);
              at += k;
              drain();
              continue;
            }
            stream.copy(recv, 0, at, at + n);
            at += n;
            d.push(recv.subarray(0, n));
            drain();
            d.retain(recv.buffer);
            recv.fill(0xee);
          }
          const unpooled = (ms: ClientMessage[]) =>
            ms.map((m) => (m.type === 'request' ? { type: m.type, header: m.header, data: m.data } : m));
          expect(unpooled(got)).toEqual(unpooled(want));
          for (const m of got) if (m.type === 'request' && m.data) expect(m.data.buffer).not.toBe(recv.buffer);
        },
      ),
    );
  });
});
