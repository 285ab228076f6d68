/**
 * A path's recent I/O latency: the last N completion times in a ring, and the percentile the stall
 * detector compares an outstanding I/O against (issue 4, fast detection beyond NOP timers).
 */

export class LatencyWindow {
  private readonly samples: Float64Array;
  private count = 0;
  private next = 0;

  constructor(readonly size = 256) {
    if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`latency window size must be a positive integer, got ${size}`);
    this.samples = new Float64Array(size);
  }

  /** Completions recorded so far (at most `size` are kept). */
  get length(): number {
    return this.count;
  }

  record(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.size;
    if (this.count < this.size) this.count++;
  }

  /** The q-quantile (0..1, nearest rank) of the kept samples; undefined before the first sample. */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const sorted = this.samples.slice(0, this.count).sort();
    const rank = Math.min(this.count - 1, Math.max(0, Math.ceil(q * this.count) - 1));
    return sorted[rank];
  }
}
