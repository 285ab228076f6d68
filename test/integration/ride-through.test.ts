/**
 * Issue 10: outages a path survives cost a stall, never an error. One path to a real tgtd, default settings
 * (replacement_timeout 120 s, fast_io_fail_tmo 5 s, no_path_retry fail), tgtd killed (-9) and restarted on
 * the same port 1.5 s later with the same LU: nbdcopy of 256 MiB both ways and fio randrw with verify through
 * `mpiscsi serve` finish without an error and with the LU's bytes. A hold shorter than the outage gives EIO
 * after the hold and not before; with two paths (two tgtd on one backing file) a restart of one is an
 * ordinary failover, no hold. A restart with another LU behind the same IQN/LUN is refused and said: a line,
 * the path's detail, a span event.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Tgtd } from '../support/tgtd.js';
import { fio, nbdcopy, nbdinfo, run, sha256File } from '../support/nbd-clients.js';
import { startServe, type RunningServe } from '../../src/cli/serve.js';
import type { MultipathEvent } from '../../src/multipath/index.js';
import { startTelemetry } from '../../src/telemetry/index.js';

const IQN = 'iqn.2026-12.test:ride-through';
const SIZE = 256 * 1024 * 1024;
/** How long tgtd stays dead: the outage the issue describes. It is the fault's length, not a wait for anything. */
const OUTAGE_MS = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let dir: string;
let backing: string;
const targets: Tgtd[] = [];
let serving: RunningServe[] = [];

/** A tgtd with our LU (with `decoy`, another LU behind the same IQN and LUN). */
const startTarget = (port?: number, decoy = false): Promise<Tgtd> => Tgtd.withFileLun(IQN, backing, { port, decoy });

/** Kills tgtd `i` and starts a new one on its port OUTAGE_MS later (with another LU when `decoy`). */
async function restart(i: number, decoy = false): Promise<void> {
  targets[i] = await targets[i].restartAfter(OUTAGE_MS, (port) => startTarget(port, decoy));
}

async function serve(urls: string[], set: string[] = [], extra: Partial<Parameters<typeof startServe>[0]> = {}) {
  const lines: string[] = [];
  const events: MultipathEvent[] = [];
  const s = await startServe({
    urls,
    socket: join(dir, `ride-${serving.length}.sock`),
    set,
    initiatorName: 'iqn.2026-12.test:ride-through',
    out: (l) => lines.push(l),
    ...extra,
  });
  serving.push(s);
  s.device.events$.subscribe((e) => events.push(e));
  return { s, lines, events, uri: s.uris[0] };
}

const url = (t: Tgtd) => `iscsi://127.0.0.1:${t.port}/${IQN}/1`;

/** Resolves once the device has moved `bytes` more (its paths' counters), i.e. the client is mid-copy. */
async function moved(s: RunningServe, bytes: number): Promise<void> {
  const total = () =>
    s.device
      .status()
      .groups.flatMap((g) => g.paths)
      .reduce((n, p) => n + (p.stats.bytesRead ?? 0) + (p.stats.bytesWritten ?? 0), 0);
  const start = total();
  while (total() < start + bytes) await sleep(5);
}

const stalls = (events: MultipathEvent[]) => events.flatMap((e) => (e.type === 'io.recovered' ? [Math.round(e.stalledMs)] : []));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-ride-'));
  backing = join(dir, 'lu.img');
  writeFileSync(backing, randomBytes(SIZE), { mode: 0o600 });
  targets.push(await startTarget());
});

afterEach(async () => {
  for (const s of serving.splice(0)) await s.close();
});

afterAll(async () => {
  for (const t of targets) await t.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('one path, default settings, tgtd killed and restarted 1.5 s later', () => {
  it('nbdcopy reads 256 MiB through the restart: no error, the LU bytes; the trace shows hold, relogin, first completion', async () => {
    const exporter = new InMemorySpanExporter();
    const telemetry = startTelemetry({ env: {}, spanExporters: [exporter] });
    const { s, lines, events, uri } = await serve([url(targets[0])], [], { telemetry });
    const out = join(dir, 'read.img');
    const copy = nbdcopy(uri, out, { flush: false });
    await moved(s, 32 << 20);
    await restart(0);
    await copy;
    expect(await sha256File(out)).toBe(await sha256File(backing));
    const say = lines.join('\n');
    expect(say).toMatch(/no usable path, holding I\/O while 127\.0\.0\.1:\d+\/default recovers \(fast_io_fail_tmo 5 s\)/);
    expect(say).toMatch(/a path is back: I\/O flowing \(was holding\)/);
    expect(say).not.toMatch(/I\/O failed/);
    expect(events.some((e) => e.type === 'io.failed')).toBe(false);
    console.log(`nbdcopy read through a tgtd restart: longest stall ${Math.max(...stalls(events))} ms\n${say}`);
    rmSync(out);
    // One failover trace: hold start (mpath.nopath holding), the session's recovery with its successful login,
    // and the first completion of the held I/O (on the requeue span), in that order.
    await s.close();
    serving = serving.filter((x) => x !== s);
    const spans = exporter.getFinishedSpans();
    const root = spans.find((sp) => sp.name === 'mpath.failover')!;
    const t = (h: [number, number]) => h[0] * 1e3 + h[1] / 1e6;
    const children = (parent: typeof root) => spans.filter((sp) => sp.parentSpanContext?.spanId === parent.spanContext().spanId);
    const hold = root.events.find((e) => e.name === 'mpath.nopath' && e.attributes?.to === 'holding')!;
    const recovery = children(root).find((sp) => sp.name === 'iscsi.session.recovery')!;
    const login = children(recovery)
      .filter((sp) => sp.name === 'iscsi.login')
      .find((sp) => sp.status.code !== 2)!;
    const first = children(root)
      .find((sp) => sp.name === 'mpath.requeue')!
      .events.find((e) => e.name === 'mpath.io.first_completion')!;
    expect(t(hold.time)).toBeLessThanOrEqual(t(login.endTime));
    expect(t(login.endTime)).toBeLessThanOrEqual(t(first.time));
    expect(root.attributes).toMatchObject({ 'mpath.failover.restored': true });
    expect(root.status.code).not.toBe(2);
    await telemetry.shutdown();
  });

  it('nbdcopy writes 256 MiB through the restart: the backing file holds the source', async () => {
    const { s, events, uri } = await serve([url(targets[0])]);
    const src = join(dir, 'src.img');
    writeFileSync(src, randomBytes(SIZE));
    const copy = nbdcopy(src, uri);
    await moved(s, 32 << 20);
    await restart(0);
    await copy;
    expect(await sha256File(backing)).toBe(await sha256File(src));
    expect(events.some((e) => e.type === 'io.failed')).toBe(false);
    console.log(`nbdcopy write through a tgtd restart: longest stall ${Math.max(...stalls(events))} ms`);
    rmSync(src);
  });

  it('fio randrw with verify=crc32c through two restarts: 0 errors, 0 verify failures', async () => {
    const { s, events, uri } = await serve([url(targets[0])]);
    const load = fio({ uri, rw: 'randrw', bs: '4k', iodepth: 16, size: '64M', verify: 'crc32c' });
    await moved(s, 4 << 20);
    await restart(0);
    await moved(s, 4 << 20);
    await restart(0);
    const { job } = await load; // rejects with fio's stderr on any I/O or verify error
    expect(job.error).toBe(0);
    expect(job.write.io_bytes + job.read.io_bytes).toBeGreaterThanOrEqual(64 << 20);
    expect(events.some((e) => e.type === 'io.failed')).toBe(false);
    expect(events.filter((e) => e.type === 'nopath' && e.to === 'holding')).toHaveLength(2);
    const gapMs = Math.max(job.write.clat_ns.max, job.read.clat_ns.max) / 1e6;
    console.log(
      `fio randrw verify through two tgtd restarts: longest completion ${gapMs.toFixed(0)} ms, stalls ${stalls(events).join(', ')} ms`,
    );
  });
});

describe('a hold shorter than the outage', () => {
  it('fast_io_fail_tmo 0.5 s, no_path_retry fail: EIO once the hold runs out, not before; I/O flows when tgtd is back', async () => {
    const { s, lines, events, uri } = await serve([url(targets[0])], ['fast_io_fail_tmo=0.5']);
    const port = targets[0].port;
    await targets[0].kill();
    const failing = new Promise<Extract<MultipathEvent, { type: 'nopath' }>>((resolve) =>
      s.device.events$.subscribe((e) => e.type === 'nopath' && e.to === 'failing' && resolve(e)),
    );
    const r = await run('nbdcopy', [uri, join(dir, 'never.img')], { okCodes: [0, 1], timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Input\/output error/);
    const ended = await failing;
    expect(ended.why).toBe('fast-io-fail-tmo');
    expect(ended.heldMs).toBeGreaterThanOrEqual(500); // timers never fire early: no EIO before the hold ran out
    const firstFailure = events.findIndex((e) => e.type === 'io.failed');
    expect(firstFailure).toBeGreaterThan(events.indexOf(ended));
    expect(lines.join('\n')).toMatch(/no path came back within the hold \(\d+ ms, fast_io_fail_tmo\); failing I\/O \(no_path_retry fail\)/);
    console.log(`held ${Math.round(ended.heldMs!)} ms, then EIO`);
    await sleep(OUTAGE_MS);
    await targets[0].stop();
    targets[0] = await startTarget(port);
    await new Promise<void>((resolve) => s.device.events$.subscribe((e) => e.type === 'nopath' && e.to === 'serving' && resolve()));
    expect((await nbdinfo(uri)).exports[0]['export-size']).toBe(SIZE);
  });
});

describe('two paths (two tgtd on one backing file), one restarted', () => {
  it('is an ordinary failover: no hold, no error, the bytes written', async () => {
    targets.push(await startTarget());
    const { s, lines, events, uri } = await serve([url(targets[0]), url(targets[1])]);
    expect(s.device.pathNames).toHaveLength(2);
    const src = join(dir, 'src2.img');
    writeFileSync(src, randomBytes(SIZE));
    const copy = nbdcopy(src, uri);
    await moved(s, 32 << 20);
    await restart(0); // path 0 is the active group's (failover policy)
    await copy;
    expect(await sha256File(backing)).toBe(await sha256File(src));
    expect(events.some((e) => e.type === 'nopath')).toBe(false);
    expect(events.some((e) => e.type === 'io.failed')).toBe(false);
    expect(lines.join('\n')).toMatch(/switched from path group 1 to 2 \(failover\)/);
    console.log(`two paths, one tgtd restarted: failover stall ${stalls(events).join(', ')} ms`);
    rmSync(src);
    await targets.pop()!.stop();
  });
});

describe('another LU behind the same IQN and LUN after the restart', () => {
  it('is refused and said: a serve line with both WWIDs and serials, the path detail, a span event; EIO after', async () => {
    const exporter = new InMemorySpanExporter();
    const telemetry = startTelemetry({ env: {}, spanExporters: [exporter] });
    const { s, lines, events, uri } = await serve([url(targets[0])], [], { telemetry });
    const before = s.device.status().identity?.wwid;
    const gaveUp = new Promise<Extract<MultipathEvent, { type: 'path.gaveUp' }>>((resolve) =>
      s.device.events$.subscribe((e) => e.type === 'path.gaveUp' && resolve(e)),
    );
    await restart(0, true);
    const e = await gaveUp;
    expect(e.code).toBe('identity-changed');
    expect(e.detail).toMatch(new RegExp(`WWID ${before} -> [0-9a-f]+, serial \\S+ -> \\S+`));
    expect(lines.join('\n')).toMatch(
      /path 127\.0\.0\.1:\d+\/default gave up \(identity-changed\): identity-changed: LUN 1 behind .* changed identity: WWID/,
    );
    expect(s.device.status().groups[0].paths[0].detail).toContain('changed identity');
    expect(s.topology().join('\n')).toMatch(/reason: identity-changed: .*WWID/);
    const r = await run('nbdinfo', ['--json', uri], { okCodes: [0, 1] });
    // The export still answers (size from before); its I/O fails: no byte of the other LU is served.
    expect(r.code).toBe(0);
    const read = await run('nbdcopy', [uri, join(dir, 'other.img')], { okCodes: [0, 1] });
    expect(read.code).toBe(1);
    await telemetry.forceFlush();
    await s.close();
    serving = serving.filter((x) => x !== s);
    const root = exporter.getFinishedSpans().find((sp) => sp.name === 'mpath.failover')!;
    expect(root.status.code).toBe(2);
    const ev = root.events.find((x) => x.name === 'mpath.path.gave_up');
    expect(String(ev?.attributes?.detail)).toMatch(/changed identity: WWID/);
    expect(events.some((x) => x.type === 'nopath' && x.to === 'failing' && x.why === 'no-path-can-return')).toBe(true);
    await telemetry.shutdown();
    // Put our LU back for anything after.
    await restart(0);
  });
});
