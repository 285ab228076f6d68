/**
 * DaemonEngine, the daemon's composition of the domain services and control handlers, called directly (no NATS)
 * on a temp node database with a real tgtd: records refused whole before anything is stored, a record in use
 * not deleted, session events carrying their reason as text, a device exported and stopped.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tgtd } from '../support/tgtd.js';
import { freePort } from '../support/ports.js';
import { FileStore } from '../../src/db/index.js';
import { DaemonEngine } from '../../src/daemon/engine.js';
import { toControlError } from '../../src/control/errors.js';
import type { HostEvent, SessionEventMsg } from '../../src/control/api.js';

const T = 'iqn.2026-12.test:host0';
const INTERVAL = 'node.conn[0].timeo.noop_out_interval';

let tgtd: Tgtd;
let dir: string;
let store: FileStore;
let host: DaemonEngine;
let logs: string[];

beforeAll(async () => {
  tgtd = await Tgtd.start();
  await tgtd.addTarget(T, [{ size: 1 << 20 }]);
});

afterAll(async () => {
  await tgtd?.stop();
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-host-'));
  store = new FileStore(join(dir, 'db'));
  logs = [];
  host = new DaemonEngine({ store, initiatorName: 'iqn.2026-12.test:initiator', stateDir: join(dir, 'state'), log: (l) => logs.push(l) });
  return async () => {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  };
});

/** The ControlError a call fails with (what the service would reply). */
async function failure(p: Promise<unknown>): Promise<{ code: number; message: string; lines: string[] }> {
  try {
    await p;
  } catch (err) {
    const ce = toControlError(err);
    return { code: ce.code, message: ce.message, lines: ce.lines };
  }
  throw new Error('the call succeeded');
}

const newNode = (port = tgtd.port) =>
  host.nodeNew({ node: { target: T, portal: { address: '127.0.0.1', port, tpgt: 1 }, iface: 'default' } });
const interval = async () => (await host.nodeShow({ filter: { target: T } })).records[0]!.fields.find((f) => f.key === INTERVAL)!.value;

describe('node.update', () => {
  it('refuses a timer value a login would refuse (exit 7) and stores nothing; 0.5 s is taken', async () => {
    await newNode();
    const before = await interval();
    for (const v of ['-5', 'abc']) {
      const f = await failure(host.nodeUpdate({ filter: { target: T }, fields: [{ key: INTERVAL, value: v }] }));
      expect(f.code).toBe(7);
      expect(f.message).toContain(INTERVAL);
      expect(f.lines).toEqual(['Could not execute operation on all records: invalid parameter']);
      expect(await interval()).toBe(before);
    }
    // A good change beside a bad one is not stored either: the request is checked whole first.
    const both = [
      { key: 'node.startup', value: 'automatic' },
      { key: INTERVAL, value: '-5' },
    ];
    expect((await failure(host.nodeUpdate({ filter: { target: T }, fields: both }))).code).toBe(7);
    expect((await store.getNode((await store.listNodes())[0]!))?.get('node.startup')).toBe('manual');
    const ok = await host.nodeUpdate({ filter: { target: T }, fields: [{ key: INTERVAL, value: '0.5' }] });
    expect(ok.nodes.map((n) => n.target)).toEqual([T]);
    expect(await interval()).toBe('0.5');
  });

  it('refuses an empty filter without all (exit 7) and a filter that matches nothing (exit 21)', async () => {
    await newNode();
    expect((await failure(host.nodeUpdate({ fields: [{ key: 'node.startup', value: 'automatic' }] }))).code).toBe(7);
    expect(
      (
        await failure(
          host.nodeUpdate({ filter: { target: 'iqn.2026-12.test:none' }, fields: [{ key: 'node.startup', value: 'automatic' }] }),
        )
      ).code,
    ).toBe(21);
  });
});

describe('a session', () => {
  it('is logged in once, its record not deleted while it runs, its device exported, its events with reason text', async () => {
    const events: HostEvent[] = [];
    host.onEvent((e) => events.push(e));
    await newNode();
    const [first, second] = await Promise.all([host.nodeLogin({ filter: { target: T } }), host.nodeLogin({ filter: { target: T } })]);
    const codes = [first.results[0]!.code, second.results[0]!.code].sort((a, b) => a - b);
    expect(codes).toEqual([0, 15]); // one session however many logins race
    expect((await host.sessionList({})).sessions.map((s) => [s.node.target, s.sessionState, s.luns.length])).toEqual([[T, 'LOGGED_IN', 1]]);

    const refused = await failure(host.nodeDelete({ filter: { target: T } }));
    expect(refused.code).toBe(15);
    expect(refused.message).toMatch(/a session is using it\. Logout session then rerun command/);
    expect((await host.nodeList({ filter: { target: T } })).nodes).toHaveLength(1);

    const device = (await host.mpathList({})).devices[0]!.name;
    const started = await host.exportStart({ device });
    expect(started.exports.map((e) => [e.name, e.device])).toEqual([[device, device]]);
    expect(started.exports[0]!.uris[0]).toMatch(/^nbd\+unix:\/\/\/mpatha\?socket=.*\/state\/nbd\/mpatha\.sock$/);
    expect((await failure(host.exportStart({ device }))).code).toBe(15);
    expect((await host.exportStop({ name: device })).exports).toEqual([]);

    const out = await host.nodeLogout({ filter: { target: T } });
    expect(out.results.map((r) => r.code)).toEqual([0]);
    expect((await host.nodeDelete({ filter: { target: T } })).nodes.map((n) => n.target)).toEqual([T]);

    const session = events.filter((e): e is Extract<HostEvent, { kind: 'session' }> => e.kind === 'session').map((e) => e.event);
    expect(session.map((e) => e.state)).toContain('loggedIn');
    for (const e of session) expect(e.reason).toMatch(/^[a-z][a-z-]*(: .+)?$/);
  });

  it('that cannot log in reports the failure and its event says why in words', async () => {
    const events: SessionEventMsg[] = [];
    host.onEvent((e) => e.kind === 'session' && events.push(e.event));
    const closed = await freePort();
    await newNode(closed);
    const r = await host.nodeLogin({ filter: { target: T } });
    expect(r.results).toHaveLength(1);
    expect(r.results[0]!.code).not.toBe(0);
    expect(r.results[0]!.message).toMatch(/ECONNREFUSED/);
    const last = events.at(-1)!;
    expect(last.reason).not.toContain('[object');
    expect(last.reason).toMatch(/^[a-z][a-z-]*: .*ECONNREFUSED/);
    // Nothing uses the record after a failed login: it can be deleted.
    expect((await host.nodeDelete({ filter: { target: T } })).nodes).toHaveLength(1);
  });
});
