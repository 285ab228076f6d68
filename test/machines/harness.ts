/** Test harness for the machines: fake runtime actors, a SimulatedClock, and helpers to drive both. */
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import {
  provideSessionActors,
  type IdentityInput,
  type LoginInput,
  type LoginOutput,
  type LogoutInput,
  type LogoutOutput,
  type SessionActor,
  type SessionEmitted,
  type SessionInput,
  type TmfInput,
} from '../../machines/session.machine.js';
import type { ConnectionWatchEvent, WatchCommand, WatchInput } from '../../machines/connection.machine.js';
import type { SessionTimers } from '../../machines/timers.js';

/** One pending call of a fake promise actor: the test settles it. */
export interface PendingCall<I, O> {
  input: I;
  signal: AbortSignal;
  resolve(output: O): void;
  reject(error: unknown): void;
}

/** A promise actor whose every invocation waits for the test (or for `auto` to answer it). */
export class PromiseFake<I, O> {
  readonly calls: PendingCall<I, O>[] = [];
  /** When set, each call is answered at once by it (return a value or throw). */
  auto: ((input: I) => O) | undefined;
  readonly logic = fromPromise<O, I>(
    ({ input, signal }) =>
      new Promise<O>((resolve, reject) => {
        if (this.auto) {
          try {
            resolve(this.auto(input));
          } catch (err) {
            reject(err);
          }
        }
        this.calls.push({ input, signal, resolve, reject });
      }),
  );

  get last(): PendingCall<I, O> {
    const call = this.calls.at(-1);
    if (!call) throw new Error('no call yet');
    return call;
  }

  get count(): number {
    return this.calls.length;
  }
}

/** The fake socket: records the commands it receives and lets the test send events back. */
export class WatchFake {
  started = 0;
  stopped = 0;
  readonly received: WatchCommand[] = [];
  private sendBack: ((event: ConnectionWatchEvent) => void) | undefined;
  readonly logic = fromCallback<WatchCommand, WatchInput>(({ sendBack, receive }) => {
    this.started++;
    this.sendBack = sendBack;
    receive((command) => this.received.push(command));
    return () => {
      this.stopped++;
      this.sendBack = undefined;
    };
  });

  get running(): boolean {
    return this.sendBack !== undefined;
  }

  send(event: ConnectionWatchEvent): void {
    if (!this.sendBack) throw new Error('connectionWatch is not running');
    this.sendBack(event);
  }

  nops(): number {
    return this.received.filter((c) => c.type === 'watch.sendNop').length;
  }

  drops(): WatchCommand[] {
    return this.received.filter((c) => c.type === 'watch.drop');
  }
}

/** Lets promise callbacks (fromPromise resolution) run. No timers, no real time. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** An error like the runtime's LoginError (duck-typed by the machine). */
export function loginError(message: string, kind: string, final: boolean): Error {
  return Object.assign(new Error(message), { kind, final });
}

/** Small timers so that tests read easily; every test states the ones it depends on. */
export const TEST_TIMERS: Partial<SessionTimers> = {
  noopOutIntervalMs: 5_000,
  noopOutTimeoutMs: 5_000,
  loginTimeoutMs: 15_000,
  logoutTimeoutMs: 15_000,
  replacementTimeoutMs: 120_000,
  abortTimeoutMs: 15_000,
  luResetTimeoutMs: 30_000,
  tgtResetTimeoutMs: 30_000,
  defaultTime2WaitMs: 2_000,
  initialLoginRetryMax: 8,
  reopenMax: 0,
  backoffBaseMs: 250,
  backoffCapMs: 30_000,
};

export interface Harness {
  actor: SessionActor;
  clock: SimulatedClock;
  login: PromiseFake<LoginInput, LoginOutput>;
  logout: PromiseFake<LogoutInput, LogoutOutput>;
  tmf: PromiseFake<TmfInput, unknown>;
  identity: PromiseFake<IdentityInput, unknown>;
  watch: WatchFake;
  emitted: SessionEmitted[];
  /** Advance simulated time, then let promise callbacks run. */
  advance(ms: number): Promise<void>;
  /** Top-level state name. */
  state(): string;
  failHeldCount(): number;
  reissueCount(): number;
}

export function startSession(options: { timers?: Partial<SessionTimers>; random?: () => number } = {}): Harness {
  const clock = new SimulatedClock();
  const login = new PromiseFake<LoginInput, LoginOutput>();
  const logout = new PromiseFake<LogoutInput, LogoutOutput>();
  const tmf = new PromiseFake<TmfInput, unknown>();
  const identity = new PromiseFake<IdentityInput, unknown>();
  const watch = new WatchFake();
  const machine = provideSessionActors({
    login: login.logic,
    logout: logout.logic,
    tmf: tmf.logic,
    checkIdentity: identity.logic,
    connectionWatch: watch.logic,
  });
  const input: SessionInput = {
    sessionKey: 'sess-1',
    timers: { ...TEST_TIMERS, ...options.timers },
    random: options.random ?? (() => 0.5),
    now: () => clock.now(),
  };
  const actor = createActor(machine, { clock, input });
  const emitted: SessionEmitted[] = [];
  actor.on('*', (e) => emitted.push(e as SessionEmitted));
  actor.start();
  return {
    actor,
    clock,
    login,
    logout,
    tmf,
    identity,
    watch,
    emitted,
    async advance(ms: number) {
      clock.increment(ms);
      await flush();
    },
    state() {
      const v = actor.getSnapshot().value;
      return typeof v === 'string' ? v : Object.keys(v)[0]!;
    },
    failHeldCount: () => emitted.filter((e) => e.type === 'session.failHeld').length,
    reissueCount: () => emitted.filter((e) => e.type === 'session.reissueHeld').length,
  };
}

/** A session in full-feature phase (first login succeeded at t=0). */
export async function loggedInSession(options: Parameters<typeof startSession>[0] = {}): Promise<Harness> {
  const h = startSession(options);
  h.actor.send({ type: 'cmd.login' });
  h.login.last.resolve({});
  await flush();
  if (h.state() !== 'loggedIn') throw new Error(`expected loggedIn, got ${h.state()}`);
  return h;
}
