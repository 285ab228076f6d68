/**
 * Operator commands and target answers on a multipath device over tgtd (four paths, failover grouping):
 * switch_group moves I/O, fail_path takes a path out until reinstate_path (through the checker), and an
 * out-of-range READ's ILLEGAL REQUEST comes back to the caller once, not retried on any other path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckConditionError } from '../../src/scsi/errors.js';
import { readBlocks } from '../../src/scsi/cdb.js';
import { SenseKey } from '../../src/scsi/sense.js';
import { executeScsi } from '../../src/session/lun.js';
import type { MultipathEvent } from '../../src/multipath/device.js';
import { nextEvents, pathState, read, startRig, until, BLOCK, type Rig } from '../multipath/rig.js';

let rig: Rig;
type CheckerEvent = Extract<MultipathEvent, { type: 'checker' }>;

beforeAll(async () => {
  rig = await startRig({ config: { pathGroupingPolicy: 'failover', failback: 'manual', pollingIntervalMs: 200 } });
});

afterAll(async () => {
  await rig?.stop();
});

/** I/Os each path has been sent so far. */
const issued = () =>
  new Map(
    rig.device
      .status()
      .groups.flatMap((g) => g.paths)
      .map((p) => [p.name, p.stats.issued]),
  );
const delta = (before: Map<string, number>) => {
  const now = issued();
  return rig.paths.map((p) => (now.get(p.name) ?? 0) - (before.get(p.name) ?? 0));
};

describe('operator commands', () => {
  it('failover grouping: one path per group, I/O on the active group only; switch_group moves it', async () => {
    const st = rig.device.status();
    expect(st.groups.map((g) => g.paths.length)).toEqual([1, 1, 1, 1]);
    expect(st.groups.map((g) => g.status)).toEqual(['active', 'enabled', 'enabled', 'enabled']);
    let before = issued();
    for (let i = 0; i < 5; i++) await read(rig.device, i * 4096, 4096);
    expect(delta(before)).toEqual([5, 0, 0, 0]);

    expect(rig.device.switchGroup(2)).toBe(true);
    before = issued();
    for (let i = 0; i < 5; i++) await read(rig.device, i * 4096, 4096);
    expect(delta(before)).toEqual([0, 0, 5, 0]);
    expect(rig.manager.topology()[2]).toBe("|-+- policy='service-time 0' prio=1 status=enabled");
    expect(rig.manager.topology()[6]).toBe("|-+- policy='service-time 0' prio=1 status=active");
  });

  it('fail_path takes the active path out at once; reinstate_path brings it back after TEST UNIT READY', async () => {
    const active = rig.paths[2].name;
    rig.device.failPath(active);
    expect(pathState(rig.device, active)).toBe('failed');
    let before = issued();
    await read(rig.device, 0, 4096);
    expect(delta(before)).toEqual([1, 0, 0, 0]); // failed over to the best usable group
    // The checker leaves an operator-failed path alone: two of its rounds (seen on an idle path) pass it by.
    const idle = rig.paths[3].name;
    const checkOf = (e: MultipathEvent): e is CheckerEvent => e.type === 'checker' && (e.path === idle || e.path === active);
    const rounds = await nextEvents(rig.device, checkOf, 2, 2_000, 'two checker rounds');
    expect(rounds).toEqual([
      { type: 'checker', device: rig.device.name, path: idle, ok: true },
      { type: 'checker', device: rig.device.name, path: idle, ok: true },
    ]);
    expect(pathState(rig.device, active)).toBe('failed');
    rig.device.reinstatePath(active);
    await until(() => pathState(rig.device, active) === 'active', 2_000, 'reinstated');
    expect(rig.device.switchGroup(2)).toBe(true);
    before = issued();
    await read(rig.device, 0, 4096);
    expect(delta(before)).toEqual([0, 0, 1, 0]);
  });
});

describe('fast detection', () => {
  it('probes a slow path with a NOP-Out and leaves it alone when the probe answers (busy but healthy)', async () => {
    const slow = rig.paths[1];
    expect(rig.device.switchGroup(1)).toBe(true);
    slow.proxy.set({ kind: 'delay', ms: 80 }); // each way: an I/O takes > 160 ms, over the 100 ms floor
    try {
      const data = await read(rig.device, 0, 4096);
      expect(data.length).toBe(4096);
      // The probe went out while the read was outstanding; its answer takes a delayed round trip too.
      await until(() => rig.events.some((e) => e.type === 'probe' && e.path === slow.name), 2_000, 'probe answered');
      const probes = rig.events.filter((e) => e.type === 'probe' && e.path === slow.name);
      expect(probes.every((e) => e.type === 'probe' && e.ok)).toBe(true);
      expect(pathState(rig.device, slow.name)).toBe('active');
      expect(slow.session.status.state).toBe('loggedIn');
    } finally {
      slow.proxy.set({ kind: 'pass' });
      rig.device.switchGroup(0);
    }
  });
});

describe('target answers', () => {
  it('an out-of-range READ gets ILLEGAL REQUEST once, from one path, and fails no path', async () => {
    const blocks = rig.size / BLOCK;
    const before = issued();
    const err = await executeScsi(rig.device, 1, readBlocks({ lba: blocks, blocks: 1, blockSize: BLOCK })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckConditionError);
    expect((err as CheckConditionError).sense.key).toBe(SenseKey.ILLEGAL_REQUEST);
    expect((err as CheckConditionError).sense.asc).toBe(0x21); // LOGICAL BLOCK ADDRESS OUT OF RANGE
    expect(delta(before).reduce((a, b) => a + b, 0)).toBe(1);
    expect(rig.device.status().groups.every((g) => g.paths.every((p) => p.state === 'active'))).toBe(true);
    expect(rig.events.filter((e) => e.type === 'io.reissued')).toEqual([]);
  });
});
