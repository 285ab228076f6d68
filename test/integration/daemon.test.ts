/**
 * mpiscsid end to end: the built daemon as a child process with a real nats-server (JetStream on) and a
 * real tgtd on two portals, driven by the built mpiscsiadm and by the control client: discovery, login of
 * two paths into one multipath device, iscsiadm's session lines, 20 concurrent logins of one node making
 * one session, mutual CHAP with secrets kept out of listings and logs, events, an NBD export under fio while
 * the NATS server restarts, SIGHUP applying changed timers, automatic nodes at start, SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { Tgtd } from '../support/tgtd.js';
import { NatsServer } from '../support/nats-server.js';
import { fio, nbdinfo } from '../support/nbd-clients.js';
import { ControlClient } from '../../src/control/client.js';
import { natsConnectionOptions } from '../../src/control/nats-options.js';
import type { ControlError, HostEvent } from '../../src/control/api.js';
import { ENDPOINTS } from '../../src/control/endpoints.js';
import type { EndpointMethod } from '../../src/control/client.js';
import { encodeMessage } from '../../src/control/schema.js';
import { parseSpanLines } from '../../src/cli/trace-summary.js';

const T0 = 'iqn.2026-11.test:daemon0';
const T1 = 'iqn.2026-11.test:daemon1';
const HOST = 'testhost';
const CHAP = { user: 'daemonuser', secret: 'daemon-secret-0123', userIn: 'targetuser', secretIn: 'target-secret-4567' };

let tgtd: Tgtd;
let nats: NatsServer;
let dir: string;
let db: string;

/** The built daemon with this file's database, state directory, NATS server and trace file. */
const Daemon = {
  start: (extra: string[] = [], hostId = HOST, env: Record<string, string> = {}): Promise<DaemonProcess> =>
    DaemonProcess.start({ db, dir, nats: nats.url, hostId, extra, env }),
};
type Daemon = DaemonProcess;

let daemon: Daemon;
let client: ControlClient;

const adm = (...args: string[]): Promise<CliResult> =>
  runCli('mpiscsiadm', ['--db', db, ...args], { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: HOST });
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsid-test-'));
  db = join(dir, 'db');
  [tgtd, nats] = await Promise.all([Tgtd.start({ hosts: ['127.0.0.1', '127.0.0.2'] }), NatsServer.start()]);
  await tgtd.addTarget(T0, [{ size: 32 << 20 }]);
  const tid1 = await tgtd.addTarget(T1, [{ size: 4 << 20 }]);
  await tgtd.addAccount(tid1, CHAP.user, CHAP.secret);
  await tgtd.addAccount(tid1, CHAP.userIn, CHAP.secretIn, true);
  daemon = await Daemon.start();
  client = await ControlClient.connect(natsConnectionOptions({ servers: nats.url, maxReconnectAttempts: -1 }), {
    hostId: HOST,
    timeoutMs: 30_000,
  });
});

afterAll(async () => {
  await client?.close();
  await daemon?.stop();
  await Promise.all([tgtd?.stop(), nats?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('mpiscsid with mpiscsiadm', () => {
  it('discovers two portals, logs both in as paths of one device, and lists sessions like iscsiadm', async () => {
    const events: HostEvent[] = [];
    const sub = client.subscribeEvents(HOST, '*', (e) => events.push(e));
    await client.nc.flush();
    for (const host of tgtd.hosts) {
      const r = await adm('-m', 'discovery', '-t', 'st', '-p', `${host}:${tgtd.port}`);
      expect(r.code).toBe(0);
      expect(lines(r.stdout)).toContain(`${host}:${tgtd.port},1 ${T0}`);
    }
    const login = await adm('-m', 'node', '-T', T0, '-l');
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    for (const host of tgtd.hosts) {
      expect(login.stdout).toContain(`Logging in to [iface: default, target: ${T0}, portal: ${host},${tgtd.port}]\n`);
      expect(login.stdout).toContain(`Login to [iface: default, target: ${T0}, portal: ${host},${tgtd.port}] successful.\n`);
    }

    const sess = await adm('-m', 'session');
    expect(sess.code).toBe(0);
    const sl = lines(sess.stdout);
    expect(sl).toHaveLength(2);
    for (const host of tgtd.hosts)
      expect(sl).toContainEqual(
        expect.stringMatching(new RegExp(`^tcp: \\[\\d+\\] ${host.replace(/\./g, '\\.')}:${tgtd.port},1 ${T0} \\(non-flash\\)$`)),
      );

    const sid = /^tcp: \[(\d+)\]/.exec(sl[0])![1];
    const p3 = lines((await adm('-m', 'session', '-r', sid, '-P', '3')).stdout);
    expect(p3[0]).toBe(`Target: ${T0} (non-flash)`);
    expect(p3).toContain('\t\tiSCSI Connection State: LOGGED IN');
    expect(p3).toContain('\t\tiSCSI Session State: LOGGED_IN');
    expect(p3).toContain(`\t\tSID: ${sid}`);
    expect(p3).toContain('\t\tNegotiated iSCSI params:');
    expect(p3).toContain('\t\tRecovery Timeout: 120');
    expect(p3.some((l) => /Attached multipath device mpath[a-z]+/.test(l))).toBe(true);
    // iscsiadm 2.1.8's lines (usr/session_info.c, usr/iface.c iface_print): the iface after Initiatorname, the
    // password ******** without -S even with no CHAP, and the LU as `Attached scsi disk NAME  State: running`
    // naming the device we serve, our multipath line after it.
    const init = p3.findIndex((l) => l.startsWith('\t\tIface Initiatorname: '));
    expect(p3.slice(init + 1, init + 4)).toEqual([
      '\t\tIface IPaddress: <empty>',
      '\t\tIface HWaddress: <empty>',
      '\t\tIface Netdev: <empty>',
    ]);
    expect(p3).toContain('\t\tpassword: ********');
    expect(p3).toContain('\t\tpassword_in: ********');
    const disk = p3.findIndex((l) => /^\t\t\tAttached scsi disk mpath[a-z]+\t\tState: running$/.test(l));
    expect(disk, p3.join('\n')).toBeGreaterThan(0);
    expect(p3[disk + 1]).toMatch(/^\t\t\tAttached multipath device mpath[a-z]+\t\tState: active$/);
    // Two sessions of one target: one Target line (session_info_print_tree), as iscsiadm.
    const p1 = lines((await adm('-m', 'session', '-P', '1')).stdout);
    expect(p1.filter((l) => l.startsWith('Target: '))).toEqual([`Target: ${T0} (non-flash)`]);
    expect(p1.filter((l) => l.startsWith('\tCurrent Portal: '))).toHaveLength(2);

    const stats = await adm('-m', 'session', '-r', sid, '-s');
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/^Stats for session \[sid: \d+, target: /);
    expect(Number(/\tscsicmd_pdus: (\d+)/.exec(stats.stdout)![1])).toBeGreaterThan(0);

    const mp = await adm('-m', 'mpath');
    expect(mp.code).toBe(0);
    const topo = lines(mp.stdout);
    expect(topo[0]).toMatch(/^mpatha \(\w+\) IET,VIRTUAL-DISK/);
    expect(topo.filter((l) => /\d+:0:0:1 .*active/.test(l))).toHaveLength(2);

    // Events: each session reached loggedIn and each path became active.
    const loggedIn = events.filter((e) => e.kind === 'session' && e.event.state === 'loggedIn');
    expect(loggedIn.length).toBeGreaterThanOrEqual(2);
    // The reason as text (it was "[object Object]"): the machine's reason code, then its detail if any.
    for (const e of loggedIn) expect(e.kind === 'session' && e.event.reason).toMatch(/^logged-in(: .+)?$/);
    // The device's first path opening its gate is said as I/O flowing, not as "failed -> open".
    expect(
      daemon.lines.some((l) => /mpath[a-z]+: I\/O flowing \(I\/O gate, was failed\)/.test(l)),
      daemon.lines.join('\n'),
    ).toBe(true);
    expect(daemon.lines.some((l) => /gate failed -> open/.test(l))).toBe(false);
    expect(events.filter((e) => e.kind === 'path' && e.event.to === 'active').length).toBeGreaterThanOrEqual(2);
    sub.unsubscribe();

    // The real daemon answers JSON requests too.
    const viaJson = await client.call('mpathList', {}, { json: true });
    expect(viaJson.devices[0].paths).toHaveLength(2);
    const again = await adm('-m', 'node', '-T', T0, '-p', `127.0.0.1:${tgtd.port}`, '-l');
    expect(again.code).toBe(15);
    expect(again.stderr).toBe(
      'mpiscsiadm: default: 1 session requested, but 1 already present.\nmpiscsiadm: Could not log into all portals\n',
    );
    // -L with every selected record logged in: per record "already present", then the summary, rc 15 (it was
    // rc 0 and nothing). node.startup = onboot picks T0's two records only.
    const startup = async (v: string) =>
      expect((await adm('-m', 'node', '-T', T0, '-o', 'update', '-n', 'node.startup', '-v', v)).code).toBe(0);
    await startup('onboot');
    try {
      const all = await adm('-m', 'node', '-L', 'onboot');
      expect(all.code).toBe(15);
      expect(all.stdout).toBe('');
      expect(all.stderr).toBe(
        `${'mpiscsiadm: default: 1 session requested, but 1 already present.\n'.repeat(2)}mpiscsiadm: Could not log into all portals\n`,
      );
    } finally {
      await startup('manual');
    }
  });

  it('NATS up but no mpiscsid for the host id: exit 20 naming the host id and the NATS URL', async () => {
    const r = await runCli('mpiscsiadm', ['--db', db, '-m', 'session'], { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: 'otherhost' });
    expect(r.code).toBe(20);
    expect(r.stderr).toBe(`mpiscsiadm: can not connect to iSCSI daemon: no mpiscsid answers for host id otherhost on NATS ${nats.url}\n`);
  });

  it('node.update through the daemon refuses a timer value a login would refuse (exit 7, record unchanged) and takes 0.5 s', async () => {
    const key = 'node.conn[0].timeo.noop_out_timeout';
    const show = async () =>
      lines((await adm('-m', 'node', '-T', T1, '-p', `${tgtd.hosts[0]}:${tgtd.port}`)).stdout).find((l) => l.startsWith(`${key} = `));
    const before = await show();
    for (const v of ['-5', 'abc', '1e3']) {
      const r = await adm('-m', 'node', '-T', T1, '-p', `${tgtd.hosts[0]}:${tgtd.port}`, '-o', 'update', '-n', key, '-v', v);
      expect(r.code, `${v}: ${r.stderr}`).toBe(7);
      expect(r.stderr).toContain(key);
      expect(await show()).toBe(before);
    }
    const r = await adm('-m', 'node', '-T', T1, '-p', `${tgtd.hosts[0]}:${tgtd.port}`, '-o', 'update', '-n', key, '-v', '0.5');
    expect(r.code, r.stderr).toBe(0);
    expect(await show()).toBe(`${key} = 0.5`);
    const back = await adm('-m', 'node', '-T', T1, '-p', `${tgtd.hosts[0]}:${tgtd.port}`, '-o', 'update', '-n', key, '-v', '5');
    expect(back.code, back.stderr).toBe(0);
  });

  it('-v 0.5 on noop_out_interval is what the logged-in session runs: NOP-Outs 500 ms apart on the idle connection', async () => {
    const key = 'node.conn[0].timeo.noop_out_interval';
    const portal = `127.0.0.1:${tgtd.port}`;
    const session = (await client.call('sessionList', {})).sessions.find(
      (s) => s.node.target === T0 && s.node.portal.address === '127.0.0.1',
    );
    expect(session, 'T0 on 127.0.0.1 is logged in by the first test').toBeDefined();
    const sid = session!.sid;
    const nops = async (): Promise<number> => Number((await client.call('sessionStats', { sid })).stats[0]!.noptxPdus);
    const up = await adm('-m', 'node', '-T', T0, '-p', portal, '-o', 'update', '-n', key, '-v', '0.5');
    expect(up.code, up.stderr).toBe(0);
    try {
      const before = await nops();
      const t0 = Date.now();
      // Four more NOP-Outs take 2 s at 500 ms apart; at the old 5 s they would take 20 s, past the wait.
      await vi.waitFor(async () => expect(await nops()).toBeGreaterThanOrEqual(before + 4), { timeout: 8_000, interval: 100 });
      expect(Date.now() - t0).toBeLessThan(8_000);
    } finally {
      const back = await adm('-m', 'node', '-T', T0, '-p', portal, '-o', 'update', '-n', key, '-v', '5');
      expect(back.code, back.stderr).toBe(0);
    }
  });

  it('20 concurrent logins of one node make one session', async () => {
    const filter = { target: T0, address: '127.0.0.2', port: tgtd.port, iface: 'default' };
    const out = await adm('-m', 'node', '-T', T0, '-p', `127.0.0.2:${tgtd.port}`, '-u');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^Logging out of session \[sid: \d+, target: .*\]\nLogout of \[sid: \d+, target: .*\] successful\.\n$/);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => client.call('nodeLogin', { filter }, { json: i % 2 === 1 }).then((r) => r.results[0])),
    );
    const codes = results.map((r) => r.code).sort((a, b) => a - b);
    expect(codes).toEqual([0, ...Array(19).fill(15)]);
    const sessions = (await client.call('sessionList', {})).sessions.filter((s) => s.node.portal.address === '127.0.0.2');
    expect(sessions).toHaveLength(1);
    expect(sessions[0].sid).toBe(results.find((r) => r.code === 0)!.sid);
  });

  it('mutual CHAP through the daemon: secrets masked in listings unless -S, never logged', async () => {
    const set = async (name: string, value: string) =>
      expect((await adm('-m', 'node', '-T', T1, '-o', 'update', '-n', name, '-v', value)).code).toBe(0);
    await set('node.session.auth.authmethod', 'CHAP');
    await set('node.session.auth.username', CHAP.user);
    await set('node.session.auth.password', CHAP.secret);
    await set('node.session.auth.username_in', CHAP.userIn);
    await set('node.session.auth.password_in', CHAP.secretIn);
    const login = await adm('-m', 'node', '-T', T1, '-p', `127.0.0.1:${tgtd.port}`, '-l');
    expect(login.stderr).toBe('');
    expect(login.code).toBe(0);
    const sid = (await client.call('sessionList', {})).sessions.find((s) => s.node.target === T1)!.sid;
    const p2 = await adm('-m', 'session', '-r', String(sid), '-P', '2');
    expect(p2.stdout).toContain(
      `\t\tusername: ${CHAP.user}\n\t\tpassword: ********\n\t\tusername_in: ${CHAP.userIn}\n\t\tpassword_in: ********\n`,
    );
    const shown = await adm('-m', 'session', '-r', String(sid), '-P', '2', '-S');
    expect(shown.stdout).toContain(`\t\tpassword: ${CHAP.secret}\n`);
    // iscsiadm 2.1.8 labels the incoming secret "password:" under -S (usr/session_info.c).
    expect(shown.stdout).toContain(`\t\tusername_in: ${CHAP.userIn}\n\t\tpassword: ${CHAP.secretIn}\n`);
    const json = JSON.stringify(await client.call('sessionList', {}));
    expect(json).not.toContain(CHAP.secret);
    expect(json).not.toContain(CHAP.secretIn);
    expect(daemon.lines.join('\n')).not.toContain(CHAP.secret);
    expect(daemon.lines.join('\n')).not.toContain(CHAP.secretIn);
    const bye = await adm('-m', 'session', '-r', String(sid), '-u');
    expect(bye.code).toBe(0);
    expect(bye.stdout).toContain(`Logout of [sid: ${sid}, target: ${T1}, portal: 127.0.0.1,${tgtd.port}] successful.`);
  });

  it('an NBD export keeps serving fio while the NATS server restarts; control works again after', async () => {
    const exp = await adm('-m', 'export', '-o', 'new', '--device', 'mpatha');
    expect(exp.stderr).toBe('');
    expect(exp.code).toBe(0);
    const uri = /(nbd\+unix:\/\/\/\S+)/.exec(exp.stdout)![1];
    expect((await nbdinfo(uri)).exports[0]['export-size']).toBe(32 << 20);

    const load = fio({ uri, rw: 'randwrite', bs: '4k', iodepth: 16, size: '8M', verify: 'crc32c', runtime: 3, timeoutMs: 60_000 });
    const lost = daemon.waitFor(/NATS connection lost/);
    const back = daemon.waitFor(/NATS reconnected/);
    await nats.restart();
    await lost;
    await back;
    const { job } = await load;
    expect(job.error).toBe(0);
    expect(job.write.total_ios).toBeGreaterThan(0);

    // The daemon republishes every session's and path's state (after a reconnect, and on SIGHUP).
    await client.nc.flush();
    const republished: HostEvent[] = [];
    let gotAll!: () => void;
    const all = new Promise<void>((r) => (gotAll = r));
    const sub = client.subscribeEvents(HOST, '*', (e) => {
      if (e.event.reason !== 'republish') return;
      republished.push(e);
      if (republished.filter((x) => x.kind === 'path').length === 2 && republished.some((x) => x.kind === 'session')) gotAll();
    });
    await client.nc.flush();
    daemon.child.kill('SIGHUP');
    await all;
    sub.unsubscribe();
    expect(republished.filter((e) => e.kind === 'path').map((e) => e.kind === 'path' && e.event.to)).toEqual(['active', 'active']);
    const sess = await adm('-m', 'session');
    expect(sess.code).toBe(0);
    expect(lines(sess.stdout)).toHaveLength(2);
    const list = await adm('-m', 'export', '--json');
    expect(JSON.parse(list.stdout)[0].name).toBe('mpatha');
  });

  it('a fail_path request carrying W3C trace context and the failover it causes are one trace', async () => {
    const traceId = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const parentSpan = '1122334455667788';
    const path = (await client.call('mpathShow', { device: 'mpatha' })).devices[0].paths[1].name;
    const restored = new Promise<void>((resolve) => {
      const sub = client.subscribeEvents(HOST, 'path', (e) => {
        if (e.kind === 'path' && e.event.path === path && e.event.to === 'active') {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    await client.nc.flush();
    const h = natsHeaders();
    h.set('traceparent', `00-${traceId}-${parentSpan}-01`);
    const body = encodeMessage('mpiscsi.v1.MpathPathRequest', { device: 'mpatha', path });
    const reply = await client.nc.request(`mpiscsi.${HOST}.operate.mpath.fail_path`, body, { headers: h, timeout: 30_000 });
    expect(reply.headers?.get('Nats-Service-Error-Code') ?? '').toBe('');
    await client.call('mpathReinstatePath', { device: 'mpatha', path });
    await restored;
    // One more round trip: the daemon has finished handling the path's return (and ended its span) before it answers.
    await client.call('mpathList', {});
    const spans = parseSpanLines(readFileSync(join(dir, `trace-${HOST}.jsonl`), 'utf8'));
    const failover = spans.find((sp) => sp.name === 'mpath.failover' && sp.traceId === traceId);
    expect(failover).toBeDefined();
    expect(failover!.attributes['mpath.path']).toBe(path);
    expect(failover!.attributes['mpath.failover.reason']).toBe('operator');
    // Its parent is the control request's server span, whose parent is the caller's span.
    const server = spans.find((sp) => sp.spanId === failover!.parentSpanId)!;
    expect(server.traceId).toBe(traceId);
    expect(server.parentSpanId).toBe(parentSpan);
  });

  it('SIGHUP applies changed timers to running sessions; SIGTERM logs out; automatic nodes log in at start', async () => {
    const portal = `127.0.0.1:${tgtd.port}`;
    expect(
      (await adm('-m', 'node', '-T', T0, '-p', portal, '-o', 'update', '-n', 'node.session.timeo.replacement_timeout', '-v', '7')).code,
    ).toBe(0);
    expect((await adm('-m', 'node', '-T', T0, '-p', portal, '-o', 'update', '-n', 'node.startup', '-v', 'automatic')).code).toBe(0);
    const reloaded = daemon.waitFor(/reloaded/);
    daemon.child.kill('SIGHUP');
    await reloaded;
    const sid = (await client.call('sessionList', {})).sessions.find(
      (s) => s.node.portal.address === '127.0.0.1' && s.node.target === T0,
    )!.sid;
    expect((await adm('-m', 'session', '-r', String(sid), '-P', '2')).stdout).toContain('\t\tRecovery Timeout: 7\n');

    const before = daemon.lines.length;
    expect(await daemon.stop()).toBe(0);
    expect(daemon.lines.slice(before).filter((l) => /logged out of/.test(l))).toHaveLength(2);
    expect((await adm('-m', 'session')).code).toBe(20);

    daemon = await Daemon.start();
    const sessions = (await client.call('sessionList', {})).sessions;
    expect(sessions.map((s) => `${s.node.target} ${s.node.portal.address}`)).toEqual([`${T0} 127.0.0.1`]);
  });

  it("two daemons sharing one JetStream KV bucket see each other's records; concurrent updates of one record lose nothing", async () => {
    const [a, b] = await Promise.all([
      Daemon.start(['--db', 'nats-kv://shared-records', '--no-login-automatic'], 'kv-a'),
      Daemon.start(['--db', 'nats-kv://shared-records', '--no-login-automatic'], 'kv-b'),
    ]);
    const ca = new ControlClient(client.nc, { hostId: 'kv-a', timeoutMs: 30_000 });
    const cb = new ControlClient(client.nc, { hostId: 'kv-b', timeoutMs: 30_000 });
    try {
      const found = await ca.call('discoverySendtargets', { address: '127.0.0.1', port: tgtd.port });
      expect(found.nodes.map((n) => n.node.target).sort()).toEqual([T0, T1]);
      // mpiscsiadm works on the same bucket offline, as on a directory.
      const offline = await adm('--db', 'nats-kv://shared-records', '-m', 'node');
      expect(offline.stderr).toBe('');
      expect(lines(offline.stdout).sort()).toEqual([`127.0.0.1:${tgtd.port},1 ${T0}`, `127.0.0.1:${tgtd.port},1 ${T1}`]);
      const seen = await cb.call('nodeList', {});
      expect(seen.nodes.map((n) => `${n.target} ${n.portal.address}:${n.portal.port}`).sort()).toEqual([
        `${T0} 127.0.0.1:${tgtd.port}`,
        `${T1} 127.0.0.1:${tgtd.port}`,
      ]);

      // Ten different keys of one record, changed at once through both daemons: every change survives.
      const keys = [
        'node.session.timeo.replacement_timeout',
        'node.session.err_timeo.abort_timeout',
        'node.session.err_timeo.lu_reset_timeout',
        'node.session.err_timeo.tgt_reset_timeout',
        'node.session.initial_login_retry_max',
        'node.session.queue_depth',
        'node.conn[0].timeo.logout_timeout',
        'node.conn[0].timeo.login_timeout',
        'node.conn[0].timeo.noop_out_interval',
        'node.conn[0].timeo.noop_out_timeout',
      ];
      const filter = { target: T0, address: '127.0.0.1', port: tgtd.port };
      await Promise.all(keys.map((key, i) => (i % 2 ? ca : cb).call('nodeUpdate', { filter, fields: [{ key, value: String(40 + i) }] })));
      const [rec] = (await ca.call('nodeShow', { filter })).records;
      for (const [i, key] of keys.entries()) expect(rec.fields.find((f) => f.key === key)?.value).toBe(String(40 + i));
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('every endpoint of the real daemon answers, over protobuf and over JSON', async () => {
    const sid = (await client.call('sessionList', {})).sessions[0].sid;
    const S = 'iqn.2026-11.test:static';
    // Each endpoint with a request that makes sense now, and the code it must answer (0: success).
    const cases: Array<[EndpointMethod, unknown, number]> = [
      ['discoverySendtargets', { address: '127.0.0.1', port: tgtd.port, nonpersistent: true }, 0],
      ['nodeList', {}, 0],
      ['nodeShow', { filter: { target: T0 } }, 0],
      ['nodeShowSecrets', { filter: { target: T0 } }, 0],
      ['nodeNew', { node: { target: S, portal: { address: '127.0.0.1', port: tgtd.port, tpgt: 1 }, iface: 'default' } }, 0],
      ['nodeUpdate', { filter: { target: S }, fields: [{ key: 'node.startup', value: 'manual' }] }, 0],
      ['nodeUpdate', { filter: { target: S }, fields: [{ key: 'node.no_such_key', value: '1' }] }, 7],
      ['nodeDelete', { filter: { target: S } }, 0],
      ['nodeLogin', { filter: { target: T0, address: '127.0.0.1', port: tgtd.port } }, 0],
      ['nodeLogout', { filter: { target: T1 } }, 21],
      ['sessionList', {}, 0],
      ['sessionShow', { sid }, 0],
      ['sessionShowSecrets', { sid }, 0],
      ['sessionRescan', {}, 7],
      ['sessionLogout', {}, 7],
      ['nodeDelete', {}, 7],
      ['sessionStats', { sid }, 0],
      ['sessionRescan', { sid }, 0],
      ['sessionLogout', { sid: 9999 }, 2],
      ['ifaceList', {}, 0],
      ['ifaceNew', { name: 'ep0' }, 0],
      ['ifaceUpdate', { name: 'ep0', fields: [{ key: 'iface.ipaddress', value: '127.0.0.9' }] }, 0],
      ['ifaceDelete', { name: 'ep0' }, 0],
      ['mpathList', {}, 0],
      ['mpathShow', { device: 'mpatha' }, 0],
      ['mpathFailPath', { device: 'mpatha', path: '99:0:0:1' }, 21],
      ['mpathReinstatePath', { device: 'mpatha', path: '99:0:0:1' }, 21],
      ['mpathSwitchGroup', { device: 'mpatha', group: 1 }, 0],
      ['mpathSetPolicy', { device: 'mpatha', settings: { rr_min_io_rq: '2' } }, 0],
      ['mpathSetPolicy', { device: 'mpatha', settings: { no_path_retry: 'sometimes' } }, 7],
      ['exportList', {}, 0],
      ['exportStart', { device: 'mpatha', name: 'every-endpoint' }, 0],
      ['exportStop', { name: 'every-endpoint' }, 0],
    ];
    expect(new Set(cases.map((c) => c[0]))).toEqual(new Set(ENDPOINTS.map((e) => e.method)));
    // Malformed bodies and unknown fields: an error reply with INVAL (7), and the daemon goes on.
    const raw = async (subject: string, body: Uint8Array | string, json: boolean) => {
      const h = natsHeaders();
      if (json) h.set('Content-Type', 'application/json');
      const r = await client.nc.request(`mpiscsi.${HOST}.${subject}`, body, { headers: h, timeout: 10_000 });
      return { code: r.headers?.get('Nats-Service-Error-Code'), message: r.headers?.get('Nats-Service-Error') ?? '' };
    };
    expect((await raw('read.session.list', new Uint8Array([0xff, 0xff, 0xff]), false)).code).toBe('7');
    // An empty login or logout body is not "every record": refused with INVAL, nothing logged in or out.
    for (const subject of ['operate.node.login', 'operate.node.logout']) {
      const empty = await raw(subject, new Uint8Array(0), false);
      expect(empty.code).toBe('7');
      expect(empty.message).toContain('an empty request is not "all"');
    }
    expect((await raw('read.node.list', '{"filter": {"target": ', true)).code).toBe('7');
    const unknown = await raw('read.node.list', '{"filter": {"portt": 1}}', true);
    expect(unknown.code).toBe('7');
    expect(unknown.message).toContain('portt');
    for (const json of [false, true]) {
      for (const [method, req, code] of cases) {
        const got = await client.call(method, req as never, { json }).then(
          (r) => ({ code: 0, r }),
          (err: ControlError) => ({ code: err.code, r: err.message }),
        );
        expect({ method, json, code: got.code }, JSON.stringify(got.r)).toEqual({ method, json, code });
        // A node with a session answers per node: SESS_EXISTS.
        if (method === 'nodeLogin') expect((got.r as { results: Array<{ code: number }> }).results[0].code).toBe(15);
      }
    }
  });

  it('NATS with a user and password: the daemon and mpiscsiadm authenticate (secret from the environment), a wrong one is refused', async () => {
    const secured = await NatsServer.start({ user: { name: 'mpiscsi', password: 'nats-pass-123456' } });
    const d = await Daemon.start(
      ['--nats', secured.url, '--nats-user', 'mpiscsi', '--no-login-automatic', '--db', join(dir, 'db-auth')],
      'authhost',
      {
        MPISCSI_NATS_PASSWORD: 'nats-pass-123456',
      },
    );
    try {
      const run = (password: string) =>
        runCli(
          'mpiscsiadm',
          ['--db', join(dir, 'db-auth'), '-m', 'session', '--nats', secured.url, '--host-id', 'authhost', '--nats-user', 'mpiscsi'],
          {
            MPISCSI_NATS_PASSWORD: password,
          },
        );
      const ok = await run('nats-pass-123456');
      expect(ok.stderr).toBe('mpiscsiadm: No active sessions.\n');
      expect(ok.code).toBe(21);
      const refused = await run('wrong-password');
      expect(refused.code).toBe(13);
      expect(refused.stderr).not.toContain('wrong-password');
      expect(d.lines.join('\n')).not.toContain('nats-pass-123456');
    } finally {
      await d.stop();
      await secured.stop();
    }
  });
});
