/**
 * startTelemetry's OTEL_* handling (off without an endpoint, exporters=none, SDK disabled, service name and
 * resource attributes, per-signal URLs), that instrumentation costs nothing when telemetry is off, and the
 * attribute names of negotiated parameters and failover reasons.
 */
import { describe, expect, it } from 'vitest';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import type { ManagedSession } from '../../src/session/managed-session.js';
import type { PathManager } from '../../src/multipath/manager.js';
import { DEFAULT_WISHES } from '../../src/iscsi/negotiation.js';
import { freePort } from '../support/ports.js';
import {
  failoverReason,
  instrumentPathManager,
  instrumentSession,
  negotiatedAttributes,
  otlpUrl,
  parseResourceAttributes,
  startTelemetry,
} from '../../src/telemetry/index.js';

/** An object that fails the test if anything touches it. */
const untouchable = <T>(): T =>
  new Proxy(
    {},
    {
      get: (_, key) => {
        throw new Error(`touched ${String(key)}`);
      },
    },
  ) as T;

describe('startTelemetry', () => {
  it('with prometheus: metrics on, /metrics served at the URL it resolves, the server closed by shutdown', async () => {
    const port = await freePort();
    const t = startTelemetry({ env: {}, serviceName: 'prom-test', prometheus: { host: '127.0.0.1', port } });
    expect(t.metrics).toBe(true);
    expect(t.tracing).toBe(false);
    const url = await t.prometheusUrl;
    expect(url).toBe(`http://127.0.0.1:${port}/metrics`);
    t.meter.createCounter('test.things', { unit: '{thing}', description: 'things' }).add(3, { 'thing.kind': 'a' });
    const text = await (await fetch(url!)).text();
    expect(text).toMatch(/^test_things_total\{thing_kind="a",otel_scope_name="mpiscsi"\} 3$/m);
    expect(text).toMatch(/^target_info\{service_name="prom-test",/m);
    await t.shutdown();
    await expect(fetch(url!)).rejects.toThrow();
  });

  it('with prometheus on a port in use: prometheusUrl rejects naming the address', async () => {
    const port = await freePort();
    const first = startTelemetry({ env: {}, prometheus: { host: '127.0.0.1', port } });
    await first.prometheusUrl;
    const second = startTelemetry({ env: {}, prometheus: { host: '127.0.0.1', port } });
    await expect(second.prometheusUrl).rejects.toThrow(`cannot serve metrics on http://127.0.0.1:${port}/metrics: address already in use`);
    await Promise.all([first.shutdown(), second.shutdown()]);
  });

  it('is off without an OTLP endpoint: no-op tracer and meter, instrumentation touches nothing', async () => {
    const t = startTelemetry({ env: {} });
    expect(t.tracing).toBe(false);
    expect(t.metrics).toBe(false);
    const span = t.tracer.startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
    instrumentSession(untouchable<ManagedSession>(), t).stop();
    instrumentPathManager(untouchable<PathManager>(), t).stop();
    await t.shutdown();
  });

  it('turns each signal on with its endpoint, off with exporter none or OTEL_SDK_DISABLED', async () => {
    const endpoint = 'http://127.0.0.1:4318';
    let t = startTelemetry({ env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces` } });
    expect([t.tracing, t.metrics]).toEqual([true, false]);
    await t.shutdown(); // no span was recorded: nothing is sent
    t = startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none' } });
    expect([t.tracing, t.metrics]).toEqual([false, false]);
    t = startTelemetry({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SDK_DISABLED: 'true' } });
    expect([t.tracing, t.metrics]).toEqual([false, false]);
  });

  it('builds per-signal OTLP URLs as the OTel spec says', () => {
    expect(otlpUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' }, 'traces')).toBe('http://127.0.0.1:4318/v1/traces');
    expect(otlpUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, 'metrics')).toBe('http://127.0.0.1:4318/v1/metrics');
    expect(
      otlpUrl(
        { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://127.0.0.1:9/m' },
        'metrics',
      ),
    ).toBe('http://127.0.0.1:9/m');
    expect(otlpUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: ' ' }, 'traces')).toBeUndefined();
  });

  it('names the service mpiscsi unless OTEL_SERVICE_NAME says otherwise, with OTEL_RESOURCE_ATTRIBUTES', async () => {
    const exporter = new InMemorySpanExporter();
    let t = startTelemetry({ env: {}, spanExporters: [exporter] });
    t.tracer.startSpan('a').end();
    t = startTelemetry({
      env: { OTEL_SERVICE_NAME: 'storage-node-7', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=lab,host.name=n%2C7' },
      spanExporters: [exporter],
    });
    t.tracer.startSpan('b').end();
    const [a, b] = exporter.getFinishedSpans();
    expect(a.resource.attributes['service.name']).toBe('mpiscsi');
    expect(b.resource.attributes).toMatchObject({
      'service.name': 'storage-node-7',
      'deployment.environment.name': 'lab',
      'host.name': 'n,7',
    });
    expect(parseResourceAttributes('a=1,bad,=x,b=%E2%82%AC')).toEqual({ a: '1', b: '€' });
  });
});

describe('attribute names', () => {
  it('maps negotiated parameters to iscsi.param.* in snake case', () => {
    const attrs = negotiatedAttributes({
      headerDigest: false,
      dataDigest: true,
      maxRecvDataSegmentLength: DEFAULT_WISHES.maxRecvDataSegmentLength,
      maxXmitDataSegmentLength: 8192,
      maxBurstLength: 262144,
      firstBurstLength: 65536,
      initialR2T: true,
      immediateData: true,
      maxOutstandingR2T: 1,
      maxConnections: 1,
      defaultTime2Wait: 2,
      defaultTime2Retain: 20,
      errorRecoveryLevel: 0,
      dataPDUInOrder: true,
      dataSequenceInOrder: true,
    });
    expect(Object.keys(attrs).sort()).toEqual(
      [
        'data_digest',
        'data_pdu_in_order',
        'data_sequence_in_order',
        'default_time2_retain',
        'default_time2_wait',
        'error_recovery_level',
        'first_burst_length',
        'header_digest',
        'immediate_data',
        'initial_r2t',
        'max_burst_length',
        'max_connections',
        'max_outstanding_r2t',
        'max_recv_data_segment_length',
        'max_xmit_data_segment_length',
      ].map((k) => `iscsi.param.${k}`),
    );
  });

  it('names failover reasons from the path state change', () => {
    expect(failoverReason('session-down', 'reset')).toBe('reset');
    expect(failoverReason('session-down', 'nop-timeout')).toBe('nop-timeout');
    expect(failoverReason('io-error', 'aborted by abortTask after a command timeout')).toBe('command-timeout');
    expect(failoverReason('io-error', 'target failure (iSCSI response 0x1)')).toBe('io-error');
    expect(failoverReason('checker-failed', 'TEST UNIT READY timed out')).toBe('checker');
    expect(failoverReason('operator-failed', undefined)).toBe('operator');
  });
});
