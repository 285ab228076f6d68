/**
 * CRC32C digests (RFC 7143 §13.1, RFC 3385): the RFC 3720 appendix B.4 vectors, the little-endian byte order on
 * the wire, and continuation over split buffers (the data digest covers data + padding in two calls).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c, readDigest, writeDigest } from '../../src/iscsi/digest.js';

const wire = (value: number) => {
  const b = Buffer.alloc(4);
  writeDigest(b, 0, value);
  return b.toString('hex');
};

describe('crc32c', () => {
  // RFC 3720 appendix B.4 lists each CRC as the bytes sent, i.e. the 32-bit value little-endian.
  const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const descending = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
  const read10Pdu = Buffer.from(
    '01c00000000000000000000000000000' + '14000000000004000000001400000018' + '28000000000000000200000000000000',
    'hex',
  );

  it.each([
    ['32 bytes of zeros', Buffer.alloc(32), 0x8a9136aa, 'aa36918a'],
    ['32 bytes of 0xff', Buffer.alloc(32, 0xff), 0x62a8ab43, '43aba862'],
    ['32 incrementing bytes 0..31', ascending, 0x46dd794e, '4e79dd46'],
    ['32 decrementing bytes 31..0', descending, 0x113fdb5c, '5cdb3f11'],
    ['the SCSI Read(10) command PDU example', read10Pdu, 0xd9963a56, '563a96d9'],
  ])('%s', (_, input, value, onWire) => {
    expect(crc32c(input)).toBe(value);
    expect(wire(crc32c(input))).toBe(onWire);
  });

  it('returns an unsigned 32-bit number', () => {
    expect(crc32c(Buffer.alloc(32, 0xff))).toBeGreaterThan(0);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('continues from a previous result: crc(a || b) = crc(b, crc(a))', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        expect(crc32c(b, crc32c(a))).toBe(crc32c(Buffer.concat([a, b])));
      }),
    );
  });

  it('detects every single-bit error in a 48-byte header', () => {
    const header = Buffer.from(Array.from({ length: 48 }, (_, i) => (i * 37) & 0xff));
    const good = crc32c(header);
    for (let bit = 0; bit < 48 * 8; bit++) {
      header[bit >> 3] ^= 1 << (bit & 7);
      if (crc32c(header) === good) expect.fail(`bit ${bit} undetected`);
      header[bit >> 3] ^= 1 << (bit & 7);
    }
  });
});

describe('readDigest / writeDigest', () => {
  it('store the digest little-endian at the offset', () => {
    const b = Buffer.alloc(8, 0xee);
    writeDigest(b, 2, 0x8a9136aa);
    expect(b.toString('hex')).toBe('eeeeaa36918aeeee');
    expect(readDigest(b, 2)).toBe(0x8a9136aa);
  });

  it('round-trip any 32-bit value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (v) => {
        const b = Buffer.alloc(4);
        writeDigest(b, 0, v);
        expect(readDigest(b, 0)).toBe(v);
      }),
    );
  });
});
