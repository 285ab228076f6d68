/**
 * The libiscsi-format printer (src/cli/scsi-print.ts) on tgtd's captured bytes: sense in libiscsi's words,
 * iscsi-ls sizes, 0x83 designators in iscsi-inq's order and hex, and names libiscsi lacks.
 */
import { describe, expect, it } from 'vitest';
import { parseDeviceIdentification, parseStandardInquiry } from '../../src/scsi/inquiry.js';
import { deviceIdentificationLines, lsLunLine, lsSize, senseText, standardInquiryLines } from '../../src/cli/scsi-print.js';
import { tgtd } from '../scsi/fixtures.js';

describe('senseText', () => {
  it("prints libiscsi's words for the codes libiscsi names", () => {
    // As iscsi-inq 1.19 printed them against tgtd (a LUN with no LU; a VPD page tgtd does not have).
    expect(senseText({ key: 5, asc: 0x25, ascq: 0x00 })).toBe('SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:LOGICAL_UNIT_NOT_SUPPORTED(0x2500)');
    expect(senseText({ key: 5, asc: 0x24, ascq: 0x00 })).toBe('SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:INVALID_FIELD_IN_CDB(0x2400)');
    expect(senseText({ key: 2, asc: 0x3a, ascq: 0x00 })).toBe('SENSE KEY:NOT READY(2) ASCQ:MEDIUM_NOT_PRESENT(0x3a00)');
  });

  it('falls back to the SPC-4 / T10 name, underscored, where libiscsi prints UNKNOWN', () => {
    expect(senseText({ key: 3, asc: 0x11, ascq: 0x00 })).toBe('SENSE KEY:MEDIUM_ERROR(3) ASCQ:UNRECOVERED_READ_ERROR(0x1100)');
    expect(senseText({ key: 5, asc: 0xfe, ascq: 0xfe })).toBe('SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:UNKNOWN(0xfefe)');
  });
});

describe('iscsi-ls lines', () => {
  it('sizes as iscsi-ls: divided while above 1024, libiscsi unit letters', () => {
    expect(lsSize(16n * 1024n * 1024n - 512n)).toBe('15M');
    expect(lsSize(1024n)).toBe('1024 ');
    expect(lsSize(1025n)).toBe('1k');
    expect(lsSize(2n ** 40n - 512n)).toBe('1023G');
    expect(lsSize(2n ** 60n)).toBe('1048576T');
  });

  it('pads the LUN to four columns', () => {
    expect(lsLunLine(1, 0, '15M')).toBe('Lun:1    Type:DIRECT_ACCESS (Size:15M)');
    expect(lsLunLine(12345, 0x0c)).toBe('Lun:12345 Type:STORAGE_ARRAY_CONTROLLER');
    expect(lsLunLine(2, 0x05, undefined, true)).toBe('Lun:2    Type:MMC (No media loaded)');
  });
});

describe('iscsi-inq lines', () => {
  it('standard data with the identification fields at their widths', () => {
    const lines = standardInquiryLines(parseStandardInquiry(tgtd.standardInquiry));
    expect(lines).toContain('Vendor:IET     ');
    expect(lines).toContain('Product:VIRTUAL-DISK    ');
    expect(lines).toContain('Version:5 ANSI INCITS 408-2005 (SPC-3)');
    expect(lines.slice(-3)).toEqual(['Version Descriptor:04c0 SBC-3', 'Version Descriptor:0960 iSCSI', 'Version Descriptor:0300 SPC-3']);
  });

  it('0x83: last designator first as iscsi-inq numbers them, binary ones in hex', () => {
    const lines = deviceIdentificationLines(parseDeviceIdentification(tgtd.vpdDeviceIdentification));
    expect(lines.slice(0, 3)).toEqual([
      'Peripheral Qualifier:CONNECTED',
      'Peripheral Device Type:DIRECT_ACCESS',
      'Page Code:(0x83) DEVICE_IDENTIFICATION',
    ]);
    expect(lines.filter((l) => l.startsWith('Designator Type:'))).toEqual([
      'Designator Type:(3) NAA',
      'Designator Type:(3) NAA',
      'Designator Type:(1) T10_VENDORT_ID',
    ]);
    expect(lines).toContain('Designator:[ 60 00 00 00 00 00 00 00 0e 00 00 00 00 01 00 01]');
    expect(lines.at(-1)).toBe('Designator:[IET     00010001]');
  });
});
