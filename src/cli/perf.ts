/**
 * A read/write load generator on one LU, like libiscsi's iscsi-perf: a fixed number of commands in flight,
 * sequential or random offsets, per-second and average IOPS and MB/s.
 */
import type { Lun } from '../session/lun.js';

export interface PerfOptions {
  lun: Lun;
  /** Commands in flight (-m). */
  inFlight: number;
  /** Blocks per command (-b). */
  blocks: number;
  /** Run time in seconds (-t). */
  seconds: number;
  random?: boolean;
  write?: boolean;
  /** Called about once a second. */
  onTick?: (tick: PerfTick) => void;
  signal?: AbortSignal;
}

export interface PerfTick {
  elapsed: number;
  iopsCurrent: number;
  mbpsCurrent: number;
  iopsAverage: number;
  mbpsAverage: number;
  lba: number;
  inFlight: number;
}

export interface PerfResult {
  ios: number;
  bytes: number;
  seconds: number;
  iops: number;
  /** MB/s, 10^6 bytes, as iscsi-perf prints. */
  mbps: number;
  errors: number;
}

export async function runPerf(opts: PerfOptions): Promise<PerfResult> {
  const { lun, inFlight, blocks } = opts;
  const bytesPer = blocks * lun.blockSize;
  const totalBlocks = Number(lun.capacity.blocks);
  if (bytesPer <= 0 || blocks > totalBlocks) throw new RangeError(`-b ${blocks}: must be 1..${totalBlocks} blocks`);
  const lastStart = totalBlocks - blocks;
  const payload = opts.write ? Buffer.alloc(bytesPer, 0xa5) : undefined;
  let nextLba = 0;
  let ios = 0;
  let errors = 0;
  let running = 0;
  const start = performance.now();
  const deadline = start + opts.seconds * 1000;
  let tickIos = 0;
  let lastTick = start;
  let firstError: Error | undefined;

  const pick = (): number => {
    if (opts.random) return Math.floor(Math.random() * (lastStart + 1));
    const lba = nextLba;
    nextLba += blocks;
    if (nextLba > lastStart) nextLba = 0;
    return lba;
  };

  // One buffer per slot, reused: reads land in memory that is already mapped, and no I/O allocates.
  const slots = Array.from({ length: inFlight }, () => Buffer.allocUnsafeSlow(bytesPer));
  await new Promise<void>((resolve) => {
    const launch = (slot: number): void => {
      if (performance.now() >= deadline || opts.signal?.aborted || firstError) {
        if (running === 0) resolve();
        return;
      }
      running++;
      const offset = pick() * lun.blockSize;
      const io = payload ? lun.write(offset, payload) : lun.read(offset, bytesPer, slots[slot]);
      io.then(
        () => {
          ios++;
          tickIos++;
        },
        (err: Error) => {
          errors++;
          firstError ??= err;
        },
      ).finally(() => {
        running--;
        const now = performance.now();
        if (now - lastTick >= 1000 && opts.onTick) {
          const el = (now - start) / 1000;
          const cur = tickIos / ((now - lastTick) / 1000);
          opts.onTick({
            elapsed: el,
            iopsCurrent: cur,
            mbpsCurrent: (cur * bytesPer) / 1e6,
            iopsAverage: ios / el,
            mbpsAverage: (ios * bytesPer) / el / 1e6,
            lba: nextLba,
            inFlight: running,
          });
          tickIos = 0;
          lastTick = now;
        }
        launch(slot);
      });
    };
    for (let i = 0; i < inFlight; i++) launch(i);
  });
  if (firstError && ios === 0) throw firstError;
  const seconds = (performance.now() - start) / 1000;
  return { ios, bytes: ios * bytesPer, seconds, iops: ios / seconds, mbps: (ios * bytesPer) / seconds / 1e6, errors };
}
