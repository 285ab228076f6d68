/**
 * The offline `mpiscsiadm -m node` on the node service, with mpiscsid running on the same database (real tgtd,
 * nats-server and daemon, as a user runs them): a delete of a record a session uses is refused (exit 15) and the
 * record kept, and an update of it reaches the running session at once; once logged out, the delete goes ahead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { NatsServer } from '../support/nats-server.js';
import { Tgtd } from '../support/tgtd.js';

const T = 'iqn.2026-12.test:offline0';
const HOST = 'offline-node';

let tgtd: Tgtd;
let nats: NatsServer;
let daemon: DaemonProcess;
let dir: string;
let db: string;

const adm = (...args: string[]): Promise<CliResult> =>
  runCli('mpiscsiadm', ['--db', db, ...args], { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: HOST });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-offline-node-'));
  db = join(dir, 'db');
  [tgtd, nats] = await Promise.all([Tgtd.start(), NatsServer.start()]);
  await tgtd.addTarget(T, [{ size: 1 << 20 }]);
  expect((await adm('-m', 'node', '-o', 'new', '-T', T, '-p', `${tgtd.portal},1`)).code).toBe(0);
  daemon = await DaemonProcess.start({ db, dir, nats: nats.url, hostId: HOST });
});

afterAll(async () => {
  await daemon?.stop();
  await Promise.all([tgtd?.stop(), nats?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('mpiscsiadm -m node beside a running mpiscsid', () => {
  it('refuses to delete a record in use, applies an update to its session at once, deletes once logged out', async () => {
    expect((await adm('-m', 'node', '-T', T, '-p', tgtd.portal, '--login')).code).toBe(0);

    const del = await adm('-m', 'node', '-T', T, '-o', 'delete');
    expect(del.code).toBe(15);
    expect(del.stderr).toContain('but a session is using it. Logout session then rerun command to remove record.');
    expect((await adm('-m', 'node')).stdout).toContain(T);

    // The running session's timeouts (session -P 2's Recovery Timeout) change without a SIGHUP.
    const up = await adm('-m', 'node', '-T', T, '-o', 'update', '-n', 'node.session.timeo.replacement_timeout', '-v', '33');
    expect(up).toMatchObject({ code: 0, stderr: '' });
    const json = JSON.parse((await adm('-m', 'session', '--json')).stdout) as Array<{ timeouts: { recoveryTimeout: number } }>;
    expect(json.map((s) => s.timeouts.recoveryTimeout)).toEqual([33]);

    expect((await adm('-m', 'node', '-T', T, '-p', tgtd.portal, '--logout')).code).toBe(0);
    expect((await adm('-m', 'node', '-T', T, '-o', 'delete')).code).toBe(0);
    expect((await adm('-m', 'node')).code).toBe(21);
  });
});
