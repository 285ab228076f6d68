/**
 * Test helper: the two-path set-up of the daemon telemetry tests. nats-server, one tgtd LU (8 MiB,
 * DefaultTime2Wait 0) reached through two fault proxies, the built mpiscsid (options passed through), a node
 * record per proxy logged in with mpiscsiadm (one multipath device, mpatha, with two paths) and a control
 * client subscribed to the host's events. A path fails when its proxy resets every connection and comes back
 * when it passes them again.
 */
import { EventLog } from './event-log.js';
import { expect } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from './cli.js';
import { DaemonProcess, type DaemonOptions } from './daemon.js';
import { Tgtd } from './tgtd.js';
import { NatsServer } from './nats-server.js';
import { FaultProxy } from './fault-proxy.js';
import { ControlClient } from '../../src/control/client.js';
import { natsConnectionOptions } from '../../src/control/nats-options.js';
import type { HostEvent } from '../../src/control/api.js';

export type PathEvent = Extract<HostEvent, { kind: 'path' }>;

export interface TwoPathRig {
  dir: string;
  db: string;
  tgtd: Tgtd;
  nats: NatsServer;
  proxies: FaultProxy[];
  daemon: DaemonProcess;
  client: ControlClient;
  /** Every host event since the client subscribed. */
  events: HostEvent[];
  /** mpiscsiadm against this daemon's records and NATS. */
  adm(...args: string[]): Promise<CliResult>;
  /** Resolves at the first event (from now on) that matches. */
  nextEvent(pred: (e: HostEvent) => boolean): Promise<HostEvent>;
  /** Resets every connection through proxies[i] until a path has failed; resolves with that path event. */
  failPath(i: number): Promise<PathEvent>;
  /** Passes proxies[i] again; resolves once `path` is active. */
  restorePath(i: number, path: string): Promise<void>;
  stop(): Promise<void>;
}

export const pathTo =
  (to: string, path?: string) =>
  (e: HostEvent): boolean =>
    e.kind === 'path' && e.event.to === to && (path === undefined || e.event.path === path);

export async function startTwoPathRig(o: {
  iqn: string;
  hostId: string;
  daemon?: Pick<DaemonOptions, 'extra' | 'env' | 'traceFile'>;
}): Promise<TwoPathRig> {
  const dir = mkdtempSync(join(tmpdir(), `mpiscsid-${o.hostId}-`));
  const db = join(dir, 'db');
  const [tgtd, nats] = await Promise.all([Tgtd.start(), NatsServer.start()]);
  const proxies: FaultProxy[] = [];
  const log = new EventLog<HostEvent>();
  const events = log.all;
  let daemon: DaemonProcess | undefined;
  let client: ControlClient | undefined;
  const stop = async () => {
    await client?.close();
    await daemon?.stop();
    await Promise.all([tgtd.stop(), nats.stop(), ...proxies.map((p) => p.stop())]);
    rmSync(dir, { recursive: true, force: true });
  };
  const adm = (...args: string[]): Promise<CliResult> =>
    runCli('mpiscsiadm', ['--db', db, ...args], { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: o.hostId });
  const nextEvent = (pred: (e: HostEvent) => boolean): Promise<HostEvent> => log.next(pred);
  try {
    const tid = await tgtd.addTarget(o.iqn);
    await tgtd.addLun(tid, 1, { size: 8 * 1024 * 1024 });
    await tgtd.setTargetParam(tid, 'DefaultTime2Wait', '0');
    for (let i = 0; i < 2; i++) proxies.push(await FaultProxy.start({ host: tgtd.host, port: tgtd.port }));
    const d = DaemonProcess.launch({ db, dir, nats: nats.url, hostId: o.hostId, ...o.daemon });
    daemon = d;
    await Promise.race([
      Promise.all([d.waitFor(/control service on NATS/), d.waitFor(/ ready \(/)]),
      d.exited.then((c) => Promise.reject(new Error(`mpiscsid exited ${c}: ${d.lines.join('\n')}`))),
    ]);
    client = await ControlClient.connect(natsConnectionOptions({ servers: nats.url, maxReconnectAttempts: -1 }), {
      hostId: o.hostId,
      timeoutMs: 30_000,
    });
    client.subscribeEvents(o.hostId, '*', log.push);
    await client.nc.flush();
    for (const p of proxies) {
      const r = await adm('-m', 'node', '-T', o.iqn, '-p', `${p.host}:${p.port}`, '-o', 'new');
      expect(r.code, r.stderr).toBe(0);
    }
    const login = await adm('-m', 'node', '-T', o.iqn, '-l');
    expect(login.code, login.stderr).toBe(0);
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  return {
    dir,
    db,
    tgtd,
    nats,
    proxies,
    daemon,
    client,
    events,
    adm,
    nextEvent,
    async failPath(i) {
      const failed = nextEvent(pathTo('failed'));
      proxies[i].set({ kind: 'reset' });
      return (await failed) as PathEvent;
    },
    async restorePath(i, path) {
      const back = nextEvent(pathTo('active', path));
      proxies[i].set({ kind: 'pass' });
      await back;
    },
    stop,
  };
}
