/**
 * A timer clock for the session statecharts that rounds deadlines up to a shared tick, so that hundreds of
 * sessions' NOP, replacement and backoff timers wake the event loop once per tick instead of once each
 * (bench/sessions.ts: 256 sessions with 1 s NOP intervals). A timer fires at most one tick late, never early.
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
    const due = Math.ceil((now + Math.max(0, timeout)) / this.tickMs) * this.tickMs;
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
