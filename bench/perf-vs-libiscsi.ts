/**
 * `mpiscsi perf` against libiscsi's `iscsi-perf` on the same tgtd LUN (`--bstype null`: 1 TiB, no disk I/O),
 * in the same run: 128 KiB sequential reads and 4 KiB random reads, 32 commands in flight. Rounds alternate the
 * two tools (and which one goes first), because loopback throughput drifts a lot between runs and between tgtd
 * processes; only ratios and medians from one tgtd process are meaningful.
 *
 *   node dist/bench/perf-vs-libiscsi.js [--rounds 5] [--seconds 5] [--json FILE] [--md FILE]
 *
 * Writes bench/results/perf-vs-libiscsi.{json,md} unless --json/--md name other files. Loopback only.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, type as osType } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tgtd } from '../test/support/tgtd.js';
import { cleanUpOnExit, describeFailure, execText, killChildren, killTgtdNow, run } from './processes.js';

const HOST = '127.0.0.1';
const IQN = 'iqn.2025-01.io.mpiscsi:bench-null';
const TGTD = existsSync('/usr/sbin/tgtd') ? '/usr/sbin/tgtd' : 'tgtd';
const BLOCK_SIZE = 512; // tgtd's null backing store
const IN_FLIGHT = 32;

/** dist/bench/perf-vs-libiscsi.js -> repository root. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MPISCSI = join(ROOT, 'dist', 'src', 'cli', 'mpiscsi.js');

interface Workload {
  name: string;
  blocks: number;
  random: boolean;
  /** The metric the goal is stated in; for one workload MB/s and IOPS ratios are the same number. */
  metric: 'MB/s' | 'IOPS';
  goal: number;
}

const WORKLOADS: Workload[] = [
  { name: '128 KiB sequential read', blocks: 256, random: false, metric: 'MB/s', goal: 0.95 },
  { name: '4 KiB random read', blocks: 8, random: true, metric: 'IOPS', goal: 0.7 },
];

type Tool = 'mpiscsi' | 'iscsi-perf';

interface Sample {
  iops: number;
  /** 10^6 bytes per second, computed from IOPS and the request size for both tools. */
  mbps: number;
}

interface Round {
  workload: string;
  round: number;
  first: Tool;
  mpiscsi?: Sample;
  iscsiPerf?: Sample;
  /** mpiscsi / iscsi-perf for this round. */
  ratio?: number;
  errors: string[];
}

interface Summary {
  workload: string;
  blocks: number;
  random: boolean;
  rounds: number;
  mpiscsi: Sample;
  iscsiPerf: Sample;
  ratioOfMedians: number;
  medianRoundRatio: number;
  minRoundRatio: number;
  maxRoundRatio: number;
  goalMetric: string;
  goal: number;
  pass: boolean;
}

// ---------------------------------------------------------------------------------------------- arguments

function parseArgs(argv: string[]): { rounds: number; seconds: number; json: string; md: string } {
  const opts = {
    rounds: 5,
    seconds: 5,
    json: join(ROOT, 'bench', 'results', 'perf-vs-libiscsi.json'),
    md: join(ROOT, 'bench', 'results', 'perf-vs-libiscsi.md'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const positive = (): number => {
      const n = Number(value());
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a}: expected a positive integer`);
      return n;
    };
    if (a === '--rounds') opts.rounds = positive();
    else if (a === '--seconds') opts.seconds = positive();
    else if (a === '--json') opts.json = resolve(value());
    else if (a === '--md') opts.md = resolve(value());
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node dist/bench/perf-vs-libiscsi.js [--rounds N] [--seconds T] [--json FILE] [--md FILE]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------- processes

let tgtd: Tgtd | undefined;

function killAll(): void {
  killChildren();
  if (tgtd) killTgtdNow(tgtd);
  tgtd = undefined;
}

cleanUpOnExit('perf-vs-libiscsi', killAll);

interface Target {
  process: ChildProcess;
  control: number;
  port: number;
  url: string;
}

/** One tgtd (the test helper's) with a `--bstype null` LUN 1: it reports 1 TiB and returns zeroes without disk I/O. */
async function startTarget(): Promise<Target> {
  tgtd = await Tgtd.start({ hosts: [HOST] });
  await tgtd.addTarget(IQN, [{ bstype: 'null' }]);
  return { process: tgtd.process, control: tgtd.controlPort, port: tgtd.port, url: `iscsi://${HOST}:${tgtd.port}/${IQN}/1` };
}

// ---------------------------------------------------------------------------------------------- one run

async function runMpiscsi(url: string, w: Workload, seconds: number): Promise<Sample> {
  const args = [
    MPISCSI,
    'perf',
    '-m',
    String(IN_FLIGHT),
    '-b',
    String(w.blocks),
    ...(w.random ? ['-r'] : []),
    '-t',
    String(seconds),
    '--json',
    url,
  ];
  const r = await run(process.execPath, args, (seconds + 30) * 1000);
  if (r.code !== 0) throw new Error(`mpiscsi perf ${describeFailure(r)}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const res = JSON.parse(line) as { ios: number; seconds: number; iops: number; errors: number };
  if (res.errors > 0) throw new Error(`mpiscsi perf reported ${res.errors} I/O errors`);
  return sample(res.iops, w);
}

async function runIscsiPerf(url: string, w: Workload, seconds: number): Promise<Sample> {
  const args = ['-m', String(IN_FLIGHT), '-b', String(w.blocks), ...(w.random ? ['-r'] : []), '-t', String(seconds), url];
  const r = await run('iscsi-perf', args, (seconds + 30) * 1000);
  // Progress lines are separated by \r; the final one is "iops average N (M MB/s)". Its MB/s is rounded
  // (and in MiB), so take IOPS and compute MB/s the same way as for mpiscsi.
  const averages = [...r.stdout.matchAll(/iops average (\d+(?:\.\d+)?) \((\d+(?:\.\d+)?) MB\/s\)/g)];
  const last = averages.at(-1);
  if (r.code !== 0 || !last) throw new Error(`iscsi-perf ${describeFailure(r)}`);
  return sample(Number(last[1]), w);
}

function sample(iops: number, w: Workload): Sample {
  return { iops, mbps: (iops * w.blocks * BLOCK_SIZE) / 1e6 };
}

// ---------------------------------------------------------------------------------------------- statistics

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summarize(w: Workload, rounds: Round[]): Summary | undefined {
  const mine = rounds.flatMap((r) => (r.mpiscsi ? [r.mpiscsi] : []));
  const theirs = rounds.flatMap((r) => (r.iscsiPerf ? [r.iscsiPerf] : []));
  const ratios = rounds.flatMap((r) => (r.ratio !== undefined ? [r.ratio] : []));
  if (!mine.length || !theirs.length || !ratios.length) return undefined;
  const m = { iops: median(mine.map((s) => s.iops)), mbps: median(mine.map((s) => s.mbps)) };
  const t = { iops: median(theirs.map((s) => s.iops)), mbps: median(theirs.map((s) => s.mbps)) };
  const medianRoundRatio = median(ratios);
  return {
    workload: w.name,
    blocks: w.blocks,
    random: w.random,
    rounds: ratios.length,
    mpiscsi: m,
    iscsiPerf: t,
    ratioOfMedians: m.iops / t.iops,
    medianRoundRatio,
    minRoundRatio: Math.min(...ratios),
    maxRoundRatio: Math.max(...ratios),
    goalMetric: w.metric,
    goal: w.goal,
    // Judged on the paired (same-round) ratios: drift between rounds cancels out in each pair.
    pass: medianRoundRatio >= w.goal,
  };
}

// ---------------------------------------------------------------------------------------------- report

/** dpkg-query's --showformat for a package's version: dpkg's own field syntax, not a JavaScript template. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: the `${Version}` is for dpkg-query to expand.
const DPKG_VERSION = '${Version}';

async function machine(): Promise<Record<string, string>> {
  const cpu = cpus();
  const tgt = (await execText(TGTD, ['-V'])) || (await execText('dpkg-query', ['-W', '-f', DPKG_VERSION, 'tgt']));
  const libiscsi = await execText('dpkg-query', ['-W', '-f', DPKG_VERSION, 'libiscsi-bin']);
  return {
    os: `${osType()} ${release()}`,
    cpus: `${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown'}`,
    node: process.version,
    tgt: tgt || 'unknown',
    libiscsi: libiscsi ? `libiscsi-bin ${libiscsi}` : 'unknown',
  };
}

const f1 = (n: number) => n.toFixed(1);
const f0 = (n: number) => Math.round(n).toString();
const f2 = (n: number) => n.toFixed(2);

function markdown(
  summaries: Summary[],
  rounds: Round[],
  env: Record<string, string>,
  opts: { rounds: number; seconds: number },
  load: string,
): string {
  const lines = [
    `| workload | mpiscsi MB/s | mpiscsi IOPS | iscsi-perf MB/s | iscsi-perf IOPS | ratio of medians | median of round ratios (min–max) | goal | result |`,
    `|---|---:|---:|---:|---:|---:|---:|---|---|`,
  ];
  for (const s of summaries)
    lines.push(
      `| ${s.workload} | ${f1(s.mpiscsi.mbps)} | ${f0(s.mpiscsi.iops)} | ${f1(s.iscsiPerf.mbps)} | ${f0(s.iscsiPerf.iops)} | ` +
        `${f2(s.ratioOfMedians)}x | ${f2(s.medianRoundRatio)}x (${f2(s.minRoundRatio)}–${f2(s.maxRoundRatio)}) | ` +
        `>= ${s.goal}x ${s.goalMetric} | ${s.pass ? 'PASS' : 'MISS'} |`,
    );
  const failed = rounds.filter((r) => r.errors.length);
  lines.push(
    '',
    `${IN_FLIGHT} in flight, ${opts.rounds} rounds x ${opts.seconds} s per tool, tools alternating (and alternating which goes first), ` +
      `one tgtd process, LUN \`--bstype null\` (1 TiB, no disk I/O), ${HOST} only. Medians over rounds; MB/s = 10^6 bytes/s ` +
      `computed from IOPS for both tools. PASS/MISS judges the median of the per-round ratios.`,
    '',
    `Machine: ${env.os}; ${env.cpus}; node ${env.node}; tgt ${env.tgt}; ${env.libiscsi}; load average ${load}.`,
  );
  if (failed.length)
    lines.push('', `Failed rounds (left out): ${failed.map((r) => `${r.workload} #${r.round}: ${r.errors.join('; ')}`).join(' / ')}`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(MPISCSI)) throw new Error(`${MPISCSI} not found: run \`npx tsc -p tsconfig.json\` first`);
  const env = await machine();
  const loadBefore = loadavg().map(f2).join(' ');
  const startedAt = new Date().toISOString();
  const target = await startTarget();
  process.stderr.write(`perf-vs-libiscsi: tgtd pid ${target.process.pid} (control ${target.control}), ${target.url}\n`);
  const rounds: Round[] = [];
  try {
    for (const w of WORKLOADS) {
      for (let i = 0; i < opts.rounds; i++) {
        const first: Tool = i % 2 === 0 ? 'mpiscsi' : 'iscsi-perf';
        const round: Round = { workload: w.name, round: i + 1, first, errors: [] };
        const order: Tool[] = first === 'mpiscsi' ? ['mpiscsi', 'iscsi-perf'] : ['iscsi-perf', 'mpiscsi'];
        for (const tool of order) {
          if (target.process.exitCode !== null || target.process.signalCode !== null) throw new Error('tgtd exited during the run');
          try {
            if (tool === 'mpiscsi') round.mpiscsi = await runMpiscsi(target.url, w, opts.seconds);
            else round.iscsiPerf = await runIscsiPerf(target.url, w, opts.seconds);
          } catch (err) {
            round.errors.push((err as Error).message);
          }
        }
        if (round.mpiscsi && round.iscsiPerf && round.iscsiPerf.iops > 0) round.ratio = round.mpiscsi.iops / round.iscsiPerf.iops;
        rounds.push(round);
        process.stderr.write(
          `  ${w.name} round ${i + 1}/${opts.rounds} (${first} first): ` +
            `mpiscsi ${round.mpiscsi ? `${f0(round.mpiscsi.iops)} IOPS ${f1(round.mpiscsi.mbps)} MB/s` : 'failed'}, ` +
            `iscsi-perf ${round.iscsiPerf ? `${f0(round.iscsiPerf.iops)} IOPS ${f1(round.iscsiPerf.mbps)} MB/s` : 'failed'}` +
            `${round.ratio !== undefined ? `, ratio ${f2(round.ratio)}` : ''}${round.errors.length ? ` [${round.errors.join('; ')}]` : ''}\n`,
        );
      }
    }
  } finally {
    killAll();
  }
  const summaries = WORKLOADS.flatMap(
    (w) =>
      summarize(
        w,
        rounds.filter((r) => r.workload === w.name),
      ) ?? [],
  );
  const load = `${loadBefore} before, ${loadavg().map(f2).join(' ')} after`;
  const md = markdown(summaries, rounds, env, opts, load);
  process.stdout.write(`\n${md}`);
  const json = {
    startedAt,
    options: { ...opts, inFlight: IN_FLIGHT, json: undefined, md: undefined },
    machine: { ...env, load },
    target: { url: target.url, tgtdControl: target.control },
    summary: summaries,
    rounds,
  };
  for (const [file, text] of [
    [opts.json, `${JSON.stringify(json, null, 2)}\n`],
    [opts.md, md],
  ] as const) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  process.stderr.write(`perf-vs-libiscsi: wrote ${opts.json} and ${opts.md}\n`);
  if (summaries.length < WORKLOADS.length) process.exitCode = 1;
}

main().catch((err: Error) => {
  killAll();
  process.stderr.write(`perf-vs-libiscsi: ${err.message}\n`);
  process.exit(1);
});
