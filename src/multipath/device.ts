/**
 * One multipath device: the paths (sessions) to one LU, behind the ScsiExecutor interface so that a block
 * device or the NBD server sits on top. The path-group statechart (machines/path-group.machine.ts) owns path
 * states, groups, failback, no_path_retry and the checker's clock; this runtime runs the data path (selector,
 * re-issue on another path, holding while no path works), the path checker's TEST UNIT READY and the fast
 * stall detection, and reports path facts to the machine. DESIGN.md "Failover model". Every timer and
 * timestamp, the machine's included, is on the one injected Clock (src/session/clock.ts).
 *
 * Over 500 lines because the per-I/O path (select, issue, re-issue on another path, hold) and the path
 * checker share the device's in-flight list and deadlines; split, each would reach into the other's state.
 */
import { createActor } from 'xstate';
import { Subject, type Observable, type Subscription } from 'rxjs';
import {
  pathGroupGateOf,
  pathGroupMachine,
  pathGroupStatus,
  usablePaths,
  type HoldEnd,
  type MultipathGate,
  type NoPathPhase,
  type PathGroupActor,
  type PathGroupEvent,
  type PathGroupSnapshot,
  mayReturn,
  type PathGroupStatus,
  type PathReasonCode,
  type PathState,
  type SwitchReason,
  type SwitchReasonCode,
} from '../../machines/path-group.machine.js';
import type { SessionGate, SessionStateName, SessionStatus } from '../../machines/session.machine.js';
import { TaskAbortedError, TransportError } from '../iscsi/errors.js';
import { testUnitReady } from '../scsi/cdb.js';
import { classifyStatus, type SenseClass } from '../scsi/classify.js';
import { parseSense } from '../scsi/sense.js';
import { ScsiStatus } from '../scsi/status.js';
import { Sweep, systemClock, withDeadline, type Clock } from '../session/clock.js';
import { InFlightList, type InFlightLinks } from '../session/in-flight.js';
import { executeScsi, type ScsiExecutor } from '../session/lun.js';
import type { TaskSink } from '../session/task.js';
import type { ScsiCommandRequest, ScsiResult } from '../session/types.js';
import { DEFAULT_MULTIPATH_CONFIG, mergeMultipathConfig, type MultipathConfig } from './config.js';
import { readWwid, type PathIdentity } from './identity.js';
import { LatencyWindow } from './latency.js';
import { createSelector, type PathSelector, type SelectablePath } from './selectors.js';

/** The live connection of a path, as the stall probe needs it (a Session). */
export interface ProbeTarget {
  readonly closed: boolean;
  /** NOP-Out answered by a NOP-In (RFC 7143 §11.18); resolves with the round trip, rejects on timeout. */
  ping(timeoutMs: number): Promise<number>;
  /** Drops the connection: its commands fail with `error`, the session recovers. */
  close(error?: Error): void;
}

/**
 * A path: a supervised session (ManagedSession with `failFast`, so that it neither holds nor re-issues
 * commands itself: the device does, on another path).
 */
export interface PathTransport extends ScsiExecutor {
  /** execute() without the promise (ManagedSession.submit): the data path issues through it. */
  submit(req: ScsiCommandRequest, sink: TaskSink): void;
  readonly key: string;
  readonly gate: SessionGate;
  readonly status: SessionStatus;
  readonly events$: Observable<SessionStatus>;
  /** The live full-feature session, when there is one. */
  readonly session: ProbeTarget | undefined;
}

export interface AddPathOptions {
  /** Unique within the device; shown in the topology and events, e.g. '127.0.0.1:3260/iface0'. */
  name: string;
  /** The LUN of the LU behind this path (each path addresses the LU by its own LUN). */
  lun: number;
  /** Path priority: const 1 (default) or the ALUA value (identifyPath). */
  prio?: number;
  /** What identifyPath read; the checker compares the WWID after every relogin. */
  identity?: PathIdentity;
  /** 'host:channel:target:lun' for the topology. Default `${n}:0:0:${lun}` with n counting paths added. */
  hctl?: string;
  /** service-time's relative_throughput. Default 1. */
  relativeThroughput?: number;
}

export interface MultipathDeviceOptions {
  /** Alias, e.g. 'mpatha'. */
  name: string;
  wwid: string;
  config?: Partial<MultipathConfig>;
  /**
   * Every timer and timestamp of the device: the statechart's timers and `now`, the stall sweep, the
   * checker's and probes' timeouts, the I/O start times. Default systemClock; a SimulatedClock in tests.
   */
  clock?: Clock;
}

export type MultipathEvent =
  | { type: 'path.state'; device: string; path: string; from: PathState | 'none'; to: PathState; reason: PathReasonCode; detail?: string }
  | { type: 'path.removed'; device: string; path: string; reason: 'operator' | 'wwid-changed'; detail?: string }
  | { type: 'group.switched'; device: string; from: number; to: number; reason: SwitchReasonCode }
  | { type: 'gate'; device: string; from: MultipathGate; to: MultipathGate }
  /**
   * What the device does with I/O while no path is usable changed: `holding` for a recovering path (up to
   * fast_io_fail_tmo), then no_path_retry's `queueing` / `counting` / `failing`; `serving` when a path is back.
   * `paths` are the ones that may come back (holding); `why` says how a hold ended; `heldMs` how long it was.
   */
  | { type: 'nopath'; device: string; from: NoPathPhase; to: NoPathPhase; paths: string[]; why?: HoldEnd; heldMs?: number; detail?: string }
  /**
   * A path's session stopped trying for good, or its relogin can no longer hold I/O: identity changed,
   * replacement_timeout expired, login refused (authentication, target gone), reopen_max reached. `code` is
   * the session's reason ('replacement-timeout' for an expired replacement_timeout), `detail` the facts.
   */
  | { type: 'path.gaveUp'; device: string; path: string; code: string; detail: string }
  /** An I/O left `from` (transport error, path sense, the path went down) and is sent again; `bytes` it moves. */
  | { type: 'io.reissued'; device: string; from: string; error: string; bytes?: number }
  /**
   * The first completion of an I/O re-issued away from `from` since its last failure, on `path`; `stalledMs`
   * since that I/O was first issued (what the client waited through the failover). Once per failure of
   * `from`, not per I/O.
   */
  | { type: 'io.recovered'; device: string; path: string; from: string; stalledMs: number; reissues: number }
  /** An I/O failed upward with a TransportError (no path; EIO for NBD). */
  | { type: 'io.failed'; device: string; error: string }
  /**
   * Fast detection: an I/O outstanding `stalledMs` made the device probe the path; `probeMs` later (the NOP-In's
   * round trip, or the probe timeout) this says how it went. So the stalled I/O was issued stalledMs + probeMs
   * before this event.
   */
  | { type: 'probe'; device: string; path: string; ok: boolean; stalledMs: number; probeMs: number; rttMs?: number; error?: string }
  | { type: 'checker'; device: string; path: string; ok: boolean; detail?: string };

export interface MultipathPathStatus {
  name: string;
  hctl: string;
  lun: number;
  prio: number;
  group: number;
  state: PathState;
  reason: PathReasonCode;
  detail?: string;
  since: number;
  session: { key: string; state: SessionStateName; gate: SessionGate };
  inFlight: number;
  inFlightBytes: number;
  /** p99 of the recent completions (ms), when there are any. */
  p99Ms?: number;
  stats: PathStats;
}

export interface PathStats {
  /** I/Os sent on this path (re-issues included). */
  issued: number;
  completed: number;
  /** I/Os that failed on this path and went elsewhere. */
  reissued: number;
  probes: number;
  /** Bytes of the I/Os completed on this path, read (Data-In asked for) and written (Data-Out). */
  bytesRead?: number;
  bytesWritten?: number;
}

/**
 * Called for every completed I/O when set (metrics); unset, the data path pays one check per I/O. Must not
 * throw and must be cheap: it runs on the completion path.
 */
export type IoObserver = (path: string, latencyMs: number, bytes: number, write: boolean) => void;

export interface MultipathStatus {
  name: string;
  wwid: string;
  identity?: PathIdentity;
  gate: MultipathGate;
  config: MultipathConfig;
  /** The selector as `multipath -ll` names it, e.g. 'service-time 0'. */
  policy: string;
  activeGroup: number;
  switchReason: SwitchReason;
  /** I/Os held while no path works. */
  held: number;
  groups: { index: number; prio: number; status: 'active' | 'enabled' | 'disabled'; paths: MultipathPathStatus[] }[];
}

interface Io extends InFlightLinks<Io> {
  readonly req: ScsiCommandRequest;
  readonly bytes: number;
  /** The caller's: execute()'s promise or submit()'s sink; told once. */
  readonly sink: TaskSink;
  /** Bumped at every issue; a result of an older attempt is stale and ignored (each I/O completes once). */
  attempt: number;
  /** Clock time of the current attempt: its latency, and the stall sweep's deadline, count from here. */
  startedAt: number;
  /** When the first attempt was issued (the stall a failover costs is measured from here). */
  firstStartedAt: number;
  reissues: number;
  /** The path this I/O last failed on: another is preferred. */
  avoid?: PathRuntime;
  done: boolean;
}

/**
 * One issue of an I/O on one path: the sink the path's session completes. A result that arrives after the
 * I/O went elsewhere (a later attempt) is stale and dropped by onResult/onError.
 */
class PathIssue implements TaskSink {
  constructor(
    readonly device: MultipathDevice,
    readonly path: PathRuntime,
    readonly io: Io,
    readonly attempt: number,
  ) {}

  done(result: ScsiResult): void {
    this.device.onResult(this.path, this.io, this.attempt, result);
  }

  fail(err: Error): void {
    this.device.onError(this.path, this.io, this.attempt, err);
  }
}

class PathRuntime implements SelectablePath {
  /** In issue order: the first is the oldest (the stall sweep looks at it only). Not a Set: src/session/in-flight.ts. */
  readonly ios = new InFlightList<Io>();
  inFlightBytes = 0;
  readonly latency = new LatencyWindow(256);
  /** Session in full-feature phase, as last seen on its events$. */
  up: boolean;
  /** What was last reported of the session while down (gate and reason), so that a change is reported once. */
  downAs = '';
  /** Relogged in since the WWID was last read: the checker reads it again before reinstating. */
  recheckIdentity = false;
  probing = false;
  /** No new probe before this (after a probe was answered). */
  probeAfter = 0;
  checking = false;
  lastCompletionAt = -Infinity;
  /** An I/O was re-issued away from this path and none of those has completed elsewhere yet (io.recovered). */
  awaitingRecovery = false;
  readonly stats: Required<PathStats> = { issued: 0, completed: 0, reissued: 0, probes: 0, bytesRead: 0, bytesWritten: 0 };
  sub: Subscription | undefined;

  constructor(
    readonly name: string,
    readonly transport: PathTransport,
    readonly lun: number,
    readonly hctl: string,
    readonly relativeThroughput: number,
    readonly identity: PathIdentity | undefined,
  ) {
    this.up = transport.status.state === 'loggedIn';
  }

  get inFlight(): number {
    return this.ios.size;
  }
}

const isPathError = (err: unknown): err is Error => err instanceof TransportError || err instanceof TaskAbortedError;

function senseClass(res: ScsiResult): SenseClass {
  try {
    return classifyStatus(res.status, res.sense && res.sense.length > 0 ? parseSense(res.sense) : undefined);
  } catch {
    return 'target-answer'; // unreadable sense: the caller gets it (executeScsi turns it into an error)
  }
}

const holdText = (tmo: number | 'off'): string =>
  tmo === 'off' ? 'fast_io_fail_tmo off: held while a path may come back' : `fast_io_fail_tmo ${+(tmo / 1000).toFixed(3)} s`;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A down session's state in words, for the path's detail (`-m mpath`, serve's lines, events). */
function describeDown(st: SessionStatus, code: string): string {
  const why = st.reason.detail ?? (st.reason.error instanceof Error ? st.reason.error.message : undefined);
  if (code === 'replacement-timeout')
    return `replacement_timeout expired while relogging in (after ${st.reason.code}${why ? `: ${why}` : ''}); held I/O failed over or failed`;
  const text = why ? `${st.reason.code}: ${why}` : st.reason.code;
  if (st.gate === 'holding') return `${text}; relogging in`;
  if (st.state === 'failed') return `${text}; session failed, no more relogins`;
  return text;
}

export class MultipathDevice implements ScsiExecutor {
  readonly name: string;
  readonly wwid: string;
  readonly actor: PathGroupActor;
  private cfg: MultipathConfig;
  private selector: PathSelector;
  private readonly paths = new Map<string, PathRuntime>();
  private held: Io[] = [];
  private readonly events = new Subject<MultipathEvent>();
  private readonly clock: Clock;
  /**
   * The stall sweep: armed by the first I/O issued while it is quiet, every stallSweepMs while any I/O is
   * outstanding, quiet when none is (an idle device wakes nobody). The data path's cost is one comparison.
   */
  private readonly stallSweep: Sweep;
  private closed = false;
  private probing = 0;
  private added = 0;
  /** Per-snapshot cache of what the data path reads. */
  private viewOf: PathGroupSnapshot | undefined;
  private viewGate: MultipathGate = 'queueing';
  private viewUsable: PathRuntime[] = [];
  private lastStatus: PathGroupStatus;
  private readonly actorSub: { unsubscribe(): void };
  private ioObserver: IoObserver | undefined;
  /** The last mpath.holdEnded, for the nopath event that follows it. */
  private holdEnded: { why: HoldEnd; heldMs: number } | undefined;

  constructor(opts: MultipathDeviceOptions) {
    this.name = opts.name;
    this.wwid = opts.wwid;
    this.cfg = mergeMultipathConfig(DEFAULT_MULTIPATH_CONFIG, opts.config);
    this.selector = createSelector(this.cfg.pathSelector, { rrMinIoRq: this.cfg.rrMinIoRq });
    const clock = opts.clock ?? systemClock;
    this.clock = clock;
    this.stallSweep = new Sweep(clock, (now) => this.sweep(now));
    this.actor = createActor(pathGroupMachine, {
      input: { name: opts.name, config: this.groupConfig(), now: () => clock.now() },
      clock,
    });
    this.actor.on('mpath.dispatchHeld', () => this.dispatchHeld());
    // After the snapshot (and its nopath event, which says why) is out: the reason comes before the failures.
    this.actor.on('mpath.failHeld', (e) =>
      queueMicrotask(() => {
        if (this.closed || this.gate === 'failed') this.failHeld(e.reason); // unless a path came back meanwhile
      }),
    );
    this.actor.on('mpath.holdEnded', (e) => (this.holdEnded = e));
    this.actor.on('mpath.check', (e) => {
      for (const id of e.paths) {
        const p = this.paths.get(id);
        if (p) void this.check(p);
      }
    });
    this.actor.start();
    this.lastStatus = pathGroupStatus(this.actor.getSnapshot());
    this.actorSub = this.actor.subscribe((snap) => this.observe(snap));
  }

  /** Path, group, gate, re-issue, probe and checker events, as they happen. */
  get events$(): Observable<MultipathEvent> {
    return this.events.asObservable();
  }

  get gate(): MultipathGate {
    return this.view().gate;
  }

  get config(): Readonly<MultipathConfig> {
    return this.cfg;
  }

  /** I/Os held while no path works. */
  get heldCount(): number {
    return this.held.length;
  }

  get pathNames(): string[] {
    return [...this.paths.keys()];
  }

  /** The session key of each path's transport (telemetry joins session and path facts by it). */
  pathSessionKey(name: string): string | undefined {
    return this.paths.get(name)?.transport.key;
  }

  /** Installs (or with undefined removes) the per-I/O completion callback; see IoObserver. */
  setIoObserver(observer: IoObserver | undefined): void {
    this.ioObserver = observer;
  }

  /** The identity of the first path (vendor, product, size) for the topology. */
  get identity(): PathIdentity | undefined {
    for (const p of this.paths.values()) if (p.identity) return p.identity;
    return undefined;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Administration

  addPath(transport: PathTransport, opts: AddPathOptions): void {
    if (this.closed) throw new Error(`${this.name} is closed`);
    if (this.paths.has(opts.name)) throw new Error(`${this.name} already has a path named ${opts.name}`);
    const hctl = opts.hctl ?? `${++this.added}:0:0:${opts.lun}`;
    const p = new PathRuntime(opts.name, transport, opts.lun, hctl, opts.relativeThroughput ?? 1, opts.identity);
    this.paths.set(p.name, p);
    this.send({
      type: 'path.add',
      id: p.name,
      prio: opts.prio ?? opts.identity?.prio ?? 1,
      up: p.up,
      recovering: transport.gate === 'holding',
    });
    p.sub = transport.events$.subscribe((st) => this.onSessionStatus(p, st));
  }

  /** Takes a path out of the device (its in-flight I/Os complete or go elsewhere); the session is the caller's. */
  removePath(name: string, reason: 'operator' | 'wwid-changed' = 'operator', detail?: string): void {
    const p = this.paths.get(name);
    if (!p) return;
    p.sub?.unsubscribe();
    this.paths.delete(name);
    this.send({ type: 'path.remove', id: name });
    this.events.next({ type: 'path.removed', device: this.name, path: name, reason, detail });
    // I/Os on it finish there; if its session is gone they fail back to us and go elsewhere.
  }

  /** multipathd fail path: no I/O goes to it until reinstatePath. */
  failPath(name: string): void {
    this.send({ type: 'cmd.failPath', id: this.known(name) });
  }

  /** multipathd reinstate path: back in use once its session is up and TEST UNIT READY passes. */
  reinstatePath(name: string): void {
    this.send({ type: 'cmd.reinstatePath', id: this.known(name) });
  }

  /** multipathd switch group: I/O goes to group `index` (0-based, as `status().groups`) if it has a usable path. */
  switchGroup(index: number): boolean {
    this.send({ type: 'cmd.switchGroup', group: index });
    return this.actor.getSnapshot().context.activeGroup === index;
  }

  /** set_policy: any setting; the machine's apply to running timers, the selector is replaced. */
  configure(patch: Partial<MultipathConfig>): void {
    const next = mergeMultipathConfig(this.cfg, patch);
    if (next.pathSelector !== this.cfg.pathSelector || next.rrMinIoRq !== this.cfg.rrMinIoRq)
      this.selector = createSelector(next.pathSelector, { rrMinIoRq: next.rrMinIoRq });
    this.cfg = next;
    this.send({ type: 'cmd.configure', config: this.groupConfig() });
    // A new stallSweepMs or stall floor takes effect at the next wake-up (or the next I/O, if that is sooner).
  }

  /** Stops the machine and the timers; held I/O fails. The paths' sessions are the caller's to close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stallSweep.stop();
    for (const p of this.paths.values()) p.sub?.unsubscribe();
    this.actorSub.unsubscribe();
    this.actor.stop();
    this.failHeld(`${this.name} closed`);
    this.events.complete();
  }

  status(): MultipathStatus {
    const st = pathGroupStatus(this.actor.getSnapshot());
    const entries = new Map(st.paths.map((e) => [e.id, e]));
    const pathStatus = (id: string, group: number): MultipathPathStatus => {
      const p = this.paths.get(id)!;
      const e = entries.get(id)!;
      const s = p.transport.status;
      return {
        name: id,
        hctl: p.hctl,
        lun: p.lun,
        prio: e.prio,
        group,
        state: e.state,
        reason: e.reason,
        detail: e.detail,
        since: e.since,
        session: { key: p.transport.key, state: s.state, gate: s.gate },
        inFlight: p.inFlight,
        inFlightBytes: p.inFlightBytes,
        p99Ms: p.latency.quantile(0.99),
        stats: { ...p.stats },
      };
    };
    return {
      name: this.name,
      wwid: this.wwid,
      identity: this.identity,
      gate: st.gate,
      config: this.cfg,
      policy: this.selector.policy,
      activeGroup: st.activeGroup,
      switchReason: st.switchReason,
      held: this.held.length,
      groups: st.groups.map((g) => ({ ...g, paths: g.paths.filter((id) => this.paths.has(id)).map((id) => pathStatus(id, g.index)) })),
    };
  }

  // ---------------------------------------------------------------------------------------------------------
  // Data path

  /**
   * Runs one command on a usable path of the active group. `req.lun` is replaced by the path's LUN. A
   * transport failure re-issues it on another path at once; the target's own answers (CHECK CONDITION
   * that classifies as anything but 'transport') come back as they are, from the one path that ran it.
   * With no usable path it is held while a path may come back (fast_io_fail_tmo), then per no_path_retry,
   * then fails with TransportError.
   */
  execute(req: ScsiCommandRequest): Promise<ScsiResult> {
    return new Promise<ScsiResult>((resolve, reject) => this.submit(req, { done: resolve, fail: reject }));
  }

  /**
   * execute() without the promise (the per-I/O path of the NBD export): the outcome goes to `sink`, once;
   * from the PDU that completes the command, or at once when the device is closed or has no usable path.
   */
  submit(req: ScsiCommandRequest, sink: TaskSink): void {
    const bytes = (req.dataIn ?? 0) + (req.dataOut?.length ?? 0);
    this.dispatch({
      req,
      bytes,
      sink,
      attempt: 0,
      startedAt: 0,
      firstStartedAt: 0,
      reissues: 0,
      done: false,
      flightPrev: undefined,
      flightNext: undefined,
      flightList: undefined,
    });
  }

  private view(): { gate: MultipathGate; usable: PathRuntime[] } {
    const snap = this.actor.getSnapshot();
    if (snap !== this.viewOf) {
      this.viewOf = snap;
      this.viewGate = pathGroupGateOf(snap);
      this.viewUsable = usablePaths(snap).flatMap((id) => this.paths.get(id) ?? []);
    }
    return { gate: this.viewGate, usable: this.viewUsable };
  }

  private dispatch(io: Io): void {
    if (this.closed) return this.fail(io, new TransportError(`${this.name} is closed`));
    const { gate, usable } = this.view();
    if (gate === 'queueing') this.held.push(io);
    else if (gate === 'open' && usable.length > 0) {
      let candidates = usable;
      // Prefer a path this I/O has not just failed on, and one not under a stall probe.
      if (usable.length > 1 && (io.avoid !== undefined || this.probing > 0)) {
        const others = usable.filter((p) => p !== io.avoid && !p.probing);
        if (others.length > 0) candidates = others;
      }
      this.issue(this.selector.select(candidates, io.bytes)!, io);
    } else this.fail(io, new TransportError(`${this.name}: no usable path`));
  }

  private issue(p: PathRuntime, io: Io): void {
    const attempt = ++io.attempt;
    const now = this.clock.now();
    io.startedAt = now;
    if (attempt === 1) io.firstStartedAt = now;
    if (this.cfg.stallFloorMs > 0) this.stallSweep.arm(now + this.cfg.stallSweepMs);
    p.ios.push(io);
    p.inFlightBytes += io.bytes;
    p.stats.issued++;
    const req = io.req.lun === p.lun ? io.req : { ...io.req, lun: p.lun };
    p.transport.submit(req, new PathIssue(this, p, io, attempt));
  }

  private detach(p: PathRuntime, io: Io): void {
    if (p.ios.remove(io)) p.inFlightBytes -= io.bytes;
  }

  /** PathIssue.done: the path's session completed the command. */
  onResult(p: PathRuntime, io: Io, attempt: number, res: ScsiResult): void {
    if (io.done || io.attempt !== attempt) return; // already sent elsewhere: this path's answer is stale
    this.detach(p, io);
    const now = this.clock.now();
    p.lastCompletionAt = now;
    p.latency.record(now - io.startedAt);
    if (res.status !== ScsiStatus.GOOD && senseClass(res) === 'transport') {
      // This path cannot serve the LU (ALUA standby/unavailable, LU not behind this port...); another may.
      const why = `SCSI status 0x${res.status.toString(16)} classifies as a path failure`;
      this.send({ type: 'path.fail', id: p.name, reason: why });
      this.reissue(io, p, new TransportError(`${p.name}: ${why}`));
      return;
    }
    p.stats.completed++;
    const write = io.req.dataOut !== undefined;
    if (write) p.stats.bytesWritten += io.bytes;
    else p.stats.bytesRead += io.bytes;
    if (this.ioObserver !== undefined) this.ioObserver(p.name, now - io.startedAt, io.bytes, write);
    if (io.reissues > 0 && io.avoid?.awaitingRecovery) {
      io.avoid.awaitingRecovery = false;
      this.events.next({
        type: 'io.recovered',
        device: this.name,
        path: p.name,
        from: io.avoid.name,
        stalledMs: now - io.firstStartedAt,
        reissues: io.reissues,
      });
    }
    io.done = true;
    io.sink.done(res);
  }

  /** PathIssue.fail: the issue ended without a completion. */
  onError(p: PathRuntime, io: Io, attempt: number, err: unknown): void {
    if (io.done || io.attempt !== attempt) return;
    this.detach(p, io);
    if (!isPathError(err)) {
      io.done = true;
      io.sink.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    // The session still in full-feature phase failed the command (an iSCSI target-failure response, an abort
    // after a command timeout): fail the path; the checker reinstates it. A session that went down says so
    // on its events$ (path.down).
    if (p.transport.gate === 'open' && p.transport.session) this.send({ type: 'path.fail', id: p.name, reason: err.message });
    this.reissue(io, p, err);
  }

  private reissue(io: Io, from: PathRuntime, err: Error): void {
    // The failed attempt is over: a second report of it (the session failing the command after its path's
    // I/Os were re-issued for leaving full-feature phase) is stale, not another re-issue of an I/O already
    // held or issued elsewhere.
    io.attempt++;
    io.reissues++;
    io.avoid = from;
    from.stats.reissued++;
    if (io.reissues > this.cfg.maxReissues) {
      this.fail(
        io,
        new TransportError(`${this.name}: I/O failed on ${io.reissues} paths in a row; last on ${from.name}: ${err.message}`, {
          cause: err,
        }),
      );
      return;
    }
    from.awaitingRecovery = true;
    this.events.next({ type: 'io.reissued', device: this.name, from: from.name, error: err.message, bytes: io.bytes });
    this.dispatch(io);
  }

  private fail(io: Io, err: TransportError): void {
    if (io.done) return;
    io.done = true;
    this.events.next({ type: 'io.failed', device: this.name, error: err.message });
    io.sink.fail(err);
  }

  private dispatchHeld(): void {
    const held = this.held;
    this.held = [];
    for (const io of held) this.dispatch(io);
  }

  private failHeld(reason: string): void {
    const held = this.held;
    this.held = [];
    for (const io of held) this.fail(io, new TransportError(reason));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Path facts

  private onSessionStatus(p: PathRuntime, st: SessionStatus): void {
    const up = st.state === 'loggedIn';
    if (up) {
      if (p.up) return;
      p.up = true;
      p.downAs = '';
      p.recheckIdentity = true;
      this.send({ type: 'path.up', id: p.name });
      return;
    }
    // Down, or still down and doing something else: relogging in within replacement_timeout (the path may
    // come back: I/O is held for it), or given up (replacement_timeout expired, identity changed, refused).
    const recovering = st.gate === 'holding';
    const gaveUp = !recovering && (st.gate === 'failed' || st.state === 'failed');
    const code = st.state === 'recovering' && st.gate === 'failed' ? 'replacement-timeout' : st.reason.code;
    const detail = describeDown(st, code);
    const as = `${st.state}/${st.gate}/${code}/${detail}`;
    const wasUp = p.up;
    if (!wasUp && as === p.downAs) return;
    p.up = false;
    p.downAs = as;
    this.send({ type: 'path.down', id: p.name, reason: st.reason.code, recovering, detail });
    if (gaveUp) this.events.next({ type: 'path.gaveUp', device: this.name, path: p.name, code, detail });
    if (!wasUp) return;
    // Left full-feature phase: re-issue its I/Os now, without waiting for replacement_timeout. Only once
    // its connection is gone, so that no late Data-In can land in a buffer the I/O's new path fills.
    if (!p.transport.session)
      for (const io of p.ios.toArray()) {
        this.detach(p, io);
        this.reissue(io, p, new TransportError(`${p.name} left full-feature phase (${st.reason.code})`));
      }
  }

  /** TEST UNIT READY (after a WWID check when the session relogged in); answers the machine's mpath.check. */
  private async check(p: PathRuntime): Promise<void> {
    if (p.checking || this.closed) return;
    const entry = this.actor.getSnapshot().context.paths.find((e) => e.id === p.name);
    if (!entry) return;
    // An active path with I/O in flight or completing is not idle: its I/O is the check.
    if (entry.state === 'active' && (p.inFlight > 0 || this.clock.now() - p.lastCompletionAt < this.cfg.pollingIntervalMs)) return;
    p.checking = true;
    let result: { ok: true } | { ok: false; detail: string };
    try {
      if (p.transport.gate !== 'open' || !p.transport.session) throw new TransportError('session not in full-feature phase');
      if (p.recheckIdentity && p.identity) {
        const now = await this.checkerDeadline(readWwid(p.transport, p.lun), 'WWID check');
        if (this.paths.get(p.name) !== p) return;
        if (now.wwid !== p.identity.wwid) {
          this.removePath(p.name, 'wwid-changed', `WWID ${p.identity.wwid} -> ${now.wwid}`);
          return;
        }
        p.recheckIdentity = false;
      }
      await this.checkerDeadline(executeScsi(p.transport, p.lun, testUnitReady()), 'TEST UNIT READY');
      result = { ok: true };
    } catch (err) {
      result = { ok: false, detail: message(err) };
    } finally {
      p.checking = false;
    }
    if (this.closed || this.paths.get(p.name) !== p) return;
    this.events.next({ type: 'checker', device: this.name, path: p.name, ...result });
    this.send(result.ok ? { type: 'checker.ok', id: p.name } : { type: 'checker.fail', id: p.name, reason: result.detail });
  }

  private checkerDeadline<T>(p: Promise<T>, what: string): Promise<T> {
    const ms = this.cfg.checkerTimeoutMs;
    return withDeadline(this.clock, p, ms, () => new TransportError(`${what} timed out after ${ms} ms`));
  }

  /**
   * Fast detection (issue 4): a path whose oldest outstanding I/O is older than max(floor, factor x p99)
   * is probed with a NOP-Out at once; no answer within probeTimeoutMs drops its connection, which fails its
   * I/Os back to us for re-issue. A probe that comes back means busy but healthy: left alone. Returns when
   * to look again: in stallSweepMs while any I/O is outstanding, else never (the next issue arms it).
   */
  private sweep(now: number): number | undefined {
    const { stallFloorMs, stallFactor, stallSweepMs } = this.cfg;
    if (stallFloorMs <= 0 || this.closed) return undefined;
    let busy = false;
    for (const p of this.paths.values()) {
      if (p.ios.size === 0) continue;
      busy = true;
      if (p.probing || now < p.probeAfter) continue;
      const oldest = p.ios.oldest!;
      const limit = Math.max(stallFloorMs, stallFactor * (p.latency.quantile(0.99) ?? 0));
      const stalled = now - oldest.startedAt;
      if (stalled >= limit) this.probe(p, stalled, limit);
    }
    return busy ? now + stallSweepMs : undefined;
  }

  private probe(p: PathRuntime, stalledMs: number, limit: number): void {
    const s = p.transport.session;
    if (!s || s.closed) return;
    p.probing = true;
    p.stats.probes++;
    this.probing++;
    const timeout = this.cfg.probeTimeoutMs;
    const sentAt = this.clock.now();
    s.ping(timeout)
      .then(
        (rttMs) => {
          const now = this.clock.now();
          p.probeAfter = now + limit;
          this.events.next({ type: 'probe', device: this.name, path: p.name, ok: true, stalledMs, probeMs: now - sentAt, rttMs });
        },
        (err: unknown) => {
          const probeMs = this.clock.now() - sentAt;
          this.events.next({ type: 'probe', device: this.name, path: p.name, ok: false, stalledMs, probeMs, error: message(err) });
          if (!s.closed)
            s.close(
              new TransportError(
                `${p.name}: I/O outstanding ${Math.round(stalledMs)} ms and no NOP-In within ${timeout} ms (fast failure detection)`,
              ),
            );
        },
      )
      .finally(() => {
        p.probing = false;
        this.probing--;
      });
  }

  // ---------------------------------------------------------------------------------------------------------

  private groupConfig() {
    const { pathGroupingPolicy, failback, noPathRetry, pollingIntervalMs, fastIoFailTmoMs } = this.cfg;
    return { pathGroupingPolicy, failback, noPathRetry, pollingIntervalMs, fastIoFailTmoMs };
  }

  private known(name: string): string {
    if (!this.paths.has(name)) throw new Error(`${this.name} has no path ${name}`);
    return name;
  }

  private send(event: PathGroupEvent): void {
    if (!this.closed) this.actor.send(event);
  }

  /** Turns machine changes into events$ (path states, group switches, gate). */
  private observe(snap: PathGroupSnapshot): void {
    const next = pathGroupStatus(snap);
    const prev = this.lastStatus;
    this.lastStatus = next;
    const before = new Map(prev.paths.map((p) => [p.id, p]));
    for (const p of next.paths) {
      const old = before.get(p.id);
      if (old?.state !== p.state)
        this.events.next({
          type: 'path.state',
          device: this.name,
          path: p.id,
          from: old?.state ?? 'none',
          to: p.state,
          reason: p.reason,
          detail: p.detail,
        });
    }
    if (prev.activeGroup !== next.activeGroup)
      this.events.next({
        type: 'group.switched',
        device: this.name,
        from: prev.activeGroup,
        to: next.activeGroup,
        reason: next.switchReason.code,
      });
    if (prev.gate !== next.gate) this.events.next({ type: 'gate', device: this.name, from: prev.gate, to: next.gate });
    // (A device starts with no path, hence 'failing': its first path is not news.)
    if (prev.phase !== next.phase && prev.paths.length > 0) {
      const ended = next.phase !== 'holding' && prev.phase === 'holding' ? this.holdEnded : undefined;
      this.holdEnded = undefined;
      this.events.next({
        type: 'nopath',
        device: this.name,
        from: prev.phase,
        to: next.phase,
        paths: next.paths.filter(mayReturn).map((p) => p.id),
        ...(ended ? { why: ended.why, heldMs: ended.heldMs } : {}),
        ...(next.phase === 'holding' ? { detail: holdText(next.config.fastIoFailTmoMs) } : {}),
      });
    }
  }
}
