/**
 * The NATS control service and client (src/control/service.ts, client.ts) against a real nats-server:
 * every endpoint over protobuf and JSON, error replies and their codes, $SRV discovery, events, trace
 * context propagation, and requests working again after the server restarts.
 */
import { connect, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type ServiceInfo } from '@nats-io/services';
import {
  context,
  createTraceState,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { ENDPOINTS, endpointSubject } from '../../src/control/endpoints.js';
import { ControlError, type HostEvent } from '../../src/control/api.js';
import { natsConnectionOptions } from '../../src/control/nats-options.js';
import { decodeMessage, encodeMessage } from '../../src/control/schema.js';
import { startControlService, type RunningControlService } from '../../src/control/service.js';
import { NatsServer } from '../support/nats-server.js';
import { freePort } from '../support/ports.js';
import { AlsContextManager, nextStatus, RecordingHost, sample } from './helpers.js';

const HOST_ID = 'h1';
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

let server: NatsServer;
let serviceNc: NatsConnection;
let clientNc: NatsConnection;
let host: RecordingHost;
let running: RunningControlService;
let client: ControlClient;

beforeAll(async () => {
  server = await NatsServer.start();
  serviceNc = await connect(natsConnectionOptions({ servers: server.url, name: 'test-service' }));
  clientNc = await connect(natsConnectionOptions({ servers: server.url, name: 'test-client' }));
  host = new RecordingHost();
  running = await startControlService(serviceNc, host, { hostId: HOST_ID });
  await serviceNc.flush();
  client = new ControlClient(clientNc, { hostId: HOST_ID, timeoutMs: 5000 });
});

afterAll(async () => {
  await running?.stop();
  await clientNc?.close();
  await serviceNc?.close();
  await server?.stop();
});

afterEach(() => {
  host.calls.length = 0;
  host.replies.clear();
});

/** A raw request whose reply must be an error; returns the code header and the decoded Error body. */
async function rawError(
  subject: string,
  body: Uint8Array,
  json: boolean,
): Promise<{ code: number; header: string; body: Record<string, unknown> }> {
  const h = natsHeaders();
  if (json) h.set('Content-Type', 'application/json');
  const reply: Msg = await clientNc.request(subject, body, { timeout: 5000, headers: h });
  const code = Number(reply.headers?.get('Nats-Service-Error-Code'));
  return {
    code,
    header: reply.headers?.get('Nats-Service-Error') ?? '',
    body: decodeMessage('mpiscsi.v1.Error', reply.data, json ? 'json' : 'protobuf'),
  };
}

describe('every endpoint', () => {
  for (const json of [false, true]) {
    it.each(ENDPOINTS.map((ep) => [`${ep.access}.${ep.group}.${ep.verb}`, ep] as const))(
      `%s answers over ${json ? 'JSON' : 'protobuf'}`,
      async (_name, ep) => {
        const req = sample(ep.request, 'req');
        const res = await client.call(ep.method, req as never, { json });
        expect(res).toEqual(sample(ep.response, ep.method));
        expect(host.calls).toHaveLength(1);
        expect(host.calls[0]!.method).toBe(ep.method);
        expect(host.calls[0]!.req).toEqual(req);
      },
    );
  }

  it('has typed calls and a remote host object', async () => {
    const res = await client.call('nodeLogin', { filter: { target: 'iqn.2026-01.test:t1' }, startup: '' });
    expect(res.results[0]!.message).toBe('nodeLogin-message');
    expect(host.calls[0]!.req).toEqual({
      filter: { target: 'iqn.2026-01.test:t1', address: '', port: 0, iface: '' },
      startup: '',
      all: false,
    });
    const remote = client.remote({ json: true });
    const list = await remote.mpathList({ device: 'mpatha' });
    expect(list.devices[0]!.sizeBytes).toBe(2 ** 40 + 7);
    expect(host.calls[1]).toMatchObject({ method: 'mpathList', req: { device: 'mpatha' } });
  });

  it('answers JSON requests with a JSON body and Content-Type', async () => {
    const h = natsHeaders();
    h.set('Content-Type', 'application/json');
    const reply = await clientNc.request(endpointSubject(HOST_ID, { access: 'read', group: 'session', verb: 'stats' }), utf8('{"sid":3}'), {
      headers: h,
      timeout: 5000,
    });
    expect(reply.headers?.get('Content-Type')).toBe('application/json');
    const body = JSON.parse(reply.string()) as { stats: Array<Record<string, number>> };
    expect(body.stats[0]!.txdataOctets).toBe(2 ** 40 + 7);
    expect(host.calls[0]!.req).toEqual({ sid: 3, showSecrets: false, all: false });
  });
});

describe('error replies', () => {
  const login = endpointSubject(HOST_ID, { access: 'operate', group: 'node', verb: 'login' });

  it('a malformed protobuf body is INVAL (7)', async () => {
    const r = await rawError(login, new Uint8Array([0x0a, 0x09, 0x01]), false);
    expect(r.code).toBe(7);
    expect(r.body.code).toBe(7);
    expect(r.body.message).toMatch(/malformed protobuf mpiscsi.v1.NodeLoginRequest/);
    expect(r.header).toBe(r.body.message);
    expect(host.calls).toHaveLength(0);
  });

  it('a protobuf body with a field numbered above the schema (a newer client) is served, the field skipped (proto3)', async () => {
    const body = new Uint8Array([...encodeMessage('mpiscsi.v1.NodeLoginRequest', { startup: 'all' }), 0x98, 0x06, 0x01]);
    const reply: Msg = await clientNc.request(login, body, { timeout: 5000, headers: natsHeaders() });
    expect(reply.headers?.get('Nats-Service-Error-Code') ?? '').toBe('');
    expect(decodeMessage('mpiscsi.v1.NodeLoginResponse', reply.data).results).toBeDefined();
    expect(host.calls).toHaveLength(1);
    expect(host.calls[0]!.req).toMatchObject({ startup: 'all' });
  });

  it('an unknown field with a group wire type is still malformed: INVAL (7)', async () => {
    const body = new Uint8Array([...encodeMessage('mpiscsi.v1.NodeLoginRequest', { startup: 'all' }), 0x9b, 0x06]);
    const r = await rawError(login, body, false);
    expect(r.code).toBe(7);
    expect(r.body.message).toMatch(/malformed protobuf .*wire type 3/);
    expect(host.calls).toHaveLength(0);
  });

  it('malformed JSON is INVAL (7), answered in JSON', async () => {
    const r = await rawError(login, utf8('{"filter": {'), true);
    expect(r.code).toBe(7);
    expect(r.body.message).toMatch(/malformed JSON mpiscsi.v1.NodeLoginRequest/);
  });

  it('JSON with an unknown field is INVAL (7)', async () => {
    const r = await rawError(login, utf8('{"filter":{"target":"t"},"sartup":"all"}'), true);
    expect(r.code).toBe(7);
    expect(r.body.message).toMatch(/unknown field "sartup"/);
    expect(host.calls).toHaveLength(0);
  });

  it('the client turns an error reply into ControlError with code, message and lines', async () => {
    host.replies.set('nodeLogin', () => {
      throw new ControlError(15, 'session exists', ['iface0: 1 session requested, but 1 already present.']);
    });
    for (const json of [false, true]) {
      const err = await client.request('node', 'login', {}, { json }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ControlError);
      expect(err).toMatchObject({ code: 15, message: 'session exists', lines: ['iface0: 1 session requested, but 1 already present.'] });
    }
  });

  it('any other host exception is INTERNAL (9) with its message; nothing escapes the handler', async () => {
    host.replies.set('sessionList', () => {
      throw new TypeError('boom');
    });
    host.replies.set('sessionShow', () => {
      // eslint-disable-next-line @typescript-eslint/only-throw-error
      throw 'a string';
    });
    host.replies.set('ifaceList', () => ({ ifaces: 'not an array' }));
    await expect(client.call('sessionList', {})).rejects.toMatchObject({ code: 9, message: 'boom' });
    await expect(client.call('sessionShow', {})).rejects.toMatchObject({ code: 9, message: 'a string' });
    await expect(client.call('ifaceList', {})).rejects.toMatchObject({ code: 9, message: expect.stringMatching(/could not encode/) });
    // The service still answers.
    await expect(client.call('exportList', {})).resolves.toMatchObject({ exports: [expect.anything(), expect.anything()] });
  });

  it('a message with newlines still makes a valid header, the body keeps it whole', async () => {
    host.replies.set('nodeDelete', () => {
      throw new ControlError(21, 'No records found\nsecond line');
    });
    const r = await rawError(endpointSubject(HOST_ID, { access: 'operate', group: 'node', verb: 'delete' }), new Uint8Array(), false);
    expect(r.code).toBe(21);
    expect(r.header).toBe('No records found second line');
    expect(r.body.message).toBe('No records found\nsecond line');
  });

  it('no service for the host id is ISCSID_NOTCONN (20)', async () => {
    const other = new ControlClient(clientNc, { hostId: 'nobody', timeoutMs: 2000 });
    const err = (await other.call('sessionList', {}).catch((e: unknown) => e)) as ControlError;
    expect(err).toBeInstanceOf(ControlError);
    expect(err.code).toBe(20);
    expect(err.message).toBe('can not connect to iSCSI daemon (mpiscsid is not running)!');
  });

  it('a host that never answers is ISCSID_NOTCONN (20) after the timeout', async () => {
    host.replies.set('mpathShow', () => new Promise(() => {}));
    await expect(client.call('mpathShow', {}, { timeoutMs: 300 })).rejects.toMatchObject({ code: 20 });
  });

  it('a server that refuses the connection is ISCSID_NOTCONN (20)', async () => {
    const port = await freePort();
    const err = await ControlClient.connect(natsConnectionOptions({ servers: `127.0.0.1:${port}`, maxReconnectAttempts: 0 }), {
      hostId: HOST_ID,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
    expect(err).toMatchObject({ code: 20, message: 'can not connect to iSCSI daemon (mpiscsid is not running)!' });
  });

  it('an unknown endpoint is INVAL (7) without a request', async () => {
    await expect(client.request('node', 'explode', {})).rejects.toMatchObject({ code: 7 });
  });
});

describe('service discovery', () => {
  it('$SRV.PING and $SRV.INFO list the service and every endpoint', async () => {
    const svc = new Svcm(clientNc as unknown as ConstructorParameters<typeof Svcm>[0]).client();
    const pings = [];
    for await (const p of await svc.ping('mpiscsi')) pings.push(p);
    expect(pings.map((p) => p.id)).toContain(running.id);
    const infos: ServiceInfo[] = [];
    for await (const i of await svc.info('mpiscsi')) infos.push(i);
    const info = infos.find((i) => i.id === running.id)!;
    expect(info.name).toBe('mpiscsi');
    expect(info.metadata).toMatchObject({ host_id: HOST_ID });
    const subjects = info.endpoints.map((e) => e.subject).sort();
    expect(subjects).toEqual(ENDPOINTS.map((ep) => endpointSubject(HOST_ID, ep)).sort());
    const login = info.endpoints.find((e) => e.subject === 'mpiscsi.h1.operate.node.login')!;
    expect(login.metadata).toEqual({ request: 'mpiscsi.v1.NodeLoginRequest', response: 'mpiscsi.v1.NodeLoginResponse' });
  });
});

describe('events', () => {
  it('host events are published per kind and decoded by subscribeEvents', async () => {
    const got: Array<{ e: HostEvent; hostId: string; subject: string }> = [];
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    const sub = client.subscribeEvents(HOST_ID, '*', (e, meta) => {
      got.push({ e, ...meta });
      if (got.length === 3) done();
    });
    const onlyPath: HostEvent[] = [];
    const sub2 = client.subscribeEvents('*', 'path', (e) => onlyPath.push(e));
    await clientNc.flush();
    const session = sample('mpiscsi.v1.SessionEvent') as never;
    const path = sample('mpiscsi.v1.PathEvent') as never;
    const mpath = sample('mpiscsi.v1.MpathEvent') as never;
    host.emit({ kind: 'session', event: session });
    host.emit({ kind: 'path', event: path });
    host.emit({ kind: 'mpath', event: mpath });
    await all;
    await clientNc.flush();
    expect(got).toEqual([
      { e: { kind: 'session', event: session }, hostId: HOST_ID, subject: 'mpiscsi.h1.events.session' },
      { e: { kind: 'path', event: path }, hostId: HOST_ID, subject: 'mpiscsi.h1.events.path' },
      { e: { kind: 'mpath', event: mpath }, hostId: HOST_ID, subject: 'mpiscsi.h1.events.mpath' },
    ]);
    expect(onlyPath).toEqual([{ kind: 'path', event: path }]);
    sub.unsubscribe();
    sub2.unsubscribe();
  });
});

describe('trace context', () => {
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const spanId = 'b7ad6b7169203331';
  let mgr: AlsContextManager;

  beforeAll(() => {
    mgr = new AlsContextManager();
    context.setGlobalContextManager(mgr);
  });
  afterAll(() => {
    context.disable();
  });

  it('a traceparent header is the active span context inside the host method', async () => {
    const h = natsHeaders();
    h.set('traceparent', `00-${traceId}-${spanId}-01`);
    h.set('tracestate', 'vendor=abc');
    const reply = await clientNc.request(endpointSubject(HOST_ID, { access: 'read', group: 'node', verb: 'list' }), new Uint8Array(), {
      headers: h,
      timeout: 5000,
    });
    expect(reply.headers?.get('Nats-Service-Error-Code') ?? '').toBe('');
    const span = host.calls[0]!.span!;
    expect(span).toMatchObject({ traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    expect(span.traceState?.get('vendor')).toBe('abc');
  });

  it('the client sends the active span context and the host sees it', async () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId,
      traceFlags: TraceFlags.SAMPLED,
      traceState: createTraceState('k=v'),
    });
    await context.with(parent, () => client.call('ifaceList', {}));
    expect(host.calls[0]!.span).toMatchObject({ traceId, spanId, isRemote: true });
    expect(host.calls[0]!.span!.traceState?.get('k')).toBe('v');
  });

  it('without a traceparent the host runs outside any trace', async () => {
    await client.call('ifaceList', {});
    // Without an SDK the service's server span is a non-recording one with an invalid context.
    const span = host.calls[0]!.span;
    expect(span === undefined || !isSpanContextValid(span)).toBe(true);
  });
});

describe('trace context with a recording tracer and no context manager', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const spanId = '00f067aa0ba902b7';
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const h3 = new RecordingHost();
  let s3: RunningControlService;

  beforeAll(async () => {
    s3 = await startControlService(serviceNc, h3, { hostId: 'h3', tracer: provider.getTracer('test') });
    await serviceNc.flush();
  });
  afterAll(() => s3.stop());

  it('records a SERVER span under the caller, and the host finds it through activeRequestContext()', async () => {
    h3.replies.set('nodeLogout', () => {
      throw new ControlError(21, 'No matching sessions found');
    });
    for (const verb of ['list', 'logout']) {
      const h = natsHeaders();
      h.set('traceparent', `00-${traceId}-${spanId}-01`);
      await clientNc.request(
        endpointSubject('h3', { access: verb === 'list' ? 'read' : 'operate', group: 'node', verb }),
        new Uint8Array(),
        { headers: h, timeout: 5000 },
      );
    }
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(['node.list', 'node.logout']);
    for (const s of spans) {
      expect(s.kind).toBe(SpanKind.SERVER);
      expect(s.spanContext().traceId).toBe(traceId);
      expect(s.parentSpanContext?.spanId).toBe(spanId);
    }
    expect(spans[0]!.attributes).toMatchObject({ 'rpc.system': 'nats', 'rpc.service': 'mpiscsi', 'rpc.method': 'node.list' });
    expect(spans[1]!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'No matching sessions found' });
    expect(spans[1]!.attributes['mpiscsi.exit_code']).toBe(21);
    // No global context manager here: context.active() is empty inside the host, activeRequestContext() is not.
    expect(h3.calls.map((c) => c.requestSpan?.spanId)).toEqual(spans.map((s) => s.spanContext().spanId));
    expect(h3.calls[0]!.span === undefined || !isSpanContextValid(h3.calls[0]!.span)).toBe(true);
  });
});

describe('nats-server restart', () => {
  it('requests and events work again once both connections have reconnected', async () => {
    await expect(client.call('sessionList', {})).resolves.toBeDefined();
    const serviceBack = nextStatus(serviceNc, 'reconnect');
    const clientBack = nextStatus(clientNc, 'reconnect');
    await server.restart();
    await Promise.all([serviceBack, clientBack]);
    // The service's subscriptions were re-sent on reconnect; a PONG means the server has processed them.
    await serviceNc.flush();
    host.calls.length = 0;
    await expect(client.call('sessionList', { sid: 4 })).resolves.toMatchObject({ sessions: [expect.anything(), expect.anything()] });
    expect(host.calls).toMatchObject([{ method: 'sessionList', req: { sid: 4 } }]);
    expect(running.service.isStopped).toBe(false);

    let got!: (e: HostEvent) => void;
    const event = new Promise<HostEvent>((r) => (got = r));
    const sub = client.subscribeEvents(HOST_ID, 'mpath', (e) => got(e));
    await clientNc.flush();
    host.emit({
      kind: 'mpath',
      event: { device: 'mpatha', kind: 'gate', from: 'open', to: 'queueing', reason: 'no path', detail: '', atMs: 1 },
    });
    await expect(event).resolves.toMatchObject({ kind: 'mpath', event: { device: 'mpatha', to: 'queueing' } });
    sub.unsubscribe();
  });
});

describe('stop', () => {
  it('stop() unsubscribes from host events and ends the service', async () => {
    const h2 = new RecordingHost();
    const s2 = await startControlService(serviceNc, h2, { hostId: 'h2', version: '1.2.3' });
    expect(h2.listenerCount).toBe(1);
    await s2.stop();
    expect(h2.listenerCount).toBe(0);
    expect(s2.service.isStopped).toBe(true);
    await expect(new ControlClient(clientNc, { hostId: 'h2', timeoutMs: 1000 }).call('ifaceList', {})).rejects.toMatchObject({ code: 20 });
  });

  it('rejects a host id that is not one subject token', async () => {
    await expect(startControlService(serviceNc, new RecordingHost(), { hostId: 'a.b' })).rejects.toMatchObject({ code: 7 });
  });
});
