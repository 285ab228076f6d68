/**
 * Test helper: an OTLP/HTTP collector stand-in on a free loopback port (OTLP specification, "OTLP/HTTP"):
 * POST /v1/traces and /v1/metrics with application/x-protobuf bodies, decoded with the opentelemetry-proto
 * messages as the OpenTelemetry JS maintainers generated them (protobufjs static module, shipped in
 * @opentelemetry/otlp-transformer up to 0.216.0; the devDependency alias otlp-transformer-pbjs pins it). The
 * exporters under test (0.223) encode with a hand-written writer instead, so a wire mistake there shows here.
 *
 * It records every request, accepted or not, with what it carried (spans with their ids, attributes and
 * events; metrics with their data points) and the SHA-256 of its body: the OTLP exporter resends the same
 * bytes on a retry, so equal digests are one batch tried again. To model a collector restart it can answer
 * 503 (with Retry-After) until told otherwise, or close its port and listen again on the same one later.
 * Tests wait for requests with `waitFor` (a predicate, answered from what came so far and what comes next).
 */
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { freePort } from './ports.js';

// The generated module is CommonJS with an untyped declaration (`$protobuf.Root`): typed below by the fields read.
const root = createRequire(import.meta.url)('otlp-transformer-pbjs/build/src/generated/root.js') as ProtoRoot;

interface Long {
  toString(): string;
  toNumber(): number;
}
interface PbAnyValue {
  value?: 'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | 'arrayValue' | 'kvlistValue' | 'bytesValue';
  stringValue?: string;
  boolValue?: boolean;
  intValue?: Long | number;
  doubleValue?: number;
  arrayValue?: { values: PbAnyValue[] };
  kvlistValue?: { values: PbKeyValue[] };
  bytesValue?: Uint8Array;
}
interface PbKeyValue {
  key: string;
  value?: PbAnyValue | null;
}
interface PbSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId?: Uint8Array;
  name: string;
  startTimeUnixNano: Long;
  endTimeUnixNano: Long;
  attributes: PbKeyValue[];
  events: Array<{ name: string; attributes: PbKeyValue[] }>;
  status?: { code?: number; message?: string } | null;
}
interface PbNumberPoint {
  attributes: PbKeyValue[];
  timeUnixNano: Long;
  asInt?: Long | number | null;
  asDouble?: number | null;
}
interface PbHistogramPoint {
  attributes: PbKeyValue[];
  timeUnixNano: Long;
  count: Long | number;
  sum?: number | null;
}
interface PbMetric {
  name: string;
  unit: string;
  sum?: { dataPoints: PbNumberPoint[]; aggregationTemporality: number; isMonotonic: boolean } | null;
  gauge?: { dataPoints: PbNumberPoint[] } | null;
  histogram?: { dataPoints: PbHistogramPoint[]; aggregationTemporality: number } | null;
}
interface Resource {
  attributes: PbKeyValue[];
}
interface Decoder<T> {
  decode(b: Uint8Array): T;
}
interface ProtoRoot {
  opentelemetry: {
    proto: {
      collector: {
        trace: {
          v1: {
            ExportTraceServiceRequest: Decoder<{ resourceSpans: Array<{ resource?: Resource; scopeSpans: Array<{ spans: PbSpan[] }> }> }>;
          };
        };
        metrics: {
          v1: {
            ExportMetricsServiceRequest: Decoder<{
              resourceMetrics: Array<{ resource?: Resource; scopeMetrics: Array<{ metrics: PbMetric[] }> }>;
            }>;
          };
        };
      };
    };
  };
}

export type Attrs = Record<string, unknown>;

export interface ReceivedSpan {
  name: string;
  /** Hex, as the W3C trace context writes them. */
  traceId: string;
  spanId: string;
  parentSpanId: string;
  startNs: bigint;
  endNs: bigint;
  attributes: Attrs;
  events: Array<{ name: string; attributes: Attrs }>;
  /** 0 unset, 1 ok, 2 error (opentelemetry.proto.trace.v1.Status.StatusCode). */
  statusCode: number;
}

export interface ReceivedPoint {
  attributes: Attrs;
  timeNs: bigint;
  /** Sum and gauge points: the value; histogram points: the count. */
  value: number;
}

export interface ReceivedMetric {
  name: string;
  unit: string;
  kind: 'sum' | 'gauge' | 'histogram' | 'other';
  /** opentelemetry.proto.metrics.v1.AggregationTemporality of sums and histograms (2 cumulative, 1 delta). */
  temporality?: number;
  points: ReceivedPoint[];
}

export interface OtlpRequest {
  signal: 'traces' | 'metrics';
  /** What the receiver answered. */
  status: number;
  accepted: boolean;
  /** SHA-256 of the body: a retry of one export carries the same bytes. */
  digest: string;
  resource: Attrs;
  spans: ReceivedSpan[];
  metrics: ReceivedMetric[];
}

export type ReceiverMode = { kind: 'accept' } | { kind: 'refuse'; status: number; retryAfterSeconds?: number };

const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');
const ns = (l: Long | number): bigint => BigInt(l.toString());
const num = (l: Long | number): number => (typeof l === 'number' ? l : l.toNumber());

function anyValue(v: PbAnyValue | null | undefined): unknown {
  if (!v?.value) return undefined;
  switch (v.value) {
    case 'intValue':
      return num(v.intValue!);
    case 'arrayValue':
      return v.arrayValue!.values.map(anyValue);
    case 'kvlistValue':
      return attrs(v.kvlistValue!.values);
    case 'bytesValue':
      return Buffer.from(v.bytesValue!);
    default:
      return v[v.value];
  }
}
const attrs = (kvs: PbKeyValue[] | undefined): Attrs => Object.fromEntries((kvs ?? []).map((kv) => [kv.key, anyValue(kv.value)]));

function decodeTraces(body: Buffer): Pick<OtlpRequest, 'resource' | 'spans'> {
  const req = root.opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest.decode(body);
  const spans: ReceivedSpan[] = [];
  let resource: Attrs = {};
  for (const rs of req.resourceSpans) {
    resource = { ...resource, ...attrs(rs.resource?.attributes) };
    for (const ss of rs.scopeSpans)
      for (const s of ss.spans)
        spans.push({
          name: s.name,
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          startNs: ns(s.startTimeUnixNano),
          endNs: ns(s.endTimeUnixNano),
          attributes: attrs(s.attributes),
          events: s.events.map((e) => ({ name: e.name, attributes: attrs(e.attributes) })),
          statusCode: s.status?.code ?? 0,
        });
  }
  return { resource, spans };
}

function decodeMetrics(body: Buffer): Pick<OtlpRequest, 'resource' | 'metrics'> {
  const req = root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest.decode(body);
  const metrics: ReceivedMetric[] = [];
  let resource: Attrs = {};
  const numberPoint = (p: PbNumberPoint): ReceivedPoint => ({
    attributes: attrs(p.attributes),
    timeNs: ns(p.timeUnixNano),
    value: p.asDouble ?? num(p.asInt ?? 0),
  });
  for (const rm of req.resourceMetrics) {
    resource = { ...resource, ...attrs(rm.resource?.attributes) };
    for (const sm of rm.scopeMetrics)
      for (const m of sm.metrics) {
        const base = { name: m.name, unit: m.unit };
        if (m.sum)
          metrics.push({ ...base, kind: 'sum', temporality: m.sum.aggregationTemporality, points: m.sum.dataPoints.map(numberPoint) });
        else if (m.gauge) metrics.push({ ...base, kind: 'gauge', points: m.gauge.dataPoints.map(numberPoint) });
        else if (m.histogram)
          metrics.push({
            ...base,
            kind: 'histogram',
            temporality: m.histogram.aggregationTemporality,
            points: m.histogram.dataPoints.map((p) => ({
              attributes: attrs(p.attributes),
              timeNs: ns(p.timeUnixNano),
              value: num(p.count),
            })),
          });
        else metrics.push({ ...base, kind: 'other', points: [] });
      }
  }
  return { resource, metrics };
}

export class OtlpReceiver {
  readonly requests: OtlpRequest[] = [];
  /** Requests it could not take (wrong path, method, content type or an undecodable body): each a line. */
  readonly errors: string[] = [];
  private mode: ReceiverMode = { kind: 'accept' };
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private waiters: Array<{ pred: (r: OtlpRequest) => boolean; resolve: (r: OtlpRequest) => void }> = [];

  private constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port. */
  static async start(host = '127.0.0.1'): Promise<OtlpReceiver> {
    const r = new OtlpReceiver(host, await freePort(host));
    await r.listen();
    return r;
  }

  /** The OTEL_EXPORTER_OTLP_ENDPOINT for it (the exporters add /v1/traces and /v1/metrics). */
  get endpoint(): string {
    return `http://${this.host}:${this.port}`;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  /** Accept (200 and an empty Export*ServiceResponse) or refuse with a status (and Retry-After) from now on. */
  set(mode: ReceiverMode): void {
    this.mode = mode;
  }

  /** The first request so far, or the next one, that matches. */
  waitFor(pred: (r: OtlpRequest) => boolean): Promise<OtlpRequest> {
    const hit = this.requests.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  /** Spans of the requests it accepted. */
  acceptedSpans(): ReceivedSpan[] {
    return this.requests.filter((r) => r.accepted).flatMap((r) => r.spans);
  }

  /** Closes the port (connections too: a collector that went away), until `restart`. */
  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => s.close(() => r()));
    for (const sock of this.sockets) sock.destroy();
    await closed;
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    if (!this.server) await this.listen();
  }

  private listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (sock) => {
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off('error', reject);
        this.server = server;
        resolve();
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const signal = req.url === '/v1/traces' ? 'traces' : req.url === '/v1/metrics' ? 'metrics' : undefined;
    const refuse = (status: number, why: string) => {
      this.errors.push(`${req.method} ${req.url}: ${why}`);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(why);
    };
    if (!signal) return refuse(404, 'not an OTLP/HTTP path (/v1/traces, /v1/metrics)');
    if (req.method !== 'POST') return refuse(405, 'OTLP/HTTP takes POST');
    if (req.headers['content-type'] !== 'application/x-protobuf')
      return refuse(415, `content-type ${req.headers['content-type']}: only application/x-protobuf is decoded here`);
    let decoded: Pick<OtlpRequest, 'resource' | 'spans' | 'metrics'>;
    let body = raw;
    try {
      // OTEL_EXPORTER_OTLP_COMPRESSION=gzip
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(raw);
      decoded = signal === 'traces' ? { ...decodeTraces(body), metrics: [] } : { ...decodeMetrics(body), spans: [] };
    } catch (err) {
      return refuse(400, `undecodable ${signal} request: ${(err as Error).message}`);
    }
    const mode = this.mode;
    const status = mode.kind === 'accept' ? 200 : mode.status;
    const r: OtlpRequest = {
      signal,
      status,
      accepted: status === 200,
      digest: createHash('sha256').update(body).digest('hex'),
      ...decoded,
    };
    this.requests.push(r);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(r)) return true;
      w.resolve(r);
      return false;
    });
    if (mode.kind === 'accept') {
      // An empty Export*ServiceResponse (no partial_success) is zero bytes.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      return;
    }
    res
      .writeHead(status, {
        'content-type': 'text/plain',
        ...(mode.retryAfterSeconds !== undefined ? { 'retry-after': String(mode.retryAfterSeconds) } : {}),
      })
      .end('collector refusing for the test');
  }
}
