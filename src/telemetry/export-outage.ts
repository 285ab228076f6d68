/**
 * OTLP exporters that say when their collector is unreachable: the first failed export of an outage is
 * logged (signal, URL, the exporter's error), the following failures are not, and the first success after
 * it logs that export recovered. The SDK itself drops a failed batch silently (after the OTLP exporter's own
 * retries), so without this a down endpoint loses every span without a word.
 *
 * Exports can overlap: the metric reader gives up waiting after its export timeout (at most the export
 * interval) and starts the next one while the OTLP exporter still retries the last. So results can come back
 * out of order, and a failure of an export that began before the last success is that outage's tail, not a
 * new outage: it is not logged again.
 */
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';

/** Tracks one exporter's outage state; `observe` logs the first failure of an outage and the recovery after it. */
export class OutageReporter {
  private down = false;
  private started = 0;
  /** The start number of the latest-started export that succeeded. */
  private lastSuccess = -1;
  constructor(
    private readonly what: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Numbers an export as it starts; pass the number to `observe` with its result. */
  begin(): number {
    return this.started++;
  }

  /** `seq`: the export's number from `begin` (default: the newest, as for exports that never overlap). */
  observe(result: ExportResult, seq = this.started): void {
    if (result.code === ExportResultCode.SUCCESS) {
      this.lastSuccess = Math.max(this.lastSuccess, seq);
      if (this.down) this.log(`${this.what} export recovered`);
      this.down = false;
      return;
    }
    if (this.down || seq < this.lastSuccess) return;
    this.down = true;
    const why = result.error?.message ?? 'failed';
    this.log(`${this.what} export failing: ${why} (what fails after the exporter's retries is dropped; logged once until it recovers)`);
  }
}

export function reportingSpanExporter(inner: SpanExporter, what: string, log: (line: string) => void): SpanExporter {
  const r = new OutageReporter(what, log);
  return {
    export(spans: ReadableSpan[], cb: (result: ExportResult) => void) {
      const seq = r.begin();
      inner.export(spans, (result) => {
        r.observe(result, seq);
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
      const seq = r.begin();
      inner.export(metrics, (result) => {
        r.observe(result, seq);
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
