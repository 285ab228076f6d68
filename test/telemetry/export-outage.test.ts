/**
 * OTLP export problems are said, not swallowed (issue 17): an unsupported OTEL_EXPORTER_OTLP_PROTOCOL is
 * refused at start (startTelemetry and the built mpiscsid, exit 7), and a collector that is down is logged
 * once per outage, its recovery once, against a real loopback port that refuses and then answers; exports
 * that overlap and finish out of order (the metric reader's) do not make one outage two.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { startTelemetry } from '../../src/telemetry/setup.js';
import { reportingMetricExporter } from '../../src/telemetry/export-outage.js';
import { freePort } from '../support/ports.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('OTEL_EXPORTER_OTLP_PROTOCOL', () => {
  it('refuses grpc and http/json with the variable named; http/protobuf and unset are fine', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    expect(() => startTelemetry({ env: { ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } })).toThrow(
      'OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported: only http/protobuf is',
    );
    expect(() =>
      startTelemetry({
        env: { ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' },
      }),
    ).toThrow('OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/json is not supported');
    for (const env of [endpoint, { ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }]) {
      const t = startTelemetry({ env });
      expect(t.tracing && t.metrics).toBe(true);
      void t.shutdown();
    }
  });

  it('stops mpiscsid at start with exit code 7', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mpiscsid-otlp-'));
    try {
      const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          [join(root, 'dist/src/daemon/mpiscsid.js'), '--nats', 'none', '--db', join(dir, 'db'), '--state-dir', join(dir, 'run')],
          { env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } },
          (err, _o, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stderr }),
        ),
      );
      expect(r.code).toBe(7);
      expect(r.stderr).toContain('error: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an OTLP collector that is down', () => {
  it('is logged once per outage, and its recovery once', async () => {
    const port = await freePort('127.0.0.1');
    const problems: string[] = [];
    const t = startTelemetry({
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`, OTEL_METRICS_EXPORTER: 'none' },
      onExportProblem: (l) => problems.push(l),
    });
    try {
      for (let i = 0; i < 2; i++) {
        t.tracer.startSpan(`while down ${i}`).end();
        // The flush may reject with the exporter's error; the log line is what is under test.
        await t.forceFlush().catch(() => {});
      }
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(new RegExp(`^OTLP traces to http://127\\.0\\.0\\.1:${port}/v1/traces export failing: .*logged once`));
      // The collector comes up: an empty ExportTraceServiceResponse (200, no body) is success.
      const received: number[] = [];
      const server = createServer((req, res) => {
        req.on('data', (c: Buffer) => received.push(c.length));
        req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
      });
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      try {
        t.tracer.startSpan('after').end();
        await t.forceFlush();
        t.tracer.startSpan('after again').end();
        await t.forceFlush();
      } finally {
        await new Promise((r) => server.close(r));
      }
      expect(received.length).toBeGreaterThan(0);
      expect(problems).toEqual([problems[0], `OTLP traces to http://127.0.0.1:${port}/v1/traces export recovered`]);
    } finally {
      await t.shutdown().catch(() => {});
    }
  });
});

describe('overlapping exports finishing out of order', () => {
  it('a failure of an export that began before the last success is not a new outage; a later one is', () => {
    const pending: Array<(r: ExportResult) => void> = [];
    const inner: PushMetricExporter = {
      export: (_m, cb) => void pending.push(cb),
      forceFlush: async () => {},
      shutdown: async () => {},
    };
    const lines: string[] = [];
    const e = reportingMetricExporter(inner, 'OTLP metrics to X', (l) => lines.push(l));
    const results: ExportResult[] = [];
    const start = () => e.export({} as ResourceMetrics, (r) => results.push(r));
    const failed: ExportResult = { code: ExportResultCode.FAILED, error: new Error('connect ECONNREFUSED') };
    for (let i = 0; i < 4; i++) start(); // exports 0..3 in flight at once
    pending[0](failed);
    pending[2]({ code: ExportResultCode.SUCCESS });
    pending[1](failed); // began before export 2, which got through: the same outage's tail
    pending[3](failed); // began after it: a new outage
    expect(lines).toEqual([
      "OTLP metrics to X export failing: connect ECONNREFUSED (what fails after the exporter's retries is dropped; logged once until it recovers)",
      'OTLP metrics to X export recovered',
      expect.stringMatching(/^OTLP metrics to X export failing: connect ECONNREFUSED/),
    ]);
    // Every result still reaches the SDK as it was.
    expect(results.map((r) => r.code)).toEqual([
      ExportResultCode.FAILED,
      ExportResultCode.SUCCESS,
      ExportResultCode.FAILED,
      ExportResultCode.FAILED,
    ]);
  });
});
