/**
 * The paths and path groups of one multipath device, as dm-multipath and multipathd keep them
 * (reference/nbd-and-multipath.md "dm-multipath"; multipath.conf path_grouping_policy, failback,
 * no_path_retry, polling_interval): path states, grouping, the active group, failback, queueing while no
 * path works, the path checker's ticks, and the operator's fail_path / reinstate_path / switch_group. No
 * I/O and no single command: the runtime (src/multipath/) reads `usablePaths(snapshot)` and
 * `pathGroupGateOf(snapshot)` per I/O and reports only path facts; see machines/README.md.
 */
import { Observable } from 'rxjs';
import { assign, emit, not, raise, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { remainingMs } from './timers.js';

// ---------------------------------------------------------------------------------------------------------
// Configuration

/** path_grouping_policy: failover = one path per group; multibus = one group; group_by_prio = one group per priority. */
export type GroupingPolicy = 'failover' | 'multibus' | 'group_by_prio';

/** failback: 'manual', 'immediate', 'followover', or a delay in milliseconds (multipath.conf says seconds). */
export type Failback = 'manual' | 'immediate' | 'followover' | number;

/** no_path_retry: 'fail' at once, 'queue' forever, or queue for N checker intervals (polling_interval) then fail. */
export type NoPathRetry = 'fail' | 'queue' | number;

export interface PathGroupConfig {
  /** Default 'failover' (multipath-tools' built-in default). */
  pathGroupingPolicy: GroupingPolicy;
  /** Default 'manual'. */
  failback: Failback;
  /** Default 'fail'. */
  noPathRetry: NoPathRetry;
  /** polling_interval: the path checker runs this often (ms). Default 5000 (5 s). */
  pollingIntervalMs: number;
}

export const DEFAULT_PATH_GROUP_CONFIG: Readonly<PathGroupConfig> = Object.freeze({
  pathGroupingPolicy: 'failover',
  failback: 'manual',
  noPathRetry: 'fail',
  pollingIntervalMs: 5_000,
});

export class PathGroupConfigError extends Error {
  override readonly name = 'PathGroupConfigError';
}

/** Checks every field; throws PathGroupConfigError naming the first bad one. */
export function validatePathGroupConfig(config: PathGroupConfig): PathGroupConfig {
  const { pathGroupingPolicy, failback, noPathRetry, pollingIntervalMs } = config;
  if (!['failover', 'multibus', 'group_by_prio'].includes(pathGroupingPolicy))
    throw new PathGroupConfigError(`path_grouping_policy '${String(pathGroupingPolicy)}' is not failover, multibus or group_by_prio`);
  if (typeof failback === 'number' ? !(Number.isFinite(failback) && failback > 0) : !['manual', 'immediate', 'followover'].includes(failback))
    throw new PathGroupConfigError(`failback ${String(failback)} is not manual, immediate, followover or a delay > 0`);
  if (typeof noPathRetry === 'number' ? !(Number.isInteger(noPathRetry) && noPathRetry > 0) : !['fail', 'queue'].includes(noPathRetry))
    throw new PathGroupConfigError(`no_path_retry ${String(noPathRetry)} is not fail, queue or a count > 0`);
  if (!(Number.isFinite(pollingIntervalMs) && pollingIntervalMs > 0))
    throw new PathGroupConfigError(`polling_interval ${pollingIntervalMs} ms must be > 0`);
  return config;
}

// ---------------------------------------------------------------------------------------------------------
// Paths and groups

/**
 * active: usable for I/O. failed: not usable (session down, I/O or checker failure, operator). checking:
 * the session is up again (or the operator reinstated the path) and the checker's TEST UNIT READY decides.
 */
export type PathState = 'active' | 'failed' | 'checking';

export type PathReasonCode =
  | 'added'
  | 'session-down'
  | 'session-up'
  | 'io-error'
  | 'checker-ok'
  | 'checker-failed'
  | 'checker-tick'
  | 'operator-failed'
  | 'operator-reinstated';

export interface PathEntry {
  readonly id: string;
  /** Path priority: 1 for const, the ALUA value otherwise (higher is better). */
  readonly prio: number;
  readonly state: PathState;
  /** The path's session is in full-feature phase (path.up / path.down). */
  readonly sessionUp: boolean;
  /** Failed by cmd.failPath: stays failed, whatever the checker says, until cmd.reinstatePath. */
  readonly operatorFailed: boolean;
  readonly reason: PathReasonCode;
  readonly detail?: string;
  /** When the path entered its state. */
  readonly since: number;
}

/**
 * Why the active group is what it is: created, failed over, failed back, switched by the operator, back
 * from no path, none usable, or the groups changed (path added or removed, priority or policy changed).
 */
export type SwitchReasonCode = 'initial' | 'failover' | 'failback' | 'operator' | 'restored' | 'no-path' | 'regroup';

export interface SwitchReason {
  code: SwitchReasonCode;
  at: number;
}

/** What changed, for the failback rules. */
type Trigger = 'path-return' | 'path-loss' | 'regroup' | 'tick' | 'operator' | 'config';

export const isUsable = (p: PathEntry | undefined): boolean => p?.state === 'active';

/**
 * Groups path ids by policy, best group first (by the paths' priority; ties keep the order paths were
 * added, so failover with const priorities prefers the first path).
 */
export function groupPaths(paths: readonly PathEntry[], policy: GroupingPolicy): string[][] {
  if (paths.length === 0) return [];
  const byPrio = [...paths].sort((a, b) => b.prio - a.prio); // stable: ties keep insertion order
  switch (policy) {
    case 'multibus':
      return [paths.map((p) => p.id)];
    case 'failover':
      return byPrio.map((p) => [p.id]);
    case 'group_by_prio': {
      const groups: string[][] = [];
      let last: number | undefined;
      for (const p of byPrio) {
        if (p.prio !== last) groups.push([]);
        groups[groups.length - 1].push(p.id);
        last = p.prio;
      }
      return groups;
    }
  }
}

function pathMap(paths: readonly PathEntry[]): Map<string, PathEntry> {
  return new Map(paths.map((p) => [p.id, p]));
}

/** The group's priority as multipathd computes it: the mean priority of its usable paths (0 with none). */
export function groupPriority(group: readonly string[], paths: ReadonlyMap<string, PathEntry>): number {
  let sum = 0;
  let n = 0;
  for (const id of group) {
    const p = paths.get(id);
    if (isUsable(p)) {
      sum += p!.prio;
      n++;
    }
  }
  return n === 0 ? 0 : sum / n;
}

const usableCount = (group: readonly string[], paths: ReadonlyMap<string, PathEntry>): number =>
  group.reduce((n, id) => n + (isUsable(paths.get(id)) ? 1 : 0), 0);

/**
 * The group I/O should use: among groups with a usable path, the highest priority, then the most usable
 * paths, then the first (multipathd's select_path_group ranking). -1 when no path is usable.
 */
export function bestGroup(groups: readonly (readonly string[])[], paths: ReadonlyMap<string, PathEntry>): number {
  let best = -1;
  let bestPrio = -Infinity;
  let bestCount = 0;
  groups.forEach((g, i) => {
    const count = usableCount(g, paths);
    if (count === 0) return;
    const prio = groupPriority(g, paths);
    if (prio > bestPrio || (prio === bestPrio && count > bestCount)) {
      best = i;
      bestPrio = prio;
      bestCount = count;
    }
  });
  return best;
}

// ---------------------------------------------------------------------------------------------------------
// Contract with the runtime

export interface PathGroupInput {
  /** Device name (alias), for messages. */
  name: string;
  config?: Partial<PathGroupConfig>;
  /** Milliseconds clock; give the SimulatedClock's now in tests. Default Date.now. */
  now?: () => number;
}

export type PathGroupEvent =
  /** A path joined the device (its WWID matched). `up`: its session is in full-feature phase. */
  | { type: 'path.add'; id: string; prio?: number; up: boolean }
  | { type: 'path.remove'; id: string }
  /** The path's session left full-feature phase (connection failed, logout...). */
  | { type: 'path.down'; id: string; reason: string }
  /** The path's session is in full-feature phase again; the checker decides (checking). */
  | { type: 'path.up'; id: string }
  /** The runtime saw the path fail I/O while its session lives (iSCSI target failure, abort, path-class sense). */
  | { type: 'path.fail'; id: string; reason: string }
  /** New path priority (ALUA state changed). */
  | { type: 'path.prio'; id: string; prio: number }
  /** Results of the checker's TEST UNIT READY (asked for with mpath.check). */
  | { type: 'checker.ok'; id: string }
  | { type: 'checker.fail'; id: string; reason: string }
  /** multipathd fail path / reinstate path / switch group (group index in `groups`). */
  | { type: 'cmd.failPath'; id: string }
  | { type: 'cmd.reinstatePath'; id: string }
  | { type: 'cmd.switchGroup'; group: number }
  /** set_policy: any of the config fields; validated (else mpath.commandRejected), applied to running timers. */
  | { type: 'cmd.configure'; config: Partial<PathGroupConfig> }
  /** Internal: re-arms the timers after cmd.configure. */
  | { type: 'config.changed' };

/** What the machine emits; the runtime listens with actor.on(type, handler). */
export type PathGroupEmitted =
  /** Run the checker (TEST UNIT READY) on these paths now; answer each with checker.ok/fail. Busy active paths may be skipped. */
  | { type: 'mpath.check'; paths: string[] }
  /** A path is usable again: send the I/O held while no path worked. */
  | { type: 'mpath.dispatchHeld' }
  /** no_path_retry ran out (or is 'fail'): fail every held I/O (EIO upstream). */
  | { type: 'mpath.failHeld'; reason: string }
  | { type: 'mpath.commandRejected'; command: string; reason: string };

export interface PathGroupContext {
  name: string;
  config: PathGroupConfig;
  now: () => number;
  /** In the order they were added. */
  paths: readonly PathEntry[];
  /** Path ids per group, best group first (see groupPaths). */
  groups: readonly (readonly string[])[];
  /** Index into groups, -1 when no path is usable. */
  activeGroup: number;
  switchReason: SwitchReason;
  /** When the last usable path went away (no_path_retry counts from here). */
  noPathSince: number;
  /** When a better group than the active one became usable (numeric failback counts from here), or null. */
  failbackSince: number | null;
  lastTickAt: number;
  /** When the gate last changed. */
  since: number;
}

// ---------------------------------------------------------------------------------------------------------
// Context arithmetic (pure)

function setPath(paths: readonly PathEntry[], id: string, patch: (p: PathEntry) => PathEntry): PathEntry[] {
  return paths.map((p) => (p.id === id ? patch(p) : p));
}

function moved(p: PathEntry, state: PathState, reason: PathReasonCode, now: number, detail?: string, extra: Partial<PathEntry> = {}): PathEntry {
  return { ...p, ...extra, state, reason, detail, since: p.state === state ? p.since : now };
}

/**
 * New paths -> new groups, active group and failback start, by the failover and failback rules:
 * - the active group without a usable path: switch at once to the best group (failover), or -1;
 * - the groups changed (path added or removed, priority or policy changed): the best group, as a map
 *   reload in multipathd starts from the best group;
 * - immediate: the best group whenever it differs (on every change and checker tick, but not right after
 *   an operator's switch_group: the next tick reverts it, as multipathd does);
 * - followover: only when a path's return makes its group usable again and that group is the best;
 * - N ms: from when a better group became usable (failbackSince), by the failbackDelay timer;
 * - manual: never.
 */
function settle(c: PathGroupContext, paths: PathEntry[], trigger: Trigger, regroup: boolean, changed?: string): Partial<PathGroupContext> {
  const now = c.now();
  const map = pathMap(paths);
  let groups = c.groups;
  let active = c.activeGroup;
  if (regroup) {
    groups = groupPaths(paths, c.config.pathGroupingPolicy);
    // Keep serving from the group that holds the old active group's usable paths.
    const old = active >= 0 ? (c.groups[active] ?? []) : [];
    const keep = old.find((id) => isUsable(map.get(id)));
    active = keep === undefined ? -1 : groups.findIndex((g) => g.includes(keep));
  }
  let switchReason = c.switchReason;
  const best = bestGroup(groups, map);
  if (active < 0 || active >= groups.length || usableCount(groups[active], map) === 0) {
    if (best !== active || active < 0) {
      const code: SwitchReasonCode =
        best < 0 ? 'no-path' : c.activeGroup >= 0 ? 'failover' : c.switchReason.code === 'initial' ? 'initial' : 'restored';
      if (code !== switchReason.code || best !== c.activeGroup) switchReason = { code, at: now };
    }
    active = best;
  } else if (best !== active && best >= 0 && regroup) {
    active = best;
    switchReason = { code: 'regroup', at: now };
  } else if (best !== active && best >= 0) {
    const fb = c.config.failback;
    let failBack = false;
    if (fb === 'immediate') failBack = trigger !== 'operator';
    else if (fb === 'followover' && trigger === 'path-return' && changed !== undefined) {
      const group = groups[best];
      const oldMap = pathMap(c.paths);
      failBack = group.includes(changed) && usableCount(group, oldMap) === 0;
    }
    if (failBack) {
      active = best;
      switchReason = { code: 'failback', at: now };
    }
  }
  const numeric = typeof c.config.failback === 'number';
  const better = best >= 0 && active >= 0 && best !== active;
  const failbackSince = numeric && better ? (c.failbackSince ?? now) : null;
  return { paths, groups, activeGroup: active, switchReason, failbackSince };
}

function mergeConfig(c: PathGroupConfig, patch: Partial<PathGroupConfig>): PathGroupConfig {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<PathGroupConfig>;
  return validatePathGroupConfig({ ...c, ...defined });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------------------
// The machine

const pathGroupSetup = setup({
  types: {
    context: {} as PathGroupContext,
    events: {} as PathGroupEvent,
    input: {} as PathGroupInput,
    emitted: {} as PathGroupEmitted,
  },
  actions: {
    markSince: assign({ since: ({ context }) => context.now() }),
    dispatchHeld: emit({ type: 'mpath.dispatchHeld' as const }),
    failHeld: emit(({ context }) => ({
      type: 'mpath.failHeld' as const,
      reason:
        context.config.noPathRetry === 'fail'
          ? `${context.name}: no usable path (no_path_retry fail)`
          : `${context.name}: no usable path for ${context.config.noPathRetry} checker intervals (no_path_retry)`,
    })),
    /** One checker round: every path with a live session and not failed by the operator. */
    tick: assign(({ context }) => {
      const now = context.now();
      const paths = context.paths.map((p) =>
        p.state === 'failed' && p.sessionUp && !p.operatorFailed ? moved(p, 'checking', 'checker-tick', now) : p,
      );
      return { ...settle(context, paths, 'tick', false), lastTickAt: now };
    }),
    emitTickChecks: emit(({ context }) => ({
      type: 'mpath.check' as const,
      paths: context.paths.filter((p) => p.sessionUp && !p.operatorFailed).map((p) => p.id),
    })),
    failbackNow: assign(({ context }) => {
      const best = bestGroup(context.groups, pathMap(context.paths));
      if (best < 0 || best === context.activeGroup) return { failbackSince: null };
      return { activeGroup: best, failbackSince: null, switchReason: { code: 'failback' as const, at: context.now() } };
    }),
  },
  guards: {
    hasActiveGroup: ({ context }) => context.activeGroup >= 0,
    noPathFail: ({ context }) => context.config.noPathRetry === 'fail',
    noPathQueue: ({ context }) => context.config.noPathRetry === 'queue',
    noPathRetryExpired: ({ context }) =>
      typeof context.config.noPathRetry === 'number' &&
      context.now() - context.noPathSince >= context.config.noPathRetry * context.config.pollingIntervalMs,
    failbackPending: ({ context }) => context.failbackSince !== null && typeof context.config.failback === 'number',
  },
  delays: {
    /** no_path_retry N: N × polling_interval from the loss of the last usable path. */
    noPathRetry: ({ context }) =>
      remainingMs(
        context.noPathSince,
        typeof context.config.noPathRetry === 'number' ? context.config.noPathRetry * context.config.pollingIntervalMs : 0,
        context.now(),
      ),
    /** failback N: from when a better group became usable. */
    failbackDelay: ({ context }) =>
      remainingMs(context.failbackSince ?? context.now(), typeof context.config.failback === 'number' ? context.config.failback : 0, context.now()),
    /** polling_interval from the last checker round. */
    checkerInterval: ({ context }) => remainingMs(context.lastTickAt, context.config.pollingIntervalMs, context.now()),
  },
});

const has = (c: PathGroupContext, id: string) => c.paths.some((p) => p.id === id);
const get = (c: PathGroupContext, id: string) => c.paths.find((p) => p.id === id);

export const pathGroupMachine = pathGroupSetup.createMachine({
  id: 'pathGroup',
  type: 'parallel',
  context: ({ input }) => {
    const now = input.now ?? Date.now;
    const t = now();
    return {
      name: input.name,
      config: validatePathGroupConfig({ ...DEFAULT_PATH_GROUP_CONFIG, ...input.config }),
      now,
      paths: [],
      groups: [],
      activeGroup: -1,
      switchReason: { code: 'initial', at: t },
      noPathSince: t,
      failbackSince: null,
      lastTickAt: t,
      since: t,
    };
  },
  on: {
    'path.add': {
      guard: ({ context, event }) => !has(context, event.id),
      actions: assign(({ context, event }) => {
        const now = context.now();
        const entry: PathEntry = {
          id: event.id,
          prio: event.prio ?? 1,
          state: event.up ? 'active' : 'failed',
          sessionUp: event.up,
          operatorFailed: false,
          reason: 'added',
          since: now,
        };
        return settle(context, [...context.paths, entry], event.up ? 'path-return' : 'regroup', true, event.id);
      }),
    },
    'path.remove': {
      guard: ({ context, event }) => has(context, event.id),
      actions: assign(({ context, event }) =>
        settle(context, context.paths.filter((p) => p.id !== event.id), 'path-loss', true),
      ),
    },
    'path.down': {
      guard: ({ context, event }) => has(context, event.id),
      actions: assign(({ context, event }) =>
        settle(
          context,
          setPath(context.paths, event.id, (p) =>
            p.state === 'failed' && !p.sessionUp ? p : moved(p, 'failed', 'session-down', context.now(), event.reason, { sessionUp: false }),
          ),
          'path-loss',
          false,
        ),
      ),
    },
    'path.up': [
      {
        // Back in full-feature phase: TEST UNIT READY before any I/O goes to it.
        guard: ({ context, event }) => {
          const p = get(context, event.id);
          return p !== undefined && !p.operatorFailed && p.state !== 'active';
        },
        actions: [
          assign(({ context, event }) => ({
            paths: setPath(context.paths, event.id, (p) => moved(p, 'checking', 'session-up', context.now(), undefined, { sessionUp: true })),
          })),
          emit(({ event }) => ({ type: 'mpath.check' as const, paths: [event.id] })),
        ],
      },
      {
        guard: ({ context, event }) => has(context, event.id),
        actions: assign(({ context, event }) => ({ paths: setPath(context.paths, event.id, (p) => ({ ...p, sessionUp: true })) })),
      },
    ],
    'path.fail': {
      guard: ({ context, event }) => get(context, event.id)?.state === 'active' || get(context, event.id)?.state === 'checking',
      actions: assign(({ context, event }) =>
        settle(context, setPath(context.paths, event.id, (p) => moved(p, 'failed', 'io-error', context.now(), event.reason)), 'path-loss', false),
      ),
    },
    'path.prio': {
      guard: ({ context, event }) => has(context, event.id),
      actions: assign(({ context, event }) =>
        settle(context, setPath(context.paths, event.id, (p) => ({ ...p, prio: event.prio })), 'regroup', true),
      ),
    },
    'checker.ok': {
      guard: ({ context, event }) => {
        const p = get(context, event.id);
        return p !== undefined && p.sessionUp && !p.operatorFailed && p.state !== 'active';
      },
      actions: assign(({ context, event }) =>
        settle(context, setPath(context.paths, event.id, (p) => moved(p, 'active', 'checker-ok', context.now())), 'path-return', false, event.id),
      ),
    },
    'checker.fail': {
      guard: ({ context, event }) => get(context, event.id)?.state === 'active' || get(context, event.id)?.state === 'checking',
      actions: assign(({ context, event }) =>
        settle(context, setPath(context.paths, event.id, (p) => moved(p, 'failed', 'checker-failed', context.now(), event.reason)), 'path-loss', false),
      ),
    },
    'cmd.failPath': {
      guard: ({ context, event }) => has(context, event.id),
      actions: assign(({ context, event }) =>
        settle(
          context,
          setPath(context.paths, event.id, (p) => moved(p, 'failed', 'operator-failed', context.now(), undefined, { operatorFailed: true })),
          'path-loss',
          false,
        ),
      ),
    },
    'cmd.reinstatePath': [
      {
        guard: ({ context, event }) => get(context, event.id)?.operatorFailed === true && get(context, event.id)?.sessionUp === true,
        actions: [
          assign(({ context, event }) => ({
            paths: setPath(context.paths, event.id, (p) =>
              moved(p, 'checking', 'operator-reinstated', context.now(), undefined, { operatorFailed: false }),
            ),
          })),
          emit(({ event }) => ({ type: 'mpath.check' as const, paths: [event.id] })),
        ],
      },
      {
        // Session down: reinstated when it is back and the checker passes.
        guard: ({ context, event }) => get(context, event.id)?.operatorFailed === true,
        actions: assign(({ context, event }) => ({
          paths: setPath(context.paths, event.id, (p) => ({ ...p, operatorFailed: false, reason: 'operator-reinstated' as const })),
        })),
      },
    ],
    'cmd.switchGroup': [
      {
        guard: ({ context, event }) => {
          const g = context.groups[event.group];
          return g !== undefined && usableCount(g, pathMap(context.paths)) > 0;
        },
        actions: assign(({ context, event }) => {
          const best = bestGroup(context.groups, pathMap(context.paths));
          const numeric = typeof context.config.failback === 'number';
          return {
            activeGroup: event.group,
            switchReason: { code: 'operator' as const, at: context.now() },
            failbackSince: numeric && best !== event.group ? context.now() : null,
          };
        }),
      },
      {
        actions: emit(({ context, event }) => ({
          type: 'mpath.commandRejected' as const,
          command: 'switch_group',
          reason:
            context.groups[event.group] === undefined
              ? `${context.name} has no path group ${event.group}`
              : `path group ${event.group} of ${context.name} has no usable path`,
        })),
      },
    ],
    'cmd.configure': [
      {
        guard: ({ context, event }) => {
          try {
            mergeConfig(context.config, event.config);
            return true;
          } catch {
            return false;
          }
        },
        actions: [
          assign(({ context, event }) => {
            const config = mergeConfig(context.config, event.config);
            const regroup = config.pathGroupingPolicy !== context.config.pathGroupingPolicy;
            return { config, ...settle({ ...context, config }, [...context.paths], 'config', regroup) };
          }),
          raise({ type: 'config.changed' }),
        ],
      },
      {
        actions: emit(({ context, event }) => {
          let reason = 'invalid configuration';
          try {
            mergeConfig(context.config, event.config);
          } catch (e) {
            reason = errorText(e);
          }
          return { type: 'mpath.commandRejected' as const, command: 'set_policy', reason };
        }),
      },
    ],
  },
  states: {
    /** The gate the data path reads: serving (open), noPath.queueing/counting (hold), noPath.failing (fail). */
    io: {
      initial: 'route',
      states: {
        route: { always: [{ guard: 'hasActiveGroup', target: 'serving' }, { target: 'noPath' }] },
        serving: {
          entry: 'markSince',
          always: { guard: not('hasActiveGroup'), target: 'noPath' },
        },
        noPath: {
          entry: ['markSince', assign({ noPathSince: ({ context }) => context.now() })],
          always: { guard: 'hasActiveGroup', target: 'serving', actions: 'dispatchHeld' },
          on: { 'config.changed': '.route' },
          initial: 'route',
          states: {
            route: {
              always: [
                { guard: 'noPathFail', target: 'failing' },
                { guard: 'noPathQueue', target: 'queueing' },
                { guard: 'noPathRetryExpired', target: 'failing' },
                { target: 'counting' },
              ],
            },
            /** no_path_retry queue: hold I/O until a path returns. */
            queueing: {},
            /** no_path_retry N: hold I/O for N checker intervals. */
            counting: { after: { noPathRetry: 'failing' } },
            /** Fail held and new I/O until a path returns. */
            failing: { entry: ['markSince', 'failHeld'] },
          },
        },
      },
    },
    /** Numeric failback: switch to the better group once it has been usable for the delay. */
    failback: {
      initial: 'idle',
      states: {
        idle: { always: { guard: 'failbackPending', target: 'pending' } },
        pending: {
          always: { guard: not('failbackPending'), target: 'idle' },
          after: { failbackDelay: { target: 'idle', actions: 'failbackNow' } },
          on: { 'config.changed': { target: 'pending', reenter: true } },
        },
      },
    },
    /** The path checker's clock: every polling_interval, mpath.check for every path with a live session. */
    checker: {
      initial: 'ticking',
      states: {
        ticking: {
          after: { checkerInterval: { target: 'ticking', reenter: true, actions: ['tick', 'emitTickChecks'] } },
          on: { 'config.changed': { target: 'ticking', reenter: true } },
        },
      },
    },
  },
});

export type PathGroupMachine = typeof pathGroupMachine;
export type PathGroupActor = ActorRefFrom<PathGroupMachine>;
export type PathGroupSnapshot = SnapshotFrom<PathGroupMachine>;

// ---------------------------------------------------------------------------------------------------------
// Reading the device

/** open: send on a usable path of the active group; queueing: hold; failed: fail at once (TransportError, EIO). */
export type MultipathGate = 'open' | 'queueing' | 'failed';

export function pathGroupGateOf(snapshot: PathGroupSnapshot): MultipathGate {
  if (snapshot.matches({ io: 'serving' })) return 'open';
  if (snapshot.matches({ io: { noPath: 'failing' } })) return 'failed';
  return 'queueing';
}

/** Ids of the usable paths of the active group, in group order. */
export function usablePaths(snapshot: PathGroupSnapshot): string[] {
  const c = snapshot.context;
  const group = c.groups[c.activeGroup];
  if (!group) return [];
  const map = pathMap(c.paths);
  return group.filter((id) => isUsable(map.get(id)));
}

export type GroupStatusName = 'active' | 'enabled' | 'disabled';

export interface PathGroupStatus {
  name: string;
  gate: MultipathGate;
  config: PathGroupConfig;
  activeGroup: number;
  switchReason: SwitchReason;
  groups: { index: number; prio: number; status: GroupStatusName; paths: string[] }[];
  paths: readonly PathEntry[];
  /** When the gate last changed. */
  at: number;
}

/** Everything `multipath -ll` shows about the device's groups and paths (group status as dm reports it). */
export function pathGroupStatus(snapshot: PathGroupSnapshot): PathGroupStatus {
  const c = snapshot.context;
  const map = pathMap(c.paths);
  return {
    name: c.name,
    gate: pathGroupGateOf(snapshot),
    config: c.config,
    activeGroup: c.activeGroup,
    switchReason: c.switchReason,
    groups: c.groups.map((g, index) => ({
      index,
      prio: Math.round(groupPriority(g, map)),
      status: index === c.activeGroup ? 'active' : usableCount(g, map) > 0 ? 'enabled' : 'disabled',
      paths: [...g],
    })),
    paths: c.paths,
    at: c.since,
  };
}

/** Every snapshot change as a status, starting with the current one; completes when the actor stops. */
export function pathGroupEvents$(actor: PathGroupActor): Observable<PathGroupStatus> {
  return new Observable<PathGroupStatus>((subscriber) => {
    let last: PathGroupSnapshot | undefined;
    const push = (snapshot: PathGroupSnapshot) => {
      if (snapshot === last) return;
      last = snapshot;
      subscriber.next(pathGroupStatus(snapshot));
    };
    push(actor.getSnapshot());
    const sub = actor.subscribe({ next: push, error: (err) => subscriber.error(err), complete: () => subscriber.complete() });
    return () => sub.unsubscribe();
  });
}
