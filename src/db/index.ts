export * from './record.js';
export * from './node-record.js';
export {
  FileStore,
  KeyedMutex,
  DIR_MODE,
  FILE_MODE,
  portalDirName,
  parsePortalDir,
  parseAddrPort,
  linkName,
  parseLinkName,
  readTree,
} from './file-store.js';
export type { OpenIscsiTree } from './file-store.js';
export type { RecordStore, RecordUpdate, PortalKey, ImportResult } from './store.js';
export { KvStore, StoreConflictError, encodeKeyToken, decodeKeyToken, kvKeyOf, pathOfKvKey, isWrongRevision } from './kv-store.js';
export type { KvStoreOptions } from './kv-store.js';
export { openStore, parseNatsKvSpec, NATS_KV_SCHEME } from './open-store.js';
export type { OpenStoreOptions, OpenedStore } from './open-store.js';
