/** RFC 1982 serial number arithmetic on 32-bit sequence numbers (CmdSN, StatSN, DataSN, R2TSN), RFC 7143 §4.2.2.1. */

const HALF = 0x8000_0000;

/** a + n modulo 2^32. */
export function serialAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** True when a < b in serial arithmetic. Undefined comparisons (distance exactly 2^31) count as false. */
export function serialLt(a: number, b: number): boolean {
  return a !== b && ((a < b && b - a < HALF) || (a > b && a - b > HALF));
}

export function serialGt(a: number, b: number): boolean {
  return serialLt(b, a);
}

export function serialLte(a: number, b: number): boolean {
  return a === b || serialLt(a, b);
}

export function serialGte(a: number, b: number): boolean {
  return a === b || serialLt(b, a);
}

/** b - a as a signed distance, for window sizes; valid while |b - a| < 2^31. */
export function serialDiff(a: number, b: number): number {
  return (b - a) | 0;
}
