/**
 * The OTLP test receiver (test/support/otlp-receiver.ts) against startTelemetry's real OTLP exporters: every
 * attribute type, span ids, events and status survive the 0.223 exporters' hand-written protobuf writer as
 * the official opentelemetry-proto messages decode them (gzip too); what is not OTLP/HTTP protobuf is
 * refused with a status and a line; a refusal carries Retry-After.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpanStatusCode, context, trace } from '@opentelemetry/api';
import { startTelemetry } from '../../src/telemetry/setup.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';

let receiver: OtlpReceiver;

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
});
afterAll(async () => {
  await receiver.stop();
});

describe('OtlpReceiver', () => {
  for (const compression of ['none', 'gzip'])
    it(`decodes spans and metrics from the OTLP exporters (compression ${compression})`, async () => {
      const t = startTelemetry({
        env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_EXPORTER_OTLP_COMPRESSION: compression },
        serviceName: 'receiver-test',
      });
      const span = t.tracer.startSpan(`probe ${compression}`, {
        attributes: { s: 'text', i: 42, d: 1.5, b: true, list: ['a', 'b'], nums: [1, 2] },
      });
      span.addEvent('happened', { why: 'test' });
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'bad' });
      const child = t.tracer.startSpan('child', {}, trace.setSpan(context.active(), span));
      child.end();
      span.end();
      t.meter.createCounter(`probe.count.${compression}`, { unit: '{probe}' }).add(3, { k: 'v' });
      await t.forceFlush();
      await t.shutdown();
      const spans = receiver.acceptedSpans();
      const got = spans.find((s) => s.name === `probe ${compression}`)!;
      expect(got.attributes).toEqual({ s: 'text', i: 42, d: 1.5, b: true, list: ['a', 'b'], nums: [1, 2] });
      expect(got.events).toEqual([{ name: 'happened', attributes: { why: 'test' } }]);
      expect(got.statusCode).toBe(2);
      expect(got.traceId).toBe(span.spanContext().traceId);
      expect(got.spanId).toBe(span.spanContext().spanId);
      const kid = spans.find((s) => s.name === 'child' && s.traceId === got.traceId)!;
      expect(kid.parentSpanId).toBe(got.spanId);
      const m = await receiver.waitFor((r) => r.accepted && r.metrics.some((x) => x.name === `probe.count.${compression}`));
      expect(m.resource['service.name']).toBe('receiver-test');
      expect(m.metrics.find((x) => x.name === `probe.count.${compression}`)).toMatchObject({
        kind: 'sum',
        unit: '{probe}',
        temporality: 2,
        points: [{ attributes: { k: 'v' }, value: 3 }],
      });
    });

  it('refuses what is not OTLP/HTTP protobuf with a status and says why', async () => {
    const post = (path: string, type: string, body: Uint8Array) =>
      fetch(`${receiver.endpoint}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
    const before = receiver.requests.length;
    expect((await post('/v1/logs', 'application/x-protobuf', new Uint8Array())).status).toBe(404);
    expect((await post('/v1/traces', 'application/json', new TextEncoder().encode('{}'))).status).toBe(415);
    expect((await post('/v1/traces', 'application/x-protobuf', Uint8Array.of(0x0a, 0xff, 0xff))).status).toBe(400);
    expect((await fetch(`${receiver.endpoint}/v1/metrics`)).status).toBe(405);
    expect(receiver.requests.length).toBe(before);
    expect(receiver.errors).toEqual([
      expect.stringMatching(/^POST \/v1\/logs: not an OTLP\/HTTP path/),
      expect.stringMatching(/^POST \/v1\/traces: content-type application\/json/),
      expect.stringMatching(/^POST \/v1\/traces: undecodable traces request/),
      expect.stringMatching(/^GET \/v1\/metrics: OTLP\/HTTP takes POST/),
    ]);
    receiver.errors.length = 0;
  });

  it('refusing: the status and Retry-After, the request still recorded (not accepted)', async () => {
    receiver.set({ kind: 'refuse', status: 503, retryAfterSeconds: 2 });
    try {
      const r = await fetch(`${receiver.endpoint}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: new Uint8Array(),
      });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('2');
      expect(receiver.requests.at(-1)).toMatchObject({ signal: 'traces', status: 503, accepted: false, spans: [] });
    } finally {
      receiver.set({ kind: 'accept' });
    }
  });
});
