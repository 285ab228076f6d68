/** mpiscsi's public API: one export list (STYLE.md). Codec layers are exported as namespaces to keep names apart. */
export * as iscsi from './iscsi/index.js';
export * as scsi from './scsi/index.js';
export { LoginError, ProtocolError, DigestError, TransportError, TaskAbortedError, ReplacementTimeoutError } from './iscsi/errors.js';
export { CheckConditionError, ScsiStatusError, ScsiParseError } from './scsi/errors.js';
export { Connection, connectTcp, type ConnectOptions, type ConnectionStats } from './session/connection.js';
export { Session, type SessionSetup, type SessionWireEvent, type TaskHandle } from './session/session.js';
export { openSession, discoverTargets, type OpenSessionOptions, type OpenedSession, type DiscoverOptions } from './session/open.js';
export { ManagedSession, readIdentity, type ManagedSessionOptions, type LuIdentity } from './session/managed-session.js';
export { Lun, executeScsi, readCapacity, inquiryData, listLuns, type ScsiExecutor, type ExecuteOptions } from './session/lun.js';
export { parseIscsiUrl, redact, type IscsiUrl } from './session/url.js';
export { defaultInitiatorName, randomIsid } from './session/identity.js';
export type { ScsiCommandRequest, ScsiResult } from './session/types.js';
export * as machines from '../machines/index.js';
export * as multipath from './multipath/index.js';
export * as nbd from './nbd/index.js';
export { ScsiBlockDevice, type ScsiBlockDeviceOptions } from './session/scsi-block-device.js';
export type { BlockDevice, BlockDeviceInfo } from './session/block-device.js';
export { LoginPacer } from './session/login-pacer.js';
export { TickClock } from './session/tick-clock.js';
export { systemClock, type Clock } from './session/clock.js';
export { startServe, type ServeOptions, type RunningServe } from './cli/serve.js';
export {
  KvStore,
  StoreConflictError,
  openStore,
  type RecordStore,
  type RecordUpdate,
  type KvStoreOptions,
  type OpenStoreOptions,
  type OpenedStore,
} from './db/index.js';
export * as telemetry from './telemetry/index.js';
export * as control from './control/index.js';
export {
  ControlClient,
  ControlError,
  ControlDecodeError,
  startControlService,
  natsConnectionOptions,
  type ControlApi,
  type HostEvent,
  type NatsSettings,
  type RunningControlService,
  type ControlServiceOptions,
  type ControlClientOptions,
} from './control/index.js';
