/**
 * RFC 1982 serial number arithmetic on 32-bit sequence numbers (RFC 7143 §4.2.2.1): wraparound, the undefined
 * distance of exactly 2^31, and properties of the comparison.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serialAdd, serialDiff, serialGt, serialGte, serialLt, serialLte } from '../../src/iscsi/serial.js';

const MAX = 0xffff_ffff;
const HALF = 0x8000_0000;
const u32 = fc.integer({ min: 0, max: MAX });
/** Distances that RFC 1982 orders: 1 .. 2^31 - 1. */
const ordered = fc.integer({ min: 1, max: HALF - 1 });

describe('serial arithmetic, RFC 1982 cases', () => {
  it('wraps: 0xffffffff < 0, and 0xffffffff + 1 = 0', () => {
    expect(serialLt(MAX, 0)).toBe(true);
    expect(serialGt(0, MAX)).toBe(true);
    expect(serialLt(0, MAX)).toBe(false);
    expect(serialAdd(MAX, 1)).toBe(0);
    expect(serialAdd(0xffff_fffe, 3)).toBe(1);
    expect(serialLt(0xffff_fff0, 0x10)).toBe(true);
  });

  it('orders across the signed midpoint: 0x7fffffff < 0x80000000', () => {
    expect(serialLt(0x7fff_ffff, HALF)).toBe(true);
    expect(serialGt(HALF, 0x7fff_ffff)).toBe(true);
    expect(serialLt(HALF, 0x7fff_ffff)).toBe(false);
  });

  it('0 vs 0x7fffffff is ordered (distance 2^31 - 1)', () => {
    expect(serialLt(0, 0x7fff_ffff)).toBe(true);
    expect(serialGt(0x7fff_ffff, 0)).toBe(true);
  });

  it('a distance of exactly 2^31 is undefined: neither less nor greater (RFC 1982 §3.2)', () => {
    for (const [a, b] of [
      [0, HALF],
      [HALF, 0],
      [0x7fff_ffff, MAX],
      [MAX, 0x7fff_ffff],
      [1, HALF + 1],
    ]) {
      expect(serialLt(a, b)).toBe(false);
      expect(serialGt(a, b)).toBe(false);
      expect(serialLte(a, b)).toBe(false);
      expect(serialGte(a, b)).toBe(false);
    }
  });

  it('past 2^31 the order flips: 0 > 0x80000001', () => {
    expect(serialGt(0, HALF + 1)).toBe(true);
    expect(serialLt(HALF + 1, 0)).toBe(true);
  });

  it('equal numbers: <= and >= but not < or >', () => {
    for (const a of [0, 1, 0x7fff_ffff, HALF, MAX]) {
      expect(serialLt(a, a)).toBe(false);
      expect(serialGt(a, a)).toBe(false);
      expect(serialLte(a, a)).toBe(true);
      expect(serialGte(a, a)).toBe(true);
    }
  });

  it('serialDiff gives signed distances across the wrap', () => {
    expect(serialDiff(0xffff_fffe, 1)).toBe(3);
    expect(serialDiff(1, 0xffff_fffe)).toBe(-3);
    expect(serialDiff(5, 5)).toBe(0);
    expect(serialDiff(0, 0x7fff_ffff)).toBe(0x7fff_ffff);
  });

  it('command window (RFC 7143 §4.2.2.1): MaxCmdSN - ExpCmdSN + 1, zero when MaxCmdSN = ExpCmdSN - 1', () => {
    const window = (exp: number, max: number) => serialDiff(exp, max) + 1;
    expect(window(10, 41)).toBe(32);
    expect(window(0xffff_fff0, 0x0f)).toBe(32);
    expect(window(0, MAX)).toBe(0);
    expect(window(7, 6)).toBe(0);
  });
});

describe('serial arithmetic, properties', () => {
  it('a < a + n and a + n > a for 0 < n < 2^31', () => {
    fc.assert(
      fc.property(u32, ordered, (a, n) => {
        const b = serialAdd(a, n);
        expect(serialLt(a, b)).toBe(true);
        expect(serialGt(b, a)).toBe(true);
        expect(serialLt(b, a)).toBe(false);
        expect(serialDiff(a, b)).toBe(n);
        expect(serialDiff(b, a)).toBe(-n);
      }),
    );
  });

  it('exactly one of <, =, > holds unless the distance is 2^31', () => {
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        const holds = [serialLt(a, b), a === b, serialGt(a, b)].filter(Boolean).length;
        expect(holds).toBe((b - a + 2 ** 32) % 2 ** 32 === HALF ? 0 : 1);
      }),
    );
  });

  it('<= is < or =, >= is > or =', () => {
    fc.assert(
      fc.property(u32, u32, (a, b) => {
        expect(serialLte(a, b)).toBe(serialLt(a, b) || a === b);
        expect(serialGte(a, b)).toBe(serialGt(a, b) || a === b);
      }),
    );
  });

  it('comparison is invariant under adding the same k to both (it only sees the distance)', () => {
    fc.assert(
      fc.property(u32, u32, u32, (a, b, k) => {
        expect(serialLt(serialAdd(a, k), serialAdd(b, k))).toBe(serialLt(a, b));
      }),
    );
  });

  it('serialAdd stays in 0..2^32-1 and matches modular addition', () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: -MAX, max: MAX }), (a, n) => {
        const r = serialAdd(a, n);
        expect(Number.isInteger(r) && r >= 0 && r <= MAX).toBe(true);
        expect(r).toBe((((a + n) % 2 ** 32) + 2 ** 32) % 2 ** 32);
      }),
    );
  });

  it('serialDiff inverts serialAdd for |n| < 2^31', () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: -(HALF - 1), max: HALF - 1 }), (a, n) => {
        expect(serialDiff(a, serialAdd(a, n))).toBe(n);
      }),
    );
  });
});
