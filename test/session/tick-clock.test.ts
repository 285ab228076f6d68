/** TickClock: deadlines rounded up to a shared tick; never early, at most 1/16 of the timeout and one tick late; one wake-up per tick. */
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
    clock.setTimeout(() => fired.push(Date.now()), 2050);
    vi.advanceTimersByTime(2049);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(51);
    expect(fired).toEqual([1_002_100]);
  });

  it('a short timer is late by at most a sixteenth of its length: a 400 ms probe wait by 16 ms, not a tick', () => {
    const clock = new TickClock(100);
    expect([10, 16, 100, 400, 1000, 1599, 1600, 5000].map((ms) => clock.slackOf(ms))).toEqual([0, 1, 4, 16, 32, 64, 100, 100]);
    const fired: number[] = [];
    vi.setSystemTime(1_000_001);
    clock.setTimeout(() => fired.push(Date.now()), 400);
    clock.setTimeout(() => fired.push(Date.now()), 10);
    vi.advanceTimersByTime(10);
    expect(fired).toEqual([1_000_011]);
    vi.advanceTimersByTime(389);
    expect(fired).toHaveLength(1);
    vi.advanceTimersByTime(16);
    expect(fired).toEqual([1_000_011, 1_000_416]);
  });

  it('shares one real timer between timers due in the same tick', () => {
    const clock = new TickClock(100);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('a'), 2010);
    clock.setTimeout(() => fired.push('b'), 2050);
    clock.setTimeout(() => fired.push('c'), 2099);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(2100);
    expect(fired).toEqual(['a', 'b', 'c']);
    expect(clock.pending).toBe(0);
  });

  it('clears a timer, and the real timer with the last one of its tick', () => {
    const clock = new TickClock(100);
    const fired: string[] = [];
    const a = clock.setTimeout(() => fired.push('a'), 1650);
    const b = clock.setTimeout(() => fired.push('b'), 1660);
    clock.clearTimeout(a);
    expect(vi.getTimerCount()).toBe(1);
    clock.clearTimeout(b);
    expect(vi.getTimerCount()).toBe(0);
    clock.clearTimeout(b); // twice is harmless
    vi.advanceTimersByTime(3000);
    expect(fired).toEqual([]);
  });

  it('a zero timer set from a firing callback runs soon after, not a whole tick later', () => {
    const clock = new TickClock(100);
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(Date.now());
      clock.setTimeout(() => fired.push(Date.now()), 0);
    }, 1600);
    vi.advanceTimersByTime(1600);
    vi.advanceTimersByTime(100);
    expect(fired).toHaveLength(2);
    expect(fired[0]).toBe(1_001_600);
    expect(fired[1] - fired[0]).toBeLessThanOrEqual(1);
  });

  it('a callback that clears another timer of its own tick stops it from running, without throwing', () => {
    const c = new TickClock(100);
    const ran: string[] = [];
    let second = 0;
    c.setTimeout(() => {
      ran.push('first');
      c.clearTimeout(second);
    }, 1610);
    second = c.setTimeout(() => ran.push('second'), 1620);
    vi.advanceTimersByTime(1700);
    expect(ran).toEqual(['first']);
    expect(c.pending).toBe(0);
  });

  it('refuses a tick that is not positive', () => {
    expect(() => new TickClock(0)).toThrow(RangeError);
  });
});
