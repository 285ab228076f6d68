/**
 * Busy polling at low queue depth: after a socket read, while few SCSI commands are outstanding, the event loop
 * keeps turning (epoll with a zero timeout) for a short window instead of going to sleep, so the next reply
 * from the target, or the next request from an NBD client, is read as it arrives instead of after a wakeup.
 *
 * Why: at one command in flight every I/O is a chain of hand-offs (client -> us -> target -> us -> client),
 * and each time our thread has gone to sleep, the kernel has to wake it (on a VM an inter-processor interrupt
 * through the hypervisor, the `_raw_spin_unlock_irqrestore` and `finish_task_switch` that `perf record` shows
 * as half of the export's CPU time at queue depth 1). QEMU's AioContext polls the same way before it blocks
 * (`poll-max-ns`), as does Linux's `net.core.busy_poll` for sockets. The price is CPU: a core stays busy while
 * I/O trickles at low depth, up to `windowUs` after the last read, and none when the export is idle. At
 * higher depth completions arrive back to back and the loop seldom sleeps anyway, so polling would only take
 * CPU the target and the client need: above `maxDepth` outstanding commands it stops.
 *
 * Process-wide, as the event loop is: configured once at start (`mpiscsi serve --busy-poll`, mpiscsid.conf
 * `busy_poll`), off (0) unless configured. Timers here are the mechanism, not a timeout anyone waits for, so
 * they use the real setImmediate and performance.now taken at load: fake timers in a test neither drive nor
 * stall it. Only sockets read through userBufferReads (socket-reader.ts) start it; a socket that fell back to
 * 'data' events does not.
 */

import { DEFAULT_BUSY_POLL_US, MAX_BUSY_POLL_US } from '../settings/daemon.js';

export { MAX_BUSY_POLL_US };

const realSetImmediate = setImmediate;
const realNow = performance.now.bind(performance);

export interface BusyPollOptions {
  /** How long after the last read the loop keeps polling, in µs; 0 turns polling off. */
  windowUs: number;
  /** Poll only while at most this many SCSI commands are outstanding (over every session). */
  maxDepth: number;
}

const DEFAULT_MAX_DEPTH = 4;

/** Defaults for `mpiscsi serve`, `mpiscsi perf` and mpiscsid (the library's own default is off). */
export const DEFAULT_BUSY_POLL: Readonly<BusyPollOptions> = Object.freeze({ windowUs: DEFAULT_BUSY_POLL_US, maxDepth: DEFAULT_MAX_DEPTH });

let windowMs = 0;
let maxDepth = 0;
/** SCSI commands a session has taken and not yet finished (sent, or waiting for the CmdSN window), over every session. */
let outstanding = 0;
let lastRead = 0;
let spinning = false;

function spin(): void {
  if (outstanding <= maxDepth && realNow() - lastRead < windowMs) realSetImmediate(spin);
  else spinning = false;
}

/**
 * Sets the process's polling; windowUs 0 turns it off, maxDepth defaults to DEFAULT_BUSY_POLL's. Throws
 * RangeError for values out of range.
 */
export function configureBusyPoll(opts: { windowUs: number; maxDepth?: number }): void {
  const depth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(opts.windowUs) || opts.windowUs < 0 || opts.windowUs > MAX_BUSY_POLL_US)
    throw new RangeError(`busy poll window must be 0..${MAX_BUSY_POLL_US} µs, got ${opts.windowUs}`);
  if (!Number.isInteger(depth) || depth < 0) throw new RangeError(`busy poll depth must be 0 or more, got ${depth}`);
  windowMs = opts.windowUs / 1000;
  maxDepth = depth;
}

/** The process's polling as configured. */
export function busyPoll(): BusyPollOptions {
  return { windowUs: Math.round(windowMs * 1000), maxDepth };
}

/** The process's polling in words, for logs: "busy poll 100 µs while at most 4 commands are outstanding". */
export function describeBusyPoll(): string {
  return windowMs === 0 ? 'busy poll off' : `busy poll ${busyPoll().windowUs} µs while at most ${maxDepth} commands are outstanding`;
}

/** A socket read was handled: poll on for the window if few commands are outstanding. */
export function readHappened(): void {
  if (windowMs === 0 || outstanding > maxDepth) return;
  lastRead = realNow();
  if (spinning) return;
  spinning = true;
  realSetImmediate(spin);
}

/** `n` SCSI commands were taken by a session (n > 0) or answered, failed or dropped (n < 0). */
export function commandsOutstanding(n: number): void {
  outstanding += n;
}

/** The loop is polling now (a read within the window, at low depth). */
export function isPolling(): boolean {
  return spinning;
}

/** Commands outstanding over every session. */
export function outstandingCommands(): number {
  return outstanding;
}
