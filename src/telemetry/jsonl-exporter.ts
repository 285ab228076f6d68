/**
 * A span exporter that appends each finished span as one JSON line to a file (0600): for a daemon without an
 * OpenTelemetry collector, for the demo's trace summary, and for SREs who want `jq` over a failover.
 * Attribute values are exported as recorded; instrumentation never records secrets (DESIGN.md, semconv.ts).
 */
import { appendFileSync, openSync, closeSync } from 'node:fs';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { HrTime } from '@opentelemetry/api';

/** One span as a JSON line. Times are milliseconds since the epoch (fractional). */
export interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startMs: number;
  endMs: number;
  status: { code: number; message?: string };
  attributes: Record<string, unknown>;
  events: Array<{ name: string; timeMs: number; attributes: Record<string, unknown> }>;
  links: Array<{ traceId: string; spanId: string; attributes: Record<string, unknown> }>;
}

const ms = (t: HrTime): number => t[0] * 1000 + t[1] / 1e6;

export function spanLine(s: ReadableSpan): SpanLine {
  const ctx = s.spanContext();
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    name: s.name,
    kind: s.kind,
    startMs: ms(s.startTime),
    endMs: ms(s.endTime),
    status: { code: s.status.code, ...(s.status.message ? { message: s.status.message } : {}) },
    attributes: { ...s.attributes },
    events: s.events.map((e) => ({ name: e.name, timeMs: ms(e.time), attributes: { ...(e.attributes ?? {}) } })),
    links: s.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId, attributes: { ...(l.attributes ?? {}) } })),
  };
}

export class JsonLinesSpanExporter implements SpanExporter {
  private stopped = false;

  constructor(readonly file: string) {
    // Create it 0600 now (spans name hosts and targets), not with the umask at the first append.
    closeSync(openSync(file, 'a', 0o600));
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    if (this.stopped) return done({ code: ExportResultCode.FAILED, error: new Error('exporter shut down') });
    try {
      appendFileSync(this.file, spans.map((s) => `${JSON.stringify(spanLine(s))}\n`).join(''), { mode: 0o600 });
      done({ code: ExportResultCode.SUCCESS });
    } catch (err) {
      done({ code: ExportResultCode.FAILED, error: err as Error });
    }
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {
    this.stopped = true;
  }
}
