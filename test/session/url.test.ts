/**
 * libiscsi URLs (src/session/url.ts): the form iscsi-inq and qemu take, the target name checked as an iSCSI
 * name (RFC 3722) before it reaches a login, and any input either parsed or refused with a UrlError.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIscsiUrl, parseLunUrl, UrlError } from '../../src/session/url.js';

describe('parseIscsiUrl', () => {
  it('reads user, password, host, port, target, LUN and arguments', () => {
    expect(parseIscsiUrl('iscsi://alice%s3cret@127.0.0.1:3261/iqn.2026-12.test:t1/2?header_digest=crc32c', {})).toEqual({
      host: '127.0.0.1',
      port: 3261,
      targetName: 'iqn.2026-12.test:t1',
      lun: 2,
      username: 'alice',
      password: 's3cret',
      headerDigest: ['CRC32C'],
    });
    expect(parseIscsiUrl('iscsi://[::1]/eui.0123456789abcdef/0', {})).toMatchObject({
      host: '::1',
      port: 3260,
      targetName: 'eui.0123456789abcdef',
      lun: 0,
    });
  });

  it('refuses a target name that is not an iSCSI name, naming the rule', () => {
    for (const bad of [
      'iqn.x%0Anode.startup%20%3D%20automatic',
      'not-a-name',
      'iqn.2026-12.test:a%20b',
      `iqn.2026-12.test:${'x'.repeat(220)}`,
    ]) {
      expect(() => parseIscsiUrl(`iscsi://127.0.0.1/${bad}/1`, {}), bad).toThrow(/bad target name in iSCSI URL: .*RFC/);
    }
  });

  it('refuses broken percent-encoding with the part named and the password not echoed', () => {
    expect(() => parseIscsiUrl('iscsi://u%%zzsecret@127.0.0.1/iqn.2026-12.test:t/1', {})).toThrow(/percent-encoding in the password/);
    try {
      parseIscsiUrl('iscsi://u%%zzsecret@127.0.0.1/iqn.2026-12.test:t/1', {});
    } catch (err) {
      expect((err as Error).message).not.toContain('secret');
    }
  });

  it('any string is parsed or refused with a UrlError, never another exception', () => {
    const part = fc.string({
      unit: fc.constantFrom('a', '.', ':', '/', '%', '@', '?', '=', '&', '[', ']', '1', 'i', 'q', 'n', '-', '\n', 'Z'),
    });
    fc.assert(
      fc.property(part, part, part, (a, b, c) => {
        for (const text of [`iscsi://${a}`, `iscsi://127.0.0.1/${a}/${b}?${c}`, `iscsi://${a}@127.0.0.1/iqn.2026-12.test:${b}/1`]) {
          try {
            const u = parseIscsiUrl(text, {});
            if (u.targetName !== undefined) expect(u.targetName).not.toMatch(/[\n\0]/);
          } catch (err) {
            if (!(err instanceof UrlError)) throw err;
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parseLunUrl (the tools that work on one LU)', () => {
  const form = 'iscsi://[<username>[%<password>]@]<host>[:<port>]/<target-iqn>/<lun>';

  it('requires the LUN, as libiscsi iscsi_parse_full_url does, with the form shown', () => {
    for (const text of [
      'iscsi://127.0.0.1/iqn.2026-12.test:t',
      'iscsi://127.0.0.1/iqn.2026-12.test:t/',
      'iscsi://127.0.0.1:3261/iqn.2026-12.test:t?header_digest=crc32c',
    ]) {
      expect(() => parseLunUrl(text, {}), text).toThrow(UrlError);
      expect(() => parseLunUrl(text, {}), text).toThrow(`names no LUN: it must be of the form ${form}`);
    }
  });

  it('requires the target', () => {
    expect(() => parseLunUrl('iscsi://127.0.0.1:3261', {})).toThrow(`names no target: it must be of the form ${form}`);
  });

  it('keeps the password out of the message', () => {
    expect(() => parseLunUrl('iscsi://u%hush-1234@127.0.0.1/iqn.2026-12.test:t', {})).toThrow(/u%\*{8}@127\.0\.0\.1/);
  });

  it('takes LUN 0 when it is written', () => {
    expect(parseLunUrl('iscsi://127.0.0.1/iqn.2026-12.test:t/0', {})).toMatchObject({ targetName: 'iqn.2026-12.test:t', lun: 0 });
  });
});
