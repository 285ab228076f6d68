/**
 * Lifecycle of one iSCSI session at ErrorRecoveryLevel 0 with one connection: login with retries (RFC 7143
 * §6.3), the command-timeout escalation through task management (§11.5; open-iscsi err_timeo.*), session
 * recovery by reinstatement (§6.3.5, §7.1.4, §7.3) with replacement_timeout, Time2Wait (§11.9, §11.15) and
 * reopen_max, the identity check after each relogin, and Logout (§11.14) from any state. All I/O is done by
 * actors the runtime provides; see machines/README.md for every state, event and timer.
 *
 * Over 500 lines because the session's states, guards and the setup's typed actions must sit in one
 * `setup().createMachine()` call for XState to type them; the TMF escalation, recovery and logout regions
 * read top to bottom as machines/README.md lists them.
 */
import { Observable } from 'rxjs';
import {
  assign,
  emit,
  enqueueActions,
  fromPromise,
  sendTo,
  setup,
  stateIn,
  type ActorRefFrom,
  type CallbackActorLogic,
  type PromiseActorLogic,
  type SnapshotFrom,
} from 'xstate';
import {
  connectionMachine,
  type ConnectionDownReason,
  type ConnectionOutput,
  type DropReason,
  type WatchCommand,
  type WatchInput,
} from './connection.machine.js';
import { IdentityChangedError } from './errors.js';
import { DEFAULT_SESSION_TIMERS, loginBackoffMs, mergeTimers, remainingMs, validateTimers, type SessionTimers } from './timers.js';

// ---------------------------------------------------------------------------------------------------------
// Contract with the runtime

/** Input of the `login` actor: one attempt (TCP connect + login phases, §6.3) up to full-feature phase. */
export interface LoginInput {
  sessionKey: string;
  /** 'initial': a new session (TSIH 0, new or configured ISID). 'reopen': reinstatement, §6.3.5: same ISID, TSIH 0. */
  phase: 'initial' | 'reopen';
  /** 1-based attempt number within this login or reopen loop. */
  attempt: number;
  loginTimeoutMs: number;
  authTimeoutMs: number;
}

/** What a successful login reports. Seconds, as negotiated (§13.15, §13.16). */
export interface LoginOutput {
  defaultTime2Wait?: number;
  defaultTime2Retain?: number;
}

export interface LogoutInput {
  sessionKey: string;
  /** 'close-session': cmd.logout (§11.14 reason 0). 'recovery': the target asked (AsyncEvent 1); a relogin follows. */
  purpose: 'close-session' | 'recovery';
  /** The machine stops the actor after this long; the actor may use it for its own deadline. */
  timeoutMs: number;
}

/** From the Logout Response (§11.15.2-3), seconds. */
export interface LogoutOutput {
  time2Wait?: number;
  time2Retain?: number;
}

/** A task management request (§11.5.1). One is outstanding per session at a time. */
export type TmfRequest = { fn: 'abortTask'; itt: number; lun: number } | { fn: 'luReset'; lun: number } | { fn: 'targetWarmReset' };

export type TmfInput = TmfRequest & { sessionKey: string };

export interface IdentityInput {
  sessionKey: string;
}

// IdentityChangedError lives in ./errors.ts (no XState there, for the exit-code mapping); exported from here too.
export { IdentityChangedError };

/**
 * Actors the runtime implements. Every actor gets an AbortSignal: when the machine stops it (deadline,
 * logout, state left), it must give up and close any connection it opened, even one that already logged in.
 * - login: resolves in full-feature phase; rejects with an error whose `final === true` (LoginError status
 *   class 2, authentication) to stop retrying at once. A rejection leaves no connection open.
 * - logout: Logout exchange on the current connection; always leaves it closed; resolves at once without one.
 * - tmf: resolves on "function complete" or "task does not exist" (§11.6.1), rejects on any other response.
 * - checkIdentity: reads VPD 0x83/0x80 on the new connection and compares; rejects with IdentityChangedError
 *   (closing the connection) or any other error (relogin attempt failed).
 * - connectionWatch: subscribes to the current connection (stop = unsubscribe, never close); sends back
 *   ConnectionWatchEvent; handles WatchCommand in `receive`.
 */
export interface SessionActorImpls {
  login: PromiseActorLogic<LoginOutput, LoginInput>;
  logout: PromiseActorLogic<LogoutOutput, LogoutInput>;
  tmf: PromiseActorLogic<unknown, TmfInput>;
  checkIdentity: PromiseActorLogic<unknown, IdentityInput>;
  connectionWatch: CallbackActorLogic<WatchCommand, WatchInput>;
}

export interface SessionInput {
  /** Passed to every actor so one set of provided actors can serve every session. */
  sessionKey: string;
  /** Validated; build them with timersFromNodeRecord. */
  timers?: Partial<SessionTimers>;
  /** [0, 1) for backoff jitter. Default Math.random. */
  random?: () => number;
  /** Milliseconds clock; give the SimulatedClock's now in tests. Default Date.now. */
  now?: () => number;
}

/** Why the session is where it is. */
export type ReasonCode =
  | 'created'
  | 'operator-login'
  | 'operator-reset'
  | 'operator-logout'
  | 'logged-in'
  | 'relogged-in'
  | ConnectionDownReason
  | 'async-logout'
  | 'auth-failed'
  | 'login-rejected'
  | 'login-retries-exhausted'
  | 'reopen-exhausted'
  | 'identity-changed'
  | 'logout-failed';

export interface SessionReason {
  code: ReasonCode;
  detail?: string;
  error?: unknown;
  /** When it happened (the session's `now`). */
  at: number;
}

export type SessionEvent =
  | { type: 'cmd.login' }
  | { type: 'cmd.logout' }
  | { type: 'cmd.reset' }
  | { type: 'cmd.setTimers'; timers: Partial<SessionTimers> }
  /** The runtime's command timer for task `itt` expired (it decides when; open-iscsi uses the SCSI timeout). */
  | { type: 'task.timedOut'; itt: number; lun: number }
  /** Task `itt` completed after all; no TMF needed for it any more. */
  | { type: 'task.done'; itt: number }
  /** Forwarded by the connection machine (Async Messages, §11.9.1). Seconds. */
  | { type: 'conn.asyncLogout'; within?: number; time2Wait?: number }
  | { type: 'conn.asyncDrop'; time2Wait: number; time2Retain: number }
  | { type: 'conn.renegotiate' }
  /** Internal: raised after cmd.setTimers so every running timer recomputes itself. */
  | { type: 'timers.changed' };

/** What the machine emits; the runtime listens with actor.on(type, handler). */
export type SessionEmitted =
  /** Fail every held command (TransportError) and every command the runtime still has; idempotent. */
  | { type: 'session.failHeld'; reason: ReasonCode }
  /** Re-issue the held commands on the new connection (full-feature phase again). */
  | { type: 'session.reissueHeld' }
  /** cmd.setTimers was refused; nothing changed. */
  | { type: 'session.timersRejected'; error: string };

export interface TimedOutTask {
  itt: number;
  lun: number;
}

export interface SessionContext {
  sessionKey: string;
  timers: SessionTimers;
  random: () => number;
  now: () => number;
  reason: SessionReason;
  /** When the session entered its current state or gate. */
  since: number;
  /** Attempt number in the current login or reopen loop. */
  attempt: number;
  /** The last failed attempt's error. */
  lastError: unknown;
  /** Start of the running login/logout/identity step, for its deadline. */
  stepStartedAt: number;
  /** Backoff chosen (with jitter) for the current wait between attempts. */
  backoffMs: number;
  /** When the connection failed (replacement_timeout counts from here). */
  recoveryStartedAt: number;
  /** Time2Wait an async message or Logout Response gave; used once. */
  time2WaitOverrideMs: number | null;
  /** DefaultTime2Wait the last login negotiated. */
  negotiatedTime2WaitMs: number | null;
  /** Time2Retain the target last announced (informational at ERL 0: reinstatement clears the old session). */
  time2RetainMs: number | null;
  /** Parameter3 of an async logout request: log out within this. */
  logoutWithinMs: number | null;
  tmfQueue: TimedOutTask[];
  tmfTask: TimedOutTask | null;
  tmfFn: TmfRequest['fn'] | null;
  tmfStartedAt: number;
}

const notProvided = (name: string) => new Error(`machines: actor '${name}' not provided (use provideSessionActors)`);

function errorText(error: unknown): string | undefined {
  if (error === undefined || error === null) return undefined;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A login error the runtime marked final (LoginError.final: status class 2 or authentication). */
export function isFinalLoginError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { final?: unknown }).final === true;
}

function isAuthError(error: unknown): boolean {
  const kind = typeof error === 'object' && error !== null ? (error as { kind?: unknown }).kind : undefined;
  return kind === 'authentication' || kind === 'authorization';
}

export function isIdentityChanged(error: unknown): boolean {
  return (
    error instanceof IdentityChangedError ||
    (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'IdentityChangedError')
  );
}

function dropDetail(reason: DropReason, c: SessionContext): string {
  switch (reason) {
    case 'tmf-timeout':
      return `${c.tmfFn ?? 'TMF'} got no response within ${tmfTimeoutMs(c)} ms`;
    case 'command-timeout':
      return `task 0x${(c.tmfTask?.itt ?? 0).toString(16)} not cleared by ABORT TASK, LU RESET or TARGET WARM RESET`;
    case 'async-drop':
      return `target drops the connection; relogin after ${effectiveTime2WaitMs(c)} ms`;
    case 'renegotiate':
      return 'target requested parameter negotiation';
  }
}

function effectiveTime2WaitMs(c: SessionContext): number {
  return c.time2WaitOverrideMs ?? c.negotiatedTime2WaitMs ?? c.timers.defaultTime2WaitMs;
}

/**
 * The Time2Wait the session waits (or will wait) before its next relogin: the `time2Wait` delay's choice
 * (an async message's or Logout Response's, else the negotiated DefaultTime2Wait, else the timer's), for
 * whoever reports it (telemetry), so that nobody restates the rule.
 */
export function time2WaitMsOf(snapshot: SessionSnapshot): number {
  return effectiveTime2WaitMs(snapshot.context);
}

function tmfTimeoutMs(c: SessionContext): number {
  switch (c.tmfFn) {
    case 'luReset':
      return c.timers.luResetTimeoutMs;
    case 'targetWarmReset':
      return c.timers.tgtResetTimeoutMs;
    default:
      return c.timers.abortTimeoutMs;
  }
}

function logoutTimeoutMs(c: SessionContext): number {
  return c.logoutWithinMs === null ? c.timers.logoutTimeoutMs : Math.min(c.timers.logoutTimeoutMs, c.logoutWithinMs);
}

const secondsToMs = (s: number | undefined): number | null =>
  s === undefined || !Number.isFinite(s) || s < 0 ? null : Math.round(s * 1000);

// ---------------------------------------------------------------------------------------------------------
// The machine

const sessionSetup = setup({
  types: {
    context: {} as SessionContext,
    events: {} as SessionEvent,
    input: {} as SessionInput,
    emitted: {} as SessionEmitted,
  },
  actors: {
    login: fromPromise<LoginOutput, LoginInput>(async () => {
      throw notProvided('login');
    }),
    logout: fromPromise<LogoutOutput, LogoutInput>(async () => {
      throw notProvided('logout');
    }),
    tmf: fromPromise<unknown, TmfInput>(async () => {
      throw notProvided('tmf');
    }),
    checkIdentity: fromPromise<unknown, IdentityInput>(async () => {
      throw notProvided('checkIdentity');
    }),
    /** The connection child; its connectionWatch comes from provideSessionActors. */
    connection: connectionMachine,
  },
  actions: {
    failHeldCommands: emit(({ context }) => ({ type: 'session.failHeld' as const, reason: context.reason.code })),
    reissueHeld: emit({ type: 'session.reissueHeld' as const }),
    markSince: assign({ since: ({ context }) => context.now() }),
    startStep: assign({ stepStartedAt: ({ context }) => context.now() }),
    /** Records why the session moves; the detail defaults to the message of the event's error. */
    setReason: assign(({ context, event }, params: { code: ReasonCode; detail?: string }) => {
      const error = (event as { error?: unknown }).error;
      return { reason: { code: params.code, detail: params.detail ?? errorText(error), error, at: context.now() } };
    }),
    /** A final login rejection: authentication/authorization failure or another status class 2. */
    setLoginRejected: assign(({ context, event }) => {
      const error = (event as { error?: unknown }).error;
      const code: ReasonCode = isAuthError(error) ? 'auth-failed' : 'login-rejected';
      return { reason: { code, detail: errorText(error), error, at: context.now() } };
    }),
    /** Attempts exhausted: the reason carries the count and the last error. */
    setGaveUp: assign(({ context }, params: { code: 'login-retries-exhausted' | 'reopen-exhausted' }) => ({
      reason: {
        code: params.code,
        detail: `${context.attempt} attempts failed; last: ${errorText(context.lastError) ?? 'unknown'}`,
        error: context.lastError,
        at: context.now(),
      },
    })),
    rememberError: assign({ lastError: ({ event }) => (event as { error?: unknown }).error }),
    rememberTimeout: assign({
      lastError: ({ context }, params: { what: 'login' | 'identity check' }) =>
        new Error(`${params.what} timed out after ${context.timers.loginTimeoutMs} ms`),
    }),
    chooseBackoff: assign({
      backoffMs: ({ context }) => loginBackoffMs(context.attempt, context.timers, context.random),
    }),
    /** Asks the connection child to give the connection up; its end moves the session to recovering. */
    dropConnection: sendTo('conn', ({ context }, params: { reason: DropReason }) => ({
      type: 'conn.drop' as const,
      reason: params.reason,
      detail: dropDetail(params.reason, context),
    })),
    enqueueTimedOut: assign({
      tmfQueue: ({ context, event }) =>
        event.type === 'task.timedOut' && context.tmfTask?.itt !== event.itt && !context.tmfQueue.some((t) => t.itt === event.itt)
          ? [...context.tmfQueue, { itt: event.itt, lun: event.lun }]
          : context.tmfQueue,
    }),
    clearTmf: assign({ tmfTask: null, tmfFn: null }),
  },
  delays: {
    /** login_timeout from the start of the attempt (the login actor also enforces it). */
    loginDeadline: ({ context }) => remainingMs(context.stepStartedAt, context.timers.loginTimeoutMs, context.now()),
    /** The identity check belongs to the relogin: bounded by login_timeout too. */
    identityDeadline: ({ context }) => remainingMs(context.stepStartedAt, context.timers.loginTimeoutMs, context.now()),
    /** logout_timeout, or sooner when the target asked for a logout within Parameter3 seconds. */
    logoutDeadline: ({ context }) => remainingMs(context.stepStartedAt, logoutTimeoutMs(context), context.now()),
    backoff: ({ context }) => context.backoffMs,
    time2Wait: ({ context }) => effectiveTime2WaitMs(context),
    /** replacement_timeout from the connection failure (recomputed from then when changed). */
    replacementTimeout: ({ context }) => remainingMs(context.recoveryStartedAt, context.timers.replacementTimeoutMs, context.now()),
    /** abort_timeout, lu_reset_timeout or tgt_reset_timeout, by the TMF running. */
    tmfDeadline: ({ context }) => remainingMs(context.tmfStartedAt, tmfTimeoutMs(context), context.now()),
  },
  guards: {
    finalLoginError: ({ event }) => isFinalLoginError((event as { error?: unknown }).error),
    /**
     * In the reopen loop only an authentication/authorization failure is final: a target that is restarting
     * may answer "not found" or "service unavailable" for a while, and reopen_max bounds the retries.
     */
    authLoginError: ({ event }) => isAuthError((event as { error?: unknown }).error),
    identityChanged: ({ event }) => isIdentityChanged((event as { error?: unknown }).error),
    initialRetriesExhausted: ({ context }) => context.attempt >= Math.max(1, context.timers.initialLoginRetryMax),
    reopenExhausted: ({ context }) => context.timers.reopenMax > 0 && context.attempt >= context.timers.reopenMax,
    noTime2Wait: ({ context }) => effectiveTime2WaitMs(context) <= 0,
    asyncLogoutPending: ({ context }) => context.reason.code === 'async-logout',
    replacementForever: ({ context }) => context.timers.replacementTimeoutMs < 0,
    replacementExpired: ({ context }) =>
      context.timers.replacementTimeoutMs >= 0 && context.now() - context.recoveryStartedAt >= context.timers.replacementTimeoutMs,
    tmfQueued: ({ context }) => context.tmfQueue.length > 0,
  },
});

export const sessionMachine = sessionSetup.createMachine({
  id: 'session',
  context: ({ input }) => {
    const now = input.now ?? Date.now;
    const t = now();
    return {
      sessionKey: input.sessionKey,
      timers: validateTimers({ ...DEFAULT_SESSION_TIMERS, ...input.timers }),
      random: input.random ?? Math.random,
      now,
      reason: { code: 'created', at: t },
      since: t,
      attempt: 0,
      lastError: undefined,
      stepStartedAt: t,
      backoffMs: 0,
      recoveryStartedAt: t,
      time2WaitOverrideMs: null,
      negotiatedTime2WaitMs: null,
      time2RetainMs: null,
      logoutWithinMs: null,
      tmfQueue: [],
      tmfTask: null,
      tmfFn: null,
      tmfStartedAt: t,
    };
  },
  initial: 'idle',
  on: {
    // A live patch is validated once: applied whole (and every running timer re-armed), or refused whole with
    // the reason, changing nothing.
    'cmd.setTimers': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        let timers: SessionTimers;
        try {
          timers = mergeTimers(context.timers, event.timers);
        } catch (e) {
          enqueue.emit({ type: 'session.timersRejected' as const, error: errorText(e) ?? 'invalid timers' });
          return;
        }
        enqueue.assign({ timers });
        enqueue.raise({ type: 'timers.changed' });
      }),
    },
    // Logout always works (open-iscsi #513, #228): states that have no connection go straight to loggedOut.
    'cmd.logout': { target: '.loggedOut', actions: { type: 'setReason', params: { code: 'operator-logout' } } },
  },
  states: {
    /** Created; no connection. Gate closed. */
    idle: {
      entry: 'markSince',
      on: {
        'cmd.login': { target: 'loggingIn', actions: { type: 'setReason', params: { code: 'operator-login' } } },
        'cmd.reset': { target: 'loggingIn', actions: { type: 'setReason', params: { code: 'operator-reset' } } },
        'cmd.logout': {},
      },
    },

    /** First login (§6.3): attempts bounded by login_timeout, backoff between them, initial_login_retry_max. */
    loggingIn: {
      entry: ['markSince', assign({ attempt: 0, lastError: undefined, negotiatedTime2WaitMs: null })],
      initial: 'attempt',
      states: {
        attempt: {
          entry: [assign({ attempt: ({ context }) => context.attempt + 1 }), 'startStep'],
          invoke: {
            src: 'login',
            input: ({ context }) => ({
              sessionKey: context.sessionKey,
              phase: 'initial' as const,
              attempt: context.attempt,
              loginTimeoutMs: context.timers.loginTimeoutMs,
              authTimeoutMs: context.timers.authTimeoutMs,
            }),
            onDone: {
              target: '#session.loggedIn',
              actions: [
                assign({ negotiatedTime2WaitMs: ({ event }) => secondsToMs(event.output?.defaultTime2Wait) }),
                { type: 'setReason', params: { code: 'logged-in' } },
              ],
            },
            onError: [
              { guard: 'finalLoginError', target: '#session.failed', actions: 'setLoginRejected' },
              { target: 'attemptFailed', actions: 'rememberError' },
            ],
          },
          initial: 'timing',
          states: {
            timing: {
              after: {
                loginDeadline: {
                  target: '#session.loggingIn.attemptFailed',
                  actions: { type: 'rememberTimeout', params: { what: 'login' } },
                },
              },
            },
          },
          on: { 'timers.changed': '.timing' },
        },
        attemptFailed: {
          always: [
            {
              guard: 'initialRetriesExhausted',
              target: '#session.failed',
              actions: { type: 'setGaveUp', params: { code: 'login-retries-exhausted' } },
            },
            { target: 'backoff', actions: 'chooseBackoff' },
          ],
        },
        backoff: { after: { backoff: 'attempt' } },
      },
    },

    /** Full-feature phase. Gate open. The connection child watches liveness; TMFs escalate command timeouts. */
    loggedIn: {
      type: 'parallel',
      entry: ['markSince', assign({ time2WaitOverrideMs: null, logoutWithinMs: null, tmfQueue: [] })],
      exit: [assign({ tmfQueue: [], tmfTask: null, tmfFn: null })],
      on: {
        'cmd.logout': { target: 'loggingOut', actions: { type: 'setReason', params: { code: 'operator-logout' } } },
        // §11.9.1 AsyncEvent 1: log out (within Parameter3), then relogin after the Logout Response's Time2Wait.
        'conn.asyncLogout': {
          target: 'recovering',
          actions: [
            assign({
              logoutWithinMs: ({ event }) => secondsToMs(event.within),
              time2WaitOverrideMs: ({ event }) => secondsToMs(event.time2Wait),
            }),
            { type: 'setReason', params: { code: 'async-logout', detail: 'target requested logout' } },
          ],
        },
        // §11.9.1 AsyncEvent 2/3: the target drops the connection; relogin no sooner than Time2Wait.
        'conn.asyncDrop': {
          actions: [
            assign({
              time2WaitOverrideMs: ({ event }) => secondsToMs(event.time2Wait),
              time2RetainMs: ({ event }) => secondsToMs(event.time2Retain),
            }),
            { type: 'dropConnection', params: { reason: 'async-drop' } },
          ],
        },
        // §11.9.1 AsyncEvent 4: at ERL 0 with one connection, a relogin renegotiates every parameter.
        'conn.renegotiate': {
          actions: { type: 'dropConnection', params: { reason: 'renegotiate' } },
        },
      },
      states: {
        /** Owns the connection child; its end (any reason) starts recovery. */
        link: {
          invoke: {
            id: 'conn',
            src: 'connection',
            input: ({ context }) => ({
              sessionKey: context.sessionKey,
              timers: {
                noopOutIntervalMs: context.timers.noopOutIntervalMs,
                noopOutTimeoutMs: context.timers.noopOutTimeoutMs,
              },
              now: context.now,
            }),
            onDone: {
              target: '#session.recovering',
              actions: assign({
                reason: ({ event }) => {
                  const out: ConnectionOutput = event.output;
                  return { code: out.reason, detail: out.detail, error: out.error, at: out.at };
                },
              }),
            },
          },
          on: {
            'timers.changed': {
              actions: sendTo('conn', ({ context }) => ({
                type: 'conn.setTimers' as const,
                timers: {
                  noopOutIntervalMs: context.timers.noopOutIntervalMs,
                  noopOutTimeoutMs: context.timers.noopOutTimeoutMs,
                },
              })),
            },
          },
        },
        /**
         * Command-timeout escalation (open-iscsi err_timeo.*, Linux SCSI EH): ABORT TASK -> LOGICAL UNIT
         * RESET -> TARGET WARM RESET -> drop the connection. A rejected TMF escalates; a TMF without a
         * response drops the connection. One TMF outstanding per session; later timeouts queue.
         */
        tmf: {
          on: {
            // Coalesced: a task already queued or being handled is not queued again.
            'task.timedOut': { actions: 'enqueueTimedOut' },
            'task.done': {
              actions: assign({ tmfQueue: ({ context, event }) => context.tmfQueue.filter((t) => t.itt !== event.itt) }),
            },
          },
          initial: 'ready',
          states: {
            ready: {
              always: {
                guard: 'tmfQueued',
                target: 'aborting',
                actions: assign({
                  tmfTask: ({ context }) => context.tmfQueue[0] ?? null,
                  tmfQueue: ({ context }) => context.tmfQueue.slice(1),
                }),
              },
            },
            aborting: {
              entry: assign({ tmfFn: 'abortTask', tmfStartedAt: ({ context }) => context.now() }),
              invoke: {
                src: 'tmf',
                input: ({ context }) => ({
                  sessionKey: context.sessionKey,
                  fn: 'abortTask' as const,
                  itt: context.tmfTask?.itt ?? 0,
                  lun: context.tmfTask?.lun ?? 0,
                }),
                onDone: { target: 'ready', actions: 'clearTmf' },
                onError: 'resettingLu',
              },
              initial: 'timing',
              states: {
                timing: {
                  after: {
                    tmfDeadline: {
                      target: '#session.loggedIn.tmf.dropping',
                      actions: { type: 'dropConnection', params: { reason: 'tmf-timeout' } },
                    },
                  },
                },
              },
              on: { 'timers.changed': '.timing' },
            },
            resettingLu: {
              entry: assign({ tmfFn: 'luReset', tmfStartedAt: ({ context }) => context.now() }),
              invoke: {
                src: 'tmf',
                input: ({ context }) => ({ sessionKey: context.sessionKey, fn: 'luReset' as const, lun: context.tmfTask?.lun ?? 0 }),
                onDone: {
                  target: 'ready',
                  // The reset cleared every task of that LU (§11.5.1): their aborts are moot.
                  actions: [
                    assign({ tmfQueue: ({ context }) => context.tmfQueue.filter((t) => t.lun !== context.tmfTask?.lun) }),
                    'clearTmf',
                  ],
                },
                onError: 'resettingTarget',
              },
              initial: 'timing',
              states: {
                timing: {
                  after: {
                    tmfDeadline: {
                      target: '#session.loggedIn.tmf.dropping',
                      actions: { type: 'dropConnection', params: { reason: 'tmf-timeout' } },
                    },
                  },
                },
              },
              on: { 'timers.changed': '.timing' },
            },
            resettingTarget: {
              entry: assign({ tmfFn: 'targetWarmReset', tmfStartedAt: ({ context }) => context.now() }),
              invoke: {
                src: 'tmf',
                input: ({ context }) => ({ sessionKey: context.sessionKey, fn: 'targetWarmReset' as const }),
                onDone: { target: 'ready', actions: [assign({ tmfQueue: [] }), 'clearTmf'] },
                onError: {
                  target: 'dropping',
                  actions: { type: 'dropConnection', params: { reason: 'command-timeout' } },
                },
              },
              initial: 'timing',
              states: {
                timing: {
                  after: {
                    tmfDeadline: {
                      target: '#session.loggedIn.tmf.dropping',
                      actions: { type: 'dropConnection', params: { reason: 'tmf-timeout' } },
                    },
                  },
                },
              },
              on: { 'timers.changed': '.timing' },
            },
            /** Waiting for the connection child to end; recovery follows. */
            dropping: {},
          },
        },
      },
    },

    /**
     * The connection failed (§7.1, §7.3): hold commands up to replacement_timeout while relogging in with
     * session reinstatement (§6.3.5). Gate holding, then failed at replacement_timeout while relogin goes on.
     */
    recovering: {
      type: 'parallel',
      entry: ['markSince', assign({ recoveryStartedAt: ({ context }) => context.now(), attempt: 0, lastError: undefined })],
      on: {
        // A live connection exists only while its identity is checked: log out on it; otherwise no Logout.
        'cmd.logout': [
          {
            guard: stateIn('#session.recovering.reopen.checkingIdentity'),
            target: 'loggingOut',
            actions: [{ type: 'setReason', params: { code: 'operator-logout' } }, 'failHeldCommands'],
          },
          { target: 'loggedOut', actions: { type: 'setReason', params: { code: 'operator-logout' } } },
        ],
      },
      states: {
        /** replacement_timeout (open-iscsi node.session.timeo.replacement_timeout; kernel recovery_tmo). */
        replacement: {
          initial: 'check',
          states: {
            check: {
              always: [
                { guard: 'replacementForever', target: 'forever' },
                { guard: 'replacementExpired', target: 'expired' },
                { target: 'holding' },
              ],
            },
            holding: {
              after: { replacementTimeout: 'expired' },
              on: { 'timers.changed': 'check' },
            },
            forever: { on: { 'timers.changed': 'check' } },
            /** Held commands failed upward with a transport error; relogin continues (as open-iscsi). */
            expired: { entry: ['markSince', 'failHeldCommands'] },
          },
        },
        /** The reopen loop (open-iscsi session_conn_reopen): Time2Wait, attempts, backoff, reopen_max. */
        reopen: {
          initial: 'start',
          states: {
            start: {
              always: [{ guard: 'asyncLogoutPending', target: 'loggingOut' }, { target: 'time2Wait' }],
            },
            /** Logout requested by the target (§11.9.1 AsyncEvent 1), within min(logout_timeout, Parameter3). */
            loggingOut: {
              entry: 'startStep',
              invoke: {
                src: 'logout',
                input: ({ context }) => ({
                  sessionKey: context.sessionKey,
                  purpose: 'recovery' as const,
                  timeoutMs: logoutTimeoutMs(context),
                }),
                onDone: {
                  target: 'time2Wait',
                  actions: assign({
                    time2WaitOverrideMs: ({ context, event }) => secondsToMs(event.output?.time2Wait) ?? context.time2WaitOverrideMs,
                  }),
                },
                onError: 'time2Wait',
              },
              initial: 'timing',
              states: { timing: { after: { logoutDeadline: '#session.recovering.reopen.time2Wait' } } },
              on: { 'timers.changed': '.timing' },
            },
            /** §11.15.2 / §13.15: no relogin before Time2Wait. */
            time2Wait: {
              always: { guard: 'noTime2Wait', target: 'attempt' },
              after: { time2Wait: 'attempt' },
            },
            attempt: {
              entry: [assign({ attempt: ({ context }) => context.attempt + 1 }), 'startStep'],
              invoke: {
                src: 'login',
                input: ({ context }) => ({
                  sessionKey: context.sessionKey,
                  phase: 'reopen' as const,
                  attempt: context.attempt,
                  loginTimeoutMs: context.timers.loginTimeoutMs,
                  authTimeoutMs: context.timers.authTimeoutMs,
                }),
                onDone: {
                  target: 'checkingIdentity',
                  actions: assign({
                    negotiatedTime2WaitMs: ({ context, event }) =>
                      secondsToMs(event.output?.defaultTime2Wait) ?? context.negotiatedTime2WaitMs,
                  }),
                },
                onError: [
                  { guard: 'authLoginError', target: '#session.failed', actions: 'setLoginRejected' },
                  { target: 'attemptFailed', actions: 'rememberError' },
                ],
              },
              initial: 'timing',
              states: {
                timing: {
                  after: {
                    loginDeadline: {
                      target: '#session.recovering.reopen.attemptFailed',
                      actions: { type: 'rememberTimeout', params: { what: 'login' } },
                    },
                  },
                },
              },
              on: { 'timers.changed': '.timing' },
            },
            /** The same LU must be behind the session (VPD 0x83, 0x80) before held commands go to it. */
            checkingIdentity: {
              entry: 'startStep',
              invoke: {
                src: 'checkIdentity',
                input: ({ context }) => ({ sessionKey: context.sessionKey }),
                onDone: { target: '#session.loggedIn', actions: [{ type: 'setReason', params: { code: 'relogged-in' } }, 'reissueHeld'] },
                onError: [
                  {
                    guard: 'identityChanged',
                    target: '#session.failed',
                    actions: { type: 'setReason', params: { code: 'identity-changed' } },
                  },
                  { target: 'attemptFailed', actions: 'rememberError' },
                ],
              },
              initial: 'timing',
              states: {
                timing: {
                  after: {
                    identityDeadline: {
                      target: '#session.recovering.reopen.attemptFailed',
                      actions: { type: 'rememberTimeout', params: { what: 'identity check' } },
                    },
                  },
                },
              },
              on: { 'timers.changed': '.timing' },
            },
            attemptFailed: {
              always: [
                {
                  guard: 'reopenExhausted',
                  target: '#session.failed',
                  actions: { type: 'setGaveUp', params: { code: 'reopen-exhausted' } },
                },
                { target: 'backoff', actions: 'chooseBackoff' },
              ],
            },
            backoff: { after: { backoff: 'attempt' } },
          },
        },
      },
    },

    /** Logout (§11.14, reason "close the session") bounded by logout_timeout; the gate is closed. */
    loggingOut: {
      entry: ['markSince', 'startStep', assign({ logoutWithinMs: null })],
      invoke: {
        src: 'logout',
        input: ({ context }) => ({
          sessionKey: context.sessionKey,
          purpose: 'close-session' as const,
          timeoutMs: context.timers.logoutTimeoutMs,
        }),
        onDone: 'loggedOut',
        // The runtime closed the connection anyway; the session is logged out either way.
        onError: { target: 'loggedOut', actions: { type: 'setReason', params: { code: 'logout-failed' } } },
      },
      initial: 'timing',
      states: {
        timing: {
          after: {
            logoutDeadline: {
              target: '#session.loggedOut',
              actions: { type: 'setReason', params: { code: 'logout-failed', detail: 'logout timed out' } },
            },
          },
        },
      },
      on: { 'cmd.logout': {}, 'timers.changed': '.timing' },
    },

    /** Logged out by the operator. Gate closed. cmd.login starts again. */
    loggedOut: {
      entry: ['markSince', 'failHeldCommands'],
      on: {
        'cmd.login': { target: 'loggingIn', actions: { type: 'setReason', params: { code: 'operator-login' } } },
        'cmd.reset': { target: 'loggingIn', actions: { type: 'setReason', params: { code: 'operator-reset' } } },
        'cmd.logout': {},
      },
    },

    /** Gave up; `reason` says why. Gate failed. Only an operator (cmd.login / cmd.reset) starts it again. */
    failed: {
      entry: ['markSince', 'failHeldCommands'],
      on: {
        'cmd.login': { target: 'loggingIn', actions: { type: 'setReason', params: { code: 'operator-login' } } },
        'cmd.reset': { target: 'loggingIn', actions: { type: 'setReason', params: { code: 'operator-reset' } } },
      },
    },
  },
});

export type SessionMachine = typeof sessionMachine;
export type SessionActor = ActorRefFrom<SessionMachine>;
export type SessionSnapshot = SnapshotFrom<SessionMachine>;

/** The session machine with the runtime's actors plugged in (the connection child gets connectionWatch). */
export function provideSessionActors(impl: SessionActorImpls): SessionMachine {
  return sessionMachine.provide({
    actors: {
      login: impl.login,
      logout: impl.logout,
      tmf: impl.tmf,
      checkIdentity: impl.checkIdentity,
      connection: connectionMachine.provide({ actors: { connectionWatch: impl.connectionWatch } }),
    },
  });
}

// ---------------------------------------------------------------------------------------------------------
// Reading the session

export type SessionGate = 'open' | 'holding' | 'failed' | 'closed';
export type SessionStateName = 'idle' | 'loggingIn' | 'loggedIn' | 'recovering' | 'loggingOut' | 'loggedOut' | 'failed';

/** What the data path does with a new command: send it, hold it, fail it (TransportError), or refuse it (no session). */
export function gateOf(snapshot: SessionSnapshot): SessionGate {
  if (snapshot.matches('loggedIn')) return 'open';
  if (snapshot.matches({ recovering: { replacement: 'expired' } })) return 'failed';
  if (snapshot.matches('recovering')) return 'holding';
  if (snapshot.matches('failed')) return 'failed';
  return 'closed';
}

export function stateNameOf(snapshot: SessionSnapshot): SessionStateName {
  const value = snapshot.value;
  return (typeof value === 'string' ? value : Object.keys(value)[0]) as SessionStateName;
}

export interface SessionStatus {
  state: SessionStateName;
  gate: SessionGate;
  reason: SessionReason;
  /** When this state/gate was entered. */
  at: number;
}

/** A status's reason as text: its code, then its detail (or its error's message): "nop-timeout: no PDU within 5 s". */
export function reasonText(status: SessionStatus): string {
  const { code, detail, error } = status.reason;
  const why = detail ?? (error instanceof Error ? error.message : undefined);
  return why ? `${code}: ${why}` : code;
}

/** The session's state, gate and the reason it got there, at any time. */
export function sessionStatus(snapshot: SessionSnapshot): SessionStatus {
  return { state: stateNameOf(snapshot), gate: gateOf(snapshot), reason: snapshot.context.reason, at: snapshot.context.since };
}

/**
 * Every change of state or gate as it happens, starting with the current one; completes when the actor
 * stops, errors when it fails. For the control plane (NATS events) and telemetry.
 */
export function sessionEvents$(actor: SessionActor): Observable<SessionStatus> {
  return new Observable<SessionStatus>((subscriber) => {
    let last: SessionStatus | undefined;
    const push = (snapshot: SessionSnapshot) => {
      const status = sessionStatus(snapshot);
      if (last && last.state === status.state && last.gate === status.gate && last.at === status.at) return;
      last = status;
      subscriber.next(status);
    };
    push(actor.getSnapshot());
    const sub = actor.subscribe({
      next: push,
      error: (err) => subscriber.error(err),
      complete: () => subscriber.complete(),
    });
    return () => sub.unsubscribe();
  });
}
