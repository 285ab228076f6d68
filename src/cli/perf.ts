/**
 * A read/write load generator on one LU, like libiscsi's iscsi-perf: a fixed number of commands in flight,
 * sequential or random offsets, per-second and average IOPS and MB/s.
 */
import type { Lun } from '../session/lun.js';
import { readBlocks, ScsiOpcode } from '../scsi/cdb.js';
import { ScsiStatus } from '../scsi/status.js';

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
  // And one READ(10) CDB per slot, rewritten for each read (a slot's next read starts after its last one
  // completed); READ(16) from cdb.ts past LBA 2^32.
  const cdbs = Array.from({ length: inFlight }, () => Buffer.alloc(10));
  const readCdb = (slot: number, lba: number): Buffer => {
    if (blocks > 0xffff || lba + blocks > 0x1_0000_0000) return readBlocks({ lba, blocks, blockSize: lun.blockSize }).cdb;
    const cdb = cdbs[slot];
    cdb[0] = ScsiOpcode.READ_10;
    cdb.writeUInt32BE(lba, 2);
    cdb.writeUInt16BE(blocks, 7);
    return cdb;
  };
  await new Promise<void>((resolve) => {
    const launch = (slot: number): void => {
      if (performance.now() >= deadline || opts.signal?.aborted || firstError) {
        if (running === 0) resolve();
        return;
      }
      running++;
      const lba = pick();
      const offset = lba * lun.blockSize;
      if (payload) {
        lun.write(offset, payload).then(
          () => ok(slot),
          (err: Error) => failed(slot, err),
        );
        return;
      }
      // Reads go to the session directly, one promise and one reaction per I/O, like iscsi-perf on
      // libiscsi's async API: Lun.read's async wrappers cost CPU that, on a small machine shared with the
      // target, the target is missing. Any answer but GOOD with all the data is re-run through Lun.read,
      // which retries what is retryable and turns the rest into its typed error.
      const into = slots[slot];
      lun.session.execute({ lun: lun.lun, cdb: readCdb(slot, lba), dataIn: bytesPer, readInto: into }).then(
        (res) => {
          if ((res.status === ScsiStatus.GOOD || res.status === ScsiStatus.CONDITION_MET) && res.data.length === bytesPer) ok(slot);
          else
            lun.read(offset, bytesPer, into).then(
              () => ok(slot),
              (err: Error) => failed(slot, err),
            );
        },
        (err: Error) => failed(slot, err),
      );
    };
    const ok = (slot: number): void => {
      ios++;
      tickIos++;
      done(slot);
    };
    const failed = (slot: number, err: Error): void => {
      errors++;
      firstError ??= err;
      done(slot);
    };
    const done = (slot: number): void => {
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
    };
    for (let i = 0; i < inFlight; i++) launch(i);
  });
  if (firstError && ios === 0) throw firstError;
  const seconds = (performance.now() - start) / 1000;
  return { ios, bytes: ios * bytesPer, seconds, iops: ios / seconds, mbps: (ios * bytesPer) / seconds / 1e6, errors };
}
