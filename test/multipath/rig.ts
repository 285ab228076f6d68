/**
 * Integration rig for multipath tests: ONE tgtd listening on two portals (127.0.0.1 and 127.0.0.2), two
 * ifaces (source addresses 127.0.0.1 and 127.0.0.3), hence four paths, each through its own fault proxy;
 * the paths grouped by WWID by a PathManager. Plus a verifying load generator that reports the longest gap
 * between completions.
 */
import { randomBytes } from 'node:crypto';
import { Tgtd } from '../support/tgtd.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { ManagedSession } from '../../src/session/managed-session.js';
import { PathManager } from '../../src/multipath/manager.js';
import type { MultipathDevice, MultipathEvent } from '../../src/multipath/device.js';
import type { MultipathConfig } from '../../src/multipath/config.js';
import type { SessionTimers } from '../../machines/timers.js';
import { readBlocks, writeBlocks } from '../../src/scsi/cdb.js';
import { executeScsi } from '../../src/session/lun.js';

export const IQN = 'iqn.2026-11.test:multipath';
export const PORTALS = ['127.0.0.1', '127.0.0.2'];
export const IFACES = ['127.0.0.1', '127.0.0.3'];
export const BLOCK = 512;

/** Session timers for fast tests: NOP 0.5 s / 0.5 s, quick relogin. */
export const TIMERS: Partial<SessionTimers> = {
  noopOutIntervalMs: 500,
  noopOutTimeoutMs: 500,
  replacementTimeoutMs: 60_000,
  defaultTime2WaitMs: 0,
  backoffBaseMs: 50,
  backoffCapMs: 250,
  loginTimeoutMs: 1_000,
};

export interface Path {
  name: string;
  proxy: FaultProxy;
  session: ManagedSession;
}

export interface Rig {
  tgtd: Tgtd;
  backing: string;
  size: number;
  paths: Path[];
  manager: PathManager;
  device: MultipathDevice;
  events: MultipathEvent[];
  stop(): Promise<void>;
}

export async function startRig(
  options: { config?: Partial<MultipathConfig>; timers?: Partial<SessionTimers>; size?: number } = {},
): Promise<Rig> {
  const size = options.size ?? 16 * 1024 * 1024;
  const tgtd = await Tgtd.start({ hosts: PORTALS });
  const tid = await tgtd.addTarget(IQN);
  const backing = await tgtd.addLun(tid, 1, { size, random: true });
  await tgtd.setTargetParam(tid, 'DefaultTime2Wait', '0');
  const events: MultipathEvent[] = [];
  const manager = new PathManager({ config: options.config, onEvent: (e) => events.push(e) });
  const paths: Path[] = [];
  for (const portal of PORTALS)
    for (const [i, iface] of IFACES.entries()) {
      const proxy = await FaultProxy.start({ host: portal, port: tgtd.port });
      const name = `${portal}:${tgtd.port}/iface${i}`;
      const session = new ManagedSession({
        host: proxy.host,
        port: proxy.port,
        localAddress: iface,
        targetName: IQN,
        initiatorName: 'iqn.2026-11.test:mp-initiator',
        sessionKey: name,
        timers: { ...TIMERS, ...options.timers },
        wishes: { defaultTime2Wait: 0 },
        luns: [1],
        commandTimeoutMs: 0,
        failFast: true,
      });
      paths.push({ name, proxy, session });
    }
  await Promise.all(paths.map((p) => p.session.login()));
  let device: MultipathDevice | undefined;
  for (const p of paths) device = await manager.addPath(p.session, { name: p.name, lun: 1 });
  return {
    tgtd,
    backing,
    size,
    paths,
    manager,
    device: device!,
    events,
    async stop() {
      manager.close();
      for (const p of paths) p.session.stop();
      await Promise.all(paths.map((p) => p.proxy.stop()));
      await tgtd.stop();
    },
  };
}

export const read = async (dev: MultipathDevice, offset: number, length: number): Promise<Buffer> =>
  (await executeScsi(dev, 1, readBlocks({ lba: offset / BLOCK, blocks: length / BLOCK, blockSize: BLOCK }))).data;

export const write = (dev: MultipathDevice, offset: number, data: Buffer) =>
  executeScsi(dev, 1, writeBlocks({ lba: offset / BLOCK, blocks: data.length / BLOCK, blockSize: BLOCK }), { dataOut: data });

export const pathState = (dev: MultipathDevice, name: string) =>
  dev
    .status()
    .groups.flatMap((g) => g.paths)
    .find((p) => p.name === name)?.state;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves with the next `count` events of `dev` that match `pred` (from now on); rejects after `timeoutMs`,
 * the bound by which they should have happened (not a wait: the events end it).
 */
export function nextEvents<E extends MultipathEvent>(
  dev: MultipathDevice,
  pred: (e: MultipathEvent) => e is E,
  count: number,
  timeoutMs: number,
  what: string,
): Promise<E[]> {
  return new Promise((resolve, reject) => {
    const seen: E[] = [];
    const timer = setTimeout(() => {
      sub.unsubscribe();
      reject(new Error(`${what}: ${seen.length} of ${count} events within ${timeoutMs} ms`));
    }, timeoutMs);
    const sub = dev.events$.subscribe((e) => {
      if (!pred(e)) return;
      seen.push(e);
      if (seen.length < count) return;
      clearTimeout(timer);
      sub.unsubscribe();
      resolve(seen);
    });
  });
}

/** Polls `pred` (for states no event announces, such as a held count) until it holds; returns the ms it took. */
export async function until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<number> {
  const t0 = performance.now();
  while (!pred()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what} not reached within ${timeoutMs} ms`);
    await sleep(5);
  }
  return performance.now() - t0;
}

export interface LoadReport {
  ops: number;
  errors: Error[];
  verifyFailures: string[];
  /** Longest time without any I/O completing (ms). */
  maxGapMs: number;
  /** Longest single I/O (ms): what one request waited through a failover. */
  maxLatencyMs: number;
  /** The data each worker last wrote, by region: what the LU must hold. */
  model: Buffer[];
  regionBytes: number;
}

/**
 * `workers` sequential writers, each in its own region: random data written, read back and compared with
 * what the worker last wrote there, until `stop()` resolves. Every completion moves the gap clock.
 */
export function verifyingLoad(
  dev: MultipathDevice,
  workers: number,
  regionBytes: number,
): { stop(): Promise<LoadReport>; progress(ops: number, timeoutMs: number, what: string): Promise<void> } {
  let running = true;
  const report: LoadReport = { ops: 0, errors: [], verifyFailures: [], maxGapMs: 0, maxLatencyMs: 0, model: [], regionBytes };
  let last = performance.now();
  /** progress() callers: the op count each waits for. */
  const waiters: { at: number; resolve(): void }[] = [];
  const tick = (startedAt: number) => {
    const now = performance.now();
    report.maxGapMs = Math.max(report.maxGapMs, now - last);
    report.maxLatencyMs = Math.max(report.maxLatencyMs, now - startedAt);
    last = now;
    report.ops++;
    for (let i = waiters.length - 1; i >= 0; i--)
      if (report.ops >= waiters[i].at) {
        waiters[i].resolve();
        waiters.splice(i, 1);
      }
  };
  const worker = async (w: number) => {
    const base = w * regionBytes;
    const model = randomBytes(regionBytes);
    report.model[w] = model;
    await write(dev, base, model);
    tick(performance.now());
    while (running) {
      const blocks = 1 + Math.floor(Math.random() * 64);
      const len = Math.min(blocks * BLOCK, regionBytes);
      const off = Math.floor(Math.random() * ((regionBytes - len) / BLOCK + 1)) * BLOCK;
      const data = randomBytes(len);
      try {
        let t = performance.now();
        await write(dev, base + off, data);
        data.copy(model, off);
        tick(t);
        t = performance.now();
        const back = await read(dev, base + off, len);
        tick(t);
        if (!back.equals(model.subarray(off, off + len))) report.verifyFailures.push(`worker ${w} at ${base + off}+${len}`);
      } catch (err) {
        report.errors.push(err as Error);
        return;
      }
    }
  };
  const all = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    async stop() {
      running = false;
      await all;
      return report;
    },
    /**
     * Resolves once `ops` more I/Os have completed (verified); rejects when they have not within
     * `timeoutMs` (the load stalled) or a worker stopped on an error.
     */
    progress(ops, timeoutMs, what) {
      const at = report.ops + ops;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.findIndex((w) => w.resolve === done);
          if (i >= 0) waiters.splice(i, 1);
          reject(
            new Error(
              `${what}: ${report.ops - (at - ops)} of ${ops} I/Os within ${timeoutMs} ms; errors: ${report.errors.map((e) => e.message).join('; ') || 'none'}`,
            ),
          );
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push({ at, resolve: done });
      });
    },
  };
}
