/**
 * Issue 16 "Who may do what" and "Exports": a nats-server whose authorization block gives a read-only user
 * publish permission on `mpiscsi.*.read.>`, an operator also on `mpiscsi.*.operate.>`, and an admin also on
 * `mpiscsi.*.secrets.>` (the block the README shows); the built mpiscsid connects as its own user. The reader's
 * login and secret requests get permission errors (exit 13), the operator's login works but not its secret
 * request, the admin sees the CHAP password. Export names that climb out of the state directory, sockets
 * elsewhere than it or --export-dir, and a socket replaced behind the daemon's back are refused or left alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { runCli, type CliResult } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { Tgtd } from '../support/tgtd.js';
import { NatsServer, type NatsUser } from '../support/nats-server.js';
import { nbdinfo } from '../support/nbd-clients.js';
import { ENDPOINTS, endpointSubject } from '../../src/control/endpoints.js';
import { encodeMessage } from '../../src/control/schema.js';

const TARGET = 'iqn.2026-12.test:access';
const HOST = 'accesshost';
const CHAP = { user: 'accessuser', secret: 'access-secret-0123' };
const PASS = { daemon: 'pw-daemon-1', reader: 'pw-reader-2', operator: 'pw-operator-3', admin: 'pw-admin-4' };

/** Clients answer on _INBOX.>, find daemons through $SRV and read events; what they may publish is the point. */
const client = (user: keyof typeof PASS, publish: string[]): NatsUser => ({
  user,
  password: PASS[user],
  permissions: { publish: [...publish, '$SRV.>'], subscribe: ['_INBOX.>', 'mpiscsi.*.events.>'] },
});
const USERS: NatsUser[] = [
  {
    user: 'daemon',
    password: PASS.daemon,
    permissions: { publish: ['_INBOX.>', '$SRV.>', `mpiscsi.${HOST}.events.>`], subscribe: [`mpiscsi.${HOST}.>`, '$SRV.>', '_INBOX.>'] },
  },
  client('reader', ['mpiscsi.*.read.>']),
  client('operator', ['mpiscsi.*.read.>', 'mpiscsi.*.operate.>']),
  client('admin', ['mpiscsi.*.read.>', 'mpiscsi.*.operate.>', 'mpiscsi.*.secrets.>']),
];

let tgtd: Tgtd;
let nats: NatsServer;
let dir: string;
let db: string;
let exportDir: string;
let stateDir: string;
let daemon: DaemonProcess;

const passwordFile = (user: keyof typeof PASS): string => {
  const f = join(dir, `pw-${user}`);
  writeFileSync(f, PASS[user], { mode: 0o600 });
  return f;
};

/** mpiscsiadm as `user` against the daemon. */
const as = (user: keyof typeof PASS, ...args: string[]): Promise<CliResult> =>
  runCli('mpiscsiadm', ['--db', db, '--nats-user', user, '--nats-password-file', passwordFile(user), ...args], {
    MPISCSI_NATS_URL: nats.url,
    MPISCSI_HOST_ID: HOST,
  });

const login = (user: keyof typeof PASS) => as(user, '-m', 'node', '-T', TARGET, '-p', `127.0.0.1:${tgtd.port}`, '--login');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsid-access-'));
  db = join(dir, 'db');
  exportDir = join(dir, 'exports');
  stateDir = join(dir, `state-${HOST}`);
  mkdirSync(exportDir);
  [tgtd, nats] = await Promise.all([Tgtd.start(), NatsServer.start({ users: USERS, jetstream: false })]);
  const tid = await tgtd.addTarget(TARGET, [{ size: 8 << 20 }]);
  await tgtd.addAccount(tid, CHAP.user, CHAP.secret);

  const offline = (...args: string[]) => runCli('mpiscsiadm', ['--db', db, ...args]);
  let r = await offline('-m', 'discovery', '-t', 'st', '-p', `127.0.0.1:${tgtd.port}`);
  expect(r.code, r.stderr).toBe(0);
  for (const [k, v] of [
    ['node.session.auth.authmethod', 'CHAP'],
    ['node.session.auth.username', CHAP.user],
    ['node.session.auth.password', CHAP.secret],
  ]) {
    r = await offline('-m', 'node', '-T', TARGET, '-o', 'update', '-n', k!, '-v', v!);
    expect(r.code, r.stderr).toBe(0);
  }
  daemon = await DaemonProcess.start({
    db,
    dir,
    nats: nats.url,
    hostId: HOST,
    extra: ['--nats-user', 'daemon', '--nats-password-file', passwordFile('daemon'), '--export-dir', exportDir],
  });
});

afterAll(async () => {
  await daemon?.stop();
  await Promise.all([tgtd?.stop(), nats?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('NATS permissions by subject', () => {
  it('every endpoint subject carries its access class: read, operate or secrets', () => {
    for (const ep of ENDPOINTS) expect(endpointSubject(HOST, ep)).toBe(`mpiscsi.${HOST}.${ep.access}.${ep.group}.${ep.verb}`);
    expect(
      ENDPOINTS.filter((ep) => ep.access === 'secrets')
        .map((ep) => ep.method)
        .sort(),
    ).toEqual(['nodeShowSecrets', 'sessionShowSecrets']);
  });

  it('the read-only user lists, but its login is refused by nats-server (exit 13)', async () => {
    const list = await as('reader', '-m', 'session');
    expect([0, 21]).toContain(list.code);
    const r = await login('reader');
    expect(r.code, r.stdout + r.stderr).toBe(13);
    expect(r.stderr).toMatch(/permission/i);
  });

  it('the operator logs in; the reader sees the session, secrets masked', async () => {
    const r = await login('operator');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('successful');
    const p3 = await as('reader', '-m', 'session', '-P', '3');
    expect(p3.code, p3.stderr).toBe(0);
    expect(p3.stdout).toContain(`\t\tusername: ${CHAP.user}\n\t\tpassword: ********\n`);
  });

  it('secrets: refused to the reader and the operator, shown to the admin', async () => {
    for (const user of ['reader', 'operator'] as const) {
      const r = await as(user, '-m', 'session', '-P', '3', '-S');
      expect(r.code, `${user}: ${r.stdout}${r.stderr}`).toBe(13);
      expect(r.stdout).not.toContain(CHAP.secret);
    }
    const r = await as('admin', '-m', 'session', '-P', '3', '-S');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`\t\tpassword: ${CHAP.secret}\n`);
  });

  it('the deprecated show_secrets flag on a read subject shows nothing: passwords stay masked', async () => {
    const nc = await connect({ servers: nats.url, user: 'reader', pass: PASS.reader });
    try {
      for (const ep of ENDPOINTS.filter((e) => e.access === 'read' && (e.method === 'sessionShow' || e.method === 'nodeShow'))) {
        const body = ep.method === 'sessionShow' ? { sid: 0, showSecrets: true } : { filter: { target: TARGET }, showSecrets: true };
        const reply = await nc.request(endpointSubject(HOST, ep), encodeMessage(ep.request, body, 'protobuf'), { timeout: 5000 });
        expect(reply.headers?.get('Nats-Service-Error-Code') ?? '', ep.method).toBe('');
        const text = Buffer.from(reply.data).toString('latin1');
        expect(text, ep.method).toContain('********');
        expect(text, ep.method).not.toContain(CHAP.secret);
      }
    } finally {
      await nc.close();
    }
  });

  it('mass operations need all: an empty session.logout is refused (7) and every session stays', async () => {
    const nc = await connect({ servers: nats.url, user: 'operator', pass: PASS.operator });
    try {
      const ep = ENDPOINTS.find((e) => e.method === 'sessionLogout')!;
      const reply = await nc.request(endpointSubject(HOST, ep), new Uint8Array(), { timeout: 5000 });
      expect(reply.headers?.get('Nats-Service-Error-Code')).toBe('7');
      expect(reply.headers?.get('Nats-Service-Error')).toMatch(/not "all"/);
    } finally {
      await nc.close();
    }
    const s = await as('reader', '-m', 'session');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain(TARGET);
  });
});

describe('export names and sockets', () => {
  const exportNew = (...args: string[]) => as('operator', '-m', 'export', '-o', 'new', '--device', 'mpatha', ...args);
  const entries = (d: string): string[] => (existsSync(d) ? readdirSync(d) : []);

  it('a name that climbs out of the state directory is refused (7) and nothing is made', async () => {
    const before = entries(dir);
    for (const name of ['../../../x', 'a/b', '.hidden', 'x\ny', 'x'.repeat(65)]) {
      const r = await exportNew('--export-name', name);
      expect(r.code, `${JSON.stringify(name)}: ${r.stderr}`).toBe(7);
      expect(r.stderr).toContain('invalid export name');
    }
    expect(entries(dir)).toEqual(before);
    expect(entries(join(stateDir, 'nbd')).filter((f) => !f.startsWith('.'))).toEqual([]);
  });

  it('a socket outside <state-dir>/nbd and --export-dir is refused (13), also through a symlinked directory', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(exportDir, 'link-out'));
    for (const socket of [join(outside, 'e.sock'), join(exportDir, 'link-out', 'e.sock'), join(exportDir, '..', 'outside', 'e.sock')]) {
      const r = await exportNew('--export-name', 'e1', '--socket', socket);
      expect(r.code, `${socket}: ${r.stderr}`).toBe(13);
      expect(r.stderr).toContain('--export-dir');
    }
    expect(entries(outside)).toEqual([]);
  });

  it('a socket in --export-dir serves; export delete leaves a file that replaced the socket', async () => {
    const socket = join(exportDir, 'e2.sock');
    const r = await exportNew('--export-name', 'e2', '--socket', socket);
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const info = await nbdinfo(`nbd+unix:///e2?socket=${socket}`);
    expect(info.exports[0]['export-size']).toBe(8 << 20);
    // Someone removes the socket and puts a file of their own there: stopping the export must not remove it.
    rmSync(socket);
    writeFileSync(socket, "not the daemon's");
    const d = await as('operator', '-m', 'export', '-o', 'delete', '--export-name', 'e2');
    expect(d.code, d.stderr).toBe(0);
    expect(readFileSync(socket, 'utf8')).toBe("not the daemon's");
    // Its own socket it removes, and the private directory it bound in.
    const own = await exportNew('--export-name', 'e3');
    expect(own.code, own.stderr).toBe(0);
    const path = join(stateDir, 'nbd', 'e3.sock');
    expect(statSync(path).isSocket()).toBe(true);
    expect((await as('operator', '-m', 'export', '-o', 'delete', '--export-name', 'e3')).code).toBe(0);
    expect(entries(join(stateDir, 'nbd'))).toEqual([]);
  });
});
