/**
 * READ CAPACITY(10) and READ CAPACITY(16) parameter data parsers (SBC-3), and the
 * capacity derived from either.
 *
 * 64-bit quantities (the last LBA of READ CAPACITY(16), block counts, byte sizes) are bigints: an LU of
 * 2^53 bytes (8 PiB) is rare but legal, and a size that silently loses precision would corrupt I/O at the
 * end of the device. 32-bit fields stay numbers.
 */
import { need } from './bytes.js';

/** READ CAPACITY(10) parameter data. */
export interface ReadCapacity10Data {
  /** RETURNED LOGICAL BLOCK ADDRESS: the last LBA. 0xffffffff means "too large, use READ CAPACITY(16)". */
  readonly lastLba: number;
  /** LOGICAL BLOCK LENGTH IN BYTES. */
  readonly blockLength: number;
  /** True when `lastLba` is 0xffffffff (SBC-3): the capacity must come from READ CAPACITY(16). */
  readonly needsReadCapacity16: boolean;
}

/** Parses the 8 bytes of READ CAPACITY(10) parameter data. */
export function parseReadCapacity10(buf: Buffer): ReadCapacity10Data {
  need(buf, 0, 8, 'READ CAPACITY(10) data', 'parameter data');
  const lastLba = buf.readUInt32BE(0);
  return { lastLba, blockLength: buf.readUInt32BE(4), needsReadCapacity16: lastLba === 0xffff_ffff };
}

/** READ CAPACITY(16) parameter data. */
export interface ReadCapacity16Data {
  /** RETURNED LOGICAL BLOCK ADDRESS: the last LBA. */
  readonly lastLba: bigint;
  /** LOGICAL BLOCK LENGTH IN BYTES. */
  readonly blockLength: number;
  /** P_TYPE: protection type minus one when `protectionEnabled` (0 = type 1). */
  readonly pType: number;
  /** PROT_EN: the LU was formatted with protection information. */
  readonly protectionEnabled: boolean;
  /** P_I_EXPONENT: 2^n protection information intervals per logical block. */
  readonly pIExponent: number;
  /** LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: physical block = blockLength << n (3 for 512e disks). */
  readonly logicalBlocksPerPhysicalBlockExponent: number;
  /** LBPME: logical block provisioning management enabled (thin provisioned; UNMAP may work). */
  readonly lbpme: boolean;
  /** LBPRZ: unmapped blocks read as zeros. */
  readonly lbprz: boolean;
  /** LOWEST ALIGNED LOGICAL BLOCK ADDRESS: first LBA at the start of a physical block. */
  readonly lowestAlignedLba: number;
  /** Fewer than the 32 bytes SBC-3 defines were returned; fields past the end read as zero. */
  readonly truncated: boolean;
}

/** READ CAPACITY(16) returns 32 bytes (SBC-3). */
const READ_CAPACITY_16_LENGTH = 32;

/**
 * Parses READ CAPACITY(16) parameter data. The last LBA and block length (12 bytes) are required; flags
 * past a short allocation length read as zero with `truncated` set.
 */
export function parseReadCapacity16(buf: Buffer): ReadCapacity16Data {
  need(buf, 0, 12, 'READ CAPACITY(16) data', 'RETURNED LOGICAL BLOCK ADDRESS and LOGICAL BLOCK LENGTH');
  const byte = (i: number): number => (i < buf.length ? buf[i] : 0);
  return {
    lastLba: buf.readBigUInt64BE(0),
    blockLength: buf.readUInt32BE(8),
    pType: (byte(12) >> 1) & 0x07,
    protectionEnabled: (byte(12) & 0x01) !== 0,
    pIExponent: byte(13) >> 4,
    logicalBlocksPerPhysicalBlockExponent: byte(13) & 0x0f,
    lbpme: (byte(14) & 0x80) !== 0,
    lbprz: (byte(14) & 0x40) !== 0,
    lowestAlignedLba: ((byte(14) & 0x3f) << 8) | byte(15),
    truncated: buf.length < READ_CAPACITY_16_LENGTH,
  };
}

/** The size of an LU. */
export interface Capacity {
  /** Number of logical blocks: last LBA + 1. */
  readonly blocks: bigint;
  /** Logical block length in bytes. */
  readonly blockSize: number;
  /** blocks × blockSize. */
  readonly sizeBytes: bigint;
}

/**
 * Capacity from READ CAPACITY(10) or (16) data. Throws RangeError for READ CAPACITY(10) data that says
 * the LU is too large for it (`needsReadCapacity16`): the caller must issue READ CAPACITY(16).
 */
export function capacity(data: ReadCapacity10Data | ReadCapacity16Data): Capacity {
  if ('needsReadCapacity16' in data && data.needsReadCapacity16) {
    throw new RangeError('READ CAPACITY(10) returned last LBA 0xffffffff: the LU needs READ CAPACITY(16)');
  }
  const blocks = BigInt(data.lastLba) + 1n;
  return { blocks, blockSize: data.blockLength, sizeBytes: blocks * BigInt(data.blockLength) };
}
