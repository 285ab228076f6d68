/**
 * A supervised iSCSI session: the session statechart (machines/session.machine.ts) owns login, NOP pings,
 * recovery and TMF escalation; this runtime provides its actors over real sockets and runs the data path,
 * which reads the machine's gate per command (open: send, holding: hold, failed/closed: fail) and reports
 * only lifecycle facts (command timeouts). RFC 7143 §6.3.5 reinstatement, §7 recovery at ERL 0.
 *
 * Over 500 lines because the actors the machine needs (login, ping, TMF, logout over one socket) and the
 * data path's gate and deadline list share the one session's lifetime; they are kept in one class for it.
 */
import { createActor, fromCallback, fromPromise } from 'xstate';
import { Subject, type Observable } from 'rxjs';
import {
  provideSessionActors,
  gateOf,
  sessionStatus,
  sessionEvents$,
  stateNameOf,
  IdentityChangedError,
  type SessionActor,
  type SessionStatus,
  type SessionGate,
  type LoginInput,
  type LoginOutput,
  type LogoutInput,
  type LogoutOutput,
  type TmfInput,
  type IdentityInput,
} from '../../machines/session.machine.js';
import type { ConnectionWatchEvent, WatchCommand, WatchInput } from '../../machines/connection.machine.js';
import type { SessionTimers } from '../../machines/timers.js';
import { AsyncEvent, LogoutResponseCode, TmfFunction, TmfResponse, RESERVED_TAG } from '../iscsi/constants.js';
import { CommandTimeoutError, DigestError, ProtocolError, TaskAbortedError, TransportError } from '../iscsi/errors.js';
import { describeCdb } from '../scsi/cdb.js';
import { parseDeviceIdentification, parseStandardInquiry, parseUnitSerialNumber, wwid } from '../scsi/inquiry.js';
import { inquiryData, listLuns, type ScsiExecutor } from './lun.js';
import { CheckConditionError } from '../scsi/errors.js';
import { openSession, type LoginProgressEvent, type OpenSessionOptions } from './open.js';
import { emptyStats, type ConnectionStats } from './connection.js';
import type { LoginResult } from '../iscsi/login.js';
import type { LoginPacer } from './login-pacer.js';
import { Sweep, systemClock, type Clock } from './clock.js';
import { InFlightList, type InFlightLinks } from './in-flight.js';
import { TickClock } from './tick-clock.js';
import { randomIsid } from './identity.js';
import type { Session, TaskHandle } from './session.js';
import type { TaskSink } from './task.js';
import type { ScsiCommandRequest, ScsiResult } from './types.js';

export interface ManagedSessionOptions extends Omit<OpenSessionOptions, 'isid' | 'tsih' | 'loginTimeoutMs' | 'signal' | 'logoutOnRequest'> {
  targetName: string;
  /** Timers in milliseconds (build them from a node record with timersFromNodeRecord). */
  timers?: Partial<SessionTimers>;
  /**
   * A command outstanding this long starts the ABORT TASK -> LU RESET -> TARGET WARM RESET escalation
   * (the SCSI command timeout; Linux's default is 30 s). 0 disables.
   */
  commandTimeoutMs?: number;
  /**
   * Times one command may be re-issued after an abort or a connection failure before it fails. Default 5
   * (sd's SD_MAX_RETRIES). A command that timed out also fails, with a CommandTimeoutError, once it has run
   * (maxRetries + 1) x commandTimeoutMs since its first issue (Linux's scsi_cmd_runtime_exceeded).
   */
  maxRetries?: number;
  /** LUNs whose identity (VPD 0x83 WWID, VPD 0x80 serial) is checked after every relogin; default: all reported. */
  luns?: number[];
  /** Name used in messages, traces and actor inputs. Default "target,host:port". */
  sessionKey?: string;
  /** Backoff jitter source, for tests. */
  random?: () => number;
  /** Shared login pacer: each login attempt's connect + login conversation takes one of its slots. */
  pacer?: LoginPacer;
  /**
   * Every timer and timestamp of the session: the statecharts' timers and `now`, the command deadlines, the
   * liveness throttle. Default: the shared TickClock (ticks of up to 100 ms over systemClock), so many
   * sessions' timers wake the process together; a timer fires at most 1/16 of its length (and one tick) late.
   * Tests give a SimulatedClock.
   */
  clock?: Clock;
  /**
   * A path of a multipath device: commands are never held or re-issued here; one that meets a connection
   * failure, an abort or a gate other than open fails at once, and the device re-issues it on another path
   * (DESIGN.md failover model). Default false.
   */
  failFast?: boolean;
}

/** One clock for every session by default (see TickClock). */
const sharedClock = new TickClock(100, systemClock.now);

/**
 * At most one conn.pduReceived per this long while PDUs flow (the first after a quiet spell or a NOP-Out goes
 * at once): the connection machine only needs to know the connection is alive to within a fraction of
 * noop_out_interval, and one XState event per PDU would cost more than the PDU.
 */
const LIFE_EVERY_MS = 100;

/**
 * One command through the gate, from execute() until its caller's promise settles (re-issues included). It is
 * the TaskSink of each issue too: Session calls done/fail on it directly, so an issue costs no promise and no
 * closures. A failure is handed on in a microtask, as a rejected promise was: Session fails every task of a
 * dropped connection before it reports the drop, and a re-issue must meet the gate that report moves.
 */
class Command implements TaskSink, InFlightLinks<Command> {
  retries = 0;
  readonly handle: TaskHandle;
  /** When the command timeout of its current issue expires (clock time); see ManagedSession.timing. */
  deadline = 0;
  /** Its links in the session's list of commands whose timeout runs (ManagedSession.timing). */
  flightPrev: Command | undefined = undefined;
  flightNext: Command | undefined = undefined;
  flightList: object | undefined = undefined;
  timedOut = false;
  /** Times the command timeout expired on it, over all its issues. */
  timeouts = 0;
  /** Clock time of its first issue. */
  firstSentAt: number | undefined = undefined;

  constructor(
    readonly owner: ManagedSession,
    readonly req: ScsiCommandRequest,
    /** The caller's: execute()'s promise, or submit()'s sink (the multipath device's issue record). */
    readonly sink: TaskSink,
  ) {
    this.handle = { itt: RESERVED_TAG, lun: req.lun };
  }

  /**
   * The outcome to the caller. It runs inside the PDU handler: a sink that throws is its owner's bug, and must
   * not look like a protocol error on this connection, so it is rethrown outside (uncaught, as from a `.then`).
   */
  resolve(result: ScsiResult): void {
    try {
      this.sink.done(result);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  reject(err: Error): void {
    try {
      this.sink.fail(err);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }

  done(result: ScsiResult): void {
    // A timed-out command tells the machine (task.done); that event goes out of the PDU handler, as before.
    if (this.timedOut) queueMicrotask(() => this.owner.completed(this, result));
    else this.owner.completed(this, result);
  }

  fail(err: Error): void {
    queueMicrotask(() => this.owner.failed(this, err));
  }
}

/**
 * One login attempt's progress, for telemetry and logs (never carries credentials): started (after a login
 * pacer slot was granted), the login conversation's progress (TCP connected, stage entered, redirected),
 * then succeeded (in full-feature phase, the LU identity read) or failed. `phase` and `attempt` as the
 * session machine's LoginInput: 'initial' login or 'reopen' (reinstatement after a failure), 1-based.
 */
export type SessionLoginEvent = { attempt: number; phase: 'initial' | 'reopen' } & (
  | { type: 'login.started'; host: string; port: number }
  | { type: 'login.progress'; progress: LoginProgressEvent }
  | { type: 'login.succeeded'; host: string; port: number; login: LoginResult }
  | { type: 'login.failed'; error: Error }
);

/** What we know an LU to be: VPD 0x83 WWID and VPD 0x80 unit serial. */
export type LuIdentity = Record<number, { wwid?: string; serial?: string }>;

/** Keyed by the actor system (an object; its type parameters do not matter here). */
const runtimes = new WeakMap<object, ManagedSession>();
const runtimeOf = (system: object): ManagedSession => runtimes.get(system)!;

export class ManagedSession {
  readonly actor: SessionActor;
  readonly key: string;
  readonly isid: number;
  private current: Session | undefined;
  private held: Command[] = [];
  private identity: LuIdentity | undefined;
  private readonly commandTimeoutMs: number;
  private readonly maxRetries: number;
  private readonly clock: Clock;
  /**
   * Commands whose command timeout runs, in issue order, as a list through the commands themselves. Every
   * issue gets the same timeout, so the first is the next to expire: one Sweep timer set to its deadline
   * serves them all, and issuing a command costs two pointer writes, not a timer (nor a Set entry: an
   * intrusive list neither hashes nor allocates on the 4 KiB path).
   */
  private readonly timing = new InFlightList<Command>();
  private readonly deadlines: Sweep;
  private readonly loginEvents = new Subject<SessionLoginEvent>();
  /** Counters of the connections this session had before the current one. */
  private readonly retired: ConnectionStats = emptyStats();

  /**
   * One machine for every session: provide() per session copied both statecharts (~95 KiB of heap per
   * session, bench/sessions.ts). The actors find their session through their actor system.
   */
  private static readonly machine = provideSessionActors({
    login: fromPromise<LoginOutput, LoginInput>(({ input, signal, system }) => runtimeOf(system).doLogin(input, signal)),
    logout: fromPromise<LogoutOutput, LogoutInput>(({ input, system }) => runtimeOf(system).doLogout(input)),
    tmf: fromPromise<unknown, TmfInput>(({ input, system }) => runtimeOf(system).doTmf(input)),
    checkIdentity: fromPromise<unknown, IdentityInput>(({ signal, system }) => runtimeOf(system).doCheckIdentity(signal)),
    connectionWatch: fromCallback<WatchCommand, WatchInput>(({ sendBack, receive, system }) => runtimeOf(system).watch(sendBack, receive)),
  });

  constructor(private readonly opts: ManagedSessionOptions) {
    this.key = opts.sessionKey ?? `${opts.targetName},${opts.host}:${opts.port}`;
    // One ISID for the life of the session: a relogin with it and TSIH 0 reinstates (§6.3.5).
    this.isid = randomIsid();
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 30_000;
    this.maxRetries = opts.maxRetries ?? 5;
    const clock = opts.clock ?? sharedClock;
    this.clock = clock;
    this.deadlines = new Sweep(clock, (now) => this.expire(now));
    this.actor = createActor(ManagedSession.machine, {
      input: { sessionKey: this.key, timers: opts.timers, random: opts.random, now: () => clock.now() },
      clock,
    });
    runtimes.set(this.actor.system, this);
    this.actor.on('session.failHeld', (e) => this.failHeld(e.reason));
    this.actor.on('session.reissueHeld', () => this.reissueHeld());
    this.actor.start();
  }

  get status(): SessionStatus {
    return sessionStatus(this.actor.getSnapshot());
  }

  /**
   * Read on every command. Snapshots are immutable and replaced on each transition, so the gate is computed once
   * per snapshot: xstate's matches() allocates a state path per call (~0.4 KB per 4 KiB I/O in a heap profile).
   */
  get gate(): SessionGate {
    const snap = this.actor.getSnapshot();
    if (snap !== this.gateSnapshot) {
      this.gateSnapshot = snap;
      this.gateValue = gateOf(snap);
    }
    return this.gateValue;
  }

  private gateSnapshot: unknown;
  private gateValue: SessionGate = 'closed';

  /** Every change of state or gate, with its reason. */
  get events$(): Observable<SessionStatus> {
    return sessionEvents$(this.actor);
  }

  /** The live full-feature session, when there is one. */
  get session(): Session | undefined {
    return this.current && !this.current.closed ? this.current : undefined;
  }

  /** Each login attempt's progress and outcome, as it happens (SessionLoginEvent). */
  get loginEvents$(): Observable<SessionLoginEvent> {
    return this.loginEvents.asObservable();
  }

  /** Where the session logs in: target, portal, source address (from the options; no credentials). */
  get target(): { targetName: string; host: string; port: number; localAddress?: string } {
    const { targetName, host, port, localAddress } = this.opts;
    return localAddress === undefined ? { targetName, host, port } : { targetName, host, port, localAddress };
  }

  /**
   * iscsiadm `--stats` counters summed over every connection this session has had (each relogin starts a
   * connection with zeroed counters), so they only grow.
   */
  get connectionStats(): ConnectionStats {
    const total = { ...this.retired };
    if (this.current) for (const k of Object.keys(total) as (keyof ConnectionStats)[]) total[k] += this.current.stats[k];
    return total;
  }

  /** Commands held while the session recovers. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Logs in; resolves in full-feature phase, rejects with the reason the session failed. */
  login(): Promise<void> {
    this.actor.send({ type: 'cmd.login' });
    return this.until(['loggedIn'], ['failed', 'loggedOut']);
  }

  /** Logs out from any state (also while reconnecting); held commands fail. */
  logout(): Promise<void> {
    this.actor.send({ type: 'cmd.logout' });
    return this.until(['loggedOut', 'idle'], []);
  }

  /** Applies timer changes at once, without a relogin (open-iscsi #393). */
  setTimers(timers: Partial<SessionTimers>): void {
    this.actor.send({ type: 'cmd.setTimers', timers });
  }

  /** Stops the actor; the connection, if any, is dropped. */
  stop(): void {
    this.deadlines.stop();
    this.actor.stop();
    this.current?.close(new TaskAbortedError('session stopped'));
    this.failHeld('operator-logout');
  }

  /** Runs a SCSI command through the gate; held commands complete after recovery or fail once. */
  execute(req: ScsiCommandRequest): Promise<ScsiResult> {
    return new Promise<ScsiResult>((resolve, reject) => this.dispatch(new Command(this, req, { done: resolve, fail: reject })));
  }

  /**
   * execute() without the promise: the outcome goes to `sink`, once: synchronously from the PDU that completes
   * the command, or (held, re-issued, failed) later; never before submit returns.
   */
  submit(req: ScsiCommandRequest, sink: TaskSink): void {
    this.dispatch(new Command(this, req, sink));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Data path

  private dispatch(cmd: Command): void {
    const gate = this.gate;
    const live = this.session;
    if (gate === 'open' && live) this.send(live, cmd);
    else if ((gate === 'open' || gate === 'holding') && !this.opts.failFast)
      this.held.push(cmd); // machine about to notice the failure
    else {
      const err = new TransportError(`session ${this.key} is ${this.status.state} (${this.status.reason.code}): command not sent`);
      queueMicrotask(() => cmd.reject(err));
    }
  }

  private send(session: Session, cmd: Command): void {
    cmd.timedOut = false;
    const now = this.clock.now();
    cmd.firstSentAt ??= now;
    if (this.commandTimeoutMs > 0) {
      cmd.deadline = now + this.commandTimeoutMs;
      this.timing.push(cmd);
      this.deadlines.arm(cmd.deadline);
    }
    session.submit(cmd.req, cmd, cmd.handle);
  }

  /** Command.done: the target completed the command (whatever its SCSI status). */
  completed(cmd: Command, res: ScsiResult): void {
    this.settle(cmd);
    cmd.resolve(res);
  }

  /** Command.fail: the issue ended without a completion. */
  failed(cmd: Command, err: Error): void {
    this.settle(cmd);
    // Connection failure, or the target let go of it after a TMF: the command did not complete,
    // so it is safe to issue again (ERL 0 reinstatement clears the old session's tasks).
    const again = (err instanceof TransportError || err instanceof TaskAbortedError) && !isLogout(err) && !this.opts.failFast;
    if (again && cmd.timeouts > 0 && (cmd.retries >= this.maxRetries || this.ranOutOfTime(cmd))) cmd.reject(this.gaveUp(cmd, err));
    else if (again && cmd.retries < this.maxRetries) {
      cmd.retries++;
      this.dispatch(cmd);
    } else cmd.reject(err);
  }

  /**
   * The command timeout of each command issued longest ago that has expired by `now`: the machine escalates
   * it (ABORT TASK -> LU RESET -> TARGET WARM RESET). Returns the next deadline, if any.
   */
  private expire(now: number): number | undefined {
    for (let cmd = this.timing.oldest; cmd !== undefined; cmd = this.timing.oldest) {
      if (cmd.deadline > now) return cmd.deadline;
      this.timing.remove(cmd);
      cmd.timedOut = true;
      cmd.timeouts++;
      this.actor.send({ type: 'task.timedOut', itt: cmd.handle.itt, lun: cmd.handle.lun });
    }
    return undefined;
  }

  private ranOutOfTime(cmd: Command): boolean {
    return cmd.firstSentAt !== undefined && this.clock.now() - cmd.firstSentAt >= (this.maxRetries + 1) * this.commandTimeoutMs;
  }

  /** The error of a command the target never completed: what it was, how often it timed out and was re-issued. */
  private gaveUp(cmd: Command, last: Error): CommandTimeoutError {
    const s = (ms: number) => `${+(ms / 1000).toFixed(3)} s`;
    const ran = cmd.firstSentAt === undefined ? 0 : this.clock.now() - cmd.firstSentAt;
    return new CommandTimeoutError(
      `${describeCdb(cmd.req.cdb)} on LUN ${cmd.req.lun} of ${this.key} never completed: ` +
        `it timed out ${cmd.timeouts} time${cmd.timeouts === 1 ? '' : 's'} (command timeout ${s(this.commandTimeoutMs)}) ` +
        `and was issued ${cmd.retries + 1} times in ${s(ran)}; giving up (retries ${this.maxRetries}, ` +
        `run-time limit ${s((this.maxRetries + 1) * this.commandTimeoutMs)}); last: ${last.message}`,
      { cause: last },
    );
  }

  private settle(cmd: Command): void {
    this.timing.remove(cmd);
    if (cmd.timedOut) this.actor.send({ type: 'task.done', itt: cmd.handle.itt });
  }

  private failHeld(reason: string): void {
    const held = this.held;
    this.held = [];
    for (const cmd of held) cmd.reject(new TransportError(`session ${this.key}: ${reason}; command failed after recovery gave up`));
  }

  private reissueHeld(): void {
    const held = this.held;
    this.held = [];
    for (const cmd of held) this.dispatch(cmd);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Actors

  private async doLogin(input: LoginInput, signal: AbortSignal): Promise<LoginOutput> {
    const { pacer, onProgress, ...opts } = this.opts;
    const tag = { attempt: input.attempt, phase: input.phase };
    const release = await pacer?.acquire(signal);
    this.loginEvents.next({ type: 'login.started', ...tag, host: opts.host, port: opts.port });
    try {
      const opened = await openSession({
        ...opts,
        isid: this.isid,
        tsih: 0,
        loginTimeoutMs: input.loginTimeoutMs,
        signal,
        clock: this.clock,
        logoutOnRequest: false,
        onProgress: (progress) => {
          onProgress?.(progress);
          this.loginEvents.next({ type: 'login.progress', ...tag, progress });
        },
      }).finally(() => release?.());
      const { session, login } = opened;
      if (signal.aborted) {
        session.close(new TaskAbortedError('login abandoned'));
        throw new TaskAbortedError('login abandoned');
      }
      if (this.current) for (const k of Object.keys(this.retired) as (keyof ConnectionStats)[]) this.retired[k] += this.current.stats[k];
      this.current = session;
      if (input.phase === 'initial' && !this.identity) {
        try {
          this.identity = await readIdentity(session, this.opts.luns);
        } catch (err) {
          session.close();
          throw err;
        }
      }
      this.loginEvents.next({ type: 'login.succeeded', ...tag, host: opened.host, port: opened.port, login });
      return { defaultTime2Wait: login.params.defaultTime2Wait, defaultTime2Retain: login.params.defaultTime2Retain };
    } catch (err) {
      this.loginEvents.next({ type: 'login.failed', ...tag, error: err instanceof Error ? err : new Error(String(err)) });
      throw err;
    }
  }

  private async doCheckIdentity(signal: AbortSignal): Promise<void> {
    const session = this.session;
    if (!session) throw new TransportError('no connection to check the LU identity on');
    if (!this.identity) return;
    const now = await readIdentity(session, Object.keys(this.identity).map(Number));
    if (signal.aborted) return;
    for (const [lun, before] of Object.entries(this.identity)) {
      const after = now[Number(lun)];
      if (!after || after.wwid !== before.wwid || after.serial !== before.serial) {
        session.close(new TaskAbortedError('LU identity changed'));
        throw new IdentityChangedError(
          `LUN ${lun} behind ${this.key} changed identity: WWID ${before.wwid} -> ${after?.wwid}, serial ${before.serial} -> ${after?.serial}`,
          { wwid: before.wwid ?? '', serial: before.serial ?? '' },
          { wwid: after?.wwid ?? '', serial: after?.serial ?? '' },
        );
      }
    }
  }

  private async doLogout(input: LogoutInput): Promise<LogoutOutput> {
    const session = this.session;
    if (!session) return {};
    // Logging out closes the session and terminates its tasks at the target (§11.14). For a logout the target
    // asked for (purpose 'recovery') they did not complete and are re-issued after the relogin: they fail
    // with a TransportError, which send() retries, not with the TaskAbortedError of an operator logout.
    const resp = await session.logout(
      input.timeoutMs,
      input.purpose === 'recovery' ? new TransportError(`session ${this.key} logged out at the target's request; relogging in`) : undefined,
    );
    // §11.15.3: after a successful logout at ErrorRecoveryLevel < 2 Time2Wait "is to be ignored" (and it is
    // invalid with response 1); with 2 or 3 it is the wait before a new implicit logout, which our relogin
    // (reinstatement, §6.3.5) is.
    if (!resp || resp.response === LogoutResponseCode.SUCCESS || resp.response === LogoutResponseCode.CID_NOT_FOUND) return {};
    return { time2Wait: resp.time2Wait, time2Retain: resp.time2Retain };
  }

  private async doTmf(input: TmfInput): Promise<void> {
    const session = this.session;
    if (!session) throw new TransportError('no connection for task management');
    const aborted = new TaskAbortedError(`aborted by ${input.fn} after a command timeout`);
    let response: number;
    switch (input.fn) {
      case 'abortTask':
        response = await session.taskManagement(TmfFunction.ABORT_TASK, input.lun, input.itt, 3_600_000);
        break;
      case 'luReset':
        response = await session.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, input.lun, RESERVED_TAG, 3_600_000);
        break;
      case 'targetWarmReset':
        response = await session.taskManagement(TmfFunction.TARGET_WARM_RESET, 0, RESERVED_TAG, 3_600_000);
        break;
    }
    // §11.6.1: "function complete" and, for ABORT TASK, "task does not exist" both mean the target holds
    // nothing for the task(s) any more; anything else escalates.
    const done = response === TmfResponse.FUNCTION_COMPLETE || (input.fn === 'abortTask' && response === TmfResponse.TASK_DOES_NOT_EXIST);
    if (!done) throw new Error(`${input.fn} answered with task management response ${response}`);
    if (input.fn === 'abortTask') session.abortTasks((t) => t.itt === input.itt, aborted);
    else if (input.fn === 'luReset') session.abortTasks((t) => t.lun === input.lun, aborted);
    else session.abortTasks(() => true, aborted);
  }

  private watch(sendBack: (e: ConnectionWatchEvent) => void, receive: (fn: (c: WatchCommand) => void) => void): () => void {
    const session = this.session;
    if (!session) {
      sendBack({ type: 'conn.failed', reason: 'closed' });
      return () => {};
    }
    // Liveness is the connection machine's lastRxAt alone: the session calls the hook for a PDU while it is
    // set, and the hook takes itself off for LIFE_EVERY_MS after telling the machine (no timestamp per PDU).
    let rearm: unknown;
    const life = (): void => {
      session.onLife(undefined);
      sendBack({ type: 'conn.pduReceived' });
      rearm = this.clock.setTimeout(() => {
        rearm = undefined;
        session.onLife(life);
      }, LIFE_EVERY_MS);
    };
    const listen = (): void => {
      if (rearm !== undefined) this.clock.clearTimeout(rearm);
      rearm = undefined;
      session.onLife(life);
    };
    listen();
    const off = session.on((e) => {
      if (e.type === 'closed') sendBack({ type: 'conn.failed', reason: classifyFailure(e.error), error: e.error });
      else if (e.type === 'async') {
        const m = e.message;
        if (m.asyncEvent === AsyncEvent.LOGOUT_REQUEST) sendBack({ type: 'conn.asyncLogout', within: m.parameter3 });
        else if (m.asyncEvent === AsyncEvent.CONNECTION_DROP || m.asyncEvent === AsyncEvent.SESSION_DROP)
          sendBack({ type: 'conn.asyncDrop', time2Wait: m.parameter2, time2Retain: m.parameter3 });
        else if (m.asyncEvent === AsyncEvent.PARAMETER_NEGOTIATION) sendBack({ type: 'conn.renegotiate' });
      }
    });
    receive((cmd) => {
      if (cmd.type === 'watch.sendNop') {
        listen(); // the NOP-In that answers it must reach the machine at once
        session.sendNop();
      } else if (cmd.type === 'watch.drop') session.close(new TransportError(`connection dropped: ${cmd.reason}`));
    });
    if (session.closed) sendBack({ type: 'conn.failed', reason: 'closed' });
    return () => {
      off();
      if (rearm !== undefined) this.clock.clearTimeout(rearm);
      session.onLife(undefined);
    };
  }

  private until(good: string[], bad: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const snap = this.actor.getSnapshot();
        const name = stateNameOf(snap);
        if (good.includes(name)) {
          resolve();
          return true;
        }
        if (bad.includes(name) || snap.status !== 'active') {
          const reason = snap.context.reason;
          reject(
            reason.error instanceof Error
              ? reason.error
              : new TransportError(`session ${this.key}: ${reason.code}${reason.detail ? `: ${reason.detail}` : ''}`),
          );
          return true;
        }
        return false;
      };
      if (check()) return;
      const sub = this.actor.subscribe({
        next: () => {
          if (check()) sub.unsubscribe();
        },
        complete: () => check(),
      });
    });
  }
}

function isLogout(err: Error): boolean {
  return err instanceof TaskAbortedError && /logged out|stopped/.test(err.message);
}

/** Maps why a connection ended to the connection machine's failure reasons. */
function classifyFailure(error: Error): 'reset' | 'closed' | 'protocol' | 'digest' {
  if (error instanceof DigestError) return 'digest';
  if (error instanceof ProtocolError) return 'protocol';
  const code = (error.cause as { code?: string } | undefined)?.code;
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  return 'closed';
}

/**
 * Reads VPD 0x83 (WWID) and 0x80 (unit serial) of the given LUNs (default: every LUN the target reports).
 * A page the LU does not support (ILLEGAL REQUEST, INVALID FIELD IN CDB) leaves that field out; any other
 * failure (the LU is not there yet, a transport error) throws, so a relogin to a target that is still coming
 * up counts as a failed attempt and is retried, never mistaken for a changed identity.
 */
export async function readIdentity(session: ScsiExecutor, luns?: number[]): Promise<LuIdentity> {
  const out: LuIdentity = {};
  for (const lun of luns ?? (await listLuns(session))) {
    // SPC-4 §6.6.2: peripheral qualifier 0 means the LU is there; a target still being configured answers
    // INQUIRY for a LUN it does not have yet with qualifier 3 (tgtd does), not with an error.
    const std = parseStandardInquiry(await inquiryData(session, lun));
    if (std.peripheralQualifier !== 0) throw new Error(`LUN ${lun} is not available (peripheral qualifier ${std.peripheralQualifier})`);
    const id: { wwid?: string; serial?: string } = {};
    const page = async (code: number): Promise<Buffer | undefined> => {
      try {
        return await inquiryData(session, lun, code);
      } catch (err) {
        if (err instanceof CheckConditionError && err.sense.asc === 0x24) return undefined;
        throw err;
      }
    };
    const vpd83 = await page(0x83);
    if (vpd83) id.wwid = wwid(parseDeviceIdentification(vpd83).designators);
    const vpd80 = await page(0x80);
    if (vpd80) id.serial = parseUnitSerialNumber(vpd80).serialNumber;
    out[lun] = id;
  }
  return out;
}
