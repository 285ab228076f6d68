/**
 * LUN codec: the 8-byte LUN of iSCSI PDU headers (RFC 7143 §11.2 bytes 8-15; SAM-5
 * single-level LUN structures) and the REPORT LUNS parameter data (SPC-4).
 */
import { framed, need } from './bytes.js';
import { ScsiParseError } from './errors.js';

/** ADDRESS METHOD, bits 7-6 of byte 0 of a LUN (SAM-5). */
export const LunAddressMethod = {
  PERIPHERAL_DEVICE: 0b00,
  FLAT_SPACE: 0b01,
  LOGICAL_UNIT: 0b10,
  EXTENDED_LOGICAL_UNIT: 0b11,
} as const;

/** Largest LUN of the peripheral device addressing method (bus identifier 0): one byte. */
export const MAX_PERIPHERAL_LUN = 0xff;
/** Largest LUN of the flat space addressing method: 14 bits. */
export const MAX_FLAT_SPACE_LUN = 0x3fff;

/**
 * Encodes a LUN number as the 8-byte LUN field, as Linux and libiscsi do: peripheral device addressing
 * (00b, bus 0) below 256, flat space addressing (01b) from 256 to 16383. Larger LUNs need multi-level or
 * extended structures, which no target we serve uses: RangeError.
 */
export function encodeLun(lun: number): Buffer {
  const buf = Buffer.alloc(8);
  writeLun(buf, 0, lun);
  return buf;
}

/** `encodeLun` in place: the 8-byte LUN field at `offset` (the iSCSI PDU encoder writes headers this way). */
export function writeLun(buf: Buffer, offset: number, lun: number): void {
  if (!Number.isInteger(lun) || lun < 0 || lun > MAX_FLAT_SPACE_LUN) {
    throw new RangeError(`LUN ${lun} is not an integer in 0..${MAX_FLAT_SPACE_LUN}`);
  }
  if (lun <= MAX_PERIPHERAL_LUN) {
    buf[offset] = 0;
    buf[offset + 1] = lun;
  } else {
    buf[offset] = (LunAddressMethod.FLAT_SPACE << 6) | (lun >> 8);
    buf[offset + 1] = lun & 0xff;
  }
  buf.fill(0, offset + 2, offset + 8);
}

/**
 * Decodes a single-level LUN in peripheral device (bus 0) or flat space addressing to its number, or
 * undefined for any other structure (another bus, logical unit or extended addressing, a second level).
 */
export function tryDecodeLun(buf: Buffer, offset = 0): number | undefined {
  need(buf, offset, 8, 'LUN', 'LUN field');
  // Single level: bytes 2-7 are zero (SAM-5).
  for (let i = offset + 2; i < offset + 8; i++) if (buf[i] !== 0) return undefined;
  const method = buf[offset] >> 6;
  if (method === LunAddressMethod.PERIPHERAL_DEVICE) {
    // Bits 5-0 are the BUS IDENTIFIER; non-zero addresses a unit behind another bus, not a plain LUN.
    return (buf[offset] & 0x3f) === 0 ? buf[offset + 1] : undefined;
  }
  if (method === LunAddressMethod.FLAT_SPACE) return ((buf[offset] & 0x3f) << 8) | buf[offset + 1];
  return undefined;
}

/** `tryDecodeLun`, but a LUN we cannot express as a number is a ScsiParseError. */
export function decodeLun(buf: Buffer, offset = 0): number {
  const lun = tryDecodeLun(buf, offset);
  if (lun === undefined) {
    throw new ScsiParseError('LUN', offset, `unsupported LUN structure ${buf.toString('hex', offset, offset + 8)}`);
  }
  return lun;
}

/** Parsed REPORT LUNS parameter data. */
export interface ReportLunsData {
  /** The LUNs as numbers, in the target's order (flat space 0x412c reads 300, not 16684). */
  readonly luns: readonly number[];
  /** 8-byte LUNs in structures `tryDecodeLun` does not map to a number. */
  readonly unsupported: readonly Buffer[];
  /** Bytes the target has for the full list (LUN LIST LENGTH + 8); re-issue with this allocation length. */
  readonly availableLength: number;
  /** The allocation length cut the list short; `luns` holds the complete entries returned. */
  readonly truncated: boolean;
}

const PAGE = 'REPORT LUNS';

/** Parses REPORT LUNS parameter data (SPC-4): LUN LIST LENGTH, 4 reserved bytes, 8-byte LUNs. */
export function parseReportLuns(buf: Buffer): ReportLunsData {
  need(buf, 0, 8, PAGE, 'header');
  const listLength = buf.readUInt32BE(0);
  if (listLength % 8 !== 0) {
    throw new ScsiParseError(PAGE, 0, `LUN LIST LENGTH ${listLength} is not a multiple of 8`);
  }
  const availableLength = listLength + 8;
  const { data, truncated } = framed(buf, availableLength);
  const luns: number[] = [];
  const unsupported: Buffer[] = [];
  // A partial final entry (allocation length not a multiple of 8) is dropped.
  for (let o = 8; o + 8 <= data.length; o += 8) {
    const lun = tryDecodeLun(data, o);
    if (lun === undefined) unsupported.push(Buffer.from(data.subarray(o, o + 8)));
    else luns.push(lun);
  }
  return { luns, unsupported, availableLength, truncated };
}
