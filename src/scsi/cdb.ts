/**
 * CDB builders for the commands an iSCSI initiator issues to a block device (SPC-4, SBC-3), each
 * returned with its data direction and expected transfer length.
 *
 * Over 500 lines because each CDB (READ/WRITE 10/16, SYNCHRONIZE CACHE, UNMAP, WRITE SAME, INQUIRY,
 * PRE-FETCH, MODE SENSE, REPORT LUNS, RTPG) has its own layout and range checks, one builder each.
 */
import { ScsiParseError } from './errors.js';

/** OPERATION CODE values with the spec's names (SPC-4 annex D). */
export const ScsiOpcode = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  INQUIRY: 0x12,
  MODE_SENSE_6: 0x1a,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SYNCHRONIZE_CACHE_10: 0x35,
  UNMAP: 0x42,
  MODE_SENSE_10: 0x5a,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  PRE_FETCH_16: 0x90,
  SYNCHRONIZE_CACHE_16: 0x91,
  WRITE_SAME_16: 0x93,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
} as const;
export type ScsiOpcode = (typeof ScsiOpcode)[keyof typeof ScsiOpcode];

/** SERVICE ACTION values of the two service-action opcodes used here. */
export const ServiceAction = {
  /** Under SERVICE ACTION IN(16) (SBC-3). */
  READ_CAPACITY_16: 0x10,
  /** Under MAINTENANCE IN (SPC-4). */
  REPORT_TARGET_PORT_GROUPS: 0x0a,
} as const;

/** VPD page codes (SPC-4, SBC-3). */
export const VpdPage = {
  SUPPORTED_VPD_PAGES: 0x00,
  UNIT_SERIAL_NUMBER: 0x80,
  DEVICE_IDENTIFICATION: 0x83,
  BLOCK_LIMITS: 0xb0,
  BLOCK_DEVICE_CHARACTERISTICS: 0xb1,
  LOGICAL_BLOCK_PROVISIONING: 0xb2,
} as const;

/**
 * Direction of the data phase, from the initiator's side: `read` is Data-In (target to initiator), `write`
 * is Data-Out. Maps to the R and W bits of the iSCSI SCSI Command PDU (RFC 7143 §11.3).
 */
export type DataDirection = 'none' | 'read' | 'write';

/**
 * A command ready for the iSCSI layer.
 *
 * `transferLength` is the iSCSI Expected Data Transfer Length (RFC 7143 §11.3) in bytes: the
 * allocation length for commands that return parameter data (the target may send less), blocks times
 * block size for READ/WRITE, the parameter list length for UNMAP, 0 when `direction` is `none`. It always
 * fits the 32-bit PDU field; builders throw a RangeError otherwise.
 *
 * `dataOut` is set only when the builder made the Data-Out bytes itself (the UNMAP parameter list); for
 * WRITE and WRITE SAME the caller supplies `transferLength` bytes of data.
 */
export interface ScsiCommand {
  readonly cdb: Buffer;
  readonly direction: DataDirection;
  readonly transferLength: number;
  readonly dataOut?: Buffer;
}

/** A logical block address: a number (safe integer) or a bigint for the full 64-bit range. */
export type Lba = number | bigint;

const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

/**
 * CDBs are cut from a shared zeroed slab (Node's Buffer pool does the same for allocUnsafe): a 10-byte
 * Buffer.alloc per READ/WRITE was a typed array with its own store on every 4 KiB I/O. Each slice is handed
 * out once and never written again by this module, so it stays the caller's and starts as zeroes.
 */
const CDB_SLAB_BYTES = 8192;
let cdbSlab = Buffer.alloc(CDB_SLAB_BYTES);
let cdbSlabUsed = 0;

function cdbBuffer(length: number): Buffer {
  if (cdbSlabUsed + length > CDB_SLAB_BYTES) {
    cdbSlab = Buffer.alloc(CDB_SLAB_BYTES);
    cdbSlabUsed = 0;
  }
  const cdb = cdbSlab.subarray(cdbSlabUsed, cdbSlabUsed + length);
  cdbSlabUsed += length;
  return cdb;
}

function command(cdb: Buffer, direction: DataDirection, transferLength: number, dataOut?: Buffer): ScsiCommand {
  return dataOut === undefined ? { cdb, direction, transferLength } : { cdb, direction, transferLength, dataOut };
}

function checkInteger(cmd: string, field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${cmd}: ${field} ${value} is not an integer in ${min}..${max}`);
  }
  return value;
}

function checkLba(cmd: string, lba: Lba, bits: 32 | 64): bigint {
  if (typeof lba === 'number' && !Number.isSafeInteger(lba)) {
    throw new RangeError(`${cmd}: LBA ${lba} is not a safe integer; pass a bigint`);
  }
  const value = BigInt(lba);
  const max = bits === 32 ? BigInt(U32_MAX) : U64_MAX;
  if (value < 0n || value > max) {
    throw new RangeError(`${cmd}: LBA ${value} does not fit in ${bits} bits`);
  }
  return value;
}

/** Data bytes of `blocks` blocks; the iSCSI Expected Data Transfer Length is 32 bits. */
function dataBytes(cmd: string, blocks: number, blockSize: number): number {
  checkInteger(cmd, 'block size', blockSize, 1, U32_MAX);
  const bytes = blocks * blockSize;
  if (bytes > U32_MAX) {
    throw new RangeError(`${cmd}: ${blocks} blocks of ${blockSize} bytes exceed the 32-bit iSCSI Expected Data Transfer Length`);
  }
  return bytes;
}

/** TEST UNIT READY (SPC-4): the path checker's command. */
export function testUnitReady(): ScsiCommand {
  return command(cdbBuffer(6), 'none', 0);
}

export interface RequestSenseOptions {
  /** Default 252, the largest sense data SPC-4 allows. */
  allocationLength?: number;
  /** DESC bit: ask for descriptor-format sense data. Default false. */
  descriptorFormat?: boolean;
}

/** REQUEST SENSE (SPC-4). */
export function requestSense(options: RequestSenseOptions = {}): ScsiCommand {
  const { allocationLength = 252, descriptorFormat = false } = options;
  checkInteger('REQUEST SENSE', 'allocation length', allocationLength, 0, 0xff);
  const cdb = cdbBuffer(6);
  cdb[0] = ScsiOpcode.REQUEST_SENSE;
  cdb[1] = descriptorFormat ? 0x01 : 0;
  cdb[4] = allocationLength;
  return command(cdb, 'read', allocationLength);
}

export interface InquiryOptions {
  /** A VPD page code (sets EVPD); omit for standard INQUIRY data. */
  page?: number;
  /**
   * Default 255: enough for standard data and most VPD pages, and it keeps byte 3 zero for old devices
   * that read the field as one byte. Re-issue with the parsed `availableLength` when `truncated`.
   */
  allocationLength?: number;
}

/** INQUIRY (SPC-4): standard data, or a VPD page when `page` is given. */
export function inquiry(options: InquiryOptions = {}): ScsiCommand {
  const { page, allocationLength = 255 } = options;
  checkInteger('INQUIRY', 'allocation length', allocationLength, 0, U16_MAX);
  const cdb = cdbBuffer(6);
  cdb[0] = ScsiOpcode.INQUIRY;
  if (page !== undefined) {
    cdb[1] = 0x01; // EVPD
    cdb[2] = checkInteger('INQUIRY', 'page code', page, 0, 0xff);
  }
  cdb.writeUInt16BE(allocationLength, 3);
  return command(cdb, 'read', allocationLength);
}

/** READ CAPACITY(10) (SBC-3): 8 bytes of parameter data. */
export function readCapacity10(): ScsiCommand {
  const cdb = cdbBuffer(10);
  cdb[0] = ScsiOpcode.READ_CAPACITY_10;
  return command(cdb, 'read', 8);
}

/** READ CAPACITY(16) (SBC-3), SERVICE ACTION IN(16) / 0x10. Default allocation length 32. */
export function readCapacity16(options: { allocationLength?: number } = {}): ScsiCommand {
  const { allocationLength = 32 } = options;
  checkInteger('READ CAPACITY(16)', 'allocation length', allocationLength, 0, U32_MAX);
  const cdb = cdbBuffer(16);
  cdb[0] = ScsiOpcode.SERVICE_ACTION_IN_16;
  cdb[1] = ServiceAction.READ_CAPACITY_16;
  cdb.writeUInt32BE(allocationLength, 10);
  return command(cdb, 'read', allocationLength);
}

/** SELECT REPORT values of REPORT LUNS (SPC-4). */
export const SelectReport = {
  /** All logical units except well-known ones. */
  ALL: 0x00,
  WELL_KNOWN_ONLY: 0x01,
  ALL_INCLUDING_WELL_KNOWN: 0x02,
} as const;

export interface ReportLunsOptions {
  /** Default `SelectReport.ALL`. */
  selectReport?: number;
  /** Default 4096 (511 LUNs); at least 16 (SPC-4). */
  allocationLength?: number;
}

/** REPORT LUNS (SPC-4). */
export function reportLuns(options: ReportLunsOptions = {}): ScsiCommand {
  const { selectReport = SelectReport.ALL, allocationLength = 4096 } = options;
  checkInteger('REPORT LUNS', 'allocation length', allocationLength, 16, U32_MAX);
  const cdb = cdbBuffer(12);
  cdb[0] = ScsiOpcode.REPORT_LUNS;
  cdb[2] = checkInteger('REPORT LUNS', 'select report', selectReport, 0, 0xff);
  cdb.writeUInt32BE(allocationLength, 6);
  return command(cdb, 'read', allocationLength);
}

/** What READ and WRITE builders take. */
export interface ReadWriteOptions {
  lba: Lba;
  /** TRANSFER LENGTH in logical blocks. 0 is legal and transfers nothing (SBC-3). */
  blocks: number;
  /** Logical block length in bytes (from READ CAPACITY), to compute the transfer length. */
  blockSize: number;
  /** FUA: force unit access; the write (or read) goes to/through the medium, not only the cache. */
  fua?: boolean;
  /** DPO: disable page out; hint that the data need not stay in cache. */
  dpo?: boolean;
}

function readWrite10(cmd: string, opcode: number, direction: 'read' | 'write', o: ReadWriteOptions): ScsiCommand {
  // A number LBA in range is written as it is (no BigInt per I/O); others go through checkLba's checks.
  const lba = typeof o.lba === 'number' && Number.isSafeInteger(o.lba) && o.lba >= 0 && o.lba <= U32_MAX ? o.lba : checkLba(cmd, o.lba, 32);
  checkInteger(cmd, 'transfer length', o.blocks, 0, U16_MAX);
  const transferLength = dataBytes(cmd, o.blocks, o.blockSize);
  const cdb = cdbBuffer(10);
  cdb[0] = opcode;
  cdb[1] = flags(o);
  cdb.writeUInt32BE(Number(lba), 2);
  cdb.writeUInt16BE(o.blocks, 7);
  return command(cdb, direction, transferLength);
}

function readWrite16(cmd: string, opcode: number, direction: 'read' | 'write', o: ReadWriteOptions): ScsiCommand {
  const lba = checkLba(cmd, o.lba, 64);
  checkInteger(cmd, 'transfer length', o.blocks, 0, U32_MAX);
  const transferLength = dataBytes(cmd, o.blocks, o.blockSize);
  const cdb = cdbBuffer(16);
  cdb[0] = opcode;
  cdb[1] = flags(o);
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(o.blocks, 10);
  return command(cdb, direction, transferLength);
}

/** Byte 1 of READ/WRITE(10/16): DPO 0x10, FUA 0x08 (SBC-3); RDPROTECT/WRPROTECT left 0. */
function flags(o: ReadWriteOptions): number {
  return (o.dpo ? 0x10 : 0) | (o.fua ? 0x08 : 0);
}

/** READ(10) (SBC-3): LBA < 2^32, at most 65535 blocks. */
export function read10(options: ReadWriteOptions): ScsiCommand {
  return readWrite10('READ(10)', ScsiOpcode.READ_10, 'read', options);
}

/** READ(16) (SBC-3): 64-bit LBA, at most 2^32-1 blocks. */
export function read16(options: ReadWriteOptions): ScsiCommand {
  return readWrite16('READ(16)', ScsiOpcode.READ_16, 'read', options);
}

/** WRITE(10) (SBC-3): LBA < 2^32, at most 65535 blocks. */
export function write10(options: ReadWriteOptions): ScsiCommand {
  return readWrite10('WRITE(10)', ScsiOpcode.WRITE_10, 'write', options);
}

/** WRITE(16) (SBC-3): 64-bit LBA, at most 2^32-1 blocks. */
export function write16(options: ReadWriteOptions): ScsiCommand {
  return readWrite16('WRITE(16)', ScsiOpcode.WRITE_16, 'write', options);
}

/**
 * True when READ(10)/WRITE(10) can carry the request: at most 65535 blocks, all of them below LBA 2^32.
 * (A 10-byte command may legally run past 2^32 on a larger LU, but READ(16) serves that LU anyway.)
 */
export function fitsCdb10(lba: Lba, blocks: number): boolean {
  if (!Number.isInteger(blocks) || blocks < 0 || blocks > U16_MAX) return false;
  // A number LBA is compared as a number (exact below 2^53): no BigInt per I/O.
  if (typeof lba === 'number') return Number.isSafeInteger(lba) && lba >= 0 && lba + Math.max(blocks, 1) - 1 <= U32_MAX;
  const last = lba + BigInt(Math.max(blocks, 1)) - 1n;
  return lba >= 0n && last <= BigInt(U32_MAX);
}

/** READ(10) when it fits (`fitsCdb10`), else READ(16). */
export function readBlocks(options: ReadWriteOptions): ScsiCommand {
  return fitsCdb10(options.lba, options.blocks) ? read10(options) : read16(options);
}

/** WRITE(10) when it fits (`fitsCdb10`), else WRITE(16). */
export function writeBlocks(options: ReadWriteOptions): ScsiCommand {
  return fitsCdb10(options.lba, options.blocks) ? write10(options) : write16(options);
}

export interface SynchronizeCacheOptions {
  /** First LBA to flush. Default 0. */
  lba?: Lba;
  /** NUMBER OF LOGICAL BLOCKS; 0 (the default) means from `lba` to the end of the medium. */
  blocks?: number;
  /** IMMED: return GOOD once the command is validated, before the flush ends. Default false. */
  immed?: boolean;
}

/** SYNCHRONIZE CACHE(10) (SBC-3). The defaults flush the whole cache. */
export function synchronizeCache10(options: SynchronizeCacheOptions = {}): ScsiCommand {
  const cmd = 'SYNCHRONIZE CACHE(10)';
  const { lba = 0, blocks = 0, immed = false } = options;
  const start = checkLba(cmd, lba, 32);
  const cdb = cdbBuffer(10);
  cdb[0] = ScsiOpcode.SYNCHRONIZE_CACHE_10;
  cdb[1] = immed ? 0x02 : 0;
  cdb.writeUInt32BE(Number(start), 2);
  cdb.writeUInt16BE(checkInteger(cmd, 'number of blocks', blocks, 0, U16_MAX), 7);
  return command(cdb, 'none', 0);
}

/** SYNCHRONIZE CACHE(16) (SBC-3). The defaults flush the whole cache. */
export function synchronizeCache16(options: SynchronizeCacheOptions = {}): ScsiCommand {
  const cmd = 'SYNCHRONIZE CACHE(16)';
  const { lba = 0, blocks = 0, immed = false } = options;
  const start = checkLba(cmd, lba, 64);
  const cdb = cdbBuffer(16);
  cdb[0] = ScsiOpcode.SYNCHRONIZE_CACHE_16;
  cdb[1] = immed ? 0x02 : 0;
  cdb.writeBigUInt64BE(start, 2);
  cdb.writeUInt32BE(checkInteger(cmd, 'number of blocks', blocks, 0, U32_MAX), 10);
  return command(cdb, 'none', 0);
}

/** One UNMAP block descriptor: `blocks` logical blocks from `lba`. */
export interface UnmapRange {
  lba: Lba;
  blocks: number;
}

/** Size of the UNMAP parameter list header and of each block descriptor (SBC-3). */
const UNMAP_HEADER_LENGTH = 8;
const UNMAP_DESCRIPTOR_LENGTH = 16;
/** The PARAMETER LIST LENGTH field is 16 bits: (65535 - 8) / 16 descriptors. */
export const MAX_UNMAP_DESCRIPTORS = Math.floor((U16_MAX - UNMAP_HEADER_LENGTH) / UNMAP_DESCRIPTOR_LENGTH);

/**
 * Builds the UNMAP parameter list (SBC-3): 8-byte header, then one 16-byte descriptor per range.
 * Check the ranges against VPD B0's MAXIMUM UNMAP LBA COUNT and BLOCK DESCRIPTOR COUNT before sending.
 */
export function encodeUnmapParameterList(ranges: readonly UnmapRange[]): Buffer {
  const cmd = 'UNMAP';
  if (ranges.length > MAX_UNMAP_DESCRIPTORS) {
    throw new RangeError(`${cmd}: ${ranges.length} block descriptors exceed the ${MAX_UNMAP_DESCRIPTORS} a parameter list can hold`);
  }
  const descriptorBytes = ranges.length * UNMAP_DESCRIPTOR_LENGTH;
  const list = Buffer.alloc(UNMAP_HEADER_LENGTH + descriptorBytes);
  list.writeUInt16BE(list.length - 2, 0); // UNMAP DATA LENGTH: bytes after this field
  list.writeUInt16BE(descriptorBytes, 2); // UNMAP BLOCK DESCRIPTOR DATA LENGTH
  ranges.forEach((range, i) => {
    const o = UNMAP_HEADER_LENGTH + i * UNMAP_DESCRIPTOR_LENGTH;
    list.writeBigUInt64BE(checkLba(cmd, range.lba, 64), o);
    list.writeUInt32BE(checkInteger(cmd, 'number of logical blocks', range.blocks, 0, U32_MAX), o + 8);
  });
  return list;
}

/** Parses an UNMAP parameter list (the other side of `encodeUnmapParameterList`, for fake targets and tests). */
export function decodeUnmapParameterList(list: Buffer): { lba: bigint; blocks: number }[] {
  const page = 'UNMAP parameter list';
  if (list.length < UNMAP_HEADER_LENGTH) {
    throw new ScsiParseError(page, 0, `header needs ${UNMAP_HEADER_LENGTH} bytes, ${list.length} available`);
  }
  const dataLength = list.readUInt16BE(0);
  const descriptorBytes = list.readUInt16BE(2);
  if (descriptorBytes % UNMAP_DESCRIPTOR_LENGTH !== 0) {
    const detail = `BLOCK DESCRIPTOR DATA LENGTH ${descriptorBytes} is not a multiple of ${UNMAP_DESCRIPTOR_LENGTH}`;
    throw new ScsiParseError(page, 2, detail);
  }
  if (dataLength < descriptorBytes + 6) {
    throw new ScsiParseError(page, 0, `UNMAP DATA LENGTH ${dataLength} is less than the descriptors need`);
  }
  if (UNMAP_HEADER_LENGTH + descriptorBytes > list.length) {
    const detail = `${descriptorBytes} bytes of block descriptors, ${list.length - UNMAP_HEADER_LENGTH} available`;
    throw new ScsiParseError(page, UNMAP_HEADER_LENGTH, detail);
  }
  const ranges: { lba: bigint; blocks: number }[] = [];
  for (let o = UNMAP_HEADER_LENGTH; o < UNMAP_HEADER_LENGTH + descriptorBytes; o += UNMAP_DESCRIPTOR_LENGTH) {
    ranges.push({ lba: list.readBigUInt64BE(o), blocks: list.readUInt32BE(o + 8) });
  }
  return ranges;
}

export interface UnmapOptions {
  /** ANCHOR: anchor the blocks instead of deallocating them. Default false. */
  anchor?: boolean;
}

/** UNMAP (SBC-3): the CDB together with its parameter list as `dataOut`. */
export function unmap(ranges: readonly UnmapRange[], options: UnmapOptions = {}): ScsiCommand {
  const list = encodeUnmapParameterList(ranges);
  const cdb = cdbBuffer(10);
  cdb[0] = ScsiOpcode.UNMAP;
  cdb[1] = options.anchor ? 0x01 : 0;
  cdb.writeUInt16BE(list.length, 7);
  return command(cdb, 'write', list.length, list);
}

interface WriteSameCommon {
  lba: Lba;
  /** NUMBER OF LOGICAL BLOCKS. 0 asks for everything to the end of the medium (when the device allows it). */
  blocks: number;
  /** UNMAP: deallocate the blocks if the device can and the written data reads back the same. */
  unmap?: boolean;
  /** ANCHOR (with `unmap`). */
  anchor?: boolean;
}

/**
 * WRITE SAME(16) options: with `ndob` (SBC-4 NO DATA-OUT BUFFER) the device writes zeros and no data
 * follows; otherwise the caller sends one logical block of `blockSize` bytes.
 */
export type WriteSame16Options = WriteSameCommon & ({ ndob: true } | { ndob?: false; blockSize: number });

/** WRITE SAME(16) (SBC-3). The NBD WRITE_ZEROES path: `unmap: true` unless the client wants no hole. */
export function writeSame16(options: WriteSame16Options): ScsiCommand {
  const cmd = 'WRITE SAME(16)';
  const lba = checkLba(cmd, options.lba, 64);
  checkInteger(cmd, 'number of blocks', options.blocks, 0, U32_MAX);
  const cdb = cdbBuffer(16);
  cdb[0] = ScsiOpcode.WRITE_SAME_16;
  cdb[1] = (options.anchor ? 0x10 : 0) | (options.unmap ? 0x08 : 0) | (options.ndob ? 0x01 : 0);
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(options.blocks, 10);
  if (options.ndob) return command(cdb, 'none', 0);
  return command(cdb, 'write', dataBytes(cmd, 1, options.blockSize));
}

/** PRE-FETCH(16) (SBC-3): the NBD CACHE request. */
export function preFetch16(options: { lba: Lba; blocks: number; immed?: boolean }): ScsiCommand {
  const cmd = 'PRE-FETCH(16)';
  const lba = checkLba(cmd, options.lba, 64);
  const cdb = cdbBuffer(16);
  cdb[0] = ScsiOpcode.PRE_FETCH_16;
  cdb[1] = options.immed ? 0x02 : 0;
  cdb.writeBigUInt64BE(lba, 2);
  cdb.writeUInt32BE(checkInteger(cmd, 'prefetch length', options.blocks, 0, U32_MAX), 10);
  return command(cdb, 'none', 0);
}

/** PC field of MODE SENSE (SPC-4). */
export const PageControl = {
  CURRENT: 0,
  CHANGEABLE: 1,
  DEFAULT: 2,
  SAVED: 3,
} as const;

export interface ModeSenseOptions {
  /** PAGE CODE; default 0x3f, all pages. */
  pageCode?: number;
  /** SUBPAGE CODE; default 0. 0xff with page 0x3f returns all subpages too. */
  subpageCode?: number;
  /** Default `PageControl.CURRENT`. */
  pageControl?: number;
  /** DBD: leave out block descriptors. Default false. */
  disableBlockDescriptors?: boolean;
  /** Default 255 for MODE SENSE(6) (its maximum), 512 for MODE SENSE(10). */
  allocationLength?: number;
}

function modeSensePageBytes(cmd: string, o: ModeSenseOptions): [number, number] {
  const { pageCode = 0x3f, subpageCode = 0, pageControl = PageControl.CURRENT } = o;
  checkInteger(cmd, 'page code', pageCode, 0, 0x3f);
  checkInteger(cmd, 'page control', pageControl, 0, 3);
  return [(pageControl << 6) | pageCode, checkInteger(cmd, 'subpage code', subpageCode, 0, 0xff)];
}

/** MODE SENSE(6) (SPC-4). */
export function modeSense6(options: ModeSenseOptions = {}): ScsiCommand {
  const cmd = 'MODE SENSE(6)';
  const { allocationLength = 255 } = options;
  checkInteger(cmd, 'allocation length', allocationLength, 0, 0xff);
  const cdb = cdbBuffer(6);
  cdb[0] = ScsiOpcode.MODE_SENSE_6;
  cdb[1] = options.disableBlockDescriptors ? 0x08 : 0;
  [cdb[2], cdb[3]] = modeSensePageBytes(cmd, options);
  cdb[4] = allocationLength;
  return command(cdb, 'read', allocationLength);
}

/** MODE SENSE(10) (SPC-4). `longLba` sets LLBAA, allowing 16-byte block descriptors. */
export function modeSense10(options: ModeSenseOptions & { longLba?: boolean } = {}): ScsiCommand {
  const cmd = 'MODE SENSE(10)';
  const { allocationLength = 512 } = options;
  checkInteger(cmd, 'allocation length', allocationLength, 0, U16_MAX);
  const cdb = cdbBuffer(10);
  cdb[0] = ScsiOpcode.MODE_SENSE_10;
  cdb[1] = (options.longLba ? 0x10 : 0) | (options.disableBlockDescriptors ? 0x08 : 0);
  [cdb[2], cdb[3]] = modeSensePageBytes(cmd, options);
  cdb.writeUInt16BE(allocationLength, 7);
  return command(cdb, 'read', allocationLength);
}

export interface ReportTargetPortGroupsOptions {
  /** Default 4096. */
  allocationLength?: number;
  /** PARAMETER DATA FORMAT 001b: the extended header with IMPLICIT TRANSITION TIME. Default false. */
  extended?: boolean;
}

/** REPORT TARGET PORT GROUPS (SPC-4), MAINTENANCE IN / 0x0a: the ALUA states of each port group. */
export function reportTargetPortGroups(options: ReportTargetPortGroupsOptions = {}): ScsiCommand {
  const { allocationLength = 4096, extended = false } = options;
  checkInteger('REPORT TARGET PORT GROUPS', 'allocation length', allocationLength, 0, U32_MAX);
  const cdb = cdbBuffer(12);
  cdb[0] = ScsiOpcode.MAINTENANCE_IN;
  cdb[1] = (extended ? 0x20 : 0) | ServiceAction.REPORT_TARGET_PORT_GROUPS;
  cdb.writeUInt32BE(allocationLength, 6);
  return command(cdb, 'read', allocationLength);
}

/**
 * A CDB for messages: "READ(16) LBA 2048, 8 blocks" for the READ/WRITE commands, the opcode's name (or hex)
 * for the others. Reads only the bytes present, so any buffer will do.
 */
export function describeCdb(cdb: Buffer): string {
  const op = cdb[0];
  if (op === undefined) return 'empty CDB';
  const rw = (name: string, lba: bigint | number, blocks: number) => `${name} LBA ${lba}, ${blocks} blocks`;
  if ((op === ScsiOpcode.READ_10 || op === ScsiOpcode.WRITE_10) && cdb.length >= 10)
    return rw(op === ScsiOpcode.READ_10 ? 'READ(10)' : 'WRITE(10)', cdb.readUInt32BE(2), cdb.readUInt16BE(7));
  if ((op === ScsiOpcode.READ_16 || op === ScsiOpcode.WRITE_16) && cdb.length >= 16)
    return rw(op === ScsiOpcode.READ_16 ? 'READ(16)' : 'WRITE(16)', cdb.readBigUInt64BE(2), cdb.readUInt32BE(10));
  const name = Object.entries(ScsiOpcode).find(([, v]) => v === op)?.[0];
  return name ? name.replace(/_(\d+)$/, '($1)').replaceAll('_', ' ') : `opcode 0x${op.toString(16).padStart(2, '0')}`;
}
