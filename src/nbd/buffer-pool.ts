/**
 * Reusable buffers for READ replies: a fresh 128 KiB Buffer costs a page fault per 4 KiB on first touch, so
 * buffers go back to the pool once their reply has been flushed to the socket, by power-of-2 size class.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  private pooledBytes = 0;

  constructor(
    /** Bytes the pool may keep idle. */
    private readonly maxPooledBytes = 64 * 1024 * 1024,
    /** Largest buffer pooled; larger requests get a fresh buffer. */
    private readonly maxBuffer = 4 * 1024 * 1024,
    private readonly minBuffer = 4096,
  ) {}

  /** A buffer of at least `length` bytes (contents unspecified). */
  get(length: number): Buffer {
    if (length > this.maxBuffer) return Buffer.allocUnsafeSlow(length);
    const size = this.sizeClass(length);
    const list = this.free.get(size);
    const b = list?.pop();
    if (b) {
      this.pooledBytes -= b.length;
      return b;
    }
    return Buffer.allocUnsafeSlow(size);
  }

  /** Gives back a buffer from `get` (its subarrays must no longer be in use). */
  put(b: Buffer): void {
    if (b.length > this.maxBuffer || b.length !== this.sizeClass(b.length)) return;
    if (this.pooledBytes + b.length > this.maxPooledBytes) return;
    const list = this.free.get(b.length);
    if (list) list.push(b);
    else this.free.set(b.length, [b]);
    this.pooledBytes += b.length;
  }

  private sizeClass(length: number): number {
    let s = this.minBuffer;
    while (s < length) s *= 2;
    return s;
  }
}
