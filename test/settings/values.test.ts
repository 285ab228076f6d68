/** The settings value types (src/settings/values.ts): one decimal, seconds, integer and Yes/No parser, and their rules. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { choice, count, integer, parseDecimal, refine, seconds, text, wordOr, yesNo } from '../../src/settings/index.js';

describe('parseDecimal', () => {
  it.each(['0x10', '1e3', 'Infinity', '-Infinity', 'NaN', '', ' ', '5s', '1,5', '0b1', '--1', '.'])(
    'refuses %j (Number() takes some of these)',
    (t) => {
      expect(parseDecimal(t)).toBeUndefined();
    },
  );

  it.each([
    ['5', 5],
    [' 0.5 ', 0.5],
    ['-1', -1],
    ['+2', 2],
    ['.25', 0.25],
    ['3.', 3],
  ])('reads %j as %d', (t, n) => {
    expect(parseDecimal(t)).toBe(n);
  });

  it('reads back every decimal a number prints as (no exponent); -0 is 0', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e9, max: 1e9, noNaN: true }), (n) => {
        const t = n.toFixed(6);
        expect(parseDecimal(t)).toBe(Number(t) + 0);
      }),
    );
  });
});

describe('seconds', () => {
  const s = seconds({ min: 0 });

  it('reads seconds into milliseconds, fractions allowed, text normalised', () => {
    expect(s.read('0.5')).toEqual({ ok: true, value: 500, text: '0.5' });
    expect(s.read('5')).toEqual({ ok: true, value: 5000, text: '5' });
    expect(s.read('0.50')).toEqual({ ok: true, value: 500, text: '0.5' });
    expect(s.read(' 2 ')).toEqual({ ok: true, value: 2000, text: '2' });
  });

  it('refuses what is not a decimal number (0x10, 1e3) and what is out of range, with the rule in seconds', () => {
    expect(s.read('0x10')).toEqual({ ok: false, problem: 'not a number' });
    expect(s.read('1e3')).toEqual({ ok: false, problem: 'not a number' });
    expect(s.read('abc')).toEqual({ ok: false, problem: 'not a number' });
    expect(s.read('-5')).toEqual({ ok: false, problem: 'must be at least 0 s' });
    expect(seconds({ min: 0, minExclusive: true }).read('0')).toEqual({ ok: false, problem: 'must be above 0 s' });
    expect(seconds({ min: 0, max: 3600, whole: true }).read('0.5')).toEqual({ ok: false, problem: 'must be a whole number' });
    expect(seconds({ min: 0, max: 3600, whole: true }).read('3601')).toEqual({ ok: false, problem: 'must be at most 3600 s' });
    expect(s.read('0.0001')).toEqual({ ok: false, problem: 'must be whole milliseconds (at most 3 decimals)' });
    expect(s.read('0.2500')).toEqual({ ok: true, value: 250, text: '0.25' });
    expect(s.rule).toBe('seconds, at least 0 s');
    expect(seconds({ min: 0, max: 3600, whole: true }).rule).toBe('whole seconds, 0..3600 s');
  });

  it('checks values the code holds (milliseconds) by the same rule, bounds in ms', () => {
    expect(s.check(500)).toBeUndefined();
    expect(s.check(-5)).toBe('must be at least 0 ms');
    expect(s.check(Number.NaN)).toBe('not a number');
    expect(s.check(Infinity)).toBe('must be finite');
    expect(s.check('5')).toBe('not a number');
    expect(seconds({ whole: true }).check(1500)).toBe('must be whole seconds');
  });

  it('text and value agree: whatever read accepts, check accepts of its value, for random input', () => {
    const types = [seconds(), seconds({ min: 0 }), seconds({ min: 0, minExclusive: true }), seconds({ min: 0, max: 3600, whole: true })];
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.double().map(String), fc.integer().map(String)), (t) => {
        for (const type of types) {
          const r = type.read(t);
          if (r.ok) expect(type.check(r.value)).toBeUndefined();
        }
      }),
    );
  });
});

describe('integer and count', () => {
  it('reads whole numbers only', () => {
    expect(integer().read('-20')).toEqual({ ok: true, value: -20, text: '-20' });
    expect(integer().read('+7')).toEqual({ ok: true, value: 7, text: '7' });
    expect(integer().read('lots')).toEqual({ ok: false, problem: 'not a whole number' });
    expect(integer().read('1.5')).toEqual({ ok: false, problem: 'must be a whole number' });
    expect(integer().read('0x10')).toEqual({ ok: false, problem: 'not a whole number' });
    expect(integer().read('99999999999999999999').ok).toBe(false);
    expect(count().read('-1')).toEqual({ ok: false, problem: 'must be at least 0' });
    expect(integer({ min: 512, max: 16_777_215 }, 'bytes').read('511')).toEqual({ ok: false, problem: 'must be at least 512' });
    expect(count().check(1.5)).toBe('must be a whole number');
  });
});

describe('yesNo: the one Yes/No parser', () => {
  it.each([
    ['Yes', true],
    ['yes', true],
    ['TRUE', true],
    ['1', true],
    ['No', false],
    ['no', false],
    ['false', false],
    ['0', false],
  ])('%j is %s, stored as open-iscsi spells it', (t, b) => {
    expect(yesNo.read(t)).toEqual({ ok: true, value: b, text: b ? 'Yes' : 'No' });
  });

  it.each(['maybe', '', 'y', 'nope', '2'])('refuses %j', (t) => {
    expect(yesNo.read(t)).toEqual({ ok: false, problem: 'not Yes or No' });
  });
});

describe('choice, text, wordOr, refine', () => {
  it('choice is exact, as open-iscsi compares', () => {
    const c = choice(['manual', 'automatic'] as const);
    expect(c.read('automatic')).toEqual({ ok: true, value: 'automatic', text: 'automatic' });
    expect(c.read('Automatic')).toEqual({ ok: false, problem: 'not one of manual, automatic' });
  });

  it('wordOr takes the words or the other type', () => {
    const t = wordOr(['off'] as const, seconds({ min: 0 }));
    expect(t.read('off')).toEqual({ ok: true, value: 'off', text: 'off' });
    expect(t.read('0.25')).toEqual({ ok: true, value: 250, text: '0.25' });
    expect(t.read('never')).toEqual({ ok: false, problem: 'not off or seconds, at least 0 s' });
    expect(t.check('off')).toBeUndefined();
    expect(t.check(-1)).toBe('not off or seconds, at least 0 s');
  });

  it('refine adds a rule to text and to values', () => {
    const abs = refine(text, 'an absolute path', (v) => (v.startsWith('/') ? undefined : 'expected an absolute path'));
    expect(abs.read(' /x ')).toEqual({ ok: true, value: '/x', text: '/x' });
    expect(abs.read('x')).toEqual({ ok: false, problem: 'expected an absolute path' });
    expect(abs.check('x')).toBe('expected an absolute path');
    expect(abs.check(5)).toBe('not text');
  });
});
