/** iSCSI names (RFC 7143 §4.2.7, RFC 3722): the three forms, the character set, the 223-byte limit; fuzzed. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkIscsiName, iscsiNameProblem, IscsiNameError, ISCSI_NAME_MAX_BYTES } from '../../src/iscsi/names.js';

describe('iSCSI names', () => {
  it('accepts the RFC 7143 §4.2.7 examples and what tgtd and open-iscsi use', () => {
    for (const n of [
      'iqn.2001-04.com.example:storage:diskarrays-sn-a8675309',
      'iqn.2001-04.com.example',
      'iqn.1993-08.org.debian:01:2dbd9b9f5f4',
      'iqn.2026-11.test:X', // uppercase maps to lowercase under stringprep
      'eui.02004567A425678D',
      'naa.52004567BA64678D',
      'naa.62004567BA64678D0123456789ABCDEF',
      'iqn.2026-12.example:ünïcode',
    ])
      expect(iscsiNameProblem(n), n).toBeUndefined();
  });

  it('refuses control characters, separators, paths, bad forms and names over 223 bytes, saying which rule', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /is empty/],
      ['iqn.2026-12.x:a\nb', /character .*"\\n"/],
      ['iqn.2026-12.x:a b', /character/],
      ['iqn.2026-12.x:a/b', /character/],
      ['iqn.2026-12.x:a,b', /character/],
      ['iqn.2026-12.x:a=b', /character/],
      ['iqn.2026-12.x:a\u0000', /character/],
      ['../../etc', /character/],
      ['iqn.x', /iqn\.YYYY-MM/],
      ['iqn.2026-13.x', /iqn\.YYYY-MM/],
      ['eui.0123', /16 hex digits/],
      ['naa.0123456789abcdef0', /16 or 32 hex digits/],
      ['target0', /does not start with iqn\., eui\. or naa\./],
      [`iqn.2026-12.x:${'a'.repeat(ISCSI_NAME_MAX_BYTES)}`, /longer than 223 bytes/],
    ];
    for (const [n, re] of cases) expect(iscsiNameProblem(n), JSON.stringify(n)).toMatch(re);
    expect(() => checkIscsiName('iqn.x', 'node.name')).toThrow(IscsiNameError);
    expect(() => checkIscsiName('iqn.x', 'node.name')).toThrow(/^node.name "iqn.x" is not/);
  });

  it('random strings: never throws, and an accepted name has no control character, separator or slash', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.string().map((s) => `iqn.2026-12.x:${s}`),
        ),
        (s) => {
          const why = iscsiNameProblem(s);
          if (why === undefined) {
            expect(s).not.toMatch(/[\u0000-\u0020\u007f/,=\\]/);
            expect(Buffer.byteLength(s)).toBeLessThanOrEqual(ISCSI_NAME_MAX_BYTES);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
