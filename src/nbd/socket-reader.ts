/**
 * Reads an accepted NBD socket into one reused buffer (or straight into a WRITE's payload) instead of a fresh
 * 64 KiB buffer per read.
 *
 * Node 20 takes `onread` only for sockets it connects (net.connect, new net.Socket); a server's accepted
 * sockets always read into a new ArrayBuffer per read, which under small I/O is an allocation and an
 * external-memory sweep per request and under 128 KiB writes drives V8's external-memory mark-compacts. So the
 * server accepts paused (`pauseOnConnect`) and hands the accepted handle to a new Socket made with `onread`,
 * the way the iSCSI side connects (src/session/connection.ts). Where the handle cannot take a user buffer the
 * accepted socket is used as it is, with 'data' events.
 */
import { Socket, type SocketConstructorOpts } from 'node:net';
import { attachReader, userBufferReads } from '../session/socket-reader.js';

/** One receive buffer for all connections: each read is handled (and what is kept copied) before the next. */
const RECV_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

interface AcceptedSocket extends Socket {
  _handle?: { useUserBuffer?: unknown } | null;
  _server?: unknown;
  server?: unknown;
}

/**
 * The socket to serve an accepted (paused) connection on: a new Socket with `onread` over the same handle,
 * carrying a SocketReader (readerOf in src/session/socket-reader.ts); or `accepted` itself, resumed, when that
 * cannot be done.
 */
export function adoptAccepted(accepted: Socket, allowHalfOpen: boolean): Socket {
  const a = accepted as AcceptedSocket;
  const handle = a._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function') {
    accepted.resume();
    return accepted;
  }
  // The accepted Socket lets go of the handle and of the server's connection count; the new one takes both,
  // so server.close() still waits for this connection and counts it once.
  const server = a._server;
  a._handle = null;
  a._server = null;
  a.server = null;
  const { reader, onread } = userBufferReads(RECV_BUFFER);
  // `handle` is how net.Server itself makes accepted sockets; Node's types leave it out.
  const socket = new Socket({
    handle,
    allowHalfOpen,
    readable: true,
    writable: true,
    onread,
  } as SocketConstructorOpts) as AcceptedSocket;
  socket._server = server;
  socket.server = server;
  attachReader(socket, reader);
  return socket;
}

/** The ArrayBuffer behind the shared receive buffer: chunks on it must be copied to be kept. */
export const RECV_ARRAY_BUFFER: ArrayBufferLike = RECV_BUFFER.buffer;
