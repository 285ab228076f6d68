/**
 * Issue 16 "Nothing waits forever": SIGTERM stops mpiscsid while logins are pending. The portal is a TCP
 * listener that accepts and never answers (a login that would retry for as long as the timers allow); the
 * daemon abandons the login, says so, answers the waiting mpiscsiadm, and exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { runCli, spawnCli, type CliResult } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { NatsServer } from '../support/nats-server.js';

const SILENT = 'iqn.2026-12.test:silent';
const HOST = 'sigtermhost';

let nats: NatsServer;
let silent: Server;
let port: number;
const sockets = new Set<Socket>();
let dir: string;
let db: string;

const adm = (...args: string[]): Promise<CliResult> =>
  runCli('mpiscsiadm', ['--db', db, ...args], { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: HOST });
/** Resolves at the next connection to the silent portal. */
const nextConnection = (): Promise<unknown> => once(silent, 'connection');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsid-sigterm-'));
  db = join(dir, 'db');
  nats = await NatsServer.start({ jetstream: false });
  silent = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  port = (silent.address() as { port: number }).port;
  let r = await adm('-m', 'node', '-o', 'new', '-T', SILENT, '-p', `127.0.0.1:${port}`);
  expect(r.code, r.stderr).toBe(0);
  r = await adm('-m', 'node', '-T', SILENT, '-o', 'update', '-n', 'node.startup', '-v', 'automatic');
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent?.close(() => r()));
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('SIGTERM with logins pending', () => {
  it('during the automatic logins at start: the login is abandoned, the daemon exits 0 without saying ready', async () => {
    const connected = nextConnection();
    const d = DaemonProcess.launch({ db, dir, nats: nats.url, hostId: HOST });
    await connected;
    d.child.kill('SIGTERM');
    expect(await d.exited, d.lines.join('\n')).toBe(0);
    const log = d.lines.join('\n');
    expect(log).toContain(`abandoning the login to ${SILENT} at 127.0.0.1,${port}: mpiscsid is shutting down`);
    expect(log).toMatch(/Could not login to .*silent.*login abandoned: mpiscsid is shutting down \(20\)/);
    expect(log).toContain('stopped');
    expect(log).not.toMatch(/ ready \(/);
  });

  it('during an mpiscsiadm --login: the request is answered (exit 20, the reason) and the daemon exits 0', async () => {
    const d = await DaemonProcess.start({ db, dir, nats: nats.url, hostId: HOST, extra: ['--no-login-automatic'] });
    const connected = nextConnection();
    const login = spawnCli('mpiscsiadm', ['--db', db, '-m', 'node', '-T', SILENT, '-p', `127.0.0.1:${port}`, '--login'], {
      MPISCSI_NATS_URL: nats.url,
      MPISCSI_HOST_ID: HOST,
    });
    await connected;
    d.child.kill('SIGTERM');
    expect(await d.exited, d.lines.join('\n')).toBe(0);
    const r = await login.done;
    expect(r.code, r.stdout + r.stderr).toBe(20);
    expect(r.stdout + r.stderr).toContain('login abandoned: mpiscsid is shutting down');
    expect(d.lines.join('\n')).toContain(`abandoning the login to ${SILENT}`);
  });
});
