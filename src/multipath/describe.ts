/** Device events in words, for log lines (`mpiscsi serve`, mpiscsid) and NATS event details. */
import type { MultipathEvent } from './device.js';

/** A path whose session gave up: its code (identity-changed, replacement-timeout...) and the facts. */
export const describeGaveUp = (e: Extract<MultipathEvent, { type: 'path.gaveUp' }>): string =>
  `path ${e.path} gave up (${e.code}): ${e.detail}`;

/**
 * A gate change in words: "I/O flowing (was failed)" rather than "gate failed -> open", which reads like a
 * failure when it is a device's first path becoming active.
 */
export const describeGate = (e: Extract<MultipathEvent, { type: 'gate' }>): string =>
  `${e.to === 'open' ? 'I/O flowing' : e.to === 'queueing' ? 'no usable path, queueing I/O' : `I/O ${e.to}`} (I/O gate, was ${e.from})`;

/** The no-usable-path line: what happens to I/O now, and why the hold before it ended. */
export function describeNoPath(e: Extract<MultipathEvent, { type: 'nopath' }>): string {
  const ended =
    e.why === 'fast-io-fail-tmo'
      ? `no path came back within the hold (${Math.round(e.heldMs ?? 0)} ms, fast_io_fail_tmo); `
      : e.why === 'no-path-can-return'
        ? `no path can come back after ${Math.round(e.heldMs ?? 0)} ms of holding; `
        : '';
  switch (e.to) {
    case 'holding':
      return `no usable path, holding I/O while ${e.paths.join(', ')} recover${e.paths.length === 1 ? 's' : ''} (${e.detail})`;
    case 'queueing':
      return `${ended}queueing I/O until a path returns (no_path_retry queue)`;
    case 'counting':
      return `${ended}queueing I/O for no_path_retry checker intervals`;
    case 'failing':
      return `${ended}failing I/O (no_path_retry ${e.from === 'counting' ? 'exhausted' : 'fail'})`;
    case 'serving':
      return `a path is back: I/O flowing (was ${e.from})`;
  }
}
