/** BufferPool: READ reply buffers by power-of-2 size class, reused after the reply is flushed, bounded in bytes. */
import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/nbd/buffer-pool.js';

describe('BufferPool', () => {
  it('hands back a buffer of the size class and reuses what is returned', () => {
    const p = new BufferPool();
    const a = p.get(128 * 1024);
    expect(a.length).toBe(128 * 1024);
    expect(p.get(5000).length).toBe(8192);
    expect(p.get(1).length).toBe(4096);
    p.put(a);
    expect(p.get(100_000)).toBe(a);
    expect(p.get(100_000)).not.toBe(a);
  });

  it('does not pool buffers above maxBuffer, foreign sizes, or beyond maxPooledBytes', () => {
    const p = new BufferPool(16384, 8192);
    const big = p.get(9000);
    expect(big.length).toBe(9000);
    p.put(big);
    expect(p.get(9000)).not.toBe(big);
    p.put(Buffer.alloc(5000)); // not a size class
    expect(p.get(5000).length).toBe(8192);
    const [x, y, z] = [p.get(8192), p.get(8192), p.get(8192)];
    p.put(x);
    p.put(y);
    p.put(z); // over 16 KiB idle: dropped
    expect(new Set([p.get(8192), p.get(8192)])).toEqual(new Set([x, y]));
    expect(p.get(8192)).not.toBe(z);
  });
});
