/**
 * The paths and path groups of one multipath device, as dm-multipath and multipathd keep them
 * (reference/nbd-and-multipath.md "dm-multipath"; multipath.conf path_grouping_policy, failback,
 * no_path_retry, polling_interval): path states, grouping, the active group, failback, queueing while no
 * path works (held while a path may still come back, capped by fast_io_fail_tmo, then no_path_retry), the
 * path checker's ticks, and the operator's fail_path / reinstate_path / switch_group. No
 * I/O and no single command: the runtime (src/multipath/) reads `usablePaths(snapshot)` and
 * `pathGroupGateOf(snapshot)` per I/O and reports only path facts; see machines/README.md.
 *
 * Over 500 lines because one `setup()` types every guard and action of the device's regions (paths,
 * groups, queueing, checker), and dm-multipath's rules for each are spelled out beside the transition they govern.
 */
import { Observable } from 'rxjs';
import { assign, emit, not, raise, setup, type ActorRefFrom, type SnapshotFrom } from 'xstate';
import { GROUPING_POLICIES, type GroupingPolicyName } from '../src/settings/index.js';
import { remainingMs } from './timers.js';

// ---------------------------------------------------------------------------------------------------------
// Configuration

/** path_grouping_policy: failover = one path per group; multibus = one group; group_by_prio = one group per priority. */
export type GroupingPolicy = GroupingPolicyName;

/** failback: 'manual', 'immediate', 'followover', or a delay in milliseconds (multipath.conf says seconds). */
export type Failback = 'manual' | 'immediate' | 'followover' | number;

/** no_path_retry: 'fail' at once, 'queue' forever, or queue for N checker intervals (polling_interval) then fail. */
export type NoPathRetry = 'fail' | 'queue' | number;

/**
 * fast_io_fail_tmo (ours, named after multipath-tools' setting): how long I/O is held, from the loss of the
 * last usable path, while a path may still come back (its session relogging in within its
 * replacement_timeout). 0 = no hold (no_path_retry decides at once); 'off' = hold as long as any path may
 * come back (each session's replacement_timeout bounds it).
 */
export type FastIoFailTmo = number | 'off';

export interface PathGroupConfig {
  /** Default 'failover' (multipath-tools' built-in default). */
  pathGroupingPolicy: GroupingPolicy;
  /** Default 'manual'. */
  failback: Failback;
  /** Default 'fail'. */
  noPathRetry: NoPathRetry;
  /** polling_interval: the path checker runs this often (ms). Default 5000 (5 s). */
  pollingIntervalMs: number;
  /** fast_io_fail_tmo in ms, or 'off' (see FastIoFailTmo). Default 5000, the kernel's fast_io_fail_tmo under dm-multipath. */
  fastIoFailTmoMs: FastIoFailTmo;
}

export const DEFAULT_PATH_GROUP_CONFIG: Readonly<PathGroupConfig> = Object.freeze({
  pathGroupingPolicy: 'failover',
  failback: 'manual',
  noPathRetry: 'fail',
  pollingIntervalMs: 5_000,
  fastIoFailTmoMs: 5_000,
});

export class PathGroupConfigError extends Error {
  override readonly name = 'PathGroupConfigError';
}

/** Checks every field; throws PathGroupConfigError naming the first bad one. */
export function validatePathGroupConfig(config: PathGroupConfig): PathGroupConfig {
  const { pathGroupingPolicy, failback, noPathRetry, pollingIntervalMs, fastIoFailTmoMs } = config;
  if (!(GROUPING_POLICIES as readonly string[]).includes(pathGroupingPolicy))
    throw new PathGroupConfigError(`path_grouping_policy '${String(pathGroupingPolicy)}' is not failover, multibus or group_by_prio`);
  if (
    typeof failback === 'number' ? !(Number.isFinite(failback) && failback > 0) : !['manual', 'immediate', 'followover'].includes(failback)
  )
    throw new PathGroupConfigError(`failback ${String(failback)} is not manual, immediate, followover or a delay > 0`);
  if (typeof noPathRetry === 'number' ? !(Number.isInteger(noPathRetry) && noPathRetry > 0) : !['fail', 'queue'].includes(noPathRetry))
    throw new PathGroupConfigError(`no_path_retry ${String(noPathRetry)} is not fail, queue or a count > 0`);
  if (!(Number.isFinite(pollingIntervalMs) && pollingIntervalMs > 0))
    throw new PathGroupConfigError(`polling_interval ${pollingIntervalMs} ms must be > 0`);
  if (fastIoFailTmoMs !== 'off' && !(typeof fastIoFailTmoMs === 'number' && Number.isFinite(fastIoFailTmoMs) && fastIoFailTmoMs >= 0))
    throw new PathGroupConfigError(`fast_io_fail_tmo ${String(fastIoFailTmoMs)} is not off or a delay >= 0`);
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
  /**
   * The session is down but relogging in within its replacement_timeout (its gate holds commands): the
   * path may come back, so with no usable path I/O is held for it (fast_io_fail_tmo).
   */
  readonly recovering: boolean;
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

/** Why a hold ended without a path back: fast_io_fail_tmo ran out, or no path can come back any more. */
export type HoldEnd = 'fast-io-fail-tmo' | 'no-path-can-return';

/** What changed, for the failback rules. */
type Trigger = 'path-return' | 'path-loss' | 'regroup' | 'tick' | 'operator' | 'config';

export const isUsable = (p: PathEntry | undefined): boolean => p?.state === 'active';

/**
 * A path that is not usable now but may be soon: its session is relogging in within replacement_timeout,
 * or it is back and waiting for the checker's TEST UNIT READY. Never one the operator failed.
 */
export const mayReturn = (p: PathEntry): boolean => !p.operatorFailed && (p.state === 'checking' || (!p.sessionUp && p.recovering));

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
  /** A path joined the device (its WWID matched). `up`: its session is in full-feature phase; `recovering` as in path.down. */
  | { type: 'path.add'; id: string; prio?: number; up: boolean; recovering?: boolean }
  | { type: 'path.remove'; id: string }
  /**
   * The path's session left full-feature phase (connection failed, logout...), or, already down, changed
   * what it is doing: `recovering` while it relogs in within replacement_timeout (the path may come back;
   * default false), `detail` why it stopped for good (replacement_timeout expired, identity changed...).
   */
  | { type: 'path.down'; id: string; reason: string; recovering?: boolean; detail?: string }
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
  /** The hold for a recovering path ended without a path back: why, and how long it lasted (ms). */
  | { type: 'mpath.holdEnded'; why: HoldEnd; heldMs: number }
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
  /** When the last usable path went away (the fast_io_fail_tmo hold counts from here). */
  noPathSince: number;
  /** When no path could come back any more, or the hold ran out (no_path_retry counts from here). */
  retrySince: number;
  /** How the last hold ended, for the failure's message; null while holding or serving. */
  holdEnd: HoldEnd | null;
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

function moved(
  p: PathEntry,
  state: PathState,
  reason: PathReasonCode,
  now: number,
  detail?: string,
  extra: Partial<PathEntry> = {},
): PathEntry {
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

const checkingNow = (p: PathEntry): boolean => p.state === 'checking' && !p.operatorFailed;

/** Milliseconds of the fast_io_fail_tmo hold left (Infinity with 'off'). */
function holdLeftMs(c: PathGroupContext): number {
  const tmo = c.config.fastIoFailTmoMs;
  return tmo === 'off' ? Infinity : remainingMs(c.noPathSince, tmo, c.now());
}

const seconds = (ms: number): string => `${+(ms / 1000).toFixed(3)} s`;

/** Why held I/O fails: what ended the hold (if one ran) and the no_path_retry that followed. */
function failReason(c: PathGroupContext): string {
  const why =
    c.holdEnd === 'fast-io-fail-tmo'
      ? `no path came back within fast_io_fail_tmo ${seconds(c.config.fastIoFailTmoMs as number)}`
      : 'no path can come back';
  const retry =
    c.config.noPathRetry === 'fail'
      ? 'no_path_retry fail'
      : `no_path_retry ${c.config.noPathRetry} exhausted (${seconds((c.config.noPathRetry as number) * c.config.pollingIntervalMs)})`;
  return `${c.name}: no usable path: ${why}; ${retry}`;
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
    failHeld: emit(({ context }) => ({ type: 'mpath.failHeld' as const, reason: failReason(context) })),
    startRetry: assign({ retrySince: ({ context }) => context.now() }),
    endHold: assign({ holdEnd: (_, params: { why: HoldEnd }) => params.why }),
    emitHoldEnded: emit(({ context }, params: { why: HoldEnd }) => ({
      type: 'mpath.holdEnded' as const,
      why: params.why,
      heldMs: context.now() - context.noPathSince,
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
    /** Hold for a recovering path: one may come back and fast_io_fail_tmo has not run out since the loss. */
    mayHold: ({ context }) => context.paths.some(mayReturn) && (holdLeftMs(context) > 0 || context.paths.some(checkingNow)),
    // Both check for a usable path too: a child's eventless transition is taken before noPath's own (to serving).
    noneMayReturn: ({ context }) => context.activeGroup < 0 && !context.paths.some(mayReturn),
    holdSpent: ({ context }) => context.activeGroup < 0 && holdLeftMs(context) <= 0 && !context.paths.some(checkingNow),
    holdOff: ({ context }) => context.config.fastIoFailTmoMs === 'off',
    holdNotSpent: ({ context }) => holdLeftMs(context) > 0,
    noPathFail: ({ context }) => context.config.noPathRetry === 'fail',
    noPathQueue: ({ context }) => context.config.noPathRetry === 'queue',
    noPathRetryExpired: ({ context }) =>
      typeof context.config.noPathRetry === 'number' &&
      context.now() - context.retrySince >= context.config.noPathRetry * context.config.pollingIntervalMs,
    failbackPending: ({ context }) => context.failbackSince !== null && typeof context.config.failback === 'number',
  },
  delays: {
    /** fast_io_fail_tmo from the loss of the last usable path (never armed with 'off'). */
    pathHold: ({ context }) => (context.config.fastIoFailTmoMs === 'off' ? 0 : holdLeftMs(context)),
    /** no_path_retry N: N × polling_interval from when no path could come back (or the hold ran out). */
    noPathRetry: ({ context }) =>
      remainingMs(
        context.retrySince,
        typeof context.config.noPathRetry === 'number' ? context.config.noPathRetry * context.config.pollingIntervalMs : 0,
        context.now(),
      ),
    /** failback N: from when a better group became usable. */
    failbackDelay: ({ context }) =>
      remainingMs(
        context.failbackSince ?? context.now(),
        typeof context.config.failback === 'number' ? context.config.failback : 0,
        context.now(),
      ),
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
      retrySince: t,
      holdEnd: null,
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
          recovering: !event.up && event.recovering === true,
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
        settle(
          context,
          context.paths.filter((p) => p.id !== event.id),
          'path-loss',
          true,
        ),
      ),
    },
    'path.down': {
      guard: ({ context, event }) => has(context, event.id),
      actions: assign(({ context, event }) =>
        settle(
          context,
          setPath(context.paths, event.id, (p) => {
            const recovering = event.recovering === true;
            const detail = event.detail ?? event.reason;
            // Already down: only what the session is doing now changes (recovering, why it stopped).
            if (p.state === 'failed' && !p.sessionUp)
              return p.recovering === recovering && p.detail === detail ? p : { ...p, recovering, detail };
            return moved(p, 'failed', 'session-down', context.now(), detail, { sessionUp: false, recovering });
          }),
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
            paths: setPath(context.paths, event.id, (p) =>
              moved(p, 'checking', 'session-up', context.now(), undefined, { sessionUp: true, recovering: false }),
            ),
          })),
          emit(({ event }) => ({ type: 'mpath.check' as const, paths: [event.id] })),
        ],
      },
      {
        guard: ({ context, event }) => has(context, event.id),
        actions: assign(({ context, event }) => ({
          paths: setPath(context.paths, event.id, (p) => ({ ...p, sessionUp: true, recovering: false })),
        })),
      },
    ],
    'path.fail': {
      guard: ({ context, event }) => get(context, event.id)?.state === 'active' || get(context, event.id)?.state === 'checking',
      actions: assign(({ context, event }) =>
        settle(
          context,
          setPath(context.paths, event.id, (p) => moved(p, 'failed', 'io-error', context.now(), event.reason)),
          'path-loss',
          false,
        ),
      ),
    },
    'path.prio': {
      guard: ({ context, event }) => has(context, event.id),
      actions: assign(({ context, event }) =>
        settle(
          context,
          setPath(context.paths, event.id, (p) => ({ ...p, prio: event.prio })),
          'regroup',
          true,
        ),
      ),
    },
    'checker.ok': {
      guard: ({ context, event }) => {
        const p = get(context, event.id);
        return p?.sessionUp === true && !p.operatorFailed && p.state !== 'active';
      },
      actions: assign(({ context, event }) =>
        settle(
          context,
          setPath(context.paths, event.id, (p) => moved(p, 'active', 'checker-ok', context.now())),
          'path-return',
          false,
          event.id,
        ),
      ),
    },
    'checker.fail': {
      guard: ({ context, event }) => get(context, event.id)?.state === 'active' || get(context, event.id)?.state === 'checking',
      actions: assign(({ context, event }) =>
        settle(
          context,
          setPath(context.paths, event.id, (p) => moved(p, 'failed', 'checker-failed', context.now(), event.reason)),
          'path-loss',
          false,
        ),
      ),
    },
    'cmd.failPath': {
      guard: ({ context, event }) => has(context, event.id),
      actions: assign(({ context, event }) =>
        settle(
          context,
          setPath(context.paths, event.id, (p) =>
            moved(p, 'failed', 'operator-failed', context.now(), undefined, { operatorFailed: true }),
          ),
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
          entry: ['markSince', assign({ noPathSince: ({ context }) => context.now(), holdEnd: null })],
          always: { guard: 'hasActiveGroup', target: 'serving', actions: 'dispatchHeld' },
          initial: 'route',
          states: {
            route: {
              always: [
                { guard: 'mayHold', target: 'holding' },
                // fast_io_fail_tmo 0 (or already spent) with a path recovering: the hold is over before it began.
                {
                  target: 'retry',
                  actions: assign({
                    holdEnd: ({ context }) => (context.paths.some(mayReturn) ? 'fast-io-fail-tmo' : 'no-path-can-return'),
                  }),
                },
              ],
            },
            /**
             * A path may come back (its session relogs in within replacement_timeout): hold I/O for it, at
             * most fast_io_fail_tmo from the loss, as the kernel's iSCSI layer does under dm-multipath.
             */
            holding: {
              always: [
                {
                  guard: 'noneMayReturn',
                  target: 'retry',
                  actions: [
                    { type: 'endHold', params: { why: 'no-path-can-return' } },
                    { type: 'emitHoldEnded', params: { why: 'no-path-can-return' } },
                  ],
                },
                {
                  // Spent, and no path is past its relogin (a path back in session waits only for its TEST UNIT READY).
                  guard: 'holdSpent',
                  target: 'retry',
                  actions: [
                    { type: 'endHold', params: { why: 'fast-io-fail-tmo' } },
                    { type: 'emitHoldEnded', params: { why: 'fast-io-fail-tmo' } },
                  ],
                },
              ],
              initial: 'route',
              states: {
                route: { always: [{ guard: 'holdOff', target: 'unbounded' }, { target: 'waiting' }] },
                /** fast_io_fail_tmo from the loss of the last usable path. */
                waiting: { after: { pathHold: 'spent' } },
                /**
                 * Node's timers run on the loop's millisecond clock and may fire a fraction of a millisecond before
                 * the clock `now` reads: then the hold is not quite spent, and without a new timer nothing would
                 * look again until the next event (a checker tick, polling_interval later). Wait out the rest.
                 */
                spent: { always: { guard: 'holdNotSpent', target: 'waiting' } },
                /** fast_io_fail_tmo off: until no path may come back (replacement_timeout bounds each). */
                unbounded: {},
              },
              // A new fast_io_fail_tmo applies from the loss (an expired one ends the hold at once).
              on: { 'config.changed': '#pathGroup.io.noPath.route' },
            },
            /** No path may come back (or the hold ran out): no_path_retry counts from here. */
            retry: {
              entry: 'startRetry',
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
  if (snapshot.matches({ io: { noPath: { retry: 'failing' } } })) return 'failed';
  return 'queueing';
}

/**
 * What the device does with I/O, finer than the gate: serving; holding (for a recovering path, within
 * fast_io_fail_tmo); queueing (no_path_retry queue); counting (no_path_retry N); failing.
 */
export type NoPathPhase = 'serving' | 'holding' | 'queueing' | 'counting' | 'failing';

export function noPathPhaseOf(snapshot: PathGroupSnapshot): NoPathPhase {
  if (snapshot.matches({ io: 'serving' })) return 'serving';
  if (snapshot.matches({ io: { noPath: { retry: 'failing' } } })) return 'failing';
  if (snapshot.matches({ io: { noPath: { retry: 'counting' } } })) return 'counting';
  if (snapshot.matches({ io: { noPath: { retry: 'queueing' } } })) return 'queueing';
  return 'holding';
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
  phase: NoPathPhase;
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
    phase: noPathPhaseOf(snapshot),
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
