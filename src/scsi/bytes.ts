/**
 * Bounds-checked byte helpers shared by the SCSI parsers (internal, not exported from the package): every
 * read of target data goes through a length check first, so a short buffer is a ScsiParseError and never
 * a RangeError from Buffer.
 */
import { ScsiParseError } from './parse-error.js';

/** Throws unless `buf` holds `length` bytes starting at `offset`. `field` names what was being read. */
export function need(buf: Buffer, offset: number, length: number, page: string, field: string): void {
  if (offset + length > buf.length) {
    const have = Math.max(0, buf.length - offset);
    throw new ScsiParseError(page, offset, `${field} needs ${length} bytes, ${have} available`);
  }
}

/**
 * Most SCSI responses start with a header whose length field gives the size of the whole response; the
 * target returns at most the allocation length of the CDB (SPC-4), so the buffer may be shorter
 * (truncated) or, with some targets, padded beyond it. Returns the part that belongs to the response.
 */
export function framed(buf: Buffer, availableLength: number): { data: Buffer; truncated: boolean } {
  return buf.length < availableLength ? { data: buf, truncated: true } : { data: buf.subarray(0, availableLength), truncated: false };
}

/** Lowercase hex of the bytes, no separators. */
export function hex(buf: Buffer): string {
  return buf.toString('hex');
}

/** `0x2a`: one byte for messages. */
export function hexByte(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

/**
 * ASCII fields (T10 vendor id, product id, unit serial number) are left-aligned and padded with spaces,
 * and some targets pad with NULs: cut at the first NUL and trim the spaces.
 */
export function asciiField(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.toString('latin1', 0, nul === -1 ? buf.length : nul).trim();
}

/** NUL-terminated, NUL-padded UTF-8 (SCSI name string designator, SPC-4). */
export function utf8Field(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.toString('utf8', 0, nul === -1 ? buf.length : nul);
}
