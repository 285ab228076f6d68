import { describe, expect, it } from 'vitest';
import { capacity, parseReadCapacity10, parseReadCapacity16, ScsiParseError } from '../../src/scsi/index.js';
import { hexBytes as h, tgtd } from './fixtures.js';

describe('READ CAPACITY(10)', () => {
  it('tgtd 64 MiB LUN', () => {
    const data = parseReadCapacity10(tgtd.readCapacity10);
    expect(data).toEqual({ lastLba: 0x1ffff, blockLength: 512, needsReadCapacity16: false });
    expect(capacity(data)).toEqual({ blocks: 0x20000n, blockSize: 512, sizeBytes: 64n * 1024n * 1024n });
  });

  it('0xffffffff sends the caller to READ CAPACITY(16)', () => {
    const data = parseReadCapacity10(h('ff ff ff ff 00 00 10 00'));
    expect(data.needsReadCapacity16).toBe(true);
    expect(() => capacity(data)).toThrow(/needs READ CAPACITY\(16\)/);
  });

  it('short data', () => {
    expect(() => parseReadCapacity10(h('00 01 ff ff 00 00 02'))).toThrow(ScsiParseError);
  });
});

describe('READ CAPACITY(16)', () => {
  it('tgtd 64 MiB LUN with 4 KiB physical blocks', () => {
    const data = parseReadCapacity16(tgtd.readCapacity16);
    expect(data).toEqual({
      lastLba: 0x1ffffn,
      blockLength: 512,
      pType: 0,
      protectionEnabled: false,
      pIExponent: 0,
      logicalBlocksPerPhysicalBlockExponent: 3,
      lbpme: false,
      lbprz: false,
      lowestAlignedLba: 0,
      truncated: false,
    });
    expect(capacity(data).sizeBytes).toBe(67108864n);
  });

  it('hand-built: 2^53 blocks of 4 KiB, type 2 protection, thin, zeroing (SBC-3 table 66)', () => {
    const data = parseReadCapacity16(h(`00 1f ff ff ff ff ff ff 00 00 10 00 03 21 c1 07${' 00'.repeat(16)}`));
    expect(data).toMatchObject({
      lastLba: 2n ** 53n - 1n,
      blockLength: 4096,
      pType: 1,
      protectionEnabled: true,
      pIExponent: 2,
      logicalBlocksPerPhysicalBlockExponent: 1,
      lbpme: true,
      lbprz: true,
      lowestAlignedLba: 0x107,
    });
    // Beyond Number.MAX_SAFE_INTEGER: the reason for bigint.
    expect(capacity(data).sizeBytes).toBe(2n ** 53n * 4096n);
  });

  it('a short allocation length keeps the last LBA and block length', () => {
    const data = parseReadCapacity16(tgtd.readCapacity16.subarray(0, 12));
    expect(data).toMatchObject({ lastLba: 0x1ffffn, blockLength: 512, logicalBlocksPerPhysicalBlockExponent: 0, truncated: true });
    expect(() => parseReadCapacity16(tgtd.readCapacity16.subarray(0, 11))).toThrow(/READ CAPACITY\(16\) data/);
  });
});
