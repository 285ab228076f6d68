/**
 * Path-group machine (dm-multipath semantics) in simulated time: grouping policies, failover, failback
 * (immediate, manual, followover, N seconds), no_path_retry (fail, queue, N checker intervals), the
 * checker's rounds, path reinstatement through the checker, and the operator's commands.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, take, toArray } from 'rxjs';
import {
  bestGroup,
  groupPaths,
  pathGroupEvents$,
  pathGroupStatus,
  noPathPhaseOf,
  validatePathGroupConfig,
  DEFAULT_PATH_GROUP_CONFIG,
  PathGroupConfigError,
  type PathEntry,
} from '../../machines/path-group.machine.js';
import { startGroup } from './path-group.harness.js';

const entry = (id: string, prio = 1, state: PathEntry['state'] = 'active'): PathEntry => ({
  id,
  prio,
  state,
  sessionUp: true,
  recovering: false,
  operatorFailed: false,
  reason: 'added',
  since: 0,
});

describe('grouping (path_grouping_policy)', () => {
  const paths = [entry('a', 10), entry('b', 50), entry('c', 10), entry('d', 50)];

  it('failover: one path per group, best priority first, ties in the order added', () => {
    expect(groupPaths(paths, 'failover')).toEqual([['b'], ['d'], ['a'], ['c']]);
  });

  it('multibus: every path in one group', () => {
    expect(groupPaths(paths, 'multibus')).toEqual([['a', 'b', 'c', 'd']]);
  });

  it('group_by_prio: one group per priority, best first', () => {
    expect(groupPaths(paths, 'group_by_prio')).toEqual([
      ['b', 'd'],
      ['a', 'c'],
    ]);
  });

  it('best group: highest mean priority of usable paths, then most usable paths, then the first', () => {
    const map = new Map(paths.map((p) => [p.id, p]));
    expect(bestGroup([['a'], ['b']], map)).toBe(1);
    expect(bestGroup([['a'], ['a', 'c']], map)).toBe(1);
    expect(bestGroup([['a'], ['c']], map)).toBe(0);
    map.set('b', { ...map.get('b')!, state: 'failed' });
    expect(bestGroup([['b'], ['a']], map)).toBe(1);
    map.set('a', { ...map.get('a')!, state: 'checking' });
    expect(bestGroup([['b'], ['a']], map)).toBe(-1);
  });

  it('starts with the best group and regroups when the policy or a priority changes', () => {
    const h = startGroup({ pathGroupingPolicy: 'group_by_prio' }, [
      { id: 'a', prio: 10 },
      { id: 'b', prio: 50 },
      { id: 'c', prio: 50 },
    ]);
    expect(h.groups()).toEqual([['b', 'c'], ['a']]);
    expect(h.active()).toBe(0);
    expect(h.usable()).toEqual(['b', 'c']);
    expect(h.actor.getSnapshot().context.switchReason.code).toBe('regroup'); // 'b' joined after 'a'
    h.actor.send({ type: 'cmd.configure', config: { pathGroupingPolicy: 'multibus' } });
    expect(h.groups()).toEqual([['a', 'b', 'c']]);
    expect(h.usable()).toEqual(['a', 'b', 'c']);
    h.actor.send({ type: 'cmd.configure', config: { pathGroupingPolicy: 'group_by_prio' } });
    // ALUA: 'a' became optimized; the groups change and I/O goes to the best one.
    h.actor.send({ type: 'path.prio', id: 'a', prio: 50 });
    expect(h.groups()).toEqual([['a', 'b', 'c']]);
    h.actor.send({ type: 'path.prio', id: 'b', prio: 1 });
    expect(h.groups()).toEqual([['a', 'c'], ['b']]);
    expect(h.active()).toBe(0);
  });

  it('validates the configuration', () => {
    expect(validatePathGroupConfig({ ...DEFAULT_PATH_GROUP_CONFIG })).toEqual(DEFAULT_PATH_GROUP_CONFIG);
    expect(() => validatePathGroupConfig({ ...DEFAULT_PATH_GROUP_CONFIG, failback: -1 })).toThrow(PathGroupConfigError);
    expect(() => validatePathGroupConfig({ ...DEFAULT_PATH_GROUP_CONFIG, noPathRetry: 0 })).toThrow(/no_path_retry/);
    expect(() => validatePathGroupConfig({ ...DEFAULT_PATH_GROUP_CONFIG, pollingIntervalMs: 0 })).toThrow(/polling_interval/);
    expect(() => validatePathGroupConfig({ ...DEFAULT_PATH_GROUP_CONFIG, pathGroupingPolicy: 'x' as never })).toThrow(
      /path_grouping_policy/,
    );
    const h = startGroup({}, [{ id: 'a' }]);
    h.actor.send({ type: 'cmd.configure', config: { noPathRetry: -3 } });
    expect(h.emitted.at(-1)).toEqual({
      type: 'mpath.commandRejected',
      command: 'set_policy',
      reason: expect.stringMatching(/no_path_retry/),
    });
    expect(h.actor.getSnapshot().context.config.noPathRetry).toBe('fail');
  });
});

describe('failover', () => {
  it('switches group at once when the active group loses its last usable path', () => {
    const h = startGroup({}, [{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    expect(h.usable()).toEqual(['a']);
    h.advance(1_000);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    expect(h.usable()).toEqual(['b']);
    expect(h.gate()).toBe('open');
    const c = h.actor.getSnapshot().context;
    expect(c.switchReason).toEqual({ code: 'failover', at: 1_000 });
    expect(c.paths[0]).toMatchObject({ state: 'failed', sessionUp: false, reason: 'session-down', detail: 'reset', since: 1_000 });
    // An I/O error on a live session fails the path too.
    h.actor.send({ type: 'path.fail', id: 'b', reason: 'TransportError' });
    expect(h.usable()).toEqual(['c']);
    expect(h.state('b')).toBe('failed');
    expect(h.count('mpath.failHeld')).toBe(1); // the one at creation, before any path; nothing since
  });

  it('multibus: losing a path shrinks the usable set; the group stays active', () => {
    const h = startGroup({ pathGroupingPolicy: 'multibus' }, [{ id: 'a' }, { id: 'b' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'nop-timeout' });
    expect(h.usable()).toEqual(['b']);
    expect(h.active()).toBe(0);
  });
});

describe('no_path_retry', () => {
  it('fail: fails held I/O as soon as the last path goes; open again when one returns', () => {
    const h = startGroup({ noPathRetry: 'fail' }, [{ id: 'a' }]);
    const before = h.count('mpath.failHeld');
    const dispatched = h.count('mpath.dispatchHeld');
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    expect(h.gate()).toBe('failed');
    expect(h.count('mpath.failHeld')).toBe(before + 1);
    h.actor.send({ type: 'path.up', id: 'a' });
    expect(h.gate()).toBe('failed'); // checking: not usable before TEST UNIT READY passes
    h.actor.send({ type: 'checker.ok', id: 'a' });
    expect(h.gate()).toBe('open');
    expect(h.count('mpath.dispatchHeld')).toBe(dispatched + 1);
  });

  it('N: queues for N checker intervals from the loss of the last path, then fails held I/O once', () => {
    const h = startGroup({ noPathRetry: 3, pollingIntervalMs: 1_000 }, [{ id: 'a' }, { id: 'b' }]);
    const before = h.count('mpath.failHeld');
    h.advance(200);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    h.advance(300);
    h.actor.send({ type: 'path.down', id: 'b', reason: 'reset' }); // t = 500
    expect(h.gate()).toBe('queueing');
    expect(h.actor.getSnapshot().context.noPathSince).toBe(500);
    h.advance(2_999);
    expect(h.gate()).toBe('queueing');
    expect(h.count('mpath.failHeld')).toBe(before);
    h.advance(1); // t = 3500
    expect(h.gate()).toBe('failed');
    expect(h.count('mpath.failHeld')).toBe(before + 1);
    h.advance(60_000);
    expect(h.count('mpath.failHeld')).toBe(before + 1);
    // A path back: open again, and the next outage counts from its own start.
    h.actor.send({ type: 'path.up', id: 'a' });
    h.actor.send({ type: 'checker.ok', id: 'a' });
    expect(h.gate()).toBe('open');
    h.actor.send({ type: 'path.down', id: 'a', reason: 'closed' });
    expect(h.gate()).toBe('queueing');
  });

  it('N: a path back before the deadline dispatches the held I/O and nothing fails', () => {
    const h = startGroup({ noPathRetry: 5, pollingIntervalMs: 1_000 }, [{ id: 'a' }]);
    const before = h.count('mpath.failHeld');
    const dispatched = h.count('mpath.dispatchHeld');
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    h.advance(4_000);
    h.actor.send({ type: 'path.up', id: 'a' });
    h.advance(500);
    h.actor.send({ type: 'checker.ok', id: 'a' });
    expect(h.gate()).toBe('open');
    expect(h.count('mpath.dispatchHeld')).toBe(dispatched + 1);
    h.advance(10_000);
    expect(h.count('mpath.failHeld')).toBe(before);
  });

  it('queue: holds forever', () => {
    const h = startGroup({ noPathRetry: 'queue', pollingIntervalMs: 5_000 }, [{ id: 'a' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    for (let i = 0; i < 720; i++) h.advance(5_000); // an hour
    expect(h.gate()).toBe('queueing');
  });

  it('a configuration change re-arms the running deadline from the outage start', () => {
    const h = startGroup({ noPathRetry: 'queue', pollingIntervalMs: 1_000 }, [{ id: 'a' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    h.advance(5_000);
    h.actor.send({ type: 'cmd.configure', config: { noPathRetry: 10 } });
    expect(h.gate()).toBe('queueing');
    h.advance(4_999);
    expect(h.gate()).toBe('queueing');
    h.advance(1);
    expect(h.gate()).toBe('failed');
    h.actor.send({ type: 'cmd.configure', config: { noPathRetry: 'queue' } });
    expect(h.gate()).toBe('queueing');
    h.actor.send({ type: 'cmd.configure', config: { noPathRetry: 2 } }); // long past: fail at once
    expect(h.gate()).toBe('failed');
  });
});

describe('hold for a recovering path (fast_io_fail_tmo)', () => {
  const phase = (h: ReturnType<typeof startGroup>) => noPathPhaseOf(h.actor.getSnapshot());
  const holdEnds = (h: ReturnType<typeof startGroup>) => h.emitted.flatMap((e) => (e.type === 'mpath.holdEnded' ? [e] : []));
  const lastFail = (h: ReturnType<typeof startGroup>) => h.emitted.filter((e) => e.type === 'mpath.failHeld').at(-1);

  it('defaults to 5 s and holds I/O, never fails it, while the only path relogs in; the first path back takes it', () => {
    const h = startGroup({}, [{ id: 'a' }]);
    expect(h.actor.getSnapshot().context.config.fastIoFailTmoMs).toBe(5_000);
    const before = h.count('mpath.failHeld');
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    expect(h.gate()).toBe('queueing');
    expect(phase(h)).toBe('holding');
    h.advance(4_999);
    expect(phase(h)).toBe('holding');
    h.actor.send({ type: 'path.up', id: 'a' }); // relogged in: the checker decides
    expect(phase(h)).toBe('holding'); // checking counts as may come back
    h.advance(500); // past the 5 s: the hold would have run out for a path still relogging in
    expect(phase(h)).toBe('holding');
    h.actor.send({ type: 'checker.ok', id: 'a' });
    expect(h.gate()).toBe('open');
    expect(h.count('mpath.failHeld')).toBe(before);
    expect(holdEnds(h)).toEqual([]);
  });

  it('no_path_retry fail: EIO once the hold runs out, not before, saying why', () => {
    const h = startGroup({ fastIoFailTmoMs: 500 }, [{ id: 'a' }]);
    const before = h.count('mpath.failHeld');
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    h.advance(499);
    expect(h.count('mpath.failHeld')).toBe(before);
    h.advance(1);
    expect(h.gate()).toBe('failed');
    expect(h.count('mpath.failHeld')).toBe(before + 1);
    expect(holdEnds(h)).toEqual([{ type: 'mpath.holdEnded', why: 'fast-io-fail-tmo', heldMs: 500 }]);
    expect(lastFail(h)).toMatchObject({
      reason: 'mpatha: no usable path: no path came back within fast_io_fail_tmo 0.5 s; no_path_retry fail',
    });
    // The session still relogs in: when it is back, I/O flows again.
    h.actor.send({ type: 'path.up', id: 'a' });
    h.actor.send({ type: 'checker.ok', id: 'a' });
    expect(h.gate()).toBe('open');
  });

  it('a hold timer that fires a fraction of a millisecond early still ends the hold (not one polling_interval later)', () => {
    // The device's `now` is performance.now(); Node's timers run on the loop's whole milliseconds.
    const skew = { nowLagMs: 0 };
    const h = startGroup({ fastIoFailTmoMs: 500, pollingIntervalMs: 60_000 }, [{ id: 'a' }], skew);
    const before = h.count('mpath.failHeld');
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    skew.nowLagMs = 0.4; // the hold timer fires when `now` still reads 499.6 ms
    h.advance(500);
    expect(h.count('mpath.failHeld')).toBe(before); // 0.4 ms of the hold left by `now`
    h.advance(1);
    expect(h.gate()).toBe('failed');
    expect(h.count('mpath.failHeld')).toBe(before + 1);
  });

  it('ends the hold at once when no path can come back any more (replacement_timeout expired, identity changed)', () => {
    const h = startGroup({}, [{ id: 'a' }, { id: 'b' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    h.actor.send({ type: 'path.down', id: 'b', reason: 'reset', recovering: true });
    expect(phase(h)).toBe('holding');
    h.advance(1_000);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', detail: 'replacement_timeout expired' });
    expect(phase(h)).toBe('holding'); // b may still come back
    expect(h.state('a')).toBe('failed');
    expect(h.actor.getSnapshot().context.paths.find((p) => p.id === 'a')?.detail).toBe('replacement_timeout expired');
    h.advance(1_000);
    h.actor.send({ type: 'path.down', id: 'b', reason: 'identity-changed', detail: 'WWID x -> y' });
    expect(phase(h)).toBe('failing');
    expect(holdEnds(h)).toEqual([{ type: 'mpath.holdEnded', why: 'no-path-can-return', heldMs: 2_000 }]);
    expect(lastFail(h)).toMatchObject({ reason: 'mpatha: no usable path: no path can come back; no_path_retry fail' });
  });

  it('no_path_retry N counts only from when the hold ended', () => {
    const h = startGroup({ fastIoFailTmoMs: 1_000, noPathRetry: 2, pollingIntervalMs: 500 }, [{ id: 'a' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    h.advance(1_000);
    expect(phase(h)).toBe('counting');
    expect(h.actor.getSnapshot().context.retrySince).toBe(1_000);
    h.advance(999);
    expect(h.gate()).toBe('queueing');
    h.advance(1);
    expect(phase(h)).toBe('failing');
    expect(lastFail(h)).toMatchObject({ reason: expect.stringContaining('no_path_retry 2 exhausted (1 s)') });
  });

  it("'off' holds as long as a path may come back; 0 does not hold at all", () => {
    const off = startGroup({ fastIoFailTmoMs: 'off' }, [{ id: 'a' }]);
    off.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    for (let i = 0; i < 120; i++) off.advance(1_000); // replacement_timeout's default, all of it
    expect(phase(off)).toBe('holding');
    off.actor.send({ type: 'path.down', id: 'a', reason: 'reset', detail: 'replacement_timeout expired' });
    expect(phase(off)).toBe('failing');

    const none = startGroup({ fastIoFailTmoMs: 0 }, [{ id: 'a' }]);
    none.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    expect(phase(none)).toBe('failing');
    expect(lastFail(none)).toMatchObject({ reason: expect.stringContaining('fast_io_fail_tmo 0 s') });
  });

  it('another usable path takes the I/O at once: no hold; an operator-failed path is not waited for', () => {
    const h = startGroup({ pathGroupingPolicy: 'multibus' }, [{ id: 'a' }, { id: 'b' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    expect(phase(h)).toBe('serving');
    expect(h.usable()).toEqual(['b']);
    h.actor.send({ type: 'cmd.failPath', id: 'a' });
    h.actor.send({ type: 'path.down', id: 'b', reason: 'reset' });
    expect(phase(h)).toBe('failing');
  });

  it('a new fast_io_fail_tmo applies from the loss of the last path; a spent one ends the hold at once', () => {
    const h = startGroup({ fastIoFailTmoMs: 10_000 }, [{ id: 'a' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    h.advance(3_000);
    h.actor.send({ type: 'cmd.configure', config: { fastIoFailTmoMs: 4_000 } });
    expect(phase(h)).toBe('holding');
    h.advance(999);
    expect(phase(h)).toBe('holding');
    h.advance(1);
    expect(phase(h)).toBe('failing');
    h.actor.send({ type: 'path.up', id: 'a' });
    h.actor.send({ type: 'checker.ok', id: 'a' });
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset', recovering: true });
    h.advance(2_000);
    h.actor.send({ type: 'cmd.configure', config: { fastIoFailTmoMs: 1_000 } });
    expect(phase(h)).toBe('failing');
  });

  it('validates fast_io_fail_tmo', () => {
    expect(() => validatePathGroupConfig({ ...DEFAULT_PATH_GROUP_CONFIG, fastIoFailTmoMs: -1 })).toThrow(/fast_io_fail_tmo/);
    expect(() => validatePathGroupConfig({ ...DEFAULT_PATH_GROUP_CONFIG, fastIoFailTmoMs: 'never' as never })).toThrow(/fast_io_fail_tmo/);
  });
});

describe('path checker', () => {
  it('asks for a check of every path with a live session each polling_interval', () => {
    const h = startGroup({ pollingIntervalMs: 5_000 }, [{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    h.actor.send({ type: 'path.down', id: 'c', reason: 'reset' });
    h.actor.send({ type: 'path.fail', id: 'b', reason: 'io' });
    h.takeChecks();
    h.advance(4_999);
    expect(h.takeChecks()).toEqual([]);
    h.advance(1);
    expect(h.takeChecks()).toEqual(['a', 'b']);
    expect(h.state('b')).toBe('checking');
    h.actor.send({ type: 'checker.ok', id: 'b' });
    expect(h.state('b')).toBe('active');
    h.advance(5_000);
    expect(h.takeChecks()).toEqual(['a', 'b']);
    // TEST UNIT READY failing on an active path fails it (TUR says down while the session is up).
    h.actor.send({ type: 'checker.fail', id: 'a', reason: 'NOT READY' });
    expect(h.state('a')).toBe('failed');
    expect(h.usable()).toEqual(['b']);
  });

  it('a path whose session returns is checked at once and used only after the checker passes', () => {
    const h = startGroup({ pathGroupingPolicy: 'multibus' }, [{ id: 'a' }, { id: 'b' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'nop-timeout' });
    h.takeChecks();
    h.actor.send({ type: 'path.up', id: 'a' });
    expect(h.state('a')).toBe('checking');
    expect(h.takeChecks()).toEqual(['a']);
    expect(h.usable()).toEqual(['b']);
    h.actor.send({ type: 'checker.fail', id: 'a', reason: 'NOT READY' });
    expect(h.state('a')).toBe('failed');
    h.advance(5_000);
    expect(h.state('a')).toBe('checking');
    h.actor.send({ type: 'checker.ok', id: 'a' });
    expect(h.usable()).toEqual(['a', 'b']);
  });

  it('changing polling_interval re-arms the running tick from the last round', () => {
    const h = startGroup({ pollingIntervalMs: 5_000 }, [{ id: 'a' }]);
    h.takeChecks();
    h.advance(2_000);
    h.actor.send({ type: 'cmd.configure', config: { pollingIntervalMs: 3_000 } });
    h.advance(999);
    expect(h.takeChecks()).toEqual([]);
    h.advance(1);
    expect(h.takeChecks()).toEqual(['a']);
  });
});

describe('failback', () => {
  async function failedOver(failback: 'manual' | 'immediate' | 'followover' | number) {
    const h = startGroup({ failback }, [{ id: 'a' }, { id: 'b' }]);
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    expect(h.usable()).toEqual(['b']);
    h.actor.send({ type: 'path.up', id: 'a' });
    h.actor.send({ type: 'checker.ok', id: 'a' });
    return h;
  }

  it('manual: stays on the group it failed over to', async () => {
    const h = await failedOver('manual');
    h.advance(3_600_000);
    expect(h.usable()).toEqual(['b']);
  });

  it('immediate: returns to the better group as soon as it is usable', async () => {
    const h = await failedOver('immediate');
    expect(h.usable()).toEqual(['a']);
    expect(h.actor.getSnapshot().context.switchReason.code).toBe('failback');
  });

  it('immediate: an operator switch holds until the next checker round', () => {
    const h = startGroup({ failback: 'immediate', pollingIntervalMs: 5_000 }, [{ id: 'a' }, { id: 'b' }]);
    h.advance(1_000);
    h.actor.send({ type: 'cmd.switchGroup', group: 1 });
    expect(h.usable()).toEqual(['b']);
    h.advance(3_999);
    expect(h.usable()).toEqual(['b']);
    h.advance(1);
    expect(h.usable()).toEqual(['a']);
  });

  it('followover: fails back when the better group comes back, not after an operator switch', async () => {
    const h = await failedOver('followover');
    expect(h.usable()).toEqual(['a']);
    h.actor.send({ type: 'cmd.switchGroup', group: 1 });
    h.advance(60_000);
    expect(h.usable()).toEqual(['b']);
  });

  it('N ms: fails back after the better group has been usable that long; restarts if it fails meanwhile', async () => {
    const h = await failedOver(10_000);
    expect(h.usable()).toEqual(['b']);
    h.advance(9_999);
    expect(h.usable()).toEqual(['b']);
    h.advance(1);
    expect(h.usable()).toEqual(['a']);
    expect(h.actor.getSnapshot().context.switchReason).toEqual({ code: 'failback', at: 10_000 });
    // Again, with the better group failing inside the delay: the count restarts when it returns.
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    h.actor.send({ type: 'path.up', id: 'a' });
    h.actor.send({ type: 'checker.ok', id: 'a' }); // t = 10000
    h.advance(5_000);
    h.actor.send({ type: 'path.fail', id: 'a', reason: 'io' });
    h.advance(5_000);
    h.actor.send({ type: 'path.up', id: 'a' });
    h.actor.send({ type: 'checker.ok', id: 'a' }); // t = 20000
    h.advance(9_999);
    expect(h.usable()).toEqual(['b']);
    h.advance(1);
    expect(h.usable()).toEqual(['a']);
  });
});

describe('operator commands', () => {
  it('fail_path keeps a path failed whatever the checker says, until reinstate_path', () => {
    const h = startGroup({ pathGroupingPolicy: 'multibus', pollingIntervalMs: 1_000 }, [{ id: 'a' }, { id: 'b' }]);
    h.actor.send({ type: 'cmd.failPath', id: 'a' });
    expect(h.usable()).toEqual(['b']);
    h.takeChecks();
    h.advance(1_000);
    expect(h.takeChecks()).toEqual(['b']);
    h.actor.send({ type: 'checker.ok', id: 'a' });
    h.actor.send({ type: 'path.up', id: 'a' });
    expect(h.state('a')).toBe('failed');
    h.actor.send({ type: 'cmd.reinstatePath', id: 'a' });
    expect(h.state('a')).toBe('checking');
    expect(h.takeChecks()).toEqual(['a']);
    h.actor.send({ type: 'checker.ok', id: 'a' });
    expect(h.usable()).toEqual(['a', 'b']);
  });

  it('reinstate_path of a path whose session is down waits for the session and the checker', () => {
    const h = startGroup({ pathGroupingPolicy: 'multibus' }, [{ id: 'a' }, { id: 'b' }]);
    h.actor.send({ type: 'cmd.failPath', id: 'a' });
    h.actor.send({ type: 'path.down', id: 'a', reason: 'reset' });
    h.actor.send({ type: 'cmd.reinstatePath', id: 'a' });
    expect(h.state('a')).toBe('failed');
    h.actor.send({ type: 'path.up', id: 'a' });
    expect(h.state('a')).toBe('checking');
    h.actor.send({ type: 'checker.ok', id: 'a' });
    expect(h.state('a')).toBe('active');
  });

  it('switch_group moves I/O to a usable group and refuses one without a usable path', () => {
    const h = startGroup({}, [{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
    h.actor.send({ type: 'cmd.switchGroup', group: 2 });
    expect(h.usable()).toEqual(['c']);
    expect(h.actor.getSnapshot().context.switchReason.code).toBe('operator');
    h.actor.send({ type: 'cmd.failPath', id: 'b' });
    h.actor.send({ type: 'cmd.switchGroup', group: 1 });
    expect(h.usable()).toEqual(['c']);
    expect(h.emitted.at(-1)).toEqual({
      type: 'mpath.commandRejected',
      command: 'switch_group',
      reason: 'path group 1 of mpatha has no usable path',
    });
    h.actor.send({ type: 'cmd.switchGroup', group: 7 });
    expect(h.emitted.at(-1)).toMatchObject({ reason: 'mpatha has no path group 7' });
  });

  it('path.remove regroups and fails over if it took the active group', () => {
    const h = startGroup({}, [{ id: 'a' }, { id: 'b' }]);
    h.actor.send({ type: 'path.remove', id: 'a' });
    expect(h.groups()).toEqual([['b']]);
    expect(h.usable()).toEqual(['b']);
    h.actor.send({ type: 'path.remove', id: 'b' });
    expect(h.gate()).toBe('failed');
  });
});

describe('reading the device', () => {
  it('status: groups with dm status names and priorities; events$ follows every change', async () => {
    const h = startGroup({ pathGroupingPolicy: 'group_by_prio' }, [
      { id: 'a', prio: 50 },
      { id: 'b', prio: 10 },
      { id: 'c', prio: 10 },
    ]);
    const events = firstValueFrom(pathGroupEvents$(h.actor).pipe(take(3), toArray()));
    h.actor.send({ type: 'path.down', id: 'b', reason: 'reset' });
    h.actor.send({ type: 'path.down', id: 'c', reason: 'reset' });
    const st = pathGroupStatus(h.actor.getSnapshot());
    expect(st.groups).toEqual([
      { index: 0, prio: 50, status: 'active', paths: ['a'] },
      { index: 1, prio: 0, status: 'disabled', paths: ['b', 'c'] },
    ]);
    const seen = await events;
    expect(seen.map((s) => s.paths.filter((p) => p.state === 'active').length)).toEqual([3, 2, 1]);
  });
});
