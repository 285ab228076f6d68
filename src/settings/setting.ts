/**
 * A setting: one key of a node, iface or discovery record, of multipath.conf or of mpiscsid.conf, with its
 * value type (unit, range, parser), its default as text and whether a change applies to what is running.
 * The tables are in records.ts, multipath.ts and daemon.ts; `readSetting` is the one way a value is read.
 */
import type { ValueType } from './values.js';

export interface Setting<T = unknown> {
  /** The key as written: open-iscsi's spelling for records, multipath.conf's, mpiscsid.conf's. */
  readonly key: string;
  readonly type: ValueType<T>;
  /** The default as text ('' for an empty string). */
  readonly default: string;
  /**
   * A change applies to a running session or device at once (the session and connection timers, every
   * multipath setting); otherwise at the next login or start. open-iscsi applies nothing live (its #393).
   */
  readonly live: boolean;
  /** A secret: listings show `********` unless asked. */
  readonly masked?: boolean;
}

/** A value refused: carries the key, the value and the rule, as every boundary reports them. */
export class SettingError extends RangeError {
  override readonly name = 'SettingError';
  constructor(
    readonly key: string,
    readonly value: string,
    /** What is wrong, in words that state the rule ("must be at least 0 s", "not Yes or No"). */
    readonly problem: string,
    /** The rule in full ("seconds, at least 0 s"). */
    readonly rule: string,
  ) {
    super(`${key} = ${value}: ${problem}`);
  }
}

/** A table of settings by key, in the order given (the order record files are written in). */
export type SettingTable = ReadonlyMap<string, Setting>;

export function table(settings: readonly Setting[]): SettingTable {
  const m = new Map<string, Setting>();
  for (const s of settings) {
    // A key defined twice would mean two rules for one value: the thing this module exists to prevent.
    if (m.has(s.key)) throw new Error(`setting ${s.key} defined twice`);
    const d = s.type.read(s.default);
    // Defaults that are empty text ("no value") are allowed for any type; others must obey their own rule.
    if (s.default !== '' && !d.ok) throw new Error(`default of ${s.key} (${s.default}) breaks its rule: ${d.problem}`);
    m.set(s.key, s);
  }
  return m;
}

/** `text` read as `setting`'s value; throws SettingError naming the key, the value and the rule. */
export function readSetting<T>(setting: Setting<T>, text: string): T {
  const r = setting.type.read(text);
  if (!r.ok) throw new SettingError(setting.key, text, r.problem, setting.type.rule);
  return r.value;
}

/** Why `text` cannot be `setting`'s value, or undefined. */
export function settingProblem(setting: Setting, text: string): string | undefined {
  const r = setting.type.read(text);
  return r.ok ? undefined : r.problem;
}
