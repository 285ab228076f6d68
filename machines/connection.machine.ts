/**
 * Liveness of one iSCSI connection in full-feature phase (RFC 7143 §6.3 phase 3): the NOP-Out ping after
 * noop_out_interval of silence and its noop_out_timeout (§11.18, §11.19; open-iscsi node.conn[0].timeo.*),
 * classification of transport failures (§7.1, §7.2), and forwarding of Async Messages (§11.9) to the session.
 * The socket is the invoked `connectionWatch` callback actor provided by the runtime (src/session/).
 */
import { and, assign, fromCallback, sendParent, sendTo, setup } from 'xstate';
import type { SessionTimers } from './timers.js';
import { remainingMs } from './timers.js';

/** Why a connection went down, as the runtime reports it (conn.failed) or the machine decides. */
export type ConnectionFailureReason = 'reset' | 'closed' | 'nop-timeout' | 'protocol' | 'digest';

/** Why the session dropped a connection it could still use. */
export type DropReason = 'command-timeout' | 'tmf-timeout' | 'async-drop' | 'renegotiate';

export type ConnectionDownReason = ConnectionFailureReason | DropReason;

/** Events the runtime's connectionWatch actor sends back (sendBack). Times are seconds, as on the wire. */
export type ConnectionWatchEvent =
  /** Any PDU arrived: the connection is alive (§11.18-19: any PDU counts, not only NOP-In). */
  | { type: 'conn.pduReceived' }
  /** The transport failed; the runtime has already destroyed the socket. */
  | { type: 'conn.failed'; reason: ConnectionFailureReason; error?: unknown }
  /** AsyncEvent 1 (§11.9.1): the target requests a Logout within Parameter3 seconds. */
  | { type: 'conn.asyncLogout'; within?: number; time2Wait?: number }
  /** AsyncEvent 2 or 3 (§11.9.1): the target will drop the connection (all connections). */
  | { type: 'conn.asyncDrop'; time2Wait: number; time2Retain: number }
  /** AsyncEvent 4 (§11.9.1): the target requests parameter negotiation. */
  | { type: 'conn.renegotiate' };

/** Commands the machine sends to the connectionWatch actor (it handles them in `receive`). */
export type WatchCommand =
  /** Send a NOP-Out ping (ITT != 0xffffffff, TTT 0xffffffff, §11.18) now. */
  | { type: 'watch.sendNop' }
  /** Destroy the socket now (the connection is being given up). */
  | { type: 'watch.drop'; reason: ConnectionDownReason };

export interface WatchInput {
  sessionKey: string;
}

/** Timers this machine uses; updated live with conn.setTimers. */
export type NopTimers = Pick<SessionTimers, 'noopOutIntervalMs' | 'noopOutTimeoutMs'>;

export interface ConnectionInput {
  sessionKey: string;
  timers: NopTimers;
  /** Milliseconds clock; the same clock that drives the actor's timers. */
  now: () => number;
}

/** What the machine ends with (its output; the session's onDone reads it). */
export interface ConnectionOutput {
  reason: ConnectionDownReason;
  detail?: string;
  error?: unknown;
  at: number;
}

export type ConnectionEvent =
  | ConnectionWatchEvent
  /** From the session: give the connection up (escalation, async drop, renegotiation). */
  | { type: 'conn.drop'; reason: DropReason; detail?: string }
  /** From the session: new NOP timer values, applied to the running timers at once. */
  | { type: 'conn.setTimers'; timers: NopTimers };

export interface ConnectionContext {
  sessionKey: string;
  timers: NopTimers;
  now: () => number;
  /** When a PDU last arrived (login response counts: the machine starts at full-feature phase). */
  lastRxAt: number;
  /** When the last NOP-Out went out, or null. */
  lastNopAt: number | null;
  /** The NOP-Out a NOP-In (or any PDU) has not yet answered, or null. */
  pingSentAt: number | null;
  result: ConnectionOutput | null;
}

const notProvided = (name: string) => new Error(`machines: actor '${name}' not provided (use provideSessionActors)`);

/** Silence is measured from the later of the last PDU received and the last NOP-Out sent. */
const quietSince = (c: ConnectionContext): number => Math.max(c.lastRxAt, c.lastNopAt ?? -Infinity);

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionInput,
    output: {} as ConnectionOutput,
  },
  actors: {
    connectionWatch: fromCallback<WatchCommand, WatchInput>(() => {
      throw notProvided('connectionWatch');
    }),
  },
  actions: {
    /** A NOP-Out goes out through the socket actor. */
    sendNop: sendTo('watch', { type: 'watch.sendNop' } satisfies WatchCommand),
    /** The socket actor destroys the socket (reason from context.result). */
    dropSocket: sendTo(
      'watch',
      ({ context }): WatchCommand => ({
        type: 'watch.drop',
        reason: context.result?.reason ?? 'closed',
      }),
    ),
  },
  delays: {
    /** noop_out_interval after the connection was last heard from (or last pinged). */
    nopInterval: ({ context }) => remainingMs(quietSince(context), context.timers.noopOutIntervalMs, context.now()),
    /** noop_out_timeout after the NOP-Out. */
    nopTimeout: ({ context }) => remainingMs(context.pingSentAt ?? context.now(), context.timers.noopOutTimeoutMs, context.now()),
  },
  guards: {
    nopDisabled: ({ context }) => context.timers.noopOutIntervalMs <= 0,
    pingOutstanding: ({ context }) => context.pingSentAt !== null && context.timers.noopOutTimeoutMs > 0,
    silentForInterval: ({ context }) => context.now() - quietSince(context) >= context.timers.noopOutIntervalMs,
    nopTimeoutEnabled: ({ context }) => context.timers.noopOutTimeoutMs > 0,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    sessionKey: input.sessionKey,
    timers: { ...input.timers },
    now: input.now,
    lastRxAt: input.now(),
    lastNopAt: null,
    pingSentAt: null,
    result: null,
  }),
  initial: 'up',
  output: ({ context }) => context.result ?? { reason: 'closed', at: context.now() },
  states: {
    /** Full-feature phase; the socket actor runs while here. (Stopping the machine does not run exit actions.) */
    up: {
      invoke: { id: 'watch', src: 'connectionWatch', input: ({ context }) => ({ sessionKey: context.sessionKey }) },
      on: {
        'conn.pduReceived': { actions: assign({ lastRxAt: ({ context }) => context.now(), pingSentAt: null }) },
        'conn.failed': {
          target: '.closing',
          actions: assign({
            result: ({ context, event }) => ({
              reason: event.reason,
              error: event.error,
              detail: errorText(event.error),
              at: context.now(),
            }),
          }),
        },
        'conn.drop': {
          target: '.closing',
          actions: [
            assign({
              result: ({ context, event }) => ({ reason: event.reason, detail: event.detail, at: context.now() }),
            }),
          ],
        },
        // Policy for async messages belongs to the session (§11.9.1); forward them as they are.
        'conn.asyncLogout': { actions: sendParent(({ event }) => event) },
        'conn.asyncDrop': { actions: sendParent(({ event }) => event) },
        'conn.renegotiate': { actions: sendParent(({ event }) => event) },
        // New values apply to the running timers at once (open-iscsi applies them at relogin only, #393).
        'conn.setTimers': { target: '.keepalive', actions: assign({ timers: ({ event }) => ({ ...event.timers }) }) },
      },
      initial: 'keepalive',
      states: {
        /** Routes to the keepalive state the timers call for; timers are (re)computed from context. */
        keepalive: {
          always: [{ guard: 'nopDisabled', target: 'disabled' }, { guard: 'pingOutstanding', target: 'pinging' }, { target: 'quiet' }],
        },
        /** Waiting for noop_out_interval of silence. PDUs only move lastRxAt: no timer churn per PDU. */
        quiet: {
          after: {
            nopInterval: [
              {
                guard: and(['silentForInterval', 'nopTimeoutEnabled']),
                target: 'pinging',
                actions: [assign({ pingSentAt: ({ context }) => context.now(), lastNopAt: ({ context }) => context.now() }), 'sendNop'],
              },
              // noop_out_timeout = 0: keep pinging every interval of silence, never fail on it.
              {
                guard: 'silentForInterval',
                target: 'quiet',
                reenter: true,
                actions: [assign({ lastNopAt: ({ context }) => context.now() }), 'sendNop'],
              },
              // A PDU arrived meanwhile: wait out the rest of the interval from it.
              { target: 'quiet', reenter: true },
            ],
          },
        },
        /** A NOP-Out is out; any PDU answers it. */
        pinging: {
          after: {
            nopTimeout: {
              guard: 'nopTimeoutEnabled',
              target: '#connection.up.closing',
              actions: [
                assign({
                  result: ({ context }) => ({
                    reason: 'nop-timeout' as const,
                    detail: `no PDU within ${context.timers.noopOutTimeoutMs} ms of a NOP-Out`,
                    at: context.now(),
                  }),
                }),
              ],
            },
          },
          on: {
            'conn.pduReceived': {
              target: 'quiet',
              actions: assign({ lastRxAt: ({ context }) => context.now(), pingSentAt: null }),
            },
          },
        },
        /** noop_out_interval = 0: no pings; failures come from the socket only. */
        disabled: {},
        /**
         * Destroy the socket while the watch actor still runs, on every way down (redundant after
         * conn.failed, where the runtime already did it; the runtime treats it as a no-op).
         */
        closing: { entry: 'dropSocket', always: '#connection.down' },
      },
    },
    down: { type: 'final' },
  },
});

export type ConnectionMachine = typeof connectionMachine;

function errorText(error: unknown): string | undefined {
  if (error === undefined || error === null) return undefined;
  if (error instanceof Error) return error.message;
  return String(error);
}
