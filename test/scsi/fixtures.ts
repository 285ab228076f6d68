/**
 * Byte fixtures captured from a real target: tgtd 1.0.85 (Debian tgt 1:1.0.85-1+deb12u1) with a 64 MiB
 * file as LUN 1, an 8 MiB file as LUN 2 and a 4 MiB file as LUN 300, queried by libiscsi 1.19 tools
 * (iscsi-inq, iscsi-readcapacity16, iscsi-ls, iscsi-test-cu) through a recording TCP proxy on 127.0.0.1.
 * Each value is the Data-In payload (or the sense data of the SCSI Response) for the CDB named.
 */

const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

export const tgtd = {
  /** INQUIRY alloc 66 (12 00 00 00 42 00), LUN 1: the full 66 bytes. */
  standardInquiry: h(`
    00 00 05 12 3d 00 00 02 49 45 54 20 20 20 20 20 56 49 52 54 55 41 4c 2d 44 49 53 4b 20 20 20 20
    30 30 30 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 04 c0 09 60 03 00
    00 00`),
  /** INQUIRY alloc 64 (12 00 00 00 40 00), LUN 1: cut 2 bytes short of ADDITIONAL LENGTH 0x3d. */
  standardInquiryAlloc64: h(`
    00 00 05 12 3d 00 00 02 49 45 54 20 20 20 20 20 56 49 52 54 55 41 4c 2d 44 49 53 4b 20 20 20 20
    30 30 30 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 04 c0 09 60 03 00`),
  /** INQUIRY alloc 64, LUN 0: tgtd's storage array controller LU. */
  standardInquiryLun0: h(`
    0c 00 05 12 3d 00 00 02 49 45 54 20 20 20 20 20 43 6f 6e 74 72 6f 6c 6c 65 72 20 20 20 20 20 20
    30 30 30 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 04 c0 09 60 01 fb`),
  /** INQUIRY EVPD page 0x00 alloc 64. */
  vpdSupportedPages: h('00 00 00 06 00 80 83 b0 b1 b2'),
  /** INQUIRY EVPD page 0x80 alloc 64. */
  vpdUnitSerial: h(`
    00 80 00 24 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20 20
    20 20 62 65 61 66 31 31`),
  /** INQUIRY EVPD page 0x83 alloc 76 (12 01 83 00 4c 00), LUN 1: T10 vendor ID, NAA 3, NAA 6. */
  vpdDeviceIdentification: h(`
    00 83 00 48 02 01 00 24 49 45 54 20 20 20 20 20 30 30 30 31 30 30 30 31 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 01 03 00 08 30 00 00 01 00 00 00 01 01 03 00 10 60 00 00 00
    00 00 00 00 0e 00 00 00 00 01 00 01`),
  /** INQUIRY EVPD page 0x83 alloc 64, LUN 1: PAGE LENGTH 0x48 but 64 bytes, the NAA 6 designator cut. */
  vpdDeviceIdentificationAlloc64: h(`
    00 83 00 48 02 01 00 24 49 45 54 20 20 20 20 20 30 30 30 31 30 30 30 31 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 01 03 00 08 30 00 00 01 00 00 00 01 01 03 00 10 60 00 00 00`),
  /** INQUIRY EVPD page 0xB0 alloc 64. */
  vpdBlockLimits: h(`
    00 b0 00 3c 00 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`),
  /** INQUIRY EVPD page 0xB1, LUN 1 (captured with mpiscsi inq -e 1 -c 0xb1 from the same tgtd): PAGE LENGTH 0x40, all zero. */
  vpdBlockDeviceCharacteristics: h(`
    00 b1 00 40 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
    00 00 00 00`),
  /** INQUIRY EVPD page 0xB2 alloc 64. */
  vpdLogicalBlockProvisioning: h('00 b2 00 04 00 00 00 00'),
  /** READ CAPACITY(10), LUN 1 (64 MiB of 512-byte blocks). */
  readCapacity10: h('00 01 ff ff 00 00 02 00'),
  /** READ CAPACITY(16) alloc 32, LUN 1: 4096-byte physical blocks (exponent 3). */
  readCapacity16: h(`
    00 00 00 00 00 01 ff ff 00 00 02 00 00 03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00`),
  /** REPORT LUNS alloc 16: LUN LIST LENGTH 24, only LUN 0 fits. */
  reportLunsAlloc16: h('00 00 00 18 00 00 00 00 00 00 00 00 00 00 00 00'),
  /** REPORT LUNS alloc 40 after adding LUN 300: tgtd uses flat space addressing (41 2c) above 255. */
  reportLuns: h(`
    00 00 00 20 00 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00
    41 2c 00 00 00 00 00 00`),
  /** MODE SENSE(6) all pages (1a 00 3f 00 ff 00), LUN 1: empty vendor page 0, then 02, 08, 0a, 0a/01, 1c. */
  modeSense6AllPages: h(`
    69 00 10 08 00 00 00 00 00 00 02 00 00 00 02 0e 80 80 00 0a 00 00 00 00 00 00 00 00 00 00 08 12
    14 00 ff ff 00 00 ff ff ff ff 80 14 00 00 00 00 00 00 0a 0a 02 10 00 00 00 00 00 00 02 00 4a 01
    00 1c 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1c 0a
    08 00 00 00 00 00 00 00 00 00`),
  /** The same on LUN 2 after `tgtadm --op update --params readonly=1`: WP set in the device-specific byte. */
  modeSense6AllPagesReadOnly: h(`
    69 00 90 08 00 00 00 00 00 00 02 00 00 00 02 0e 80 80 00 0a 00 00 00 00 00 00 00 00 00 00 08 12
    14 00 ff ff 00 00 ff ff ff ff 80 14 00 00 00 00 00 00 0a 0a 02 10 00 00 00 00 00 00 02 00 4a 01
    00 1c 04 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 1c 0a
    08 00 00 00 00 00 00 00 00 00`),
  /** MODE SENSE(6) control page (1a 00 0a 00 ff 00), LUN 1. */
  modeSense6ControlPage: h('17 00 10 08 00 00 00 00 00 00 02 00 0a 0a 02 10 00 00 00 00 00 00 02 00'),
  /** TEST UNIT READY right after login: UNIT ATTENTION, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED. */
  senseUnitAttentionReset: h('70 00 06 00 00 00 00 0a 00 00 00 00 29 00 00 00 00 00'),
  /** READ(10) at LBA 0x1ffff + 1 (28 00 00 02 00 00 00 00 01 00): LOGICAL BLOCK ADDRESS OUT OF RANGE. */
  senseLbaOutOfRange: h('70 00 05 00 00 00 00 0a 00 00 00 00 21 00 00 00 00 00'),
  /** INQUIRY EVPD page 0x99: INVALID FIELD IN CDB. */
  senseInvalidFieldInCdb: h('70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 00 00 00'),
  /** READ CAPACITY(16) to LUN 300 encoded by libiscsi as 01 2c (bus 1): LOGICAL UNIT NOT SUPPORTED. */
  senseLunNotSupported: h('70 00 05 00 00 00 00 0a 00 00 00 00 25 00 00 00 00 00'),
  /** WRITE ATOMIC(16) (0x9c), not implemented by tgtd: INVALID COMMAND OPERATION CODE. */
  senseInvalidOpcode: h('70 00 05 00 00 00 00 0a 00 00 00 00 20 00 00 00 00 00'),
  /** WRITE(16) to a read-only LUN: DATA PROTECT, WRITE PROTECTED. */
  senseWriteProtected: h('70 00 07 00 00 00 00 0a 00 00 00 00 27 00 00 00 00 00'),
} as const;

/** CDBs libiscsi 1.19 sent in the same capture, to compare our builders with another initiator's bytes. */
export const libiscsiCdbs = {
  testUnitReady: h('00 00 00 00 00 00'),
  inquiryStandard64: h('12 00 00 00 40 00'),
  inquiryVpd83Alloc76: h('12 01 83 00 4c 00'),
  readCapacity10: h('25 00 00 00 00 00 00 00 00 00'),
  readCapacity16Alloc32: h('9e 10 00 00 00 00 00 00 00 00 00 00 00 20 00 00'),
  reportLunsAlloc16: h('a0 00 00 00 00 00 00 00 00 10 00 00'),
  modeSense6AllPages: h('1a 00 3f 00 ff 00'),
  read10OneBlockAt0x20000: h('28 00 00 02 00 00 00 00 01 00'),
  read16OneBlockAt0: h('88 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00'),
  write16OneBlockAt0: h('8a 00 00 00 00 00 00 00 00 00 00 00 00 01 00 00'),
  preFetch16OneBlockAt0x20000: h('90 00 00 00 00 00 00 02 00 00 00 00 00 01 00 00'),
} as const;

export { h as hexBytes };
