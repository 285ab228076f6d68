/** Header and data digests: CRC32C (RFC 7143 §13.1, RFC 3385), native via @node-rs/crc32, stored little-endian. */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `buf`, continuing from `initial` (a previous result) when given. */
export function crc32c(buf: Uint8Array, initial?: number): number {
  return nativeCrc32c(buf, initial) >>> 0;
}

/** Reads a digest as it sits on the wire: little-endian, as libiscsi and Linux write it. */
export function readDigest(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset);
}

export function writeDigest(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value >>> 0, offset);
}
