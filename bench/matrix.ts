/**
 * The throughput matrix and failover benchmark (`npm run bench`): on one tgtd process, our NBD export
 * (`mpiscsi serve`, one path and two paths) against qemu-nbd's libiscsi driver, both loaded by fio's nbd
 * engine, and against libiscsi's iscsi-perf directly (reads only); then a two-path export under fio load while
 * one path is reset or blackholed through the fault proxy. Writes bench/results/matrix.{json,md} and the SVG
 * plots failover-throughput.svg and latency-percentiles.svg.
 *
 *   node dist/bench/matrix.js [--quick] [--seconds S] [--rounds N] [--failover-seconds S]
 *                             [--only SUBSTR,...] [--peers ID,...] [--no-matrix] [--no-failover] [--out DIR]
 *
 * Loopback only (127.0.0.1 and 127.0.0.2). Every process it starts is killed at the end, on errors and on
 * SIGINT/SIGTERM/SIGHUP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, release, tmpdir, type as osType } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tgtd } from '../test/support/tgtd.js';
import {
  cleanUpOnExit,
  countSyscalls,
  cpuSeconds,
  describeFailure,
  execText,
  killChildren,
  killTgtdNow,
  run,
  schedStat,
  track,
} from './processes.js';
import { FAST_FAILOVER_SET, FaultProxy } from '../test/support/fault-proxy.js';
import {
  clatPercentile,
  fioArgs,
  longestStall,
  parseFioJson,
  parseFioLog,
  throughputSeries,
  PERCENTILES,
  type FioResult,
  type FioRw,
  type ThroughputPoint,
} from './fio.js';
import { barChart, cdfChart, timeChart, type Marker, type Panel } from './svg.js';
import { MAX_BUSY_POLL_US } from '../src/settings/daemon.js';

/** dist/bench/matrix.js -> repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MPISCSI = join(ROOT, 'dist', 'src', 'cli', 'mpiscsi.js');
const NULL_IQN = 'iqn.2026-11.io.mpiscsi:bench-null';
const FILE_IQN = 'iqn.2026-11.io.mpiscsi:bench-file';
const HOSTS = ['127.0.0.1', '127.0.0.2'];
const FILE_LUN_SIZE = 256 * 1024 * 1024;
const LOG_MSEC = 100;

/** `cmd args`, under `taskset -c CPU` when the initiator processes are pinned (taskset execs, so the pid is cmd's). */
function pinned(cpu: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return cpu === undefined ? [cmd, args] : ['taskset', ['-c', String(cpu), cmd, ...args]];
}

// ---------------------------------------------------------------------------------------------- options

interface Options {
  seconds: number;
  rounds: number;
  failoverSeconds: number;
  only: string[];
  peers: PeerId[];
  matrix: boolean;
  failover: boolean;
  /** After the matrix: syscalls per I/O of each NBD server under strace, 4 KiB workloads. */
  syscalls: boolean;
  /** After the matrix: 4 KiB randread QD32 per connection with this many NBD connections at once (multi-conn). */
  connections: number[];
  out: string;
  quick: boolean;
  /** `mpiscsi serve --busy-poll` for every export; undefined = serve's default. */
  busyPollUs: number | undefined;
  /** CPU every initiator process (mpiscsi serve, qemu-nbd, iscsi-perf) is pinned to with taskset; undefined = not pinned. */
  pinCpu: number | undefined;
}

const PEER_IDS = ['mpiscsi-1path', 'mpiscsi-2path', 'qemu-nbd', 'iscsi-perf'] as const;
type PeerId = (typeof PEER_IDS)[number];
const PEER_LABEL: Record<PeerId, string> = {
  'mpiscsi-1path': 'mpiscsi 1p',
  'mpiscsi-2path': 'mpiscsi 2p',
  'qemu-nbd': 'qemu-nbd',
  'iscsi-perf': 'iscsi-perf',
};

const USAGE = `usage: node dist/bench/matrix.js [--quick] [--seconds S] [--rounds N] [--failover-seconds S]
       [--only WORKLOAD,...] [--peers ${PEER_IDS.join(',')}] [--no-matrix] [--no-failover] [--no-syscalls] [--connections N,...|--no-connections] [--busy-poll US] [--pin CPU|none] [--out DIR]
  --quick               1.5 s per cell, 1 round, 6 s failover runs (for development)
  --seconds S           seconds per cell (default 3)
  --rounds N            rounds; the order of the peers rotates every round (default 5)
  --failover-seconds S  length of each failover run (default 10)
  --only A,B            only workloads whose id contains one of these (e.g. 4k-randread,qd32)
  --busy-poll US        mpiscsi serve --busy-poll for every export (default serve's own, see mpiscsi serve --help)
  --pin CPU|none        pin every initiator process (mpiscsi serve, qemu-nbd, iscsi-perf) to this CPU (taskset -c);
                        fio and tgtd stay free (default none)
  --out DIR             results directory (default bench/results)
`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    // Five shorter rounds rather than three longer ones: on a shared 2-core VM the machine has slow phases of
    // a few seconds, and the median of five same-round ratios (each peer in every position once) rides over them.
    seconds: 3,
    rounds: 5,
    failoverSeconds: 10,
    only: [],
    peers: [...PEER_IDS],
    matrix: true,
    failover: true,
    syscalls: true,
    connections: [1, 2, 4],
    out: join(ROOT, 'bench', 'results'),
    quick: false,
    busyPollUs: undefined,
    pinCpu: undefined,
  };
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const positive = (integer: boolean): number => {
      const n = Number(value());
      if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`${a}: expected a positive ${integer ? 'integer' : 'number'}`);
      return n;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--seconds') {
      o.seconds = positive(false);
      set.add('seconds');
    } else if (a === '--rounds') {
      o.rounds = positive(true);
      set.add('rounds');
    } else if (a === '--failover-seconds') {
      o.failoverSeconds = positive(false);
      set.add('failover');
    } else if (a === '--only') o.only = value().split(',').filter(Boolean);
    else if (a === '--peers') {
      const ids = value().split(',').filter(Boolean);
      for (const id of ids) if (!(PEER_IDS as readonly string[]).includes(id)) throw new Error(`--peers: unknown peer ${id}`);
      o.peers = ids as PeerId[];
    } else if (a === '--no-matrix') o.matrix = false;
    else if (a === '--no-failover') o.failover = false;
    else if (a === '--no-syscalls') o.syscalls = false;
    else if (a === '--no-connections') o.connections = [];
    else if (a === '--connections') {
      const ns = value().split(',').map(Number);
      if (ns.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error('--connections: a list of counts in 1..64');
      o.connections = ns;
    } else if (a === '--busy-poll') {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 0 || n > MAX_BUSY_POLL_US)
        throw new Error(`--busy-poll: µs, 0..${MAX_BUSY_POLL_US} (mpiscsi serve --busy-poll)`);
      o.busyPollUs = n;
    } else if (a === '--pin') {
      const v = value();
      const n = Number(v);
      if (v !== 'none' && !(Number.isInteger(n) && n >= 0 && n < cpus().length))
        throw new Error(`--pin: a CPU number, 0..${cpus().length - 1}, or none`);
      o.pinCpu = v === 'none' ? undefined : n;
    } else if (a === '--out') o.out = resolve(value());
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (o.quick) {
    if (!set.has('seconds')) o.seconds = 1.5;
    if (!set.has('rounds')) o.rounds = 1;
    if (!set.has('failover')) o.failoverSeconds = 6;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------- workloads

interface Workload {
  id: string;
  label: string;
  bs: number;
  random: boolean;
  write: boolean;
  iodepth: number;
}

const WORKLOADS: Workload[] = [];
for (const [bs, random] of [
  [4096, true],
  [128 * 1024, false],
] as const)
  for (const write of [false, true])
    for (const iodepth of [1, 32]) {
      const kind = `${random ? 'rand' : ''}${write ? 'write' : 'read'}`;
      WORKLOADS.push({
        id: `${bs / 1024}k-${kind}-qd${iodepth}`,
        label: `${bs / 1024} KiB ${random ? 'random' : 'sequential'} ${write ? 'write' : 'read'}, ${iodepth} in flight`,
        bs,
        random,
        write,
        iodepth,
      });
    }

const fioRw = (w: Workload): FioRw => (w.random ? (w.write ? 'randwrite' : 'randread') : w.write ? 'write' : 'read');

// ---------------------------------------------------------------------------------------------- processes

let tgtd: Tgtd | undefined;
const proxies: FaultProxy[] = [];
let workDir: string | undefined;

/** Synchronous, so it also runs from the 'exit' handler: SIGKILL everything we started, remove tgtd's files. */
function killAll(): void {
  killChildren();
  if (tgtd) killTgtdNow(tgtd);
  tgtd = undefined;
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = undefined;
}

cleanUpOnExit('matrix', killAll);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A long-running NBD server child (mpiscsi serve or qemu-nbd) and the lines it printed, with arrival times. */
interface Export {
  id: string;
  uri: string;
  process: ChildProcess;
  lines: Array<{ at: number; line: string }>;
}

/**
 * Stops an export with SIGTERM (serve logs out and exits, so a --cpu-prof profile gets written), SIGKILL after 5 s.
 */
async function stopExport(e: Export): Promise<void> {
  const p = e.process;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Starts `mpiscsi serve` on a unix socket; resolves when it prints the NBD URI. */
async function startServe(
  id: string,
  name: string,
  socket: string,
  urls: string[],
  set: string[],
  busyPollUs: number | undefined,
  pinCpu: number | undefined,
): Promise<Export> {
  const args = [
    MPISCSI,
    'serve',
    ...(busyPollUs === undefined ? [] : ['--busy-poll', String(busyPollUs)]),
    '--socket',
    socket,
    '--name',
    name,
    '-i',
    `iqn.2026-11.io.mpiscsi:bench-${id}`,
    ...set.flatMap((s) => ['--set', s]),
    ...urls,
  ];
  // MPISCSI_BENCH_NODE_ARGS (space-separated) reaches the serve processes only, e.g. '--cpu-prof --cpu-prof-dir=/tmp/p'
  // to profile the export under the bench's load (NODE_OPTIONS refuses --cpu-prof).
  const nodeArgs = (process.env.MPISCSI_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = track(spawn(...pinned(pinCpu, process.execPath, [...nodeArgs, ...args]), { stdio: ['ignore', 'pipe', 'pipe'] }));
  const exp: Export = { id, uri: '', process: child, lines: [] };
  let stderr = '';
  const waiters = new Set<() => void>();
  // The URI comes on stdout, the event lines (path failed/active, with timestamps) on stderr: both are kept.
  const lineReader = () => {
    let partial = '';
    return (s: string) => {
      const parts = (partial + s).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) exp.lines.push({ at: Date.now(), line });
      for (const w of waiters) w();
    };
  };
  const fromStderr = lineReader();
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr = (stderr + s).slice(-4000);
    fromStderr(s);
  });
  child.stdout!.setEncoding('utf8').on('data', lineReader());
  await new Promise<void>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${id}: serve printed no URI in 30 s: ${stderr}`)), 30_000);
    const check = () => {
      const hit = exp.lines.find((l) => l.line.startsWith('nbd+unix://'));
      if (!hit) return;
      clearTimeout(timer);
      waiters.delete(check);
      exp.uri = hit.line.trim();
      resolvePromise();
    };
    waiters.add(check);
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${id}: serve exited (${code ?? sig}): ${stderr.trim()}`));
    });
  });
  return exp;
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((r) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

/** Starts qemu-nbd (libiscsi block driver) on a unix socket; resolves once the socket accepts. */
async function startQemuNbd(socket: string, url: string, pinCpu: number | undefined): Promise<Export> {
  // -t: keep serving after a client leaves; --shared=0: any number of clients (fio connects once per run).
  const child = track(
    spawn(...pinned(pinCpu, 'qemu-nbd', ['-f', 'raw', '-t', '--shared=0', '--socket', socket, url]), {
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  for (let i = 0; i < 400; i++) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`qemu-nbd exited (${child.exitCode ?? child.signalCode}): ${stderr.trim()}`);
    if (existsSync(socket) && (await canConnect(socket)))
      return { id: 'qemu-nbd', uri: `nbd+unix:///?socket=${socket}`, process: child, lines: [] };
    await sleep(25);
  }
  throw new Error(`qemu-nbd did not listen on ${socket}: ${stderr.trim()}`);
}

// ---------------------------------------------------------------------------------------------- one cell

/** One measurement of one peer on one workload. */
interface Sample {
  iops: number;
  /** 10^6 bytes per second. */
  mbps: number;
  /** Completion latency percentiles, microseconds (fio only: iscsi-perf prints none). */
  clatUs?: { p50: number; p99: number; p999: number; max: number };
  /** CPU microseconds (user + system, every thread) the NBD server process spent per I/O. */
  cpuUsPerIo?: number;
  /** Microseconds per I/O the NBD server's threads were runnable but waiting for a CPU, and timeslices per I/O. */
  runqWaitUsPerIo?: number;
  slicesPerIo?: number;
  /** I/Os completed. */
  ios?: number;
  /** Completion-latency CDF points: [percentile, microseconds]. */
  cdf?: Array<[number, number]>;
}

async function runFio(uri: string, w: Workload, seconds: number, name: string, serverPid?: number, numjobs = 1): Promise<Sample> {
  const args = fioArgs({ name, uri, rw: fioRw(w), bs: w.bs, iodepth: w.iodepth, runtimeMs: seconds * 1000, numjobs });
  const cpu0 = await cpuSeconds(serverPid);
  const sched0 = schedStat(serverPid);
  const r = await run('fio', args, (seconds + 60) * 1000);
  const cpu1 = await cpuSeconds(serverPid);
  const sched1 = schedStat(serverPid);
  if (r.code !== 0) throw new Error(`fio ${describeFailure(r)}`);
  const res = parseFioJson(r.stdout);
  if (res.error !== 0) throw new Error(`fio job error ${res.error}: ${res.preamble}`);
  const d = w.write ? res.write : res.read;
  const us = (p: number) => (clatPercentile(d, p) ?? NaN) / 1000;
  const cpuUsPerIo = cpu0 !== undefined && cpu1 !== undefined && d.ios > 0 ? ((cpu1 - cpu0) * 1e6) / d.ios : undefined;
  const sched =
    sched0 && sched1 && d.ios > 0
      ? { wait: (sched1.waitNs - sched0.waitNs) / 1000 / d.ios, slices: (sched1.slices - sched0.slices) / d.ios }
      : undefined;
  const cdf = [...d.clat.percentilesNs].sort((a, b) => a[0] - b[0]).map(([p, ns]): [number, number] => [p, ns / 1000]);
  return {
    iops: d.iops,
    mbps: (d.iops * w.bs) / 1e6,
    clatUs: { p50: us(50), p99: us(99), p999: us(99.9), max: d.clat.maxNs / 1000 },
    cpuUsPerIo,
    runqWaitUsPerIo: sched?.wait,
    slicesPerIo: sched?.slices,
    ios: d.ios,
    cdf,
  };
}

async function runIscsiPerf(url: string, w: Workload, seconds: number, pinCpu: number | undefined): Promise<Sample> {
  const args = [
    '-m',
    String(w.iodepth),
    '-b',
    String(w.bs / 512),
    ...(w.random ? ['-r'] : []),
    '-t',
    String(Math.max(1, Math.round(seconds))),
    url,
  ];
  const r = await run(...pinned(pinCpu, 'iscsi-perf', args), (seconds + 60) * 1000);
  // Progress lines end in \r; the last "iops average N (M MB/s)" is the whole run. Its MB/s is rounded MiB/s,
  // so MB/s is computed from IOPS as for fio.
  const last = [...r.stdout.matchAll(/iops average (\d+(?:\.\d+)?) \((\d+(?:\.\d+)?) MB\/s\)/g)].at(-1);
  if (r.code !== 0 || !last) throw new Error(`iscsi-perf ${describeFailure(r)}`);
  const iops = Number(last[1]);
  return { iops, mbps: (iops * w.bs) / 1e6 };
}

/** Syscalls per I/O of one NBD server process on one workload (strace -c -f attached for one fio run). */
interface SyscallRow {
  peer: PeerId;
  workload: string;
  label: string;
  calls: number;
  ios: number;
  perIo: number;
  top: Array<{ name: string; calls: number }>;
}

type MultiConnPeer = 'mpiscsi-1path' | 'qemu-nbd';

/** One round of the multi-conn runs at one connection count: MB/s and IOPS of each peer (all jobs together). */
interface ConnectionRow {
  round: number;
  connections: number;
  mbps: Partial<Record<MultiConnPeer, number>>;
  iops: Partial<Record<MultiConnPeer, number>>;
}

/** Medians over rounds at one connection count, the same-round ratio ours/qemu-nbd, and the scaling over 1 connection. */
interface ConnectionSummary {
  connections: number;
  mbps: Partial<Record<MultiConnPeer, number>>;
  ratio?: Ratio;
  /** MB/s at this count over MB/s at the first count run (one connection by default), medians, per peer. */
  scaling: Partial<Record<MultiConnPeer, number>>;
}

// ---------------------------------------------------------------------------------------------- statistics

function summarizeConnections(rows: ConnectionRow[], counts: number[]): ConnectionSummary[] {
  const peers: MultiConnPeer[] = ['mpiscsi-1path', 'qemu-nbd'];
  const at = (n: number) => rows.filter((r) => r.connections === n);
  const med = (n: number, p: MultiConnPeer) => median(at(n).flatMap((r) => (r.mbps[p] === undefined ? [] : [r.mbps[p]])));
  return counts
    .filter((n) => at(n).length > 0)
    .map((n) => {
      const mbps: ConnectionSummary['mbps'] = {};
      const scaling: ConnectionSummary['scaling'] = {};
      for (const p of peers) {
        const m = med(n, p);
        if (Number.isNaN(m)) continue;
        mbps[p] = m;
        const first = med(counts[0] ?? 1, p);
        if (!Number.isNaN(first) && first > 0) scaling[p] = m / first;
      }
      const same = at(n).flatMap((r) =>
        r.iops['mpiscsi-1path'] !== undefined && r.iops['qemu-nbd'] ? [r.iops['mpiscsi-1path'] / r.iops['qemu-nbd']] : [],
      );
      const ratio: Ratio | undefined = same.length
        ? { median: median(same), min: Math.min(...same), max: Math.max(...same), rounds: same.length }
        : undefined;
      return { connections: n, mbps, scaling, ...(ratio ? { ratio } : {}) };
    });
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

interface Ratio {
  /** Median over rounds of (ours / peer) measured in the same round, seconds apart. */
  median: number;
  min: number;
  max: number;
  rounds: number;
}

interface CellSummary {
  workload: string;
  label: string;
  peers: Partial<
    Record<
      PeerId,
      {
        rounds: number;
        iops: number;
        mbps: number;
        clatUs?: { p50: number; p99: number; p999: number; max: number };
        cpuUsPerIo?: number;
        runqWaitUsPerIo?: number;
        slicesPerIo?: number;
        cdf?: Array<[number, number]>;
      }
    >
  >;
  /** "mpiscsi-1path/qemu-nbd" etc. */
  ratios: Record<string, Ratio>;
}

interface RoundRecord {
  round: number;
  workload: string;
  order: PeerId[];
  samples: Partial<Record<PeerId, Sample>>;
  errors: string[];
}

function summarize(w: Workload, rounds: RoundRecord[]): CellSummary {
  const mine = rounds.filter((r) => r.workload === w.id);
  const peers: CellSummary['peers'] = {};
  for (const p of PEER_IDS) {
    const ss = mine.flatMap((r) => (r.samples[p] ? [r.samples[p]!] : []));
    if (!ss.length) continue;
    const lat = ss.flatMap((s) => (s.clatUs ? [s.clatUs] : []));
    const cpu = ss.flatMap((s) => (s.cpuUsPerIo !== undefined ? [s.cpuUsPerIo] : []));
    const wait = ss.flatMap((s) => (s.runqWaitUsPerIo !== undefined ? [s.runqWaitUsPerIo] : []));
    const slices = ss.flatMap((s) => (s.slicesPerIo !== undefined ? [s.slicesPerIo] : []));
    // The CDF of the median round (by p50), not a mix of rounds.
    const byP50 = ss.filter((s) => s.cdf && s.clatUs).sort((a, b) => a.clatUs!.p50 - b.clatUs!.p50);
    peers[p] = {
      cpuUsPerIo: cpu.length ? median(cpu) : undefined,
      runqWaitUsPerIo: wait.length ? median(wait) : undefined,
      slicesPerIo: slices.length ? median(slices) : undefined,
      cdf: byP50.length ? byP50[byP50.length >> 1].cdf : undefined,
      rounds: ss.length,
      iops: median(ss.map((s) => s.iops)),
      mbps: median(ss.map((s) => s.mbps)),
      clatUs: lat.length
        ? {
            p50: median(lat.map((l) => l.p50)),
            p99: median(lat.map((l) => l.p99)),
            p999: median(lat.map((l) => l.p999)),
            max: Math.max(...lat.map((l) => l.max)),
          }
        : undefined,
    };
  }
  const ratios: Record<string, Ratio> = {};
  for (const ours of ['mpiscsi-1path', 'mpiscsi-2path'] as const)
    for (const peer of ['qemu-nbd', 'iscsi-perf'] as const) {
      const rs = mine.flatMap((r) => {
        const a = r.samples[ours];
        const b = r.samples[peer];
        return a && b && b.iops > 0 ? [a.iops / b.iops] : [];
      });
      if (rs.length) ratios[`${ours}/${peer}`] = { median: median(rs), min: Math.min(...rs), max: Math.max(...rs), rounds: rs.length };
    }
  return { workload: w.id, label: w.label, peers, ratios };
}

// ---------------------------------------------------------------------------------------------- failover

interface FailoverScenario {
  id: string;
  title: string;
  rw: FioRw;
  verify: boolean;
  fault: 'reset' | 'blackhole';
}

const SCENARIOS: FailoverScenario[] = [
  {
    id: 'write-verify-reset',
    title: '4 KiB random write + crc32c verify, 32 in flight; path 1 reset',
    rw: 'randwrite',
    verify: true,
    fault: 'reset',
  },
  {
    id: 'write-verify-blackhole',
    title: '4 KiB random write + crc32c verify, 32 in flight; path 2 blackholed',
    rw: 'randwrite',
    verify: true,
    fault: 'blackhole',
  },
  { id: 'read-reset', title: '4 KiB random read, 32 in flight; path 1 reset', rw: 'randread', verify: false, fault: 'reset' },
  { id: 'read-blackhole', title: '4 KiB random read, 32 in flight; path 2 blackholed', rw: 'randread', verify: false, fault: 'blackhole' },
];

/** What the initiator logged, on the run's clock (seconds since fio started). */
interface FailoverEvent {
  t: number;
  line: string;
}

interface FailoverResult {
  scenario: string;
  title: string;
  fault: 'reset' | 'blackhole';
  path: string;
  seconds: number;
  faultAtS: number;
  healAtS: number;
  /** When the initiator logged the faulted path leaving / re-entering active, seconds (undefined: not seen). */
  pathFailedAtS?: number;
  pathRestoredAtS?: number;
  events: FailoverEvent[];
  fio: { error: number; readIops: number; writeIops: number; maxClatMs: number; p99Us: number; preamble: string } | { failed: string };
  /** Longest gap in the log from the fault on. */
  stall: { longestMs: number; fromS?: number; toS?: number };
  /** Longest gap before the fault: the noise floor of the stall measure on this machine (fio's log thread runs late). */
  baselineGapMs: number;
  /** MB/s medians before the fault, between fault and heal, after the heal. */
  mbps: { before: number; during: number; after: number };
  series: ThroughputPoint[];
}

/** Serve log lines: "<ISO time> <device>: path <path> <from> -> <to> (<reason>...)". */
const PATH_LINE = /^(\S+Z) \S+: path (\S+) (\S+) -> (\S+) \(/;

/** Waits until the export's last logged state for every path is active (or `ms` passes). */
async function waitAllActive(exp: Export, paths: string[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const state = new Map<string, string>();
    for (const { line } of exp.lines) {
      const m = PATH_LINE.exec(line);
      if (m) state.set(m[2], m[4]);
    }
    if (paths.every((p) => state.get(p) === 'active')) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

async function runFailover(s: FailoverScenario, exp: Export, paths: string[], seconds: number, dir: string): Promise<FailoverResult> {
  const proxyIndex = s.fault === 'reset' ? 0 : 1;
  const path = paths[proxyIndex];
  const logPrefix = join(dir, s.id);
  const args = fioArgs({
    name: s.id,
    uri: exp.uri,
    rw: s.rw,
    bs: 4096,
    iodepth: 32,
    runtimeMs: seconds * 1000,
    size: 64 * 1024 * 1024,
    // Verify every 64 writes: short verify phases, so each 100 ms log interval still sees writes.
    verifyBacklog: s.verify ? 64 : undefined,
    logPrefix,
    logAvgMsec: LOG_MSEC,
  });
  const firstLine = exp.lines.length;
  const t0 = Date.now();
  const fio = run('fio', args, (seconds + 90) * 1000);
  const faultAt = (seconds / 3) * 1000;
  const healAt = ((2 * seconds) / 3) * 1000;
  await sleep(faultAt - (Date.now() - t0));
  const faultT = Date.now();
  proxies[proxyIndex].set({ kind: s.fault });
  await sleep(healAt - (Date.now() - t0));
  const healT = Date.now();
  proxies[proxyIndex].set({ kind: 'pass' });
  const r = await fio;
  const rel = (ms: number) => (ms - t0) / 1000;
  const events: FailoverEvent[] = [];
  let pathFailedAtS: number | undefined;
  let pathRestoredAtS: number | undefined;
  for (const { line } of exp.lines.slice(firstLine)) {
    const m = /^(\S+Z) (.*)$/.exec(line);
    if (!m) continue;
    const t = rel(Date.parse(m[1]));
    events.push({ t, line: m[2] });
    const pm = PATH_LINE.exec(line);
    if (pm && pm[2] === path) {
      if (pm[3] === 'active' && pathFailedAtS === undefined) pathFailedAtS = t;
      if (pm[4] === 'active' && pathFailedAtS !== undefined && pathRestoredAtS === undefined) pathRestoredAtS = t;
    }
  }
  let fioOut: FailoverResult['fio'];
  let series: ThroughputPoint[] = [];
  try {
    if (r.code !== 0 && !r.stdout.includes('{')) throw new Error(`fio ${describeFailure(r)}`);
    const res: FioResult = parseFioJson(r.stdout);
    fioOut = {
      error: res.error,
      readIops: res.read.iops,
      writeIops: res.write.iops,
      maxClatMs: Math.max(res.read.clat.maxNs, res.write.clat.maxNs) / 1e6,
      p99Us: (clatPercentile(s.rw === 'randread' ? res.read : res.write, 99) ?? NaN) / 1000,
      preamble: res.preamble.replace(/fio: connected to NBD server\s*/g, '').trim(),
    };
  } catch (err) {
    fioOut = { failed: (err as Error).message };
  }
  const log = `${logPrefix}_bw.1.log`;
  if (existsSync(log)) series = throughputSeries(parseFioLog(readFileSync(log, 'utf8')), t0, LOG_MSEC);
  const between = (a: number, b: number) => median(series.filter((p) => p.t > a && p.t <= b).map((p) => p.mbps));
  const fs = rel(faultT);
  const hs = rel(healT);
  return {
    scenario: s.id,
    title: s.title,
    fault: s.fault,
    path,
    seconds,
    faultAtS: fs,
    healAtS: hs,
    pathFailedAtS,
    pathRestoredAtS,
    events,
    fio: fioOut,
    stall: longestStall(series, fs),
    baselineGapMs: longestStall(series, 0.5, fs).longestMs,
    mbps: { before: between(0.5, fs), during: between(fs, hs), after: between(hs, seconds) },
    series,
  };
}

// ---------------------------------------------------------------------------------------------- report

async function machine(): Promise<Record<string, string>> {
  const cpu = cpus();
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpu[0]?.model ?? 'unknown';
  const deb = async (pkg: string) => (await execText('dpkg-query', ['-W', '-f', '$' + '{Version}', pkg])) || 'unknown';
  return {
    cpu: model.trim(),
    cores: String(cpu.length),
    kernel: `${osType()} ${release()}`,
    node: process.version,
    tgtd: (await execText(existsSync('/usr/sbin/tgtd') ? '/usr/sbin/tgtd' : 'tgtd', ['-V'])) || (await deb('tgt')),
    fio: (await execText('fio', ['--version'])) || 'unknown',
    qemuNbd: ((await execText('qemu-nbd', ['--version'])).split('\n')[0] ?? '').replace(/^qemu-nbd\s*/, '') || 'unknown',
    libiscsi: await deb('libiscsi-bin'),
  };
}

const f0 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toString());
const f1 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(1));
const f2 = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(2));

function ratioCell(r: Ratio | undefined): string {
  if (!r) return '–';
  return r.rounds > 1 ? `${f2(r.median)}x (${f2(r.min)}–${f2(r.max)})` : `${f2(r.median)}x`;
}

function markdown(
  cells: CellSummary[],
  failovers: FailoverResult[],
  env: Record<string, string>,
  opts: Options,
  load: string,
  errors: string[],
  syscalls: SyscallRow[] = [],
  connections: ConnectionSummary[] = [],
): string {
  const lines: string[] = [];
  if (cells.length) {
    const peer = (c: CellSummary, p: PeerId) => {
      const s = c.peers[p];
      return s ? `${f1(s.mbps)} (${f0(s.iops)})` : '–';
    };
    lines.push(
      '**Throughput matrix**: MB/s (IOPS), medians over rounds; ratios are the median of same-round IOPS ratios (min–max).',
      '',
      '| workload | mpiscsi 1 path | mpiscsi 2 paths | qemu-nbd | iscsi-perf | 1 path / qemu-nbd | 2 paths / qemu-nbd | 1 path / iscsi-perf | 2 paths / iscsi-perf |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const c of cells)
      lines.push(
        `| ${c.workload} | ${peer(c, 'mpiscsi-1path')} | ${peer(c, 'mpiscsi-2path')} | ${peer(c, 'qemu-nbd')} | ${peer(c, 'iscsi-perf')} | ` +
          `${ratioCell(c.ratios['mpiscsi-1path/qemu-nbd'])} | ${ratioCell(c.ratios['mpiscsi-2path/qemu-nbd'])} | ` +
          `${ratioCell(c.ratios['mpiscsi-1path/iscsi-perf'])} | ${ratioCell(c.ratios['mpiscsi-2path/iscsi-perf'])} |`,
      );
    lines.push(
      '',
      '**Completion latency** (fio clat, µs, p50 / p99 / p99.9, medians over rounds; iscsi-perf reports none):',
      '',
      '| workload | mpiscsi 1 path | mpiscsi 2 paths | qemu-nbd |',
      '|---|---:|---:|---:|',
    );
    const lat = (c: CellSummary, p: PeerId) => {
      const l = c.peers[p]?.clatUs;
      return l ? `${f0(l.p50)} / ${f0(l.p99)} / ${f0(l.p999)}` : '–';
    };
    for (const c of cells)
      lines.push(`| ${c.workload} | ${lat(c, 'mpiscsi-1path')} | ${lat(c, 'mpiscsi-2path')} | ${lat(c, 'qemu-nbd')} |`);
    const cpu = (c: CellSummary, p: PeerId) => {
      const v = c.peers[p]?.cpuUsPerIo;
      return v === undefined ? '–' : f1(v);
    };
    lines.push(
      '',
      '**CPU per I/O** of the NBD server process (µs of user + system time over every thread, from /proc/PID/stat, per completed I/O; medians over rounds):',
      '',
      '| workload | mpiscsi 1 path | mpiscsi 2 paths | qemu-nbd |',
      '|---|---:|---:|---:|',
    );
    for (const c of cells)
      lines.push(`| ${c.workload} | ${cpu(c, 'mpiscsi-1path')} | ${cpu(c, 'mpiscsi-2path')} | ${cpu(c, 'qemu-nbd')} |`);
    const wait = (c: CellSummary, p: PeerId) => {
      const v = c.peers[p];
      return v?.runqWaitUsPerIo === undefined || v.slicesPerIo === undefined || v.slicesPerIo === 0
        ? '–'
        : `${f1(v.runqWaitUsPerIo)} (${f1(v.runqWaitUsPerIo / v.slicesPerIo)} per slice)`;
    };
    lines.push(
      '',
      "**Waiting for a CPU**: µs per I/O the NBD server's threads were runnable but not running (run-queue wait, /proc/PID/task/*/schedstat), in brackets per timeslice; medians over rounds. On a 2-core machine shared with fio and tgtd, completions wait this long for their server to run:",
      '',
      '| workload | mpiscsi 1 path | mpiscsi 2 paths | qemu-nbd |',
      '|---|---:|---:|---:|',
    );
    for (const c of cells)
      lines.push(`| ${c.workload} | ${wait(c, 'mpiscsi-1path')} | ${wait(c, 'mpiscsi-2path')} | ${wait(c, 'qemu-nbd')} |`);
    if (syscalls.length) {
      const peers = [...new Set(syscalls.map((r) => r.peer))];
      const wls = [...new Set(syscalls.map((r) => r.workload))];
      lines.push(
        '',
        '**Syscalls per I/O** of the NBD server process (`strace -c -f -p PID` attached for one fio run of each 4 KiB workload; strace slows the server, so these runs count, they do not time; busiest calls in brackets):',
        '',
        `| workload | ${peers.join(' | ')} |`,
        `|---|${peers.map(() => '---:').join('|')}|`,
      );
      for (const w of wls)
        lines.push(
          `| ${w} | ${peers
            .map((p) => {
              const r = syscalls.find((x) => x.peer === p && x.workload === w);
              return r
                ? `${f2(r.perIo)} (${r.top
                    .slice(0, 3)
                    .map((t) => `${t.name} ${f2(t.calls / r.ios)}`)
                    .join(', ')})`
                : '–';
            })
            .join(' | ')} |`,
        );
    }
    lines.push(
      '',
      `${opts.rounds} round(s) x ${opts.seconds} s per cell; the order of the peers rotates every round. One tgtd process, ` +
        `LUN \`--bstype null\` (1 TiB, no disk I/O), portals 127.0.0.1 and 127.0.0.2. NBD exports on unix sockets, loaded by ` +
        `fio's nbd engine (one connection, \`iodepth_batch_complete_min=1\`); mpiscsi 2 paths is \`path_grouping_policy=multibus\` ` +
        `over both portals; qemu-nbd is \`qemu-nbd -f raw -t --shared=0\` on the libiscsi driver; iscsi-perf runs against the ` +
        `LUN directly (no NBD hop; reads only, so its columns are empty for writes). ` +
        (opts.pinCpu === undefined
          ? 'No process is pinned. '
          : `Every initiator process (mpiscsi serve, qemu-nbd, iscsi-perf) is pinned to CPU ${opts.pinCpu} (\`taskset -c\`); fio and tgtd are not. `) +
        `MB/s = 10^6 bytes/s.`,
    );
  }
  if (connections.length) {
    const cell = (c: ConnectionSummary, p: MultiConnPeer) => {
      const m = c.mbps[p];
      const s = c.scaling[p];
      return m === undefined ? '–' : `${f1(m)}${s === undefined ? '' : ` (${f2(s)}x)`}`;
    };
    lines.push(
      '',
      '**NBD multi-conn**: 4 KiB random read, N fio jobs at once on one export, each its own NBD connection with 32 in flight; MB/s of all jobs together (in brackets: over the first count, one connection unless --connections says otherwise), medians over rounds; ratio = median of same-round IOPS ratios (min–max).',
      '',
      '| connections | mpiscsi 1 path | qemu-nbd | mpiscsi / qemu-nbd |',
      '|---:|---:|---:|---:|',
    );
    for (const c of connections)
      lines.push(`| ${c.connections} | ${cell(c, 'mpiscsi-1path')} | ${cell(c, 'qemu-nbd')} | ${ratioCell(c.ratio)} |`);
  }
  if (failovers.length) {
    lines.push(
      '',
      `**Failover** (two-path export through the fault proxy, file LUN, \`multibus\`, NOP-Out 0.5 s / 0.5 s; fault at 1/3 of a ` +
        `${opts.failoverSeconds} s run, healed at 2/3): stall = longest time from the fault on between two ${LOG_MSEC} ms log intervals with completions (in brackets the same before the fault: the noise floor); max clat = the longest any one I/O took.`,
      '',
      '| scenario | fault at | path failed at | path back at | stall (gap before fault) | max clat | MB/s before / during / after | fio errors |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const f of failovers) {
      const fio =
        'failed' in f.fio
          ? `run failed: ${f.fio.failed}`
          : `${f.fio.error === 0 ? 'none' : `error ${f.fio.error}`}${f.fio.preamble ? ` (${f.fio.preamble.slice(0, 80)})` : ''}`;
      const maxClat = 'failed' in f.fio ? '–' : `${f0(f.fio.maxClatMs)} ms`;
      lines.push(
        `| ${f.scenario} | ${f2(f.faultAtS)} s | ${f.pathFailedAtS === undefined ? 'not seen' : `${f2(f.pathFailedAtS)} s`} | ` +
          `${f.pathRestoredAtS === undefined ? 'not in run' : `${f2(f.pathRestoredAtS)} s`} | ${f0(f.stall.longestMs)} ms (${f0(f.baselineGapMs)} ms) | ${maxClat} | ` +
          `${f1(f.mbps.before)} / ${f1(f.mbps.during)} / ${f1(f.mbps.after)} | ${fio} |`,
      );
    }
  }
  lines.push(
    '',
    `Machine: ${env.cpu}, ${env.cores} cores; ${env.kernel}; node ${env.node}; tgtd ${env.tgtd}; ${env.fio}; qemu-nbd ${env.qemuNbd}; ` +
      `libiscsi ${env.libiscsi}; load average ${load}.`,
  );
  if (errors.length) lines.push('', `Errors (cells left out): ${errors.join(' / ')}`);
  return `${lines.join('\n')}\n`;
}

function latencySvg(cells: CellSummary[], opts: Options): string {
  const fioPeers = (['mpiscsi-1path', 'mpiscsi-2path', 'qemu-nbd'] as const).filter((p) => opts.peers.includes(p));
  return barChart({
    title: 'Completion latency percentiles per cell (fio clat)',
    subtitle: `p50, p99, p99.9 in µs, log scale; medians over ${opts.rounds} round(s) x ${opts.seconds} s; one tgtd, null LUN, loopback; mpiscsi 1p / 2p: one / two paths`,
    width: Math.max(900, 150 * cells.length),
    yLabel: 'completion latency (µs)',
    seriesLabels: PERCENTILES.map((p) => `p${p}`),
    groups: cells.map((c) => ({
      label: c.workload,
      clusters: fioPeers.map((p) => {
        const l = c.peers[p]?.clatUs;
        return { label: PEER_LABEL[p], values: l ? [l.p50, l.p99, l.p999] : [undefined, undefined, undefined] };
      }),
    })),
  });
}

/** 4 KiB cells, one panel each, every NBD peer's completion-latency CDF (the median round's). */
function cdfSvg(cells: CellSummary[], opts: Options): string {
  const fioPeers = (['mpiscsi-1path', 'mpiscsi-2path', 'qemu-nbd'] as const).filter((p) => opts.peers.includes(p));
  const small = cells.filter((c) => c.workload.startsWith('4k'));
  return cdfChart({
    title: 'Completion latency CDF, 4 KiB (fio clat)',
    subtitle: `the median round of ${opts.rounds} x ${opts.seconds} s per peer; one tgtd, null LUN, loopback; log scale`,
    xLabel: 'completion latency (µs)',
    width: Math.max(960, 300 * small.length),
    panels: small.map((c) => ({
      title: c.workload,
      series: fioPeers.flatMap((p) => {
        const cdf = c.peers[p]?.cdf;
        return cdf ? [{ label: PEER_LABEL[p], points: cdf.map(([pct, us]) => ({ x: us, y: pct })) }] : [];
      }),
    })),
  });
}

function failoverSvg(failovers: FailoverResult[], seconds: number): string {
  const panels: Panel[] = failovers.map((f) => {
    const markers: Marker[] = [
      { x: f.faultAtS, label: `${f.fault} injected`, color: '#B00020' },
      { x: f.healAtS, label: 'proxy healed', color: '#1B5E20' },
    ];
    if (f.pathFailedAtS !== undefined)
      markers.push({ x: f.pathFailedAtS, label: 'path failed (initiator)', color: '#B00020', dashed: true });
    if (f.pathRestoredAtS !== undefined) markers.push({ x: f.pathRestoredAtS, label: 'path active again', color: '#1B5E20', dashed: true });
    return {
      title: f.title,
      note: `stall ${f0(f.stall.longestMs)} ms, max clat ${'failed' in f.fio ? '–' : `${f0(f.fio.maxClatMs)} ms`}`,
      series: [{ label: 'MB/s', points: f.series.map((p) => ({ x: p.t, y: p.mbps })) }],
      markers,
    };
  });
  return timeChart({
    title: 'Two-path mpiscsi export under fio load: throughput while one path fails',
    subtitle: `fio nbd engine, ${LOG_MSEC} ms bandwidth log (verify runs: writes only); solid: fault / heal at the proxy; dashed: the initiator's log`,
    xLabel: 'seconds since fio was started',
    yLabel: 'MB/s',
    panels,
    xMax: Math.ceil(Math.max(seconds, ...failovers.flatMap((f) => f.series.map((p) => p.t)))),
  });
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(MPISCSI)) throw new Error(`${MPISCSI} not found: run \`npm run build\` first`);
  const env = await machine();
  const loadBefore = loadavg().map(f2).join(' ');
  const startedAt = new Date().toISOString();
  workDir = mkdtempSync(join(tmpdir(), 'mpiscsi-bench-'));
  const dir = workDir;
  const workloads = WORKLOADS.filter((w) => opts.only.length === 0 || opts.only.some((o) => w.id.includes(o)));
  const rounds: RoundRecord[] = [];
  const errors: string[] = [];
  const failovers: FailoverResult[] = [];
  const syscalls: SyscallRow[] = [];
  const connectionRows: ConnectionRow[] = [];
  const log = (s: string) => process.stderr.write(`matrix: ${s}\n`);

  tgtd = await Tgtd.start({ hosts: HOSTS });
  const nullTid = await tgtd.addTarget(NULL_IQN);
  // The null backing store ignores the path: 1 TiB, reads return zeroes, writes are dropped.
  await tgtd.addLun(nullTid, 1, { bstype: 'null', path: '/dev/null' });
  const fileTid = await tgtd.addTarget(FILE_IQN);
  await tgtd.addLun(fileTid, 1, { size: FILE_LUN_SIZE });
  log(`tgtd pid ${tgtd.process.pid} on ${HOSTS.join(', ')} port ${tgtd.port}; work dir ${dir}`);
  const nullUrl = (host: string) => `iscsi://${host}:${tgtd!.port}/${NULL_IQN}/1`;

  try {
    if (opts.matrix && workloads.length) {
      const exports = new Map<PeerId, Export>();
      const fast = ['node.session.iscsi.DefaultTime2Wait=0'];
      if (opts.peers.includes('mpiscsi-1path'))
        exports.set(
          'mpiscsi-1path',
          await startServe('1path', 'one', join(dir, 'one.sock'), [nullUrl(HOSTS[0])], fast, opts.busyPollUs, opts.pinCpu),
        );
      if (opts.peers.includes('mpiscsi-2path'))
        exports.set(
          'mpiscsi-2path',
          await startServe(
            '2path',
            'two',
            join(dir, 'two.sock'),
            HOSTS.map(nullUrl),
            [...fast, 'path_grouping_policy=multibus'],
            opts.busyPollUs,
            opts.pinCpu,
          ),
        );
      if (opts.peers.includes('qemu-nbd'))
        exports.set('qemu-nbd', await startQemuNbd(join(dir, 'qemu.sock'), nullUrl(HOSTS[0]), opts.pinCpu));
      // Warm-up, not recorded: V8 compiles the data path, tgtd and the page cache settle.
      const warm = WORKLOADS[1];
      for (const [id, e] of exports)
        await runFio(e.uri, warm, opts.quick ? 0.5 : 1, `warmup-${id}`).catch((err: Error) => log(`warm-up ${id}: ${err.message}`));
      for (let r = 0; r < opts.rounds; r++) {
        for (const w of workloads) {
          const peers = opts.peers.filter((p) => p !== 'iscsi-perf' || !w.write);
          // Rotate the order each round (and by workload), so no peer always runs first or right after another.
          const k = (r + workloads.indexOf(w)) % peers.length;
          const order = [...peers.slice(k), ...peers.slice(0, k)];
          const rec: RoundRecord = { round: r + 1, workload: w.id, order, samples: {}, errors: [] };
          for (const p of order) {
            if (tgtd.process.exitCode !== null || tgtd.process.signalCode !== null) throw new Error('tgtd exited during the run');
            try {
              if (p === 'iscsi-perf') rec.samples[p] = await runIscsiPerf(nullUrl(HOSTS[0]), w, opts.seconds, opts.pinCpu);
              else {
                const e = exports.get(p)!;
                if (e.process.exitCode !== null || e.process.signalCode !== null) throw new Error(`${p} exited`);
                rec.samples[p] = await runFio(e.uri, w, opts.seconds, w.id, e.process.pid);
              }
            } catch (err) {
              rec.errors.push(`${p}: ${(err as Error).message}`);
              errors.push(`round ${r + 1} ${w.id} ${p}: ${(err as Error).message}`);
            }
          }
          rounds.push(rec);
          log(
            `round ${r + 1}/${opts.rounds} ${w.id}: ` +
              order
                .map((p) => `${p} ${rec.samples[p] ? `${f1(rec.samples[p]!.mbps)} MB/s ${f0(rec.samples[p]!.iops)} IOPS` : 'failed'}`)
                .join(', '),
          );
        }
      }
      if (opts.syscalls) {
        // strace slows the traced server (qemu-nbd more than us), so these runs give counts, not speeds.
        for (const w of workloads.filter((x) => x.bs === 4096)) {
          for (const [p, e] of exports) {
            try {
              const { result, count } = await countSyscalls(e.process.pid!, join(dir, `strace-${p}-${w.id}.txt`), () =>
                runFio(e.uri, w, opts.seconds, `strace-${w.id}`),
              );
              const ios = result.ios ?? 0;
              syscalls.push({
                peer: p,
                workload: w.id,
                label: w.label,
                calls: count.calls,
                ios,
                perIo: ios > 0 ? count.calls / ios : NaN,
                top: count.top,
              });
              log(`syscalls ${w.id} ${p}: ${f2(count.calls / ios)} per I/O (${count.calls} calls, ${ios} I/Os)`);
            } catch (err) {
              errors.push(`syscalls ${w.id} ${p}: ${(err as Error).message}`);
            }
          }
        }
      }
      const multi = WORKLOADS.find((w) => w.id === '4k-randread-qd32')!;
      const multiPeers = (['mpiscsi-1path', 'qemu-nbd'] as const).filter((p) => exports.has(p));
      if (opts.connections.length && multiPeers.length) {
        // NBD multi-conn: N fio jobs, each its own connection with QD32, on one export; rounds and order rotate.
        for (let r = 0; r < opts.rounds; r++)
          for (const n of opts.connections) {
            const k = (r + opts.connections.indexOf(n)) % multiPeers.length;
            const order = [...multiPeers.slice(k), ...multiPeers.slice(0, k)];
            const row: ConnectionRow = { round: r + 1, connections: n, mbps: {}, iops: {} };
            for (const p of order) {
              const e = exports.get(p)!;
              try {
                const s = await runFio(e.uri, multi, opts.seconds, `conns${n}`, e.process.pid, n);
                row.mbps[p] = s.mbps;
                row.iops[p] = s.iops;
              } catch (err) {
                errors.push(`connections ${n} round ${r + 1} ${p}: ${(err as Error).message}`);
              }
            }
            connectionRows.push(row);
            log(`connections ${n} round ${r + 1}: ${order.map((p) => `${p} ${f1(row.mbps[p] ?? Number.NaN)} MB/s`).join(', ')}`);
          }
      }
      for (const e of exports.values()) await stopExport(e);
    }

    if (opts.failover) {
      for (let i = 0; i < 2; i++) proxies.push(await FaultProxy.start({ host: HOSTS[i], port: tgtd.port }, HOSTS[i]));
      const urls = proxies.map((p) => `iscsi://${p.host}:${p.port}/${FILE_IQN}/1`);
      const paths = proxies.map((p) => `${p.host}:${p.port}/default`);
      const exp = await startServe(
        'failover',
        'failover',
        join(dir, 'failover.sock'),
        urls,
        [...FAST_FAILOVER_SET],
        opts.busyPollUs,
        opts.pinCpu,
      );
      for (const s of SCENARIOS) {
        if (!(await waitAllActive(exp, paths, 15_000))) log(`${s.id}: not every path active before the run`);
        const f = await runFailover(s, exp, paths, opts.failoverSeconds, dir);
        failovers.push(f);
        log(
          `failover ${s.id}: fault ${f2(f.faultAtS)} s, path failed ${f2(f.pathFailedAtS)} s, back ${f2(f.pathRestoredAtS)} s, ` +
            `stall ${f0(f.stall.longestMs)} ms, ${'failed' in f.fio ? f.fio.failed : `max clat ${f0(f.fio.maxClatMs)} ms, fio error ${f.fio.error}`}`,
        );
      }
      await stopExport(exp);
      for (const p of proxies.splice(0)) await p.stop();
    }
  } finally {
    for (const p of proxies.splice(0)) await p.stop().catch(() => {});
    killAll();
  }

  const cells = workloads.filter((w) => rounds.some((r) => r.workload === w.id)).map((w) => summarize(w, rounds));
  const load = `${loadBefore} before, ${loadavg().map(f2).join(' ')} after`;
  const connections = summarizeConnections(connectionRows, opts.connections);
  const md = markdown(cells, failovers, env, opts, load, errors, syscalls, connections);
  process.stdout.write(`\n${md}`);
  mkdirSync(opts.out, { recursive: true });
  const json = {
    startedAt,
    finishedAt: new Date().toISOString(),
    options: {
      seconds: opts.seconds,
      rounds: opts.rounds,
      failoverSeconds: opts.failoverSeconds,
      quick: opts.quick,
      only: opts.only,
      peers: opts.peers,
      busyPollUs: opts.busyPollUs ?? null,
      pinCpu: opts.pinCpu ?? null,
    },
    machine: { ...env, load },
    cells,
    rounds,
    failover: failovers,
    syscalls,
    connections: { summary: connections, rounds: connectionRows },
    errors,
  };
  const written: string[] = [];
  const write = (name: string, content: string) => {
    writeFileSync(join(opts.out, name), content);
    written.push(join(opts.out, name));
  };
  write('matrix.json', `${JSON.stringify(json, null, 2)}\n`);
  write('matrix.md', md);
  if (cells.length) write('latency-percentiles.svg', latencySvg(cells, opts));
  if (cells.some((c) => c.workload.startsWith('4k'))) write('latency-cdf.svg', cdfSvg(cells, opts));
  if (failovers.length) write('failover-throughput.svg', failoverSvg(failovers, opts.failoverSeconds));
  log(`wrote ${written.join(', ')}`);
  const fioFailed = failovers.some((f) => 'failed' in f.fio || f.fio.error !== 0);
  if (errors.length || fioFailed) process.exitCode = 1;
}

main().catch((err: Error) => {
  killAll();
  process.stderr.write(`matrix: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
