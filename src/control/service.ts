/**
 * The mpiscsi NATS control service (DESIGN.md "Control plane (NATS)"): one NATS services-framework service
 * `mpiscsi` with an endpoint per ENDPOINTS row on `mpiscsi.<hostId>.<access>.<group>.<verb>`, answering each request
 * from a ControlApi in the request's format (protobuf, or proto3 JSON by Content-Type), and publishing the
 * host's events on `mpiscsi.<hostId>.events.<kind>`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context, SpanKind, SpanStatusCode, trace, type Context, type Tracer } from '@opentelemetry/api';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type Service, type ServiceMsg } from '@nats-io/services';
import { ENDPOINTS, EVENT_TYPES, HOST_ID_PATTERN, endpointSubject, type Endpoint } from './endpoints.js';
import { headerSafe, toControlError } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { ControlError, type ControlApi } from './api.js';
import { ControlDecodeError, decodeMessage, encodeMessage, loadSchema } from './schema.js';
import { extractTraceContext, type HeaderCarrier } from './trace.js';
import { packageVersionOf } from './version.js';
import { CONTENT_TYPE_HEADER, eventSubject, JSON_CONTENT_TYPE, requestFormat, SERVICE_NAME, type WireFormat } from './wire.js';

export interface ControlServiceOptions {
  /** Subject token naming this host: letters, digits, `-` and `_` (no dots or wildcards). */
  hostId: string;
  /** Service version in $SRV.INFO (semver); default the package version. */
  version?: string;
  /** Service description in $SRV.INFO; default "mpiscsi control API (host <hostId>)". */
  description?: string;
  /** Told about failures that have no caller to answer (an event that could not be published). Default: ignored. */
  onError?: (err: Error) => void;
  /**
   * Tracer for the SERVER span of each request (a child of the caller's traceparent); default the global
   * API's tracer, a no-op unless an SDK is registered. The daemon passes its telemetry tracer.
   */
  tracer?: Tracer;
}

export interface RunningControlService {
  readonly hostId: string;
  /** The services-framework instance id ($SRV.*.mpiscsi.<id>). */
  readonly id: string;
  readonly service: Service;
  /** Stops listening and publishing events (the connection stays open: it belongs to the caller). */
  stop(): Promise<void>;
}

/** The request being answered, for hosts that run without a global OpenTelemetry context manager. */
const requestContext = new AsyncLocalStorage<Context>();

/**
 * The trace context of the control request being answered (the caller's traceparent and the service's
 * SERVER span), from inside a ControlApi method: use it as the parent of spans the host starts when no
 * global context manager makes context.active() carry it. Outside a request: context.active().
 */
export function activeRequestContext(): Context {
  return requestContext.getStore() ?? context.active();
}

/** Starts the service on `nc`; resolves once every endpoint is subscribed. */
export async function startControlService(
  nc: NatsConnection,
  host: ControlApi,
  opts: ControlServiceOptions,
): Promise<RunningControlService> {
  const { hostId } = opts;
  if (!HOST_ID_PATTERN.test(hostId))
    throw new ControlError(ExitCode.INVAL, `invalid host id ${JSON.stringify(hostId)}: use letters, digits, - and _`);
  loadSchema(); // fail here, not on the first request, if the generated schema has what the codec cannot map
  const onError = opts.onError ?? (() => {});
  const tracer = opts.tracer ?? trace.getTracer('mpiscsi');

  // @nats-io/services carries its own @nats-io/nats-core copy; the connection is the same object at runtime.
  const svcm = new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]);
  const service = await svcm.add({
    name: SERVICE_NAME,
    version: opts.version ?? packageVersionOf(),
    description: opts.description ?? `mpiscsi control API (host ${hostId})`,
    metadata: { host_id: hostId },
  });

  const groups = new Map<string, ReturnType<Service['addGroup']>>();
  for (const ep of ENDPOINTS) {
    const prefix = `${ep.access}.${ep.group}`;
    let g = groups.get(prefix);
    if (!g) {
      g = service.addGroup(`mpiscsi.${hostId}.${prefix}`);
      groups.set(prefix, g);
    }
    g.addEndpoint(ep.access === 'secrets' ? `${ep.group}-${ep.verb}-secrets` : `${ep.group}-${ep.verb}`, {
      subject: ep.verb,
      metadata: { request: ep.request, response: ep.response },
      handler: (err, msg) => {
        if (err) return; // the framework stops the service itself
        void answer(host, ep, msg, tracer);
      },
    });
  }

  const unsubscribe = host.onEvent((e) => {
    try {
      const body = encodeMessage(EVENT_TYPES[e.kind], e.event, 'protobuf');
      nc.publish(eventSubject(hostId, e.kind), body);
    } catch (err) {
      onError(new Error(`could not publish ${e.kind} event: ${(err as Error).message}`, { cause: err }));
    }
  });

  // The endpoints' SUBs are only queued on our connection: a PING/PONG round trip makes the server hold them
  // before we say the service is up, so a client's first request never meets "no responders".
  await nc.flush();

  let stopped: Promise<void> | undefined;
  return {
    hostId,
    id: service.info().id,
    service,
    stop: () => {
      stopped ??= (async () => {
        unsubscribe();
        await service.stop();
      })();
      return stopped;
    },
  };
}

/** Decode, call the host inside the caller's trace, encode; every failure becomes an error reply. */
async function answer(host: ControlApi, ep: Endpoint, msg: ServiceMsg, tracer: Tracer): Promise<void> {
  const h = msg.headers as unknown as HeaderCarrier | undefined;
  let format: WireFormat = 'protobuf';
  try {
    format = requestFormat(h);
    let req: unknown;
    try {
      req = decodeMessage(ep.request, msg.data, format);
    } catch (err) {
      const why = err instanceof ControlDecodeError ? err.message : `malformed ${ep.request}: ${(err as Error).message}`;
      throw new ControlError(ExitCode.INVAL, why, [], { cause: err });
    }
    const parent = extractTraceContext(h, context.active());
    const span = tracer.startSpan(
      `${ep.group}.${ep.verb}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'rpc.system': 'nats',
          'rpc.service': SERVICE_NAME,
          'rpc.method': `${ep.group}.${ep.verb}`,
          'mpiscsi.access': ep.access,
        },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    let res: unknown;
    try {
      const call = (): Promise<unknown> => (host[ep.method] as (r: unknown) => Promise<unknown>).call(host, req);
      res = await context.with(ctx, () => requestContext.run(ctx, call));
    } catch (err) {
      const ce = toControlError(err);
      span.setAttribute('mpiscsi.exit_code', ce.code);
      span.setStatus({ code: SpanStatusCode.ERROR, message: ce.message });
      throw err;
    } finally {
      span.end();
    }
    let body: Uint8Array;
    try {
      body = encodeMessage(ep.response, res, format);
    } catch (err) {
      throw new ControlError(ExitCode.INTERNAL, `could not encode ${ep.response}: ${(err as Error).message}`, [], { cause: err });
    }
    respond(msg, body, format);
  } catch (err) {
    respondError(msg, toControlError(err), format);
  }
}

function replyHeaders(format: WireFormat): ReturnType<typeof natsHeaders> | undefined {
  if (format !== 'json') return undefined;
  const h = natsHeaders();
  h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
  return h;
}

function respond(msg: ServiceMsg, body: Uint8Array, format: WireFormat): void {
  try {
    const headers = replyHeaders(format);
    msg.respond(body, headers ? ({ headers } as Parameters<ServiceMsg['respond']>[1]) : undefined);
  } catch {
    // The connection closed under us: there is nobody to answer.
  }
}

function respondError(msg: ServiceMsg, err: ControlError, format: WireFormat): void {
  try {
    let body: Uint8Array;
    try {
      body = encodeMessage('mpiscsi.v1.Error', { code: err.code, message: err.message, lines: err.lines }, format);
    } catch {
      body = new Uint8Array();
    }
    const headers = replyHeaders(format);
    msg.respondError(
      err.code,
      headerSafe(err.message),
      body,
      headers ? ({ headers } as Parameters<ServiceMsg['respondError']>[3]) : undefined,
    );
  } catch {
    // As in respond().
  }
}

export { endpointSubject };
