/** The NBD server of mpiscsi (NetworkBlockDevice/nbd doc/proto.md): constants, codec, errno mapping, server. */
export * from './constants.js';
export * from './codec.js';
export { ByteQueue } from './byte-queue.js';
export { BufferPool } from './buffer-pool.js';
export { NbdProtocolError, NbdRequestError, NbdShutdownError, nbdErrno } from './errors.js';
export { NbdConnection, blockSizes, transmissionFlags, type ExportEntry, type ConnectionLimits } from './connection.js';
export { NbdServer, type NbdServerOptions, type ExportOptions, type ListenOptions, type ListeningAddresses } from './server.js';
