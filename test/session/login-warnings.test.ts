import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { oneLine } from '../../src/session/login-warnings.js';

describe('oneLine', () => {
  it('escapes what would start a line or move the cursor, and cuts what is long', () => {
    expect(oneLine('a\nb\rc\td\u0000e\u001bf\u2028g')).toBe('a\\nb\\rc\\td\\x00e\\x1bf\\u2028g');
    const long = oneLine('x'.repeat(1000));
    expect(long).toBe(`${'x'.repeat(400)}... (600 more characters)`);
  });

  it('never returns a control character, whatever the target sent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 600 }), (s) => {
        expect(oneLine(s)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      }),
    );
  });
});
