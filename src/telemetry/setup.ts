/**
 * Tracer and meter setup from the standard OTEL_* environment variables: OTLP over HTTP/protobuf when an
 * endpoint is configured, no-op (and no instrumentation work at all) otherwise; tests inject their own span
 * processors, exporters and metric readers. Never registers global providers.
 */
import { ProxyTracerProvider, createNoopMeter, diag, type Attributes, type Meter, type Tracer } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import {
  ConsoleMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { ConventionalPrometheusExporter } from './prometheus.js';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from './semconv.js';
import { reportingMetricExporter, reportingSpanExporter } from './export-outage.js';
import { systemClock, type Clock } from '../session/clock.js';

/** An OTEL_* setting this process cannot honour (refused at start rather than losing every span quietly). */
export class TelemetryConfigError extends RangeError {
  override readonly name = 'TelemetryConfigError';
}

/** The one OTLP transport spoken here. */
export const OTLP_PROTOCOL = 'http/protobuf';

/**
 * OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf (the default) is
 * accepted; grpc and http/json are refused with the variable named.
 */
export function checkOtlpProtocol(env: Readonly<Record<string, string | undefined>>, signal: 'traces' | 'metrics'): void {
  for (const name of [`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_PROTOCOL`, 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const v = nonEmpty(env[name]);
    if (v === undefined) continue;
    if (v !== OTLP_PROTOCOL)
      throw new TelemetryConfigError(`${name}=${v} is not supported: only ${OTLP_PROTOCOL} is (unset it or set ${OTLP_PROTOCOL})`);
    return;
  }
}

/** Instrumentation scope name of every tracer and meter mpiscsi creates. */
export const INSTRUMENTATION_SCOPE = 'mpiscsi';

export interface TelemetryOptions {
  /** Where OTEL_* settings are read. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** service.name when OTEL_SERVICE_NAME is not set. Default 'mpiscsi'. */
  serviceName?: string;
  /** service.version. Default: none. */
  serviceVersion?: string;
  /** More resource attributes (OTEL_RESOURCE_ATTRIBUTES adds to and overrides these). */
  resourceAttributes?: Attributes;
  /**
   * Span processors to use instead of the environment's exporters (tests: SimpleSpanProcessor around an
   * InMemorySpanExporter). Given (even empty together with spanExporters), tracing is on whatever OTEL_* says.
   */
  spanProcessors?: SpanProcessor[];
  /** Span exporters to use instead of the environment's, each behind a SimpleSpanProcessor. */
  spanExporters?: SpanExporter[];
  /** Metric readers to use instead of the environment's (tests: a manual MetricReader). Metrics on when given. */
  metricReaders?: IMetricReader[];
  /**
   * Serve the metrics for Prometheus to scrape at http://HOST:PORT/metrics (the OpenTelemetry Prometheus
   * exporter, a pull reader next to the others, with Prometheus names and units: `mpath_path_io_bytes_total`,
   * `iscsi_login_duration_seconds`). Metrics on when given; shutdown closes the server.
   */
  prometheus?: { host: string; port: number };
  /** Sampler. Default: the SDK's (OTEL_TRACES_SAMPLER, else parent-based always-on). */
  sampler?: Sampler;
  /**
   * The instrumentation's time: the span and event times of the session and failover spans (epoch ms) and
   * their timers (a failover span's restore limit, the wait for a held completion). Default TELEMETRY_CLOCK;
   * tests give the SimulatedClock their devices and sessions run on.
   */
  clock?: Clock;
  /** Where OTLP export failures go (once per outage, and the recovery). Default: a line on stderr. */
  onExportProblem?: (line: string) => void;
}

/**
 * What instrumentation needs: the tracer and meter (no-ops when off), whether each signal is on (off:
 * the instrument* functions subscribe to nothing), and flush/shutdown for the composition root.
 */
export interface Telemetry {
  readonly tracer: Tracer;
  readonly meter: Meter;
  /** Spans are recorded and exported. */
  readonly tracing: boolean;
  /** Metrics are collected and exported. */
  readonly metrics: boolean;
  /** Exports what was recorded so far (spans ended, metrics now). */
  forceFlush(): Promise<void>;
  /**
   * With the prometheus option: resolves with the scrape URL once its server listens, rejects with a
   * TelemetryConfigError naming the address when it cannot (port in use, address not here).
   */
  readonly prometheusUrl?: Promise<string>;
  /** Flushes and stops the providers; idempotent. */
  shutdown(): Promise<void>;
  /** The instrumentation's time (TelemetryOptions.clock). */
  readonly clock: Clock;
}

/**
 * Epoch milliseconds with sub-millisecond resolution from the monotonic clock (span times that order, on
 * systemClock's time base plus performance.timeOrigin), and systemClock's unref'd timers.
 */
export const TELEMETRY_CLOCK: Clock = Object.freeze({
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: systemClock.setTimeout,
  clearTimeout: systemClock.clearTimeout,
});

const truthy = (v: string | undefined): boolean => v !== undefined && /^(true|1|yes)$/i.test(v.trim());
const list = (v: string | undefined, fallback: string): string[] =>
  (v && v.trim() !== '' ? v : fallback)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
const nonEmpty = (v: string | undefined): string | undefined => (v && v.trim() !== '' ? v.trim() : undefined);

/** OTEL_RESOURCE_ATTRIBUTES: `key=value,key2=value2`, values percent-encoded (W3C Baggage octets). */
export function parseResourceAttributes(raw: string | undefined): Attributes {
  const out: Attributes = {};
  if (!raw) return out;
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim();
    try {
      out[key] = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      diag.warn(`OTEL_RESOURCE_ATTRIBUTES: ${key} has a badly encoded value; ignored`);
    }
  }
  return out;
}

/**
 * The OTLP/HTTP URL of one signal (OTel spec "OTLP Exporter Configuration"): OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT
 * as it is, else OTEL_EXPORTER_OTLP_ENDPOINT + '/v1/<signal>'; undefined when neither is set.
 */
export function otlpUrl(env: Readonly<Record<string, string | undefined>>, signal: 'traces' | 'metrics'): string | undefined {
  const specific = nonEmpty(env[`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`]);
  if (specific) return specific;
  const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  return base ? `${base.replace(/\/+$/, '')}/v1/${signal}` : undefined;
}

/**
 * Starts telemetry as OTEL_* says (defaults in brackets):
 * - OTEL_SDK_DISABLED=true: everything from the environment off [false].
 * - OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER: comma list of otlp, console, none [otlp]. otlp needs an
 *   endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / _METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (plus
 *   /v1/traces, /v1/metrics); without one that signal is off. Headers, timeout, compression and TLS come
 *   from the exporters' own OTEL_EXPORTER_OTLP_* handling. Only http/protobuf is spoken: another
 *   OTEL_EXPORTER_OTLP_[SIGNAL_]PROTOCOL throws TelemetryConfigError. Export failures: onExportProblem, once per outage.
 * - OTEL_SERVICE_NAME ['mpiscsi'], OTEL_RESOURCE_ATTRIBUTES, OTEL_METRIC_EXPORT_INTERVAL [60000 ms],
 *   OTEL_METRIC_EXPORT_TIMEOUT [30000 ms], OTEL_BSP_* (batch span processor).
 * Injected processors/exporters/readers (tests) replace the environment's for their signal.
 */
export function startTelemetry(opts: TelemetryOptions = {}): Telemetry {
  const env = opts.env ?? process.env;
  const disabled = truthy(env.OTEL_SDK_DISABLED);
  const problem = opts.onExportProblem ?? ((line: string) => void process.stderr.write(`${opts.serviceName ?? 'mpiscsi'}: ${line}\n`));

  const processors: SpanProcessor[] = [];
  let tracing = false;
  if (opts.spanProcessors || opts.spanExporters) {
    tracing = true;
    processors.push(...(opts.spanProcessors ?? []), ...(opts.spanExporters ?? []).map((e) => new SimpleSpanProcessor(e)));
  } else if (!disabled) {
    for (const kind of list(env.OTEL_TRACES_EXPORTER, 'otlp')) {
      if (kind === 'none') {
        processors.length = 0;
        break;
      }
      if (kind === 'otlp') {
        const url = otlpUrl(env, 'traces');
        if (url) {
          checkOtlpProtocol(env, 'traces');
          processors.push(new BatchSpanProcessor(reportingSpanExporter(new OTLPTraceExporter({ url }), `OTLP traces to ${url}`, problem)));
        }
      } else if (kind === 'console') processors.push(new SimpleSpanProcessor(new ConsoleSpanExporter()));
      else diag.warn(`OTEL_TRACES_EXPORTER: unknown exporter '${kind}' ignored (otlp, console, none)`);
    }
    tracing = processors.length > 0;
  }

  const readers: IMetricReader[] = [];
  let metrics = false;
  if (opts.metricReaders) {
    metrics = true;
    readers.push(...opts.metricReaders);
  } else if (!disabled) {
    const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL ?? 60_000);
    const timeout = Number(env.OTEL_METRIC_EXPORT_TIMEOUT ?? 30_000);
    const periodic = (exporter: PushMetricExporter) =>
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: Number.isFinite(interval) && interval > 0 ? interval : 60_000,
        exportTimeoutMillis: Math.min(
          Number.isFinite(timeout) && timeout > 0 ? timeout : 30_000,
          Number.isFinite(interval) && interval > 0 ? interval : 60_000,
        ),
      });
    for (const kind of list(env.OTEL_METRICS_EXPORTER, 'otlp')) {
      if (kind === 'none') {
        readers.length = 0;
        break;
      }
      if (kind === 'otlp') {
        const url = otlpUrl(env, 'metrics');
        if (url) {
          checkOtlpProtocol(env, 'metrics');
          readers.push(periodic(reportingMetricExporter(new OTLPMetricExporter({ url }), `OTLP metrics to ${url}`, problem)));
        }
      } else if (kind === 'console') readers.push(periodic(new ConsoleMetricExporter()));
      else diag.warn(`OTEL_METRICS_EXPORTER: unknown exporter '${kind}' ignored (otlp, console, none)`);
    }
    metrics = readers.length > 0;
  }
  let prometheusUrl: Promise<string> | undefined;
  if (opts.prometheus) {
    const { host, port } = opts.prometheus;
    // Names and units by the OTel->Prometheus compatibility rules (src/telemetry/prometheus.ts); OTLP keeps OTel's.
    const exporter = new ConventionalPrometheusExporter({ host, port, preventServerStart: true });
    readers.push(exporter);
    metrics = true;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${PrometheusExporter.DEFAULT_OPTIONS.endpoint}`;
    prometheusUrl = exporter.startServer().then(
      () => url,
      (err: NodeJS.ErrnoException) => {
        throw new TelemetryConfigError(
          `cannot serve metrics on ${url}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
        );
      },
    );
    // Whoever started it awaits the promise; an unawaited failure is not also an unhandled rejection.
    prometheusUrl.catch(() => {});
  }

  const resource = defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.serviceName ?? 'mpiscsi',
      ...(opts.serviceVersion ? { [ATTR_SERVICE_VERSION]: opts.serviceVersion } : {}),
      ...opts.resourceAttributes,
      ...parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES),
      ...(nonEmpty(env.OTEL_SERVICE_NAME) ? { [ATTR_SERVICE_NAME]: nonEmpty(env.OTEL_SERVICE_NAME) } : {}),
    }),
  );

  const tracerProvider = tracing
    ? new BasicTracerProvider({ resource, spanProcessors: processors, ...(opts.sampler ? { sampler: opts.sampler } : {}) })
    : undefined;
  const meterProvider = metrics ? new MeterProvider({ resource, readers }) : undefined;
  // Off: the API's no-op tracer (a proxy with no delegate, never registered) and no-op meter.
  const tracer =
    tracerProvider?.getTracer(INSTRUMENTATION_SCOPE, opts.serviceVersion) ?? new ProxyTracerProvider().getTracer(INSTRUMENTATION_SCOPE);
  const meter = meterProvider?.getMeter(INSTRUMENTATION_SCOPE, opts.serviceVersion) ?? createNoopMeter();
  let down: Promise<void> | undefined;
  return {
    tracer,
    meter,
    tracing,
    metrics,
    clock: opts.clock ?? TELEMETRY_CLOCK,
    ...(prometheusUrl ? { prometheusUrl } : {}),
    async forceFlush() {
      await Promise.all([tracerProvider?.forceFlush(), meterProvider?.forceFlush()]);
    },
    shutdown() {
      down ??= Promise.all([tracerProvider?.shutdown(), meterProvider?.shutdown()]).then(() => undefined);
      return down;
    },
  };
}
