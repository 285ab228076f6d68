/** An OpenTelemetry metric reader that collects only when a test asks (`await reader.collect()`). */
import { MetricReader } from '@opentelemetry/sdk-metrics';

export class ManualReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}
