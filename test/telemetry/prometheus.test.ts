/**
 * OTel -> Prometheus names and units (src/telemetry/prometheus.ts), by the OpenTelemetry specification's
 * "Prometheus and OpenMetrics Compatibility" rules as the Collector's prometheus exporter applies them; and, on a
 * real MeterProvider with the Prometheus endpoint and a second (OTLP-like) reader, that only the scrape is renamed.
 */
import { describe, expect, it } from 'vitest';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { ConventionalPrometheusExporter, familyUnitLines, prometheusName, prometheusUnit } from '../../src/telemetry/prometheus.js';
import { freePort } from '../support/ports.js';

describe('prometheusName / prometheusUnit', () => {
  it.each([
    ['mpath.path.io', 'By', 'counter', 'mpath_path_io_bytes_total'],
    ['mpath.path.operations', '{operation}', 'counter', 'mpath_path_operations_total'],
    ['mpath.path.outstanding', '{operation}', 'gauge', 'mpath_path_outstanding'],
    ['mpath.failover.stall', 's', 'histogram', 'mpath_failover_stall_seconds'],
    ['iscsi.login.duration', 's', 'histogram', 'iscsi_login_duration_seconds'],
    ['http.server.request.duration_seconds', 's', 'histogram', 'http_server_request_duration_seconds'],
    ['requests_total', '{request}', 'counter', 'requests_total'],
    ['sent_total', 'By', 'counter', 'sent_bytes_total'],
    ['system.memory.utilization', '1', 'gauge', 'system_memory_utilization_ratio'],
    ['events', '1', 'counter', 'events_total'],
    ['speed', 'm/s', 'gauge', 'speed_meters_per_second'],
    ['packets.rate', '{packet}/s', 'gauge', 'packets_rate_per_second'],
    ['throughput', 'By/s', 'gauge', 'throughput_bytes_per_second'],
    ['temperature', 'Cel', 'gauge', 'temperature_celsius'],
    ['queue-depth', 'widgets', 'gauge', 'queue_depth_widgets'],
    ['9lives', '', 'gauge', '_9lives'],
  ] as const)('%s [%s] as a %s -> %s', (name, unit, kind, want) => {
    expect(prometheusName(name, unit, kind)).toBe(want);
  });

  it('unit words: table, annotations dropped, ratio only for gauges', () => {
    expect(prometheusUnit('ms', 'histogram')).toBe('milliseconds');
    expect(prometheusUnit('KiBy', 'gauge')).toBe('kibibytes');
    expect(prometheusUnit('{session}', 'gauge')).toBe('');
    expect(prometheusUnit('1', 'gauge')).toBe('ratio');
    expect(prometheusUnit('1', 'counter')).toBe('');
    expect(prometheusUnit('', 'counter')).toBe('');
  });
});

describe('familyUnitLines', () => {
  it("names a counter's family on its UNIT line and leaves every other line as it was", () => {
    const text = [
      '# HELP a_bytes_total bytes',
      '# UNIT a_bytes_total bytes',
      '# TYPE a_bytes_total counter',
      'a_bytes_total 1',
      '# HELP b_total_seconds a gauge whose name has _total in it',
      '# UNIT b_total_seconds seconds',
      '# TYPE b_total_seconds gauge',
      'b_total_seconds 2',
      '# HELP c_total no unit',
      '# TYPE c_total counter',
      'c_total 3',
    ].join('\n');
    expect(familyUnitLines(text)).toBe(text.replace('# UNIT a_bytes_total bytes', '# UNIT a_bytes bytes'));
  });
});

describe('ConventionalPrometheusExporter on a MeterProvider next to a push reader', () => {
  it('the scrape has Prometheus names and unit words; the other reader keeps the OTel names and UCUM units', async () => {
    const port = await freePort();
    const prom = new ConventionalPrometheusExporter({ host: '127.0.0.1', port, preventServerStart: true });
    await prom.startServer();
    const pushed = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const push = new PeriodicExportingMetricReader({ exporter: pushed, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ readers: [prom, push] });
    try {
      const meter = provider.getMeter('t');
      meter.createCounter('t.io', { unit: 'By', description: 'bytes' }).add(4096);
      meter.createHistogram('t.stall', { unit: 's', description: 'stall' }).record(0.25);
      meter.createUpDownCounter('t.held', { unit: '{operation}', description: 'held' }).add(3);

      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(text).toMatch(/^# TYPE t_io_bytes_total counter$/m);
      // TYPE names the sample (text format 0.0.4); UNIT, OpenMetrics metadata, names the family.
      expect(text).toMatch(/^# UNIT t_io_bytes bytes\n# TYPE t_io_bytes_total counter$/m);
      expect(text).not.toMatch(/^# UNIT t_io_bytes_total/m);
      expect(text).toMatch(/^t_io_bytes_total\{otel_scope_name="t"\} 4096$/m);
      expect(text).toMatch(/^# TYPE t_stall_seconds histogram$/m);
      expect(text).toMatch(/^# UNIT t_stall_seconds seconds$/m);
      expect(text).toMatch(/^t_stall_seconds_count\{otel_scope_name="t"\} 1$/m);
      expect(text).toMatch(/^# TYPE t_held gauge$/m);
      expect(text).not.toMatch(/^# UNIT t_held/m);
      expect(text).not.toMatch(/^t_io_total|^t_stall_count|By$/m);

      await push.forceFlush();
      const otel = pushed
        .getMetrics()
        .at(-1)!
        .scopeMetrics[0].metrics.map((m) => [m.descriptor.name, m.descriptor.unit]);
      expect(otel).toEqual(
        expect.arrayContaining([
          ['t.io', 'By'],
          ['t.stall', 's'],
          ['t.held', '{operation}'],
        ]),
      );
    } finally {
      await provider.shutdown();
    }
  });
});
