/**
 * Start-time benchmark of the three commands (issue 17): each mode that needs no daemon (`--version`, `--help`,
 * a bad option, the offline record modes of mpiscsiadm; the table in bench/startup-cases.ts, which
 * test/cli/startup.test.ts checks too) run RUNS times as a fresh process, the median wall time beside
 * `node -e ''` (the floor any Node command pays) and, where installed, open-iscsi's `iscsiadm -m iface`.
 * Runs are interleaved (one of each command per round) so that a busy moment of the machine falls on every
 * command alike. Prints a markdown table; `--json FILE` also writes the results.
 *
 *   node dist/bench/startup.js [--runs N] [--json FILE]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { STARTUP_CASES, STARTUP_NATS_URL, STARTUP_RECORDS, startupArgv } from './startup-cases.js';

/** dist/src beside this file's dist/bench. */
const DIST_SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

interface Row {
  name: string;
  argv: string[];
  /** Median wall time of one run, milliseconds. */
  medianMs: number;
  /** medianMs / the median of `node -e ''`. */
  ratio: number;
  minMs: number;
  maxMs: number;
  runs: number;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** One run of argv; its wall time in ms. A failing command fails the bench (a fast error is not a start time). */
function timeOnce(argv: string[], okCodes: readonly number[] = [0]): number {
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MPISCSI_NATS_URL: STARTUP_NATS_URL },
  });
  const ms = performance.now() - t0;
  if (r.error) throw r.error;
  if (!okCodes.includes(r.status ?? -1)) throw new Error(`${argv.join(' ')} exited ${r.status ?? r.signal}: ${r.stderr.toString().trim()}`);
  return ms;
}

function hasIscsiadm(): boolean {
  const r = spawnSync('iscsiadm', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function main(): void {
  const runs = Number(arg('--runs') ?? 20);
  const jsonOut = arg('--json');
  const db = mkdtempSync(join(tmpdir(), 'mpiscsi-startup-'));
  try {
    // A database with records to list, show and update, made by the command itself.
    const node = process.execPath;
    for (const r of STARTUP_RECORDS) timeOnce([node, ...startupArgv(DIST_SRC, { program: 'mpiscsiadm', args: r }, db)]);
    const cases: { name: string; argv: string[]; ok?: number[] }[] = [
      { name: "node -e ''", argv: [node, '-e', ''] },
      ...STARTUP_CASES.map((c) => ({ name: c.name, argv: [node, ...startupArgv(DIST_SRC, c, db)], ok: [c.code ?? 0] })),
    ];
    if (hasIscsiadm()) cases.push({ name: 'iscsiadm -m iface', argv: ['iscsiadm', '-m', 'iface'] });
    const samples = cases.map(() => [] as number[]);
    for (const c of cases) timeOnce(c.argv, c.ok); // warm the page cache once
    for (let r = 0; r < runs; r++) for (const [i, c] of cases.entries()) samples[i].push(timeOnce(c.argv, c.ok));
    const floor = median(samples[0]);
    const rows: Row[] = cases.map((c, i) => {
      const m = median(samples[i]);
      return {
        name: c.name,
        argv: c.argv,
        medianMs: m,
        ratio: m / floor,
        minMs: Math.min(...samples[i]),
        maxMs: Math.max(...samples[i]),
        runs,
      };
    });
    const load = loadavg().map((l) => l.toFixed(2));
    process.stdout.write(`node ${process.version}, ${runs} runs each, load average ${load.join(' ')}\n\n`);
    process.stdout.write("| command | median ms | x node -e '' | min-max ms |\n|---|---:|---:|---:|\n");
    for (const r of rows)
      process.stdout.write(
        `| \`${r.name}\` | ${r.medianMs.toFixed(0)} | ${r.ratio.toFixed(2)} | ${r.minMs.toFixed(0)}-${r.maxMs.toFixed(0)} |\n`,
      );
    if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify({ node: process.version, runs, loadavg: loadavg(), rows }, null, 2)}\n`);
  } finally {
    rmSync(db, { recursive: true, force: true });
  }
}

main();
