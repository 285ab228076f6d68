export * from './record.js';
export * from './node-record.js';
export { FileStore, KeyedMutex, DIR_MODE, FILE_MODE, portalDirName, parsePortalDir, parseAddrPort, linkName, parseLinkName } from './file-store.js';
export type { PortalKey, ImportResult } from './file-store.js';
