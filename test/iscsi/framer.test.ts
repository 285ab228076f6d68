/**
 * Framer tests (RFC 7143 §11.2 framing, §13.1 digests): captured streams split at every byte and into single
 * bytes, many PDUs per chunk, the DataSegmentLength limit, header/data digest errors, framePdu's zero-copy
 * iovec with padding and digests, and fast-check properties over random bytes, corrupted streams and random
 * chunkings. Fixtures: fixtures/streams.ts and fixtures/pdus.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BHS_LENGTH, DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, Opcode } from '../../src/iscsi/constants.js';
import { crc32c } from '../../src/iscsi/digest.js';
import { DigestError, ProtocolError } from '../../src/iscsi/errors.js';
import { encodePdu, framePdu, PduFramer, type DigestOptions, type FramerOptions } from '../../src/iscsi/framer.js';
import { decodePdu, type Pdu } from '../../src/iscsi/pdu.js';
import { chunk, digestsArb, pduArb } from './fixtures/arbitraries.js';
import * as F from './fixtures/pdus.js';
import { STREAMS, TGTD_FFP_DIGESTS_T2I } from './fixtures/streams.js';

const buf = (hex: string) => Buffer.from(hex, 'hex');
const NO_DIGESTS: DigestOptions = { headerDigest: false, dataDigest: false };
const BOTH_DIGESTS: DigestOptions = { headerDigest: true, dataDigest: true };

/** Pushes the chunks in order and returns what was emitted. */
function frame(chunks: Buffer[], options: Partial<FramerOptions> = {}): { pdus: Pdu[]; framer: PduFramer } {
  const framer = new PduFramer(options);
  const pdus: Pdu[] = [];
  for (const c of chunks) framer.push(c, (p) => pdus.push(p));
  return { pdus, framer };
}

/** The PDUs re-encoded with the same digests: equal to the input bytes iff nothing was lost or changed. */
function reencode(pdus: Pdu[], digests: DigestOptions): Buffer {
  return Buffer.concat(pdus.map((p) => encodePdu(p, digests)));
}

/** Every single-PDU fixture (no digests), in file order. */
const PDU_FIXTURES = Object.entries(F)
  .filter((e): e is [string, string] => typeof e[1] === 'string')
  .map(([name, hex]) => ({ name, bytes: buf(hex) }));

describe.each(STREAMS)('captured stream $name', ({ hex, digests, opcodes }) => {
  const bytes = buf(hex);
  const options = { ...digests };

  it('frames the whole stream in one chunk, in order, leaving nothing behind', () => {
    const { pdus, framer } = frame([bytes], options);
    expect(pdus.map((p) => p.opcode)).toEqual(opcodes);
    expect(framer.pendingBytes).toBe(0);
  });

  it('re-encodes to the same bytes, digests included (framePdu digests = the peer digests)', () => {
    const { pdus } = frame([bytes], options);
    expect(reencode(pdus, digests).toString('hex')).toBe(hex);
  });

  it('split at every byte yields the same PDUs', () => {
    const { pdus: reference } = frame([bytes], options);
    for (let at = 1; at < bytes.length; at++) {
      const { pdus, framer } = frame([bytes.subarray(0, at), bytes.subarray(at)], options);
      if (pdus.length !== reference.length || !reencode(pdus, digests).equals(bytes)) expect.fail(`split at ${at}: ${pdus.length} PDUs`);
      expect(framer.pendingBytes).toBe(0);
    }
    const { pdus } = frame([bytes.subarray(0, 1), bytes.subarray(1, 49), bytes.subarray(49)], options);
    expect(pdus).toEqual(reference);
  });

  it('fed one byte at a time yields the same PDUs', () => {
    const { pdus: reference } = frame([bytes], options);
    const singles = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    expect(frame(singles, options).pdus).toEqual(reference);
  });
});

describe('single-PDU fixtures through the framer', () => {
  it.each(PDU_FIXTURES)('$name split at every byte', ({ bytes }) => {
    const [reference] = frame([bytes]).pdus;
    expect(reference).toBeDefined();
    for (let at = 1; at < bytes.length; at++) {
      const { pdus } = frame([bytes.subarray(0, at), bytes.subarray(at)]);
      if (pdus.length !== 1 || !encodePdu(pdus[0]).equals(bytes)) expect.fail(`split at ${at}`);
    }
  });

  it('all of them in one chunk, and with digests added', () => {
    const all = Buffer.concat(PDU_FIXTURES.map((f) => f.bytes));
    const { pdus, framer } = frame([all]);
    expect(pdus.map((p) => p.opcode)).toEqual(PDU_FIXTURES.map((f) => f.bytes[0] & 0x3f));
    expect(framer.pendingBytes).toBe(0);
    const withDigests = reencode(pdus, BOTH_DIGESTS);
    expect(frame([withDigests], BOTH_DIGESTS).pdus).toEqual(pdus);
  });

  it('a thousand PDUs in one chunk', () => {
    const one = buf(F.NOP_IN_ECHO);
    const { pdus } = frame([Buffer.concat(Array.from({ length: 1000 }, () => one))]);
    expect(pdus).toHaveLength(1000);
    expect(new Set(pdus.map((p) => p.itt))).toEqual(new Set([0x2001]));
  });

  it('a PDU wholly inside one chunk is emitted without copying its data', () => {
    const chunkBytes = buf(F.DATA_IN_NO_STATUS + F.NOP_IN_ECHO);
    const [dataIn, nopIn] = frame([chunkBytes]).pdus;
    expect(dataIn.data!.buffer).toBe(chunkBytes.buffer);
    expect(dataIn.data!.byteOffset).toBe(chunkBytes.byteOffset + BHS_LENGTH);
    expect(nopIn.data!.buffer).toBe(chunkBytes.buffer);
  });

  it('new digest options take effect between two PDUs of the same chunk (login -> full feature phase)', () => {
    // The final Login Response (T=1, NSG=3) is followed in the same TCP segment by digest-protected PDUs.
    const bytes = Buffer.concat([buf(F.LOGIN_RESPONSE_DISCOVERY), buf(TGTD_FFP_DIGESTS_T2I.hex)]);
    const framer = new PduFramer();
    const opcodes: number[] = [];
    framer.push(bytes, (pdu) => {
      opcodes.push(pdu.opcode);
      if (pdu.opcode === Opcode.LOGIN_RESPONSE && pdu.transit && pdu.nsg === 3) framer.setOptions(BOTH_DIGESTS);
    });
    expect(opcodes).toEqual([Opcode.LOGIN_RESPONSE, ...TGTD_FFP_DIGESTS_T2I.opcodes]);
  });
});

// -----------------------------------------------------------------------------------------------------------

function thrown(fn: () => void): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('DataSegmentLength limit (MaxRecvDataSegmentLength, §13.12)', () => {
  const bhsWithLength = (dsl: number) => {
    const h = buf(F.NOP_IN_TARGET_PING);
    h.writeUIntBE(dsl, 5, 3);
    return h;
  };

  it('over the limit is a ProtocolError as soon as the BHS is in, naming opcode and offset', () => {
    const err = thrown(() => new PduFramer().push(bhsWithLength(DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH + 1), () => {}));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ opcode: Opcode.NOP_IN, offset: 5 });
    expect((err as Error).message).toMatch(/DataSegmentLength 8193 exceeds MaxRecvDataSegmentLength 8192 \(opcode 0x20, offset 5\)/);
  });

  it('at the limit waits for the data; a raised limit (after login) accepts more', () => {
    const framer = new PduFramer();
    framer.push(bhsWithLength(8192), () => expect.fail('emitted without data'));
    expect(framer.pendingBytes).toBe(BHS_LENGTH);
    const big = new PduFramer();
    big.setOptions({ maxRecvDataSegmentLength: 262_144 });
    const pdus: Pdu[] = [];
    big.push(Buffer.concat([bhsWithLength(262_144), Buffer.alloc(262_144, 7)]), (p) => pdus.push(p));
    expect(pdus[0].data).toHaveLength(262_144);
    expect(() => big.push(bhsWithLength(262_145), () => {})).toThrow(ProtocolError);
  });

  it('the 24-bit maximum against the largest limit', () => {
    const framer = new PduFramer({ maxRecvDataSegmentLength: 0xff_ffff });
    framer.push(bhsWithLength(0xff_ffff), () => expect.fail('emitted without data'));
    expect(framer.pendingBytes).toBe(BHS_LENGTH);
  });
});

describe('digest errors (§13.1)', () => {
  // First PDU of the stream: NOP-In, BHS 0..47, header digest 48..51, 13 bytes of data 52..64, padding
  // 65..67, data digest 68..71.
  const stream = () => buf(TGTD_FFP_DIGESTS_T2I.hex);

  function digestError(bytes: Buffer, options: Partial<FramerOptions> = BOTH_DIGESTS): DigestError {
    const err = thrown(() => new PduFramer(options).push(bytes, () => {}));
    expect(err).toBeInstanceOf(DigestError);
    return err as DigestError;
  }

  it.each([
    ['a header byte (ITT)', 17],
    ['the header digest itself', 50],
  ])('corrupting %s gives DigestError("header")', (_, at) => {
    const bytes = stream();
    const received = bytes.readUInt32LE(48);
    bytes[at] ^= 0x01;
    const err = digestError(bytes);
    expect(err.which).toBe('header');
    expect(err.opcode).toBe(Opcode.NOP_IN);
    expect(err.expected).toBe(crc32c(bytes.subarray(0, BHS_LENGTH)));
    expect(err.actual).toBe(bytes.readUInt32LE(48));
    if (at >= BHS_LENGTH) expect(err.actual).not.toBe(received);
    expect(err.message).toMatch(/^header digest mismatch: received 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}$/);
  });

  it.each([
    ['a data byte', 55],
    ['a padding byte (the digest covers data + padding)', 66],
    ['the data digest itself', 70],
  ])('corrupting %s gives DigestError("data")', (_, at) => {
    const bytes = stream();
    bytes[at] ^= 0x80;
    const err = digestError(bytes);
    expect(err.which).toBe('data');
    expect(err.opcode).toBe(Opcode.NOP_IN);
    expect(err.expected).toBe(crc32c(bytes.subarray(52, 68)));
    expect(err.actual).toBe(bytes.readUInt32LE(68));
  });

  it('a corrupted DataSegmentLength is a header digest error at once, not a limit error or a stall', () => {
    for (const dsl of [4096, 0x80_0000]) {
      const bytes = stream().subarray(0, 52); // BHS + header digest only
      bytes.writeUIntBE(dsl, 5, 3);
      expect(digestError(bytes).which).toBe('header');
    }
  });

  it('a digest-free connection does not look for digests', () => {
    const { pdus } = frame([buf(F.NOP_IN_ECHO)], NO_DIGESTS);
    expect(pdus).toHaveLength(1);
    // The same bytes read as if digests were on do not frame: the "digest" is the next bytes.
    expect(thrown(() => new PduFramer(BOTH_DIGESTS).push(buf(F.NOP_IN_ECHO), () => {}))).toBeInstanceOf(DigestError);
  });
});

// -----------------------------------------------------------------------------------------------------------

describe('framePdu', () => {
  const dataOut = (data?: Buffer): Pdu => ({
    opcode: Opcode.SCSI_DATA_OUT,
    final: true,
    itt: 0x10,
    lun: 1,
    ttt: 0x20,
    expStatSN: 3,
    dataSN: 0,
    bufferOffset: 0,
    data,
  });

  it.each([NO_DIGESTS, { headerDigest: true, dataDigest: false }, { headerDigest: false, dataDigest: true }, BOTH_DIGESTS])(
    'emits the caller data buffer itself, not a copy (%o)',
    (digests) => {
      for (const len of [1, 4, 13, 4096, 131_072]) {
        const data = Buffer.alloc(len, 0x5a);
        const parts = framePdu(dataOut(data), digests);
        expect(parts[1]).toBe(data);
      }
    },
  );

  it('pads the data segment to 4 bytes with zeros, and adds nothing when aligned', () => {
    for (let len = 1; len <= 12; len++) {
      const parts = framePdu(dataOut(Buffer.alloc(len, 0xff)), NO_DIGESTS);
      const pad = (4 - (len % 4)) % 4;
      expect(parts).toHaveLength(pad ? 3 : 2);
      expect(parts[0]).toHaveLength(BHS_LENGTH);
      if (pad) expect(parts[2].equals(Buffer.alloc(pad))).toBe(true);
      expect(Buffer.concat(parts).length % 4).toBe(0);
    }
  });

  it('appends the header digest, CRC32C of BHS + AHS, little-endian', () => {
    const pdu = decodePdu(buf(F.SCSI_COMMAND_EXTENDED_CDB));
    const [header] = framePdu(pdu, { headerDigest: true, dataDigest: false });
    expect(header).toHaveLength(BHS_LENGTH + 20 + 4);
    expect(header.readUInt32LE(68)).toBe(crc32c(buf(F.SCSI_COMMAND_EXTENDED_CDB)));
  });

  it('reproduces the RFC 3720 B.4 example: SCSI Read(10) command PDU header digest 56 3a 96 d9 on the wire', () => {
    const pdu: Pdu = {
      opcode: Opcode.SCSI_COMMAND,
      immediate: false,
      final: true,
      read: true,
      write: false,
      attr: 0,
      itt: 0x1400_0000,
      lun: 0,
      expectedDataTransferLength: 0x400,
      cmdSN: 0x14,
      expStatSN: 0x18,
      cdb: buf('28000000000000000200000000000000'),
    };
    const [header] = framePdu(pdu, { headerDigest: true, dataDigest: false });
    expect(header.subarray(0, 48).toString('hex')).toBe(
      '01c00000000000000000000000000000' + '14000000000004000000001400000018' + '28000000000000000200000000000000',
    );
    expect(header.subarray(48).toString('hex')).toBe('563a96d9');
  });

  it('computes the data digest over data + padding, written after the padding', () => {
    for (let len = 1; len <= 8; len++) {
      const data = Buffer.from(Array.from({ length: len }, (_, i) => i + 1));
      const parts = framePdu(dataOut(data), { headerDigest: false, dataDigest: true });
      const pad = (4 - (len % 4)) % 4;
      expect(parts).toHaveLength(3);
      const trailer = parts[2];
      expect(trailer).toHaveLength(pad + 4);
      expect(trailer.subarray(0, pad).equals(Buffer.alloc(pad))).toBe(true);
      const padded = Buffer.concat([data, Buffer.alloc(pad)]);
      expect(trailer.readUInt32LE(pad)).toBe(crc32c(padded));
      if (pad) expect(trailer.readUInt32LE(pad)).not.toBe(crc32c(data));
    }
  });

  it('writes the data digest of 32 zero bytes as aa 36 91 8a (RFC 3720 B.4, little-endian)', () => {
    const parts = framePdu(dataOut(Buffer.alloc(32)), { headerDigest: false, dataDigest: true });
    expect(parts[2].toString('hex')).toBe('aa36918a');
  });

  it('sends no data digest when there is no data segment', () => {
    expect(framePdu(dataOut(), BOTH_DIGESTS)).toHaveLength(1);
    expect(framePdu(dataOut(Buffer.alloc(0)), BOTH_DIGESTS)).toHaveLength(1);
    expect(framePdu(dataOut(), BOTH_DIGESTS)[0]).toHaveLength(BHS_LENGTH + 4);
  });
});

// -----------------------------------------------------------------------------------------------------------

/** Pushes chunks; only ProtocolError and DigestError may escape, and emit is called at most once per BHS. */
function pushGuarded(chunks: Buffer[], options: Partial<FramerOptions>): { pdus: Pdu[]; error?: Error } {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const framer = new PduFramer(options);
  const pdus: Pdu[] = [];
  try {
    for (const c of chunks)
      framer.push(c, (p) => {
        pdus.push(p);
        if (pdus.length > total / BHS_LENGTH) throw new Error('emitted more PDUs than the bytes can hold');
      });
  } catch (e) {
    if (e instanceof ProtocolError || e instanceof DigestError) return { pdus, error: e };
    throw e;
  }
  expect(framer.pendingBytes).toBeLessThanOrEqual(total);
  return { pdus };
}

const framerOptionsArb = fc.record({
  headerDigest: fc.boolean(),
  dataDigest: fc.boolean(),
  maxRecvDataSegmentLength: fc.constantFrom(512, 8192, 0xff_ffff),
});

describe('properties', () => {
  it('random bytes in random chunks: only ProtocolError or DigestError, and push always returns', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.array(fc.nat(), { maxLength: 20 }), framerOptionsArb, (bytes, cuts, options) => {
        pushGuarded(chunk(Buffer.from(bytes), cuts), options);
      }),
      { numRuns: 1000 },
    );
  });

  it('random bytes that start with a plausible BHS (small lengths) also never escape other errors', () => {
    const plausible = fc
      .tuple(fc.uint8Array({ minLength: 48, maxLength: 600 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 300 }))
      .map(([b, ahs, dsl]) => {
        const buf = Buffer.from(b);
        buf[4] = ahs;
        buf.writeUIntBE(dsl, 5, 3);
        return buf;
      });
    fc.assert(
      fc.property(
        fc.array(plausible, { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        framerOptionsArb,
        (parts, cuts, options) => {
          pushGuarded(chunk(Buffer.concat(parts), cuts), options);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('valid PDUs round-trip through framePdu + PduFramer under any chunking and digest setting', () => {
    fc.assert(
      fc.property(
        fc.array(pduArb, { minLength: 1, maxLength: 8 }),
        digestsArb,
        fc.array(fc.nat(), { maxLength: 30 }),
        (pdus, digests, cuts) => {
          const bytes = Buffer.concat(pdus.flatMap((p) => framePdu(p, digests)));
          const { pdus: out, framer } = frame(chunk(bytes, cuts), digests);
          expect(out).toEqual(pdus);
          expect(framer.pendingBytes).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('volatile mode (a shared read buffer reused after every push): PDUs still round-trip under any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(pduArb, { minLength: 1, maxLength: 8 }),
        digestsArb,
        fc.array(fc.nat(), { maxLength: 30 }),
        (pdus, digests, cuts) => {
          const bytes = Buffer.concat(pdus.flatMap((p) => framePdu(p, digests)));
          const framer = new PduFramer({ ...digests, maxRecvDataSegmentLength: 0xffffff });
          const scratch = Buffer.alloc(bytes.length + 16);
          const out: Pdu[] = [];
          for (const piece of chunk(bytes, cuts)) {
            // Like the socket's onread buffer: the same memory every time, scribbled over after each push.
            piece.copy(scratch, 0);
            framer.push(scratch.subarray(0, piece.length), (p) => out.push(p.data ? { ...p, data: Buffer.from(p.data) } : p), true);
            scratch.fill(0xee);
          }
          expect(out).toEqual(pdus);
          expect(framer.pendingBytes).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('dataSink: Data-In data lands in its destination, read there directly or copied, under any chunking', () => {
    fc.assert(
      fc.property(
        fc.array(pduArb, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 40 }),
        (pdus, headerDigest, reads) => {
          const digests = { headerDigest, dataDigest: false };
          const bytes = Buffer.concat(pdus.flatMap((p) => framePdu(p, digests)));
          const sunk: Buffer[] = [];
          const framer = new PduFramer({
            ...digests,
            maxRecvDataSegmentLength: 0xffffff,
            dataSink: (_header, dsl) => {
              const dest = Buffer.alloc(dsl, 0xcc);
              sunk.push(dest);
              return dest;
            },
          });
          const scratch = Buffer.alloc(bytes.length + 16);
          const out: Pdu[] = [];
          const emit = (p: Pdu) => out.push(p.data ? { ...p, data: Buffer.from(p.data) } : p);
          let at = 0;
          for (let i = 0; at < bytes.length; i++) {
            const want = reads[i % reads.length];
            const target = framer.directTarget();
            if (target) {
              // The kernel fills the destination directly (a read never exceeds the buffer it was given).
              const n = Math.min(want, target.length, bytes.length - at);
              bytes.copy(target, 0, at, at + n);
              framer.directReceived(n, emit);
              at += n;
            } else {
              const n = Math.min(want, bytes.length - at);
              bytes.copy(scratch, 0, at, at + n);
              framer.push(scratch.subarray(0, n), emit, true);
              scratch.fill(0xee);
              at += n;
            }
          }
          expect(out).toEqual(pdus);
          expect(framer.pendingBytes).toBe(0);
          expect(framer.directTarget()).toBeUndefined();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('corrupted valid streams: only ProtocolError or DigestError; with both digests no corrupted PDU gets through', () => {
    fc.assert(
      fc.property(
        fc.array(pduArb, { minLength: 1, maxLength: 6 }),
        digestsArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (pdus, digests, flips, cuts) => {
          const original = Buffer.concat(pdus.flatMap((p) => framePdu(p, digests)));
          const bytes = Buffer.from(original);
          for (const [at, mask] of flips) bytes[at % bytes.length] ^= mask;
          if (bytes.equals(original)) return; // the flips cancelled out
          const { pdus: out } = pushGuarded(chunk(bytes, cuts), digests);
          if (digests.headerDigest && digests.dataDigest) {
            // Everything emitted precedes the first corrupted byte: a prefix of the original PDUs.
            expect(out.length).toBeLessThan(pdus.length);
            for (const [i, p] of out.entries()) expect(p).toEqual(pdus[i]);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
