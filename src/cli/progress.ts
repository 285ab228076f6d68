/**
 * dd's progress on stderr (bytes, MB/s, ETA), at most every 100 ms: one line redrawn in place on a TTY, or,
 * with `lines`, one line per update on anything else (a log, a pipe a test reads); silent otherwise.
 */

export class Progress {
  private last = 0;
  /** A redrawn line is on the terminal, not ended yet. */
  private open = false;
  private readonly start = performance.now();
  private readonly mode: 'tty' | 'lines' | 'off';

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    lines = false,
  ) {
    this.mode = stream.isTTY ? 'tty' : lines ? 'lines' : 'off';
  }

  update(done: number): void {
    if (this.mode === 'off') return;
    const now = performance.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = 30;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const filled = Math.round(frac * width);
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? formatDuration((this.total - done) / rate) : '--:--';
    const text =
      `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1).padStart(5)}% ` +
      `${formatBytes(done)} / ${formatBytes(this.total)} ${(rate / 1e6).toFixed(1)} MB/s ETA ${eta}`;
    this.stream.write(this.mode === 'tty' ? `\r${text}\x1b[K` : `${text}\n`); // ESC [K: erase a longer line's tail
    this.open = this.mode === 'tty';
  }

  /** Ends the redrawn line, so that what follows (a message, the summary) starts on its own; the next update redraws below. */
  finish(): void {
    if (this.open) this.stream.write('\n');
    this.open = false;
  }
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  let v = n;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

/** m:ss, or h:mm:ss from an hour. */
function formatDuration(seconds: number): string {
  const s = Math.ceil(seconds);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}
