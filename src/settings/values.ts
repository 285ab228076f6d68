/**
 * The value types of mpiscsi's settings: how one text value (a record line, a `--set KEY=VALUE`, a config
 * file line) is read into what the code uses, and what it must be. One parser per kind of value: decimal
 * numbers (never Number(), which takes "0x10", "1e3", "Infinity" and " "), seconds, counts, integers,
 * Yes/No, a choice among words. Pure: no node:* imports, so every layer (machines/ too) can use it.
 */

/** What a value is counted in; milliseconds never appear in text, only in what seconds are read into. */
export type Unit = 'seconds' | 'count' | 'integer' | 'bytes' | 'yes/no' | 'choice' | 'text';

/** A value read: what the code uses and the text to store (normalised: "0.50" -> "0.5", "yes" -> "Yes"). */
export type Read<T> = { readonly ok: true; readonly value: T; readonly text: string } | { readonly ok: false; readonly problem: string };

/**
 * One kind of value. `read` parses text and applies the rule; `check` applies the same rule to a value the
 * code already holds (a live patch, an override in milliseconds), so text and values obey one rule. Problem
 * texts say what the value must be, so a refusal carries the rule.
 */
export interface ValueType<T> {
  readonly unit: Unit;
  /** The rule in words, for listings and errors ("seconds, at least 0 s"). */
  readonly rule: string;
  /** The words a choice (or Yes/No) takes, in their stored spelling. */
  readonly options?: readonly string[];
  read(text: string): Read<T>;
  /** Why `value` breaks the rule, or undefined; `value` is unknown because it comes from code or JSON. */
  check(value: unknown): string | undefined;
}

const ok = <T>(value: T, text: string): Read<T> => ({ ok: true, value, text });
const refuse = (problem: string): Read<never> => ({ ok: false, problem });

/** A type from a parser (text -> value or a problem), the value check, and the stored text of a value. */
export function valueType<T>(d: {
  unit: Unit;
  rule: string;
  options?: readonly string[];
  parse: (text: string) => { value: T; text: string } | string;
  check: (value: unknown) => string | undefined;
}): ValueType<T> {
  return {
    unit: d.unit,
    rule: d.rule,
    ...(d.options ? { options: d.options } : {}),
    read(t) {
      const p = d.parse(t.trim());
      if (typeof p === 'string') return refuse(p);
      const why = d.check(p.value);
      return why ? refuse(why) : ok(p.value, p.text);
    },
    check: d.check,
  };
}

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
const INTEGER = /^[+-]?\d+$/;

/**
 * A decimal number as settings are written ("5", "0.5", "-1", surrounding blanks ignored), or undefined. Not
 * Number(): that takes "0x10", "1e3", "Infinity" and " " (as 0), none of which a record or multipath.conf means.
 */
export function parseDecimal(text: string): number | undefined {
  const t = text.trim();
  // `+ 0` turns -0 into 0: "-0" means 0, and -0 would compare unequal to it in places (Object.is, toEqual).
  return DECIMAL.test(t) ? Number(t) + 0 : undefined;
}

/** Bounds of a number; `min` inclusive unless `minExclusive`. */
export interface Range {
  readonly min?: number;
  readonly max?: number;
  readonly minExclusive?: boolean;
}

/** Why `n` is out of `range` (bounds shown with `suffix`, e.g. " s"), or undefined. */
export function rangeProblem(range: Range, n: number, suffix = ''): string | undefined {
  const { min, max, minExclusive } = range;
  if (min !== undefined && (minExclusive ? n <= min : n < min)) return `must be ${minExclusive ? 'above' : 'at least'} ${min}${suffix}`;
  if (max !== undefined && n > max) return `must be at most ${max}${suffix}`;
  return undefined;
}

/** The range in words: "at least 0", "above 0", "0..3600", "" when unbounded. */
function rangeWords(range: Range, suffix = ''): string {
  const { min, max, minExclusive } = range;
  const lo = min === undefined || min === -Infinity ? undefined : min;
  if (lo !== undefined && max !== undefined && !minExclusive) return `${lo}..${max}${suffix}`;
  const parts: string[] = [];
  if (lo !== undefined) parts.push(`${minExclusive ? 'above' : 'at least'} ${lo}${suffix}`);
  if (max !== undefined) parts.push(`at most ${max}${suffix}`);
  return parts.join(', ');
}

const withRange = (what: string, range: Range, suffix = ''): string => {
  const words = rangeWords(range, suffix);
  return words ? `${what}, ${words}` : what;
};

/**
 * Seconds, read into whole milliseconds. Fractions are allowed ("0.5" = 500 ms, at most 3 decimals) unless
 * `whole`: a key sent to the target (DefaultTime2Wait) is whole seconds on the wire. Text is refused with
 * bounds in seconds; `check` takes milliseconds (what the code holds) and states the bounds in ms.
 */
export function seconds(range: Range & { readonly whole?: boolean } = {}): ValueType<number> {
  const scale = (b: number | undefined) => (b === undefined ? undefined : b * 1000);
  const msRange: Range = { min: scale(range.min), max: scale(range.max), minExclusive: range.minExclusive };
  return {
    unit: 'seconds',
    rule: withRange(range.whole ? 'whole seconds' : 'seconds', range, ' s'),
    read(t) {
      const n = parseDecimal(t);
      if (n === undefined) return refuse('not a number');
      if (range.whole && !Number.isInteger(n)) return refuse('must be a whole number');
      // Timers run in whole milliseconds: a finer value would be rounded, perhaps to 0 past an "above 0" rule.
      if ((t.trim().split('.')[1] ?? '').replace(/0+$/, '').length > 3) return refuse('must be whole milliseconds (at most 3 decimals)');
      const why = rangeProblem(range, n, ' s');
      return why ? refuse(why) : ok(Math.round(n * 1000) + 0, String(n));
    },
    check(ms) {
      if (typeof ms !== 'number' || Number.isNaN(ms)) return 'not a number';
      if (!Number.isFinite(ms)) return 'must be finite';
      if (range.whole && ms % 1000 !== 0) return 'must be whole seconds';
      return rangeProblem(msRange, ms, ' ms');
    },
  };
}

/** A whole number in `range`: attempts, I/Os, sessions (`unit` count), bytes, or a plain integer. */
export function integer(range: Range = {}, unit: 'count' | 'integer' | 'bytes' = 'integer'): ValueType<number> {
  return valueType({
    unit,
    rule: withRange(unit === 'bytes' ? 'bytes' : 'a whole number', range),
    parse: (t) => {
      if (INTEGER.test(t)) {
        const n = Number.parseInt(t, 10) + 0;
        return { value: n, text: String(n) };
      }
      return parseDecimal(t) === undefined ? 'not a whole number' : 'must be a whole number';
    },
    check: (n) => {
      if (typeof n !== 'number' || Number.isNaN(n)) return 'not a number';
      if (!Number.isSafeInteger(n)) return Number.isFinite(n) && Number.isInteger(n) ? 'too large' : 'must be a whole number';
      return rangeProblem(range, n);
    },
  });
}

/** A count of attempts or I/Os: a whole number, at least `min` (default 0). */
export const count = (range: Range = { min: 0 }): ValueType<number> => integer(range, 'count');

/** Words accepted for Yes and No (any case): open-iscsi writes Yes/No; config files often say true/false, 1/0. */
const YES = /^(yes|true|1)$/i;
const NO = /^(no|false|0)$/i;

/** The one Yes/No parser. Stored as open-iscsi spells it: "Yes", "No". */
export const yesNo: ValueType<boolean> = valueType({
  unit: 'yes/no',
  rule: 'Yes or No',
  options: ['No', 'Yes'],
  parse: (t) => (YES.test(t) ? { value: true, text: 'Yes' } : NO.test(t) ? { value: false, text: 'No' } : 'not Yes or No'),
  check: (b) => (typeof b === 'boolean' ? undefined : 'not Yes or No'),
});

/** One of `options`, spelled exactly (open-iscsi compares with strcmp). */
export function choice<const O extends string>(options: readonly O[]): ValueType<O> {
  const problem = `not one of ${options.join(', ')}`;
  return valueType({
    unit: 'choice',
    rule: `one of ${options.join(', ')}`,
    options,
    parse: (t) => ({ value: t as O, text: t }),
    check: (v) => ((options as readonly unknown[]).includes(v) ? undefined : problem),
  });
}

/** One line of text (any value; the record rules refuse control characters where values are stored). */
export const text: ValueType<string> = valueType({
  unit: 'text',
  rule: 'text',
  parse: (t) => ({ value: t, text: t }),
  check: (v) => (typeof v === 'string' ? undefined : 'not text'),
});

/** Either one of `words` (kept as the word) or a value of `other`: multipath.conf's "off or seconds". */
export function wordOr<const W extends string, T>(words: readonly W[], other: ValueType<T>): ValueType<W | T> {
  const problem = `not ${words.join(', ')} or ${other.rule}`;
  const isWord = (v: unknown): v is W => (words as readonly unknown[]).includes(v);
  return {
    unit: other.unit,
    rule: `${words.join(', ')} or ${other.rule}`,
    options: words,
    read(t) {
      const v = t.trim();
      if (isWord(v)) return ok(v, v);
      const r = other.read(v);
      return r.ok ? r : refuse(problem);
    },
    check: (v) => (isWord(v) || other.check(v) === undefined ? undefined : problem),
  };
}

/** A value of `type` that `extra` also accepts (a rule the type alone cannot state, e.g. a pattern). */
export function refine<T>(type: ValueType<T>, rule: string, extra: (value: T) => string | undefined): ValueType<T> {
  const check = (v: unknown): string | undefined => type.check(v) ?? extra(v as T);
  return {
    ...type,
    rule,
    read(t) {
      const r = type.read(t);
      if (!r.ok) return r;
      const why = extra(r.value);
      return why ? refuse(why) : r;
    },
    check,
  };
}
