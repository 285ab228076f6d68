/**
 * The client side of the mpiscsi NATS control API (DESIGN.md "Control plane (NATS)"): requests to
 * `mpiscsi.<hostId>.<access>.<group>.<verb>` with W3C trace context headers, replies decoded into the ControlApi
 * shapes, error replies and an unreachable daemon as ControlError, and decoded event subscriptions.
 */
import {
  AuthorizationError,
  connect,
  headers as natsHeaders,
  PermissionViolationError,
  type Msg,
  type NatsConnection,
  type NodeConnectionOptions,
  type Subscription,
} from '@nats-io/transport-node';
import { ENDPOINTS, EVENT_TYPES, HOST_ID_PATTERN, endpointSubject, type Endpoint } from './endpoints.js';
import { notConnected } from './errors.js';
import { ExitCode } from './exit-codes.js';
import { ControlError, type ControlApi, type HostEvent } from './api.js';
import { loadMessages, messageType } from './messages.js';
import { decodeBinary, encodeBinary } from './proto-binary.js';
import type { HeaderCarrier } from './trace.js';
import { CONTENT_TYPE_HEADER, eventSubject, JSON_CONTENT_TYPE, requestFormat, type WireFormat } from './wire.js';

/** A ControlApi method that is an endpoint. */
export type EndpointMethod = Endpoint['method'];
export type RequestOf<M extends EndpointMethod> = Parameters<ControlApi[M]>[0];
export type ResponseOf<M extends EndpointMethod> = Awaited<ReturnType<ControlApi[M]>>;
/** The daemon as a remote object: every endpoint as its ControlApi method. */
export type RemoteHost = Pick<ControlApi, EndpointMethod>;

export interface ControlClientOptions {
  /** The daemon's host id (subject token). */
  hostId: string;
  /** Reply timeout per request in ms; default 5000. */
  timeoutMs?: number;
  /** Send proto3 JSON instead of protobuf; default false. */
  json?: boolean;
}

export interface RequestOptions {
  json?: boolean;
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 5000;

const BY_METHOD = new Map<string, Endpoint>(ENDPOINTS.map((ep) => [ep.method, ep]));
/** `<group>.<verb>` -> its read or operate endpoint (the secrets ones are reached by method: nodeShowSecrets...). */
const BY_SUBJECT = new Map<string, Endpoint>(ENDPOINTS.filter((ep) => ep.access !== 'secrets').map((ep) => [`${ep.group}.${ep.verb}`, ep]));

/**
 * The key under which @opentelemetry/api 1.x keeps its global registrations (a context manager, a tracer
 * provider, ...), one object for every copy of the API of that major (its src/internal/global-utils.ts).
 */
const OTEL_API_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/**
 * Whether a context manager is registered with the OpenTelemetry API. Without one context.active() is always
 * the empty root context, so there is no span whose traceparent could be sent: the client then skips
 * trace.ts, and a process that set up no OpenTelemetry (mpiscsiadm) loads none of it (issue 17, start time).
 * A host with an SDK (mpiscsid, an application around this client) has one, and its context is sent.
 */
function traceContextRegistered(): boolean {
  const g = (globalThis as Record<symbol, { context?: unknown } | undefined>)[OTEL_API_GLOBAL];
  return g?.context !== undefined;
}

/** trace.ts (the OpenTelemetry API and W3C propagator) once a request has needed it. */
let traceModule: typeof import('./trace.js') | undefined;

/**
 * schema.ts (proto3 JSON, with @bufbuild/protobuf's index and every message file) once a JSON body has
 * needed it: protobuf bodies need only proto-binary.ts and the endpoint's own file (issue 17, start time).
 */
let schemaModule: typeof import('./schema.js') | undefined;

/** `data` encoded as `format`, as message `type` (its file loaded). */
async function encodeBody(type: string, body: unknown, format: WireFormat): Promise<Uint8Array> {
  if (format === 'protobuf') return encodeBinary(messageType(type), body);
  schemaModule ??= await import('./schema.js');
  return schemaModule.encodeJson(type, body);
}

/** A body as `format`, as message `type` (its file loaded); malformed bodies throw ControlDecodeError. */
async function decodeBody<T>(type: string, data: Uint8Array, format: WireFormat): Promise<T> {
  if (format === 'protobuf') return decodeBinary<T>(messageType(type), data);
  schemaModule ??= await import('./schema.js');
  return schemaModule.decodeJson<T>(type, data);
}

/** Where an event came from. */
export interface EventMeta {
  hostId: string;
  subject: string;
}

export class ControlClient {
  readonly hostId: string;
  private readonly timeoutMs: number;
  private readonly json: boolean;

  constructor(
    readonly nc: NatsConnection,
    opts: ControlClientOptions,
  ) {
    if (!HOST_ID_PATTERN.test(opts.hostId)) throw new ControlError(ExitCode.INVAL, `invalid host id ${JSON.stringify(opts.hostId)}`);
    this.hostId = opts.hostId;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.json = opts.json ?? false;
  }

  /**
   * Connects and returns a client that owns the connection (close() closes it). A server that refuses or
   * is not there is ControlError 20 (ISCSID_NOTCONN); rejected credentials are ControlError 13 (ACCESS).
   */
  static async connect(natsOptions: NodeConnectionOptions, opts: ControlClientOptions): Promise<ControlClient> {
    let nc: NatsConnection;
    try {
      nc = await connect(natsOptions);
    } catch (err) {
      throw connectError(err);
    }
    const client = new ControlClient(nc, opts);
    client.owned = true;
    return client;
  }

  private owned = false;

  /** Closes the connection if connect() opened it. */
  async close(): Promise<void> {
    if (this.owned && !this.nc.isClosed()) await this.nc.close();
  }

  /** One request to `<group>.<verb>`; resolves to the decoded reply. */
  async request(group: string, verb: string, body: unknown, opts: RequestOptions = {}): Promise<unknown> {
    const ep = BY_SUBJECT.get(`${group}.${verb}`);
    if (!ep) throw new ControlError(ExitCode.INVAL, `unknown control endpoint ${group}.${verb}`);
    return this.send(ep, body, opts);
  }

  /** One request by ControlApi method name, typed: client.call('nodeLogin', { filter }). */
  async call<M extends EndpointMethod>(method: M, req: RequestOf<M>, opts: RequestOptions = {}): Promise<ResponseOf<M>> {
    const ep = BY_METHOD.get(method);
    if (!ep) throw new ControlError(ExitCode.INVAL, `unknown control method ${method}`);
    return (await this.send(ep, req, opts)) as ResponseOf<M>;
  }

  /** The daemon as an object with the ControlApi methods, each one request. */
  remote(opts: RequestOptions = {}): RemoteHost {
    const out: Record<string, (req: unknown) => Promise<unknown>> = {};
    for (const ep of ENDPOINTS) out[ep.method] = (req) => this.send(ep, req, opts);
    return out as unknown as RemoteHost;
  }

  private async send(ep: Endpoint, body: unknown, opts: RequestOptions): Promise<unknown> {
    const format: WireFormat = (opts.json ?? this.json) ? 'json' : 'protobuf';
    // The messages of this endpoint only, not the whole API (issue 17, start time).
    await loadMessages(ep.group);
    let data: Uint8Array;
    try {
      data = await encodeBody(ep.request, body ?? {}, format);
    } catch (err) {
      throw new ControlError(ExitCode.INVAL, `invalid ${ep.request}: ${(err as Error).message}`, [], { cause: err });
    }
    const h = natsHeaders();
    if (format === 'json') h.set(CONTENT_TYPE_HEADER, JSON_CONTENT_TYPE);
    if (traceContextRegistered()) {
      traceModule ??= await import('./trace.js');
      traceModule.injectTraceContext(h as unknown as HeaderCarrier);
    }
    let reply: Msg;
    try {
      reply = await this.nc.request(endpointSubject(this.hostId, ep), data, { timeout: opts.timeoutMs ?? this.timeoutMs, headers: h });
    } catch (err) {
      throw requestError(err);
    }
    const replyFormat = requestFormat(reply.headers);
    const code = reply.headers?.get('Nats-Service-Error-Code');
    if (code) throw await errorReply(reply, Number(code), replyFormat);
    try {
      return await decodeBody(ep.response, reply.data, replyFormat);
    } catch (err) {
      throw new ControlError(ExitCode.ISCSID_COMM_ERR, `invalid reply from mpiscsid: ${(err as Error).message}`, [], { cause: err });
    }
  }

  /**
   * Calls `cb` with each event of `kind` ('*' for every kind) from host `hostId` ('*' for every host).
   * Undecodable events go to `onError`. Returns the subscription (unsubscribe() to stop).
   */
  subscribeEvents(
    hostId: string,
    kind: HostEvent['kind'] | '*',
    cb: (event: HostEvent, meta: EventMeta) => void,
    onError: (err: Error) => void = () => {},
  ): Subscription {
    // The events' messages load with the first subscription; each event is handled after that, in order.
    let ready: Promise<void> = loadMessages('events').catch((e: Error) => onError(e));
    const handle = (msg: Msg): void => {
      // mpiscsi.<hostId>.events.<kind>
      const tokens = msg.subject.split('.');
      const k = tokens[3] as HostEvent['kind'];
      const type = EVENT_TYPES[k];
      if (!type) return onError(new Error(`event of unknown kind on ${msg.subject}`));
      let event: unknown;
      try {
        event = decodeBinary(messageType(type), msg.data);
      } catch (e) {
        return onError(e as Error);
      }
      try {
        cb({ kind: k, event } as HostEvent, { hostId: tokens[1]!, subject: msg.subject });
      } catch (e) {
        onError(e as Error);
      }
    };
    return this.nc.subscribe(eventSubject(hostId, kind), {
      callback: (err, msg) => {
        if (err) return onError(err);
        ready = ready.then(() => handle(msg));
      },
    });
  }
}

/** An error reply: mpiscsi.v1.Error in the body, the code and message also in the service headers. */
async function errorReply(reply: Msg, headerCode: number, format: WireFormat): Promise<ControlError> {
  const headerMessage = reply.headers?.get('Nats-Service-Error') ?? '';
  let body: { code?: number; message?: string; lines?: string[] } = {};
  if (reply.data.length > 0) {
    try {
      body = await decodeBody('mpiscsi.v1.Error', reply.data, format);
    } catch {
      // The headers alone still say what failed.
    }
  }
  let code = body.code || headerCode;
  // Codes outside iscsiadm's range (the services framework's 500 for a handler that threw) are INTERNAL.
  if (!Number.isInteger(code) || code < 1 || code > 255) code = ExitCode.INTERNAL;
  return new ControlError(code, body.message || headerMessage || 'error reply from mpiscsid', body.lines ?? []);
}

/** A failed request: the daemon is unreachable unless NATS refused us permission. */
function requestError(err: unknown): ControlError {
  if (err instanceof ControlError) return err;
  if (err instanceof PermissionViolationError || (err instanceof Error && err.cause instanceof PermissionViolationError)) {
    return new ControlError(ExitCode.ACCESS, `NATS permission denied: ${(err as Error).message}`, [], { cause: err });
  }
  return notConnected(err, `NATS: ${(err as Error)?.message ?? String(err)}`);
}

/** A failed connect: bad credentials are ACCESS, anything else is an unreachable daemon. */
export function connectError(err: unknown): ControlError {
  if (err instanceof AuthorizationError || (err instanceof Error && /authorization/i.test(err.message))) {
    return new ControlError(ExitCode.ACCESS, `NATS authorization failed: ${err.message}`, [], { cause: err });
  }
  return notConnected(err, `NATS: ${(err as Error)?.message ?? String(err)}`);
}
