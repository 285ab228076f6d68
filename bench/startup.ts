/**
 * Start-time benchmark of the three commands (issue 17): each mode that needs no daemon (`--version`, `--help`,
 * a bad option, the offline record modes of mpiscsiadm; the table in bench/startup-cases.ts, which
 * test/cli/startup.test.ts checks too) run RUNS times as a fresh process, the median wall time beside
 * `node -e ''` (the floor any Node command pays) and, where installed, open-iscsi's `iscsiadm -m iface`.
 * Runs are interleaved (one of each command per round) so that a busy moment of the machine falls on every
 * command alike. Where nats-server is installed, the round trips to a running mpiscsid (DAEMON_CASES: a
 * nats-server and the built daemon started here, no records) join the rounds, and a second table puts them
 * beside `mpiscsiadm --version` and the request alone: a warm in-process ControlClient's connect and its
 * session.list request, RUNS of each. Prints markdown tables; `--json FILE` also writes the results.
 *
 *   node dist/bench/startup.js [--runs N] [--json FILE] [--daemon-only]
 *
 * `--daemon-only`: just `node -e ''`, `mpiscsiadm --version` and the round trips (for a before/after of those).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { ControlClient } from '../src/control/client.js';
import { natsConnectionOptions } from '../src/control/nats-options.js';
import { NatsServer } from '../test/support/nats-server.js';
import { DAEMON_CASES, STARTUP_CASES, STARTUP_HOST_ID, STARTUP_NATS_URL, STARTUP_RECORDS, startupArgv } from './startup-cases.js';

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
function timeOnce(argv: string[], okCodes: readonly number[] = [0], env: Record<string, string> = {}): number {
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, MPISCSI_NATS_URL: STARTUP_NATS_URL, ...env },
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

function hasNatsServer(): boolean {
  if (existsSync('/usr/sbin/nats-server')) return true;
  const r = spawnSync('nats-server', ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** The built mpiscsid on `natsUrl` with an empty database; resolves once its control service is subscribed. */
function startDaemon(dir: string, natsUrl: string): Promise<ChildProcess> {
  mkdirSync(join(dir, 'daemon-db'));
  const child = spawn(
    process.execPath,
    [
      join(DIST_SRC, 'daemon', 'mpiscsid.js'),
      ...['--db', join(dir, 'daemon-db'), '--state-dir', join(dir, 'daemon-state'), '--host-id', STARTUP_HOST_ID],
      ...['--nats', natsUrl, '--trace-file', join(dir, 'daemon-trace.jsonl')],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let log = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      log += chunk;
      if (/control service on NATS/.test(log)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`mpiscsid exited ${code}: ${log}`)));
  });
}

/** The request alone, from a warm process: RUNS fresh connects, then RUNS session.list requests on one connection. */
async function requestSamples(natsUrl: string, runs: number): Promise<{ connect: number[]; request: number[] }> {
  const nats = natsConnectionOptions({ servers: natsUrl, name: 'bench-startup', maxReconnectAttempts: 0 });
  const client = () => ControlClient.connect(nats, { hostId: STARTUP_HOST_ID });
  await (await client()).close(); // warm: modules loaded, the daemon's first answer given
  const connect: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const c = await client();
    connect.push(performance.now() - t0);
    await c.close();
  }
  const c = await client();
  const request: number[] = [];
  try {
    await c.call('sessionList', {});
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await c.call('sessionList', {});
      request.push(performance.now() - t0);
    }
  } finally {
    await c.close();
  }
  return { connect, request };
}

function row(name: string, argv: string[], xs: number[], floor: number, runs: number): Row {
  const m = median(xs);
  return { name, argv, medianMs: m, ratio: m / floor, minMs: Math.min(...xs), maxMs: Math.max(...xs), runs };
}

function table(rows: Row[], against: string): void {
  process.stdout.write(`| command | median ms | x ${against} | min-max ms |\n|---|---:|---:|---:|\n`);
  for (const r of rows)
    process.stdout.write(
      `| \`${r.name}\` | ${r.medianMs.toFixed(r.medianMs < 10 ? 1 : 0)} | ${r.ratio.toFixed(2)} | ${r.minMs.toFixed(0)}-${r.maxMs.toFixed(0)} |\n`,
    );
}

async function main(): Promise<void> {
  const runs = Number(arg('--runs') ?? 20);
  const jsonOut = arg('--json');
  const scratch = mkdtempSync(join(tmpdir(), 'mpiscsi-startup-'));
  const db = join(scratch, 'db');
  const daemonOnly = process.argv.includes('--daemon-only');
  const withDaemon = hasNatsServer();
  if (daemonOnly && !withDaemon) throw new Error('--daemon-only: no nats-server installed (scripts/setup.sh)');
  let nats: NatsServer | undefined;
  let daemon: ChildProcess | undefined;
  try {
    // A database with records to list, show and update, made by the command itself.
    const node = process.execPath;
    for (const r of STARTUP_RECORDS) timeOnce([node, ...startupArgv(DIST_SRC, { program: 'mpiscsiadm', args: r }, db)]);
    type Case = { name: string; argv: string[]; ok?: number[]; env?: Record<string, string>; daemon?: boolean };
    const cases: Case[] = [
      { name: "node -e ''", argv: [node, '-e', ''] },
      ...STARTUP_CASES.filter((c) => !daemonOnly || c.name === 'mpiscsiadm --version').map((c) => ({
        name: c.name,
        argv: [node, ...startupArgv(DIST_SRC, c, db)],
        ok: [c.code ?? 0],
      })),
    ];
    if (hasIscsiadm() && !daemonOnly) cases.push({ name: 'iscsiadm -m iface', argv: ['iscsiadm', '-m', 'iface'] });
    if (withDaemon) {
      nats = await NatsServer.start({ jetstream: false });
      daemon = await startDaemon(scratch, nats.url);
      const env = { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: STARTUP_HOST_ID };
      for (const c of DAEMON_CASES)
        cases.push({ name: c.name, argv: [node, ...startupArgv(DIST_SRC, c, db)], ok: [c.code ?? 0], env, daemon: true });
    }
    const samples = cases.map(() => [] as number[]);
    for (const c of cases) timeOnce(c.argv, c.ok, c.env); // warm the page cache once
    for (let r = 0; r < runs; r++) for (const [i, c] of cases.entries()) samples[i].push(timeOnce(c.argv, c.ok, c.env));
    const floor = median(samples[0]);
    const rows = cases.flatMap((c, i) => (c.daemon ? [] : [row(c.name, c.argv, samples[i], floor, runs)]));
    const load = loadavg().map((l) => l.toFixed(2));
    process.stdout.write(`node ${process.version}, ${runs} runs each, load average ${load.join(' ')}\n\n`);
    table(rows, "node -e ''");
    let daemonRows: Row[] | undefined;
    if (nats) {
      const version = cases.findIndex((c) => c.name === 'mpiscsiadm --version');
      const vfloor = median(samples[version]);
      const { connect, request } = await requestSamples(nats.url, runs);
      daemonRows = [
        row(cases[version].name, cases[version].argv, samples[version], vfloor, runs),
        ...cases.flatMap((c, i) => (c.daemon ? [row(c.name, c.argv, samples[i], vfloor, runs)] : [])),
        row('NATS connect (warm process)', [], connect, vfloor, runs),
        row('session.list request (warm process, connected)', [], request, vfloor, runs),
      ];
      process.stdout.write('\nRound trips to a running mpiscsid (no sessions):\n\n');
      table(daemonRows, '`mpiscsiadm --version`');
    }
    if (jsonOut)
      writeFileSync(jsonOut, `${JSON.stringify({ node: process.version, runs, loadavg: loadavg(), rows, daemonRows }, null, 2)}\n`);
  } finally {
    if (daemon && daemon.exitCode === null) {
      const exited = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    await nats?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
