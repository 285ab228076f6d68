/**
 * fio as the benchmarks' load generator: command-line arguments for its nbd engine, and pure parsers for its
 * JSON output (IOPS, bandwidth, completion-latency percentiles) and its bandwidth logs (throughput over time).
 */

/** fio's rw= values the benchmarks use. */
export type FioRw = 'read' | 'write' | 'randread' | 'randwrite';

export interface FioJob {
  name: string;
  /** NBD URI (nbd+unix:///NAME?socket=PATH or nbd://HOST:PORT/NAME). */
  uri: string;
  rw: FioRw;
  /** Request size in bytes. */
  bs: number;
  iodepth: number;
  /** Run time in milliseconds (time based: the job loops over its region until then). */
  runtimeMs: number;
  /** Region of the export the job touches, bytes (default: the whole export). */
  size?: number;
  /** Checksum and verify what was written (verify=crc32c), interleaved with the writes every N blocks. */
  verifyBacklog?: number;
  /** Prefix for the --write_bw_log file (PREFIX_bw.1.log), averaged over logAvgMsec, epoch-ms times. */
  logPrefix?: string;
  logAvgMsec?: number;
  /** Jobs run at once, each on its own NBD connection (the nbd engine connects per job); reported as one group. */
  numjobs?: number;
}

/** Completion-latency percentiles the reports use; fio prints them as keys like "99.900000". */
export const PERCENTILES = [50, 99, 99.9] as const;
/** The percentiles fio is asked for: the report's, and enough more to draw a latency CDF. */
export const CDF_PERCENTILES = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.99] as const;

/** The arguments for one fio job with the nbd engine, JSON output on stdout. */
export function fioArgs(job: FioJob): string[] {
  const args = [
    `--name=${job.name}`,
    '--ioengine=nbd',
    `--uri=${job.uri}`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--iodepth=${job.iodepth}`,
    // Completions are reaped as they come, so iodepth stays full at 32 (fio's default batches by iodepth_batch).
    '--iodepth_batch_complete_min=1',
    '--time_based=1',
    `--runtime=${Math.max(1, Math.round(job.runtimeMs))}ms`,
    '--group_reporting=1',
    `--percentile_list=${CDF_PERCENTILES.join(':')}`,
    '--output-format=json',
  ];
  if (job.size !== undefined) args.push(`--size=${job.size}`);
  if (job.numjobs !== undefined && job.numjobs > 1) args.push(`--numjobs=${job.numjobs}`);
  if (job.rw === 'randread' || job.rw === 'randwrite') args.push('--randrepeat=0', '--norandommap=1');
  if (job.verifyBacklog !== undefined) {
    // norandommap would let a block be overwritten while its verify is pending; keep fio's map for verify.
    const i = args.indexOf('--norandommap=1');
    if (i >= 0) args.splice(i, 1);
    args.push('--verify=crc32c', '--verify_fatal=1', '--verify_state_save=0', `--verify_backlog=${job.verifyBacklog}`, '--do_verify=1');
  }
  if (job.logPrefix !== undefined) {
    args.push(`--write_bw_log=${job.logPrefix}`, `--log_avg_msec=${job.logAvgMsec ?? 100}`, '--log_unix_epoch=1');
  }
  return args;
}

export interface FioLatency {
  minNs: number;
  maxNs: number;
  meanNs: number;
  /** Keyed by the percentile as a number (50, 99, 99.9). */
  percentilesNs: Map<number, number>;
}

export interface FioDirection {
  ios: number;
  bytes: number;
  iops: number;
  /** Bytes per second. */
  bwBytes: number;
  runtimeMs: number;
  clat: FioLatency;
}

export interface FioResult {
  version: string;
  jobname: string;
  /** fio's job error (an errno; 0 when the job ran clean). */
  error: number;
  read: FioDirection;
  write: FioDirection;
  /** Text fio printed before its JSON (verify failures, engine errors), if any. */
  preamble: string;
}

export class FioOutputError extends Error {
  override readonly name = 'FioOutputError';
}

type Json = Record<string, unknown>;

const num = (o: Json, key: string): number => {
  const v = o[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
};

const obj = (o: Json, key: string): Json => {
  const v = o[key];
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
};

function direction(d: Json): FioDirection {
  const clat = obj(d, 'clat_ns');
  const pct = new Map<number, number>();
  for (const [k, v] of Object.entries(obj(clat, 'percentile'))) if (typeof v === 'number') pct.set(Number(k), v);
  return {
    ios: num(d, 'total_ios'),
    bytes: num(d, 'io_bytes'),
    iops: num(d, 'iops'),
    bwBytes: num(d, 'bw_bytes'),
    runtimeMs: num(d, 'runtime'),
    clat: { minNs: num(clat, 'min'), maxNs: num(clat, 'max'), meanNs: num(clat, 'mean'), percentilesNs: pct },
  };
}

/**
 * Parses fio's `--output-format=json` output for one job (or one group-reported job). fio may print lines
 * before the JSON document (verify errors, "fio: ..." warnings); they are kept as `preamble`.
 */
export function parseFioJson(stdout: string): FioResult {
  const start = stdout.search(/^\{/m);
  if (start < 0) throw new FioOutputError(`no JSON in fio output: ${stdout.trim().slice(0, 200) || '(empty)'}`);
  let doc: Json;
  try {
    doc = JSON.parse(stdout.slice(start)) as Json;
  } catch (err) {
    throw new FioOutputError(`fio output is not JSON: ${(err as Error).message}`);
  }
  const jobs = doc.jobs;
  if (!Array.isArray(jobs) || jobs.length === 0) throw new FioOutputError('fio JSON has no jobs');
  const job = jobs[0] as Json;
  return {
    version: typeof doc['fio version'] === 'string' ? doc['fio version'] : 'unknown',
    jobname: typeof job.jobname === 'string' ? job.jobname : '',
    error: num(job, 'error'),
    read: direction(obj(job, 'read')),
    write: direction(obj(job, 'write')),
    preamble: stdout.slice(0, start).trim(),
  };
}

/** A percentile of completion latency in nanoseconds (fio rounds keys like 99.900000), or undefined. */
export function clatPercentile(d: FioDirection, p: number): number | undefined {
  for (const [k, v] of d.clat.percentilesNs) if (Math.abs(k - p) < 1e-6) return v;
  return undefined;
}

/** One line of a fio bandwidth or latency log. */
export interface LogSample {
  /** Milliseconds: since the job started, or since the epoch with --log_unix_epoch. */
  t: number;
  /** KiB/s in a bandwidth log, nanoseconds in a latency log (the average over the log interval). */
  value: number;
  /** 0 read, 1 write, 2 trim. */
  ddir: number;
}

/**
 * Parses a fio log (`time, value, data direction, block size, offset[, priority]` per line). Lines that
 * are not numbers are skipped, so a log cut short by a killed fio still parses.
 */
export function parseFioLog(text: string): LogSample[] {
  const out: LogSample[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(',').map((s) => s.trim());
    if (f.length < 3) continue;
    const t = Number(f[0]);
    const value = Number(f[1]);
    const ddir = Number(f[2]);
    if (f[0] === '' || !Number.isFinite(t) || !Number.isFinite(value) || !Number.isInteger(ddir)) continue;
    out.push({ t, value, ddir });
  }
  return out;
}

/** A throughput series: one point per log line time, both directions summed. */
export interface ThroughputPoint {
  /** Seconds since `t0`, at the end of the interval the point averages. */
  t: number;
  /** 10^6 bytes per second. */
  mbps: number;
}

/**
 * Turns a bandwidth log into one MB/s series, times in seconds relative to `t0Ms` (the same clock as the
 * log). fio writes the lines of all directions of one interval with the same time, so those are summed
 * (a write-with-verify job logs only its writes: fio does not count verify reads). fio writes no line for
 * an interval in which nothing completed; with `intervalMs`, such holes (a gap over 1.5 intervals) get zero
 * points one interval after the last line and one interval before the next, so a plot shows the drop.
 */
export function throughputSeries(samples: LogSample[], t0Ms: number, intervalMs?: number): ThroughputPoint[] {
  const byTime = new Map<number, number>();
  for (const s of samples) byTime.set(s.t, (byTime.get(s.t) ?? 0) + (s.value * 1024) / 1e6);
  const points = [...byTime.entries()].sort((a, b) => a[0] - b[0]).map(([t, mbps]) => ({ t: (t - t0Ms) / 1000, mbps }));
  if (intervalMs === undefined) return points;
  const out: ThroughputPoint[] = [];
  const step = intervalMs / 1000;
  for (const p of points) {
    const prev = out.at(-1);
    if (prev && p.t - prev.t > 1.5 * step) {
      out.push({ t: prev.t + step, mbps: 0 });
      if (p.t - step > prev.t + step + 1e-9) out.push({ t: p.t - step, mbps: 0 });
    }
    out.push(p);
  }
  return out;
}

export interface Stall {
  /** Longest time between two log intervals that saw completions, milliseconds (the log interval is its resolution). */
  longestMs: number;
  /** Where that gap starts and ends, seconds on the series' clock; undefined for an empty series. */
  fromS?: number;
  toS?: number;
}

/**
 * The longest stretch with no completions in a series (optionally only points between fromS and toS): the
 * longest time between consecutive points with throughput above zero. In steady state that is about one log
 * interval (more when fio's log thread runs late on a busy machine); a failover shows as a longer gap.
 */
export function longestStall(series: ThroughputPoint[], fromS = -Infinity, toS = Infinity): Stall {
  let best: Stall = { longestMs: 0 };
  let prev: number | undefined;
  for (const p of series) {
    if (p.mbps <= 0 || p.t < fromS || p.t > toS) continue;
    if (prev !== undefined && (p.t - prev) * 1000 > best.longestMs)
      best = { longestMs: Math.round((p.t - prev) * 1000), fromS: prev, toS: p.t };
    prev = p.t;
  }
  return best;
}
