/**
 * Session and connection timer values in milliseconds, derived from open-iscsi node record keys (seconds)
 * with open-iscsi's defaults (reference/open-iscsi.md "node.session", "node.conn[0]"; RFC 7143 §13.15 for
 * DefaultTime2Wait), plus the pure backoff and remaining-time arithmetic the statecharts use. The rule of
 * each record key lives in timer-values.ts, shared with the record checks.
 */
import { parseDecimal, rangeProblem, timerValueProblem, TIMER_VALUE_RULES, type TimerRule } from './timer-values.js';

/** Every timer the session and connection machines run. Durations in milliseconds; counts are attempts. */
export interface SessionTimers {
  /** node.conn[0].timeo.noop_out_interval: NOP-Out after this long with nothing received. 0 disables pings. */
  noopOutIntervalMs: number;
  /** node.conn[0].timeo.noop_out_timeout: no PDU this long after a NOP-Out fails the connection. 0 disables. */
  noopOutTimeoutMs: number;
  /** node.conn[0].timeo.login_timeout: bound on one login attempt (connect + every login round trip). */
  loginTimeoutMs: number;
  /** node.conn[0].timeo.auth_timeout: bound on the security negotiation stage; passed to the login actor. */
  authTimeoutMs: number;
  /** node.conn[0].timeo.logout_timeout: bound on the Logout exchange. */
  logoutTimeoutMs: number;
  /** node.session.timeo.replacement_timeout: hold commands this long after a connection failure. 0 fails them at once, negative holds forever. */
  replacementTimeoutMs: number;
  /** node.session.err_timeo.abort_timeout: wait for an ABORT TASK response. */
  abortTimeoutMs: number;
  /** node.session.err_timeo.lu_reset_timeout: wait for a LOGICAL UNIT RESET response. */
  luResetTimeoutMs: number;
  /** node.session.err_timeo.tgt_reset_timeout: wait for a TARGET WARM RESET response. */
  tgtResetTimeoutMs: number;
  /** node.session.iscsi.DefaultTime2Wait: wait before the first relogin when nothing else said how long. */
  defaultTime2WaitMs: number;
  /** node.session.initial_login_retry_max: login attempts (at least one) before the first login gives up. */
  initialLoginRetryMax: number;
  /** node.session.reopen_max: relogin attempts after a failure before the session fails; 0 retries forever. */
  reopenMax: number;
  /** Ours (no open-iscsi key): first backoff between failed login attempts, doubled each time. Default 250 ms. */
  backoffBaseMs: number;
  /** Ours (no open-iscsi key): the backoff never exceeds this. Default 30 s. */
  backoffCapMs: number;
}

/** open-iscsi's defaults (iscsid.conf values where they differ from the code), in milliseconds. */
export const DEFAULT_SESSION_TIMERS: Readonly<SessionTimers> = Object.freeze({
  noopOutIntervalMs: 5_000,
  noopOutTimeoutMs: 5_000,
  loginTimeoutMs: 15_000,
  authTimeoutMs: 45_000,
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
});

/** The node record key each timer is read from (open-iscsi spelling). Ours have none. */
export const TIMER_RECORD_KEYS = {
  noopOutIntervalMs: 'node.conn[0].timeo.noop_out_interval',
  noopOutTimeoutMs: 'node.conn[0].timeo.noop_out_timeout',
  loginTimeoutMs: 'node.conn[0].timeo.login_timeout',
  authTimeoutMs: 'node.conn[0].timeo.auth_timeout',
  logoutTimeoutMs: 'node.conn[0].timeo.logout_timeout',
  replacementTimeoutMs: 'node.session.timeo.replacement_timeout',
  abortTimeoutMs: 'node.session.err_timeo.abort_timeout',
  luResetTimeoutMs: 'node.session.err_timeo.lu_reset_timeout',
  tgtResetTimeoutMs: 'node.session.err_timeo.tgt_reset_timeout',
  defaultTime2WaitMs: 'node.session.iscsi.DefaultTime2Wait',
  initialLoginRetryMax: 'node.session.initial_login_retry_max',
  reopenMax: 'node.session.reopen_max',
} as const satisfies Partial<Record<keyof SessionTimers, string>>;

type Rule = TimerRule;

/** Each field's rule: the record key's (timer-values.ts), and for ours without a key, here. */
const RULES: { readonly [K in keyof SessionTimers]: Rule } = {
  ...(Object.fromEntries(Object.entries(TIMER_RECORD_KEYS).map(([field, key]) => [field, TIMER_VALUE_RULES[key]])) as Record<keyof typeof TIMER_RECORD_KEYS, Rule>),
  backoffBaseMs: { unit: 'seconds', min: 0, minExclusive: true },
  backoffCapMs: { unit: 'seconds', min: 0, minExclusive: true },
};

/** A timer value that cannot be used; `key` is the record key (or the SessionTimers field). */
export class TimerConfigError extends Error {
  override readonly name = 'TimerConfigError';
  constructor(
    readonly key: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`${key} = ${JSON.stringify(value)}: ${reason}`);
  }
}

/**
 * SessionTimers from an open-iscsi node record (`key -> value` as written in the record file). Durations
 * are seconds and may be fractions ("0.25"); absent or empty keys take open-iscsi's defaults. `overrides`
 * (milliseconds) win over the record, for values of our own configuration. Throws TimerConfigError.
 */
export function timersFromNodeRecord(
  record: Readonly<Record<string, string>>,
  overrides: Partial<SessionTimers> = {},
): SessionTimers {
  const timers: SessionTimers = { ...DEFAULT_SESSION_TIMERS };
  for (const [field, key] of Object.entries(TIMER_RECORD_KEYS) as [keyof typeof TIMER_RECORD_KEYS, string][]) {
    const raw = record[key];
    if (raw === undefined || raw.trim() === '') continue;
    const problem = timerValueProblem(key, raw);
    if (problem) throw new TimerConfigError(key, raw, problem);
    const n = parseDecimal(raw)!; // timerValueProblem found it a number
    timers[field] = RULES[field].unit === 'seconds' ? Math.round(n * 1000) : n;
  }
  return validateTimers({ ...timers, ...overrides });
}

/** Checks every field of a complete SessionTimers (milliseconds); returns it, or throws TimerConfigError. */
export function validateTimers(timers: SessionTimers): SessionTimers {
  for (const field of Object.keys(RULES) as (keyof SessionTimers)[]) {
    const value = timers[field];
    const rule = RULES[field];
    if (typeof value !== 'number' || Number.isNaN(value)) throw new TimerConfigError(field, value, 'not a number');
    if (!Number.isFinite(value)) throw new TimerConfigError(field, value, 'must be finite');
    if (rule.unit === 'count' && !Number.isInteger(value)) throw new TimerConfigError(field, value, 'must be a whole number');
    // Fields hold milliseconds: bounds are stated in ms here.
    checkRange(field, value, rule.unit === 'seconds' ? value / 1000 : value, rule, rule.unit === 'seconds' ? ' ms' : '', 1000);
  }
  return timers;
}

/** `base` with `patch` applied, validated; unknown fields are refused (a typo must not pass silently). */
export function mergeTimers(base: SessionTimers, patch: Partial<SessionTimers>): SessionTimers {
  for (const field of Object.keys(patch)) {
    if (!(field in RULES)) throw new TimerConfigError(field, (patch as Record<string, unknown>)[field], 'unknown timer');
  }
  const merged = { ...base };
  for (const [field, value] of Object.entries(patch) as [keyof SessionTimers, number | undefined][]) {
    if (value !== undefined) merged[field] = value;
  }
  return validateTimers(merged);
}

/** `n` is in the rule's unit (seconds or count); messages show bounds times `scale` with `unit`. */
function checkRange(key: string, raw: unknown, n: number, rule: Rule, unit: string, scale = 1): void {
  const problem = rangeProblem(rule, n, unit, scale);
  if (problem) throw new TimerConfigError(key, raw, problem);
}

/**
 * Delay before the next login attempt after `failures` failed ones (1 = after the first failure):
 * exponential from backoffBaseMs, factor 2, capped at backoffCapMs, with "equal jitter" (between half and
 * all of it) so that many sessions that failed together do not log in together. `random` returns [0, 1).
 */
export function loginBackoffMs(failures: number, timers: SessionTimers, random: () => number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 52);
  const ceiling = Math.min(timers.backoffCapMs, timers.backoffBaseMs * 2 ** exponent);
  const r = Math.min(Math.max(random(), 0), 1);
  return ceiling / 2 + (ceiling / 2) * r;
}

/** Milliseconds left of a `durationMs` timer started at `startedAt`, never negative. */
export function remainingMs(startedAt: number, durationMs: number, now: number): number {
  return Math.max(0, startedAt + durationMs - now);
}
