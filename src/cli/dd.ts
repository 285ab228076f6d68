/** Copies between a LUN and a file (either direction) or between two LUNs, with several commands in flight. */
import type { FileHandle } from 'node:fs/promises';
import type { Lun } from '../session/lun.js';

export type Endpoint = { kind: 'lun'; lun: Lun } | { kind: 'file'; file: FileHandle; size: number; path: string };

export interface DdOptions {
  src: Endpoint;
  dst: Endpoint;
  /** Bytes per command. Default 1 MiB (rounded to the LU's block size). */
  chunk?: number;
  inFlight?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * The copy stopped before its end: every byte below `at` reached the destination (chunks above it may have
 * too); `cause` is the first failure.
 */
export class DdStoppedError extends Error {
  override readonly name = 'DdStoppedError';
  constructor(
    readonly at: number,
    override readonly cause: unknown,
  ) {
    super(`dd stopped at byte ${at}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export function endpointSize(e: Endpoint): number {
  return e.kind === 'lun' ? e.lun.sizeBytes : e.size;
}

export async function runDd(opts: DdOptions): Promise<number> {
  const { src, dst } = opts;
  const total = endpointSize(src);
  const blockSize = Math.max(src.kind === 'lun' ? src.lun.blockSize : 1, dst.kind === 'lun' ? dst.lun.blockSize : 1);
  if (total === 0) throw new RangeError('source is empty: nothing to copy');
  if (total % blockSize !== 0) throw new RangeError(`source size ${total} is not a multiple of the ${blockSize}-byte block size`);
  if (dst.kind === 'lun' && total > dst.lun.sizeBytes)
    throw new RangeError(`source (${total} bytes) is larger than the destination LU (${dst.lun.sizeBytes} bytes)`);
  const chunk = Math.max(blockSize, Math.floor((opts.chunk ?? 1 << 20) / blockSize) * blockSize);
  const inFlight = opts.inFlight ?? 8;
  let next = 0;
  let done = 0;
  // Each worker reuses one buffer: fresh large buffers cost a page fault per 4 KiB.
  const readAt = async (off: number, len: number, into: Buffer): Promise<Buffer> => {
    const buf = into.subarray(0, len);
    if (src.kind === 'lun') return src.lun.read(off, len, buf);
    const { bytesRead } = await src.file.read(buf, 0, len, off);
    if (bytesRead !== len) throw new Error(`short read from ${src.path} at ${off}: ${bytesRead} of ${len} bytes`);
    return buf;
  };
  const writeAt = async (off: number, data: Buffer): Promise<void> => {
    if (dst.kind === 'lun') return dst.lun.write(off, data);
    const { bytesWritten } = await dst.file.write(data, 0, data.length, off);
    if (bytesWritten !== data.length) throw new Error(`short write to ${dst.path} at ${off}`);
  };
  let failed: DdStoppedError | undefined;
  // Chunks being copied: chunks are handed out in order, so all below the lowest of them are copied.
  const busy = new Set<number>();
  const worker = async (): Promise<void> => {
    const into = Buffer.allocUnsafeSlow(chunk);
    while (next < total && !failed) {
      const off = next;
      const len = Math.min(chunk, total - off);
      next += len;
      busy.add(off);
      try {
        await writeAt(off, await readAt(off, len, into));
      } catch (err) {
        // Stop the other workers: the copy is incomplete either way. Their chunks still in flight end on
        // their own; the first failure is the one reported.
        failed ??= new DdStoppedError(Math.min(...busy), err);
        throw failed;
      } finally {
        busy.delete(off);
      }
      done += len;
      opts.onProgress?.(done, total);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  if (dst.kind === 'lun') await dst.lun.flush();
  else await dst.file.sync();
  return done;
}
