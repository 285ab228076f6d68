/** TickClock: deadlines rounded up to a shared tick; never early, at most one tick late; one wake-up per tick. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TickClock } from '../../src/session/tick-clock.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TickClock', () => {
  it('fires no earlier than asked and at most one tick later', () => {
    const clock = new TickClock(100);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(Date.now()), 250);
    vi.advanceTimersByTime(249);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(51);
    expect(fired).toEqual([1_000_300]);
  });

  it('shares one real timer between timers due in the same tick', () => {
    const clock = new TickClock(100);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('a'), 110);
    clock.setTimeout(() => fired.push('b'), 150);
    clock.setTimeout(() => fired.push('c'), 199);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(clock.pending).toBe(0);
  });

  it('clears a timer, and the real timer with the last one of its tick', () => {
    const clock = new TickClock(100);
    const fired: string[] = [];
    const a = clock.setTimeout(() => fired.push('a'), 50);
    const b = clock.setTimeout(() => fired.push('b'), 60);
    clock.clearTimeout(a);
    expect(vi.getTimerCount()).toBe(1);
    clock.clearTimeout(b);
    expect(vi.getTimerCount()).toBe(0);
    clock.clearTimeout(b); // twice is harmless
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual([]);
  });

  it('a zero timer set from a firing callback runs soon after, not a whole tick later', () => {
    const clock = new TickClock(100);
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(Date.now());
      clock.setTimeout(() => fired.push(Date.now()), 0);
    }, 100);
    vi.advanceTimersByTime(100);
    vi.advanceTimersByTime(100);
    expect(fired).toHaveLength(2);
    expect(fired[0]).toBe(1_000_100);
    expect(fired[1] - fired[0]).toBeLessThanOrEqual(1);
  });

  it('a callback that clears another timer of its own tick stops it from running, without throwing', () => {
    const c = new TickClock(100);
    const ran: string[] = [];
    let second = 0;
    c.setTimeout(() => {
      ran.push('first');
      c.clearTimeout(second);
    }, 10);
    second = c.setTimeout(() => ran.push('second'), 20);
    vi.advanceTimersByTime(100);
    expect(ran).toEqual(['first']);
    expect(c.pending).toBe(0);
  });

  it('refuses a tick that is not positive', () => {
    expect(() => new TickClock(0)).toThrow(RangeError);
  });
});
