/**
 * INQUIRY data parsers: standard data and the VPD pages an initiator uses, Supported VPD Pages 0x00,
 * Unit Serial Number 0x80 and Device Identification 0x83 (SPC-4), Block Limits 0xB0, Block Device
 * Characteristics 0xB1 and Logical Block Provisioning 0xB2 (SBC-3, with SBC-4's widened fields); plus the
 * WWID multipath-tools derives from 0x83.
 *
 * Every parser takes the bytes the target returned, which the CDB's allocation length may have cut
 * short: what fits is parsed and `truncated` is set; re-issue with `availableLength` to get the rest.
 *
 * Over 500 lines because each of the six pages has its own layout and truncation rule (SPC-4 §6.6, §7.8;
 * SBC-3 §6.6), and the designator decoding of page 0x83 alone is a table of types and code sets.
 */
import { asciiField, framed, hex, hexByte, need, utf8Field } from './bytes.js';
import { ScsiParseError } from './errors.js';

/** PERIPHERAL QUALIFIER (SPC-4). */
export const PeripheralQualifier = {
  /** A device of the given type is connected to this LU. */
  CONNECTED: 0b000,
  /** The LU could serve such a device, none is connected now. */
  NOT_CONNECTED: 0b001,
  /** No LU here: tgtd answers INQUIRY to an unmapped LUN this way (with type 0x1f). */
  NOT_SUPPORTED: 0b011,
} as const;

/** PERIPHERAL DEVICE TYPE (SPC-4). */
export const PeripheralDeviceType = {
  DIRECT_ACCESS_BLOCK: 0x00,
  SEQUENTIAL_ACCESS: 0x01,
  PRINTER: 0x02,
  PROCESSOR: 0x03,
  WRITE_ONCE: 0x04,
  CD_DVD: 0x05,
  OPTICAL_MEMORY: 0x07,
  MEDIA_CHANGER: 0x08,
  STORAGE_ARRAY_CONTROLLER: 0x0c,
  ENCLOSURE_SERVICES: 0x0d,
  SIMPLIFIED_DIRECT_ACCESS: 0x0e,
  OPTICAL_CARD_READER_WRITER: 0x0f,
  OBJECT_BASED_STORAGE: 0x11,
  AUTOMATION_DRIVE_INTERFACE: 0x12,
  HOST_MANAGED_ZONED_BLOCK: 0x14,
  WELL_KNOWN_LOGICAL_UNIT: 0x1e,
  UNKNOWN_OR_NO_DEVICE_TYPE: 0x1f,
} as const;

/** TPGS field: which kinds of asymmetric logical unit access (ALUA) the LU supports (SPC-4). */
export const TargetPortGroupSupport = {
  NONE: 0b00,
  IMPLICIT: 0b01,
  EXPLICIT: 0b10,
  IMPLICIT_AND_EXPLICIT: 0b11,
} as const;

/** Standard INQUIRY data. */
export interface StandardInquiry {
  readonly peripheralQualifier: number;
  readonly peripheralDeviceType: number;
  /** RMB: removable medium. */
  readonly removable: boolean;
  /** VERSION: the SPC version claimed (5 = SPC-3, 6 = SPC-4). */
  readonly version: number;
  readonly normAca: boolean;
  /** HISUP: hierarchical LUN addressing supported. */
  readonly hiSup: boolean;
  /** RESPONSE DATA FORMAT: 2 for every device since SCSI-3. */
  readonly responseDataFormat: number;
  readonly sccs: boolean;
  readonly acc: boolean;
  /** TPGS (see `TargetPortGroupSupport`): non-zero means REPORT TARGET PORT GROUPS works. */
  readonly tpgs: number;
  /** 3PC: third-party copy (EXTENDED COPY) supported. */
  readonly thirdPartyCopy: boolean;
  readonly protect: boolean;
  readonly encServ: boolean;
  readonly multiP: boolean;
  /** SYNC (byte 7 bit 4): parallel SCSI only, obsolete since SPC-3; iscsi-inq still prints it. */
  readonly sync: boolean;
  /** CMDQUE: command queuing supported. */
  readonly cmdQue: boolean;
  /** T10 VENDOR IDENTIFICATION, trimmed ("IET" for tgtd). */
  readonly vendor: string;
  /** PRODUCT IDENTIFICATION, trimmed. */
  readonly product: string;
  /** PRODUCT REVISION LEVEL, trimmed. */
  readonly revision: string;
  /** VERSION DESCRIPTORs that are set (e.g. 0x0960 iSCSI, 0x04c0 SBC-3). */
  readonly versionDescriptors: readonly number[];
  /** ADDITIONAL LENGTH + 5: bytes of standard data the target has. */
  readonly availableLength: number;
  readonly truncated: boolean;
}

const STANDARD = 'standard INQUIRY data';

/**
 * Parses standard INQUIRY data (EVPD=0). At least 8 bytes are required (the header and flags); the
 * identification strings are read from whatever part of bytes 8-35 arrived.
 */
export function parseStandardInquiry(buf: Buffer): StandardInquiry {
  need(buf, 0, 8, STANDARD, 'header');
  const { data, truncated } = framed(buf, buf[4] + 5);
  if (data.length < 8) {
    throw new ScsiParseError(STANDARD, 4, `ADDITIONAL LENGTH ${buf[4]} leaves no room for the flag bytes`);
  }
  const versionDescriptors: number[] = [];
  for (let o = 58; o + 2 <= Math.min(data.length, 74); o += 2) {
    const descriptor = data.readUInt16BE(o);
    if (descriptor !== 0) versionDescriptors.push(descriptor);
  }
  return {
    peripheralQualifier: data[0] >> 5,
    peripheralDeviceType: data[0] & 0x1f,
    removable: (data[1] & 0x80) !== 0,
    version: data[2],
    normAca: (data[3] & 0x20) !== 0,
    hiSup: (data[3] & 0x10) !== 0,
    responseDataFormat: data[3] & 0x0f,
    sccs: (data[5] & 0x80) !== 0,
    acc: (data[5] & 0x40) !== 0,
    tpgs: (data[5] >> 4) & 0x03,
    thirdPartyCopy: (data[5] & 0x08) !== 0,
    protect: (data[5] & 0x01) !== 0,
    encServ: (data[6] & 0x40) !== 0,
    multiP: (data[6] & 0x10) !== 0,
    sync: (data[7] & 0x10) !== 0,
    cmdQue: (data[7] & 0x02) !== 0,
    vendor: asciiField(data.subarray(8, 16)),
    product: asciiField(data.subarray(16, 32)),
    revision: asciiField(data.subarray(32, 36)),
    versionDescriptors,
    availableLength: buf[4] + 5,
    truncated,
  };
}

/** The 4-byte header every VPD page starts with (SPC-4). */
export interface VpdHeader {
  readonly peripheralQualifier: number;
  readonly peripheralDeviceType: number;
  readonly pageCode: number;
  /** PAGE LENGTH + 4: bytes the target has for the whole page. */
  readonly availableLength: number;
  readonly truncated: boolean;
}

function vpdName(page: number): string {
  return `VPD page ${hexByte(page)}`;
}

/** Checks the header and page code; returns the header and the page's bytes (at most `availableLength`). */
function vpdPage(buf: Buffer, page: number): { header: VpdHeader; data: Buffer } {
  const name = vpdName(page);
  need(buf, 0, 4, name, 'header');
  if (buf[1] !== page) throw new ScsiParseError(name, 1, `PAGE CODE is ${hexByte(buf[1])}`);
  const availableLength = buf.readUInt16BE(2) + 4;
  const { data, truncated } = framed(buf, availableLength);
  return {
    header: {
      peripheralQualifier: buf[0] >> 5,
      peripheralDeviceType: buf[0] & 0x1f,
      pageCode: page,
      availableLength,
      truncated,
    },
    data,
  };
}

/** Supported VPD Pages (0x00). */
export interface SupportedVpdPages extends VpdHeader {
  readonly pages: readonly number[];
}

export function parseSupportedVpdPages(buf: Buffer): SupportedVpdPages {
  const { header, data } = vpdPage(buf, 0x00);
  return { ...header, pages: [...data.subarray(4)] };
}

/** Unit Serial Number (0x80). */
export interface UnitSerialNumber extends VpdHeader {
  /** PRODUCT SERIAL NUMBER, trimmed (tgtd right-aligns it in spaces). */
  readonly serialNumber: string;
  /** The field as sent, padding kept (up to a NUL): iscsi-inq prints it so, `[      beaf11]`. */
  readonly serialNumberField: string;
}

export function parseUnitSerialNumber(buf: Buffer): UnitSerialNumber {
  const { header, data } = vpdPage(buf, 0x80);
  const field = data.subarray(4);
  const nul = field.indexOf(0);
  return { ...header, serialNumber: asciiField(field), serialNumberField: field.toString('latin1', 0, nul === -1 ? field.length : nul) };
}

/** CODE SET of a designation descriptor (SPC-4). */
export const CodeSet = {
  BINARY: 0x1,
  ASCII: 0x2,
  UTF8: 0x3,
} as const;

/** ASSOCIATION: what a designator names (SPC-4). */
export const Association = {
  LOGICAL_UNIT: 0b00,
  TARGET_PORT: 0b01,
  TARGET_DEVICE: 0b10,
} as const;

/** DESIGNATOR TYPE (SPC-4). */
export const DesignatorType = {
  VENDOR_SPECIFIC: 0x0,
  T10_VENDOR_ID: 0x1,
  EUI_64: 0x2,
  NAA: 0x3,
  RELATIVE_TARGET_PORT: 0x4,
  TARGET_PORT_GROUP: 0x5,
  LOGICAL_UNIT_GROUP: 0x6,
  MD5_LOGICAL_UNIT_IDENTIFIER: 0x7,
  SCSI_NAME_STRING: 0x8,
  PROTOCOL_SPECIFIC_PORT_IDENTIFIER: 0x9,
  UUID: 0xa,
} as const;

/** PROTOCOL IDENTIFIER (SPC-4). */
export const ProtocolIdentifier = {
  FIBRE_CHANNEL: 0x0,
  PARALLEL_SCSI: 0x1,
  SSA: 0x2,
  IEEE_1394: 0x3,
  SRP: 0x4,
  ISCSI: 0x5,
  SAS: 0x6,
  ADT: 0x7,
  ATA: 0x8,
  UAS: 0x9,
  SOP: 0xa,
  NONE: 0xf,
} as const;

/** NAA field: the first nibble of an NAA designator (SPC-4). */
export const NaaType = {
  /** 8 bytes. */
  IEEE_EXTENDED: 0x2,
  /** 8 bytes; not globally unique. */
  LOCALLY_ASSIGNED: 0x3,
  /** 8 bytes. */
  IEEE_REGISTERED: 0x5,
  /** 16 bytes: the form most arrays (and LIO's 6001405...) use. */
  IEEE_REGISTERED_EXTENDED: 0x6,
} as const;

/** The fields every designation descriptor has. */
interface DesignatorFields {
  readonly codeSet: number;
  readonly piv: boolean;
  readonly association: number;
  readonly designatorType: number;
  /** PROTOCOL IDENTIFIER, only when PIV is set and the association is a target port or device. */
  readonly protocolIdentifier?: number;
  /** The DESIGNATOR bytes as sent (a view into the page). */
  readonly designator: Buffer;
}

/** The designator decoded by its type; `kind` narrows the union. Binary identifiers are lowercase hex. */
export type DesignatorValue =
  | { readonly kind: 'naa'; readonly naaType: number; readonly id: string }
  | { readonly kind: 'eui-64'; readonly id: string }
  | { readonly kind: 't10-vendor-id'; readonly vendorId: string; readonly vendorSpecific: string }
  | { readonly kind: 'scsi-name-string'; readonly name: string }
  | { readonly kind: 'relative-target-port'; readonly relativeTargetPort: number }
  | { readonly kind: 'target-port-group'; readonly targetPortGroup: number }
  | { readonly kind: 'logical-unit-group'; readonly logicalUnitGroup: number }
  | {
      readonly kind: 'vendor-specific' | 'md5-logical-unit-identifier' | 'protocol-specific-port-identifier' | 'uuid' | 'reserved';
      readonly id: string;
    };

/** One designation descriptor of VPD page 0x83. */
export type Designator = DesignatorFields & DesignatorValue;

/** Device Identification (0x83). */
export interface DeviceIdentification extends VpdHeader {
  readonly designators: readonly Designator[];
}

/** Parses VPD page 0x83 (SPC-4): a list of designation descriptors. */
export function parseDeviceIdentification(buf: Buffer): DeviceIdentification {
  const { header, data } = vpdPage(buf, 0x83);
  const designators: Designator[] = [];
  for (let o = 4; o < data.length; ) {
    const end = descriptorEnd(data, o, header, vpdName(0x83));
    if (end === undefined) break;
    designators.push(parseDesignator(data.subarray(o, end), vpdName(0x83), o));
    o = end;
  }
  return { ...header, designators };
}

/**
 * End offset of the designation descriptor at `o` (4-byte header + DESIGNATOR LENGTH), or undefined when
 * the buffer was cut there by the allocation length. A descriptor past the PAGE LENGTH is malformed.
 */
function descriptorEnd(data: Buffer, o: number, header: VpdHeader, name: string): number | undefined {
  if (o + 4 > data.length) {
    if (header.truncated) return undefined;
    throw new ScsiParseError(name, o, 'designation descriptor header runs past the PAGE LENGTH');
  }
  const end = o + 4 + data[o + 3];
  if (end > header.availableLength) {
    throw new ScsiParseError(name, o, `DESIGNATOR LENGTH ${data[o + 3]} runs past the PAGE LENGTH`);
  }
  return end > data.length ? undefined : end;
}

/** Decodes one designation descriptor (header included); `offset` is its place in the page, for errors. */
function parseDesignator(d: Buffer, page: string, offset: number): Designator {
  const codeSet = d[0] & 0x0f;
  const piv = (d[1] & 0x80) !== 0;
  const association = (d[1] >> 4) & 0x03;
  const designatorType = d[1] & 0x0f;
  const designator = d.subarray(4);
  const fields: DesignatorFields = {
    codeSet,
    piv,
    association,
    designatorType,
    // SPC-4: PROTOCOL IDENTIFIER is meaningful only for a port or device, with PIV set.
    ...(piv && association !== Association.LOGICAL_UNIT ? { protocolIdentifier: d[0] >> 4 } : {}),
    designator,
  };
  return { ...fields, ...designatorValue(designatorType, designator, page, offset + 4) };
}

function designatorValue(type: number, d: Buffer, page: string, offset: number): DesignatorValue {
  /** Relative port, port group and LU group designators: 4 bytes, the value in the last two. */
  const u16At2 = (what: string): number => {
    if (d.length < 4) throw new ScsiParseError(page, offset, `${what} designator needs 4 bytes, has ${d.length}`);
    return d.readUInt16BE(2);
  };
  switch (type) {
    case DesignatorType.NAA:
      if (d.length === 0) throw new ScsiParseError(page, offset, 'NAA designator is empty');
      return { kind: 'naa', naaType: d[0] >> 4, id: hex(d) };
    case DesignatorType.EUI_64:
      return { kind: 'eui-64', id: hex(d) };
    case DesignatorType.T10_VENDOR_ID:
      // T10 VENDOR IDENTIFICATION (8 bytes), then vendor specific text (SPC-4).
      return {
        kind: 't10-vendor-id',
        vendorId: asciiField(d.subarray(0, 8)),
        vendorSpecific: asciiField(d.subarray(8)),
      };
    case DesignatorType.SCSI_NAME_STRING:
      return { kind: 'scsi-name-string', name: utf8Field(d) };
    case DesignatorType.RELATIVE_TARGET_PORT:
      return { kind: 'relative-target-port', relativeTargetPort: u16At2('relative target port') };
    case DesignatorType.TARGET_PORT_GROUP:
      return { kind: 'target-port-group', targetPortGroup: u16At2('target port group') };
    case DesignatorType.LOGICAL_UNIT_GROUP:
      return { kind: 'logical-unit-group', logicalUnitGroup: u16At2('logical unit group') };
    case DesignatorType.VENDOR_SPECIFIC:
      return { kind: 'vendor-specific', id: hex(d) };
    case DesignatorType.MD5_LOGICAL_UNIT_IDENTIFIER:
      return { kind: 'md5-logical-unit-identifier', id: hex(d) };
    case DesignatorType.PROTOCOL_SPECIFIC_PORT_IDENTIFIER:
      return { kind: 'protocol-specific-port-identifier', id: hex(d) };
    case DesignatorType.UUID:
      return { kind: 'uuid', id: hex(d) };
    default:
      return { kind: 'reserved', id: hex(d) };
  }
}

/**
 * Rank of a designator as the LU's WWID, following multipath-tools (libmultipath/discovery.c,
 * parse_vpd_pg83): NAA IEEE Registered Extended 8, IEEE Registered 7, IEEE Extended 6, EUI-64 4,
 * SCSI name string 3, T10 vendor ID 2, NAA Locally Assigned 1. Designators of the wrong length for their
 * type, and SCSI names without an eui./naa./iqn. prefix, do not qualify (0).
 */
function wwidRank(d: Designator): number {
  switch (d.kind) {
    case 'naa': {
      const expectedLength = d.naaType === NaaType.IEEE_REGISTERED_EXTENDED ? 16 : 8;
      if (d.designator.length !== expectedLength) return 0;
      const ranks: Record<number, number> = {
        [NaaType.IEEE_REGISTERED_EXTENDED]: 8,
        [NaaType.IEEE_REGISTERED]: 7,
        [NaaType.IEEE_EXTENDED]: 6,
        [NaaType.LOCALLY_ASSIGNED]: 1,
      };
      return ranks[d.naaType] ?? 0;
    }
    case 'eui-64':
      return [8, 12, 16].includes(d.designator.length) ? 4 : 0;
    case 'scsi-name-string':
      return /^(eui|naa|iqn)\./i.test(d.name) ? 3 : 0;
    case 't10-vendor-id':
      return d.designator.length >= 8 ? 2 : 0;
    default:
      return 0;
  }
}

/**
 * The LU's WWID as multipath-tools derives it from VPD page 0x83, so that our maps carry the names SREs
 * see in `multipath -ll` (for the usual NAA LU this is also udev's ID_SERIAL). Among designators with
 * association LOGICAL UNIT, the best ranked wins (the first on a tie): NAA IEEE Registered Extended,
 * IEEE Registered, IEEE Extended, EUI-64, SCSI name string, T10 vendor ID, NAA Locally Assigned. The
 * string is the designator type digit and the designator:
 * - NAA: `3` + lowercase hex, e.g. `36001405...` (LIO) or `360000000000000000e00000000010001` (tgtd);
 * - EUI-64: `2` + lowercase hex;
 * - SCSI name string: `2`/`3` + the lowercased rest of an `eui.`/`naa.` name, `8` + the rest of an `iqn.`
 *   name (the prefix is dropped, as multipath-tools does);
 * - T10 vendor ID: `1` + the text with each run of spaces replaced by `_`, e.g. `1IET_00010001`.
 * Undefined when no designator qualifies; multipath-tools then falls back to the unit serial (VPD 0x80).
 */
export function wwid(designators: readonly Designator[]): string | undefined {
  let best: Designator | undefined;
  let bestRank = 0;
  for (const d of designators) {
    if (d.association !== Association.LOGICAL_UNIT) continue;
    const rank = wwidRank(d);
    if (rank > bestRank) {
      best = d;
      bestRank = rank;
    }
  }
  if (best === undefined) return undefined;
  switch (best.kind) {
    case 'naa':
    case 'eui-64':
      return `${best.designatorType}${hex(best.designator)}`;
    case 'scsi-name-string': {
      const prefix = best.name.slice(0, 4).toLowerCase();
      const rest = best.name.slice(4);
      if (prefix === 'eui.') return `2${rest.toLowerCase()}`;
      if (prefix === 'naa.') return `3${rest.toLowerCase()}`;
      return `8${rest}`;
    }
    case 't10-vendor-id':
      return `1${asciiTextEnd(best.designator).replace(/ +/g, '_')}`;
    default:
      return undefined;
  }
}

/** The designator text up to its first NUL, without trailing spaces (leading spaces are kept). */
function asciiTextEnd(d: Buffer): string {
  const nul = d.indexOf(0);
  return d.toString('latin1', 0, nul === -1 ? d.length : nul).trimEnd();
}

/** Block Limits (0xB0). Counts are in logical blocks; 0 means "not reported" unless noted. */
export interface BlockLimits extends VpdHeader {
  /** WSNZ: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 is rejected. */
  readonly wsnz: boolean;
  readonly maximumCompareAndWriteLength: number;
  readonly optimalTransferLengthGranularity: number;
  /** Largest READ/WRITE the device accepts; 0 = no limit reported. */
  readonly maximumTransferLength: number;
  readonly optimalTransferLength: number;
  /**
   * Fields from here on were added after SBC-2: undefined when the page (length 0x0C on old devices) or
   * the allocation length stops before them.
   */
  readonly maximumPrefetchLength?: number;
  /** Largest total of one UNMAP; 0xffffffff = unlimited, 0 = UNMAP not supported. */
  readonly maximumUnmapLbaCount?: number;
  /** Most descriptors in one UNMAP parameter list; 0xffffffff = unlimited. */
  readonly maximumUnmapBlockDescriptorCount?: number;
  readonly optimalUnmapGranularity?: number;
  /** UGAVALID: `unmapGranularityAlignment` is meaningful. */
  readonly unmapGranularityAlignmentValid?: boolean;
  readonly unmapGranularityAlignment?: number;
  /** 64-bit field, hence bigint. */
  readonly maximumWriteSameLength?: bigint;
}

/** Parses VPD page 0xB0 (SBC-3). Bytes 4-15 (the SBC-2 part) are required. */
export function parseBlockLimits(buf: Buffer): BlockLimits {
  const { header, data } = vpdPage(buf, 0xb0);
  need(data, 0, 16, vpdName(0xb0), 'page through OPTIMAL TRANSFER LENGTH');
  const u32 = (o: number): number | undefined => (o + 4 <= data.length ? data.readUInt32BE(o) : undefined);
  const alignment = u32(32);
  const maximumWriteSameLength = data.length >= 44 ? data.readBigUInt64BE(36) : undefined;
  return {
    ...header,
    wsnz: (data[4] & 0x01) !== 0,
    maximumCompareAndWriteLength: data[5],
    optimalTransferLengthGranularity: data.readUInt16BE(6),
    maximumTransferLength: data.readUInt32BE(8),
    optimalTransferLength: data.readUInt32BE(12),
    ...defined({
      maximumPrefetchLength: u32(16),
      maximumUnmapLbaCount: u32(20),
      maximumUnmapBlockDescriptorCount: u32(24),
      optimalUnmapGranularity: u32(28),
      unmapGranularityAlignmentValid: alignment === undefined ? undefined : alignment >= 0x8000_0000,
      unmapGranularityAlignment: alignment === undefined ? undefined : alignment & 0x7fff_ffff,
      maximumWriteSameLength,
    }),
  };
}

/** Block Device Characteristics (0xB1, SBC-3; ZONED from SBC-4). */
export interface BlockDeviceCharacteristics extends VpdHeader {
  /** MEDIUM ROTATION RATE: 0 not reported, 1 non-rotating (solid state), 0x0401-0xfffe revolutions per minute. */
  readonly mediumRotationRate: number;
  /** PRODUCT TYPE: 0 not indicated, 1 CFast, 2 CompactFlash, 3 MemoryStick, 4 MultiMediaCard, 5 SD card, 6 XQD, 7 UFS. */
  readonly productType: number;
  /** WABEREQ (2 bits): what a read of a block after a write that was aborted returns. */
  readonly wabereq: number;
  /** WACEREQ (2 bits): the same after a write that ended with CHECK CONDITION. */
  readonly wacereq: number;
  /** NOMINAL FORM FACTOR: 0 not reported, 1 5.25", 2 3.5", 3 2.5", 4 1.8", 5 less than 1.8". */
  readonly nominalFormFactor: number;
  /** ZONED (SBC-4, 2 bits): 0 not reported, 1 host aware, 2 device managed zoned block device. */
  readonly zoned: number;
  /** FUAB: SYNCHRONIZE CACHE makes writes durable as FUA would. */
  readonly fuab: boolean;
  /** VBULS: VERIFY with BYTCHK 0 checks the medium. */
  readonly vbuls: boolean;
}

/** Parses VPD page 0xB1 (SBC-3). Bytes 4-7 are required; bytes 8 on read as zero when the page stops before. */
export function parseBlockDeviceCharacteristics(buf: Buffer): BlockDeviceCharacteristics {
  const { header, data } = vpdPage(buf, 0xb1);
  need(data, 0, 8, vpdName(0xb1), 'page through NOMINAL FORM FACTOR');
  const byte8 = data.length > 8 ? data[8] : 0;
  return {
    ...header,
    mediumRotationRate: data.readUInt16BE(4),
    productType: data[6],
    wabereq: data[7] >> 6,
    wacereq: (data[7] >> 4) & 0x03,
    nominalFormFactor: data[7] & 0x0f,
    zoned: (byte8 >> 4) & 0x03,
    fuab: (byte8 & 0x02) !== 0,
    vbuls: (byte8 & 0x01) !== 0,
  };
}

/** PROVISIONING TYPE (SBC-3). */
export const ProvisioningType = {
  /** Fully provisioned, or not reported. */
  FULL: 0b000,
  RESOURCE_PROVISIONED: 0b001,
  THIN_PROVISIONED: 0b010,
} as const;

/** Logical Block Provisioning (0xB2). */
export interface LogicalBlockProvisioning extends VpdHeader {
  /** THRESHOLD EXPONENT: thresholds are counted in 2^n blocks. */
  readonly thresholdExponent: number;
  /** LBPU: UNMAP is supported (the NBD TRIM path). */
  readonly lbpu: boolean;
  /** LBPWS: WRITE SAME(16) with UNMAP is supported. */
  readonly lbpws: boolean;
  /** LBPWS10: WRITE SAME(10) with UNMAP is supported. */
  readonly lbpws10: boolean;
  /**
   * LBPRZ, 3 bits since SBC-4 (1 bit in SBC-3): 0 unmapped blocks read as anything, 1 as zeros,
   * 2 as the provisioning initialization pattern.
   */
  readonly lbprz: number;
  /** ANC_SUP: anchored LBAs supported. */
  readonly anchorSupported: boolean;
  /** DP: a provisioning group descriptor follows. */
  readonly descriptorPresent: boolean;
  /** MINIMUM PERCENTAGE (SBC-4). */
  readonly minimumPercentage: number;
  /** See `ProvisioningType`. */
  readonly provisioningType: number;
  /** THRESHOLD PERCENTAGE (SBC-4). */
  readonly thresholdPercentage: number;
  /** The provisioning group designator, when `descriptorPresent` and it was returned. */
  readonly provisioningGroup?: Designator;
}

/** Parses VPD page 0xB2 (SBC-3): 8 bytes, then an optional designation descriptor. */
export function parseLogicalBlockProvisioning(buf: Buffer): LogicalBlockProvisioning {
  const name = vpdName(0xb2);
  const { header, data } = vpdPage(buf, 0xb2);
  need(data, 0, 8, name, 'page through THRESHOLD PERCENTAGE');
  const descriptorPresent = (data[5] & 0x01) !== 0;
  let provisioningGroup: Designator | undefined;
  if (descriptorPresent && data.length > 8) {
    const end = descriptorEnd(data, 8, header, name);
    if (end !== undefined) provisioningGroup = parseDesignator(data.subarray(8, end), name, 8);
  }
  return {
    ...header,
    thresholdExponent: data[4],
    lbpu: (data[5] & 0x80) !== 0,
    lbpws: (data[5] & 0x40) !== 0,
    lbpws10: (data[5] & 0x20) !== 0,
    lbprz: (data[5] >> 2) & 0x07,
    anchorSupported: (data[5] & 0x02) !== 0,
    descriptorPresent,
    minimumPercentage: data[6] >> 3,
    provisioningType: data[6] & 0x07,
    thresholdPercentage: data[7],
    ...(provisioningGroup !== undefined ? { provisioningGroup } : {}),
  };
}

/** Drops undefined members, so optional fields are absent rather than present-and-undefined. */
function defined<T extends object>(fields: T): Partial<T> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Partial<T>;
}
