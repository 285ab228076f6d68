/**
 * Session recovery end to end against a real tgtd, through the TCP fault proxy: NOP-timeout and reset
 * detection, tgtd killed and restarted inside replacement_timeout (every I/O completes, data verified),
 * tgtd gone for good (held commands fail once, relogin stops after reopen_max), an LU that changed
 * identity, and logout while reconnecting.
 */
import { outstandingCommands } from '../../src/session/busy-poll.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { firstValueFrom, filter } from 'rxjs';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Tgtd } from '../support/tgtd.js';
import { FaultProxy } from '../support/fault-proxy.js';
import { ManagedSession, type ManagedSessionOptions } from '../../src/session/managed-session.js';
import { readBlocks, writeBlocks } from '../../src/scsi/cdb.js';
import { executeScsi } from '../../src/session/lun.js';
import { TransportError } from '../../src/iscsi/errors.js';
import type { SessionStatus } from '../../machines/session.machine.js';
import type { SessionTimers } from '../../machines/timers.js';

const IQN = 'iqn.2026-11.test:recovery';
const SIZE = 8 * 1024 * 1024;

let tgtd: Tgtd;
let backing: string;
let proxy: FaultProxy | undefined;
const sessions: ManagedSession[] = [];

async function startTarget(port?: number, decoy = false): Promise<Tgtd> {
  const t = await Tgtd.start({ port });
  // A decoy target first gives ours another tid, hence another VPD 0x83/0x80 identity (tgtd derives both from tid/LUN).
  if (decoy) await t.addTarget('iqn.2026-11.test:decoy');
  const tid = await t.addTarget(IQN);
  backing = await t.addLun(tid, 1, backing && port ? { path: backing } : { size: SIZE, random: true });
  await t.setTargetParam(tid, 'DefaultTime2Wait', '0');
  return t;
}

beforeEach(async () => {
  backing = '';
  tgtd = await startTarget();
});

afterEach(async () => {
  for (const s of sessions.splice(0)) s.stop();
  await proxy?.stop();
  proxy = undefined;
  await tgtd.stop();
});

const FAST: Partial<SessionTimers> = {
  noopOutIntervalMs: 0,
  noopOutTimeoutMs: 0,
  replacementTimeoutMs: 30_000,
  defaultTime2WaitMs: 0,
  backoffBaseMs: 50,
  backoffCapMs: 250,
  loginTimeoutMs: 5_000,
};

function managed(
  timers: Partial<SessionTimers>,
  via: { host: string; port: number } = tgtd,
  extra: Partial<ManagedSessionOptions> = {},
): ManagedSession {
  const s = new ManagedSession({
    host: via.host,
    port: via.port,
    targetName: IQN,
    initiatorName: 'iqn.2026-11.test:initiator',
    timers: { ...FAST, ...timers },
    wishes: { defaultTime2Wait: 0 },
    luns: [1],
    commandTimeoutMs: 0,
    ...extra,
  });
  sessions.push(s);
  return s;
}

const until = (s: ManagedSession, pred: (st: SessionStatus) => boolean) => firstValueFrom(s.events$.pipe(filter(pred)));

// Through executeScsi, as every caller does: the UNIT ATTENTION a restarted target reports is retried there.
const read = async (s: ManagedSession, offset: number, length: number) =>
  (await executeScsi(s, 1, readBlocks({ lba: offset / 512, blocks: length / 512, blockSize: 512 }))).data;
const write = (s: ManagedSession, offset: number, data: Buffer) =>
  executeScsi(s, 1, writeBlocks({ lba: offset / 512, blocks: data.length / 512, blockSize: 512 }), { dataOut: data });

describe('failure detection', () => {
  it('declares a blackholed connection dead after noop_out_interval + noop_out_timeout, then recovers', async () => {
    proxy = await FaultProxy.start(tgtd);
    const s = managed({ noopOutIntervalMs: 300, noopOutTimeoutMs: 300 }, proxy);
    await s.login();
    expect(s.status.state).toBe('loggedIn');
    // Traffic keeps the link alive: pings are answered.
    await until(s, (st) => st.state === 'loggedIn');
    const t0 = performance.now();
    proxy.set({ kind: 'blackhole' });
    const down = await until(s, (st) => st.state === 'recovering');
    const detectMs = performance.now() - t0;
    expect(down.reason.code).toBe('nop-timeout');
    expect(down.gate).toBe('holding');
    // Never before the NOP-Out could have gone unanswered for noop_out_timeout; within interval + timeout (+ slack).
    expect(detectMs).toBeGreaterThanOrEqual(300);
    expect(detectMs).toBeLessThan(300 + 300 + 1000);
    const pending = read(s, 0, 4096); // held while recovering
    expect(s.heldCount).toBe(1);
    proxy.set({ kind: 'pass' });
    const up = await until(s, (st) => st.state === 'loggedIn');
    expect(up.reason.code).toBe('relogged-in');
    expect(Buffer.compare(await pending, readFileSync(backing).subarray(0, 4096))).toBe(0);
  });

  it('declares a reset connection dead at once, without NOP pings', async () => {
    proxy = await FaultProxy.start(tgtd);
    const s = managed({}, proxy);
    await s.login();
    proxy.set({ kind: 'reset' });
    const down = await until(s, (st) => st.state === 'recovering');
    expect(['reset', 'closed']).toContain(down.reason.code);
    proxy.set({ kind: 'pass' });
    await until(s, (st) => st.state === 'loggedIn');
  });
});

describe('target restart', () => {
  it('completes every in-flight read and write when tgtd is killed and restarted inside replacement_timeout', async () => {
    const s = managed({ replacementTimeoutMs: 20_000 });
    await s.login();
    const original = readFileSync(backing);
    const writes = Array.from({ length: 32 }, (_, i) => ({ offset: i * 131072, data: randomBytes(65536) }));
    const reads = Array.from({ length: 32 }, (_, i) => i * 131072 + 65536);
    const io = [...writes.map((w) => write(s, w.offset, w.data)), ...reads.map((o) => read(s, o, 65536))];
    const port = tgtd.port;
    await tgtd.kill();
    await until(s, (st) => st.state === 'recovering');
    tgtd = await startTarget(port);
    const results = await Promise.all(io);
    expect(s.status.state).toBe('loggedIn');
    const after = readFileSync(backing);
    for (const w of writes) expect(Buffer.compare(after.subarray(w.offset, w.offset + 65536), w.data)).toBe(0);
    for (const [i, o] of reads.entries()) {
      expect(Buffer.compare(results[writes.length + i] as Buffer, original.subarray(o, o + 65536))).toBe(0);
    }
    // The commands failed by the dead connection and the ones re-issued are all accounted (busy-poll.ts).
    expect(outstandingCommands()).toBe(0);
  });

  it('fails each held command exactly once after replacement_timeout and stops relogin after reopen_max', async () => {
    const s = managed({ replacementTimeoutMs: 300, reopenMax: 3 });
    await s.login();
    await tgtd.kill();
    const held = Array.from({ length: 8 }, (_, i) => read(s, i * 4096, 4096));
    const outcomes = await Promise.allSettled(held);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(TransportError);
    }
    const failed = await until(s, (st) => st.state === 'failed');
    expect(failed.reason.code).toBe('reopen-exhausted');
    // Failed means failed: new commands are refused at once, not held.
    await expect(read(s, 0, 4096)).rejects.toBeInstanceOf(TransportError);
    expect(s.heldCount).toBe(0);
    expect(outstandingCommands()).toBe(0);
  });

  it('refuses an LU that changed identity behind the same IQN and LUN', async () => {
    const s = managed({});
    await s.login();
    const port = tgtd.port;
    await tgtd.kill();
    await until(s, (st) => st.state === 'recovering');
    tgtd = await startTarget(port, true);
    const failed = await until(s, (st) => st.state === 'failed');
    expect(failed.reason.code).toBe('identity-changed');
    expect(String(failed.reason.detail ?? (failed.reason.error as Error)?.message)).toMatch(/changed identity/);
    await expect(read(s, 0, 4096)).rejects.toBeInstanceOf(TransportError);
  });

  it('logs out promptly while reconnecting, failing the held commands', async () => {
    const s = managed({ replacementTimeoutMs: -1 });
    await s.login();
    await tgtd.kill();
    await until(s, (st) => st.state === 'recovering');
    const pending = read(s, 0, 4096);
    await s.logout();
    expect(s.status.state).toBe('loggedOut');
    await expect(pending).rejects.toBeInstanceOf(TransportError);
  });
});
