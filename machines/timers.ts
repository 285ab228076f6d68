/**
 * Session and connection timer values in milliseconds, derived from open-iscsi node record keys (seconds)
 * with open-iscsi's defaults (reference/open-iscsi.md "node.session", "node.conn[0]"; RFC 7143 §13.15 for
 * DefaultTime2Wait), plus the pure backoff and remaining-time arithmetic the statecharts use. Each key's
 * unit, range and default is its entry in the settings table (src/settings/records.ts), which the record
 * checks read too: a value `-o update` stores is one a login accepts, and the reverse.
 */
import { NODE_SETTINGS, seconds, type Setting, type ValueType } from '../src/settings/index.js';

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

type RecordTimer = keyof typeof TIMER_RECORD_KEYS;

/** The settings-table entry of each timer read from a record. */
const SETTINGS = Object.fromEntries(
  Object.entries(TIMER_RECORD_KEYS).map(([field, key]) => {
    const setting = NODE_SETTINGS.get(key);
    // The table and this list name the same keys; a typo in either must fail at load, not at a login.
    if (!setting) throw new Error(`timer key ${key} is not in the settings table`);
    return [field, setting as Setting<number>];
  }),
) as Record<RecordTimer, Setting<number>>;

/** Our backoff (no open-iscsi key): a positive duration, checked in ms like the others. */
const BACKOFF: ValueType<number> = seconds({ min: 0, minExclusive: true });

/** Each field's rule: the settings table's for record keys, ours for the backoff. */
const RULES: { readonly [K in keyof SessionTimers]: ValueType<number> } = {
  ...(Object.fromEntries(Object.entries(SETTINGS).map(([field, s]) => [field, s.type])) as Record<RecordTimer, ValueType<number>>),
  backoffBaseMs: BACKOFF,
  backoffCapMs: BACKOFF,
};

/** The settings table's default of a record timer, in the field's unit (ms or a count). */
function defaultOf(field: RecordTimer): number {
  const r = SETTINGS[field].type.read(SETTINGS[field].default);
  if (!r.ok) throw new Error(`default of ${SETTINGS[field].key} breaks its rule: ${r.problem}`);
  return r.value;
}

/** open-iscsi's defaults (iscsid.conf values where they differ from the code), from the settings table; ms. */
export const DEFAULT_SESSION_TIMERS: Readonly<SessionTimers> = Object.freeze({
  ...(Object.fromEntries(Object.keys(TIMER_RECORD_KEYS).map((f) => [f, defaultOf(f as RecordTimer)])) as Record<RecordTimer, number>),
  backoffBaseMs: 250,
  backoffCapMs: 30_000,
});

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
export function timersFromNodeRecord(record: Readonly<Record<string, string>>, overrides: Partial<SessionTimers> = {}): SessionTimers {
  const timers: SessionTimers = { ...DEFAULT_SESSION_TIMERS };
  for (const [field, setting] of Object.entries(SETTINGS) as [RecordTimer, Setting<number>][]) {
    const raw = record[setting.key];
    if (raw === undefined || raw.trim() === '') continue;
    const r = setting.type.read(raw);
    if (!r.ok) throw new TimerConfigError(setting.key, raw, r.problem);
    timers[field] = r.value;
  }
  return validateTimers({ ...timers, ...overrides });
}

/** Why `patch` cannot be applied: unknown fields are refused (a typo must not pass silently), values checked. */
export function timerPatchProblem(patch: Partial<SessionTimers>): TimerConfigError | undefined {
  for (const [field, value] of Object.entries(patch)) {
    if (!(field in RULES)) return new TimerConfigError(field, value, 'unknown timer');
    if (value === undefined) continue;
    const why = RULES[field as keyof SessionTimers].check(value);
    if (why) return new TimerConfigError(field, value, why);
  }
  return undefined;
}

/** Checks every field of a complete SessionTimers (milliseconds); returns it, or throws TimerConfigError. */
export function validateTimers(timers: SessionTimers): SessionTimers {
  for (const field of Object.keys(RULES) as (keyof SessionTimers)[]) {
    const why = RULES[field].check(timers[field]);
    if (why) throw new TimerConfigError(field, timers[field], why);
  }
  return timers;
}

/** `base` with `patch` applied, validated; unknown fields are refused. Throws TimerConfigError. */
export function mergeTimers(base: SessionTimers, patch: Partial<SessionTimers>): SessionTimers {
  const problem = timerPatchProblem(patch);
  if (problem) throw problem;
  const merged = { ...base };
  for (const [field, value] of Object.entries(patch) as [keyof SessionTimers, number | undefined][]) {
    if (value !== undefined) merged[field] = value;
  }
  return validateTimers(merged);
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
