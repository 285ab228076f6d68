/** Tests of the text data codec (RFC 7143 §6.1) and C-bit splitting/joining (§6.3, §11.10.2, §11.12.2). */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError } from '../../src/iscsi/errors.js';
import {
  assertUniqueKeys,
  encodeTextData,
  isValidKeyName,
  MAX_LARGE_VALUE_LENGTH,
  parseTextData,
  REPEATABLE_KEYS,
  splitTextData,
  TextAccumulator,
  TextSegmenter,
  type TextPair,
} from '../../src/iscsi/text.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('parseTextData', () => {
  it('parses the TargetPortalGroupTag/AuthMethod answer tgt 1.0.85 sends', () => {
    // Data segment of tgtd's first Login Response (captured, see login.test.ts fixtures).
    const data = Buffer.from('546172676574506f7274616c47726f75705461673d3100417574684d6574686f643d4e6f6e6500', 'hex');
    expect(parseTextData(data)).toEqual([
      ['TargetPortalGroupTag', '1'],
      ['AuthMethod', 'None'],
    ]);
  });

  it('returns nothing for an empty segment', () => {
    expect(parseTextData(Buffer.alloc(0))).toEqual([]);
  });

  it('keeps empty values and values containing "="', () => {
    expect(parseTextData(b('SendTargets=\0X-a.b=c=d\0'))).toEqual([
      ['SendTargets', ''],
      ['X-a.b', 'c=d'],
    ]);
  });

  it('skips extra NULs between pairs (padding some targets send)', () => {
    expect(parseTextData(b('A=1\0\0\0B=2\0'))).toEqual([
      ['A', '1'],
      ['B', '2'],
    ]);
  });

  it('decodes UTF-8 values (TargetAlias)', () => {
    expect(parseTextData(Buffer.from('TargetAlias=disque-é\0', 'utf8'))).toEqual([['TargetAlias', 'disque-é']]);
  });

  const bad: Array<[string, Buffer, RegExp]> = [
    ['missing final NUL', b('A=1'), /NUL/],
    ["missing '='", b('A=1\0Bogus\0'), /without '='/],
    ['empty key', b('=x\0'), /invalid key/],
    ['key starting with a digit', b('9AuthMethod=None\0'), /invalid key/],
    ['key with a space', b('Auth Method=None\0'), /invalid key/],
    ['key with a colon', b('A:B=1\0'), /invalid key/],
    ['key of 64 bytes', b(`A${'x'.repeat(63)}=1\0`), /invalid key/],
    ['value of 256 bytes', b(`TargetAlias=${'x'.repeat(256)}\0`), /256 bytes/],
    ['CHAP_C over 8192 bytes', b(`CHAP_C=0x${'a'.repeat(8191)}\0`), /8193 bytes/],
    ['invalid UTF-8 value', Buffer.concat([b('TargetAlias='), Buffer.from([0xc3, 0x28]), b('\0')]), /UTF-8/],
  ];
  it.each(bad)('rejects %s with ProtocolError', (_name, data, message) => {
    expect(() => parseTextData(data)).toThrow(ProtocolError);
    expect(() => parseTextData(data)).toThrow(message);
  });

  it('reports the offset of the bad pair', () => {
    try {
      parseTextData(b('A=1\0B\0'), { opcode: 0x23 });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).offset).toBe(4);
      expect((err as ProtocolError).opcode).toBe(0x23);
    }
  });

  it('accepts keys of exactly 63 bytes, X- vendor keys and X# public extension keys', () => {
    const k63 = `A${'b'.repeat(62)}`;
    expect(parseTextData(b(`${k63}=1\0X-com.example.Foo_bar+1@x=2\0X#NodeArchitecture=mpiscsi\0`))).toHaveLength(3);
    expect(isValidKeyName(k63)).toBe(true);
    expect(isValidKeyName(`${k63}c`)).toBe(false);
  });

  it('accepts 255-byte values, and 8192-byte CHAP_C/CHAP_R', () => {
    expect(parseTextData(b(`TargetAlias=${'x'.repeat(255)}\0`))[0][1]).toHaveLength(255);
    const c = `0x${'ab'.repeat((MAX_LARGE_VALUE_LENGTH - 2) / 2)}`;
    expect(parseTextData(b(`CHAP_C=${c}\0CHAP_R=${c}\0`))).toHaveLength(2);
  });

  it('lets the caller raise the value cap (SendTargets answers)', () => {
    const long = `TargetAddress=[fe80::1%${'e'.repeat(300)}]:3260,1\0`;
    expect(() => parseTextData(b(long))).toThrow(ProtocolError);
    expect(parseTextData(b(long), { maxValueLength: 8192 })).toHaveLength(1);
  });

  it('never throws anything but ProtocolError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          parseTextData(Buffer.from(bytes));
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but ProtocolError on random key=value soup', () => {
    const soup = fc.array(fc.constantFrom('A', 'b', '=', '\0', '.', ' ', 'é', '\u0000', 'X#', 'CHAP_C', '0x'), { maxLength: 80 });
    fc.assert(
      fc.property(soup, (parts) => {
        try {
          parseTextData(Buffer.from(parts.join(''), 'utf8'));
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
    );
  });
});

const keyArb = fc
  .tuple(fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), fc.stringMatching(/^[A-Za-z0-9.\-+@_]{0,40}$/))
  .map(([first, rest]) => first + rest);
const valueArb = fc.string({ unit: 'grapheme', maxLength: 60 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) <= 255);
const pairsArb = fc.array(fc.tuple(keyArb, valueArb), { maxLength: 20 }) as fc.Arbitrary<TextPair[]>;

describe('encodeTextData', () => {
  it('writes key=value NUL in order', () => {
    expect(encodeTextData([['SendTargets', 'All']]).toString('latin1')).toBe('SendTargets=All\0');
    expect(encodeTextData([])).toHaveLength(0);
  });

  it('refuses to send an invalid key, a NUL in a value, or an overlong value', () => {
    expect(() => encodeTextData([['bad key', '1']])).toThrow(RangeError);
    expect(() => encodeTextData([['A', 'x\0y']])).toThrow(RangeError);
    expect(() => encodeTextData([['InitiatorAlias', 'x'.repeat(256)]])).toThrow(RangeError);
  });

  it('round-trips through parseTextData', () => {
    fc.assert(
      fc.property(pairsArb, (pairs) => {
        expect(parseTextData(encodeTextData(pairs))).toEqual(pairs);
      }),
    );
  });
});

describe('assertUniqueKeys', () => {
  it('throws on a key repeated in one negotiation, across PDUs too', () => {
    expect(() =>
      assertUniqueKeys([
        ['A', '1'],
        ['A', '2'],
      ]),
    ).toThrow(ProtocolError);
    const seen = assertUniqueKeys([['A', '1']]);
    expect(() => assertUniqueKeys([['A', '1']], seen)).toThrow(/sent twice/);
  });

  it('lets TargetName and TargetAddress repeat in SendTargets answers', () => {
    const answer: TextPair[] = [
      ['TargetName', 'iqn.2026-11.test:a'],
      ['TargetAddress', '10.0.0.1:3260,1'],
      ['TargetAddress', '10.0.0.2:3260,2'],
      ['TargetName', 'iqn.2026-11.test:b'],
    ];
    expect(() => assertUniqueKeys(answer, new Set(), REPEATABLE_KEYS)).not.toThrow();
    expect(() => assertUniqueKeys(answer)).toThrow(ProtocolError);
  });
});

describe('splitTextData / TextSegmenter / TextAccumulator', () => {
  const sample = encodeTextData([
    ['InitiatorName', 'iqn.2026-11.test:init'],
    ['TargetName', 'iqn.2026-11.test:x'],
    ['CHAP_C', `0x${'5a'.repeat(40)}`],
  ]);

  it('splits at every segment size and joins back to the same pairs', () => {
    for (let size = 1; size <= sample.length + 1; size++) {
      const parts = splitTextData(sample, size);
      expect(parts.every((p) => p.length <= size && p.length > 0)).toBe(true);
      const acc = new TextAccumulator();
      let joined: Buffer | undefined;
      parts.forEach((p, i) => {
        const out = acc.push(p, i < parts.length - 1);
        if (i < parts.length - 1) expect(out).toBeUndefined();
        else joined = out;
      });
      expect(joined!.equals(sample)).toBe(true);
      expect(parseTextData(joined!)).toEqual(parseTextData(sample));
    }
  });

  it('round-trips random texts at random segment sizes', () => {
    fc.assert(
      fc.property(pairsArb, fc.integer({ min: 1, max: 64 }), (pairs, size) => {
        const data = encodeTextData(pairs);
        const seg = new TextSegmenter(data, size);
        const acc = new TextAccumulator();
        let out: Buffer | undefined;
        while (!seg.done) {
          const { data: part, cont } = seg.next();
          out = acc.push(part, cont);
          if (cont) expect(out).toBeUndefined();
        }
        expect(parseTextData(out!)).toEqual(pairs);
      }),
    );
  });

  it('sets C on every segment but the last', () => {
    const seg = new TextSegmenter(Buffer.from('A=1\0B=2\0'), 3);
    const flags: boolean[] = [];
    while (!seg.done) flags.push(seg.next().cont);
    expect(flags).toEqual([true, true, false]);
    expect(() => seg.next()).toThrow(RangeError);
  });

  it('sends an empty text as one empty segment', () => {
    const seg = new TextSegmenter(Buffer.alloc(0), 10);
    expect(seg.next()).toEqual({ data: Buffer.alloc(0), cont: false });
    expect(seg.done).toBe(true);
  });

  it('bounds the accumulated text and refuses empty C=1 segments', () => {
    const acc = new TextAccumulator(10);
    acc.push(Buffer.alloc(6), true);
    expect(() => acc.push(Buffer.alloc(6), true)).toThrow(ProtocolError);
    expect(() => new TextAccumulator().push(undefined, true)).toThrow(/empty text segment/);
  });

  it('rejects a bad segment size', () => {
    expect(() => splitTextData(sample, 0)).toThrow(RangeError);
  });
});
