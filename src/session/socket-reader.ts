/**
 * Socket reads into one reused buffer, or straight into where the bytes are going (a Data-In's task buffer, an
 * NBD WRITE's payload), through Node's `onread` option instead of a fresh buffer per read.
 *
 * Node reads every socket on one thread and each read is handled (and what is kept of it copied) before the
 * next, so all sockets of one kind share one receive buffer (DESIGN.md: the data path avoids copies and
 * garbage). The iSCSI connection (connection.ts) and the NBD server's accepted sockets (src/nbd/socket-reader.ts)
 * both read this way, and each read may keep the event loop polling for the next (busy-poll.ts).
 */
import type { OnReadOpts, Socket } from 'node:net';
import { readHappened } from './busy-poll.js';

/** Where reads go, set by whoever owns the socket once it has one. */
export interface SocketReader {
  /** `chunk` (a view of the shared receive buffer, valid during this call only) was read. */
  handler: ((chunk: Buffer) => void) | undefined;
  /** Where the next read may go instead of the shared buffer, and what to call when `n` bytes went there. */
  target: (() => Buffer | undefined) | undefined;
  direct: ((n: number) => void) | undefined;
}

const READER = Symbol('mpiscsi.socketReader');

/**
 * A SocketReader with nothing set yet and the `onread` option that feeds it: reads go to `reader.target()`
 * when that gives a buffer, else into `shared`.
 */
export function userBufferReads(shared: Buffer): { reader: SocketReader; onread: OnReadOpts } {
  const reader: SocketReader = { handler: undefined, target: undefined, direct: undefined };
  const onread: OnReadOpts = {
    buffer: () => reader.target?.() ?? shared,
    callback: (n: number, buf: Uint8Array) => {
      if (buf === shared) reader.handler?.(shared.subarray(0, n));
      else reader.direct?.(n);
      readHappened();
      return true;
    },
  };
  return { reader, onread };
}

/** Keeps `reader` on the socket its `onread` was given to, for the socket's owner to find (readerOf). */
export function attachReader(socket: Socket, reader: SocketReader): void {
  (socket as Socket & { [READER]?: SocketReader })[READER] = reader;
}

/** The SocketReader of a socket made with userBufferReads' `onread`; undefined for one that emits 'data'. */
export function readerOf(socket: Socket): SocketReader | undefined {
  return (socket as Socket & { [READER]?: SocketReader })[READER];
}
