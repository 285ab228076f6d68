/**
 * Issue 10 through the daemon: mpiscsid (built, a child process) with nats-server, one path to a real tgtd
 * logged in with mpiscsiadm, default settings, the device exported over NBD with `mpiscsiadm -m export`.
 * tgtd killed (-9) and restarted on its port 1.5 s later: nbdcopy of 256 MiB both ways and fio randrw with
 * verify through two restarts finish clean. Then what is refused is said where the user looks: an expired
 * replacement_timeout and a changed LU identity each as a daemon log line, a NATS path event, a span event on
 * the failover trace (--trace-file) and the path's detail in `-m mpath` / `--json`.
 */
import { EventLog } from '../support/event-log.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { Tgtd } from '../support/tgtd.js';
import { NatsServer } from '../support/nats-server.js';
import { fio, nbdcopy, run, sha256File } from '../support/nbd-clients.js';
import { ControlClient } from '../../src/control/client.js';
import { natsConnectionOptions } from '../../src/control/nats-options.js';
import type { HostEvent } from '../../src/control/api.js';
import { parseSpanLines } from '../../src/cli/trace-summary.js';

const IQN = 'iqn.2026-12.test:daemon-ride';
const HOST = 'ridehost';
const SIZE = 256 * 1024 * 1024;
/** How long tgtd stays dead: the fault's length, not a wait for anything. */
const OUTAGE_MS = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let db: string;
let backing: string;
let tgtd: Tgtd;
let nats: NatsServer;
let daemon: DaemonProcess;
let client: ControlClient;
let uri: string;
const log = new EventLog<HostEvent>();
const events = log.all;

const adm = (...args: string[]): Promise<CliResult> =>
  runCli('mpiscsiadm', ['--db', db, ...args], { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: HOST });

/** A tgtd with our LU (with `decoy`, another LU behind the same IQN and LUN). */
const startTarget = (port?: number, decoy = false): Promise<Tgtd> => Tgtd.withFileLun(IQN, backing, { port, decoy });

async function restart(decoy = false): Promise<void> {
  tgtd = await tgtd.restartAfter(OUTAGE_MS, (port) => startTarget(port, decoy));
}

/** Resolves at the first event (from now on) that matches. */
const nextEvent = (pred: (e: HostEvent) => boolean): Promise<HostEvent> => log.next(pred);

/** Device bytes moved, from `-m mpath --json` over NATS (the paths' completed counters). */
async function completed(): Promise<number> {
  const r = await client.call('mpathList', { device: 'mpatha' });
  return r.devices[0].paths.reduce((n, p) => n + Number(p.completed), 0);
}

async function progressed(ios: number): Promise<void> {
  const start = await completed();
  while ((await completed()) < start + ios) await sleep(20);
}

const pathDown = (e: HostEvent) => e.kind === 'path' && e.event.to === 'failed';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsid-ride-'));
  db = join(dir, 'db');
  backing = join(dir, 'lu.img');
  writeFileSync(backing, randomBytes(SIZE), { mode: 0o600 });
  [tgtd, nats] = await Promise.all([startTarget(), NatsServer.start()]);
  daemon = await DaemonProcess.start({ db, dir, nats: nats.url, hostId: HOST });
  client = await ControlClient.connect(natsConnectionOptions({ servers: nats.url, maxReconnectAttempts: -1 }), {
    hostId: HOST,
    timeoutMs: 30_000,
  });
  client.subscribeEvents(HOST, '*', log.push);
  await client.nc.flush();
  expect((await adm('-m', 'discovery', '-t', 'st', '-p', `127.0.0.1:${tgtd.port}`)).code).toBe(0);
  const login = await adm('-m', 'node', '-T', IQN, '-l');
  expect(login.code, login.stderr).toBe(0);
  const exp = await adm('-m', 'export', '-o', 'new', '--device', 'mpatha');
  expect(exp.code, exp.stderr).toBe(0);
  uri = /(nbd\+unix:\/\/\/\S+)/.exec(exp.stdout)![1];
});

afterAll(async () => {
  await client?.close();
  await daemon?.stop();
  await Promise.all([tgtd?.stop(), nats?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mpiscsid + mpiscsiadm + NBD export, one path, default settings, tgtd restarted 1.5 s later', () => {
  it('nbdcopy reads and writes 256 MiB through a restart each: no error, sha256 equal', async () => {
    const out = join(dir, 'read.img');
    let copy = nbdcopy(uri, out, { flush: false });
    await progressed(64);
    await restart();
    await copy;
    expect(await sha256File(out)).toBe(await sha256File(backing));
    rmSync(out);

    const src = join(dir, 'src.img');
    writeFileSync(src, randomBytes(SIZE));
    copy = nbdcopy(src, uri);
    await progressed(64);
    await restart();
    await copy;
    expect(await sha256File(backing)).toBe(await sha256File(src));
    rmSync(src);
    expect(events.filter((e) => e.kind === 'mpath' && e.event.kind === 'io.failed')).toEqual([]);
    expect(events.filter((e) => e.kind === 'mpath' && e.event.kind === 'nopath' && e.event.to === 'holding')).toHaveLength(2);
    expect(daemon.lines.join('\n')).toMatch(/mpatha: no usable path, holding I\/O while \S+ recovers \(fast_io_fail_tmo 5 s\)/);
  });

  it('fio randrw verify=crc32c through two restarts: 0 errors, 0 verify failures', async () => {
    const load = fio({ uri, rw: 'randrw', bs: '4k', iodepth: 16, size: '64M', verify: 'crc32c' });
    await progressed(1_000);
    await restart();
    await progressed(1_000);
    await restart();
    const { job } = await load; // rejects with fio's stderr on any I/O or verify error
    expect(job.error).toBe(0);
    console.log(
      `mpiscsid: fio randrw verify through two tgtd restarts: longest completion ${(Math.max(job.write.clat_ns.max, job.read.clat_ns.max) / 1e6).toFixed(0)} ms`,
    );
  });
});

describe('refusals said where the user looks', () => {
  it('replacement_timeout expired: a log line, a NATS event, a span event and the path detail', async () => {
    const portal = `127.0.0.1:${tgtd.port}`;
    expect(
      (await adm('-m', 'node', '-T', IQN, '-p', portal, '-o', 'update', '-n', 'node.session.timeo.replacement_timeout', '-v', '1')).code,
    ).toBe(0);
    const reloaded = daemon.waitFor(/node records reloaded/);
    daemon.child.kill('SIGHUP');
    await reloaded;
    const line = daemon.waitFor(/gave up \(replacement-timeout\)/);
    const event = nextEvent((e) => e.kind === 'path' && e.event.to === 'gave-up');
    const failing = nextEvent((e) => e.kind === 'mpath' && e.event.kind === 'nopath' && e.event.to === 'failing');
    const port = tgtd.port;
    await tgtd.kill();
    expect(await line).toMatch(/replacement_timeout expired while relogging in/);
    const ev = (await event) as Extract<HostEvent, { kind: 'path' }>;
    expect(ev.event).toMatchObject({
      device: 'mpatha',
      reason: 'replacement-timeout',
      detail: expect.stringMatching(/^replacement_timeout expired/),
    });
    expect(((await failing) as Extract<HostEvent, { kind: 'mpath' }>).event.reason).toBe('no-path-can-return');
    const mpath = await adm('-m', 'mpath');
    expect(mpath.stdout).toMatch(/reason: replacement_timeout expired while relogging in/);
    const json = JSON.parse((await adm('-m', 'mpath', '--json')).stdout);
    expect(json[0].paths[0].detail).toMatch(/^replacement_timeout expired/);
    // Back with the same LU: the session (still relogging in) returns, the path with it.
    await sleep(OUTAGE_MS);
    await tgtd.stop();
    tgtd = await startTarget(port);
    await nextEvent((e) => e.kind === 'path' && e.event.to === 'active');
    // The failover span ended with the path's return; the exporter writes it to the trace file soon after.
    while (!readFileSync(daemon.traceFile, 'utf8').includes('mpath.path.gave_up')) await sleep(50);
    const spans = parseSpanLines(readFileSync(daemon.traceFile, 'utf8'));
    const gaveUp = spans
      .filter((s) => s.name === 'mpath.failover')
      .flatMap((s) => s.events ?? [])
      .find((e) => e.name === 'mpath.path.gave_up');
    expect(gaveUp?.attributes).toMatchObject({ reason: 'replacement-timeout' });
    expect(
      (await adm('-m', 'node', '-T', IQN, '-p', portal, '-o', 'update', '-n', 'node.session.timeo.replacement_timeout', '-v', '120')).code,
    ).toBe(0);
    const again = daemon.waitFor(/node records reloaded/);
    daemon.child.kill('SIGHUP');
    await again;
  });

  it('another LU behind the same IQN/LUN: a log line, a NATS event, a span event and the path detail with both WWIDs and serials', async () => {
    const line = daemon.waitFor(/gave up \(identity-changed\)/);
    const event = nextEvent((e) => e.kind === 'path' && e.event.to === 'gave-up' && e.event.reason === 'identity-changed');
    const down = nextEvent(pathDown);
    await restart(true);
    await down;
    const ev = (await event) as Extract<HostEvent, { kind: 'path' }>;
    expect(ev.event.detail).toMatch(/changed identity: WWID \S+ -> \S+, serial \S+ -> \S+/);
    expect(await line).toMatch(/changed identity: WWID/);
    const mpath = await adm('-m', 'mpath');
    expect(mpath.stdout).toMatch(/reason: identity-changed: .*changed identity: WWID/);
    const r = await run('nbdcopy', [uri, join(dir, 'other.img')], { okCodes: [0, 1] });
    expect(r.code).toBe(1); // EIO: not one byte of the other LU
  }, 60_000);
});
