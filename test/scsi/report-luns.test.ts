import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeLun, encodeLun, MAX_FLAT_SPACE_LUN, parseReportLuns, ScsiParseError, tryDecodeLun } from '../../src/scsi/index.js';
import { hexBytes as h, tgtd } from './fixtures.js';

describe('8-byte LUN field (SAM-5 §4.7)', () => {
  it('peripheral device addressing below 256, flat space from 256', () => {
    expect(encodeLun(0)).toEqual(h('00 00 00 00 00 00 00 00'));
    expect(encodeLun(1)).toEqual(h('00 01 00 00 00 00 00 00'));
    expect(encodeLun(255)).toEqual(h('00 ff 00 00 00 00 00 00'));
    expect(encodeLun(256)).toEqual(h('41 00 00 00 00 00 00 00'));
    expect(encodeLun(300)).toEqual(h('41 2c 00 00 00 00 00 00'));
    expect(encodeLun(16383)).toEqual(h('7f ff 00 00 00 00 00 00'));
  });

  it('rejects LUNs that need other structures', () => {
    for (const bad of [-1, 16384, 1.5, Number.NaN]) expect(() => encodeLun(bad)).toThrow(RangeError);
  });

  it('decodes at an offset, as in a PDU header (bytes 8-15)', () => {
    const bhs = Buffer.alloc(48);
    encodeLun(300).copy(bhs, 8);
    expect(decodeLun(bhs, 8)).toBe(300);
    expect(decodeLun(h('40 05 00 00 00 00 00 00'))).toBe(5);
  });

  it('other structures are not numbers', () => {
    for (const lun of ['01 2c 00 00 00 00 00 00', '80 01 00 00 00 00 00 00', 'c1 00 00 00 00 00 00 00', '00 01 40 02 00 00 00 00']) {
      expect(tryDecodeLun(h(lun))).toBeUndefined();
      expect(() => decodeLun(h(lun))).toThrow(ScsiParseError);
    }
    expect(() => decodeLun(h('00 01 00'))).toThrow(/LUN: LUN field needs 8 bytes, 3 available/);
  });

  it('round trip: decodeLun(encodeLun(n)) === n', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: MAX_FLAT_SPACE_LUN }), (n) => decodeLun(encodeLun(n)) === n));
  });
});

describe('REPORT LUNS', () => {
  it('tgtd with LUN 300 in flat space addressing', () => {
    expect(parseReportLuns(tgtd.reportLuns)).toEqual({ luns: [0, 1, 2, 300], unsupported: [], availableLength: 40, truncated: false });
  });

  it('tgtd with allocation length 16: the list is longer than returned', () => {
    expect(parseReportLuns(tgtd.reportLunsAlloc16)).toEqual({ luns: [0], unsupported: [], availableLength: 32, truncated: true });
  });

  it('keeps LUNs in other structures aside, drops a partial entry', () => {
    const data = parseReportLuns(h('00 00 00 18 00 00 00 00  00 07 00 00 00 00 00 00  c1 00 00 00 00 00 00 01  00 08 00 00'));
    expect(data.luns).toEqual([7]);
    expect(data.unsupported).toEqual([h('c1 00 00 00 00 00 00 01')]);
    expect(data.truncated).toBe(true);
  });

  it('malformed', () => {
    expect(() => parseReportLuns(h('00 00 00 08 00 00 00'))).toThrow(ScsiParseError);
    expect(() => parseReportLuns(h('00 00 00 09 00 00 00 00'))).toThrow(/LUN LIST LENGTH 9 is not a multiple of 8/);
  });
});
