import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LoginPacer, type LoginSlotRelease } from '../../src/session/login-pacer.js';
import type { Clock } from '../../src/session/clock.js';

/** Date.now and the timers, which vi.useFakeTimers fakes (so vi.getTimerCount() sees the pacer's timer). */
const fakedClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** The pacer on the faked clock. */
function pacer(opts: ConstructorParameters<typeof LoginPacer>[0] = {}): LoginPacer {
  return new LoginPacer({ clock: fakedClock, ...opts });
}

/** Acquires and records, in grant order, which waiter got a slot and when. */
function track(p: LoginPacer, n: number, signals: (AbortSignal | undefined)[] = []) {
  const granted: { id: number; at: number; release: LoginSlotRelease }[] = [];
  const errors: { id: number; err: unknown }[] = [];
  const t0 = Date.now();
  for (let id = 0; id < n; id++) {
    p.acquire(signals[id]).then(
      (release) => granted.push({ id, at: Date.now() - t0, release }),
      (err) => errors.push({ id, err }),
    );
  }
  return { granted, errors };
}

describe('LoginPacer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('caps logins in flight and starts the next one when a slot is released', async () => {
    const p = pacer({ maxInFlight: 3, ratePerSecond: Infinity });
    const { granted } = track(p, 10);
    await vi.advanceTimersByTimeAsync(1000);
    expect(granted.map((g) => g.id)).toEqual([0, 1, 2]);
    expect(p.stats).toMatchObject({ inFlight: 3, queued: 7 });
    granted[1].release();
    granted[1].release(); // twice: no second slot
    await vi.advanceTimersByTimeAsync(0);
    expect(granted.map((g) => g.id)).toEqual([0, 1, 2, 3]);
    expect(p.stats).toMatchObject({ inFlight: 3, queued: 6 });
    for (const g of [...granted]) g.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toHaveLength(7);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('starts at most ratePerSecond logins per second, evenly spaced', async () => {
    const p = pacer({ maxInFlight: Infinity, ratePerSecond: 100 });
    const { granted } = track(p, 250);
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toHaveLength(1); // the bucket's one token
    await vi.advanceTimersByTimeAsync(1000);
    expect(granted).toHaveLength(101);
    // No two starts closer than 1/rate.
    for (let i = 1; i < granted.length; i++) expect(granted[i].at - granted[i - 1].at).toBeGreaterThanOrEqual(10);
    await vi.advanceTimersByTimeAsync(2000);
    expect(granted).toHaveLength(250);
    expect(granted[249].at).toBe(2490);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets a burst through after a quiet spell, then paces', async () => {
    const p = pacer({ maxInFlight: Infinity, ratePerSecond: 10, burst: 5 });
    const { granted } = track(p, 7);
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toHaveLength(5);
    await vi.advanceTimersByTimeAsync(100);
    expect(granted).toHaveLength(6);
    await vi.advanceTimersByTimeAsync(100);
    expect(granted).toHaveLength(7);
  });

  it('applies both caps together', async () => {
    const p = pacer({ maxInFlight: 2, ratePerSecond: 100 });
    const { granted } = track(p, 4);
    await vi.advanceTimersByTimeAsync(50);
    expect(granted.map((g) => [g.id, g.at])).toEqual([
      [0, 0],
      [1, 10],
    ]);
    granted[0].release();
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toHaveLength(3); // token long available: starts at once
    granted[1].release();
    granted[2].release();
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toHaveLength(3); // slot free but the bucket is empty
    await vi.advanceTimersByTimeAsync(10);
    expect(granted).toHaveLength(4);
  });

  it('serves waiters in arrival order', async () => {
    const p = pacer({ maxInFlight: 1, ratePerSecond: 1000 });
    const { granted } = track(p, 20);
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(5);
      granted[granted.length - 1]?.release();
    }
    await vi.advanceTimersByTimeAsync(5);
    expect(granted.map((g) => g.id)).toEqual([...Array(20).keys()]);
  });

  it('drops an aborted waiter from the queue; the others keep their order', async () => {
    const p = pacer({ maxInFlight: 1, ratePerSecond: Infinity });
    const ac = new AbortController();
    const { granted, errors } = track(p, 4, [undefined, undefined, ac.signal, undefined]);
    await vi.advanceTimersByTimeAsync(0);
    expect(p.stats.queued).toBe(3);
    ac.abort(new Error('login abandoned'));
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(1);
    expect(errors[0].id).toBe(2);
    expect((errors[0].err as Error).message).toBe('login abandoned');
    expect(p.stats.queued).toBe(2);
    granted[0].release();
    await vi.advanceTimersByTimeAsync(0);
    granted[1].release();
    await vi.advanceTimersByTimeAsync(0);
    expect(granted.map((g) => g.id)).toEqual([0, 1, 3]);
    expect(p.stats.inFlight).toBe(1);
  });

  it('rejects at once with an already aborted signal, and an abort after the grant changes nothing', async () => {
    const p = pacer({ maxInFlight: 1 });
    await expect(p.acquire(AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
    const ac = new AbortController();
    const release = await p.acquire(ac.signal);
    ac.abort();
    expect(p.stats).toMatchObject({ inFlight: 1, queued: 0 });
    release();
    expect(p.stats.inFlight).toBe(0);
  });

  it('an aborted waiter that was waiting for a token leaves no timer behind', async () => {
    const p = pacer({ maxInFlight: Infinity, ratePerSecond: 1 });
    const ac = new AbortController();
    const { granted, errors } = track(p, 2, [undefined, ac.signal]);
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(1);
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('run() gives the slot back when the login fails', async () => {
    const p = pacer({ maxInFlight: 1, ratePerSecond: Infinity });
    const first = p.run(() => Promise.reject(new Error('login rejected')));
    const second = p.run(async () => 'ok');
    await expect(first).rejects.toThrow('login rejected');
    await expect(second).resolves.toBe('ok');
    expect(p.stats).toMatchObject({ inFlight: 0, queued: 0, granted: 2 });
  });

  it('close() rejects the waiters and keeps running logins', async () => {
    const p = pacer({ maxInFlight: 1 });
    const { granted, errors } = track(p, 3);
    await vi.advanceTimersByTimeAsync(0);
    p.close(new Error('shutting down'));
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toHaveLength(1);
    expect(errors.map((e) => e.id)).toEqual([1, 2]);
    expect(p.stats.inFlight).toBe(1);
  });
});
