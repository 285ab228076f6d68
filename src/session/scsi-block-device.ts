/**
 * A BlockDevice on one SCSI logical unit, the NBD -> SCSI mapping of reference/nbd-and-multipath.md (as QEMU's
 * block/iscsi.c and ublk.iscsi do it): capabilities from READ CAPACITY, VPD 0xB0 Block Limits, VPD 0xB2 Logical
 * Block Provisioning and MODE SENSE (SBC-3, SPC-4); READ/WRITE(10/16) with FUA, SYNCHRONIZE CACHE(16) falling back
 * to (10), UNMAP split at the Block Limits, WRITE SAME(16) falling back to zero writes, PRE-FETCH(16) as a hint.
 */
import type { BlockDevice, BlockDeviceInfo, BlockSink } from './block-device.js';
import { Lun, executeScsi, submitScsi, type ExecuteOptions, type ScsiExecutor } from './lun.js';
import type { TaskSink } from './task.js';
import type { ScsiResult } from './types.js';
import type { Clock } from './clock.js';
import {
  MAX_UNMAP_DESCRIPTORS,
  VpdPage,
  inquiry,
  modeSense10,
  modeSense6,
  preFetch16,
  readBlocks,
  readCapacity16,
  synchronizeCache10,
  synchronizeCache16,
  unmap,
  writeBlocks,
  writeSame16,
  type ScsiCommand,
  type UnmapRange,
} from '../scsi/cdb.js';
import { parseReadCapacity16 } from '../scsi/capacity.js';
import { CheckConditionError } from '../scsi/errors.js';
import {
  parseBlockLimits,
  parseDeviceIdentification,
  parseLogicalBlockProvisioning,
  parseStandardInquiry,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  wwid as wwidOf,
  type BlockLimits,
  type LogicalBlockProvisioning,
  type StandardInquiry,
} from '../scsi/inquiry.js';
import { parseModeSense10, parseModeSense6, type ModeParameters } from '../scsi/mode-sense.js';
import { SenseKey } from '../scsi/sense.js';

/** Largest single request passed to the LU, whatever VPD B0 allows: the NBD default maximum payload. */
export const MAX_TRANSFER_CAP = 32 * 1024 * 1024;
const U32_MAX = 0xffff_ffff;

export interface ScsiBlockDeviceOptions {
  /** SCSI commands in flight for one request split at `maxTransfer` (or the UNMAP/WRITE SAME limits). Default 8. */
  splitConcurrency?: number;
  /** Upper bound of `info.maxTransfer` in bytes. Default 32 MiB. */
  maxTransferCap?: number;
  /** Blocks per WRITE SAME when VPD B0 reports no MAXIMUM WRITE SAME LENGTH. Default 32 MiB worth. */
  defaultWriteSameBytes?: number;
  /** The clock of the BUSY / TASK SET FULL retry pause of every command the device sends. Default systemClock. */
  clock?: Clock;
}

/** What `open` learned from the LU, beyond BlockDeviceInfo (for diagnostics and tests). */
export interface ScsiDeviceFacts {
  readonly inquiry?: StandardInquiry;
  readonly wwid?: string;
  readonly serial?: string;
  readonly supportedVpdPages: readonly number[];
  readonly blockLimits?: BlockLimits;
  readonly provisioning?: LogicalBlockProvisioning;
  readonly modeParameters?: ModeParameters;
  /** Logical blocks per physical block (READ CAPACITY(16) exponent), 1 when unknown. */
  readonly logicalPerPhysical: number;
  /** Unmapped blocks read as zeros (READ CAPACITY(16) LBPRZ or VPD B2 LBPRZ). */
  readonly lbprz: boolean;
}

/** The sense keys and ASCs that mean "this command or field is not implemented here" (SPC-4). */
function isUnsupported(err: unknown): boolean {
  if (!(err instanceof CheckConditionError) || err.sense.key !== SenseKey.ILLEGAL_REQUEST) return false;
  // 0x20 INVALID COMMAND OPERATION CODE, 0x24 INVALID FIELD IN CDB, 0x26 INVALID FIELD IN PARAMETER LIST.
  return err.sense.asc === 0x20 || err.sense.asc === 0x24 || err.sense.asc === 0x26;
}

function isIllegalRequest(err: unknown): boolean {
  return err instanceof CheckConditionError && err.sense.key === SenseKey.ILLEGAL_REQUEST;
}

/** Runs `fn` over `items` with at most `limit` running at once; rejects with the first error after all settle. */
async function runLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  if (items.length === 1) {
    await fn(items[0]);
    return;
  }
  let next = 0;
  let firstError: unknown;
  let failed = false;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (err) {
        if (!failed) firstError = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw firstError;
}

/** [lba, blocks) pieces of at most `max` blocks. */
function pieces(lba: number, blocks: number, max: number): { lba: number; blocks: number }[] {
  const out: { lba: number; blocks: number }[] = [];
  for (let done = 0; done < blocks; done += max) out.push({ lba: lba + done, blocks: Math.min(max, blocks - done) });
  return out;
}

function largestPowerOf2AtMost(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * The end of one READ or WRITE command of a request: the command's sink, handing on to the request's. A read
 * checks that every byte arrived and that it is in `slice` (where Data-In normally lands directly).
 */
class PieceDone implements TaskSink {
  constructor(
    readonly lba: number,
    /** The read's destination (exactly its size); undefined for a write. */
    readonly slice: Buffer | undefined,
    readonly sink: BlockSink,
  ) {}

  done(res: ScsiResult): void {
    const slice = this.slice;
    if (slice === undefined) return this.sink.done(undefined);
    // A short Data-In (underflow) is the target failing to deliver, not a bad request: EIO, not EINVAL.
    if (res.data.length !== slice.length)
      return this.sink.fail(
        new Error(`READ at LBA ${this.lba}: ${res.data.length} of ${slice.length} bytes arrived (residual ${res.residual})`),
      );
    if (res.data.buffer !== slice.buffer || res.data.byteOffset !== slice.byteOffset) res.data.copy(slice);
    this.sink.done(slice);
  }

  fail(err: Error): void {
    this.sink.fail(err);
  }
}

/** A BlockSink for read()/write()'s promises. */
function promised<T>(start: (sink: BlockSink) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start({ done: resolve as (d: Buffer | undefined) => void, fail: reject }));
}

export class ScsiBlockDevice implements BlockDevice {
  readonly info: BlockDeviceInfo;
  /** SYNCHRONIZE CACHE(16) was refused: use (10) from now on. */
  private syncCache10 = false;
  /** WRITE SAME(16) with the UNMAP bit was refused: write zeros without it. */
  private writeSameUnmap: boolean;
  /** WRITE SAME(16) was refused altogether: zero writes from now on. */
  private writeSameSupported = true;
  /** PRE-FETCH(16) was refused: CACHE is a no-op from now on. */
  private prefetchSupported = true;
  private zeroBuffer: Buffer | undefined;
  private readonly zeroBlock: Buffer;
  private readonly concurrency: number;
  private readonly maxUnmapLba: number;
  private readonly maxUnmapDescriptors: number;
  private readonly maxWriteSameBlocks: number;
  private readonly maxPrefetchBlocks: number;
  private readonly clock: Clock | undefined;

  private constructor(
    readonly executor: ScsiExecutor,
    readonly lun: number,
    readonly facts: ScsiDeviceFacts,
    info: BlockDeviceInfo,
    options: ScsiBlockDeviceOptions,
  ) {
    this.info = Object.freeze(info);
    this.concurrency = Math.max(1, options.splitConcurrency ?? 8);
    this.clock = options.clock;
    this.zeroBlock = Buffer.alloc(info.blockSize);
    const bl = facts.blockLimits;
    const bs = info.blockSize;
    // VPD B0 (SBC-3): 0xffffffff = unlimited; a missing field (short SBC-2 page) = no limit reported.
    const lbaCount = bl?.maximumUnmapLbaCount;
    this.maxUnmapLba = lbaCount === undefined || lbaCount === U32_MAX ? Infinity : lbaCount;
    const descriptors = bl?.maximumUnmapBlockDescriptorCount;
    this.maxUnmapDescriptors = descriptors === undefined ? 1 : Math.min(descriptors, MAX_UNMAP_DESCRIPTORS);
    const ws = bl?.maximumWriteSameLength;
    const defaultWs = Math.max(1, Math.floor((options.defaultWriteSameBytes ?? MAX_TRANSFER_CAP) / bs));
    this.maxWriteSameBlocks = ws !== undefined && ws > 0n ? Number(ws > BigInt(U32_MAX) ? BigInt(U32_MAX) : ws) : defaultWs;
    const pf = bl?.maximumPrefetchLength;
    this.maxPrefetchBlocks = pf !== undefined && pf > 0 ? pf : U32_MAX;
    this.writeSameUnmap = facts.provisioning?.lbpws ?? false;
  }

  /**
   * Opens LU `lun` behind `exec`: TEST UNIT READY and READ CAPACITY (Lun.open), standard INQUIRY, the supported
   * VPD pages (0x83 for the WWID, 0x80 serial, 0xB0 limits, 0xB2 provisioning), MODE SENSE(6), or (10) when (6)
   * is refused, for WP and DPOFUA. Pages the LU lacks leave conservative defaults.
   */
  static async open(exec: ScsiExecutor, lun: number, options: ScsiBlockDeviceOptions = {}): Promise<ScsiBlockDevice> {
    const clock = options.clock;
    const lu = await Lun.open(exec, lun, { clock });
    const bs = lu.blockSize;
    const run = (cmd: ScsiCommand, opts?: ExecuteOptions) => executeScsi(exec, lun, cmd, { ...opts, clock });
    const optional = async <T>(f: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await f();
      } catch (err) {
        // A page or command the LU does not implement (ILLEGAL REQUEST) or cannot describe (ScsiParseError)
        // leaves the default; transport errors and the like still fail the open.
        if (isIllegalRequest(err) || (err as Error).name === 'ScsiParseError') return undefined;
        throw err;
      }
    };
    /** A VPD page, re-read with its full length when the first 255 bytes cut it short. */
    const vpd = async (page: number): Promise<Buffer> => {
      let data = (await run(inquiry({ page }))).data;
      const available = data.length >= 4 ? data.readUInt16BE(2) + 4 : 0;
      if (available > data.length && data.length >= 255)
        data = (await run(inquiry({ page, allocationLength: Math.min(available, 0xffff) }))).data;
      return data;
    };

    const rc16 = await optional(async () => parseReadCapacity16((await run(readCapacity16())).data));
    const std = await optional(async () => parseStandardInquiry((await run(inquiry())).data));
    const pages = (await optional(async () => parseSupportedVpdPages(await vpd(VpdPage.SUPPORTED_VPD_PAGES)).pages)) ?? [];
    const has = (p: number) => pages.includes(p);
    const wwid = has(VpdPage.DEVICE_IDENTIFICATION)
      ? await optional(async () => wwidOf(parseDeviceIdentification(await vpd(VpdPage.DEVICE_IDENTIFICATION)).designators))
      : undefined;
    const serial = has(VpdPage.UNIT_SERIAL_NUMBER)
      ? await optional(async () => parseUnitSerialNumber(await vpd(VpdPage.UNIT_SERIAL_NUMBER)).serialNumber)
      : undefined;
    const blockLimits = has(VpdPage.BLOCK_LIMITS)
      ? await optional(async () => parseBlockLimits(await vpd(VpdPage.BLOCK_LIMITS)))
      : undefined;
    const provisioning = has(VpdPage.LOGICAL_BLOCK_PROVISIONING)
      ? await optional(async () => parseLogicalBlockProvisioning(await vpd(VpdPage.LOGICAL_BLOCK_PROVISIONING)))
      : undefined;
    const modeParameters =
      (await optional(async () => parseModeSense6((await run(modeSense6({ disableBlockDescriptors: true }))).data))) ??
      (await optional(async () => parseModeSense10((await run(modeSense10({ disableBlockDescriptors: true }))).data)));

    const logicalPerPhysical = 2 ** (rc16?.logicalBlocksPerPhysicalBlockExponent ?? 0);
    const capped = Math.min(options.maxTransferCap ?? MAX_TRANSFER_CAP, MAX_TRANSFER_CAP);
    const mtl = blockLimits?.maximumTransferLength ?? 0;
    const maxTransfer = Math.max(bs, Math.floor(Math.min(capped, mtl > 0 ? mtl * bs : Infinity) / bs) * bs);
    // NBD wants a power of 2 (at least 512) for the preferred size: the optimal transfer length when the LU gives
    // one, else 4096, never below the physical block, never above the largest request.
    const otl = blockLimits?.optimalTransferLength ?? 0;
    const wanted = Math.max(otl > 0 ? otl * bs : 4096, bs * logicalPerPhysical, bs, 512);
    const preferredBlockSize = Math.max(bs, Math.min(largestPowerOf2AtMost(wanted), largestPowerOf2AtMost(maxTransfer)));

    // SBC-3: MAXIMUM UNMAP LBA COUNT 0 means UNMAP is not implemented even when B2 says LBPU.
    const unmapLimitsAllow = blockLimits?.maximumUnmapLbaCount !== 0 && blockLimits?.maximumUnmapBlockDescriptorCount !== 0;
    const canTrim = (provisioning?.lbpu ?? false) && unmapLimitsAllow;
    const readOnly = modeParameters?.writeProtected ?? false;
    const ident = std ? [std.vendor, std.product, std.revision].filter((s) => s.length > 0).join(' ') : `LUN ${lun}`;
    const id = wwid !== undefined ? `WWID ${wwid}` : serial ? `serial ${serial}` : undefined;
    const facts: ScsiDeviceFacts = {
      ...(std ? { inquiry: std } : {}),
      ...(wwid !== undefined ? { wwid } : {}),
      ...(serial !== undefined ? { serial } : {}),
      supportedVpdPages: pages,
      ...(blockLimits ? { blockLimits } : {}),
      ...(provisioning ? { provisioning } : {}),
      ...(modeParameters ? { modeParameters } : {}),
      logicalPerPhysical,
      lbprz: (rc16?.lbprz ?? false) || (provisioning?.lbprz ?? 0) === 1,
    };
    const info: BlockDeviceInfo = {
      size: lu.sizeBytes,
      blockSize: bs,
      preferredBlockSize,
      maxTransfer,
      readOnly,
      canFlush: true,
      canFua: modeParameters?.dpoFua ?? false,
      canTrim,
      // WRITE SAME(16), or zero writes when the LU refuses it: always possible on a writable LU.
      canWriteZeroes: true,
      // proto.md: with NBD_FLAG_CAN_MULTI_CONN a FLUSH (or FUA) on one connection must make durable every
      // write completed on any connection. Every connection to an export goes to this one device, a write is
      // replied to only after the target's GOOD status, and a FLUSH is SYNCHRONIZE CACHE on the LU, whose
      // cache is the LU's whatever path or connection carried the writes (SBC-3): so the promise holds.
      canMultiConn: true,
      description: id ? `${ident}, ${id}` : ident,
    };
    return new ScsiBlockDevice(exec, lun, facts, info, options);
  }

  /**
   * Not async, like write(): a request of one command (every 4 KiB I/O) is that command's promise and one
   * `.then`, without an async frame of its own; bad arguments still reject rather than throw.
   */
  read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    try {
      this.check('read', offset, length);
      if (into !== undefined && into.length < length) throw new RangeError(`read: buffer of ${into.length} bytes for ${length}`);
    } catch (err) {
      return Promise.reject(err);
    }
    const out = into === undefined ? Buffer.allocUnsafe(length) : into.subarray(0, length);
    const bs = this.info.blockSize;
    const lba = offset / bs;
    const blocks = length / bs;
    const maxBlocks = this.info.maxTransfer / bs;
    if (blocks <= maxBlocks) return promised((sink) => this.readPiece(lba, blocks, out, sink));
    return runLimited(pieces(lba, blocks, maxBlocks), this.concurrency, (p) =>
      promised((sink) => this.readPiece(p.lba, p.blocks, out.subarray((p.lba - lba) * bs, (p.lba - lba + p.blocks) * bs), sink)),
    ).then(() => out);
  }

  /**
   * read() without the promise, for the NBD server's per-I/O path: a request of one command (every 4 KiB I/O)
   * costs the command's records and one PieceDone; `sink` hears once, from the PDU that completes it (or at
   * once for bad arguments). Larger requests go through read().
   */
  submitRead(offset: number, length: number, into: Buffer | undefined, sink: BlockSink): void {
    const bs = this.info.blockSize;
    if (length > this.info.maxTransfer) {
      this.read(offset, length, into).then(
        (d) => sink.done(d),
        (e: Error) => sink.fail(e),
      );
      return;
    }
    try {
      this.check('read', offset, length);
      if (into !== undefined && into.length < length) throw new RangeError(`read: buffer of ${into.length} bytes for ${length}`);
    } catch (err) {
      return sink.fail(err as Error);
    }
    const out = into === undefined ? Buffer.allocUnsafe(length) : into.length === length ? into : into.subarray(0, length);
    this.readPiece(offset / bs, length / bs, out, sink);
  }

  /** write() without the promise, as submitRead; a FUA the LU cannot honour (flush after) goes through write(). */
  submitWrite(offset: number, data: Buffer, fua: boolean, sink: BlockSink): void {
    const bs = this.info.blockSize;
    if (data.length > this.info.maxTransfer || (fua && !this.info.canFua)) {
      this.write(offset, data, fua).then(
        () => sink.done(undefined),
        (e: Error) => sink.fail(e),
      );
      return;
    }
    try {
      this.check('write', offset, data.length);
    } catch (err) {
      return sink.fail(err as Error);
    }
    this.writePiece(offset / bs, data.length / bs, data, fua, sink);
  }

  /** READ of `blocks` blocks at `lba` into `slice` (exactly their size); `sink` gets `slice`. */
  private readPiece(lba: number, blocks: number, slice: Buffer, sink: BlockSink): void {
    submitScsi(
      this.executor,
      this.lun,
      readBlocks({ lba, blocks, blockSize: this.info.blockSize }),
      { readInto: slice, clock: this.clock },
      new PieceDone(lba, slice, sink),
    );
  }

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    try {
      this.check('write', offset, data.length);
    } catch (err) {
      return Promise.reject(err);
    }
    const bs = this.info.blockSize;
    const lba = offset / bs;
    const blocks = data.length / bs;
    // FUA on the WRITE when the LU honours it (MODE SENSE DPOFUA); otherwise a SYNCHRONIZE CACHE afterwards.
    const fuaBit = fua && this.info.canFua;
    const maxBlocks = this.info.maxTransfer / bs;
    const written =
      blocks <= maxBlocks
        ? promised<void>((sink) => this.writePiece(lba, blocks, data, fuaBit, sink))
        : runLimited(pieces(lba, blocks, maxBlocks), this.concurrency, (p) =>
            promised<void>((sink) =>
              this.writePiece(p.lba, p.blocks, data.subarray((p.lba - lba) * bs, (p.lba - lba + p.blocks) * bs), fuaBit, sink),
            ),
          );
    return fua && !fuaBit ? written.then(() => this.flush()) : written;
  }

  /** WRITE of `blocks` blocks at `lba` from `slice` (exactly their size). */
  private writePiece(lba: number, blocks: number, slice: Buffer, fua: boolean, sink: BlockSink): void {
    submitScsi(
      this.executor,
      this.lun,
      writeBlocks({ lba, blocks, blockSize: this.info.blockSize, fua }),
      { dataOut: slice, clock: this.clock },
      new PieceDone(lba, undefined, sink),
    );
  }

  async flush(): Promise<void> {
    if (this.syncCache10) {
      await this.run(synchronizeCache10());
      return;
    }
    try {
      await this.run(synchronizeCache16());
    } catch (err) {
      // Older LUs lack the 16-byte form (SBC-3 makes it optional): ILLEGAL REQUEST, then (10) for good.
      if (!isIllegalRequest(err)) throw err;
      await this.run(synchronizeCache10());
      this.syncCache10 = true;
    }
  }

  async trim(offset: number, length: number): Promise<void> {
    const { lba, blocks } = this.range('trim', offset, length);
    if (!this.info.canTrim) throw new RangeError('trim: the LU does not support UNMAP (VPD B2 LBPU)');
    // Descriptors of at most 2^32-1 blocks (and at most MAXIMUM UNMAP LBA COUNT), grouped into UNMAP commands of
    // at most MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT descriptors and MAXIMUM UNMAP LBA COUNT blocks (VPD B0).
    const ranges = pieces(lba, blocks, Math.min(this.maxUnmapLba, U32_MAX));
    const commands: UnmapRange[][] = [];
    let current: UnmapRange[] = [];
    let total = 0;
    for (const r of ranges) {
      if (current.length > 0 && (current.length >= this.maxUnmapDescriptors || total + r.blocks > this.maxUnmapLba)) {
        commands.push(current);
        current = [];
        total = 0;
      }
      current.push(r);
      total += r.blocks;
    }
    commands.push(current);
    await runLimited(commands, this.concurrency, async (c) => {
      await this.run(unmap(c));
    });
  }

  async writeZeroes(offset: number, length: number, noHole: boolean): Promise<void> {
    const { lba, blocks } = this.range('writeZeroes', offset, length);
    await runLimited(pieces(lba, blocks, this.maxWriteSameBlocks), this.concurrency, (p) => this.zeroPiece(p.lba, p.blocks, noHole));
  }

  async cache(offset: number, length: number): Promise<void> {
    const { lba, blocks } = this.range('cache', offset, length);
    if (!this.prefetchSupported) return;
    try {
      await runLimited(pieces(lba, blocks, this.maxPrefetchBlocks), this.concurrency, async (p) => {
        // IMMED: the target answers once the command is checked; the prefetch is a hint and need not be waited for.
        await this.run(preFetch16({ lba: p.lba, blocks: p.blocks, immed: true }));
      });
    } catch (err) {
      // CACHE is advisory: an LU without PRE-FETCH(16) simply does not prefetch.
      if (!isIllegalRequest(err)) throw err;
      if (isUnsupported(err)) this.prefetchSupported = false;
    }
  }

  /** WRITE SAME(16) of a zero block over one piece, falling back (and remembering it) when the LU refuses. */
  private async zeroPiece(lba: number, blocks: number, noHole: boolean): Promise<void> {
    for (;;) {
      if (!this.writeSameSupported) return this.zeroWrite(lba, blocks);
      // UNMAP bit only when the client accepts a hole and VPD B2 says LBPWS (SBC-3: the blocks still read as zero).
      const unmapBit = !noHole && this.writeSameUnmap;
      try {
        await this.run(writeSame16({ lba, blocks, blockSize: this.info.blockSize, unmap: unmapBit }), { dataOut: this.zeroBlock });
        return;
      } catch (err) {
        if (!isUnsupported(err)) throw err;
        if (unmapBit) this.writeSameUnmap = false;
        else this.writeSameSupported = false;
      }
    }
  }

  /** Zeroes by writing zero buffers (one shared buffer of at most 1 MiB). */
  private async zeroWrite(lba: number, blocks: number): Promise<void> {
    const bs = this.info.blockSize;
    const chunkBlocks = Math.max(1, Math.floor(Math.min(this.info.maxTransfer, 1024 * 1024) / bs));
    if (!this.zeroBuffer || this.zeroBuffer.length < chunkBlocks * bs) this.zeroBuffer = Buffer.alloc(chunkBlocks * bs);
    const zeros = this.zeroBuffer;
    await runLimited(pieces(lba, blocks, chunkBlocks), this.concurrency, async (p) => {
      await this.run(writeBlocks({ lba: p.lba, blocks: p.blocks, blockSize: bs }), { dataOut: zeros.subarray(0, p.blocks * bs) });
    });
  }

  private run(cmd: ScsiCommand, opts?: ExecuteOptions) {
    return executeScsi(this.executor, this.lun, cmd, { ...opts, clock: this.clock });
  }

  private range(what: string, offset: number, length: number): { lba: number; blocks: number } {
    this.check(what, offset, length);
    return { lba: offset / this.info.blockSize, blocks: length / this.info.blockSize };
  }

  /** Throws RangeError unless [offset, offset+length) is a non-empty, block-aligned range inside the LU. */
  private check(what: string, offset: number, length: number): void {
    const bs = this.info.blockSize;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`${what}: bad offset ${offset}`);
    if (!Number.isSafeInteger(length) || length <= 0)
      throw new RangeError(`${what}: length must be a positive number of bytes, got ${length}`);
    if (offset % bs !== 0 || length % bs !== 0)
      throw new RangeError(`${what}: offset ${offset} and length ${length} must be multiples of the ${bs}-byte block size`);
    if (offset + length > this.info.size)
      throw new RangeError(`${what}: [${offset}, ${offset + length}) runs past the end of the LU (${this.info.size} bytes)`);
    if (length / bs > U32_MAX) throw new RangeError(`${what}: ${length / bs} blocks in one request`);
  }
}
