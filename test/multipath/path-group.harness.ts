/** Test harness for the path-group machine: a SimulatedClock, the emitted events, and short names for reading state. */
import { createActor, SimulatedClock } from 'xstate';
import {
  pathGroupGateOf,
  pathGroupMachine,
  pathGroupStatus,
  usablePaths,
  type PathGroupActor,
  type PathGroupConfig,
  type PathGroupEmitted,
  type PathState,
} from '../../machines/path-group.machine.js';

export interface GroupHarness {
  actor: PathGroupActor;
  clock: SimulatedClock;
  emitted: PathGroupEmitted[];
  advance(ms: number): void;
  gate(): string;
  usable(): string[];
  active(): number;
  state(id: string): PathState | undefined;
  groups(): string[][];
  count(type: PathGroupEmitted['type']): number;
  /** Paths named in mpath.check events since the last call. */
  takeChecks(): string[];
}

/**
 * `skew.nowLagMs` (read at every call, so a test can change it): the machine's `now` reads that much behind
 * the timers' clock, as performance.now() can when Node's millisecond timers fire a fraction early.
 */
export function startGroup(
  config: Partial<PathGroupConfig> = {},
  paths: { id: string; prio?: number; up?: boolean }[] = [],
  skew: { nowLagMs: number } = { nowLagMs: 0 },
): GroupHarness {
  const clock = new SimulatedClock();
  const actor = createActor(pathGroupMachine, { clock, input: { name: 'mpatha', config, now: () => clock.now() - skew.nowLagMs } });
  const emitted: PathGroupEmitted[] = [];
  actor.on('*', (e) => emitted.push(e as PathGroupEmitted));
  actor.start();
  for (const p of paths) actor.send({ type: 'path.add', id: p.id, prio: p.prio, up: p.up ?? true });
  let checksSeen = emitted.length;
  return {
    actor,
    clock,
    emitted,
    advance: (ms) => clock.increment(ms),
    gate: () => pathGroupGateOf(actor.getSnapshot()),
    usable: () => usablePaths(actor.getSnapshot()),
    active: () => actor.getSnapshot().context.activeGroup,
    state: (id) => actor.getSnapshot().context.paths.find((p) => p.id === id)?.state,
    groups: () => pathGroupStatus(actor.getSnapshot()).groups.map((g) => g.paths),
    count: (type) => emitted.filter((e) => e.type === type).length,
    takeChecks() {
      const out = emitted.slice(checksSeen).flatMap((e) => (e.type === 'mpath.check' ? e.paths : []));
      checksSeen = emitted.length;
      return out;
    },
  };
}
