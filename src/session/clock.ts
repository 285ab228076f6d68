/**
 * The one clock of the runtime: every timer and timestamp of the sessions, the multipath devices and their
 * statecharts goes through a Clock, so that tests drive them all with xstate's SimulatedClock (which has this
 * shape) instead of sleeping, and production reads one monotonic time base.
 */

/**
 * Milliseconds and timers. The timer half is the interface XState's createActor takes as `clock` (xstate's
 * own Clock type is not exported); `now` is what the statecharts take as input and what the data path stamps
 * I/Os with, on the same time base as the timers.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: (...args: unknown[]) => void, timeout: number): unknown;
  clearTimeout(id: unknown): void;
}

/**
 * Node's timers and performance.now() (monotonic: a wall-clock step must not fire or starve a deadline). The
 * timers are unref'd: a runtime timer (a sweep, a checker timeout) never keeps the process alive by itself;
 * sockets and servers do.
 */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn, timeout) {
    const t = setTimeout(fn, timeout);
    t.unref();
    return t;
  },
  clearTimeout(id) {
    clearTimeout(id as NodeJS.Timeout | undefined);
  },
};

/**
 * A promise that rejects with `onTimeout()` after `ms` on `clock` unless `p` settles first; the timer is
 * cleared either way. The checker's and the probes' bounded waits.
 */
export function withDeadline<T>(clock: Clock, p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: unknown;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, timeout]).finally(() => clock.clearTimeout(timer));
}

/**
 * A timer that is armed only while there is work and never per item: `arm(at)` asks for a wake-up no later
 * than `at` (a no-op while one is due as early); at the wake-up `run(now)` does the work and returns when it
 * wants the next one, or undefined to go quiet until the next arm(). The data path calls arm() per I/O and
 * pays one comparison for it; the clock sees one timer per owner, not one per I/O (blk-mq's request-timeout
 * timer works the same way: one per queue, set to the earliest deadline, re-armed from the expiry scan).
 */
export class Sweep {
  private timer: unknown;
  /** When the armed wake-up is due; Infinity while none is. */
  private dueAt = Infinity;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly run: (now: number) => number | undefined,
  ) {}

  /** Whether a wake-up is armed (for tests and diagnostics). */
  get armed(): boolean {
    return this.dueAt !== Infinity;
  }

  arm(at: number): void {
    if (at >= this.dueAt || this.stopped) return;
    if (this.dueAt !== Infinity) this.clock.clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, at - this.clock.now()));
  }

  /** No more wake-ups, also not from later arm() calls. */
  stop(): void {
    this.stopped = true;
    if (this.dueAt !== Infinity) this.clock.clearTimeout(this.timer);
    this.dueAt = Infinity;
  }

  private fire(): void {
    this.dueAt = Infinity;
    if (this.stopped) return;
    const next = this.run(this.clock.now());
    if (next !== undefined) this.arm(next);
  }
}
