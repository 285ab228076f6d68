import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SESSION_TIMERS,
  loginBackoffMs,
  mergeTimers,
  remainingMs,
  TimerConfigError,
  timerPatchProblem,
  timersFromNodeRecord,
  validateTimers,
} from '../../machines/timers.js';

describe('timersFromNodeRecord', () => {
  it('uses open-iscsi defaults for absent keys', () => {
    const t = timersFromNodeRecord({});
    expect(t).toEqual(DEFAULT_SESSION_TIMERS);
    expect(t).toMatchObject({
      noopOutIntervalMs: 5_000,
      noopOutTimeoutMs: 5_000,
      loginTimeoutMs: 15_000,
      authTimeoutMs: 45_000,
      logoutTimeoutMs: 15_000,
      replacementTimeoutMs: 120_000,
      abortTimeoutMs: 15_000,
      luResetTimeoutMs: 30_000,
      tgtResetTimeoutMs: 30_000,
      initialLoginRetryMax: 8,
      reopenMax: 0,
      defaultTime2WaitMs: 2_000,
    });
  });

  it('reads seconds, fractions included, and counts as they are', () => {
    const t = timersFromNodeRecord({
      'node.conn[0].timeo.noop_out_interval': '0.25',
      'node.conn[0].timeo.noop_out_timeout': '1.5',
      'node.conn[0].timeo.login_timeout': '3',
      'node.session.timeo.replacement_timeout': '-1',
      'node.session.err_timeo.abort_timeout': '.5',
      'node.session.iscsi.DefaultTime2Wait': '0',
      'node.session.initial_login_retry_max': '2',
      'node.session.reopen_max': '5',
      'node.session.auth.authmethod': 'CHAP', // not a timer: ignored
    });
    expect(t.noopOutIntervalMs).toBe(250);
    expect(t.noopOutTimeoutMs).toBe(1_500);
    expect(t.loginTimeoutMs).toBe(3_000);
    expect(t.replacementTimeoutMs).toBe(-1_000);
    expect(t.abortTimeoutMs).toBe(500);
    expect(t.defaultTime2WaitMs).toBe(0);
    expect(t.initialLoginRetryMax).toBe(2);
    expect(t.reopenMax).toBe(5);
  });

  it('treats empty values as absent and lets overrides (ms) win', () => {
    const t = timersFromNodeRecord({ 'node.conn[0].timeo.login_timeout': ' ' }, { loginTimeoutMs: 40, backoffCapMs: 500 });
    expect(t.loginTimeoutMs).toBe(40);
    expect(t.backoffCapMs).toBe(500);
  });

  it.each([
    ['node.conn[0].timeo.noop_out_interval', 'five', 'not a number'],
    ['node.conn[0].timeo.noop_out_interval', '-1', 'at least 0'],
    ['node.conn[0].timeo.login_timeout', '0', 'above 0'],
    ['node.session.err_timeo.lu_reset_timeout', '-3', 'above 0'],
    ['node.session.reopen_max', '1.5', 'whole number'],
    ['node.session.initial_login_retry_max', '-2', 'at least 0'],
    ['node.session.iscsi.DefaultTime2Wait', '3601', 'at most 3600'],
    ['node.session.timeo.replacement_timeout', '1e3', 'not a number'],
  ])('refuses %s = %s with a clear error', (key, value, why) => {
    let caught: unknown;
    try {
      timersFromNodeRecord({ [key]: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TimerConfigError);
    expect((caught as TimerConfigError).key).toBe(key);
    expect((caught as Error).message).toContain(key);
    expect((caught as Error).message).toContain(why);
  });

  it('validates overrides too', () => {
    expect(() => timersFromNodeRecord({}, { abortTimeoutMs: 0 })).toThrow(/abortTimeoutMs.*above 0/);
    expect(() => validateTimers({ ...DEFAULT_SESSION_TIMERS, logoutTimeoutMs: Number.NaN })).toThrow(TimerConfigError);
    expect(() => validateTimers({ ...DEFAULT_SESSION_TIMERS, replacementTimeoutMs: Infinity })).toThrow(/finite/);
  });
});

describe('timerPatchProblem', () => {
  it('checks a live patch once, by the settings table rule (ms), naming the field', () => {
    expect(timerPatchProblem({ noopOutIntervalMs: 500, reopenMax: 3 })).toBeUndefined();
    expect(timerPatchProblem({ noopOutIntervalMs: -5 })?.message).toBe('noopOutIntervalMs = -5: must be at least 0 ms');
    expect(timerPatchProblem({ defaultTime2WaitMs: 1500 })?.message).toBe('defaultTime2WaitMs = 1500: must be whole seconds');
    expect(timerPatchProblem({ reopenMax: 1.5 })?.message).toBe('reopenMax = 1.5: must be a whole number');
    expect(timerPatchProblem({ backoffBaseMs: 0 })?.message).toBe('backoffBaseMs = 0: must be above 0 ms');
    expect(timerPatchProblem({ nope: 1 } as never)?.message).toBe('nope = 1: unknown timer');
  });
});

describe('mergeTimers', () => {
  it('applies a partial patch and refuses unknown fields', () => {
    expect(mergeTimers(DEFAULT_SESSION_TIMERS, { noopOutIntervalMs: 1_000 }).noopOutIntervalMs).toBe(1_000);
    expect(() => mergeTimers(DEFAULT_SESSION_TIMERS, { noopIntervalMs: 1 } as never)).toThrow(/unknown timer/);
    expect(() => mergeTimers(DEFAULT_SESSION_TIMERS, { reopenMax: -1 })).toThrow(/reopenMax/);
  });
});

describe('loginBackoffMs', () => {
  const t = { ...DEFAULT_SESSION_TIMERS, backoffBaseMs: 250, backoffCapMs: 30_000 };

  it('doubles from the base and stops at the cap; jitter spans the upper half', () => {
    const top = (n: number) => loginBackoffMs(n, t, () => 1);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 20].map(top)).toEqual([250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    expect(loginBackoffMs(1, t, () => 0)).toBe(125);
    expect(loginBackoffMs(3, t, () => 0.5)).toBe(750);
    expect(loginBackoffMs(1_000, t, () => 0)).toBe(15_000);
  });

  it('stays within [ceiling/2, ceiling] and never above the cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (n, r) => {
        const d = loginBackoffMs(n, t, () => r);
        const ceiling = Math.min(t.backoffCapMs, t.backoffBaseMs * 2 ** (n - 1));
        return d >= ceiling / 2 && d <= ceiling && d <= t.backoffCapMs;
      }),
    );
  });
});

describe('remainingMs', () => {
  it('counts down from the start and never goes negative', () => {
    expect(remainingMs(1_000, 5_000, 3_000)).toBe(3_000);
    expect(remainingMs(1_000, 5_000, 9_000)).toBe(0);
  });
});
