import { describe, expect, it } from 'vitest';
import {
  decodeUnmapParameterList,
  encodeUnmapParameterList,
  fitsCdb10,
  inquiry,
  MAX_UNMAP_DESCRIPTORS,
  modeSense10,
  modeSense6,
  PageControl,
  preFetch16,
  read10,
  read16,
  readBlocks,
  readCapacity10,
  readCapacity16,
  reportLuns,
  reportTargetPortGroups,
  requestSense,
  ScsiParseError,
  synchronizeCache10,
  synchronizeCache16,
  testUnitReady,
  unmap,
  VpdPage,
  write10,
  write16,
  writeBlocks,
  writeSame16,
} from '../../src/scsi/index.js';
import { hexBytes as h, libiscsiCdbs } from './fixtures.js';

describe('CDBs match the bytes libiscsi 1.19 sent to tgtd', () => {
  it.each([
    ['TEST UNIT READY', testUnitReady(), libiscsiCdbs.testUnitReady],
    ['INQUIRY', inquiry({ allocationLength: 64 }), libiscsiCdbs.inquiryStandard64],
    ['INQUIRY VPD 0x83', inquiry({ page: VpdPage.DEVICE_IDENTIFICATION, allocationLength: 76 }), libiscsiCdbs.inquiryVpd83Alloc76],
    ['READ CAPACITY(10)', readCapacity10(), libiscsiCdbs.readCapacity10],
    ['READ CAPACITY(16)', readCapacity16(), libiscsiCdbs.readCapacity16Alloc32],
    ['REPORT LUNS', reportLuns({ allocationLength: 16 }), libiscsiCdbs.reportLunsAlloc16],
    ['MODE SENSE(6)', modeSense6(), libiscsiCdbs.modeSense6AllPages],
    ['READ(10)', read10({ lba: 0x20000, blocks: 1, blockSize: 512 }), libiscsiCdbs.read10OneBlockAt0x20000],
    ['READ(16)', read16({ lba: 0, blocks: 1, blockSize: 512 }), libiscsiCdbs.read16OneBlockAt0],
    ['WRITE(16)', write16({ lba: 0, blocks: 1, blockSize: 512 }), libiscsiCdbs.write16OneBlockAt0],
    ['PRE-FETCH(16)', preFetch16({ lba: 0x20000, blocks: 1 }), libiscsiCdbs.preFetch16OneBlockAt0x20000],
  ])('%s', (_name, command, expected) => {
    expect(command.cdb).toEqual(expected);
  });
});

describe('direction and transfer length', () => {
  it('data-less commands', () => {
    for (const c of [testUnitReady(), synchronizeCache10(), synchronizeCache16(), preFetch16({ lba: 1, blocks: 1 })]) {
      expect(c).toMatchObject({ direction: 'none', transferLength: 0 });
    }
  });

  it('commands returning parameter data expect their allocation length', () => {
    expect(inquiry()).toMatchObject({ direction: 'read', transferLength: 255 });
    expect(readCapacity10()).toMatchObject({ direction: 'read', transferLength: 8 });
    expect(readCapacity16()).toMatchObject({ direction: 'read', transferLength: 32 });
    expect(reportLuns()).toMatchObject({ direction: 'read', transferLength: 4096 });
    expect(requestSense()).toMatchObject({ direction: 'read', transferLength: 252 });
    expect(modeSense10()).toMatchObject({ direction: 'read', transferLength: 512 });
    expect(reportTargetPortGroups()).toMatchObject({ direction: 'read', transferLength: 4096 });
  });

  it('READ and WRITE move blocks x block size', () => {
    expect(read16({ lba: 0, blocks: 8, blockSize: 4096 })).toMatchObject({ direction: 'read', transferLength: 32768 });
    expect(write10({ lba: 0, blocks: 8, blockSize: 512 })).toMatchObject({ direction: 'write', transferLength: 4096 });
  });

  it('WRITE SAME(16) sends one block, or nothing with NDOB', () => {
    expect(writeSame16({ lba: 0, blocks: 100, blockSize: 512 })).toMatchObject({ direction: 'write', transferLength: 512 });
    expect(writeSame16({ lba: 0, blocks: 100, ndob: true })).toMatchObject({ direction: 'none', transferLength: 0 });
  });

  it('UNMAP carries its parameter list', () => {
    const c = unmap([{ lba: 0, blocks: 8 }]);
    expect(c.direction).toBe('write');
    expect(c.transferLength).toBe(24);
    expect(c.dataOut).toEqual(encodeUnmapParameterList([{ lba: 0, blocks: 8 }]));
    expect(c.cdb.readUInt16BE(7)).toBe(24);
  });
});

describe('field layout (hand-built from the SBC-3/SPC-4 CDB tables)', () => {
  it('READ(16)/WRITE(16): 64-bit LBA, 32-bit length, FUA and DPO in byte 1', () => {
    const c = write16({ lba: 0x0123_4567_89ab_cdefn, blocks: 0x10000, blockSize: 512, fua: true, dpo: true });
    expect(c.cdb).toEqual(h('8a 18 01 23 45 67 89 ab cd ef 00 01 00 00 00 00'));
  });

  it('READ(10) with FUA', () => {
    expect(read10({ lba: 0xffff_ffff, blocks: 0xffff, blockSize: 512, fua: true }).cdb).toEqual(h('28 08 ff ff ff ff 00 ff ff 00'));
  });

  it('SYNCHRONIZE CACHE with IMMED and a range', () => {
    expect(synchronizeCache10({ lba: 16, blocks: 32, immed: true }).cdb).toEqual(h('35 02 00 00 00 10 00 00 20 00'));
    expect(synchronizeCache16({ lba: 2n ** 40n, blocks: 1 }).cdb).toEqual(h('91 00 00 00 01 00 00 00 00 00 00 00 00 01 00 00'));
  });

  it('WRITE SAME(16) UNMAP, ANCHOR and NDOB bits', () => {
    expect(writeSame16({ lba: 8, blocks: 16, unmap: true, anchor: true, ndob: true }).cdb).toEqual(
      h('93 19 00 00 00 00 00 00 00 08 00 00 00 10 00 00'),
    );
  });

  it('UNMAP with ANCHOR', () => {
    expect(unmap([], { anchor: true }).cdb).toEqual(h('42 01 00 00 00 00 00 00 08 00'));
  });

  it('MODE SENSE page control, subpage, DBD and LLBAA', () => {
    expect(modeSense6({ pageCode: 0x08, pageControl: PageControl.CHANGEABLE, disableBlockDescriptors: true }).cdb).toEqual(
      h('1a 08 48 00 ff 00'),
    );
    expect(modeSense10({ pageCode: 0x0a, subpageCode: 0x01, longLba: true, allocationLength: 0x1234 }).cdb).toEqual(
      h('5a 10 0a 01 00 00 00 12 34 00'),
    );
  });

  it('REPORT TARGET PORT GROUPS, length and extended formats', () => {
    expect(reportTargetPortGroups({ allocationLength: 128 }).cdb).toEqual(h('a3 0a 00 00 00 00 00 00 00 80 00 00'));
    expect(reportTargetPortGroups({ allocationLength: 128, extended: true }).cdb).toEqual(h('a3 2a 00 00 00 00 00 00 00 80 00 00'));
  });

  it('REQUEST SENSE with DESC', () => {
    expect(requestSense({ allocationLength: 96, descriptorFormat: true }).cdb).toEqual(h('03 01 00 00 60 00'));
  });

  it('REPORT LUNS select report', () => {
    expect(reportLuns({ selectReport: 2, allocationLength: 0x0100 }).cdb).toEqual(h('a0 00 02 00 00 00 00 00 01 00 00 00'));
  });
});

describe('argument checks', () => {
  it.each([
    [
      'READ(10) LBA >= 2^32',
      () => read10({ lba: 2 ** 32, blocks: 1, blockSize: 512 }),
      /READ\(10\): LBA 4294967296 does not fit in 32 bits/,
    ],
    [
      'READ(10) 65536 blocks',
      () => read10({ lba: 0, blocks: 65536, blockSize: 512 }),
      /READ\(10\): transfer length 65536 is not an integer in 0\.\.65535/,
    ],
    ['WRITE(10) negative LBA', () => write10({ lba: -1, blocks: 1, blockSize: 512 }), /LBA -1 does not fit/],
    ['READ(16) LBA >= 2^64', () => read16({ lba: 2n ** 64n, blocks: 1, blockSize: 512 }), /does not fit in 64 bits/],
    ['READ(16) unsafe number LBA', () => read16({ lba: 2 ** 60, blocks: 1, blockSize: 512 }), /not a safe integer; pass a bigint/],
    ['READ(16) fractional blocks', () => read16({ lba: 0, blocks: 1.5, blockSize: 512 }), /transfer length 1.5/],
    [
      'READ(16) beyond 32-bit EDTL',
      () => read16({ lba: 0, blocks: 2 ** 23, blockSize: 512 }),
      /exceed the 32-bit iSCSI Expected Data Transfer Length/,
    ],
    ['READ(16) block size 0', () => read16({ lba: 0, blocks: 1, blockSize: 0 }), /block size 0/],
    ['INQUIRY page 256', () => inquiry({ page: 256 }), /page code 256/],
    ['INQUIRY allocation length 65536', () => inquiry({ allocationLength: 65536 }), /allocation length 65536/],
    ['MODE SENSE(6) allocation length 256', () => modeSense6({ allocationLength: 256 }), /allocation length 256/],
    ['MODE SENSE page code 0x40', () => modeSense10({ pageCode: 0x40 }), /page code 64/],
    ['REPORT LUNS allocation length 15', () => reportLuns({ allocationLength: 15 }), /allocation length 15 is not an integer in 16\.\./],
    ['SYNCHRONIZE CACHE(10) 65536 blocks', () => synchronizeCache10({ blocks: 65536 }), /number of blocks 65536/],
    ['WRITE SAME(16) 2^32 blocks', () => writeSame16({ lba: 0, blocks: 2 ** 32, ndob: true }), /number of blocks 4294967296/],
    [
      'UNMAP too many descriptors',
      () => unmap(Array.from({ length: MAX_UNMAP_DESCRIPTORS + 1 }, () => ({ lba: 0, blocks: 1 }))),
      /4096 block descriptors exceed the 4095/,
    ],
    ['UNMAP blocks >= 2^32', () => unmap([{ lba: 0, blocks: 2 ** 32 }]), /number of logical blocks 4294967296/],
  ])('%s', (_name, build, message) => {
    expect(build).toThrow(RangeError);
    expect(build).toThrow(message);
  });
});

describe('READ(10) or READ(16)', () => {
  it('uses the 10-byte CDB only when LBA range and length fit', () => {
    expect(fitsCdb10(0, 65535)).toBe(true);
    expect(fitsCdb10(0, 65536)).toBe(false);
    expect(fitsCdb10(0xffff_ffff, 1)).toBe(true);
    expect(fitsCdb10(0xffff_ffff, 2)).toBe(false);
    expect(fitsCdb10(2n ** 32n, 0)).toBe(false);
    expect(fitsCdb10(-1, 1)).toBe(false);
  });

  it('readBlocks and writeBlocks pick the opcode', () => {
    expect(readBlocks({ lba: 100, blocks: 8, blockSize: 512 }).cdb[0]).toBe(0x28);
    expect(readBlocks({ lba: 2 ** 32, blocks: 8, blockSize: 512 }).cdb[0]).toBe(0x88);
    expect(writeBlocks({ lba: 100, blocks: 8, blockSize: 512, fua: true }).cdb.subarray(0, 2)).toEqual(h('2a 08'));
    expect(writeBlocks({ lba: 0, blocks: 70000, blockSize: 512, fua: true }).cdb.subarray(0, 2)).toEqual(h('8a 08'));
  });

  it('an invalid request still gets the 16-byte builder error', () => {
    expect(() => readBlocks({ lba: -5, blocks: 1, blockSize: 512 })).toThrow(/READ\(16\): LBA -5/);
  });
});

describe('UNMAP parameter list (SBC-3 §5.28.2)', () => {
  it('encodes header lengths and descriptors', () => {
    const list = encodeUnmapParameterList([
      { lba: 0x10, blocks: 8 },
      { lba: 2n ** 40n, blocks: 0xffff_ffff },
    ]);
    expect(list).toEqual(
      h(`00 26 00 20 00 00 00 00
         00 00 00 00 00 00 00 10 00 00 00 08 00 00 00 00
         00 00 01 00 00 00 00 00 ff ff ff ff 00 00 00 00`),
    );
    expect(decodeUnmapParameterList(list)).toEqual([
      { lba: 0x10n, blocks: 8 },
      { lba: 2n ** 40n, blocks: 0xffff_ffff },
    ]);
  });

  it('rejects inconsistent lists', () => {
    expect(() => decodeUnmapParameterList(h('00 06 00'))).toThrow(ScsiParseError);
    expect(() => decodeUnmapParameterList(h('00 0e 00 08 00 00 00 00 00 00 00 00 00 00 00 00'))).toThrow(/not a multiple of 16/);
    expect(() => decodeUnmapParameterList(h('00 16 00 10 00 00 00 00'))).toThrow(/16 bytes of block descriptors, 0 available/);
    expect(() => decodeUnmapParameterList(h(`00 06 00 10 00 00 00 00${' 00'.repeat(16)}`))).toThrow(/UNMAP DATA LENGTH 6/);
  });
});
