/** The JSON-lines span exporter (mpiscsid --trace-file) and `mpiscsi trace-summary` over what it wrote. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { JsonLinesSpanExporter } from '../../src/telemetry/jsonl-exporter.js';
import { parseSpanLines, summarize } from '../../src/cli/trace-summary.js';

describe('trace file and summary', () => {
  it('writes one JSON line per span (0600) and prints failover traces as indented timelines', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-file-'));
    try {
      const file = join(dir, 'trace.jsonl');
      const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new JsonLinesSpanExporter(file))] });
      const tracer = provider.getTracer('test');
      const root = tracer.startSpan('mpath.failover', {
        attributes: { 'mpath.device': 'mpatha', 'mpath.path': '2:0:0:1', 'iscsi.unrelated': 'x' },
      });
      const ctx = trace.setSpan(context.active(), root);
      const requeue = tracer.startSpan('mpath.requeue', { attributes: { 'mpath.requeued.count': 2 } }, ctx);
      requeue.addEvent('mpath.io.first_completion', { 'mpath.path.new': '1:0:0:1' });
      requeue.end();
      root.end();
      tracer.startSpan('iscsi.login').end(); // another trace: not a failover
      await provider.shutdown();

      expect(statSync(file).mode & 0o777).toBe(0o600);
      const spans = parseSpanLines(readFileSync(file, 'utf8'));
      expect(spans.map((s) => s.name)).toEqual(['mpath.requeue', 'mpath.failover', 'iscsi.login']);
      expect(spans[0].parentSpanId).toBe(spans[1].spanId);

      const lines = summarize(spans);
      expect(lines[0]).toBe(`trace ${spans[1].traceId}`);
      expect(lines[1]).toMatch(/^ {2}\+\s+0\.0 ms {2}mpath\.failover \(\d+\.\d ms\) {2}mpath\.device=mpatha mpath\.path=2:0:0:1$/);
      expect(lines[2]).toMatch(/^ {4}\+\s+\d+\.\d ms {2}mpath\.requeue \(.*\) {2}mpath\.requeued\.count=2$/);
      expect(lines[3]).toMatch(/^ {6}\+\s+\d+\.\d ms {2}· mpath\.io\.first_completion {2}mpath\.path\.new=1:0:0:1$/);
      expect(lines).toHaveLength(4);
      expect(summarize(spans, /./).some((l) => l.includes('iscsi.login'))).toBe(true);
      expect(() => parseSpanLines('{"a":1}\nnot json\n', 'f')).toThrow(/^f:2: not a JSON span line/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
