/**
 * NATS connection settings (src/control/nats-options.ts) against real nats-servers requiring a password,
 * a token, an nkey or TLS with client certificates, plus the option builder's own checks: one auth method,
 * secrets from files and environment variables, never in the options object or the log summary.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlClient } from '../../src/control/client.js';
import { ControlError } from '../../src/control/api.js';
import { describeNatsSettings, natsConnectionOptions, parseServers, type NatsSettings } from '../../src/control/nats-options.js';
import { startControlService } from '../../src/control/service.js';
import { NatsServer } from '../support/nats-server.js';
import { RecordingHost } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-nats-auth-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secretFile(name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
}

/** Starts a service with `settings` and calls it through a client with the same settings, then cleans up. */
async function roundTrip(settings: NatsSettings, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const serviceNc: NatsConnection = await connect(natsConnectionOptions(settings, env));
  const running = await startControlService(serviceNc, new RecordingHost(), { hostId: 'auth' });
  await serviceNc.flush();
  const client = await ControlClient.connect(natsConnectionOptions(settings, env), { hostId: 'auth' });
  try {
    await expect(client.call('ifaceList', {})).resolves.toMatchObject({ ifaces: [expect.anything(), expect.anything()] });
  } finally {
    await client.close();
    await running.stop();
    await serviceNc.close();
  }
}

describe('user and password', () => {
  let server: NatsServer;
  const password = 'pw-with "quotes" and spaces';
  beforeAll(async () => {
    server = await NatsServer.start({ user: { name: 'mpiscsi', password: 'correct-horse' }, jetstream: false });
  });
  afterAll(() => server.stop());

  it('works with the password from a file and from $MPISCSI_NATS_PASSWORD', async () => {
    await roundTrip({ servers: server.url, user: 'mpiscsi', passwordFile: secretFile('pw', 'correct-horse\n') });
    await roundTrip({ servers: server.url, user: 'mpiscsi' }, { MPISCSI_NATS_PASSWORD: 'correct-horse' });
  });

  it('a wrong password fails clearly, as ACCESS (13), without the password in the message', async () => {
    const err = (await ControlClient.connect(
      natsConnectionOptions({ servers: server.url, user: 'mpiscsi', password, maxReconnectAttempts: 0 }),
      { hostId: 'auth' },
    ).catch((e: unknown) => e)) as ControlError;
    expect(err).toBeInstanceOf(ControlError);
    expect(err.code).toBe(13);
    expect(err.message).toMatch(/NATS authorization failed: .*authorization violation/i);
    expect(err.message).not.toContain(password);
  });

  it('no credentials at all fails the same way', async () => {
    await expect(
      ControlClient.connect(natsConnectionOptions({ servers: server.url, maxReconnectAttempts: 0 }, {}), { hostId: 'auth' }),
    ).rejects.toMatchObject({ code: 13 });
  });
});

describe('token', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start({ token: 's3cr3t-token', jetstream: false });
  });
  afterAll(() => server.stop());

  it('works from a token file and from $MPISCSI_NATS_TOKEN', async () => {
    await roundTrip({ servers: server.url, tokenFile: secretFile('token', 's3cr3t-token\n') });
    await roundTrip({ servers: server.url }, { MPISCSI_NATS_TOKEN: 's3cr3t-token' });
  });

  it('a wrong token is ACCESS (13)', async () => {
    await expect(
      ControlClient.connect(natsConnectionOptions({ servers: server.url, token: 'nope', maxReconnectAttempts: 0 }), { hostId: 'auth' }),
    ).rejects.toMatchObject({ code: 13 });
  });
});

describe('nkey', () => {
  const user = createUser();
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start({ nkey: user.getPublicKey(), jetstream: false });
  });
  afterAll(() => server.stop());

  it('authenticates with a seed file', async () => {
    await roundTrip({ servers: server.url, nkeySeedFile: secretFile('user.nk', `${new TextDecoder().decode(user.getSeed())}\n`) });
  });

  it('another key is refused', async () => {
    const other = secretFile('other.nk', new TextDecoder().decode(createUser().getSeed()));
    await expect(
      ControlClient.connect(natsConnectionOptions({ servers: server.url, nkeySeedFile: other, maxReconnectAttempts: 0 }), {
        hostId: 'auth',
      }),
    ).rejects.toMatchObject({ code: 13 });
  });
});

describe('TLS with client certificates', () => {
  let server: NatsServer;
  let certs: { ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string };

  beforeAll(async () => {
    const d = mkdtempSync(join(dir, 'pki-'));
    const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: d, stdio: 'ignore' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=mpiscsi test CA');
    // nats.js sends no SNI for an IP address, so Node checks the certificate against "localhost".
    for (const [name, ext] of [
      ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'],
      ['client', 'extendedKeyUsage=clientAuth\n'],
    ] as const) {
      ssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      writeFileSync(join(d, `${name}.ext`), ext);
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
      );
    }
    certs = {
      ca: join(d, 'ca.pem'),
      serverCert: join(d, 'server.pem'),
      serverKey: join(d, 'server.key'),
      clientCert: join(d, 'client.pem'),
      clientKey: join(d, 'client.key'),
    };
    server = await NatsServer.start({
      jetstream: false,
      tls: { certFile: certs.serverCert, keyFile: certs.serverKey, caFile: certs.ca, verify: true },
    });
  });
  afterAll(() => server?.stop());

  it('connects with the CA and a client certificate', async () => {
    await roundTrip({ servers: server.url, tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey } });
  });

  it('without a client certificate the server refuses', async () => {
    const err = await ControlClient.connect(
      natsConnectionOptions({ servers: server.url, tls: { caFile: certs.ca }, maxReconnectAttempts: 0, connectTimeoutMs: 2000 }),
      {
        hostId: 'auth',
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlError);
  });
});

describe('natsConnectionOptions', () => {
  it('parses comma lists and bare host:port, defaulting to nats://127.0.0.1:4222', () => {
    expect(parseServers(' nats://a:1 , b:2,tls://c:3 ')).toEqual(['nats://a:1', 'nats://b:2', 'tls://c:3']);
    expect(parseServers(undefined)).toEqual(['nats://127.0.0.1:4222']);
    expect(parseServers(['x:1'])).toEqual(['nats://x:1']);
  });

  it('reconnects forever with a short wait, and names the client', () => {
    const o = natsConnectionOptions({ servers: 'n:4222', name: 'mpiscsid@h1' }, {});
    expect(o).toMatchObject({ servers: ['nats://n:4222'], maxReconnectAttempts: -1, reconnectTimeWait: 250, name: 'mpiscsid@h1' });
    expect(o.authenticator).toBeUndefined();
    expect(o.tls).toBeUndefined();
  });

  it('keeps secrets out of the options object and the log summary', () => {
    const settings = { servers: 'nats://u:hunter2@n:4222', user: 'u', password: 'hunter2-pw' };
    const o = natsConnectionOptions(settings, {});
    expect(JSON.stringify(o)).not.toContain('hunter2-pw');
    expect(o).not.toHaveProperty('pass');
    const line = describeNatsSettings(settings, {});
    expect(line).not.toContain('hunter2');
    expect(line).toContain('auth=user(u)');
    const tok = natsConnectionOptions({}, { MPISCSI_NATS_TOKEN: 'tok-secret' });
    expect(JSON.stringify(tok)).not.toContain('tok-secret');
    expect(typeof tok.authenticator).toBe('function');
    expect(describeNatsSettings({}, { MPISCSI_NATS_TOKEN: 'tok-secret' })).not.toContain('tok-secret');
  });

  it('refuses two auth methods, a user without a password, half a client certificate and unreadable files', () => {
    expect(() => natsConnectionOptions({ user: 'u', password: 'p', token: 't' }, {})).toThrow(/one authentication method/);
    expect(() => natsConnectionOptions({ user: 'u' }, {})).toThrow(/needs a password/);
    expect(() => natsConnectionOptions({ tls: { certFile: '/x' } }, {})).toThrow(/both the cert file and the key file/);
    expect(() => natsConnectionOptions({ tokenFile: join(dir, 'missing') }, {})).toThrow(/cannot read NATS token file .*ENOENT/);
    expect(() => natsConnectionOptions({ tokenFile: join(dir, 'missing') }, {})).toThrow(ControlError);
  });

  it('requires TLS when any TLS file is given, tls:// is used or tls.required is set', () => {
    expect(natsConnectionOptions({ tls: { caFile: '/ca.pem' } }, {}).tls).toEqual({ caFile: '/ca.pem' });
    expect(natsConnectionOptions({ servers: 'tls://h:1' }, {}).tls).toEqual({});
    expect(natsConnectionOptions({ tls: { required: true } }, {}).tls).toEqual({});
  });

  it('builds a creds authenticator that signs the nonce with the file seed and sends its JWT', () => {
    const user = createUser();
    const jwt = 'eyJhbGciOiJlZDI1NTE5LW5rZXkiLCJ0eXAiOiJKV1QifQ.e30.c2ln';
    const creds = secretFile(
      'user.creds',
      `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n` +
        `-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(user.getSeed())}\n------END USER NKEY SEED------\n`,
    );
    const o = natsConnectionOptions({ credsFile: creds }, {});
    const auth = (o.authenticator as unknown as (nonce?: string) => Record<string, unknown>)('bm9uY2U');
    expect(auth.jwt).toBe(jwt);
    expect(typeof auth.sig).toBe('string');
    expect(JSON.stringify(o)).not.toContain('SU');
  });
});
