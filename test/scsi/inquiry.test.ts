import { describe, expect, it } from 'vitest';
import {
  Association,
  CodeSet,
  type Designator,
  DesignatorType,
  parseBlockDeviceCharacteristics,
  parseBlockLimits,
  parseDeviceIdentification,
  parseLogicalBlockProvisioning,
  parseStandardInquiry,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  PeripheralDeviceType,
  PeripheralQualifier,
  ProtocolIdentifier,
  ProvisioningType,
  ScsiParseError,
  wwid,
} from '../../src/scsi/index.js';
import { hexBytes as h, tgtd } from './fixtures.js';

describe('standard INQUIRY', () => {
  it('tgtd LUN 1', () => {
    expect(parseStandardInquiry(tgtd.standardInquiry)).toEqual({
      peripheralQualifier: PeripheralQualifier.CONNECTED,
      peripheralDeviceType: PeripheralDeviceType.DIRECT_ACCESS_BLOCK,
      removable: false,
      version: 5,
      normAca: false,
      hiSup: true,
      responseDataFormat: 2,
      sccs: false,
      acc: false,
      tpgs: 0,
      thirdPartyCopy: false,
      protect: false,
      encServ: false,
      multiP: false,
      sync: false,
      cmdQue: true,
      vendor: 'IET',
      product: 'VIRTUAL-DISK',
      revision: '0001',
      versionDescriptors: [0x04c0, 0x0960, 0x0300],
      availableLength: 66,
      truncated: false,
    });
  });

  it('tgtd LUN 0 is a storage array controller', () => {
    const inq = parseStandardInquiry(tgtd.standardInquiryLun0);
    expect(inq.peripheralDeviceType).toBe(PeripheralDeviceType.STORAGE_ARRAY_CONTROLLER);
    expect(inq.product).toBe('Controller');
    expect(inq.truncated).toBe(true);
  });

  it('data cut by the allocation length', () => {
    const inq = parseStandardInquiry(tgtd.standardInquiryAlloc64);
    expect(inq).toMatchObject({ vendor: 'IET', availableLength: 66, truncated: true, versionDescriptors: [0x04c0, 0x0960, 0x0300] });
    const short = parseStandardInquiry(tgtd.standardInquiry.subarray(0, 20));
    expect(short).toMatchObject({ vendor: 'IET', product: 'VIRT', revision: '', versionDescriptors: [], truncated: true });
  });

  it('hand-built: qualifier 3 (no LU), RMB, TPGS both, 3PC, PROTECT', () => {
    const buf = Buffer.alloc(36);
    buf[0] = 0x7f;
    buf[1] = 0x80;
    buf[2] = 6;
    buf[3] = 0x32;
    buf[4] = 31;
    buf[5] = 0x39;
    buf[7] = 0x02;
    const inq = parseStandardInquiry(buf);
    expect(inq).toMatchObject({
      peripheralQualifier: PeripheralQualifier.NOT_SUPPORTED,
      peripheralDeviceType: PeripheralDeviceType.UNKNOWN_OR_NO_DEVICE_TYPE,
      removable: true,
      normAca: true,
      hiSup: true,
      tpgs: 3,
      thirdPartyCopy: true,
      protect: true,
      truncated: false,
    });
  });

  it('too short for the flags', () => {
    expect(() => parseStandardInquiry(h('00 00 05 12 3d'))).toThrow(ScsiParseError);
    expect(() => parseStandardInquiry(h('00 00 05 12 01 00 00 02'))).toThrow(/ADDITIONAL LENGTH 1/);
  });
});

describe('VPD 0x00 and 0x80', () => {
  it('tgtd supported pages', () => {
    expect(parseSupportedVpdPages(tgtd.vpdSupportedPages)).toEqual({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      pageCode: 0,
      pages: [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2],
      availableLength: 10,
      truncated: false,
    });
  });

  it('tgtd serial, right-aligned in spaces', () => {
    expect(parseUnitSerialNumber(tgtd.vpdUnitSerial).serialNumber).toBe('beaf11');
    // The field as sent, for iscsi-inq's `Unit Serial Number:[                              beaf11]`.
    expect(parseUnitSerialNumber(tgtd.vpdUnitSerial).serialNumberField).toBe(`${' '.repeat(30)}beaf11`);
  });

  it('a page other than the one asked for is an error', () => {
    expect(() => parseUnitSerialNumber(tgtd.vpdSupportedPages)).toThrow(/VPD page 0x80: PAGE CODE is 0x00 \(offset 1\)/);
  });

  it('padding beyond PAGE LENGTH is not part of the page', () => {
    expect(parseSupportedVpdPages(Buffer.concat([tgtd.vpdSupportedPages, Buffer.alloc(54)])).pages).toHaveLength(6);
  });
});

describe('VPD 0x83 device identification', () => {
  it('tgtd: T10 vendor ID, NAA locally assigned, NAA IEEE registered extended', () => {
    const page = parseDeviceIdentification(tgtd.vpdDeviceIdentification);
    expect(page.truncated).toBe(false);
    expect(page.designators.map(({ designator: _d, ...rest }) => rest)).toEqual([
      {
        codeSet: CodeSet.ASCII,
        piv: false,
        association: Association.LOGICAL_UNIT,
        designatorType: DesignatorType.T10_VENDOR_ID,
        kind: 't10-vendor-id',
        vendorId: 'IET',
        vendorSpecific: '00010001',
      },
      { codeSet: CodeSet.BINARY, piv: false, association: 0, designatorType: 3, kind: 'naa', naaType: 3, id: '3000000100000001' },
      {
        codeSet: CodeSet.BINARY,
        piv: false,
        association: 0,
        designatorType: 3,
        kind: 'naa',
        naaType: 6,
        id: '60000000000000000e00000000010001',
      },
    ]);
    expect(wwid(page.designators)).toBe('360000000000000000e00000000010001');
  });

  it('tgtd with allocation length 64: the cut designator is left out', () => {
    const page = parseDeviceIdentification(tgtd.vpdDeviceIdentificationAlloc64);
    expect(page).toMatchObject({ truncated: true, availableLength: 76 });
    expect(page.designators.map((d) => d.kind)).toEqual(['t10-vendor-id', 'naa']);
    // Without the NAA 6 designator the T10 vendor ID outranks NAA locally assigned, as in multipath-tools.
    expect(wwid(page.designators)).toBe('1IET_00010001');
  });

  // Hand-built from SPC-4 §7.8.6: an iSCSI target port and device as LIO reports them, plus EUI-64.
  const lio = h(`
    00 83 00 64
    01 03 00 10 60 01 40 51 23 45 67 89 ab cd ef 01 23 45 67 89
    01 02 00 08 00 11 22 33 44 55 66 77
    51 94 00 04 00 00 00 02
    51 95 00 04 00 00 00 01
    53 a8 00 28 69 71 6e 2e 32 30 30 33 2d 30 31 2e 6f 72 67 2e 6c 69 6e 75 78 2d 69 73 63 73 69 3a 78 2c 74 2c 30 78 31 00 00 00 00 00
    01 06 00 04 00 00 00 07`);

  it('hand-built LIO-style page: ports, groups, name string, protocol identifier', () => {
    const page = parseDeviceIdentification(lio);
    const [naa, eui, port, group, name, luGroup] = page.designators as Designator[];
    expect(naa).toMatchObject({ kind: 'naa', naaType: 6, id: '6001405123456789abcdef0123456789' });
    expect(eui).toMatchObject({ kind: 'eui-64', id: '0011223344556677' });
    expect(port).toMatchObject({
      kind: 'relative-target-port',
      relativeTargetPort: 2,
      association: Association.TARGET_PORT,
      piv: true,
      protocolIdentifier: ProtocolIdentifier.ISCSI,
    });
    expect(group).toMatchObject({ kind: 'target-port-group', targetPortGroup: 1 });
    expect(name).toMatchObject({
      kind: 'scsi-name-string',
      name: 'iqn.2003-01.org.linux-iscsi:x,t,0x1',
      association: Association.TARGET_DEVICE,
      codeSet: CodeSet.UTF8,
    });
    expect(luGroup).toMatchObject({ kind: 'logical-unit-group', logicalUnitGroup: 7 });
    expect('protocolIdentifier' in naa).toBe(false);
    expect(wwid(page.designators)).toBe('36001405123456789abcdef0123456789');
  });

  it('malformed pages throw ScsiParseError with the offset', () => {
    // DESIGNATOR LENGTH 0x20 runs past PAGE LENGTH 0x0c.
    expect(() => parseDeviceIdentification(h('00 83 00 0c 01 03 00 20 60 00 00 00 00 00 00 00'))).toThrow(
      /VPD page 0x83: DESIGNATOR LENGTH 32 runs past the PAGE LENGTH \(offset 4\)/,
    );
    // Two stray bytes after the last designator.
    expect(() => parseDeviceIdentification(h('00 83 00 06 01 00 00 00 00 00'))).toThrow(/header runs past the PAGE LENGTH \(offset 8\)/);
    // A relative target port designator needs 4 bytes.
    expect(() => parseDeviceIdentification(h('00 83 00 06 01 14 00 02 00 01'))).toThrow(/relative target port designator needs 4 bytes/);
  });
});

describe('wwid() follows multipath-tools', () => {
  const naa = (type: number, length: number, association = 0): Designator => {
    const designator = Buffer.alloc(length, 0x11);
    designator[0] = (type << 4) | 1;
    return {
      codeSet: 1,
      piv: false,
      association,
      designatorType: 3,
      designator,
      kind: 'naa',
      naaType: type,
      id: designator.toString('hex'),
    };
  };
  const eui = (length: number): Designator => {
    const designator = Buffer.alloc(length, 0xee);
    return { codeSet: 1, piv: false, association: 0, designatorType: 2, designator, kind: 'eui-64', id: designator.toString('hex') };
  };
  const name = (text: string): Designator => {
    const designator = Buffer.from(`${text}\0\0\0`);
    return { codeSet: 3, piv: false, association: 0, designatorType: 8, designator, kind: 'scsi-name-string', name: text };
  };
  const t10 = (text: string): Designator => {
    const designator = Buffer.from(text, 'latin1');
    return {
      codeSet: 2,
      piv: false,
      association: 0,
      designatorType: 1,
      designator,
      kind: 't10-vendor-id',
      vendorId: '',
      vendorSpecific: '',
    };
  };

  it('ranks NAA 6 > 5 > 2 > EUI-64 > SCSI name > T10 vendor ID > NAA 3', () => {
    const ordered = [naa(6, 16), naa(5, 8), naa(2, 8), eui(8), name('naa.60014050ABCD'), t10('LIO-ORG disk'), naa(3, 8)];
    for (let i = 0; i < ordered.length; i++) {
      const rest = ordered.slice(i);
      expect(wwid([...rest].reverse())).toBe(wwid([rest[0]]));
    }
    expect(wwid([naa(5, 8)])).toBe(`3${'51'.padEnd(16, '1')}`);
    expect(wwid([eui(12)])).toBe(`2${'ee'.repeat(12)}`);
  });

  it('formats SCSI name strings and T10 vendor IDs like multipath-tools', () => {
    expect(wwid([name('naa.60014050ABCD')])).toBe('360014050abcd');
    expect(wwid([name('eui.0011AABB')])).toBe('20011aabb');
    expect(wwid([name('iqn.2026-11.test:X')])).toBe('82026-11.test:X');
    expect(wwid([t10('LIO-ORG  disk   17  ')])).toBe('1LIO-ORG_disk_17');
  });

  it('ignores non-LU associations, wrong lengths and unknown name prefixes', () => {
    expect(wwid([naa(6, 16, Association.TARGET_PORT)])).toBeUndefined();
    expect(wwid([naa(6, 8), naa(5, 16), eui(10), name('foo.bar'), t10('short')])).toBeUndefined();
    expect(wwid([])).toBeUndefined();
  });

  it('keeps the first of equally ranked designators', () => {
    const first = naa(6, 16);
    const second = naa(6, 16);
    second.designator[15] = 0x22;
    expect(wwid([first, second])).toBe(`3${first.designator.toString('hex')}`);
    expect(wwid([second, first])).toBe(`3${second.designator.toString('hex')}`);
  });
});

describe('VPD 0xB0 block limits', () => {
  it('tgtd', () => {
    expect(parseBlockLimits(tgtd.vpdBlockLimits)).toEqual({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      pageCode: 0xb0,
      availableLength: 64,
      truncated: false,
      wsnz: false,
      maximumCompareAndWriteLength: 128,
      optimalTransferLengthGranularity: 0,
      maximumTransferLength: 0,
      optimalTransferLength: 0,
      maximumPrefetchLength: 0,
      maximumUnmapLbaCount: 0,
      maximumUnmapBlockDescriptorCount: 0,
      optimalUnmapGranularity: 0,
      unmapGranularityAlignmentValid: false,
      unmapGranularityAlignment: 0,
      maximumWriteSameLength: 0n,
    });
  });

  it('hand-built LIO-like limits (SBC-3 table 193)', () => {
    const buf = Buffer.alloc(64);
    buf.writeUInt16BE(0xb0, 0);
    buf.writeUInt16BE(0x3c, 2);
    buf[4] = 0x01;
    buf[5] = 1;
    buf.writeUInt16BE(8, 6);
    buf.writeUInt32BE(16384, 8);
    buf.writeUInt32BE(2048, 12);
    buf.writeUInt32BE(0xffff_ffff, 20);
    buf.writeUInt32BE(1, 24);
    buf.writeUInt32BE(8, 28);
    buf.writeUInt32BE(0x8000_0003, 32);
    buf.writeBigUInt64BE(0x1_0000_0000n, 36);
    expect(parseBlockLimits(buf)).toMatchObject({
      wsnz: true,
      maximumCompareAndWriteLength: 1,
      optimalTransferLengthGranularity: 8,
      maximumTransferLength: 16384,
      optimalTransferLength: 2048,
      maximumUnmapLbaCount: 0xffff_ffff,
      maximumUnmapBlockDescriptorCount: 1,
      optimalUnmapGranularity: 8,
      unmapGranularityAlignmentValid: true,
      unmapGranularityAlignment: 3,
      maximumWriteSameLength: 0x1_0000_0000n,
    });
  });

  it('an SBC-2 page (length 0x0c) has no unmap fields', () => {
    const limits = parseBlockLimits(h('00 b0 00 0c 00 00 00 00 00 00 01 00 00 00 00 80'));
    expect(limits.maximumTransferLength).toBe(256);
    expect(limits.maximumUnmapLbaCount).toBeUndefined();
    expect('maximumWriteSameLength' in limits).toBe(false);
  });

  it('fewer than 16 bytes is an error', () => {
    expect(() => parseBlockLimits(tgtd.vpdBlockLimits.subarray(0, 12))).toThrow(ScsiParseError);
  });
});

describe('VPD 0xB1 block device characteristics', () => {
  it('tgtd LUN 1: nothing reported', () => {
    expect(parseBlockDeviceCharacteristics(tgtd.vpdBlockDeviceCharacteristics)).toEqual({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      pageCode: 0xb1,
      availableLength: 68,
      truncated: false,
      mediumRotationRate: 0,
      productType: 0,
      wabereq: 0,
      wacereq: 0,
      nominalFormFactor: 0,
      zoned: 0,
      fuab: false,
      vbuls: false,
    });
  });

  it('decodes every field at its SBC-4 offset', () => {
    // A solid-state 2.5" device (rotation rate 1, form factor 3), WABEREQ 1, WACEREQ 2, host aware, FUAB and VBULS.
    const page = parseBlockDeviceCharacteristics(h('00 b1 00 3c 00 01 05 63 13 00 00 00'));
    expect(page).toMatchObject({
      mediumRotationRate: 1,
      productType: 5,
      wabereq: 1,
      wacereq: 2,
      nominalFormFactor: 3,
      zoned: 1,
      fuab: true,
      vbuls: true,
      truncated: true,
    });
    expect(parseBlockDeviceCharacteristics(h('00 b1 00 3c 1c 20 00 00')).mediumRotationRate).toBe(7200);
  });

  it('refuses a page that stops before NOMINAL FORM FACTOR', () => {
    expect(() => parseBlockDeviceCharacteristics(h('00 b1 00 02 00 01'))).toThrow(/VPD page 0xb1/);
  });
});

describe('VPD 0xB2 logical block provisioning', () => {
  it('tgtd: nothing supported', () => {
    expect(parseLogicalBlockProvisioning(tgtd.vpdLogicalBlockProvisioning)).toEqual({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      pageCode: 0xb2,
      availableLength: 8,
      truncated: false,
      thresholdExponent: 0,
      lbpu: false,
      lbpws: false,
      lbpws10: false,
      lbprz: 0,
      anchorSupported: false,
      descriptorPresent: false,
      minimumPercentage: 0,
      provisioningType: ProvisioningType.FULL,
      thresholdPercentage: 0,
    });
  });

  it('hand-built thin LU with a provisioning group descriptor (SBC-3 table 190)', () => {
    const page = parseLogicalBlockProvisioning(h('00 b2 00 10 0c e7 52 05 01 03 00 08 60 01 40 50 00 00 00 01'));
    expect(page).toMatchObject({
      thresholdExponent: 12,
      lbpu: true,
      lbpws: true,
      lbpws10: true,
      lbprz: 1,
      anchorSupported: true,
      descriptorPresent: true,
      minimumPercentage: 10,
      provisioningType: ProvisioningType.THIN_PROVISIONED,
      thresholdPercentage: 5,
      provisioningGroup: { kind: 'naa', naaType: 6, id: '6001405000000001' },
    });
  });
});
