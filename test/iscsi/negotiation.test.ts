/** Tests of the key table (RFC 7143 §13) and the initiator's operational negotiation (§6.2, §6.3.3). */
import { describe, expect, it } from 'vitest';
import { LoginError } from '../../src/iscsi/errors.js';
import { KEYS, keyRule, parseBooleanValue, parseNumericValue, type KeyType } from '../../src/iscsi/keys.js';
import { DEFAULT_DISCOVERY_WISHES, DEFAULT_WISHES, Negotiator, type SessionWishes } from '../../src/iscsi/negotiation.js';
import type { TextPair } from '../../src/iscsi/text.js';

/** tgt 1.0.85's answer to open-iscsi's default offer (captured, see login.test.ts). */
const TGT_ANSWER: TextPair[] = [
  ['HeaderDigest', 'None'],
  ['DataDigest', 'None'],
  ['DefaultTime2Wait', '2'],
  ['DefaultTime2Retain', '0'],
  ['IFMarker', 'No'],
  ['OFMarker', 'No'],
  ['ErrorRecoveryLevel', '0'],
  ['InitialR2T', 'Yes'],
  ['ImmediateData', 'Yes'],
  ['MaxBurstLength', '262144'],
  ['FirstBurstLength', '65536'],
  ['MaxOutstandingR2T', '1'],
  ['MaxConnections', '1'],
  ['DataPDUInOrder', 'Yes'],
  ['DataSequenceInOrder', 'Yes'],
];

function negotiate(answer: TextPair[], wishes: Partial<SessionWishes> = {}, type: 'Normal' | 'Discovery' = 'Normal') {
  const n = new Negotiator({ ...(type === 'Normal' ? DEFAULT_WISHES : DEFAULT_DISCOVERY_WISHES), ...wishes }, type);
  n.offer();
  n.receive(answer, { final: true });
  return { n, params: n.result() };
}

/** The tgt answer with one key's value replaced (or removed with undefined). */
function withAnswer(key: string, value: string | undefined): TextPair[] {
  const out = TGT_ANSWER.filter(([k]) => k !== key);
  if (value !== undefined) out.push([key, value]);
  return out;
}

describe('key table (RFC 7143 §13)', () => {
  const expected: Array<[string, KeyType, 'session' | 'connection', string | undefined, number?, number?]> = [
    ['HeaderDigest', 'list', 'connection', 'None'],
    ['DataDigest', 'list', 'connection', 'None'],
    ['MaxConnections', 'numeric-min', 'session', '1', 1, 65535],
    ['TargetPortalGroupTag', 'declarative', 'session', undefined, 0, 65535],
    ['InitialR2T', 'boolean-or', 'session', 'Yes'],
    ['ImmediateData', 'boolean-and', 'session', 'Yes'],
    ['MaxRecvDataSegmentLength', 'declarative', 'connection', '8192', 512, 16777215],
    ['MaxBurstLength', 'numeric-min', 'session', '262144', 512, 16777215],
    ['FirstBurstLength', 'numeric-min', 'session', '65536', 512, 16777215],
    ['DefaultTime2Wait', 'numeric-max', 'session', '2', 0, 3600],
    ['DefaultTime2Retain', 'numeric-min', 'session', '20', 0, 3600],
    ['MaxOutstandingR2T', 'numeric-min', 'session', '1', 1, 65535],
    ['DataPDUInOrder', 'boolean-or', 'session', 'Yes'],
    ['DataSequenceInOrder', 'boolean-or', 'session', 'Yes'],
    ['ErrorRecoveryLevel', 'numeric-min', 'session', '0', 0, 2],
    ['SessionType', 'declarative', 'session', 'Normal'],
    ['AuthMethod', 'list', 'connection', 'None'],
    ['iSCSIProtocolLevel', 'numeric-min', 'session', '1', 0, 31],
    ['TaskReporting', 'list', 'session', 'RFC3720'],
  ];
  it.each(expected)('%s is %s, %s-wide, default %s', (name, type, scope, def, min, max) => {
    const r = keyRule(name)!;
    expect(r.type).toBe(type);
    expect(r.scope).toBe(scope);
    expect(r.default).toBe(def);
    if (min !== undefined) expect([r.min, r.max]).toEqual([min, max]);
  });

  it('marks the keys that are Irrelevant in discovery sessions', () => {
    const irrelevant = Object.values(KEYS)
      .filter((r) => r.irrelevantInDiscovery)
      .map((r) => r.name)
      .sort();
    expect(irrelevant).toEqual(
      [
        'DataPDUInOrder',
        'DataSequenceInOrder',
        'FirstBurstLength',
        'ImmediateData',
        'InitialR2T',
        'MaxBurstLength',
        'MaxConnections',
        'MaxOutstandingR2T',
        'TaskReporting',
      ].sort(),
    );
  });

  it('has no entry for unknown or inherited names', () => {
    expect(keyRule('X-com.example.Foo')).toBeUndefined();
    expect(keyRule('toString')).toBeUndefined();
  });

  it.each([
    ['0', 0],
    ['262144', 262144],
    ['0x40000', 262144],
    ['0X1f', 31],
    ['', undefined],
    ['-1', undefined],
    ['+1', undefined],
    [' 1', undefined],
    ['1.5', undefined],
    ['0b AAA', undefined],
    ['9'.repeat(20), undefined],
  ] as Array<[string, number | undefined]>)('parseNumericValue(%j) = %s', (s, n) => {
    expect(parseNumericValue(s)).toBe(n);
  });

  it('parses only exact Yes/No booleans', () => {
    expect([parseBooleanValue('Yes'), parseBooleanValue('No'), parseBooleanValue('yes')]).toEqual([true, false, undefined]);
  });
});

describe('our offer', () => {
  it("follows open-iscsi's key order and node defaults for a Normal session", () => {
    const n = new Negotiator(DEFAULT_WISHES, 'Normal');
    expect(n.offer()).toEqual([
      ['HeaderDigest', 'None'],
      ['DataDigest', 'None'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
      ['IFMarker', 'No'],
      ['OFMarker', 'No'],
      ['ErrorRecoveryLevel', '0'],
      ['InitialR2T', 'No'],
      ['ImmediateData', 'Yes'],
      ['MaxBurstLength', '16776192'],
      ['FirstBurstLength', '262144'],
      ['MaxOutstandingR2T', '1'],
      ['MaxConnections', '1'],
      ['DataPDUInOrder', 'Yes'],
      ['DataSequenceInOrder', 'Yes'],
      ['MaxRecvDataSegmentLength', '262144'],
    ]);
  });

  it('offers only the keys that apply to a Discovery session', () => {
    const n = new Negotiator({ ...DEFAULT_DISCOVERY_WISHES, headerDigest: ['CRC32C', 'None'] }, 'Discovery');
    expect(n.offer()).toEqual([
      ['HeaderDigest', 'CRC32C,None'],
      ['DataDigest', 'None'],
      ['DefaultTime2Wait', '2'],
      ['DefaultTime2Retain', '0'],
      ['IFMarker', 'No'],
      ['OFMarker', 'No'],
      ['ErrorRecoveryLevel', '0'],
      ['MaxRecvDataSegmentLength', '32768'],
    ]);
  });

  it('offers FirstBurstLength no larger than MaxBurstLength, and says so', () => {
    const n = new Negotiator({ ...DEFAULT_WISHES, maxBurstLength: 65536, firstBurstLength: 262144 }, 'Normal');
    expect(n.offer()).toContainEqual(['FirstBurstLength', '65536']);
    expect(n.warnings.join()).toMatch(/FirstBurstLength 262144 exceeds MaxBurstLength 65536/);
  });

  it.each([
    ['headerDigest', []],
    ['headerDigest', ['MD5']],
    ['dataDigest', ['None', 'None']],
    ['maxRecvDataSegmentLength', 511],
    ['maxBurstLength', 16777216],
    ['errorRecoveryLevel', 3],
    ['defaultTime2Wait', 3601],
    ['maxConnections', 0],
    ['maxXmitDataSegmentLength', 100],
  ] as Array<[keyof SessionWishes, unknown]>)('rejects the wish %s=%j', (key, value) => {
    expect(() => new Negotiator({ ...DEFAULT_WISHES, [key]: value } as SessionWishes, 'Normal')).toThrow(RangeError);
  });
});

describe("tgt 1.0.85's answer to the default offer", () => {
  it('gives the parameters open-iscsi reports against tgtd', () => {
    const { n, params } = negotiate([['TargetPortalGroupTag', '1'], ...TGT_ANSWER]);
    expect(params).toEqual({
      headerDigest: false,
      dataDigest: false,
      maxRecvDataSegmentLength: 262144,
      maxXmitDataSegmentLength: 8192, // tgtd declares nothing: the default applies (§13.12)
      maxBurstLength: 262144,
      firstBurstLength: 65536,
      initialR2T: true,
      immediateData: true,
      maxOutstandingR2T: 1,
      maxConnections: 1,
      defaultTime2Wait: 2,
      defaultTime2Retain: 0,
      errorRecoveryLevel: 0,
      dataPDUInOrder: true,
      dataSequenceInOrder: true,
      targetPortalGroupTag: 1,
    });
    expect(n.warnings).toEqual([]);
  });
});

describe('answers to our offer, per key rule', () => {
  // [key, wish overrides, answer, expected params field value or error pattern]
  const table: Array<[string, Partial<SessionWishes>, string, keyof ReturnType<Negotiator['result']>, unknown]> = [
    // numeric-min (§13.13, §13.14, §13.16, §13.17, §13.2, §13.20)
    ['MaxBurstLength', {}, '1048576', 'maxBurstLength', 1048576],
    ['MaxBurstLength', {}, '0x100000', 'maxBurstLength', 1048576],
    ['MaxBurstLength', {}, '16776193', 'maxBurstLength', /above our offer 16776192/],
    ['MaxBurstLength', {}, '511', 'maxBurstLength', /outside 512\.\.16777215/],
    ['MaxBurstLength', {}, 'lots', 'maxBurstLength', /not a number/],
    ['FirstBurstLength', {}, '262144', 'firstBurstLength', 262144],
    ['FirstBurstLength', {}, '262145', 'firstBurstLength', /above our offer/],
    ['DefaultTime2Retain', { defaultTime2Retain: 20 }, '5', 'defaultTime2Retain', 5],
    ['DefaultTime2Retain', {}, '1', 'defaultTime2Retain', /above our offer 0/],
    ['MaxOutstandingR2T', {}, '2', 'maxOutstandingR2T', /above our offer 1/],
    ['MaxOutstandingR2T', { maxOutstandingR2T: 8 }, '4', 'maxOutstandingR2T', 4],
    ['MaxOutstandingR2T', { maxOutstandingR2T: 8 }, '0', 'maxOutstandingR2T', /outside 1\.\.65535/],
    ['MaxConnections', {}, '2', 'maxConnections', /above our offer/],
    ['ErrorRecoveryLevel', {}, '1', 'errorRecoveryLevel', /above our offer 0/],
    ['ErrorRecoveryLevel', { errorRecoveryLevel: 2 }, '1', 'errorRecoveryLevel', 1],
    ['ErrorRecoveryLevel', { errorRecoveryLevel: 2 }, '3', 'errorRecoveryLevel', /outside 0\.\.2/],
    // numeric-max (§13.15)
    ['DefaultTime2Wait', {}, '10', 'defaultTime2Wait', 10],
    ['DefaultTime2Wait', { defaultTime2Wait: 5 }, '4', 'defaultTime2Wait', /below our offer 5/],
    ['DefaultTime2Wait', {}, '3601', 'defaultTime2Wait', /outside 0\.\.3600/],
    // boolean-or (§13.10, §13.18, §13.19)
    ['InitialR2T', {}, 'No', 'initialR2T', false],
    ['InitialR2T', {}, 'Yes', 'initialR2T', true],
    ['InitialR2T', { initialR2T: true }, 'No', 'initialR2T', /answered InitialR2T=No although we offered Yes/],
    ['InitialR2T', {}, 'yes', 'initialR2T', /not Yes or No/],
    ['DataPDUInOrder', {}, 'No', 'dataPDUInOrder', /offered Yes/],
    ['DataPDUInOrder', { dataPDUInOrder: false }, 'No', 'dataPDUInOrder', false],
    ['DataSequenceInOrder', { dataSequenceInOrder: false }, 'Yes', 'dataSequenceInOrder', true],
    ['DataSequenceInOrder', {}, 'No', 'dataSequenceInOrder', /offered Yes/],
    // boolean-and (§13.11)
    ['ImmediateData', {}, 'No', 'immediateData', false],
    ['ImmediateData', { immediateData: false }, 'Yes', 'immediateData', /ImmediateData=Yes although we offered No/],
    ['ImmediateData', { immediateData: false }, 'No', 'immediateData', false],
    // list (§13.1)
    ['HeaderDigest', {}, 'CRC32C', 'headerDigest', /HeaderDigest=CRC32C, which we did not offer/],
    ['HeaderDigest', { headerDigest: ['CRC32C', 'None'] }, 'CRC32C', 'headerDigest', true],
    ['HeaderDigest', { headerDigest: ['CRC32C', 'None'] }, 'None', 'headerDigest', false],
    ['HeaderDigest', { headerDigest: ['CRC32C', 'None'] }, 'CRC32C,None', 'headerDigest', /did not offer/],
    ['DataDigest', { dataDigest: ['CRC32C'] }, 'CRC32C', 'dataDigest', true],
    ['DataDigest', { dataDigest: ['CRC32C'] }, 'None', 'dataDigest', /did not offer/],
  ];

  it.each(table)('%s (wishes %j) answered %s', (key, wishes, answer, field, expected) => {
    const run = () => negotiate(withAnswer(key, answer), wishes);
    if (expected instanceof RegExp) {
      expect(run).toThrow(LoginError);
      try {
        run();
      } catch (err) {
        expect((err as LoginError).kind).toBe('negotiation');
        expect((err as LoginError).message).toMatch(expected);
      }
    } else {
      expect(run().params[field]).toBe(expected);
    }
  });

  it('rejects IFMarker/OFMarker=Yes (AND with our No) but takes Reject quietly (RFC 7143 §13.25)', () => {
    expect(() => negotiate(withAnswer('IFMarker', 'Yes'))).toThrow(/IFMarker=Yes although we offered No/);
    const { n } = negotiate(withAnswer('OFMarker', 'Reject'));
    expect(n.warnings).toEqual([]);
  });

  it('fails when FirstBurstLength ends above MaxBurstLength (§13.14)', () => {
    const answer = withAnswer('MaxBurstLength', '16384');
    expect(() => negotiate(answer)).toThrow(/FirstBurstLength 65536 exceeds MaxBurstLength 16384/);
  });

  it('does not mind FirstBurstLength > MaxBurstLength when FirstBurstLength is Irrelevant', () => {
    const answer = withAnswer('MaxBurstLength', '16384').filter(([k]) => k !== 'FirstBurstLength' && k !== 'ImmediateData');
    answer.push(['FirstBurstLength', 'Irrelevant'], ['ImmediateData', 'No']);
    const { n, params } = negotiate(answer, { initialR2T: true, immediateData: false });
    expect(params.firstBurstLength).toBeLessThanOrEqual(params.maxBurstLength);
    expect(n.warnings).toEqual([]);
  });
});

describe('Reject, Irrelevant, NotUnderstood and missing answers', () => {
  it.each([
    ['MaxBurstLength', 'Reject', 'maxBurstLength', 262144],
    ['MaxBurstLength', 'NotUnderstood', 'maxBurstLength', 262144],
    ['ImmediateData', 'NotUnderstood', 'immediateData', true],
    ['DefaultTime2Retain', 'Irrelevant', 'defaultTime2Retain', 20],
    ['FirstBurstLength', 'Irrelevant', 'firstBurstLength', 65536],
  ] as const)('%s=%s falls back to the default and says so', (key, answer, field, value) => {
    const { n, params } = negotiate(withAnswer(key, answer));
    expect(params[field]).toBe(value);
    expect(n.warnings.join('\n')).toContain(`target answered ${key}=${answer}; using the default`);
  });

  it.each([
    [
      'HeaderDigest',
      { headerDigest: ['None'] },
      /target rejected HeaderDigest=None .*set node\.conn\[0\]\.iscsi\.HeaderDigest = CRC32C \(header_digest=CRC32C/,
    ],
    ['DataDigest', { dataDigest: ['CRC32C'] }, /target rejected DataDigest=CRC32C .*DataDigest = None \(data_digest=None/],
    ['HeaderDigest', { headerDigest: ['CRC32C', 'None'] }, /target rejected HeaderDigest=CRC32C,None .*HeaderDigest = CRC32C,None/],
  ] as Array<[string, Partial<SessionWishes>, RegExp]>)(
    'fails at once when the target rejects our %s list, naming the setting that would do (%j)',
    (key, wishes, message) => {
      expect(() => negotiate(withAnswer(key, 'Reject'), wishes)).toThrow(message);
    },
  );

  it('uses the default for a key the target left unanswered, and says so', () => {
    const { n, params } = negotiate(withAnswer('MaxBurstLength', undefined));
    expect(params.maxBurstLength).toBe(262144);
    expect(n.warnings).toEqual(['target did not answer MaxBurstLength=16776192; using the default MaxBurstLength=262144']);
  });

  it('needs no answer where the result is fixed: OR with our Yes, AND with our No (§6.2.2)', () => {
    const answer = TGT_ANSWER.filter(([k]) => !['DataPDUInOrder', 'IFMarker', 'ImmediateData'].includes(k));
    const { n, params } = negotiate(answer, { immediateData: false });
    expect(params.dataPDUInOrder).toBe(true);
    expect(params.immediateData).toBe(false);
    expect(n.warnings).toEqual([]);
  });
});

describe("the target's declarations", () => {
  it('takes its MaxRecvDataSegmentLength as our transmit limit, capped by our wish', () => {
    expect(negotiate([...TGT_ANSWER, ['MaxRecvDataSegmentLength', '65536']]).params.maxXmitDataSegmentLength).toBe(65536);
    const capped = negotiate([...TGT_ANSWER, ['MaxRecvDataSegmentLength', '65536']], { maxXmitDataSegmentLength: 4096 });
    expect(capped.params.maxXmitDataSegmentLength).toBe(4096);
    expect(capped.params.maxRecvDataSegmentLength).toBe(262144);
    expect(negotiate(TGT_ANSWER, { maxXmitDataSegmentLength: 65536 }).params.maxXmitDataSegmentLength).toBe(8192);
  });

  it.each([
    ['MaxRecvDataSegmentLength', '511'],
    ['MaxRecvDataSegmentLength', '16777216'],
    ['TargetPortalGroupTag', '65536'],
    ['TargetPortalGroupTag', 'one'],
  ])('rejects %s=%s', (key, value) => {
    expect(() => negotiate([...TGT_ANSWER, [key, value]])).toThrow(LoginError);
  });

  it('records TargetAlias and TargetPortalGroupTag', () => {
    const { params } = negotiate([['TargetAlias', 'disk zero'], ['TargetPortalGroupTag', '0x10'], ...TGT_ANSWER]);
    expect([params.targetAlias, params.targetPortalGroupTag]).toEqual(['disk zero', 16]);
  });
});

describe("answering the target's own proposals", () => {
  function propose(pairs: TextPair[], wishes: Partial<SessionWishes> = {}, type: 'Normal' | 'Discovery' = 'Normal') {
    const n = new Negotiator({ ...(type === 'Normal' ? DEFAULT_WISHES : DEFAULT_DISCOVERY_WISHES), ...wishes }, type);
    return { n, replies: n.receive(pairs) };
  }

  it.each([
    ['MaxBurstLength', '65536', 'Normal', '65536'], // min(theirs, ours)
    ['MaxBurstLength', '33554431', 'Normal', 'outside'],
    ['DefaultTime2Wait', '1', 'Normal', '2'], // max(theirs, ours)
    ['DefaultTime2Retain', '20', 'Normal', '0'],
    ['InitialR2T', 'No', 'Normal', 'No'], // OR(No, our No)
    ['InitialR2T', 'Yes', 'Normal', 'Yes'],
    ['ImmediateData', 'Yes', 'Normal', 'Yes'], // AND(Yes, our Yes)
    ['HeaderDigest', 'CRC32C,None', 'Normal', 'None'], // first of theirs we support
    ['HeaderDigest', 'CRC32C', 'Normal', 'Reject'], // none acceptable (§6.2.1)
    ['TaskReporting', 'ResponseFence,RFC3720', 'Normal', 'RFC3720'],
    ['TaskReporting', 'FastAbort', 'Normal', 'Reject'],
    ['iSCSIProtocolLevel', '2', 'Normal', '1'],
    ['IFMarker', 'Yes', 'Normal', 'Reject'], // §13.25: never NotUnderstood
    ['OFMarkInt', '2048~8192', 'Normal', 'Reject'],
    ['X-com.example.Thing', 'on', 'Normal', 'NotUnderstood'],
    ['MaxBurstLength', '65536', 'Discovery', 'Irrelevant'],
    ['MaxConnections', '4', 'Discovery', 'Irrelevant'],
    ['InitialR2T', 'Yes', 'Discovery', 'Irrelevant'],
  ] as Array<[string, string, 'Normal' | 'Discovery', string]>)('%s=%s in a %s session is answered %s', (key, value, type, reply) => {
    if (reply === 'outside') {
      expect(() => propose([[key, value]], {}, type)).toThrow(/outside/);
      return;
    }
    expect(propose([[key, value]], {}, type).replies).toEqual([[key, reply]]);
  });

  it('answers FirstBurstLength Irrelevant when InitialR2T=Yes and ImmediateData=No (§13.14)', () => {
    expect(propose([['FirstBurstLength', '65536']], { initialR2T: true, immediateData: false }).replies).toEqual([
      ['FirstBurstLength', 'Irrelevant'],
    ]);
  });

  it('does not offer again a key the target proposed first, and uses the agreed value', () => {
    const { n, replies } = propose([['MaxBurstLength', '65536']]);
    expect(replies).toEqual([['MaxBurstLength', '65536']]);
    expect(n.offer().map(([k]) => k)).not.toContain('MaxBurstLength');
    n.receive(
      withAnswer('MaxBurstLength', undefined)
        .filter(([k]) => k !== 'FirstBurstLength')
        .concat([['FirstBurstLength', '65536']]),
      {
        final: true,
      },
    );
    expect(n.result().maxBurstLength).toBe(65536);
  });

  it('ignores initiator-only keys and stray verdicts from the target', () => {
    const { n, replies } = propose([
      ['SendTargets', 'All'],
      ['InitiatorName', 'iqn.x'],
      ['X-foo', 'Irrelevant'],
      ['MaxBurstLength', 'NotUnderstood'],
    ]);
    expect(replies).toEqual([]);
    expect(n.warnings).toHaveLength(4);
  });

  it('accepts a proposal in the Login Final-Response only if it agrees with us (§11.13)', () => {
    const n = new Negotiator(DEFAULT_WISHES, 'Normal');
    n.offer();
    expect(() => n.receive([...TGT_ANSWER, ['TaskReporting', 'FastAbort']], { final: true })).toThrow(
      /proposed TaskReporting=FastAbort in its final login response/,
    );
    const ok = new Negotiator(DEFAULT_WISHES, 'Normal');
    ok.offer();
    expect(ok.receive([...TGT_ANSWER, ['iSCSIProtocolLevel', '1'], ['X-vendor', 'x']], { final: true })).toEqual([]);
    expect(ok.warnings).toContain('ignored X-vendor=x in the final login response');
  });
});

describe('Discovery sessions', () => {
  it("negotiate the keys that apply and leave the rest at their defaults (tgtd's answer)", () => {
    const { n, params } = negotiate(
      [
        ['HeaderDigest', 'None'],
        ['DataDigest', 'None'],
        ['DefaultTime2Wait', '2'],
        ['DefaultTime2Retain', '0'],
        ['IFMarker', 'No'],
        ['OFMarker', 'No'],
        ['ErrorRecoveryLevel', '0'],
      ],
      {},
      'Discovery',
    );
    expect(params.maxRecvDataSegmentLength).toBe(32768);
    expect(params.maxBurstLength).toBe(262144);
    expect(n.warnings).toEqual([]);
  });
});

describe('result()', () => {
  it('is stable when called twice and does not repeat warnings', () => {
    const { n } = negotiate(withAnswer('MaxBurstLength', undefined));
    const first = n.result();
    expect(n.result()).toEqual(first);
    expect(n.warnings).toHaveLength(1);
  });
});
