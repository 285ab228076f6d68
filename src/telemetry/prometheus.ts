/**
 * OpenTelemetry metric names and units as Prometheus expects them, by the OpenTelemetry specification's
 * "Prometheus and OpenMetrics Compatibility" (OTLP metric points to Prometheus, Metric Metadata) and as the
 * OpenTelemetry Collector's prometheus exporter renders them: the UCUM unit as a Prometheus unit word
 * (`s` -> `seconds`, `By` -> `bytes`, `m/s` -> `meters_per_second`, `1` -> `ratio` for gauges), annotations in
 * braces (`{operation}`) dropped, the word appended to the name unless the name already ends with it, and
 * `_total` after it for monotonic sums: `mpath.path.io` (By, counter) -> `mpath_path_io_bytes_total`.
 *
 * @opentelemetry/exporter-prometheus 0.223 (the line for Node 20) has no option for this: it only replaces
 * dots and adds `_total`, and puts the UCUM unit on its `# UNIT` line. So the endpoint is that exporter with
 * its collect() giving the serializer renamed copies of the metrics: only this reader sees Prometheus names;
 * the instruments and every other reader (OTLP) keep the OpenTelemetry names, with the unit as metadata.
 *
 * The endpoint serves the Prometheus text format (`text/plain`, 0.0.4), where a counter's HELP and TYPE lines
 * carry its sample name, `_total` included (`# TYPE mpath_path_io_bytes_total counter`), as the exporter
 * writes them. `# UNIT` is OpenMetrics metadata, and there it names the MetricFamily, which for a counter is
 * the sample name without `_total` (OpenMetrics 1.0, "Counter": the Total sample's name has the suffix
 * `_total`; "Metadata": the unit is the suffix of the MetricFamily name): `# UNIT mpath_path_io_bytes bytes`.
 * The exporter puts the sample name there too, so its text is passed through familyUnitLines().
 */
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type CollectionResult, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

/** UCUM units and their Prometheus words (the specification's table of commonly used units). */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tebibytes',
  kBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '%': 'percent',
};

/** The time units after a `/` (rates), as the Collector words them. */
const PER_WORDS: Readonly<Record<string, string>> = {
  s: 'second',
  m: 'minute',
  min: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

/** Characters outside [a-zA-Z0-9_] as `_`, runs of `_` as one. */
const underscored = (s: string): string => s.replace(/[^a-zA-Z0-9_]/g, '_').replace(/_{2,}/g, '_');
const word = (s: string): string => underscored(s).replace(/^_+|_+$/g, '');

/** The Prometheus kinds the unit and name rules tell apart. */
export type PrometheusKind = 'counter' | 'gauge' | 'histogram';

/** What a metric becomes in the exposition: counter for monotonic sums, gauge for other sums and gauges. */
export function prometheusKind(m: MetricData): PrometheusKind {
  if (m.dataPointType === DataPointType.SUM) return m.isMonotonic ? 'counter' : 'gauge';
  return m.dataPointType === DataPointType.GAUGE ? 'gauge' : 'histogram';
}

/** The Prometheus unit word of a UCUM unit ('' for none): `s` -> `seconds`, `{operation}` -> '', `By/s` -> `bytes_per_second`. */
export function prometheusUnit(unit: string, kind: PrometheusKind): string {
  const bare = unit.replace(/\{[^}]*\}/g, '').trim();
  if (bare === '') return '';
  if (bare === '1') return kind === 'gauge' ? 'ratio' : '';
  const slash = bare.indexOf('/');
  const num = slash < 0 ? bare : bare.slice(0, slash).trim();
  const numWord = num === '' || num === '1' ? '' : (UNIT_WORDS[num] ?? word(num));
  if (slash < 0) return numWord;
  const per = bare.slice(slash + 1).trim();
  const perWord = PER_WORDS[per] ?? UNIT_WORDS[per]?.replace(/s$/, '') ?? word(per);
  if (perWord === '') return numWord;
  return numWord === '' ? `per_${perWord}` : `${numWord}_per_${perWord}`;
}

/**
 * The Prometheus metric name of an OpenTelemetry one: underscores for other characters, the unit word unless
 * the name already ends with it, then `_total` for counters (a `_total` already there moved after the unit).
 */
export function prometheusName(name: string, unit: string, kind: PrometheusKind): string {
  let base = underscored(name);
  if (kind === 'counter' && base.endsWith('_total')) base = base.slice(0, -'_total'.length);
  const u = prometheusUnit(unit, kind);
  if (u !== '' && base !== u && !base.endsWith(`_${u}`)) base = `${base}_${u}`;
  if (kind === 'counter') base = `${base}_total`;
  return /^[0-9]/.test(base) ? `_${base}` : base;
}

/** Copies of the metrics with Prometheus names, and the unit word as the unit (the `# UNIT` line; none when ''). */
export function withPrometheusNames(rm: ResourceMetrics): ResourceMetrics {
  return {
    resource: rm.resource,
    scopeMetrics: rm.scopeMetrics.map((sm) => ({
      scope: sm.scope,
      metrics: sm.metrics.map((m): MetricData => {
        const kind = prometheusKind(m);
        const descriptor = {
          ...m.descriptor,
          name: prometheusName(m.descriptor.name, m.descriptor.unit, kind),
          unit: prometheusUnit(m.descriptor.unit, kind),
        };
        return { ...m, descriptor };
      }),
    })),
  };
}

/**
 * The exposition text with each counter's `# UNIT` line naming the metric family (the name without `_total`);
 * the exporter writes HELP, UNIT, TYPE in that order, so a counter's UNIT line is the one before its TYPE line.
 */
export function familyUnitLines(text: string): string {
  return text.replace(/^# UNIT (\S+)_total (.*)\n# TYPE \1_total counter$/gm, '# UNIT $1 $2\n# TYPE $1_total counter');
}

/** The OpenTelemetry Prometheus exporter (its server, scrape handler and serializer) with Prometheus names and units. */
export class ConventionalPrometheusExporter extends PrometheusExporter {
  constructor(...args: ConstructorParameters<typeof PrometheusExporter>) {
    super(...args);
    // The serializer is the exporter's private field (no option replaces it); exporter-prometheus is pinned,
    // and a version without it fails here, at start-up, rather than serving UNIT lines named after samples.
    const serializer = (this as unknown as { _serializer?: unknown })._serializer;
    if (!(serializer instanceof PrometheusSerializer)) throw new Error('@opentelemetry/exporter-prometheus: no _serializer to wrap');
    const serialize = serializer.serialize.bind(serializer);
    serializer.serialize = (rm) => familyUnitLines(serialize(rm));
  }

  override async collect(options?: Parameters<PrometheusExporter['collect']>[0]): Promise<CollectionResult> {
    const r = await super.collect(options);
    return { ...r, resourceMetrics: withPrometheusNames(r.resourceMetrics) };
  }
}
