/**
 * dd's progress, as nbdcopy gives it: on stderr (bytes, MB/s, ETA) at most every 100 ms, one line redrawn in
 * place on a TTY, or one line per update on anything else when forced (`--progress`: a log, a pipe); or,
 * with `--progress=FD`, nbdcopy's machine-readable `N/100` lines (N an integer 0-100) on file descriptor FD,
 * and nothing on stderr; or nothing (`--no-progress`, and by default when stderr is not a TTY).
 */
import { writeSync } from 'node:fs';

/**
 * `auto`: a bar on a TTY, silent otherwise (the default); `on`: a bar on a TTY, lines on anything else;
 * `off`: silent; a number: `N/100` lines on that file descriptor.
 */
export type ProgressMode = 'auto' | 'on' | 'off' | number;

export class Progress {
  private last = 0;
  /** The last percentage written to the file descriptor: a line only when it changes. */
  private lastPercent = -1;
  /** A redrawn line is on the terminal, not ended yet. */
  private open = false;
  private readonly start = performance.now();
  private readonly kind: 'tty' | 'lines' | 'fd' | 'off';

  constructor(
    private readonly total: number,
    private readonly mode: ProgressMode = 'auto',
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.kind = typeof mode === 'number' ? 'fd' : mode === 'off' ? 'off' : stream.isTTY ? 'tty' : mode === 'on' ? 'lines' : 'off';
    // nbdcopy writes 0/100 before the first byte moves: a reader knows the copy started.
    if (this.kind === 'fd') this.update(0);
  }

  update(done: number): void {
    if (this.kind === 'off') return;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    if (this.kind === 'fd') {
      // nbdcopy's format: an integer, truncated, so 100 only once every byte is there.
      const percent = Math.floor(frac * 100);
      if (percent === this.lastPercent) return;
      this.lastPercent = percent;
      // Synchronous, as nbdcopy's write(2): the lines are tiny and must be in order and complete at exit.
      writeSync(this.mode as number, `${percent}/100\n`);
      return;
    }
    const now = performance.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = 30;
    const filled = Math.round(frac * width);
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? done / secs : 0;
    const eta = rate > 0 ? formatDuration((this.total - done) / rate) : '--:--';
    const text =
      `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1).padStart(5)}% ` +
      `${formatBytes(done)} / ${formatBytes(this.total)} ${(rate / 1e6).toFixed(1)} MB/s ETA ${eta}`;
    this.stream.write(this.kind === 'tty' ? `\r${text}\x1b[K` : `${text}\n`); // ESC [K: erase a longer line's tail
    this.open = this.kind === 'tty';
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
