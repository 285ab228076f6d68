/**
 * multipath.conf settings a device takes (reference/nbd-and-multipath.md "dm-multipath"), by their
 * multipath.conf names, in multipath.conf's units (seconds, fractions allowed) and with multipath-tools'
 * defaults; ours (fast_io_fail_tmo's hold, checker_timeout of our TEST UNIT READY) where noted. Every one
 * applies live: `mpath.set_policy` reconfigures a running device.
 */
import type { Setting } from './setting.js';
import { table } from './setting.js';
import { choice, count, seconds, valueType, wordOr, type ValueType } from './values.js';

/** path_grouping_policy values: failover = one path per group, multibus = one group, group_by_prio = one per priority. */
export const GROUPING_POLICIES = ['failover', 'multibus', 'group_by_prio'] as const;
export type GroupingPolicyName = (typeof GROUPING_POLICIES)[number];

/** path_selector values (dm-multipath's selector modules). */
export const PATH_SELECTORS = ['round-robin', 'queue-length', 'service-time'] as const;
export type PathSelectorWord = (typeof PATH_SELECTORS)[number];

export const FAILBACK_WORDS = ['manual', 'immediate', 'followover'] as const;
export const NO_PATH_RETRY_WORDS = ['fail', 'queue'] as const;

/** 'service-time 0' or '"round-robin 0"': the selector's name and its argument count; the name is what counts. */
const pathSelector: ValueType<PathSelectorWord> = valueType({
  unit: 'choice',
  rule: `one of ${PATH_SELECTORS.join(', ')} (optionally with its argument count)`,
  options: PATH_SELECTORS,
  parse: (t) => {
    const name = t.replace(/^"|"$/g, '').split(/\s+/)[0] ?? '';
    return { value: name as PathSelectorWord, text: name };
  },
  check: (v) => ((PATH_SELECTORS as readonly unknown[]).includes(v) ? undefined : `not one of ${PATH_SELECTORS.join(', ')}`),
});

const live = <T>(key: string, type: ValueType<T>, def: string): Setting<T> => ({ key, type, default: def, live: true });

export const MULTIPATH_SETTINGS = table([
  live('path_selector', pathSelector, 'service-time'),
  live('path_grouping_policy', choice(GROUPING_POLICIES), 'failover'),
  // A number: seconds after the better group returns.
  live('failback', wordOr(FAILBACK_WORDS, seconds({ min: 0, minExclusive: true })), 'manual'),
  // A number: checker intervals (polling_interval) to queue before failing I/O.
  live('no_path_retry', wordOr(NO_PATH_RETRY_WORDS, count({ min: 1 })), 'fail'),
  live('polling_interval', seconds({ min: 0, minExclusive: true }), '5'),
  live('rr_min_io_rq', count({ min: 1 }), '1'),
  live('checker_timeout', seconds({ min: 0, minExclusive: true }), '5'),
  // Ours, after multipath-tools' name: "off" or seconds; 0 = no hold for a recovering path.
  live('fast_io_fail_tmo', wordOr(['off'] as const, seconds({ min: 0 })), '5'),
]);

/** multipath.conf keys a device takes, in table order. */
export const MULTIPATH_KEYS = [...MULTIPATH_SETTINGS.keys()];
