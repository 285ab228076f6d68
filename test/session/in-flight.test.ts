/** TagTable and InFlightList: the data path's per-I/O bookkeeping (src/session/in-flight.ts). */
import { describe, expect, it } from 'vitest';
import { InFlightList, TagTable, type InFlightLinks } from '../../src/session/in-flight.js';

describe('TagTable', () => {
  it('gives tags in 1..0x7fffffff, unique among those outstanding, and finds each value by its tag', () => {
    const t = new TagTable<string>();
    const tags = ['a', 'b', 'c'].map((v) => t.add(v));
    expect(new Set(tags).size).toBe(3);
    for (const tag of tags) {
      expect(tag).toBeGreaterThan(0);
      expect(tag).toBeLessThanOrEqual(0x7fffffff);
    }
    expect(tags.map((tag) => t.get(tag))).toEqual(['a', 'b', 'c']);
    expect(t.size).toBe(3);
  });

  it('a deleted tag finds nothing, also after its slot is reused by a later value', () => {
    const t = new TagTable<string>();
    const old = t.add('old');
    expect(t.delete(old)).toBe(true);
    expect(t.delete(old)).toBe(false);
    const next = t.add('new');
    expect(next).not.toBe(old);
    expect(next & 0xfffff).toBe(old & 0xfffff); // the same slot, another generation
    expect(t.get(old)).toBeUndefined();
    expect(t.delete(old)).toBe(false);
    expect(t.get(next)).toBe('new');
  });

  it('keeps a slot reused many times distinct from its earlier tags and within 31 bits', () => {
    const t = new TagTable<number>();
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const tag = t.add(i);
      expect(tag).toBeGreaterThan(0);
      expect(tag).toBeLessThanOrEqual(0x7fffffff);
      if (i < 2047) {
        expect(seen.has(tag)).toBe(false); // 2047 generations before a slot's tag comes round again
        seen.add(tag);
      }
      expect(t.get(tag)).toBe(i);
      t.delete(tag);
    }
    expect(t.size).toBe(0);
  });

  it('lists values in the order they were added, whatever slots they took, and clears', () => {
    const t = new TagTable<string>();
    const a = t.add('a');
    t.add('b');
    t.delete(a);
    t.add('c'); // takes a's slot
    t.add('d');
    expect(t.values()).toEqual(['b', 'c', 'd']);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.values()).toEqual([]);
    const e = t.add('e');
    expect(t.get(e)).toBe('e');
    expect(t.values()).toEqual(['e']);
  });

  it('ignores tags it never gave (a hostile or confused target): no value, no delete', () => {
    const t = new TagTable<string>();
    const tag = t.add('x');
    for (const bogus of [0, 1, 0xffffffff, 0x80000000, tag + 1, tag ^ (1 << 20), -1]) {
      expect(t.get(bogus)).toBeUndefined();
      expect(t.delete(bogus)).toBe(false);
    }
    expect(t.size).toBe(1);
  });
});

interface Item extends InFlightLinks<Item> {
  id: number;
}
const item = (id: number): Item => ({ id, flightPrev: undefined, flightNext: undefined, flightList: undefined });

describe('InFlightList', () => {
  it('keeps push order, removes from anywhere, and names the oldest', () => {
    const l = new InFlightList<Item>();
    const xs = [1, 2, 3, 4].map(item);
    for (const x of xs) l.push(x);
    expect(l.oldest?.id).toBe(1);
    expect(l.remove(xs[2])).toBe(true);
    expect(l.remove(xs[0])).toBe(true);
    expect(l.toArray().map((x) => x.id)).toEqual([2, 4]);
    expect(l.oldest?.id).toBe(2);
    expect(l.remove(xs[3])).toBe(true);
    expect(l.remove(xs[1])).toBe(true);
    expect(l.size).toBe(0);
    expect(l.oldest).toBeUndefined();
    expect(l.toArray()).toEqual([]);
  });

  it('a member that left keeps no links (it holds nothing alive), and can join another list', () => {
    const a = new InFlightList<Item>();
    const b = new InFlightList<Item>();
    const [x, y, z] = [1, 2, 3].map(item);
    a.push(x);
    a.push(y);
    a.push(z);
    a.remove(y);
    expect([y.flightPrev, y.flightNext, y.flightList]).toEqual([undefined, undefined, undefined]);
    expect(x.flightNext).toBe(z);
    expect(z.flightPrev).toBe(x);
    expect(b.remove(x)).toBe(false); // not b's
    expect(a.size).toBe(2);
    b.push(y);
    expect(b.oldest).toBe(y);
    expect(() => b.push(x)).toThrow(/already/);
  });

  it('toArray is a copy: removing while walking it visits every member', () => {
    const l = new InFlightList<Item>();
    for (const x of [1, 2, 3].map(item)) l.push(x);
    const seen: number[] = [];
    for (const x of l.toArray()) {
      seen.push(x.id);
      l.remove(x);
    }
    expect(seen).toEqual([1, 2, 3]);
    expect(l.size).toBe(0);
  });
});
