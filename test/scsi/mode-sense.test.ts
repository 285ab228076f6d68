import { describe, expect, it } from 'vitest';
import { findModePage, ModePage, parseCachingPage, parseModeSense10, parseModeSense6, ScsiParseError } from '../../src/scsi/index.js';
import { hexBytes as h, tgtd } from './fixtures.js';

describe('MODE SENSE(6)', () => {
  it('tgtd all pages', () => {
    const params = parseModeSense6(tgtd.modeSense6AllPages);
    expect(params).toMatchObject({
      format: 'MODE SENSE(6)',
      mediumType: 0,
      deviceSpecificParameter: 0x10,
      writeProtected: false,
      dpoFua: true,
      longLba: false,
      blockDescriptors: [{ numberOfBlocks: 0n, blockLength: 512 }],
      availableLength: 106,
      truncated: false,
    });
    expect(params.pages.map((p) => [p.pageCode, p.subpageCode, p.spf, p.data.length])).toEqual([
      [0x00, 0, false, 0],
      [0x02, 0, false, 14],
      [0x08, 0, false, 18],
      [0x0a, 0, false, 10],
      [0x0a, 1, true, 28],
      [0x1c, 0, false, 10],
    ]);
  });

  it('tgtd caching page: write cache on', () => {
    const caching = findModePage(parseModeSense6(tgtd.modeSense6AllPages), ModePage.CACHING);
    expect(caching).toBeDefined();
    expect(parseCachingPage(caching!)).toEqual({
      ic: false,
      abpf: false,
      cap: false,
      disc: true,
      size: false,
      wce: true,
      mf: false,
      rcd: false,
      fsw: true,
      lbcss: false,
      dra: false,
      nvDis: false,
    });
  });

  it('tgtd read-only LUN reports WP', () => {
    expect(parseModeSense6(tgtd.modeSense6AllPagesReadOnly)).toMatchObject({ writeProtected: true, dpoFua: true });
  });

  it('tgtd control page only', () => {
    const params = parseModeSense6(tgtd.modeSense6ControlPage);
    expect(params.pages).toHaveLength(1);
    expect(findModePage(params, ModePage.CONTROL)?.data).toEqual(h('02 10 00 00 00 00 00 00 02 00'));
  });

  it('allocation length cuts the pages', () => {
    const params = parseModeSense6(tgtd.modeSense6AllPages.subarray(0, 40));
    expect(params.truncated).toBe(true);
    expect(params.pages.map((p) => p.pageCode)).toEqual([0x00, 0x02]);
    expect(parseModeSense6(tgtd.modeSense6AllPages.subarray(0, 4)).blockDescriptors).toEqual([]);
  });

  it('malformed', () => {
    expect(() => parseModeSense6(h('03 00 00'))).toThrow(ScsiParseError);
    expect(() => parseModeSense6(h('0b 00 00 07 00 00 00 00 00 00 00 00'))).toThrow(/BLOCK DESCRIPTOR LENGTH 7 is not a multiple of 8/);
    expect(() => parseModeSense6(h('07 00 00 08 00 00 00 00'))).toThrow(/runs past the MODE DATA LENGTH/);
    expect(() => parseModeSense6(h('05 00 00 00 08 12'))).toThrow(
      /PAGE LENGTH 18 of page 0x08 runs past the MODE DATA LENGTH \(offset 4\)/,
    );
    expect(() => parseModeSense6(h('04 00 00 00 08'))).toThrow(/mode page header runs past/);
    expect(() => parseModeSense6(h('02 00'))).toThrow(/shorter than the header|needs 4 bytes/);
  });
});

describe('MODE SENSE(10) (hand-built from SPC-4 table 454 and SBC-3 table 174)', () => {
  it('long LBA block descriptor and a caching page without the SBC-3 tail', () => {
    const buf = h(`
      00 22 00 80 01 00 00 10
      00 00 00 01 00 00 00 00 00 00 00 00 00 00 10 00
      88 0a 05 00 00 00 00 00 00 00 00 00`);
    const params = parseModeSense10(buf);
    expect(params).toMatchObject({
      format: 'MODE SENSE(10)',
      writeProtected: true,
      dpoFua: false,
      longLba: true,
      blockDescriptors: [{ numberOfBlocks: 2n ** 32n, blockLength: 4096 }],
      availableLength: 36,
      truncated: false,
    });
    const caching = findModePage(params, ModePage.CACHING)!;
    expect(caching).toMatchObject({ ps: true, spf: false, offset: 24 });
    expect(parseCachingPage(caching)).toEqual({
      ic: false,
      abpf: false,
      cap: false,
      disc: false,
      size: false,
      wce: true,
      mf: false,
      rcd: true,
    });
  });

  it('not the caching page', () => {
    const params = parseModeSense6(tgtd.modeSense6ControlPage);
    expect(() => parseCachingPage(params.pages[0])).toThrow(/caching mode page: page is 0x0a\/0x00/);
  });
});
