/** Tests of SendTargets discovery (RFC 7143 §13.3, §13.8, Appendix C) and portal formatting. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  formatHostPort,
  formatPortal,
  formatPortalRecordName,
  formatTargetAddress,
  parseSendTargets,
  describeSkipped,
  type SkippedTarget,
  parseSendTargetsText,
  parseTargetAddress,
  sendTargetsRequest,
  UNKNOWN_TPGT,
  type TargetAddress,
} from '../../src/iscsi/discovery.js';
import { ProtocolError } from '../../src/iscsi/errors.js';
import { encodeTextData, parseTextData, type TextPair } from '../../src/iscsi/text.js';

describe('sendTargetsRequest', () => {
  it('asks for All by default (§13.3)', () => {
    expect(encodeTextData(sendTargetsRequest()).toString('latin1')).toBe('SendTargets=All\0');
    expect(sendTargetsRequest('iqn.2026-11.test:x')).toEqual([['SendTargets', 'iqn.2026-11.test:x']]);
  });
});

describe('parseTargetAddress (§13.8)', () => {
  it.each([
    ['127.0.0.1:13260,1', { host: '127.0.0.1', port: 13260, tpgt: 1 }],
    ['10.0.0.1,7', { host: '10.0.0.1', port: 3260, tpgt: 7 }],
    ['10.0.0.1:3261', { host: '10.0.0.1', port: 3261 }],
    ['10.0.0.1', { host: '10.0.0.1', port: 3260 }],
    ['storage.example.com:3260,65535', { host: 'storage.example.com', port: 3260, tpgt: 65535 }],
    ['[2001:db8::1]:3260,1', { host: '2001:db8::1', port: 3260, tpgt: 1 }],
    ['[fe80::1%eth0]:3260,2', { host: 'fe80::1%eth0', port: 3260, tpgt: 2 }],
    ['[::1],3', { host: '::1', port: 3260, tpgt: 3 }],
    ['[::1]', { host: '::1', port: 3260 }],
    ['fe80::2,4', { host: 'fe80::2', port: 3260, tpgt: 4 }],
    ['10.0.0.1:3260,0', { host: '10.0.0.1', port: 3260, tpgt: 0 }],
  ] as Array<[string, TargetAddress]>)('%s', (value, expected) => {
    expect(parseTargetAddress(value)).toEqual(expected);
  });

  it.each([
    '',
    ':3260',
    ',1',
    '[::1',
    '[::1]x',
    '[::1]:',
    '[]:3260',
    '10.0.0.1:0',
    '10.0.0.1:65536',
    '10.0.0.1:abc',
    '10.0.0.1,70000',
    '10.0.0.1,x',
    '10.0.0.1,',
    'a b:3260',
    'evil\u001b[2J:3260',
    'host/..:3260',
    '-x.example:3260',
    '[fe80::1%a b]',
    '10.0.0.0/8:3260',
    'a_b.example:3260',
  ])('rejects %j', (value) => {
    expect(() => parseTargetAddress(value)).toThrow(ProtocolError);
  });

  const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
  it('round-trips formatTargetAddress', () => {
    fc.assert(
      fc.property(
        host,
        fc.integer({ min: 1, max: 65535 }),
        fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
        (h, port, tpgt) => {
          const a: TargetAddress = tpgt === undefined ? { host: h, port } : { host: h, port, tpgt };
          expect(parseTargetAddress(formatTargetAddress(a))).toEqual(a);
        },
      ),
    );
  });

  it('throws only ProtocolError on random input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        try {
          parseTargetAddress(s);
        } catch (err) {
          if (!(err instanceof ProtocolError)) throw err;
        }
      }),
    );
  });
});

describe('parseSendTargets (Appendix C)', () => {
  it("reads tgt 1.0.85's answer (captured, see login.test.ts)", () => {
    const data = Buffer.from(
      '5461726765744e616d653d69716e2e323032362d31312e746573743a7800546172676574416464726573733d3132372e' +
        '302e302e313a31333236302c31005461726765744e616d653d69716e2e323032362d31312e746573743a6f70656e0054' +
        '6172676574416464726573733d3132372e302e302e313a31333236302c3100',
      'hex',
    );
    expect(parseSendTargets(parseTextData(data))).toEqual([
      { targetName: 'iqn.2026-11.test:x', portals: [{ host: '127.0.0.1', port: 13260, tpgt: 1 }] },
      { targetName: 'iqn.2026-11.test:open', portals: [{ host: '127.0.0.1', port: 13260, tpgt: 1 }] },
    ]);
  });

  it('groups several portals per target, IPv6 included, with defaults for port and tag', () => {
    const pairs: TextPair[] = [
      ['TargetName', 'iqn.2026-11.test:a'],
      ['TargetAlias', 'disk a'],
      ['TargetAddress', '10.0.0.1:3260,1'],
      ['TargetAddress', '[2001:db8::1]:3261,2'],
      ['TargetAddress', '10.0.0.3'],
      ['TargetName', 'eui.0123456789ABCDEF'],
      ['TargetAddress', '[::1],5'],
    ];
    expect(parseSendTargets(pairs)).toEqual([
      {
        targetName: 'iqn.2026-11.test:a',
        portals: [
          { host: '10.0.0.1', port: 3260, tpgt: 1 },
          { host: '2001:db8::1', port: 3261, tpgt: 2 },
          { host: '10.0.0.3', port: 3260, tpgt: UNKNOWN_TPGT },
        ],
      },
      { targetName: 'eui.0123456789ABCDEF', portals: [{ host: '::1', port: 3260, tpgt: 5 }] },
    ]);
  });

  it('merges a target named twice and keeps each portal once', () => {
    const pairs: TextPair[] = [
      ['TargetName', 'iqn.2026-01.x:t'],
      ['TargetAddress', '10.0.0.1:3260,1'],
      ['TargetName', 'iqn.2026-01.y:t'],
      ['TargetName', 'iqn.2026-01.x:t'],
      ['TargetAddress', '10.0.0.1:3260,1'],
      ['TargetAddress', '10.0.0.2:3260,1'],
    ];
    expect(parseSendTargets(pairs).map((t) => [t.targetName, t.portals.length])).toEqual([
      ['iqn.2026-01.x:t', 2],
      ['iqn.2026-01.y:t', 0],
    ]);
  });

  it('gives targets without TargetAddress the discovery portal when asked', () => {
    const pairs: TextPair[] = [['TargetName', 'iqn.2026-01.x:t']];
    expect(parseSendTargets(pairs)[0].portals).toEqual([]);
    expect(parseSendTargets(pairs, { discoveryPortal: { host: '::1', port: 3260 } })[0].portals).toEqual([
      { host: '::1', port: 3260, tpgt: -1 },
    ]);
  });

  it('rejects a TargetAddress before any TargetName', () => {
    expect(() => parseSendTargets([['TargetAddress', '10.0.0.1']])).toThrow(/before any TargetName/);
  });

  it('skips what is not an iSCSI name or a TargetAddress, keeps every good target of the answer, and says why', () => {
    const skipped: SkippedTarget[] = [];
    const pairs: TextPair[] = [
      ['TargetName', 'iqn.2026-01.x:good'],
      ['TargetAddress', '10.0.0.1:3260,1'],
      ['TargetName', 'iqn.2026-01.x:y\niface.initiatorname = iqn.2026-01.evil:me'],
      ['TargetAddress', '10.0.0.9:3260,1'],
      ['TargetName', ''],
      ['TargetName', '../../../etc'],
      ['TargetName', `iqn.2026-01.x:${'a'.repeat(220)}`],
      ['TargetName', 'iqn.2026-01.x:bad-port'],
      ['TargetAddress', '10.0.0.1:99999'],
      ['TargetName', 'iqn.2026-01.x:half'],
      ['TargetAddress', '10.0.0.2:99999'],
      ['TargetAddress', '10.0.0.2:3260,2'],
      ['TargetName', 'eui.0123456789abcdef'],
    ];
    const targets = parseSendTargets(pairs, { onSkip: (s) => skipped.push(s), discoveryPortal: { host: '10.0.0.1', port: 3260 } });
    expect(targets.map((t) => [t.targetName, t.portals.map((p) => `${p.host}:${p.port},${p.tpgt}`)])).toEqual([
      ['iqn.2026-01.x:good', ['10.0.0.1:3260,1']],
      ['iqn.2026-01.x:half', ['10.0.0.2:3260,2']],
      ['eui.0123456789abcdef', ['10.0.0.1:3260,-1']],
    ]);
    expect(skipped.map((s) => [s.target.slice(0, 20), s.address ?? '', s.why.split(' (')[0]])).toEqual([
      ['iqn.2026-01.x:y\nifac', '', 'TargetName has a character iSCSI names do not allow'],
      ['', '', 'TargetName is empty'],
      ['../../../etc', '', 'TargetName has a character iSCSI names do not allow'],
      ['iqn.2026-01.x:aaaaaa', '', 'TargetName is longer than 223 bytes'],
      ['iqn.2026-01.x:bad-po', '10.0.0.1:99999', 'TargetAddress "10.0.0.1:99999" has a bad port'],
      ['iqn.2026-01.x:half', '10.0.0.2:99999', 'TargetAddress "10.0.0.2:99999" has a bad port'],
      ['iqn.2026-01.x:bad-po', '', 'no usable TargetAddress'],
    ]);
    expect(describeSkipped(skipped[0])).toBe(
      'skipped target "iqn.2026-01.x:y\\niface.initiatorname = iqn.2026-01.evil:me": TargetName has a character iSCSI names do not allow ("\\n" at 15; RFC 3722 §6)',
    );
  });

  it('returns nothing for an empty answer (no targets visible to us)', () => {
    expect(parseSendTargetsText(Buffer.alloc(0))).toEqual([]);
  });

  it('accepts values up to 8192 bytes in SendTargets text', () => {
    // A 253-character DNS name with port and tag: 265 bytes, over the 255 of other keys.
    const host = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    const data = encodeTextData([['TargetName', 'iqn.2026-01.x:t']]);
    const long = Buffer.from(`TargetAddress=${host}:65535,65535\0`);
    expect(host.length).toBe(253);
    expect(parseSendTargetsText(Buffer.concat([data, long]))[0].portals[0].host).toBe(host);
  });
});

describe('portal formatting', () => {
  it('prints portals as iscsiadm does', () => {
    expect(formatPortal({ host: '127.0.0.1', port: 3260, tpgt: 1 })).toBe('127.0.0.1:3260,1');
    expect(formatPortal({ host: '::1', port: 3260, tpgt: 1 })).toBe('[::1]:3260,1');
    expect(formatHostPort('fe80::1%eth0', 3260)).toBe('[fe80::1%eth0]:3260');
    expect(formatHostPort('10.0.0.1', 3261)).toBe('10.0.0.1:3261');
  });

  it("names node records as open-iscsi's database does", () => {
    expect(formatPortalRecordName({ host: '127.0.0.1', port: 3260, tpgt: 1 })).toBe('127.0.0.1,3260,1');
    expect(formatPortalRecordName({ host: 'fe80::1', port: 3260, tpgt: 1 })).toBe('fe80::1,3260,1');
  });

  it('leaves an unknown tag out of a TargetAddress', () => {
    expect(formatTargetAddress({ host: '10.0.0.1', port: 3260, tpgt: UNKNOWN_TPGT })).toBe('10.0.0.1:3260');
    expect(formatTargetAddress({ host: '10.0.0.1', port: 3260 })).toBe('10.0.0.1:3260');
  });
});

describe('TargetAddress hosts: IP literals as node:net reads them', () => {
  it('an IPv6 literal in brackets is taken exactly when node:net isIP says it is one', async () => {
    const { isIP } = await import('node:net');
    // With a colon a host can only be an IPv6 literal (a DNS name has none), so node:net is the oracle.
    const tricky = fc
      .oneof(
        fc.ipV6(),
        fc.ipV4Extended().map((v4) => `::ffff:${v4}`),
        fc.stringMatching(/^[0-9a-f:.]{1,45}$/),
      )
      .filter((h) => h.includes(':'));
    fc.assert(
      fc.property(tricky, (h) => {
        const ours = (() => {
          try {
            return parseTargetAddress(`[${h}]`).host === h;
          } catch {
            return false;
          }
        })();
        expect(ours, h).toBe(isIP(h) === 6);
      }),
      { numRuns: 2000 },
    );
  });
});
