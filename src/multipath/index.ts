/** Multipath (dm-multipath's job): public exports of src/multipath/. */
export {
  MultipathDevice,
  type AddPathOptions,
  type MultipathDeviceOptions,
  type MultipathEvent,
  type MultipathPathStatus,
  type MultipathStatus,
  type PathStats,
  type PathTransport,
  type ProbeTarget,
} from './device.js';
export { PathManager, aliasSuffix, type PathManagerOptions } from './manager.js';
export {
  DEFAULT_MULTIPATH_CONFIG,
  MULTIPATH_SETTING_KEYS,
  mergeMultipathConfig,
  multipathSettings,
  validateMultipathConfig,
  type MultipathConfig,
} from './config.js';
export { aluaPriority, aluaState, identifyPath, readWwid, serialWwid, type PathIdentity } from './identity.js';
export {
  createSelector,
  PATH_SELECTOR_NAMES,
  QueueLengthSelector,
  RoundRobinSelector,
  ServiceTimeSelector,
  type PathSelector,
  type PathSelectorName,
  type SelectablePath,
} from './selectors.js';
export { LatencyWindow } from './latency.js';
export { formatSize, formatTopology } from './topology.js';
export { describeGate, describeGaveUp, describeNoPath } from './describe.js';
