/**
 * MultipathDevice over scripted paths: path selection per group, re-issue on another path at once when a
 * path fails (each I/O completes once), target answers returned from the one path that ran them, holding
 * per no_path_retry, the path checker (TEST UNIT READY, WWID re-check), fast stall detection with a NOP
 * probe, grouping by WWID and ALUA priorities, and the topology. Every device and path runs on its own
 * SimulatedClock: the timers are the subject, so time passes only when a test moves it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { readBlocks, writeBlocks } from '../../src/scsi/cdb.js';
import { CheckConditionError } from '../../src/scsi/errors.js';
import { executeScsi } from '../../src/session/lun.js';
import { TransportError } from '../../src/iscsi/errors.js';
import { MultipathDevice, type MultipathEvent } from '../../src/multipath/device.js';
import { PathManager } from '../../src/multipath/manager.js';
import type { MultipathConfig } from '../../src/multipath/config.js';
import { encodeReportTargetPortGroups, AsymmetricAccessState } from '../../src/scsi/rtpg.js';
import { SenseKey } from '../../src/scsi/sense.js';
import { tgtd } from '../scsi/fixtures.js';
import { advance, advanceUntil, checkCondition, FakePath, good, settle, track } from './fake-path.js';

const devices: MultipathDevice[] = [];
afterEach(() => {
  for (const d of devices.splice(0)) d.close();
});

function device(
  config: Partial<MultipathConfig>,
  n: number,
): { dev: MultipathDevice; paths: FakePath[]; events: MultipathEvent[]; clock: SimulatedClock } {
  const clock = new SimulatedClock();
  const dev = new MultipathDevice({
    name: 'mpatha',
    wwid: '360000000000000000e00000000010001',
    config: { pollingIntervalMs: 60_000, ...config },
    clock,
  });
  devices.push(dev);
  const paths = Array.from({ length: n }, (_, i) => new FakePath(`p${i}`, clock));
  for (const [i, p] of paths.entries()) dev.addPath(p, { name: `p${i}`, lun: 10 + i });
  const events: MultipathEvent[] = [];
  dev.events$.subscribe((e) => events.push(e));
  return { dev, paths, events, clock };
}

const read = (dev: MultipathDevice, lba = 0) => executeScsi(dev, 1, readBlocks({ lba, blocks: 8, blockSize: 512 }));
const stateOf = (dev: MultipathDevice, name: string) =>
  dev
    .status()
    .groups.flatMap((g) => g.paths)
    .find((p) => p.name === name)?.state;

describe('selection', () => {
  it('multibus round-robin spreads I/O over every path, each with its own LUN', async () => {
    const { dev, paths } = device({ pathGroupingPolicy: 'multibus', pathSelector: 'round-robin' }, 3);
    for (let i = 0; i < 6; i++) await read(dev, i);
    expect(paths.map((p) => p.dataCalls.length)).toEqual([2, 2, 2]);
    expect(paths.map((p) => p.dataCalls[0].lun)).toEqual([10, 11, 12]);
  });

  it('failover uses the active group only', async () => {
    const { dev, paths } = device({ pathGroupingPolicy: 'failover' }, 3);
    await Promise.all(Array.from({ length: 8 }, (_, i) => read(dev, i)));
    expect(paths.map((p) => p.dataCalls.length)).toEqual([8, 0, 0]);
  });
});

describe('failover of in-flight I/O', () => {
  it('re-issues the I/Os of a path that went down on another path at once, each completing once', async () => {
    const { dev, paths, events } = device({ pathGroupingPolicy: 'multibus', pathSelector: 'round-robin' }, 2);
    paths[0].answer = () => 'hold';
    const ios = Array.from({ length: 6 }, (_, i) => read(dev, i));
    await paths[0].whenPending(3);
    await settle();
    expect(paths[0].pending.length).toBe(3);
    const results: string[] = [];
    for (const [i, p] of ios.entries())
      p.then(
        () => results.push(`ok${i}`),
        () => results.push(`err${i}`),
      );
    paths[0].down('reset');
    await settle(); // no time passes: "at once"
    expect(results.sort()).toEqual(['ok0', 'ok1', 'ok2', 'ok3', 'ok4', 'ok5']);
    expect(paths[1].dataCalls.length).toBe(6);
    expect(events.filter((e) => e.type === 'io.reissued')).toHaveLength(3);
    expect(stateOf(dev, 'p0')).toBe('failed');
  });

  it('a TransportError on a path whose session stays up fails that path and re-issues elsewhere', async () => {
    const { dev, paths } = device({ pathGroupingPolicy: 'multibus', pathSelector: 'round-robin' }, 2);
    paths[0].answer = () => new TransportError('target failure (iSCSI response 0x1)');
    await read(dev);
    expect(paths[0].dataCalls.length).toBe(1);
    expect(paths[1].dataCalls.length).toBe(1);
    expect(stateOf(dev, 'p0')).toBe('failed');
  });

  it("sense that says 'this path cannot serve the LU' (ALUA standby) fails the path over", async () => {
    const { dev, paths } = device({ pathGroupingPolicy: 'multibus', pathSelector: 'round-robin' }, 2);
    paths[0].answer = () => checkCondition(SenseKey.NOT_READY, 0x04, 0x0b);
    const res = await read(dev);
    expect(res.status).toBe(0);
    expect(paths[1].dataCalls.length).toBe(1);
    expect(stateOf(dev, 'p0')).toBe('failed');
  });

  it('returns the target answer (ILLEGAL REQUEST, MEDIUM ERROR, DATA PROTECT) from the one path that ran it', async () => {
    const { dev, paths } = device({ pathGroupingPolicy: 'multibus', pathSelector: 'round-robin' }, 2);
    for (const [key, asc] of [
      [SenseKey.ILLEGAL_REQUEST, 0x21],
      [SenseKey.MEDIUM_ERROR, 0x11],
      [SenseKey.DATA_PROTECT, 0x27],
    ]) {
      for (const p of paths) p.answer = () => checkCondition(key, asc);
      const before = paths.reduce((n, p) => n + p.dataCalls.length, 0);
      const err = await read(dev).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckConditionError);
      expect((err as CheckConditionError).sense.key).toBe(key);
      expect(paths.reduce((n, p) => n + p.dataCalls.length, 0) - before).toBe(1);
    }
    expect(dev.status().groups[0].paths.map((p) => p.state)).toEqual(['active', 'active']);
  });

  it('gives up after maxReissues path failures in a row', async () => {
    // Each path fails its command while its session stays up, and the checker keeps reinstating them.
    const { dev, paths, clock } = device(
      { pathGroupingPolicy: 'multibus', maxReissues: 3, noPathRetry: 'queue', pollingIntervalMs: 10 },
      2,
    );
    for (const p of paths) p.answer = (req) => (req.cdb[0] === 0 ? good() : new TransportError('flaky'));
    const io = track(read(dev));
    await advanceUntil(clock, () => io.state !== 'pending', 200, 'the I/O settled');
    const err = io.error;
    expect(io.state).toBe('rejected');
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toMatch(/failed on 4 paths in a row/);
    expect(paths[0].dataCalls.length + paths[1].dataCalls.length).toBe(4);
  });
});

describe('no usable path', () => {
  it('no_path_retry N: held I/O fails with TransportError at N checker intervals', async () => {
    const { dev, paths, clock } = device({ noPathRetry: 3, pollingIntervalMs: 40, fastIoFailTmoMs: 0 }, 1);
    paths[0].down('reset');
    const io = track(read(dev));
    const waited = await advanceUntil(clock, () => io.state !== 'pending', 1_000, 'the held I/O failed');
    const err = io.error;
    expect(err).toBeInstanceOf(TransportError);
    expect(String((err as Error).message)).toMatch(/no_path_retry 3 exhausted/);
    expect(waited).toBe(3 * 40); // the third checker interval, not sooner and not a tick later
    expect(dev.gate).toBe('failed');
    await expect(read(dev)).rejects.toBeInstanceOf(TransportError); // fails at once now
  });

  it('no_path_retry N: a path back before the deadline completes the held I/O without error', async () => {
    const { dev, paths, clock } = device({ noPathRetry: 10, pollingIntervalMs: 50 }, 1);
    paths[0].down('reset');
    const io = read(dev);
    await advance(clock, 5);
    expect(dev.heldCount).toBe(1);
    paths[0].up();
    await expect(io).resolves.toMatchObject({ status: 0 });
    expect(stateOf(dev, 'p0')).toBe('active');
  });

  it('an I/O in flight when its only path goes down is held once and issued once when the path is back', async () => {
    // The path's I/Os are re-issued as its connection goes; the session's own failure of the same command comes
    // after, and is stale: counted again it would hold (and later issue) the I/O twice.
    const { dev, paths, clock, events } = device({ noPathRetry: 10, pollingIntervalMs: 50 }, 1);
    paths[0].answer = () => 'hold';
    const io = read(dev);
    await paths[0].whenPending(1);
    paths[0].down('reset');
    await settle();
    expect(dev.heldCount).toBe(1);
    expect(events.filter((e) => e.type === 'io.reissued')).toHaveLength(1);
    paths[0].answer = () => good(Buffer.alloc(4096));
    paths[0].up();
    await expect(io).resolves.toMatchObject({ status: 0 });
    await advance(clock, 5);
    expect(paths[0].dataCalls).toHaveLength(2); // the first issue and the one after the path came back
  });

  it('no_path_retry fail: fails at once when the hold for the recovering path ends', async () => {
    const { dev, paths, clock } = device({ noPathRetry: 'fail' }, 1);
    paths[0].down('reset');
    const io = read(dev);
    const failed = track(io);
    // Held for fast_io_fail_tmo (default 5 s) while the path relogs in; then no_path_retry fail: no counting.
    expect(await advanceUntil(clock, () => failed.state !== 'pending', 10_000, 'the held I/O failed')).toBe(5_000);
    await expect(io).rejects.toThrow(/no usable path/);
    await expect(read(dev)).rejects.toThrow(/no usable path/); // and at once from now on
  });
});

describe('path checker', () => {
  it('reinstates a relogged-in path only after its WWID matches and TEST UNIT READY passes', async () => {
    const { dev, paths, clock } = device({ pathGroupingPolicy: 'multibus' }, 2);
    dev.removePath('p0');
    const p = new FakePath('x', clock);
    const identity = {
      wwid: '360000000000000000e00000000010001',
      vendor: 'IET',
      product: 'VIRTUAL-DISK',
      revision: '0001',
      tpgs: 0,
      prio: 1,
    };
    dev.addPath(p, { name: 'x', lun: 1, identity });
    p.down('nop-timeout');
    expect(stateOf(dev, 'x')).toBe('failed');
    p.answer = (req) => (req.cdb[0] === 0 ? checkCondition(SenseKey.NOT_READY, 0x04, 0x03) : good());
    p.up();
    expect(stateOf(dev, 'x')).toBe('checking');
    await settle(); // the check that session-up asks for runs at once: no time passes
    expect(stateOf(dev, 'x')).toBe('failed');
    expect(p.calls.some((r) => r.cdb[0] === 0x12 && r.cdb[2] === 0x83)).toBe(true);
    p.answer = () => good();
    dev.configure({ pollingIntervalMs: 20 });
    expect(await advanceUntil(clock, () => stateOf(dev, 'x') === 'active', 1_000, 'x active')).toBeLessThanOrEqual(20);
    expect(paths[1].gate).toBe('open');
  });

  it('removes a path whose LU changed WWID behind it; it never rejoins', async () => {
    const mgr = new PathManager({ config: { pathGroupingPolicy: 'multibus', pollingIntervalMs: 60_000 }, clock: new SimulatedClock() });
    const a = new FakePath('a');
    const b = new FakePath('b');
    const dev = await mgr.addPath(a, { name: 'a', lun: 1 });
    expect(await mgr.addPath(b, { name: 'b', lun: 1 })).toBe(dev);
    b.down('reset');
    const other = Buffer.from(tgtd.vpdDeviceIdentification);
    other[other.length - 1] ^= 0xff; // another NAA: another LU
    b.vpd83 = other;
    b.up();
    await settle(); // the checker's WWID read on session-up, at once
    expect(dev.pathNames).toEqual(['a']);
    await expect(mgr.addPath(b, { name: 'b', lun: 1 })).rejects.toThrow(/does not rejoin/);
    expect(mgr.devices).toHaveLength(1);
    mgr.close();
  });
});

describe('fast detection', () => {
  const cfg: Partial<MultipathConfig> = {
    pathGroupingPolicy: 'multibus',
    pathSelector: 'round-robin',
    stallFloorMs: 30,
    probeTimeoutMs: 40,
    stallSweepMs: 5,
  };

  it('probes a path whose I/O stalls, and fails it over when the NOP-Out goes unanswered', async () => {
    const { dev, paths, events, clock } = device(cfg, 2);
    paths[0].answer = () => 'hold';
    paths[0].live!.pings = 'silent';
    const io = track(read(dev));
    const took = await advanceUntil(clock, () => io.state !== 'pending', 1_000, 'the read completed');
    expect(io.state).toBe('resolved');
    expect(io.value?.status).toBe(0);
    // Stalled for the 30 ms floor (seen by the 5 ms sweep at once), then 40 ms without a NOP-In.
    expect(took).toBe(30 + 40);
    expect(events.find((e) => e.type === 'probe')).toMatchObject({ path: 'p0', ok: false, stalledMs: 30 });
    expect(paths[0].live!.closed).toBe(true);
  });

  it('leaves a busy path alone when the probe is answered', async () => {
    const { dev, paths, events, clock } = device(cfg, 2);
    paths[0].answer = () => 'hold';
    const io = read(dev);
    expect(await advanceUntil(clock, () => events.some((e) => e.type === 'probe'), 1_000, 'a probe')).toBe(30);
    expect(events.find((e) => e.type === 'probe')).toMatchObject({ path: 'p0', ok: true, stalledMs: 30, rttMs: 0.1 });
    expect(stateOf(dev, 'p0')).toBe('active');
    paths[0].release();
    await expect(io).resolves.toMatchObject({ status: 0 });
    expect(paths[1].dataCalls.length).toBe(0);
  });
});

describe('grouping and topology', () => {
  it('groups paths by WWID into devices and prints multipath -ll', async () => {
    const mgr = new PathManager({
      config: { pathGroupingPolicy: 'multibus', noPathRetry: 'queue', pollingIntervalMs: 60_000 },
      clock: new SimulatedClock(),
    });
    const paths = [new FakePath('a'), new FakePath('b'), new FakePath('c')];
    paths[2].vpd83 = Buffer.from(tgtd.vpdDeviceIdentification);
    paths[2].vpd83[paths[2].vpd83.length - 1] = 2; // LUN 2's NAA
    for (const [i, p] of paths.entries()) await mgr.addPath(p, { name: `127.0.0.1:3260/iface${i}`, lun: 1 });
    expect(mgr.devices.map((d) => [d.name, d.pathNames])).toEqual([
      ['mpatha', ['127.0.0.1:3260/iface0', '127.0.0.1:3260/iface1']],
      ['mpathb', ['127.0.0.1:3260/iface2']],
    ]);
    paths[1].down('reset');
    expect(mgr.topology()).toEqual([
      'mpatha (360000000000000000e00000000010001) IET,VIRTUAL-DISK',
      "size=64M features='1 queue_if_no_path' hwhandler='0' wp=rw",
      "`-+- policy='service-time 0' prio=1 status=active",
      '  |- 1:0:0:1 127.0.0.1:3260/iface0 lun 1 active ready running',
      '  `- 2:0:0:1 127.0.0.1:3260/iface1 lun 1 failed faulty recovering',
      '       reason: reset; relogging in',
      'mpathb (360000000000000000e00000000010002) IET,VIRTUAL-DISK',
      "size=64M features='1 queue_if_no_path' hwhandler='0' wp=rw",
      "`-+- policy='service-time 0' prio=1 status=active",
      '  `- 3:0:0:1 127.0.0.1:3260/iface2 lun 1 active ready running',
    ]);
    mgr.close();
  });

  it('ALUA: priorities from REPORT TARGET PORT GROUPS; group_by_prio prefers the optimized group', async () => {
    const mgr = new PathManager({
      config: { pathGroupingPolicy: 'group_by_prio', pollingIntervalMs: 60_000 },
      clock: new SimulatedClock(),
    });
    const std = Buffer.from(tgtd.standardInquiry);
    std[5] |= 0x10; // TPGS = implicit
    const withTpg = (tpg: number) => {
      const d = Buffer.concat([tgtd.vpdDeviceIdentification, Buffer.from([0x01, 0x15, 0x00, 0x04, 0x00, 0x00, 0x00, tpg])]);
      d.writeUInt16BE(d.length - 4, 2);
      return d;
    };
    const sup = {
      transitioning: false,
      offline: false,
      logicalBlockDependent: false,
      unavailable: true,
      standby: true,
      activeNonOptimized: true,
      activeOptimized: true,
    };
    const rtpg = encodeReportTargetPortGroups([
      {
        pref: false,
        asymmetricAccessState: AsymmetricAccessState.ACTIVE_NON_OPTIMIZED,
        supportedStates: sup,
        targetPortGroup: 1,
        statusCode: 0,
        vendorSpecific: 0,
        relativeTargetPorts: [1],
      },
      {
        pref: false,
        asymmetricAccessState: AsymmetricAccessState.ACTIVE_OPTIMIZED,
        supportedStates: sup,
        targetPortGroup: 2,
        statusCode: 0,
        vendorSpecific: 0,
        relativeTargetPorts: [2],
      },
    ]);
    const paths = [1, 2, 1].map((tpg, i) => {
      const p = new FakePath(`p${i}`);
      p.std = std;
      p.vpd83 = withTpg(tpg);
      p.rtpg = rtpg;
      return p;
    });
    let dev!: MultipathDevice;
    for (const [i, p] of paths.entries()) dev = await mgr.addPath(p, { name: `p${i}`, lun: 1 });
    const st = dev.status();
    expect(st.groups.map((g) => [g.prio, g.status, g.paths.map((p) => p.name)])).toEqual([
      [50, 'active', ['p1']],
      [10, 'enabled', ['p0', 'p2']],
    ]);
    expect(mgr.topology()[1]).toContain("hwhandler='1 alua'");
    await read(dev);
    expect(paths[1].dataCalls.length).toBe(1);
    mgr.close();
  });

  it('operator commands: fail_path, reinstate_path, switch_group', async () => {
    const { dev, paths } = device({ pathGroupingPolicy: 'failover' }, 2);
    dev.failPath('p0');
    await read(dev);
    expect(paths[1].dataCalls.length).toBe(1);
    expect(dev.switchGroup(0)).toBe(false); // p0 is failed
    dev.reinstatePath('p0');
    expect(stateOf(dev, 'p0')).toBe('checking');
    await settle(); // reinstate_path checks at once
    expect(stateOf(dev, 'p0')).toBe('active');
    expect(dev.switchGroup(0)).toBe(true);
    await read(dev);
    expect(paths[0].dataCalls.length).toBe(1);
    expect(() => dev.failPath('nope')).toThrow(/no path nope/);
    const w = await executeScsi(dev, 1, writeBlocks({ lba: 0, blocks: 1, blockSize: 512 }), { dataOut: Buffer.alloc(512) });
    expect(w.status).toBe(0);
  });
});
