/**
 * A FIFO of received bytes for the NBD stream decoders: chunks are kept as they arrived and joined only when a
 * message spans them, so a 32 MiB write payload is copied once, and a header inside one chunk not at all.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private head = 0;
  private total = 0;

  /** Bytes queued. */
  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** The first `n` bytes (n <= length) as one Buffer, without consuming them. */
  peek(n: number): Buffer {
    if (n > this.total) throw new RangeError(`peek(${n}) with ${this.total} bytes queued`);
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    // Join just the chunks that hold the n bytes, and keep the joined buffer in their place so a second
    // peek (the connection peeks a header, then takes it with its payload) does not copy again.
    const parts: Buffer[] = [];
    let have = 0;
    let i = 0;
    while (have < n) {
      const c = i === 0 ? first.subarray(this.head) : this.chunks[i];
      parts.push(c);
      have += c.length;
      i++;
    }
    const joined = Buffer.concat(parts, have);
    this.chunks.splice(0, i, joined);
    this.head = 0;
    return joined.subarray(0, n);
  }

  /** The first `n` bytes (n <= length) lie in one chunk: peek/take return them without a copy. */
  contiguous(n: number): boolean {
    return this.chunks.length > 0 && this.chunks[0].length - this.head >= n;
  }

  /** Removes the first `n` bytes (n <= length) into `dest` (of at least n bytes); returns that part of it. */
  takeInto(n: number, dest: Buffer): Buffer {
    if (n > this.total) throw new RangeError(`takeInto(${n}) with ${this.total} bytes queued`);
    if (dest.length < n) throw new RangeError(`takeInto(${n}) into ${dest.length} bytes`);
    let done = 0;
    while (done < n) {
      const c = this.chunks[0];
      const avail = c.length - this.head;
      const k = Math.min(avail, n - done);
      c.copy(dest, done, this.head, this.head + k);
      done += k;
      if (k === avail) {
        this.chunks.shift();
        this.head = 0;
      } else this.head += k;
    }
    this.total -= n;
    return dest.subarray(0, n);
  }

  /** Removes and returns the first `n` bytes (n <= length). */
  take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  /** Discards up to `n` bytes; returns how many were discarded. */
  skip(n: number): number {
    let left = Math.min(n, this.total);
    const done = left;
    while (left > 0) {
      const avail = this.chunks[0].length - this.head;
      if (avail > left) {
        this.head += left;
        left = 0;
      } else {
        this.chunks.shift();
        this.head = 0;
        left -= avail;
      }
    }
    this.total -= done;
    return done;
  }

  /** Replaces the queued chunks that are views of `backing` with copies (before `backing` is reused). */
  own(backing: ArrayBufferLike): void {
    for (let i = 0; i < this.chunks.length; i++) {
      const c = this.chunks[i];
      if (c.buffer !== backing) continue;
      const kept = i === 0 ? c.subarray(this.head) : c;
      this.chunks[i] = Buffer.from(kept);
      if (i === 0) this.head = 0;
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.total = 0;
  }
}
