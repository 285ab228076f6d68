/**
 * Spreads session logins so that many sessions started together (a daemon start, a target coming back with
 * hundreds of paths) do not storm the target: at most `maxInFlight` logins run at once, and new ones start at
 * no more than `ratePerSecond` (a token bucket holding at most `burst` tokens). Waiters are served strictly in
 * arrival order; a waiter whose AbortSignal fires leaves the queue and rejects with the signal's reason.
 *
 * One timer at most, armed only while someone waits for a token, on the injected Clock (src/session/clock.ts).
 */
import { systemClock, type Clock } from './clock.js';

export interface LoginPacerOptions {
  /** Logins allowed in flight at once. Default 16; Infinity for no cap. */
  maxInFlight?: number;
  /** New logins per second (token refill rate). Default 200; 0 or Infinity for no rate cap. */
  ratePerSecond?: number;
  /** Bucket size: logins that may start back to back after a quiet spell. Default 1 (evenly spaced starts). */
  burst?: number;
  /** The pacer's time: its one timer and its token-refill and wait timestamps. Default systemClock. */
  clock?: Clock;
}

/** Gives the slot back; calling it more than once does nothing. */
export type LoginSlotRelease = () => void;

interface Waiter {
  grant(release: LoginSlotRelease): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export interface LoginPacerStats {
  inFlight: number;
  queued: number;
  /** Slots granted since creation. */
  granted: number;
  /** Longest time a granted waiter spent queued (ms). */
  maxWaitMs: number;
}

export class LoginPacer {
  readonly maxInFlight: number;
  readonly ratePerSecond: number;
  readonly burst: number;
  private readonly queue: Waiter[] = [];
  private active = 0;
  private tokens: number;
  private refilledAt: number;
  private timer: unknown;
  private readonly clock: Clock;
  private granted = 0;
  private maxWaitMs = 0;

  constructor(opts: LoginPacerOptions = {}) {
    this.maxInFlight = opts.maxInFlight ?? 16;
    const rate = opts.ratePerSecond ?? 200;
    this.ratePerSecond = rate > 0 ? rate : Infinity;
    this.burst = Math.max(1, opts.burst ?? 1);
    if (!(this.maxInFlight >= 1)) throw new RangeError(`maxInFlight must be at least 1, not ${opts.maxInFlight}`);
    if (Number.isNaN(rate)) throw new RangeError('ratePerSecond must be a number');
    this.clock = opts.clock ?? systemClock;
    this.tokens = this.burst;
    this.refilledAt = this.clock.now();
  }

  get stats(): LoginPacerStats {
    return { inFlight: this.active, queued: this.queue.length, granted: this.granted, maxWaitMs: this.maxWaitMs };
  }

  /**
   * Waits for a login slot; resolves with its release function, which must be called when the login ends
   * (success or failure). Rejects with `signal.reason` if the signal fires while waiting (or already has).
   */
  acquire(signal?: AbortSignal): Promise<LoginSlotRelease> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const queuedAt = this.clock.now();
    return new Promise<LoginSlotRelease>((resolve, reject) => {
      const waiter: Waiter = {
        grant: (release) => {
          if (waiter.onAbort) signal!.removeEventListener('abort', waiter.onAbort);
          this.maxWaitMs = Math.max(this.maxWaitMs, this.clock.now() - queuedAt);
          resolve(release);
        },
        reject,
        signal,
      };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.queue.indexOf(waiter);
          if (i < 0) return; // already granted
          this.queue.splice(i, 1);
          reject(signal.reason);
          if (this.queue.length === 0) this.disarm();
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
      this.pump();
    });
  }

  /** Runs `login` inside a slot; the slot is given back however it ends. */
  async run<T>(login: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await login();
    } finally {
      release();
    }
  }

  /** Rejects every waiter (e.g. at shutdown); logins already running keep their slots. */
  close(reason: unknown = new Error('login pacer closed')): void {
    this.disarm();
    for (const w of this.queue.splice(0)) {
      if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
      w.reject(reason);
    }
  }

  private refill(): void {
    if (this.ratePerSecond === Infinity) {
      this.tokens = this.burst;
      return;
    }
    const t = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.refilledAt) * this.ratePerSecond) / 1000);
    this.refilledAt = t;
  }

  private pump(): void {
    while (this.queue.length > 0 && this.active < this.maxInFlight) {
      this.refill();
      if (this.tokens < 1) {
        this.arm(Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond));
        return;
      }
      this.tokens -= 1;
      this.active++;
      this.granted++;
      const w = this.queue.shift()!;
      w.grant(this.releaser());
    }
    // Nobody can be served for lack of a token right now: no timer needed (release() pumps again).
    this.disarm();
  }

  private releaser(): LoginSlotRelease {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.pump();
    };
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) return;
    this.timer = this.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(1, ms),
    );
  }

  private disarm(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
