/** Telemetry (OpenTelemetry traces and metrics of sessions and multipath failovers): public exports of src/telemetry/. */
export {
  startTelemetry,
  otlpUrl,
  parseResourceAttributes,
  INSTRUMENTATION_SCOPE,
  TELEMETRY_CLOCK,
  type Telemetry,
  type TelemetryOptions,
} from './setup.js';
export { instrumentSession, sessionAttributes, negotiatedAttributes, errorType, type SessionInstrumentationOptions } from './session.js';
export {
  instrumentPathManager,
  instrumentDevice,
  expectFailover,
  failoverReason,
  type FailoverInstrumentationOptions,
} from './failover.js';
export { metricsOf, type TelemetryMetrics } from './metrics.js';
export type { Instrumentation } from './registry.js';
export * as semconv from './semconv.js';
