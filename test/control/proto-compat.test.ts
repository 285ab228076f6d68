/**
 * Rolling upgrades over the real control service and a real nats-server: a client one schema version newer
 * (a temporary copy of proto/ with added fields, built by `buf build` and encoded by @bufbuild/protobuf from
 * that image) is served by today's daemon, its new fields skipped as proto3 wants; a newer daemon's reply with
 * a field today's client does not know decodes; every endpoint takes a request carrying a field numbered above
 * its schema's, of each proto3 wire type. proto3 JSON stays strict: there an unknown key is an error.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { create, createFileRegistry, fromBinary, toBinary, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { connect, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { ENDPOINTS, endpointSubject } from '../../src/control/endpoints.js';
import { natsConnectionOptions } from '../../src/control/nats-options.js';
import { decodeMessage, encodeMessage, messageType } from '../../src/control/schema.js';
import { startControlService, type RunningControlService } from '../../src/control/service.js';
import { NatsServer } from '../support/nats-server.js';
import { RecordingHost, sample } from './helpers.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUF = join(ROOT, 'node_modules', '.bin', 'buf');
const HOST_ID = 'compat';

let server: NatsServer;
let serviceNc: NatsConnection;
let clientNc: NatsConnection;
let host: RecordingHost;
let running: RunningControlService;
let temp: string;
/** The schema one version newer: NodeLoginRequest.note = 4, NodeLoginResponse.server_note = 2, LoginResult.attempts = 5. */
let newer: FileRegistry;

/** proto/ with `edits` applied in a temporary copy, built by buf into an image and loaded as a registry. */
async function newerSchema(edits: Array<[file: string, from: string, to: string]>): Promise<FileRegistry> {
  const dir = join(temp, 'proto-next');
  await cp(join(ROOT, 'proto'), join(dir, 'proto'), { recursive: true });
  await cp(join(ROOT, 'buf.yaml'), join(dir, 'buf.yaml'));
  for (const [file, from, to] of edits) {
    const path = join(dir, 'proto/mpiscsi/v1', file);
    const text = await readFile(path, 'utf8');
    if (!text.includes(from)) throw new Error(`${file} no longer has ${JSON.stringify(from)}`);
    await writeFile(path, text.replace(from, to));
  }
  const image = join(dir, 'image.binpb');
  await run(BUF, ['build', '-o', image], { cwd: dir, timeout: 60_000 });
  // A buf image is a FileDescriptorSet on the wire (buf's additions are fields the set does not have).
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, await readFile(image)));
}

const newerType = (name: string): DescMessage => {
  const t = newer.getMessage(name);
  if (!t) throw new Error(`newer schema has no ${name}`);
  return t;
};

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'mpiscsi-proto-compat-'));
  newer = await newerSchema([
    [
      'node.proto',
      '  bool all = 3;\n}\n\nmessage NodeLoginResponse {\n  repeated LoginResult results = 1;\n',
      '  bool all = 3;\n  string note = 4;\n}\n\nmessage NodeLoginResponse {\n  repeated LoginResult results = 1;\n  string server_note = 2;\n',
    ],
    ['discovery.proto', '  string message = 4;\n}', '  string message = 4;\n  uint32 attempts = 5;\n}'],
  ]);
  server = await NatsServer.start();
  serviceNc = await connect(natsConnectionOptions({ servers: server.url, name: 'compat-service' }));
  clientNc = await connect(natsConnectionOptions({ servers: server.url, name: 'compat-client' }));
  host = new RecordingHost();
  running = await startControlService(serviceNc, host, { hostId: HOST_ID });
  await serviceNc.flush();
});

afterAll(async () => {
  await running?.stop();
  await clientNc?.close();
  await serviceNc?.close();
  await server?.stop();
  if (temp) await rm(temp, { recursive: true, force: true });
});

afterEach(() => {
  host.calls.length = 0;
  host.replies.clear();
});

const login = endpointSubject(HOST_ID, { access: 'operate', group: 'node', verb: 'login' });
const errorCode = (m: Msg): string => m.headers?.get('Nats-Service-Error-Code') ?? '';

describe('a client one version newer', () => {
  it('has a schema that really is newer: the added fields are there and numbered above ours', () => {
    const t = newerType('mpiscsi.v1.NodeLoginRequest');
    expect(t.fields.map((f) => f.number)).toEqual([1, 2, 3, 4]);
    expect(messageType('mpiscsi.v1.NodeLoginRequest').fields.map((f) => f.number)).toEqual([1, 2, 3]);
  });

  it('is served: the new field is skipped, the known ones reach the host', async () => {
    const T = newerType('mpiscsi.v1.NodeLoginRequest');
    const body = toBinary(T, create(T, { filter: { target: 'iqn.2026-01.test:t1' }, startup: 'all', note: 'sent by v2' } as never));
    const reply = await clientNc.request(login, body, { timeout: 5000, headers: natsHeaders() });
    expect(errorCode(reply)).toBe('');
    expect(decodeMessage<{ results: unknown[] }>('mpiscsi.v1.NodeLoginResponse', reply.data).results).toEqual(
      sample('mpiscsi.v1.NodeLoginResponse', 'nodeLogin').results,
    );
    expect(host.calls).toHaveLength(1);
    expect(host.calls[0]!.req).toEqual({
      filter: { target: 'iqn.2026-01.test:t1', address: '', port: 0, iface: '' },
      startup: 'all',
      all: false,
    });
  });

  it('sending the new field as proto3 JSON is refused: JSON stays strict (INVAL, 7)', async () => {
    const h = natsHeaders();
    h.set('Content-Type', 'application/json');
    const reply = await clientNc.request(login, new TextEncoder().encode('{"startup":"all","note":"sent by v2"}'), {
      timeout: 5000,
      headers: h,
    });
    expect(errorCode(reply)).toBe('7');
    expect(decodeMessage<{ message: string }>('mpiscsi.v1.Error', reply.data, 'json').message).toMatch(/unknown field "note"/);
    expect(host.calls).toHaveLength(0);
  });
});

describe('a daemon one version newer', () => {
  it("answers with fields today's client does not know, nested too; the client decodes the reply", async () => {
    const R = newerType('mpiscsi.v1.NodeLoginResponse');
    const reply = toBinary(
      R,
      create(R, {
        results: [
          {
            node: { target: 'iqn.2026-01.test:t1', portal: { address: '127.0.0.1', port: 3260, tpgt: 1 }, iface: 'default' },
            sid: 4,
            attempts: 2,
          },
        ],
        serverNote: 'from v2',
      } as never),
    );
    const sub = clientNc.subscribe(endpointSubject('next', { access: 'operate', group: 'node', verb: 'login' }), {
      callback: (_err, msg) => {
        msg.respond(reply);
      },
    });
    try {
      await clientNc.flush();
      const client = new ControlClient(clientNc, { hostId: 'next', timeoutMs: 5000 });
      const res = await client.call('nodeLogin', { startup: 'all' });
      expect(res).toEqual({
        results: [
          {
            node: { target: 'iqn.2026-01.test:t1', portal: { address: '127.0.0.1', port: 3260, tpgt: 1 }, iface: 'default' },
            sid: 4,
            code: 0,
            message: '',
          },
        ],
      });
    } finally {
      sub.unsubscribe();
    }
  });
});

describe('every endpoint', () => {
  // Field numbered one above the request's highest, once per proto3 wire type: varint, 64-bit, LEN, 32-bit.
  const extras = (n: number): Record<string, number[]> => {
    const tag = (wt: number): number[] => varint((n << 3) | wt);
    return {
      varint: [...tag(0), 0x96, 0x01],
      i64: [...tag(1), 1, 2, 3, 4, 5, 6, 7, 8],
      len: [...tag(2), 0x02, 0x61, 0x62],
      i32: [...tag(5), 1, 2, 3, 4],
    };
  };

  it.each(ENDPOINTS.map((ep) => [`${ep.access}.${ep.group}.${ep.verb}`, ep] as const))(
    '%s serves a request with an extra field above its schema (each wire type)',
    async (_name, ep) => {
      const fields = messageType(ep.request).fields;
      const above = Math.max(0, ...fields.map((f) => f.number)) + 1;
      const req = sample(ep.request, 'req');
      for (const [kind, extra] of Object.entries(extras(above))) {
        host.calls.length = 0;
        const body = new Uint8Array([...encodeMessage(ep.request, req), ...extra]);
        const reply = await clientNc.request(endpointSubject(HOST_ID, ep), body, { timeout: 5000, headers: natsHeaders() });
        expect(errorCode(reply), `${kind}: ${reply.headers?.get('Nats-Service-Error') ?? ''}`).toBe('');
        expect(decodeMessage(ep.response, reply.data)).toEqual(sample(ep.response, ep.method));
        expect(host.calls.map((c) => c.req)).toEqual([req]);
      }
    },
  );
});

/** The protobuf varint of a non-negative integer below 2^31. */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
