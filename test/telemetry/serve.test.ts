/**
 * `mpiscsi serve` with telemetry: two CHAP paths (credentials in the URLs) to a tgtd LU; the logins are
 * traced, the device and sessions are measured, close() flushes, and neither the spans nor serve's output
 * lines carry the secret. With no OTEL_* endpoint, serve's own telemetry stays off; with one, it exports with
 * service.version package.json's, as mpiscsid does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Tgtd } from '../support/tgtd.js';
import { ManualReader } from '../support/manual-reader.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { startServe } from '../../src/cli/serve.js';
import { startTelemetry } from '../../src/telemetry/index.js';

const IQN = 'iqn.2026-11.test:otel-serve';
const USER = 'serve-user';
const SECRET = 'serve-chap-secret-31337';

let tgtd: Tgtd;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-otel-serve-'));
  tgtd = await Tgtd.start({ hosts: ['127.0.0.1', '127.0.0.2'] });
  const tid = await tgtd.addTarget(IQN);
  await tgtd.addLun(tid, 1, { size: 4 * 1024 * 1024 });
  await tgtd.addAccount(tid, USER, SECRET);
});

afterAll(async () => {
  await tgtd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mpiscsi serve with telemetry', () => {
  it('traces the path logins, measures the device and sessions, flushes on close, and leaks no secret', async () => {
    const exporter = new InMemorySpanExporter();
    const reader = new ManualReader();
    const telemetry = startTelemetry({ env: {}, spanExporters: [exporter], metricReaders: [reader] });
    const lines: string[] = [];
    const served = await startServe({
      urls: tgtd.hosts.map((h) => `iscsi://${USER}%${SECRET}@${h}:${tgtd.port}/${IQN}/1`),
      socket: join(dir, 'otel.sock'),
      set: [],
      initiatorName: 'iqn.2026-11.test:otel-serve',
      chapAlgs: 'MD5',
      out: (l) => lines.push(l),
      telemetry,
    });
    try {
      const logins = exporter.getFinishedSpans().filter((s) => s.name === 'iscsi.login');
      expect(logins.map((s) => s.attributes['server.address']).sort()).toEqual(['127.0.0.1', '127.0.0.2']);
      for (const l of logins)
        expect(l.attributes).toMatchObject({ 'iscsi.auth.method': 'CHAP', 'iscsi.iface': 'default', 'iscsi.target.name': IQN });
      const { resourceMetrics } = await reader.collect();
      const names = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => m.descriptor.name);
      expect(names).toEqual(
        expect.arrayContaining(['mpath.path.operations', 'mpath.path.operation.duration', 'iscsi.session.state', 'iscsi.connection.pdus']),
      );
    } finally {
      await served.close();
    }
    const dump = JSON.stringify(exporter.getFinishedSpans().map((s) => ({ n: s.name, a: s.attributes, e: s.events, st: s.status })));
    expect(lines.length).toBeGreaterThan(0);
    for (const text of [dump, ...lines]) expect(text).not.toContain(SECRET);
    await telemetry.shutdown();
  });

  it('serves with its own telemetry off when no OTEL_* endpoint is set', async () => {
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
    try {
      const served = await startServe({
        urls: [`iscsi://${USER}%${SECRET}@127.0.0.1:${tgtd.port}/${IQN}/1`],
        socket: join(dir, 'off.sock'),
        set: [],
        chapAlgs: 'MD5',
        out: () => {},
      });
      await served.close();
    } finally {
      Object.assign(process.env, saved);
    }
  });

  it('with an OTEL_* endpoint, its own telemetry exports with service.version from package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    const receiver = await OtlpReceiver.start();
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.endpoint;
    try {
      const served = await startServe({
        urls: [`iscsi://${USER}%${SECRET}@127.0.0.1:${tgtd.port}/${IQN}/1`],
        socket: join(dir, 'otlp.sock'),
        set: [],
        chapAlgs: 'MD5',
        out: () => {},
      });
      await served.close(); // shuts serve's telemetry down: the login span is exported
      const traces = await receiver.waitFor((r) => r.signal === 'traces' && r.accepted);
      expect(traces.resource).toMatchObject({ 'service.name': 'mpiscsi', 'service.version': version });
    } finally {
      for (const k of Object.keys(process.env)) if (k.startsWith('OTEL_')) delete process.env[k];
      Object.assign(process.env, saved);
      await receiver.stop();
    }
  });
});
