/** A one-line progress bar for terminals (dd), silent when stderr is not a TTY. */

export class Progress {
  private last = 0;
  private readonly start = performance.now();
  private readonly enabled: boolean;

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.enabled = Boolean(stream.isTTY);
  }

  update(done: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < 100 && done < this.total) return;
    this.last = now;
    const width = 30;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const filled = Math.round(frac * width);
    const secs = (now - this.start) / 1000;
    const rate = secs > 0 ? done / secs / 1e6 : 0;
    this.stream.write(
      `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1).padStart(5)}% ` +
        `${formatBytes(done)} / ${formatBytes(this.total)} ${rate.toFixed(1)} MB/s `,
    );
  }

  finish(): void {
    if (this.enabled) this.stream.write('\n');
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
