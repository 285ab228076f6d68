/**
 * mpiscsi's one settings table (issue 12): every node-record, iface, discovery, multipath and daemon key with
 * its unit, range, default, parser and whether it applies live. Record validation, `--set`, the daemon's
 * config file, the session timers and the multipath config all read their keys through it. Level 0: pure,
 * no node:* imports, importable from every layer including machines/.
 */
export { DAEMON_SETTINGS, DEFAULT_BUSY_POLL_US, HOST_ID_PATTERN, MAX_BUSY_POLL_US, MULTIPATH_PREFIX } from './daemon.js';
export {
  FAILBACK_WORDS,
  GROUPING_POLICIES,
  MULTIPATH_KEYS,
  MULTIPATH_SETTINGS,
  NO_PATH_RETRY_WORDS,
  PATH_SELECTORS,
  type GroupingPolicyName,
  type PathSelectorWord,
} from './multipath.js';
export {
  CHAP_ALGORITHM_NAMES,
  DISCOVERY_SETTINGS,
  IFACE_SETTINGS,
  ifaceFamily,
  ifaceKeyFamily,
  NODE_SETTINGS,
  NODE_SHOW_ORDER,
  type IfaceFamily,
} from './records.js';
export { readSetting, SettingError, settingProblem, table, type Setting, type SettingTable } from './setting.js';
export {
  choice,
  count,
  integer,
  parseDecimal,
  rangeProblem,
  refine,
  seconds,
  text,
  valueType,
  wordOr,
  yesNo,
  type Range,
  type Read,
  type Unit,
  type ValueType,
} from './values.js';
