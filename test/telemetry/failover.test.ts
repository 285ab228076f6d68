/**
 * Failover traces and metrics against a real tgtd: one LU behind two fault proxies, two CHAP (mutual, MD5)
 * sessions grouped into one multipath device, a read/write load, one path reset: exactly one `mpath.failover`
 * trace (detect -> requeue -> first completion on the other path -> session recovery with its logins -> path
 * restored), no CHAP secret anywhere in spans or log lines; then the metrics by name and unit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { diag, DiagLogLevel, type HrTime } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import { Tgtd } from '../support/tgtd.js';
import { ManualReader } from '../support/manual-reader.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { ManagedSession } from '../../src/session/managed-session.js';
import { PathManager } from '../../src/multipath/manager.js';
import type { MultipathDevice, MultipathEvent } from '../../src/multipath/device.js';
import { describeEvent } from '../../src/cli/serve.js';
import {
  instrumentPathManager,
  instrumentSession,
  startTelemetry,
  type Instrumentation,
  type Telemetry,
} from '../../src/telemetry/index.js';
import { read, write, TIMERS, BLOCK } from '../multipath/rig.js';

const IQN = 'iqn.2026-11.test:otel';
const USER = 'otel-initiator';
const SECRET = 'otel-chap-secret-4242';
const TARGET_USER = 'otel-target';
const TARGET_SECRET = 'otel-target-secret-9797';

let tgtd: Tgtd;
const proxies: FaultProxy[] = [];
const sessions: ManagedSession[] = [];
const names: string[] = [];
let manager: PathManager;
let device: MultipathDevice;
let telemetry: Telemetry;
const exporter = new InMemorySpanExporter();
const reader = new ManualReader();
const instrumented: Instrumentation[] = [];
/** Every log line the run produced: device events as `mpiscsi serve` prints them, session reasons, OTel diag. */
const lines: string[] = [];

beforeAll(async () => {
  diag.setLogger(
    {
      error: (m) => lines.push(m),
      warn: (m) => lines.push(m),
      info: (m) => lines.push(m),
      debug: (m) => lines.push(m),
      verbose: (m) => lines.push(m),
    },
    DiagLogLevel.ALL,
  );
  tgtd = await Tgtd.start();
  const tid = await tgtd.addTarget(IQN);
  await tgtd.addLun(tid, 1, { size: 8 * 1024 * 1024 });
  await tgtd.setTargetParam(tid, 'DefaultTime2Wait', '0');
  await tgtd.addAccount(tid, USER, SECRET);
  await tgtd.addAccount(tid, TARGET_USER, TARGET_SECRET, true);
  telemetry = startTelemetry({ env: {}, spanExporters: [exporter], metricReaders: [reader] });
  manager = new PathManager({
    config: { pathGroupingPolicy: 'multibus', noPathRetry: 'queue', pollingIntervalMs: 200 },
    onEvent: (e) => {
      const line = describeEvent(e);
      if (line) lines.push(line);
    },
  });
  instrumented.push(instrumentPathManager(manager, telemetry));
  for (let i = 0; i < 2; i++) {
    const proxy = await FaultProxy.start({ host: tgtd.host, port: tgtd.port });
    proxies.push(proxy);
    const session = new ManagedSession({
      host: proxy.host,
      port: proxy.port,
      targetName: IQN,
      initiatorName: 'iqn.2026-11.test:otel-initiator',
      sessionKey: `otel-path${i}`,
      auth: { method: 'CHAP', username: USER, password: SECRET, usernameIn: TARGET_USER, passwordIn: TARGET_SECRET, algorithms: ['MD5'] },
      timers: TIMERS,
      wishes: { defaultTime2Wait: 0 },
      luns: [1],
      commandTimeoutMs: 0,
      failFast: true,
    });
    sessions.push(session);
    instrumented.push(instrumentSession(session, telemetry, { iface: `iface${i}` }));
    session.events$.subscribe((st) =>
      lines.push(`${session.key}: ${st.state} (${st.reason.code}${st.reason.detail ? `: ${st.reason.detail}` : ''})`),
    );
  }
  await Promise.all(sessions.map((s) => s.login()));
  for (const [i, s] of sessions.entries()) {
    names.push(`${proxies[i].host}:${proxies[i].port}/p${i}`);
    device = await manager.addPath(s, { name: names[i], lun: 1 });
  }
});

afterAll(async () => {
  for (const i of instrumented) i.stop();
  manager?.close();
  for (const s of sessions) s.stop();
  for (const p of proxies) await p.stop();
  await tgtd?.stop();
  await telemetry?.shutdown();
  diag.disable();
});

/** Resolves with the first device event matching `pred` (subscribe before causing it). */
function next<T extends MultipathEvent['type']>(type: T, pred: (e: Extract<MultipathEvent, { type: T }>) => boolean, ms = 10_000) {
  return firstValueFrom(
    device.events$.pipe(
      filter((e): e is Extract<MultipathEvent, { type: T }> => e.type === type && pred(e as Extract<MultipathEvent, { type: T }>)),
      timeout(ms),
    ),
  );
}

/** `workers` loops of write + read-back in their own regions; `reached(n)` resolves after n completions. */
function load(workers: number) {
  let running = true;
  let ops = 0;
  const errors: Error[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const tick = () => {
    ops++;
    for (const w of [...waiters])
      if (ops >= w.n) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  };
  const region = 256 * 1024;
  const all = Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (running) {
        const len = (1 + Math.floor(Math.random() * 32)) * BLOCK;
        const off = w * region + Math.floor(Math.random() * ((region - len) / BLOCK)) * BLOCK;
        const data = Buffer.alloc(len, w + 1);
        try {
          await write(device, off, data);
          tick();
          const back = await read(device, off, len);
          if (!back.equals(data)) errors.push(new Error(`worker ${w}: read back differs at ${off}`));
          tick();
        } catch (err) {
          errors.push(err as Error);
          return;
        }
      }
    }),
  );
  return {
    get ops() {
      return ops;
    },
    reached: (n: number) => new Promise<void>((resolve) => (ops >= n ? resolve() : waiters.push({ n, resolve }))),
    async stop() {
      running = false;
      await all;
      return errors;
    },
  };
}

const ms = (t: HrTime): number => t[0] * 1e3 + t[1] / 1e6;
const parentOf = (s: ReadableSpan): string | undefined => s.parentSpanContext?.spanId;

describe('telemetry of a multipath failover over tgtd', () => {
  it('turns one path reset under load into exactly one failover trace: detect, requeue, first completion, recovery, restore', async () => {
    const [p0, p1] = names;
    const work = load(8);
    await work.reached(200);

    const failed = next('path.state', (e) => e.path === p0 && e.to === 'failed');
    const recovered = next('io.recovered', (e) => e.from === p0);
    const restored = next('path.state', (e) => e.path === p0 && e.from !== 'none' && e.to === 'active', 20_000);
    proxies[0].set({ kind: 'reset' });
    await failed;
    proxies[0].set({ kind: 'pass' });
    const first = await recovered;
    expect(first.path).toBe(p1);
    await restored;
    await work.reached(work.ops + 100); // I/O keeps flowing after the restore
    expect(await work.stop()).toEqual([]);
    await telemetry.forceFlush();

    const spans = exporter.getFinishedSpans();
    const roots = spans.filter((s) => s.name === 'mpath.failover');
    expect(roots).toHaveLength(1);
    const root = roots[0];
    const traceId = root.spanContext().traceId;
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const rootId = root.spanContext().spanId;
    expect(root.parentSpanContext).toBeUndefined();
    expect(root.attributes).toMatchObject({
      'mpath.device': device.name,
      'mpath.wwid': device.wwid,
      'mpath.path': p0,
      'mpath.failover.reason': 'reset',
      'error.type': 'reset',
      'mpath.failover.restored': true,
      'mpath.path.new': p1,
      'iscsi.session.id': 'otel-path0',
      'iscsi.target.name': IQN,
      'iscsi.iface': 'iface0',
      'server.address': proxies[0].host,
      'server.port': proxies[0].port,
      'mpath.failed.count': 0,
    });
    expect(root.attributes['mpath.requeued.count']).toBeGreaterThan(0);

    const detect = inTrace.find((s) => s.name === 'mpath.failover.detect')!;
    expect(parentOf(detect)).toBe(rootId);
    expect(detect.attributes['mpath.failover.reason']).toBe('reset');

    const requeue = inTrace.filter((s) => s.name === 'mpath.requeue');
    expect(requeue).toHaveLength(1);
    expect(parentOf(requeue[0])).toBe(rootId);
    expect(requeue[0].attributes['mpath.requeued.count']).toBeGreaterThan(0);
    expect(requeue[0].attributes['mpath.requeued.bytes']).toBeGreaterThan(0);
    const firstCompletion = requeue[0].events.find((e) => e.name === 'mpath.io.first_completion')!;
    expect(firstCompletion.attributes).toMatchObject({ 'mpath.path.new': p1 });
    expect(firstCompletion.attributes!['mpath.stall.duration_ms']).toBeGreaterThan(0);
    // detect -> requeue -> first completion, in that order; the root spans all of it.
    expect(ms(firstCompletion.time)).toBeGreaterThanOrEqual(ms(detect.endTime));
    expect(ms(requeue[0].startTime)).toBeGreaterThanOrEqual(ms(detect.startTime));
    expect(ms(requeue[0].endTime)).toBe(ms(firstCompletion.time));
    expect(ms(root.endTime)).toBeGreaterThanOrEqual(ms(requeue[0].endTime));

    // The failed path's session recovery and its relogin(s) belong to the same trace.
    const recovery = inTrace.find((s) => s.name === 'iscsi.session.recovery')!;
    expect(recovery).toBeDefined();
    expect(parentOf(recovery)).toBe(rootId);
    expect(recovery.attributes).toMatchObject({ 'iscsi.recovery.reason': 'reset', 'iscsi.session.id': 'otel-path0', 'iscsi.time2wait': 0 });
    expect(recovery.attributes['iscsi.recovery.attempts']).toBeGreaterThanOrEqual(1);
    const relogins = inTrace.filter((s) => s.name === 'iscsi.login');
    expect(relogins.length).toBe(recovery.attributes['iscsi.recovery.attempts']);
    for (const l of relogins) expect(parentOf(l)).toBe(recovery.spanContext().spanId);
    const ok = relogins.find((l) => l.status.code === 1)!; // SpanStatusCode.OK
    expect(ok.attributes).toMatchObject({
      'iscsi.login.phase': 'reopen',
      'iscsi.auth.method': 'CHAP',
      'iscsi.auth.chap_algorithm': 'MD5',
      'iscsi.target.name': IQN,
      'iscsi.connection.cid': 0,
      'iscsi.param.header_digest': false,
      'iscsi.param.default_time2_wait': 0,
      'network.peer.address': proxies[0].host,
      'network.peer.port': proxies[0].port,
    });
    expect(ok.attributes['iscsi.param.max_burst_length']).toBeGreaterThan(0);
    expect(ok.events.map((e) => e.name)).toEqual([
      'iscsi.login.connected',
      'iscsi.login.security_negotiation',
      'iscsi.login.operational_negotiation',
      'iscsi.login.full_feature',
    ]);
    expect(ms(root.endTime)).toBeGreaterThanOrEqual(ms(recovery.endTime));
    // Nothing else is in the trace, and every span in it hangs off the root.
    expect(new Set(inTrace.map((s) => s.name))).toEqual(
      new Set(['mpath.failover', 'mpath.failover.detect', 'mpath.requeue', 'iscsi.session.recovery', 'iscsi.login']),
    );

    // The trace as an SRE sees it (printed, not asserted: timings vary).
    const t0 = ms(root.startTime);
    const tree = (span: ReadableSpan, depth: number): string[] => [
      `${'  '.repeat(depth)}${span.name} +${(ms(span.startTime) - t0).toFixed(1)} ms, ${(ms(span.endTime) - ms(span.startTime)).toFixed(1)} ms` +
        (span.events.length ? ` [${span.events.map((e) => `${e.name} +${(ms(e.time) - t0).toFixed(1)}`).join(', ')}]` : ''),
      ...inTrace
        .filter((c) => parentOf(c) === span.spanContext().spanId)
        .sort((a, b) => ms(a.startTime) - ms(b.startTime))
        .flatMap((c) => tree(c, depth + 1)),
    ];
    console.log(tree(root, 0).join('\n'));

    // The two initial logins are their own traces.
    const initial = spans.filter((s) => s.name === 'iscsi.login' && s.attributes['iscsi.login.phase'] === 'initial');
    expect(initial).toHaveLength(2);
    for (const l of initial) expect(l.parentSpanContext).toBeUndefined();

    // No CHAP secret (nor the user names) in any span, event, status, link or resource, nor in any log line.
    const dump = JSON.stringify(
      spans.map((s) => ({ n: s.name, a: s.attributes, e: s.events, st: s.status, l: s.links, r: s.resource.attributes })),
    );
    expect(lines.length).toBeGreaterThan(0);
    for (const secret of [SECRET, TARGET_SECRET, USER, TARGET_USER]) {
      expect(dump).not.toContain(secret);
      for (const line of lines) expect(line).not.toContain(secret);
    }
  });

  it('exports the path, session, failover and connection metrics with their units', async () => {
    const { resourceMetrics, errors } = await reader.collect();
    expect(errors).toEqual([]);
    expect(resourceMetrics.resource.attributes['service.name']).toBe('mpiscsi');
    const metrics = new Map<string, MetricData>(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
    const unit = (name: string) => metrics.get(name)?.descriptor.unit;
    expect(Object.fromEntries([...metrics.keys()].sort().map((n) => [n, unit(n)]))).toEqual({
      'iscsi.connection.data': 'By',
      'iscsi.connection.errors': '{error}',
      'iscsi.connection.pdus': '{pdu}',
      'iscsi.login.duration': 's',
      'iscsi.session.state': '{session}',
      'mpath.failover.stall.duration': 's',
      'mpath.failovers': '{failover}',
      'mpath.held': '{operation}',
      'mpath.path.io': 'By',
      'mpath.path.operation.duration': 's',
      'mpath.path.operations': '{operation}',
      'mpath.path.outstanding': '{operation}',
      'mpath.path.reissued': '{operation}',
      'mpath.path.state': '{path}',
    });
    const points = (name: string) => metrics.get(name)!.dataPoints as Array<{ attributes: Record<string, unknown>; value: unknown }>;
    const sum = (name: string, attrs: Record<string, unknown>) =>
      points(name)
        .filter((p) => Object.entries(attrs).every(([k, v]) => p.attributes[k] === v))
        .reduce((n, p) => n + (typeof p.value === 'number' ? p.value : (p.value as { count: number }).count), 0);
    const [p0, p1] = names;
    for (const p of [p0, p1]) {
      expect(sum('mpath.path.operations', { 'mpath.path': p, 'mpath.device': device.name, 'mpath.wwid': device.wwid })).toBeGreaterThan(0);
      expect(sum('mpath.path.io', { 'mpath.path': p, 'disk.io.direction': 'read' })).toBeGreaterThan(0);
      expect(sum('mpath.path.io', { 'mpath.path': p, 'disk.io.direction': 'write' })).toBeGreaterThan(0);
      expect(sum('mpath.path.operation.duration', { 'mpath.path': p })).toBeGreaterThan(0);
      expect(sum('mpath.path.state', { 'mpath.path': p, 'mpath.path.state': 'active' })).toBe(1);
      expect(sum('mpath.path.state', { 'mpath.path': p, 'mpath.path.state': 'failed' })).toBe(0);
    }
    expect(metrics.get('mpath.path.operation.duration')!.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(sum('mpath.path.outstanding', {})).toBe(0); // the load has stopped
    expect(sum('mpath.path.reissued', { 'mpath.path': p0 })).toBeGreaterThan(0);
    expect(sum('mpath.failovers', { 'mpath.path': p0, 'mpath.failover.reason': 'reset' })).toBe(1);
    expect(sum('mpath.failover.stall.duration', { 'mpath.path': p0 })).toBe(1);
    for (const key of ['otel-path0', 'otel-path1']) {
      const s = { 'iscsi.session.id': key };
      expect(sum('iscsi.session.state', { ...s, 'iscsi.session.state': 'loggedIn' })).toBe(1);
      expect(sum('iscsi.session.state', { ...s, 'iscsi.session.state': 'recovering' })).toBe(0);
      expect(sum('iscsi.connection.data', { ...s, 'network.io.direction': 'transmit' })).toBeGreaterThan(0);
      expect(sum('iscsi.connection.data', { ...s, 'network.io.direction': 'receive' })).toBeGreaterThan(0);
      expect(sum('iscsi.connection.pdus', { ...s, 'iscsi.pdu.type': 'scsicmd', 'network.io.direction': 'transmit' })).toBeGreaterThan(0);
      expect(sum('iscsi.connection.pdus', { ...s, 'iscsi.pdu.type': 'datain', 'network.io.direction': 'receive' })).toBeGreaterThan(0);
      expect(sum('iscsi.connection.errors', { ...s, 'error.type': 'digest' })).toBe(0);
    }
    // Counters summed over the path's connections: path 0 relogged in, its counters did not start over.
    const cmds0 = sum('iscsi.connection.pdus', { 'iscsi.session.id': 'otel-path0', 'iscsi.pdu.type': 'scsicmd' });
    expect(cmds0).toBeGreaterThanOrEqual(sessions[0].session!.stats.scsicmd_pdus);
    expect(cmds0).toBeGreaterThan(sessions[0].session!.stats.scsicmd_pdus);
    expect(sum('iscsi.login.duration', { 'iscsi.login.phase': 'initial' })).toBe(2);
    expect(sum('iscsi.login.duration', { 'iscsi.login.phase': 'reopen' })).toBeGreaterThanOrEqual(1);
  });
});
