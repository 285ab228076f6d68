/**
 * Issue 14, the fleet on a real NATS cluster: three nats-server members clustered on loopback
 * (test/support/nats-cluster.ts), the records in one KV bucket with three replicas
 * (`--db nats-kv://fleet?replicas=3`), three built mpiscsid hosts given all three servers, each logged in to
 * one tgtd LUN. `mpiscsiadm --host-id all` lists every host's sessions, devices and exports with the host in
 * each line and in --json. Then the member h1's control connection is on is killed while fio (nbd engine)
 * runs through h1's export and control requests to h1 loop: h1 reconnects to another member, the requests
 * answer again, every record is still there byte for byte, and fio ends with 0 errors. The numbers (seconds
 * to reconnect, requests failed, records intact, fio's longest completion) are printed for the README.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { runCli, type CliResult } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { Tgtd } from '../support/tgtd.js';
import { NatsCluster } from '../support/nats-cluster.js';
import { fio } from '../support/nbd-clients.js';
import { ControlClient } from '../../src/control/client.js';
import { natsConnectionOptions } from '../../src/control/nats-options.js';
import { KvStore } from '../../src/db/kv-store.js';
import { packageVersionOf } from '../../src/control/version.js';

const IQN = 'iqn.2026-12.test:fleet';
const HOSTS = ['h1', 'h2', 'h3'] as const;
const DB = 'nats-kv://fleet?replicas=3';
const SIZE = 64 * 1024 * 1024;

let dir: string;
let cluster: NatsCluster;
let tgtd: Tgtd;
const daemons = new Map<string, DaemonProcess>();
let uri: string;

const adm = (hostId: string, ...args: string[]): Promise<CliResult> =>
  runCli('mpiscsiadm', ['--db', DB, ...args], { MPISCSI_NATS_URL: cluster.urls, MPISCSI_HOST_ID: hostId });

/** Every subject and last value of the records bucket (stream subjects, then a get each), on the test's connection. */
async function snapshot(nc: NatsConnection): Promise<Map<string, string>> {
  const store = await KvStore.open(nc, 'fleet');
  const si = await (await jetstreamManager(nc)).streams.info('KV_fleet', { subjects_filter: '$KV.fleet.>' });
  const out = new Map<string, string>();
  for (const subject of Object.keys(si.state.subjects ?? {}).sort()) {
    const k = subject.slice('$KV.fleet.'.length);
    out.set(k, (await store.kv.get(k))?.string() ?? '<missing>');
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-fleet-'));
  const backing = join(dir, 'lu.img');
  writeFileSync(backing, randomBytes(SIZE), { mode: 0o600 });
  [cluster, tgtd] = await Promise.all([NatsCluster.start(), Tgtd.withFileLun(IQN, backing)]);
  for (const h of HOSTS) daemons.set(h, await DaemonProcess.start({ db: DB, dir, nats: cluster.urls, hostId: h }));
  const disc = await adm('h1', '-m', 'discovery', '-t', 'st', '-p', `127.0.0.1:${tgtd.port}`);
  expect(disc.code, disc.stderr).toBe(0);
  for (const h of HOSTS) {
    const login = await adm(h, '-m', 'node', '-T', IQN, '-l');
    expect(login.code, login.stderr).toBe(0);
  }
  const exp = await adm('h1', '-m', 'export', '-o', 'new', '--device', 'mpatha');
  expect(exp.code, exp.stderr).toBe(0);
  uri = /(nbd\+unix:\/\/\/\S+)/.exec(exp.stdout)![1]!;
}, 120_000);

afterAll(async () => {
  for (const d of daemons.values()) await d.stop();
  await Promise.all([tgtd?.stop(), cluster?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('three mpiscsid on a three-member NATS cluster, records in a KV bucket R3', () => {
  it('mpiscsiadm --host-id all lists every host with the host in each line and in --json', async () => {
    const all = await adm('all');
    expect(all.code, all.stderr).toBe(0);
    const lines = all.stdout.trimEnd().split('\n');
    for (const h of HOSTS) {
      expect(lines).toContain(`${h}: mpiscsid ${packageVersionOf()}, 1 session, 1 device, ${h === 'h1' ? '1 export' : '0 exports'}`);
      expect(lines.some((l) => new RegExp(`^${h}: tcp: \\[\\d+\\] 127\\.0\\.0\\.1:${tgtd.port},1 ${IQN} \\(non-flash\\)$`).test(l))).toBe(
        true,
      );
      expect(lines.some((l) => l.startsWith(`${h}: mpatha (`))).toBe(true);
    }
    expect(lines.filter((l) => / export /.test(l))).toEqual([expect.stringMatching(/^h1: export mpatha mpatha nbd\+unix:/)]);
    expect(lines.every((l) => /^h[123]: /.test(l))).toBe(true);

    const sessions = await adm('all', '-m', 'session');
    expect(sessions.code).toBe(0);
    expect(
      sessions.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split(':')[0]),
    ).toEqual(['h1', 'h2', 'h3']);

    const json = JSON.parse((await adm('all', '--json')).stdout) as {
      hosts: Array<{ hostId: string }>;
      sessions: Array<{ hostId: string; node: { target: string } }>;
      devices: Array<{ hostId: string }>;
      exports: Array<{ hostId: string; name: string }>;
    };
    expect(json.hosts.map((h) => h.hostId)).toEqual([...HOSTS]);
    expect(json.sessions.map((s) => [s.hostId, s.node.target])).toEqual(HOSTS.map((h) => [h, IQN]));
    expect(json.devices.map((d) => d.hostId)).toEqual([...HOSTS]);
    expect(json.exports.map((e) => [e.hostId, e.name])).toEqual([['h1', 'mpatha']]);

    const bad = await adm('all', '-m', 'node', '-l');
    expect(bad.code).toBe(7);
    expect(bad.stderr).toMatch(/--host-id all lists every host's sessions, mpath devices and exports/);
  });

  it('the member h1 is connected to killed under fio and control requests: reconnect, nothing lost, 0 fio errors', async () => {
    const victim = await cluster.memberWithClient('mpiscsid@h1');
    expect(victim).toBeGreaterThanOrEqual(0);
    const others = cluster.servers.filter((_, i) => i !== victim).map((m) => m.url);
    // The test's own connections avoid the victim, so that what fails is the daemon's side.
    const nc = await connect(natsConnectionOptions({ servers: others, maxReconnectAttempts: -1 }));
    const client = new ControlClient(nc, { hostId: 'h1', timeoutMs: 1000 });
    try {
      const before = await snapshot(nc);
      expect([...before.keys()].filter((k) => k.startsWith('nodes.'))).toHaveLength(1);

      const load = fio({ uri, rw: 'randrw', bs: '4k', iodepth: 16, size: '32M', verify: 'crc32c', runtime: 12 });
      const h1 = daemons.get('h1')!;
      // fio has started once h1's device moved I/O.
      const completed = async () =>
        (await client.call('mpathList', { device: 'mpatha' })).devices[0]!.paths.reduce((n, p) => n + Number(p.completed), 0);
      const start = await completed();
      while ((await completed()) < start + 500) await new Promise((r) => setTimeout(r, 20));

      // Requests to h1 back to back for the whole fio run: a read of its sessions and one of the records (KV).
      const outcomes: Array<{ at: number; ok: boolean; why?: string }> = [];
      let stop = false;
      const loop = (async () => {
        while (!stop) {
          try {
            await client.call('sessionList', {});
            await client.call('nodeList', {});
            outcomes.push({ at: performance.now(), ok: true });
          } catch (err) {
            outcomes.push({ at: performance.now(), ok: false, why: (err as Error).message });
          }
        }
      })();
      const reconnected = h1.waitFor(/NATS reconnected/);
      const killedAt = performance.now();
      await cluster.kill(victim);
      await reconnected;
      const reconnectS = (performance.now() - killedAt) / 1000;
      await cluster.formed();
      const metaLeaderS = (performance.now() - killedAt) / 1000;
      await cluster.streamLeader('KV_fleet', cluster.servers[victim]!.name);
      const { job } = await load;
      stop = true;
      await loop;
      const failures = outcomes.filter((o) => !o.ok);
      const lastFailure = failures.at(-1)?.at ?? killedAt;
      const answeredS = ((outcomes.find((o) => o.ok && o.at > lastFailure)?.at ?? Number.NaN) - killedAt) / 1000;
      // Control works again after the loss: every request of the last seconds of the run answered.
      const tail = outcomes.filter((o) => o.at > lastFailure);
      expect(
        tail.length,
        outcomes
          .filter((o) => !o.ok)
          .map((o) => `${((o.at - killedAt) / 1000).toFixed(2)} s ${o.why}`)
          .join('\n'),
      ).toBeGreaterThan(20);

      // A write through h1 after the loss, then every record as it was (plus that change).
      const upd = await client.call('nodeUpdate', {
        filter: { target: IQN },
        fields: [{ key: 'node.session.timeo.replacement_timeout', value: '121' }],
      });
      expect(upd).toBeDefined();
      const after = await snapshot(nc);
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      let intact = 0;
      for (const [k, v] of before) {
        const expected = k.startsWith('nodes.') ? v.replace(/^(node\.session\.timeo\.replacement_timeout = ).*$/m, '$1121') : v;
        expect(after.get(k)).toBe(expected);
        intact++;
      }

      expect(job.error).toBe(0);
      const longestMs = Math.max(job.read.clat_ns.max, job.write.clat_ns.max) / 1e6;
      console.log(
        `fleet: ${cluster.servers[victim]!.name} (h1's server) killed under fio randrw verify and a control loop: ` +
          `h1 reconnected in ${reconnectS.toFixed(2)} s, JetStream meta leader again at ${metaLeaderS.toFixed(2)} s, ` +
          `control answering for good at ${answeredS.toFixed(2)} s; ${failures.length} of ${outcomes.length} request pairs failed; ` +
          `${intact}/${before.size} KV entries intact; fio ${job.read.total_ios + job.write.total_ios} I/Os, 0 errors, longest completion ${longestMs.toFixed(0)} ms`,
      );
      expect(h1.lines.join('\n')).toMatch(/NATS connection lost; I\/O goes on, reconnecting/);
    } finally {
      await nc.close();
    }
  });
});
