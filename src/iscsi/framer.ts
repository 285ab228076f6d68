/**
 * Streaming PDU framing (RFC 7143 §11.2): splits a TCP byte stream into PDUs, checking header and data
 * digests and the negotiated MaxRecvDataSegmentLength; and builds the iovec of an outgoing PDU.
 * "Need more bytes" is the normal state; malformed input throws ProtocolError, a bad digest DigestError.
 */
import { BHS_LENGTH, DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, DIGEST_LENGTH, Opcode } from './constants.js';
import { crc32c, readDigest, writeDigest } from './digest.js';
import { DigestError, ProtocolError } from './errors.js';
import { BhsOffset, getDataSegmentLength, getHeaderLength, getOpcode } from './bhs.js';
import { decodePdu, encodeBhs, type Pdu } from './pdu.js';

export interface DigestOptions {
  headerDigest: boolean;
  dataDigest: boolean;
}

export interface FramerOptions extends DigestOptions {
  /** Largest data segment we accept (our declared MaxRecvDataSegmentLength). Default 8192 (login). */
  maxRecvDataSegmentLength: number;
  /**
   * Where the data segment of a Data-In that is still arriving should go: given the PDU's header (BHS +
   * AHS) and DataSegmentLength, return the destination (exactly that long) or undefined for the normal
   * path. The bytes are then written there as they arrive (and read there directly, see directTarget),
   * and the PDU is emitted with that destination as its data. Not used with data digests.
   */
  dataSink?: (header: Buffer, dataSegmentLength: number) => Buffer | undefined;
}

interface DirectData {
  header: Buffer;
  dest: Buffer;
  got: number;
  /** Padding bytes still to skip after the data. */
  skip: number;
}

const PAD = Buffer.alloc(4);
const EMPTY = Buffer.alloc(0);

function padLength(n: number): number {
  return (4 - (n & 3)) & 3;
}

/**
 * Encodes a PDU as the buffers to write, in order: header (BHS + AHS + header digest), data segment (the
 * caller's buffer, not copied), then padding and data digest. Hand them to `socket.write` under cork.
 */
export function framePdu(pdu: Pdu, digests: DigestOptions): Buffer[] {
  let header = encodeBhs(pdu);
  if (digests.headerDigest) {
    const withDigest = Buffer.allocUnsafe(header.length + DIGEST_LENGTH);
    header.copy(withDigest, 0);
    writeDigest(withDigest, header.length, crc32c(header));
    header = withDigest;
  }
  const data = pdu.data;
  if (!data || data.length === 0) return [header];
  const pad = padLength(data.length);
  if (!digests.dataDigest) return pad ? [header, data, PAD.subarray(0, pad)] : [header, data];
  const trailer = Buffer.alloc(pad + DIGEST_LENGTH);
  let crc = crc32c(data);
  if (pad) crc = crc32c(PAD.subarray(0, pad), crc);
  writeDigest(trailer, pad, crc);
  return [header, data, trailer];
}

/** Convenience for tests and small PDUs: the whole PDU as one buffer. */
export function encodePdu(pdu: Pdu, digests: DigestOptions = { headerDigest: false, dataDigest: false }): Buffer {
  return Buffer.concat(framePdu(pdu, digests));
}

export class PduFramer {
  private options: FramerOptions;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** The header digest of the PDU at the front has been verified (it may still be waiting for its data). */
  private headerChecked = false;
  /** Volatile mode: where held bytes are kept between reads, and where PDUs that span reads are assembled. */
  private carry: Buffer | undefined;
  private assembly: Buffer | undefined;
  private volatile = false;
  /** A Data-In data segment being written straight to its destination (dataSink). */
  private direct: DirectData | undefined;
  private directHeader: Buffer = Buffer.allocUnsafeSlow(BHS_LENGTH);

  constructor(options: Partial<FramerOptions> = {}) {
    this.options = {
      headerDigest: false,
      dataDigest: false,
      maxRecvDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
      ...options,
    };
  }

  /** Digests and limits change after login (§11.12: they apply from the first full-feature PDU). */
  setOptions(options: Partial<FramerOptions>): void {
    this.options = { ...this.options, ...options };
  }

  /** Bytes received but not yet part of a complete PDU. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Feeds bytes; calls `emit` for every complete PDU, in order. Throws on malformed input; after a throw
   * the stream is unusable (the connection must be dropped).
   *
   * `volatile`: the chunk's memory is reused once push returns (a shared socket read buffer). Emitted PDUs'
   * data segments are then views valid only during `emit`, and whatever the framer keeps is copied.
   */
  push(chunk: Buffer, emit: (pdu: Pdu) => void, volatile = false): void {
    if (chunk.length === 0) return;
    this.volatile = volatile;
    try {
      this.frame(chunk, emit);
    } finally {
      if (volatile) this.detach(chunk);
    }
  }

  /**
   * Moves the bytes still held that live in `chunk`'s memory into the framer's own carry buffer. The
   * buffer is reused (fresh large allocations cost a page fault per 4 KiB, which dominated 128 KiB reads).
   */
  private detach(chunk: Buffer): void {
    let held = false;
    for (let i = 0; i < this.chunks.length && !held; i++) held = this.chunks[i].buffer === chunk.buffer;
    if (!held) return;
    let keep = 0;
    const first = this.chunks[0];
    if (this.carry && first.buffer === this.carry.buffer && first.byteOffset === this.carry.byteOffset) keep = first.length;
    const total = this.buffered;
    if (!this.carry || this.carry.length < total) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(total, 2 * (this.carry?.length ?? 0), 64 * 1024));
      if (keep) first.copy(bigger, 0);
      this.carry = bigger;
    }
    let at = keep;
    for (let i = keep ? 1 : 0; i < this.chunks.length; i++) {
      this.chunks[i].copy(this.carry, at);
      at += this.chunks[i].length;
    }
    this.chunks = [this.carry.subarray(0, at)];
  }

  /**
   * Where the next socket read may land directly: the rest of a Data-In data segment in its destination
   * (so the kernel copies it into place and we copy nothing), or undefined for the shared read buffer.
   */
  directTarget(): Buffer | undefined {
    const d = this.direct;
    return d && d.got < d.dest.length && this.chunks.length === 0 ? d.dest.subarray(d.got) : undefined;
  }

  /** `n` bytes were read straight into the buffer directTarget() returned. */
  directReceived(n: number, emit: (pdu: Pdu) => void): void {
    const d = this.direct;
    if (!d) throw new ProtocolError('direct data received with no Data-In in progress', Opcode.SCSI_DATA_IN);
    d.got += n;
    if (d.got >= d.dest.length && d.skip === 0) this.finishDirect(emit);
  }

  private finishDirect(emit: (pdu: Pdu) => void): void {
    const d = this.direct!;
    this.direct = undefined;
    emit(decodePdu(d.header, d.dest));
  }

  /** Moves held bytes into the direct destination (then past its padding); true when that PDU is done. */
  private drainDirect(emit: (pdu: Pdu) => void): boolean {
    const d = this.direct!;
    while (this.chunks.length > 0 && (d.got < d.dest.length || d.skip > 0)) {
      const c = this.chunks[0];
      let n: number;
      if (d.got < d.dest.length) {
        n = Math.min(c.length, d.dest.length - d.got);
        // TypedArray.set: Buffer#copy's argument checks cost more than copying the few bytes that
        // usually arrive with the header.
        d.dest.set(n === c.length ? c : c.subarray(0, n), d.got);
        d.got += n;
      } else {
        n = Math.min(c.length, d.skip);
        d.skip -= n;
      }
      this.consume(n);
    }
    if (d.got < d.dest.length || d.skip > 0) return false;
    this.finishDirect(emit);
    return true;
  }

  private frame(chunk: Buffer, emit: (pdu: Pdu) => void): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.direct && !this.drainDirect(emit)) return;
      if (this.buffered < BHS_LENGTH) return;
      const first = this.chunks[0].length >= BHS_LENGTH ? this.chunks[0] : this.coalesce(BHS_LENGTH);
      const opcode = getOpcode(first);
      const headerLen = getHeaderLength(first);
      const dsl = getDataSegmentLength(first);
      const hdLen = this.options.headerDigest ? DIGEST_LENGTH : 0;
      // Check the header digest before trusting DataSegmentLength (§7.8): a corrupted length must surface as
      // a header digest error at once, not as a limit violation or a stall waiting for bytes that never come.
      if (hdLen && !this.headerChecked) {
        if (this.buffered < headerLen + hdLen) return;
        const h = this.chunks[0].length >= headerLen + hdLen ? this.chunks[0] : this.coalesce(headerLen + hdLen);
        const got = readDigest(h, headerLen);
        const want = crc32c(h.subarray(0, headerLen));
        if (got !== want) throw new DigestError('header', want, got, opcode);
        this.headerChecked = true;
      }
      if (dsl > this.options.maxRecvDataSegmentLength)
        throw new ProtocolError(
          `DataSegmentLength ${dsl} exceeds MaxRecvDataSegmentLength ${this.options.maxRecvDataSegmentLength}`,
          opcode,
          BhsOffset.DATA_SEGMENT_LENGTH,
        );
      const dataPadded = dsl + padLength(dsl);
      const ddLen = this.options.dataDigest && dsl > 0 ? DIGEST_LENGTH : 0;
      const total = headerLen + hdLen + dataPadded + ddLen;
      if (this.buffered < total) {
        // A Data-In whose data is still arriving: hand it to its destination as it comes (no assembly).
        const headerEnd = headerLen + hdLen;
        if (opcode === Opcode.SCSI_DATA_IN && dsl > 0 && !ddLen && this.options.dataSink && this.buffered >= headerEnd) {
          const h = this.chunks[0].length >= headerEnd ? this.chunks[0] : this.coalesce(headerEnd);
          const dest = this.options.dataSink(h.subarray(0, headerLen), dsl);
          if (dest && dest.length === dsl) {
            // The header outlives this read's buffer: keep it in the framer's own (one Data-In at a time).
            if (this.directHeader.length < headerLen) this.directHeader = Buffer.allocUnsafeSlow(headerLen);
            h.copy(this.directHeader, 0, 0, headerLen);
            this.direct = { header: this.directHeader.subarray(0, headerLen), dest, got: 0, skip: padLength(dsl) };
            this.consume(headerEnd);
            this.headerChecked = false;
            continue;
          }
        }
        return;
      }
      const pduBytes = this.chunks[0].length >= total ? this.chunks[0] : this.coalesce(total);
      this.consume(total);
      this.headerChecked = false;
      const header = pduBytes.subarray(0, headerLen);
      const dataStart = headerLen + hdLen;
      if (ddLen) {
        const got = readDigest(pduBytes, dataStart + dataPadded);
        const want = crc32c(pduBytes.subarray(dataStart, dataStart + dataPadded));
        if (got !== want) throw new DigestError('data', want, got, opcode);
      }
      const data = dsl > 0 ? pduBytes.subarray(dataStart, dataStart + dsl) : EMPTY;
      emit(decodePdu(header, data));
    }
  }

  /**
   * Merges leading chunks so that the first holds exactly `n` bytes; the rest of the last chunk stays a
   * view (never copied twice: a 128 KiB Data-In that spans socket reads is copied once, here).
   */
  private coalesce(n: number): Buffer {
    // Volatile mode: emitted data is valid only during emit, so one assembly buffer serves every PDU.
    // Its only possible source is itself at offset 0 (a header assembled before), copied onto itself.
    let merged: Buffer;
    if (this.volatile) {
      if (!this.assembly || this.assembly.length < n) {
        const bigger = Buffer.allocUnsafeSlow(Math.max(n, 2 * (this.assembly?.length ?? 0), 64 * 1024));
        const first = this.chunks[0];
        if (this.assembly && first.buffer === this.assembly.buffer) {
          // Move the partial header out of the old buffer before it is dropped.
          first.copy(bigger, 0);
          this.chunks[0] = bigger.subarray(0, first.length);
        }
        this.assembly = bigger;
      }
      merged = this.assembly.subarray(0, n);
    } else merged = Buffer.allocUnsafe(n);
    let have = 0;
    while (have < n) {
      const c = this.chunks[0];
      const take = Math.min(c.length, n - have);
      c.copy(merged, have, 0, take);
      have += take;
      if (take === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(take);
    }
    this.chunks.unshift(merged);
    return merged;
  }

  private consume(n: number): void {
    this.buffered -= n;
    const first = this.chunks[0];
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
  }
}
