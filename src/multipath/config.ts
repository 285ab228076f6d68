/**
 * A multipath device's settings: the path-group machine's (path_grouping_policy, failback, no_path_retry,
 * polling_interval) plus the data path's (path_selector, rr_min_io_rq, fast detection, checker timeout),
 * with multipath.conf names and units for `--set KEY=VALUE` (seconds, fractions allowed).
 */
import {
  DEFAULT_PATH_GROUP_CONFIG,
  PathGroupConfigError,
  validatePathGroupConfig,
  type Failback,
  type GroupingPolicy,
  type NoPathRetry,
  type PathGroupConfig,
} from '../../machines/path-group.machine.js';
import { PATH_SELECTOR_NAMES, type PathSelectorName } from './selectors.js';
import { parseDecimal } from '../../machines/timer-values.js';

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

export const DEFAULT_MULTIPATH_CONFIG: Readonly<MultipathConfig> = Object.freeze({
  ...DEFAULT_PATH_GROUP_CONFIG,
  pathSelector: 'service-time',
  rrMinIoRq: 1,
  checkerTimeoutMs: 5_000,
  stallFloorMs: 100,
  stallFactor: 10,
  probeTimeoutMs: 400,
  stallSweepMs: 25,
  maxReissues: 16,
});

const positive = (name: string, v: number, integer = false): void => {
  if (!(Number.isFinite(v) && v > 0) || (integer && !Number.isInteger(v))) throw new PathGroupConfigError(`${name} must be ${integer ? 'a positive integer' : '> 0'}, got ${v}`);
};

/** Checks every field; throws PathGroupConfigError naming the first bad one. */
export function validateMultipathConfig(c: MultipathConfig): MultipathConfig {
  validatePathGroupConfig(c);
  if (!PATH_SELECTOR_NAMES.includes(c.pathSelector)) throw new PathGroupConfigError(`path_selector '${String(c.pathSelector)}' is not one of ${PATH_SELECTOR_NAMES.join(', ')}`);
  positive('rr_min_io_rq', c.rrMinIoRq, true);
  positive('checker_timeout', c.checkerTimeoutMs);
  if (!(c.stallFloorMs >= 0)) throw new PathGroupConfigError(`stall floor must be >= 0, got ${c.stallFloorMs}`);
  positive('stall factor', c.stallFactor);
  positive('probe timeout', c.probeTimeoutMs);
  positive('stall sweep', c.stallSweepMs);
  if (!(Number.isInteger(c.maxReissues) && c.maxReissues >= 0)) throw new PathGroupConfigError(`max reissues must be an integer >= 0, got ${c.maxReissues}`);
  return c;
}

export function mergeMultipathConfig(base: MultipathConfig, patch: Partial<MultipathConfig> = {}): MultipathConfig {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<MultipathConfig>;
  return validateMultipathConfig({ ...base, ...defined });
}

/** multipath.conf keys accepted by `multipathSettings` (and `mpiscsi serve --set`). */
export const MULTIPATH_SETTING_KEYS = [
  'path_selector',
  'path_grouping_policy',
  'failback',
  'no_path_retry',
  'polling_interval',
  'rr_min_io_rq',
  'checker_timeout',
  'fast_io_fail_tmo',
] as const;

const seconds = (key: string, v: string): number => {
  const n = parseDecimal(v);
  if (n === undefined || n <= 0) throw new PathGroupConfigError(`${key} ${v}: expected seconds > 0`);
  return Math.round(n * 1000);
};

/**
 * Settings by their multipath.conf names and values, e.g. `{ path_selector: 'round-robin 0', failback:
 * '10', no_path_retry: 'queue', polling_interval: '0.5' }`. Durations are seconds (fractions allowed).
 * Unknown keys throw.
 */
export function multipathSettings(settings: Readonly<Record<string, string>>): Partial<MultipathConfig> {
  const out: Partial<MultipathConfig> = {};
  for (const [key, raw] of Object.entries(settings)) {
    const v = raw.trim();
    switch (key) {
      case 'path_selector': {
        // 'service-time 0': the selector name and its argument count.
        const name = v.replace(/^"|"$/g, '').split(/\s+/)[0];
        if (!PATH_SELECTOR_NAMES.includes(name as PathSelectorName)) throw new PathGroupConfigError(`path_selector '${v}' is not one of ${PATH_SELECTOR_NAMES.join(', ')}`);
        out.pathSelector = name as PathSelectorName;
        break;
      }
      case 'path_grouping_policy':
        if (!['failover', 'multibus', 'group_by_prio'].includes(v)) throw new PathGroupConfigError(`path_grouping_policy '${v}' is not failover, multibus or group_by_prio`);
        out.pathGroupingPolicy = v as GroupingPolicy;
        break;
      case 'failback':
        out.failback = (['manual', 'immediate', 'followover'].includes(v) ? v : seconds(key, v)) as Failback;
        break;
      case 'no_path_retry': {
        if (v === 'fail' || v === 'queue') out.noPathRetry = v;
        else {
          const n = parseDecimal(v);
          if (!(n !== undefined && Number.isInteger(n) && n > 0)) throw new PathGroupConfigError(`no_path_retry '${v}' is not fail, queue or a count > 0`);
          out.noPathRetry = n as NoPathRetry;
        }
        break;
      }
      case 'polling_interval':
        out.pollingIntervalMs = seconds(key, v);
        break;
      case 'checker_timeout':
        out.checkerTimeoutMs = seconds(key, v);
        break;
      case 'fast_io_fail_tmo': {
        // multipath.conf: "off" or seconds; 0 = no hold for a recovering path (ours takes fractions too).
        if (v === 'off') out.fastIoFailTmoMs = 'off';
        else {
          const n = parseDecimal(v);
          if (n === undefined || n < 0) throw new PathGroupConfigError(`fast_io_fail_tmo '${v}' is not off or seconds >= 0`);
          out.fastIoFailTmoMs = Math.round(n * 1000);
        }
        break;
      }
      case 'rr_min_io_rq': {
        const n = parseDecimal(v);
        if (!(n !== undefined && Number.isInteger(n) && n > 0)) throw new PathGroupConfigError(`rr_min_io_rq '${v}' is not a positive integer`);
        out.rrMinIoRq = n;
        break;
      }
      default:
        throw new PathGroupConfigError(`unknown multipath setting '${key}' (known: ${MULTIPATH_SETTING_KEYS.join(', ')})`);
    }
  }
  return out;
}
