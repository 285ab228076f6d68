/**
 * A timer clock for the session statecharts that rounds deadlines up to a shared tick, so that hundreds of
 * sessions' NOP, replacement and backoff timers wake the event loop once per tick instead of once each
 * (bench/sessions.ts: 256 sessions with 1 s NOP intervals). A timer fires never early, and late by at most a
 * sixteenth of its length, and at most one tick: the slack is a power-of-two number of ms up to timeout / 16
 * (the tick itself from 16 ticks on), so a 400 ms fast-detection probe is at most 16 ms late, not 100, while
 * 5 s NOP intervals still share 100 ms ticks. Under 16 ms a timer is not rounded.
 */

import type { Clock } from './clock.js';

/**
 * Real Node timers, coalesced; `now` is the time base the deadlines are rounded in (ManagedSession's shared
 * clock gives systemClock's). With a SimulatedClock a test needs no TickClock: it has no real timers to save.
 */
export class TickClock implements Clock {
  private readonly buckets = new Map<number, Map<number, () => void>>();
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly dueOf = new Map<number, number>();
  private nextId = 1;

  constructor(
    readonly tickMs = 100,
    private readonly readNow: () => number = Date.now,
  ) {
    if (!(tickMs > 0)) throw new RangeError(`tick must be positive, got ${tickMs}`);
  }

  now(): number {
    return this.readNow();
  }

  setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const id = this.nextId++;
    const now = this.readNow();
    const ms = Math.max(0, timeout);
    const slack = this.slackOf(ms);
    const due = slack === 0 ? now + ms : Math.ceil((now + ms) / slack) * slack;
    let bucket = this.buckets.get(due);
    if (!bucket) {
      bucket = new Map();
      this.buckets.set(due, bucket);
      const t = setTimeout(() => this.fire(due), due - now);
      t.unref?.();
      this.timers.set(due, t);
    }
    bucket.set(id, fn);
    this.dueOf.set(id, due);
    return id;
  }

  clearTimeout(id: unknown): void {
    if (typeof id !== 'number') return;
    const due = this.dueOf.get(id);
    if (due === undefined) return;
    this.dueOf.delete(id);
    const bucket = this.buckets.get(due);
    if (!bucket) {
      // Cleared by a callback of the bucket now firing: it must not run either.
      this.firing?.delete(id);
      return;
    }
    bucket.delete(id);
    if (bucket.size === 0) {
      this.buckets.delete(due);
      clearTimeout(this.timers.get(due));
      this.timers.delete(due);
    }
  }

  /** The rounding of a timer of `ms`: the tick from 16 ticks on, else the largest power of two <= ms / 16; 0 under 16 ms. */
  slackOf(ms: number): number {
    const most = ms / 16;
    if (most >= this.tickMs) return this.tickMs;
    return most < 1 ? 0 : 2 ** Math.floor(Math.log2(most));
  }

  /** Timers waiting (for tests and diagnostics). */
  get pending(): number {
    return this.dueOf.size;
  }

  private fire(due: number): void {
    const bucket = this.buckets.get(due);
    this.buckets.delete(due);
    this.timers.delete(due);
    if (!bucket) return;
    this.firing = bucket;
    try {
      for (const [id, fn] of bucket) {
        bucket.delete(id);
        this.dueOf.delete(id);
        fn();
      }
    } finally {
      this.firing = undefined;
    }
  }

  /** The bucket whose callbacks are running, so that one of them can clear another. */
  private firing: Map<number, () => void> | undefined;
}
