/**
 * OTLP exporters that say when their collector is unreachable: the first failed export of an outage is
 * logged (signal, URL, the exporter's error), the following failures are not, and the first success after
 * it logs that export recovered. The SDK itself drops a failed batch silently (after the OTLP exporter's own
 * retries), so without this a down endpoint loses every span without a word.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';

/** Tracks one exporter's outage state; `observe` logs the first failure of an outage and the recovery after it. */
export class OutageReporter {
  private down = false;
  constructor(
    private readonly what: string,
    private readonly log: (line: string) => void,
  ) {}

  observe(result: ExportResult): void {
    if (result.code === ExportResultCode.SUCCESS) {
      if (this.down) this.log(`${this.what} export recovered`);
      this.down = false;
      return;
    }
    if (this.down) return;
    this.down = true;
    const why = result.error?.message ?? 'failed';
    this.log(`${this.what} export failing: ${why} (data of this outage is dropped; logged once until it recovers)`);
  }
}

export function reportingSpanExporter(inner: SpanExporter, what: string, log: (line: string) => void): SpanExporter {
  const r = new OutageReporter(what, log);
  return {
    export(spans: ReadableSpan[], cb: (result: ExportResult) => void) {
      inner.export(spans, (result) => {
        r.observe(result);
        cb(result);
      });
    },
    shutdown: () => inner.shutdown(),
    forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
  };
}

export function reportingMetricExporter(inner: PushMetricExporter, what: string, log: (line: string) => void): PushMetricExporter {
  const r = new OutageReporter(what, log);
  const out: PushMetricExporter = {
    export(metrics: ResourceMetrics, cb: (result: ExportResult) => void) {
      inner.export(metrics, (result) => {
        r.observe(result);
        cb(result);
      });
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
  };
  if (inner.selectAggregationTemporality) out.selectAggregationTemporality = (t) => inner.selectAggregationTemporality!(t);
  if (inner.selectAggregation) out.selectAggregation = (t) => inner.selectAggregation!(t);
  return out;
}
