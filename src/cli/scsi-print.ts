/**
 * The text the SCSI tools print, in libiscsi's formats: `mpiscsi inq` as iscsi-inq (standard data and VPD
 * pages 0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2), `readcap` as iscsi-readcapacity16, `ls -s` LUN lines as iscsi-ls,
 * and sense data as libiscsi's `SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:LOGICAL_UNIT_NOT_SUPPORTED(0x2500)`.
 *
 * The names are libiscsi's spellings (libiscsi 1.19-1.20, lib/scsi-lowlevel.c), typos and all
 * (`T10_VENDORT_ID`, `ReponseDataFormat`, `SEQURITY_MANAGER`): scripts written against iscsi-inq grep for
 * them. Where libiscsi has no name and prints `unknown`, ours (SPC-4/SBC-4) is printed when we have one.
 * Binary designators are printed in hex, ` 60 00 ...`, as libiscsi does since 1.20.3 (1.19 printed the raw
 * bytes as a C string, cut at the first NUL). Pure functions from parsed data to lines; no I/O.
 */
import type { ReadCapacity16Data } from '../scsi/capacity.js';
import type {
  BlockDeviceCharacteristics,
  BlockLimits,
  Designator,
  DeviceIdentification,
  LogicalBlockProvisioning,
  StandardInquiry,
  SupportedVpdPages,
  UnitSerialNumber,
} from '../scsi/inquiry.js';
import { ascDescription } from '../scsi/sense-codes.js';
import { senseKeyName as spcSenseKeyName, type SenseData } from '../scsi/sense.js';

/** libiscsi's scsi_devtype_to_str, plus SBC-4's zoned block device (0x14), which libiscsi calls unknown. */
const DEVICE_TYPES: ReadonlyMap<number, string> = new Map([
  [0x00, 'DIRECT_ACCESS'],
  [0x01, 'SEQUENTIAL_ACCESS'],
  [0x02, 'PRINTER'],
  [0x03, 'PROCESSOR'],
  [0x04, 'WRITE_ONCE'],
  [0x05, 'MMC'],
  [0x06, 'SCANNER'],
  [0x07, 'OPTICAL_MEMORY'],
  [0x08, 'MEDIA_CHANGER'],
  [0x09, 'COMMUNICATIONS'],
  [0x0c, 'STORAGE_ARRAY_CONTROLLER'],
  [0x0d, 'ENCLOSURE_SERVICES'],
  [0x0e, 'SIMPLIFIED_DIRECT_ACCESS'],
  [0x0f, 'OPTICAL_CARD_READER'],
  [0x10, 'BRIDGE_CONTROLLER'],
  [0x11, 'OSD'],
  [0x12, 'AUTOMATION'],
  [0x13, 'SEQURITY_MANAGER'],
  [0x14, 'HOST_MANAGED_ZONED_BLOCK'],
  [0x1e, 'WELL_KNOWN_LUN'],
  [0x1f, 'UNKNOWN'],
]);

export function deviceTypeName(type: number): string {
  return DEVICE_TYPES.get(type) ?? 'unknown';
}

/** libiscsi's scsi_devqualifier_to_str. */
const QUALIFIERS: ReadonlyMap<number, string> = new Map([
  [0, 'CONNECTED'],
  [1, 'DISCONNECTED'],
  [3, 'NOT_SUPPORTED'],
]);

export function qualifierName(qualifier: number): string {
  return QUALIFIERS.get(qualifier) ?? 'unknown';
}

/** libiscsi's scsi_version_to_str (SPC to SPC-3), then SPC-4 and SPC-5, which libiscsi calls unknown. */
const VERSIONS: ReadonlyMap<number, string> = new Map([
  [3, 'ANSI INCITS 301-1997 (SPC)'],
  [4, 'ANSI INCITS 351-2001 (SPC-2)'],
  [5, 'ANSI INCITS 408-2005 (SPC-3)'],
  [6, 'ANSI INCITS 513-2015 (SPC-4)'],
  [7, 'ANSI INCITS 502-2019 (SPC-5)'],
]);

/** libiscsi's scsi_version_descriptor_to_str. */
const VERSION_DESCRIPTORS: ReadonlyMap<number, string> = new Map([
  [0x0960, 'iSCSI'],
  [0x0180, 'SBC'],
  [0x019c, 'SBC ANSI INCITS 306-1998'],
  [0x019b, 'SBC T10/0996-D revision 08c'],
  [0x0320, 'SBC-2'],
  [0x033e, 'SBC-2 ISO/IEC 14776-322'],
  [0x033d, 'SBC-2 ANSI INCITS 405-2005'],
  [0x033b, 'SBC-2 T10/1417-D revision 16'],
  [0x0322, 'SBC-2 T10/1417-D revision 5A'],
  [0x0324, 'SBC-2 T10/1417-D revision 15'],
  [0x04c0, 'SBC-3'],
  [0x0120, 'SPC'],
  [0x013c, 'SPC ANSI INCITS 301-1997'],
  [0x013b, 'SPC T10/0995-D revision 11a'],
  [0x0260, 'SPC-2'],
  [0x0278, 'SPC-2 ISO.IEC 14776-452'],
  [0x0277, 'SPC-2 ANSI INCITS 351-2001'],
  [0x0276, 'SPC-2 T10/1236-D revision 20'],
  [0x0267, 'SPC-2 T10/1236-D revision 12'],
  [0x0269, 'SPC-2 T10/1236-D revision 18'],
  [0x0275, 'SPC-2 T10/1236-D revision 19'],
  [0x0300, 'SPC-3'],
  [0x0316, 'SPC-3 ISO/IEC 14776-453'],
  [0x0314, 'SPC-3 ANSI INCITS 408-2005'],
  [0x0301, 'SPC-3 T10/1416-D revision 7'],
  [0x0307, 'SPC-3 T10/1416-D revision 21'],
  [0x030f, 'SPC-3 T10/1416-D revision 22'],
  [0x0312, 'SPC-3 T10/1416-D revision 23'],
  [0x0460, 'SPC-4'],
  [0x0461, 'SPC-4 T10/1731-D revision 16'],
  [0x0462, 'SPC-4 T10/1731-D revision 18'],
  [0x0463, 'SPC-4 T10/1731-D revision 23'],
  [0x0200, 'SSC'],
  [0x1747, 'UAS T10/2095-D revision 04'],
]);

/** libiscsi's scsi_inquiry_pagecode_to_str. */
const PAGE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x00, 'SUPPORTED_VPD_PAGES'],
  [0x80, 'UNIT_SERIAL_NUMBER'],
  [0x83, 'DEVICE_IDENTIFICATION'],
  [0xb0, 'BLOCK_LIMITS'],
  [0xb1, 'BLOCK_DEVICE_CHARACTERISTICS'],
  [0xb2, 'LOGICAL_BLOCK_PROVISIONING'],
]);

export function pageName(page: number): string {
  return PAGE_NAMES.get(page) ?? 'unknown';
}

/** libiscsi's scsi_protocol_identifier_to_str (4 is SRP, which libiscsi calls RDMA). */
const PROTOCOLS: ReadonlyMap<number, string> = new Map([
  [0, 'FIBRE_CHANNEL'],
  [1, 'PARALLEL_SCSI'],
  [2, 'SSA'],
  [3, 'IEEE_1394'],
  [4, 'RDMA'],
  [5, 'ISCSI'],
  [6, 'SAS'],
  [7, 'ADT'],
  [8, 'ATA'],
]);

const CODE_SETS: ReadonlyMap<number, string> = new Map([
  [1, 'BINARY'],
  [2, 'ASCII'],
  [3, 'UTF8'],
]);
const ASSOCIATIONS: ReadonlyMap<number, string> = new Map([
  [0, 'LOGICAL_UNIT'],
  [1, 'TARGET_PORT'],
  [2, 'TARGET_DEVICE'],
]);

/** libiscsi's scsi_designator_type_to_str (its spelling of T10 VENDOR ID kept), plus SPC-4's UUID. */
const DESIGNATOR_TYPES: ReadonlyMap<number, string> = new Map([
  [0x0, 'VENDOR_SPECIFIC'],
  [0x1, 'T10_VENDORT_ID'],
  [0x2, 'EUI_64'],
  [0x3, 'NAA'],
  [0x4, 'RELATIVE_TARGET_PORT'],
  [0x5, 'TARGET_PORT_GROUP'],
  [0x6, 'LOGICAL_UNIT_GROUP'],
  [0x7, 'MD5_LOGICAL_UNIT_IDENTIFIER'],
  [0x8, 'SCSI_NAME_STRING'],
  [0xa, 'UUID'],
]);

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
const flag = (b: boolean | undefined): number => (b ? 1 : 0);

/** iscsi-inq's standard INQUIRY lines. Vendor, product and revision are printed at their field widths, as libiscsi copies them. */
export function standardInquiryLines(inq: StandardInquiry): string[] {
  const lines = [
    `Peripheral Qualifier:${qualifierName(inq.peripheralQualifier)}`,
    `Peripheral Device Type:${deviceTypeName(inq.peripheralDeviceType)}`,
    `Removable:${flag(inq.removable)}`,
    `Version:${inq.version} ${VERSIONS.get(inq.version) ?? 'unknown'}`,
    `NormACA:${flag(inq.normAca)}`,
    `HiSup:${flag(inq.hiSup)}`,
    `ReponseDataFormat:${inq.responseDataFormat}`,
    `SCCS:${flag(inq.sccs)}`,
    `ACC:${flag(inq.acc)}`,
    `TPGS:${inq.tpgs}`,
    `3PC:${flag(inq.thirdPartyCopy)}`,
    `Protect:${flag(inq.protect)}`,
    `EncServ:${flag(inq.encServ)}`,
    `MultiP:${flag(inq.multiP)}`,
    `SYNC:${flag(inq.sync)}`,
    `CmdQue:${flag(inq.cmdQue)}`,
    // SPC-4: left-aligned ASCII padded with spaces; our parser trims them, libiscsi prints the whole field.
    `Vendor:${inq.vendor.padEnd(8)}`,
    `Product:${inq.product.padEnd(16)}`,
    `Revision:${inq.revision.padEnd(4)}`,
  ];
  for (const d of inq.versionDescriptors)
    lines.push(`Version Descriptor:${d.toString(16).padStart(4, '0')} ${VERSION_DESCRIPTORS.get(d) ?? 'unknown'}`);
  return lines;
}

export function supportedPagesLines(p: SupportedVpdPages): string[] {
  return p.pages.map((page) => `Page:0x${hex2(page)} ${pageName(page)}`);
}

export function unitSerialLines(p: UnitSerialNumber): string[] {
  return [`Unit Serial Number:[${p.serialNumberField}]`];
}

/** The designator as iscsi-inq prints it: hex bytes for the binary code set, the text (to a NUL) otherwise. */
function designatorText(d: Designator): string {
  if (d.codeSet === 1) return [...d.designator].map((b) => ` ${hex2(b)}`).join('');
  const nul = d.designator.indexOf(0);
  return d.designator.toString(d.codeSet === 3 ? 'utf8' : 'latin1', 0, nul === -1 ? d.designator.length : nul);
}

/**
 * iscsi-inq's 0x83 lines. The designators come last in the page first, numbered from #0, as iscsi-inq prints
 * them (libiscsi builds its list by prepending), so that `DEVICE DESIGNATOR #N` names the same one in both.
 */
export function deviceIdentificationLines(p: DeviceIdentification): string[] {
  const lines = [
    `Peripheral Qualifier:${qualifierName(p.peripheralQualifier)}`,
    `Peripheral Device Type:${deviceTypeName(p.peripheralDeviceType)}`,
    `Page Code:(0x${hex2(p.pageCode)}) ${pageName(p.pageCode)}`,
  ];
  [...p.designators].reverse().forEach((d, i) => {
    lines.push(`DEVICE DESIGNATOR #${i}`);
    // Our parser keeps PROTOCOL IDENTIFIER only where SPC-4 gives it meaning (PIV set, a port or device).
    if (d.protocolIdentifier !== undefined)
      lines.push(`Device Protocol Identifier:(${d.protocolIdentifier}) ${PROTOCOLS.get(d.protocolIdentifier) ?? 'unknown'}`);
    lines.push(
      `Code Set:(${d.codeSet}) ${CODE_SETS.get(d.codeSet) ?? 'unknown'}`,
      `PIV:${flag(d.piv)}`,
      `Association:(${d.association}) ${ASSOCIATIONS.get(d.association) ?? 'unknown'}`,
      `Designator Type:(${d.designatorType}) ${DESIGNATOR_TYPES.get(d.designatorType) ?? 'unknown'}`,
      `Designator:[${designatorText(d)}]`,
    );
  });
  return lines;
}

/** iscsi-inq prints every Block Limits field; those a short (SBC-2) page lacks read 0, as in libiscsi's zeroed struct. */
export function blockLimitsLines(p: BlockLimits): string[] {
  return [
    `wsnz:${flag(p.wsnz)}`,
    `maximum compare and write length:${p.maximumCompareAndWriteLength}`,
    `optimal transfer length granularity:${p.optimalTransferLengthGranularity}`,
    `maximum transfer length:${p.maximumTransferLength}`,
    `optimal transfer length:${p.optimalTransferLength}`,
    `maximum prefetch xdread xdwrite transfer length:${p.maximumPrefetchLength ?? 0}`,
    `maximum unmap lba count:${p.maximumUnmapLbaCount ?? 0}`,
    `maximum unmap block descriptor count:${p.maximumUnmapBlockDescriptorCount ?? 0}`,
    `optimal unmap granularity:${p.optimalUnmapGranularity ?? 0}`,
    `ugavalid:${flag(p.unmapGranularityAlignmentValid)}`,
    `unmap granularity alignment:${p.unmapGranularityAlignment ?? 0}`,
    `maximum write same length:${p.maximumWriteSameLength ?? 0n}`,
  ];
}

export function blockDeviceCharacteristicsLines(p: BlockDeviceCharacteristics): string[] {
  return [`Medium Rotation Rate:${p.mediumRotationRate}RPM`];
}

export function logicalBlockProvisioningLines(p: LogicalBlockProvisioning): string[] {
  return [
    `Threshold Exponent:${p.thresholdExponent}`,
    `lbpu:${flag(p.lbpu)}`,
    `lbpws:${flag(p.lbpws)}`,
    `lbpws10:${flag(p.lbpws10)}`,
    `lbprz:${p.lbprz}`,
    `anc_sup:${flag(p.anchorSupported)}`,
    `dp:${flag(p.descriptorPresent)}`,
    `provisioning type:${p.provisioningType}`,
  ];
}

/** iscsi-readcapacity16's lines; `Total size` is block length x (last LBA + 1). */
export function readCapacityLines(rc: ReadCapacity16Data): string[] {
  return [
    `RETURNED LOGICAL BLOCK ADDRESS:${rc.lastLba}`,
    `LOGICAL BLOCK LENGTH IN BYTES:${rc.blockLength}`,
    `P_TYPE:${rc.pType} PROT_EN:${flag(rc.protectionEnabled)}`,
    `P_I_EXPONENT:${rc.pIExponent} LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:${rc.logicalBlocksPerPhysicalBlockExponent}`,
    `LBPME:${flag(rc.lbpme)} LBPRZ:${flag(rc.lbprz)}`,
    `LOWEST ALIGNED LOGICAL BLOCK ADDRESS:${rc.lowestAlignedLba}`,
    `Total size:${BigInt(rc.blockLength) * (rc.lastLba + 1n)}`,
  ];
}

/**
 * iscsi-ls's size: bytes up to the last LBA (iscsi-ls multiplies the block length by READ CAPACITY's last
 * LBA, not the block count), divided by 1024 while above 1024, up to T, with libiscsi's unit letters
 * (a space for bytes, then k, M, G, T).
 */
export function lsSize(bytes: bigint): string {
  const units = [' ', 'k', 'M', 'G', 'T'];
  let v = bytes;
  let u = 0;
  while (u < 4 && v > 1024n) {
    v /= 1024n;
    u++;
  }
  return `${v}${units[u]}`;
}

/** One iscsi-ls -s line: `Lun:1    Type:DIRECT_ACCESS (Size:15M)`. */
export function lsLunLine(lun: number, type: number, size?: string, noMedia = false): string {
  return `Lun:${String(lun).padEnd(4)} Type:${deviceTypeName(type)}${size !== undefined ? ` (Size:${size})` : ''}${noMedia ? ' (No media loaded)' : ''}`;
}

/** libiscsi's scsi_sense_key_str: its spellings, underscores in some and spaces in others. */
const LIBISCSI_SENSE_KEYS: ReadonlyMap<number, string> = new Map([
  [0x0, 'NO SENSE'],
  [0x1, 'RECOVERED ERROR'],
  [0x2, 'NOT READY'],
  [0x4, 'HARDWARE_ERROR'],
  [0x5, 'ILLEGAL_REQUEST'],
  [0x6, 'UNIT_ATTENTION'],
  [0x7, 'DATA PROTECTION'],
  [0x8, 'BLANK CHECK'],
  [0x9, 'VENDOR SPECIFIC'],
  [0xa, 'COPY ABORTED'],
  [0xb, 'COMMAND ABORTED'],
  [0xc, 'OBSOLETE_ERROR_CODE'],
  [0xd, 'OVERFLOW_COMMAND'],
  [0xe, 'MISCOMPARE'],
]);

/** libiscsi's scsi_sense_ascq_str, keyed ASC << 8 | ASCQ. */
const LIBISCSI_ASCQ: ReadonlyMap<number, string> = new Map([
  [0x041b, 'SANITIZE_IN_PROGRESS'],
  [0x1115, 'WRITE_AFTER_SANITIZE_REQUIRED'],
  [0x2000, 'INVALID_OPERATION_CODE'],
  [0x2100, 'LBA_OUT_OF_RANGE'],
  [0x2400, 'INVALID_FIELD_IN_CDB'],
  [0x2500, 'LOGICAL_UNIT_NOT_SUPPORTED'],
  [0x1a00, 'PARAMETER_LIST_LENGTH_ERROR'],
  [0x2600, 'INVALID_FIELD_IN_PARAMETER_LIST'],
  [0x2700, 'WRITE_PROTECTED'],
  [0x2701, 'HARDWARE_WRITE_PROTECTED'],
  [0x2702, 'SOFTWARE_WRITE_PROTECTED'],
  [0x3a00, 'MEDIUM_NOT_PRESENT'],
  [0x3a01, 'MEDIUM_NOT_PRESENT-TRAY_CLOSED'],
  [0x3a02, 'MEDIUM_NOT_PRESENT-TRAY_OPEN'],
  [0x2900, 'BUS_RESET'],
  [0x2901, 'POWER_ON_OCCURED'],
  [0x2902, 'SCSI_BUS_RESET_OCCURED'],
  [0x2903, 'BUS_DEVICE_RESET_FUNCTION_OCCURED'],
  [0x2904, 'DEVICE_INTERNAL_RESET'],
  [0x2905, 'TRANSCEIVER_MODE_CHANGED_TO_SINGLE_ENDED'],
  [0x2906, 'TRANSCEIVER_MODE_CHANGED_TO_LVD'],
  [0x2a01, 'MODE PARAMETERS CHANGED'],
  [0x2a09, 'CAPACITY_DATA_HAS_CHANGED'],
  [0x3807, 'THIN PROVISIONING SOFT THRESHOLD REACHED'],
  [0x3f03, 'INQUIRY DATA HAS CHANGED'],
  [0x4400, 'INTERNAL_TARGET_FAILURE'],
  [0x1d00, 'MISCOMPARE_DURING_VERIFY'],
  [0x1d01, 'MISCOMPARE_VERIFY_OF_UNMAPPED_LBA'],
  [0x5300, 'MEDIUM_LOAD_OR_EJECT_FAILED'],
  [0x5302, 'SCSI_SENSE_ASCQ_MEDIUM_REMOVAL_PREVENTED'],
]);

/** A T10 name in libiscsi's style (`LOGICAL BLOCK ADDRESS OUT OF RANGE` -> `LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE`). */
const underscored = (name: string): string => name.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '');

/**
 * Sense as libiscsi reports a CHECK CONDITION: `SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:LOGICAL_UNIT_NOT_SUPPORTED(0x2500)`.
 * Codes libiscsi has no name for (it prints UNKNOWN) get the SPC-4 / T10 name, underscored.
 */
export function senseText(sense: Pick<SenseData, 'key' | 'asc' | 'ascq'>): string {
  const code = (sense.asc << 8) | sense.ascq;
  const key = LIBISCSI_SENSE_KEYS.get(sense.key) ?? underscored(spcSenseKeyName(sense.key));
  const t10 = ascDescription(sense.asc, sense.ascq);
  const ascq = LIBISCSI_ASCQ.get(code) ?? (t10.startsWith('ASC 0x') ? 'UNKNOWN' : underscored(t10));
  return `SENSE KEY:${key}(${sense.key}) ASCQ:${ascq}(0x${code.toString(16).padStart(4, '0')})`;
}

/** JSON of parsed data: bigints as decimal strings, buffers as hex. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer')
        return Buffer.from((v as { data: number[] }).data).toString('hex');
      return v;
    },
    2,
  );
}
