/**
 * The rule for each timer key of a node record (seconds or a count, its range), in one table that the
 * record checks (`-o update` and NATS node.update pass it to checkRecordValue), `--set` and the timers (timers.ts)
 * all read, so a value `-o update` stores is one a login accepts, and the reverse (issue 12's settings
 * table starts here). Durations may be fractions ("0.5") where the key is ours to time; DefaultTime2Wait
 * is an iSCSI key sent to the target and stays whole seconds (RFC 7143 §13.15).
 */

export interface TimerRule {
  /** Durations are seconds in the record (milliseconds in SessionTimers); counts are attempts. */
  unit: 'seconds' | 'count';
  /** Smallest value allowed (inclusive unless minExclusive); replacement_timeout alone may be negative. */
  min: number;
  max?: number;
  minExclusive?: boolean;
  /** Seconds that must be whole (a key negotiated with the target). */
  whole?: boolean;
}

/** Timer keys of a node record (open-iscsi spelling) and their rules. */
export const TIMER_VALUE_RULES: Readonly<Record<string, TimerRule>> = {
  'node.conn[0].timeo.noop_out_interval': { unit: 'seconds', min: 0 },
  'node.conn[0].timeo.noop_out_timeout': { unit: 'seconds', min: 0 },
  'node.conn[0].timeo.login_timeout': { unit: 'seconds', min: 0, minExclusive: true },
  'node.conn[0].timeo.auth_timeout': { unit: 'seconds', min: 0, minExclusive: true },
  'node.conn[0].timeo.logout_timeout': { unit: 'seconds', min: 0, minExclusive: true },
  'node.session.timeo.replacement_timeout': { unit: 'seconds', min: -Infinity },
  'node.session.err_timeo.abort_timeout': { unit: 'seconds', min: 0, minExclusive: true },
  'node.session.err_timeo.lu_reset_timeout': { unit: 'seconds', min: 0, minExclusive: true },
  'node.session.err_timeo.tgt_reset_timeout': { unit: 'seconds', min: 0, minExclusive: true },
  // RFC 7143 §13.15: DefaultTime2Wait is 0..3600 seconds.
  'node.session.iscsi.DefaultTime2Wait': { unit: 'seconds', min: 0, max: 3600, whole: true },
  'node.session.initial_login_retry_max': { unit: 'count', min: 0 },
  'node.session.reopen_max': { unit: 'count', min: 0 },
};

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

/**
 * A decimal number as settings are written ("5", "0.5", "-1"), or undefined. Not Number(): that takes "0x10",
 * "1e3", "Infinity" and " " (as 0), none of which a record or multipath.conf means.
 */
export function parseDecimal(text: string): number | undefined {
  const t = text.trim();
  return NUMBER.test(t) ? Number(t) : undefined;
}

/** Why `raw` cannot be the value of timer key `key` (a reason, without the key), or undefined. */
export function timerValueProblem(key: string, raw: string): string | undefined {
  const rule = TIMER_VALUE_RULES[key];
  if (!rule) return undefined;
  const n = parseDecimal(raw);
  if (n === undefined) return 'not a number';
  if ((rule.unit === 'count' || rule.whole) && !Number.isInteger(n)) return 'must be a whole number';
  return rangeProblem(rule, n, rule.unit === 'seconds' ? ' s' : '');
}

/** Why `n` (in the rule's unit) is out of the rule's range; bounds are shown times `scale` with `unit`. */
export function rangeProblem(rule: TimerRule, n: number, unit: string, scale = 1): string | undefined {
  const bound = (b: number) => (unit === '' ? b : b * scale);
  if (rule.minExclusive ? n <= rule.min : n < rule.min) return `must be ${rule.minExclusive ? 'above' : 'at least'} ${bound(rule.min)}${unit}`;
  if (rule.max !== undefined && n > rule.max) return `must be at most ${bound(rule.max)}${unit}`;
  return undefined;
}

/** The timer rules as the record checks take them (src/db/record-ops.ts checkRecordValue). */
export const TIMER_VALUE_CHECK = {
  owns: (key: string): boolean => key in TIMER_VALUE_RULES,
  problem: timerValueProblem,
};
