/**
 * A multipath device's settings: the path-group machine's (path_grouping_policy, failback, no_path_retry,
 * polling_interval) plus the data path's (path_selector, rr_min_io_rq, fast detection, checker timeout),
 * with multipath.conf names and units for `--set KEY=VALUE` (seconds, fractions allowed). Each key's type,
 * range and default is its entry in the settings table (src/settings/multipath.ts); this module maps keys to
 * MultipathConfig fields.
 */
import {
  DEFAULT_PATH_GROUP_CONFIG,
  PathGroupConfigError,
  validatePathGroupConfig,
  type PathGroupConfig,
} from '../../machines/path-group.machine.js';
import type { PathSelectorName } from './selectors.js';
import { MULTIPATH_KEYS, MULTIPATH_SETTINGS } from '../settings/index.js';

export interface MultipathConfig extends PathGroupConfig {
  /** path_selector. Default 'service-time' (multipath-tools' default). */
  pathSelector: PathSelectorName;
  /** rr_min_io_rq: I/Os per path before round-robin moves on. Default 1. */
  rrMinIoRq: number;
  /** TEST UNIT READY of the path checker fails after this long (checker_timeout). Default 5000 ms. */
  checkerTimeoutMs: number;
  /**
   * Fast detection: an I/O outstanding longer than max(stallFloorMs, stallFactor x the path's p99 latency)
   * triggers a NOP-Out probe; no answer within probeTimeoutMs fails the path at once. Defaults 100 ms, 10,
   * 400 ms; stallFloorMs 0 disables it.
   */
  stallFloorMs: number;
  stallFactor: number;
  probeTimeoutMs: number;
  /** How often outstanding I/Os are looked at for stalls. Default 25 ms. */
  stallSweepMs: number;
  /** Times one I/O may be re-issued after path failures before it fails (EIO). Default 16. */
  maxReissues: number;
}

/** The MultipathConfig field each multipath.conf key sets (its value as the setting reads it: ms for seconds). */
export const MULTIPATH_FIELDS = {
  path_selector: 'pathSelector',
  path_grouping_policy: 'pathGroupingPolicy',
  failback: 'failback',
  no_path_retry: 'noPathRetry',
  polling_interval: 'pollingIntervalMs',
  rr_min_io_rq: 'rrMinIoRq',
  checker_timeout: 'checkerTimeoutMs',
  fast_io_fail_tmo: 'fastIoFailTmoMs',
} as const satisfies Record<string, keyof MultipathConfig>;

/** multipath.conf keys accepted by `multipathSettings` (and `mpiscsi serve --set`): the settings table's. */
export const MULTIPATH_SETTING_KEYS: readonly string[] = MULTIPATH_KEYS;

/**
 * Settings by their multipath.conf names and values, e.g. `{ path_selector: 'round-robin 0', failback:
 * '10', no_path_retry: 'queue', polling_interval: '0.5' }`. Durations are seconds (fractions allowed; "0x10"
 * and "1e3" are not numbers). Unknown keys and bad values throw PathGroupConfigError naming key and value.
 */
export function multipathSettings(settings: Readonly<Record<string, string>>): Partial<MultipathConfig> {
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(settings)) {
    const setting = MULTIPATH_SETTINGS.get(key);
    const field = (MULTIPATH_FIELDS as Record<string, keyof MultipathConfig>)[key];
    if (!setting || !field)
      throw new PathGroupConfigError(`unknown multipath setting '${key}' (known: ${MULTIPATH_SETTING_KEYS.join(', ')})`);
    const r = setting.type.read(raw);
    if (!r.ok) throw new PathGroupConfigError(`${key} '${raw.trim()}': ${r.problem} (${setting.type.rule})`);
    out[field] = r.value;
  }
  return out as Partial<MultipathConfig>;
}

/** The table's defaults, read as the settings are. */
const TABLE_DEFAULTS = multipathSettings(Object.fromEntries([...MULTIPATH_SETTINGS.values()].map((s) => [s.key, s.default])));

export const DEFAULT_MULTIPATH_CONFIG: Readonly<MultipathConfig> = Object.freeze({
  ...DEFAULT_PATH_GROUP_CONFIG,
  ...(TABLE_DEFAULTS as Pick<MultipathConfig, 'pathSelector' | 'rrMinIoRq' | 'checkerTimeoutMs'>),
  stallFloorMs: 100,
  stallFactor: 10,
  probeTimeoutMs: 400,
  stallSweepMs: 25,
  maxReissues: 16,
});

const positive = (name: string, v: number): void => {
  if (!(Number.isFinite(v) && v > 0)) throw new PathGroupConfigError(`${name} must be > 0, got ${v}`);
};

/** Checks every field; throws PathGroupConfigError naming the first bad one. */
export function validateMultipathConfig(c: MultipathConfig): MultipathConfig {
  validatePathGroupConfig(c);
  // The fields a multipath.conf key sets obey that key's rule (the path-group machine checked its own).
  for (const key of ['path_selector', 'rr_min_io_rq', 'checker_timeout'] as const) {
    const value = c[MULTIPATH_FIELDS[key]];
    const why = MULTIPATH_SETTINGS.get(key)!.type.check(value);
    if (why) throw new PathGroupConfigError(`${key} ${String(value)}: ${why}`);
  }
  if (!(c.stallFloorMs >= 0)) throw new PathGroupConfigError(`stall floor must be >= 0, got ${c.stallFloorMs}`);
  positive('stall factor', c.stallFactor);
  positive('probe timeout', c.probeTimeoutMs);
  positive('stall sweep', c.stallSweepMs);
  if (!(Number.isInteger(c.maxReissues) && c.maxReissues >= 0))
    throw new PathGroupConfigError(`max reissues must be an integer >= 0, got ${c.maxReissues}`);
  return c;
}

export function mergeMultipathConfig(base: MultipathConfig, patch: Partial<MultipathConfig> = {}): MultipathConfig {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<MultipathConfig>;
  return validateMultipathConfig({ ...base, ...defined });
}
