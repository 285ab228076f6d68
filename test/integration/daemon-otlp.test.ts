/**
 * Issue 14, OTLP export live: the built mpiscsid exporting by the standard OTEL_* variables (no --trace-file)
 * to a receiver that decodes OTLP/HTTP protobuf with the official opentelemetry-proto messages
 * (test/support/otlp-receiver.ts), one tgtd LU through two fault proxies (test/support/two-path-rig.ts).
 * Failover spans and metrics arrive with their names and attributes; then two collector outages, each with a
 * failover in it, checked against what the exporter promises and no more.
 *
 * What the retry promises (read from @opentelemetry/otlp-exporter-base 0.223 retrying-transport.js,
 * http-transport-utils.js, is-export-retryable.js; sdk-trace 2.12 BatchSpanProcessorBase.js; sdk-metrics 2.12
 * PeriodicExportingMetricReader.js):
 * - Retried: HTTP 429, 502, 503, 504; network errors ECONNRESET, ECONNREFUSED, EPIPE, ETIMEDOUT, EAI_AGAIN,
 *   ENOTFOUND, ENETUNREACH, EHOSTUNREACH; a request that timed out. Any other status (400, 500, ...) or error
 *   fails the export at once.
 * - The same request bytes are sent again up to 5 more times (6 attempts), after Retry-After when the answer
 *   has one (seconds or an HTTP date), else after 1 s, 1.5 s, 2.25 s, 3.375 s, 5 s (x1.5, at most 5 s, +-20 %
 *   jitter); a retry is only made if it starts before the export's deadline, OTEL_EXPORTER_OTLP_[SIGNAL_]TIMEOUT
 *   (default 10 s) from the first attempt. Nothing is kept on disk or across a restart of mpiscsid.
 * - Spans: the BatchSpanProcessor exports one batch at a time (OTEL_BSP_SCHEDULE_DELAY after the first span
 *   ends, at most OTEL_BSP_MAX_EXPORT_BATCH_SIZE 512); spans that end while a batch is retried wait in its
 *   queue (OTEL_BSP_MAX_QUEUE_SIZE 2048, more are dropped). A batch whose retries run out is dropped; it is
 *   never sent again. So a collector that is back before a batch's retries end loses nothing of it.
 * - Metrics: every OTEL_METRIC_EXPORT_INTERVAL a collection is exported; a failed one is dropped, but sums
 *   and histograms are cumulative (the exporter's default temporality), so the next export that gets through
 *   carries the counts of the outage: only the intermediate points are missing.
 * Here OTEL_EXPORTER_OTLP_TIMEOUT is 5 s (the test's length), OTEL_BSP_SCHEDULE_DELAY 100 ms and
 * OTEL_METRIC_EXPORT_INTERVAL 500 ms; waits are on received requests and log lines, never on time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtlpReceiver, type OtlpRequest, type ReceivedSpan } from '../support/otlp-receiver.js';
import { startTwoPathRig, type TwoPathRig } from '../support/two-path-rig.js';

const IQN = 'iqn.2026-12.test:daemon-otlp';
const HOST = 'otlphost';

let receiver: OtlpReceiver;
let rig: TwoPathRig;
let tracesUrl: string;

/** The OTel names of the metrics the Prometheus test finds as families (`.` for `_`, no `_total`). */
const METRICS = [
  'mpath.path.operations',
  'mpath.path.io',
  'mpath.path.reissued',
  'mpath.path.outstanding',
  'mpath.path.state',
  'mpath.held',
  'iscsi.session.state',
  'iscsi.connection.data',
  'iscsi.connection.pdus',
  'iscsi.connection.errors',
  'iscsi.login.duration',
];

const accepted = (signal: OtlpRequest['signal']) => (r: OtlpRequest) => r.accepted && r.signal === signal;

/** The first accepted span so far or later that matches. */
async function span(pred: (s: ReceivedSpan) => boolean): Promise<ReceivedSpan> {
  const r = await receiver.waitFor((r) => accepted('traces')(r) && r.spans.some(pred));
  return r.spans.find(pred)!;
}

const failoverOf = (path: string) => (s: ReceivedSpan) => s.name === 'mpath.failover' && s.attributes['mpath.path'] === path;

/** mpath.failovers summed over its points in one metrics request (cumulative: the total since start). */
function failovers(r: OtlpRequest): number {
  return r.metrics.filter((m) => m.name === 'mpath.failovers').reduce((n, m) => n + m.points.reduce((k, p) => k + p.value, 0), 0);
}

/** Daemon log lines from index `from` on that match. */
const linesSince = (from: number, re: RegExp): string[] => rig.daemon.lines.slice(from).filter((l) => re.test(l));

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  tracesUrl = `${receiver.endpoint}/v1/traces`;
  rig = await startTwoPathRig({
    iqn: IQN,
    hostId: HOST,
    daemon: {
      traceFile: false,
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_TIMEOUT: '5000',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_METRIC_EXPORT_INTERVAL: '500',
      },
    },
  });
});

afterAll(async () => {
  await rig?.stop();
  await receiver?.stop();
});

describe('mpiscsid exporting OTLP/HTTP protobuf to a live receiver', () => {
  it('metrics arrive by their OTel names, cumulative, with the resource', async () => {
    const activePoints = (r: OtlpRequest) =>
      r.metrics
        .filter((m) => m.name === 'mpath.path.state')
        .flatMap((m) => m.points)
        .filter((p) => p.attributes['mpath.path.state'] === 'active' && p.value === 1);
    // Exports began with the daemon: the first with every metric and both paths active (the logins done).
    const r = await receiver.waitFor(
      (r) => accepted('metrics')(r) && METRICS.every((n) => r.metrics.some((m) => m.name === n)) && activePoints(r).length === 2,
    );
    expect(r.resource).toMatchObject({ 'service.name': 'mpiscsid', 'host.id': HOST });
    const byName = new Map(r.metrics.map((m) => [m.name, m]));
    expect(byName.get('iscsi.login.duration')).toMatchObject({ kind: 'histogram', unit: 's', temporality: 2 });
    expect(byName.get('mpath.path.io')).toMatchObject({ kind: 'sum', unit: 'By', temporality: 2 });
    const active = activePoints(r);
    expect(new Set(active.map((p) => p.attributes['mpath.path'])).size).toBe(2);
    for (const p of active) expect(p.attributes).toMatchObject({ 'mpath.device': 'mpatha', 'mpath.path': expect.any(String) });
  });

  it('a failover: its spans (root and detection, one trace) with their attributes, and mpath.failovers moved', async () => {
    const { path } = (await rig.failPath(0)).event;
    await rig.restorePath(0, path);
    const root = await span(failoverOf(path));
    expect(root.attributes).toMatchObject({
      'mpath.device': 'mpatha',
      'mpath.path': path,
      'mpath.wwid': expect.any(String),
      'mpath.failover.reason': expect.stringMatching(/^[a-z-]+$/),
      'mpath.failover.restored': true,
      'mpath.failed.count': 0,
    });
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(root.endNs).toBeGreaterThan(root.startNs);
    const detect = await span((s) => s.name === 'mpath.failover.detect' && s.traceId === root.traceId);
    expect(detect.parentSpanId).toBe(root.spanId);
    expect(detect.attributes['mpath.path']).toBe(path);
    const m = await receiver.waitFor((r) => accepted('metrics')(r) && failovers(r) === 1);
    const point = m.metrics.find((x) => x.name === 'mpath.failovers')!;
    expect(point).toMatchObject({ kind: 'sum', temporality: 2, unit: '{failover}' });
    expect(point.points[0].attributes).toMatchObject({
      'mpath.path': path,
      'mpath.failover.reason': root.attributes['mpath.failover.reason'],
    });
    expect(receiver.errors).toEqual([]);
  });
});

describe('a collector restart', () => {
  it('503 with Retry-After while a failover starts, then back: every refused request arrives on a retry, and nothing is logged', async () => {
    const from = rig.daemon.lines.length;
    const taken = receiver.requests.length;
    receiver.set({ kind: 'refuse', status: 503, retryAfterSeconds: 1 });
    const { path } = (await rig.failPath(1)).event;
    // The first refused span batch of the window, then its first retry: the same bytes, one Retry-After later.
    const first = await receiver.waitFor((r) => r.signal === 'traces' && !r.accepted);
    await receiver.waitFor((r) => r !== first && r.digest === first.digest);
    receiver.set({ kind: 'accept' });
    const refused = receiver.requests.slice(taken).filter((r) => !r.accepted);
    expect(first.spans.length).toBeGreaterThan(0);
    // Each refused export still has retries before its deadline (5 retries 1 s apart within 5 s): each arrives.
    for (const r of refused) await receiver.waitFor((a) => a.accepted && a.digest === r.digest);
    // The failover that began in the window: its detection span and, once the path is back, its root.
    const detect = await span((s) => s.name === 'mpath.failover.detect' && s.attributes['mpath.path'] === path);
    await rig.restorePath(1, path);
    expect((await span(failoverOf(path))).traceId).toBe(detect.traceId);
    // Counters are cumulative: the next export carries both failovers.
    await receiver.waitFor((r) => accepted('metrics')(r) && failovers(r) === 2);
    // The retries hid the outage: no export failed, so none was said.
    expect(linesSince(from, /OTLP (traces|metrics) to .* export (failing|recovered)/)).toEqual([]);
  });

  it('503 past the retry deadline while a failover starts, then a restart on the same port: that batch alone is dropped, said once', async () => {
    const from = rig.daemon.lines.length;
    const taken = receiver.requests.length;
    const tracesFailing = rig.daemon.waitFor(/OTLP traces to \S+ export failing/);
    const metricsFailing = rig.daemon.waitFor(/OTLP metrics to \S+ export failing/);
    const tracesBack = rig.daemon.waitFor(/OTLP traces to \S+ export recovered/);
    const metricsBack = rig.daemon.waitFor(/OTLP metrics to \S+ export recovered/);
    receiver.set({ kind: 'refuse', status: 503, retryAfterSeconds: 1 });
    const { path } = (await rig.failPath(0)).event;
    const dropped = await receiver.waitFor((r) => receiver.requests.indexOf(r) >= taken && r.signal === 'traces' && !r.accepted);
    // Refused until its retries run out (the next Retry-After would start past the 5 s deadline).
    expect(await tracesFailing).toMatch(new RegExp(`OTLP traces to ${tracesUrl.replaceAll('.', '\\.')} export failing: `));
    const attempts = receiver.requests.filter((r) => r.digest === dropped.digest).length;
    expect(attempts).toBeGreaterThanOrEqual(2);
    expect(attempts).toBeLessThanOrEqual(6);
    await metricsFailing;
    // The collector restarts: its port closes (connections with it) and listens again; it accepts.
    await receiver.stop();
    receiver.set({ kind: 'accept' });
    await receiver.restart();
    await rig.restorePath(0, path);
    const root = await span(failoverOf(path));
    expect(root.attributes['mpath.failover.restored']).toBe(true);
    await Promise.all([tracesBack, metricsBack]);
    // The batch that ran out of retries is never sent again, and none of its spans arrive; every other
    // refused span batch (queued behind it, still within its deadline) does.
    const after = receiver.requests.slice(taken);
    expect(after.some((r) => r.accepted && r.digest === dropped.digest)).toBe(false);
    const droppedIds = new Set(dropped.spans.map((s) => s.spanId));
    expect(after.some((r) => r.accepted && r.spans.some((s) => droppedIds.has(s.spanId)))).toBe(false);
    for (const r of after.filter((r) => r.signal === 'traces' && !r.accepted && r.digest !== dropped.digest))
      await receiver.waitFor((a) => a.accepted && a.digest === r.digest);
    // Cumulative counters lose nothing: the third failover is counted.
    await receiver.waitFor((r) => accepted('metrics')(r) && failovers(r) === 3);
    // Said once per signal: one failing line, then one recovered line.
    for (const signal of ['traces', 'metrics'])
      expect(
        linesSince(from, new RegExp(`OTLP ${signal} to .* export (failing|recovered)`)).map((l) => /failing|recovered/.exec(l)![0]),
      ).toEqual(['failing', 'recovered']);
    expect(receiver.errors).toEqual([]);
  });
});
