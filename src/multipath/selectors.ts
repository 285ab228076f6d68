/**
 * Path selectors within the active path group, as dm-multipath's (multipath.conf path_selector):
 * round-robin with rr_min_io_rq, queue-length (fewest I/Os in flight) and service-time (bytes in flight
 * over relative throughput). Plain code over counters the device keeps; one call per I/O.
 */
import { PATH_SELECTORS, type PathSelectorWord } from '../settings/index.js';

/** The names are the settings table's path_selector choices (src/settings/multipath.ts). */
export type PathSelectorName = PathSelectorWord;

export const PATH_SELECTOR_NAMES: readonly PathSelectorName[] = PATH_SELECTORS;

/** What a selector reads of a path. */
export interface SelectablePath {
  /** I/Os sent on the path and not yet completed. */
  readonly inFlight: number;
  /** Bytes of those I/Os (reads and writes). */
  readonly inFlightBytes: number;
  /** service-time: relative_throughput of the path (default 1). */
  readonly relativeThroughput: number;
}

export interface PathSelector {
  /** As `multipath -ll` prints it: the name and its argument count, e.g. 'service-time 0'. */
  readonly policy: string;
  /** Picks one of `paths` (non-empty, in group order) for an I/O of `bytes`; undefined only for an empty list. */
  select<P extends SelectablePath>(paths: readonly P[], bytes: number): P | undefined;
}

/**
 * round-robin: `rrMinIoRq` I/Os on a path, then the next one in group order (dm round-robin with
 * rr_min_io_rq, default 1).
 */
export class RoundRobinSelector implements PathSelector {
  readonly policy = 'round-robin 0';
  private current: SelectablePath | undefined;
  private used = 0;

  constructor(readonly rrMinIoRq = 1) {
    if (!(Number.isInteger(rrMinIoRq) && rrMinIoRq > 0)) throw new RangeError(`rr_min_io_rq must be a positive integer, got ${rrMinIoRq}`);
  }

  select<P extends SelectablePath>(paths: readonly P[], _bytes?: number): P | undefined {
    if (paths.length === 0) return undefined;
    const at = this.current === undefined ? -1 : paths.indexOf(this.current as P);
    if (at >= 0 && this.used < this.rrMinIoRq) {
      this.used++;
      return paths[at];
    }
    const next = paths[(at + 1) % paths.length];
    this.current = next;
    this.used = 1;
    return next;
  }
}

/**
 * Picks the path with the lowest cost; ties go to the first path after the last one chosen, so that equal
 * paths take turns (dm's selectors move the chosen path to the end of their list for the same effect).
 */
abstract class LeastCostSelector implements PathSelector {
  abstract readonly policy: string;
  private last: SelectablePath | undefined;

  protected abstract cost(path: SelectablePath, bytes: number): number;

  select<P extends SelectablePath>(paths: readonly P[], bytes: number): P | undefined {
    const n = paths.length;
    if (n === 0) return undefined;
    const start = this.last === undefined ? 0 : paths.indexOf(this.last as P) + 1;
    let best: P | undefined;
    let bestCost = Infinity;
    for (let k = 0; k < n; k++) {
      const p = paths[(start + k) % n];
      const c = this.cost(p, bytes);
      if (c < bestCost) {
        best = p;
        bestCost = c;
      }
    }
    this.last = best;
    return best;
  }
}

/** queue-length: the path with the fewest I/Os in flight. */
export class QueueLengthSelector extends LeastCostSelector {
  readonly policy = 'queue-length 0';
  protected cost(path: SelectablePath): number {
    return path.inFlight;
  }
}

/**
 * service-time: the path whose bytes in flight, this I/O included, divided by its relative throughput are
 * smallest: the estimate of when this I/O would complete (dm-service-time).
 */
export class ServiceTimeSelector extends LeastCostSelector {
  readonly policy = 'service-time 0';
  protected cost(path: SelectablePath, bytes: number): number {
    const rt = path.relativeThroughput > 0 ? path.relativeThroughput : 1;
    return (path.inFlightBytes + bytes) / rt;
  }
}

export function createSelector(name: PathSelectorName, options: { rrMinIoRq?: number } = {}): PathSelector {
  switch (name) {
    case 'round-robin':
      return new RoundRobinSelector(options.rrMinIoRq);
    case 'queue-length':
      return new QueueLengthSelector();
    case 'service-time':
      return new ServiceTimeSelector();
  }
}
