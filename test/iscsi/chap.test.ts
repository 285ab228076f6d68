/** Tests of CHAP (RFC 7143 §12.1.3, RFC 1994): algorithms, binary values, responses, the initiator exchange. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  CHAP_ALGORITHM_IDS,
  CHAP_ALGORITHMS,
  chapAlgorithmById,
  ChapInitiator,
  chapResponse,
  decodeChapBinary,
  DEFAULT_CHAP_ALGORITHMS,
  encodeChapBinary,
  formatChapAlgs,
  parseChapAlgs,
  type ChapAlgorithmName,
} from '../../src/iscsi/chap.js';
import { LoginError, ProtocolError } from '../../src/iscsi/errors.js';
import { LoginConversation, type LoginConfig } from '../../src/iscsi/login.js';
import { DEFAULT_WISHES } from '../../src/iscsi/negotiation.js';
import type { TextPair } from '../../src/iscsi/text.js';
import { driveLogin, ScriptedTarget } from '../support/chap-target.js';

const SECRET = 'secretsecret12';
const SECRET_IN = 'tgtsecret1234';

describe('algorithm table', () => {
  it('maps open-iscsi names to IANA CHAP_A numbers and node:crypto hashes', () => {
    expect(CHAP_ALGORITHM_IDS).toEqual({ MD5: 5, SHA1: 6, SHA256: 7, 'SHA3-256': 8 });
    expect(Object.fromEntries(Object.entries(CHAP_ALGORITHMS).map(([k, v]) => [k, [v.id, v.hash, v.digestLength]]))).toEqual({
      MD5: [5, 'md5', 16],
      SHA1: [6, 'sha1', 20],
      SHA256: [7, 'sha256', 32],
      'SHA3-256': [8, 'sha3-256', 32],
    });
    expect([5, 6, 7, 8, 9].map(chapAlgorithmById)).toEqual(['MD5', 'SHA1', 'SHA256', 'SHA3-256', undefined]);
  });

  it('defaults to MD5 only, as open-iscsi (tgt 1.0.85 breaks on SHA256)', () => {
    expect(DEFAULT_CHAP_ALGORITHMS).toEqual(['MD5']);
  });

  it.each([
    ['SHA3-256,SHA256,MD5', ['SHA3-256', 'SHA256', 'MD5']],
    ['md5', ['MD5']],
    [' SHA1 , MD5 ,', ['SHA1', 'MD5']],
    ['MD5,MD5,SHA1', ['MD5', 'SHA1']],
  ] as Array<[string, ChapAlgorithmName[]]>)('parseChapAlgs(%j)', (s, algs) => {
    expect(parseChapAlgs(s)).toEqual(algs);
    expect(parseChapAlgs(formatChapAlgs(algs))).toEqual(algs);
  });

  it.each(['', ',', 'SHA512', 'MD5,SHA-1'])('parseChapAlgs(%j) throws', (s) => {
    expect(() => parseChapAlgs(s)).toThrow(RangeError);
  });
});

describe('binary values (§6.1)', () => {
  it.each([
    ['0x00ff10', '00ff10'],
    ['0XABcd', 'abcd'],
    ['0xabc', '0abc'], // an odd digit count is a leading zero nibble
    ['0bAP8Q', '00ff10'],
    ['0BAP8Q', '00ff10'],
    ['0bAA==', '00'],
  ])('decodes %s', (s, hex) => {
    expect(decodeChapBinary(s).toString('hex')).toBe(hex);
  });

  it.each(['', '0x', '0b', '1234', 'ff00', '0xfg', '0x 12', '0b****', '0bA', '0bAA=A', '0c12'])('rejects %j', (s) => {
    expect(() => decodeChapBinary(s, 'CHAP_C')).toThrow(ProtocolError);
  });

  it('encodes as lowercase hex and round-trips', () => {
    expect(encodeChapBinary(Buffer.from([0xab, 0x01]))).toBe('0xab01');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const buf = Buffer.from(bytes);
        expect(decodeChapBinary(encodeChapBinary(buf)).equals(buf)).toBe(true);
        expect(decodeChapBinary(`0b${buf.toString('base64')}`).equals(buf)).toBe(true);
      }),
    );
  });

  it('never throws anything but ProtocolError on random strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        for (const v of [s, `0x${s}`, `0b${s}`]) {
          try {
            decodeChapBinary(v);
          } catch (err) {
            if (!(err instanceof ProtocolError)) throw err;
          }
        }
      }),
    );
  });
});

describe('chapResponse = H(id || secret || challenge) (RFC 1994 §4.1)', () => {
  it('matches the CHAP_R libiscsi sent and tgt 1.0.85 accepted (MD5)', () => {
    // Captured iscsi-inq (libiscsi) -> tgtd login: CHAP_I=1, CHAP_C below, password "secretsecret12".
    const c = decodeChapBinary('0x56be500c40c4e3f49d0c0561c103f247b7c19fda545b12279945cebae1964edfd746a1a286626504553a0fbcbfda2497e645');
    expect(chapResponse('MD5', 1, SECRET, c).toString('hex')).toBe('cc7d9763ea840fe4329ab7d265600ece');
  });

  it("matches tgt 1.0.85's own mutual answer (MD5)", () => {
    // tgtd answered our CHAP_I=165, CHAP_C=0xa5 x16 with this CHAP_R for outgoing secret "tgtsecret1234".
    expect(chapResponse('MD5', 165, SECRET_IN, Buffer.alloc(16, 0xa5)).toString('hex')).toBe('d7c76f8c5063374d5051fc07cbe5c788');
  });

  it.each([
    ['MD5', 'abc5cd425b0c22b8d1fa813558750e83'],
    ['SHA1', 'a8d3fa125370c3d0864f2b0c9de2e7225934e815'],
    ['SHA256', '32d2fe3ed0886ba2aadb14ace1e99c9b90f84dc0fe43ee43038350ef316283b0'],
    ['SHA3-256', '78e059373e0eaea7ebd0a7048ebddd793e1cdc1389a8c24d487bd376ef19bfab'],
  ] as Array<[ChapAlgorithmName, string]>)('%s matches openssl dgst', (alg, hex) => {
    // printf '\x2atwelve-bytes\x00\x01...\x0f' | openssl dgst -<alg>
    const challenge = Buffer.from([...Array(16).keys()]);
    expect(chapResponse(alg, 0x2a, 'twelve-bytes', challenge).toString('hex')).toBe(hex);
  });

  it('refuses an identifier outside one octet', () => {
    expect(() => chapResponse('MD5', 256, SECRET, Buffer.alloc(16))).toThrow(RangeError);
  });
});

/** The target's second security response for a given exchange. */
function targetChallenge(alg: number, id: number, challenge: Buffer): TextPair[] {
  return [
    ['CHAP_A', String(alg)],
    ['CHAP_I', String(id)],
    ['CHAP_C', encodeChapBinary(challenge)],
  ];
}

describe('ChapInitiator', () => {
  const seq = (start: number) => {
    let next = start;
    return (n: number) => Buffer.from(Array.from({ length: n }, () => next++ & 0xff));
  };

  it('offers CHAP_A in our order of preference', () => {
    expect(new ChapInitiator({ username: 'u', secret: SECRET, algorithms: ['SHA3-256', 'SHA256', 'MD5'] }).offer()).toEqual([
      ['CHAP_A', '8,7,5'],
    ]);
    expect(new ChapInitiator({ username: 'u', secret: SECRET }).offer()).toEqual([['CHAP_A', '5']]);
  });

  it('answers one-way CHAP with CHAP_N and CHAP_R and is then done', () => {
    const c = new ChapInitiator({ username: 'alice', secret: SECRET });
    c.offer();
    const challenge = Buffer.alloc(50, 7);
    expect(c.respond(targetChallenge(5, 9, challenge))).toEqual([
      ['CHAP_N', 'alice'],
      ['CHAP_R', encodeChapBinary(chapResponse('MD5', 9, SECRET, challenge))],
    ]);
    expect(c.done).toBe(true);
    expect(c.algorithm).toBe('MD5');
  });

  it.each([
    ['SHA1', 20],
    ['SHA256', 32],
    ['SHA3-256', 32],
    ['MD5', 16],
  ] as Array<[ChapAlgorithmName, number]>)('sends a %s mutual challenge of %d bytes with its own identifier', (alg, length) => {
    const c = new ChapInitiator({ username: 'alice', secret: SECRET, secretIn: SECRET_IN, algorithms: [alg], random: seq(100) });
    c.offer();
    const out = c.respond(targetChallenge(CHAP_ALGORITHM_IDS[alg], 1, Buffer.alloc(16, 1)));
    expect(out.map(([k]) => k)).toEqual(['CHAP_N', 'CHAP_R', 'CHAP_I', 'CHAP_C']);
    expect(out[2][1]).toBe('100');
    expect(decodeChapBinary(out[3][1])).toHaveLength(length);
    expect(c.done).toBe(false);
  });

  function mutualReady(random = seq(1)) {
    const c = new ChapInitiator({ username: 'alice', secret: SECRET, usernameIn: 'tgt', secretIn: SECRET_IN, random });
    c.offer();
    const out = c.respond(targetChallenge(5, 3, Buffer.alloc(16, 0x33)));
    const id = Number(out[2][1]);
    const ours = decodeChapBinary(out[3][1]);
    return { c, id, ours };
  }

  it('verifies the target in mutual CHAP', () => {
    const { c, id, ours } = mutualReady();
    c.verify([
      ['CHAP_N', 'tgt'],
      ['CHAP_R', encodeChapBinary(chapResponse('MD5', id, SECRET_IN, ours))],
    ]);
    expect(c.done).toBe(true);
  });

  const failures: Array<[string, (x: ReturnType<typeof mutualReady>) => TextPair[], RegExp]> = [
    [
      'a wrong CHAP_R',
      ({ id, ours }) => [
        ['CHAP_N', 'tgt'],
        ['CHAP_R', encodeChapBinary(chapResponse('MD5', id, 'other-secret!', ours))],
      ],
      /does not match/,
    ],
    [
      'a truncated CHAP_R',
      ({ id, ours }) => [
        ['CHAP_N', 'tgt'],
        ['CHAP_R', encodeChapBinary(chapResponse('MD5', id, SECRET_IN, ours).subarray(1))],
      ],
      /does not match/,
    ],
    [
      'a response made with our own secret',
      ({ id, ours }) => [
        ['CHAP_N', 'tgt'],
        ['CHAP_R', encodeChapBinary(chapResponse('MD5', id, SECRET, ours))],
      ],
      /our own secret/,
    ],
    [
      'a wrong CHAP_N',
      ({ id, ours }) => [
        ['CHAP_N', 'evil'],
        ['CHAP_R', encodeChapBinary(chapResponse('MD5', id, SECRET_IN, ours))],
      ],
      /CHAP_N "evil"/,
    ],
    ['no CHAP_R', () => [['CHAP_N', 'tgt']], /did not authenticate itself/],
    [
      'a malformed CHAP_R',
      () => [
        ['CHAP_N', 'tgt'],
        ['CHAP_R', 'zz'],
      ],
      /0x or 0b/,
    ],
  ];
  it.each(failures)('fails mutual CHAP on %s', (_name, answer, message) => {
    const x = mutualReady();
    expect(() => x.c.verify(answer(x))).toThrow(message);
    try {
      x.c.verify(answer(x));
    } catch (err) {
      expect(err).toBeInstanceOf(LoginError);
      expect((err as LoginError).kind).toBe('authentication');
    }
  });

  const bad: Array<[string, TextPair[], RegExp]> = [
    ['an algorithm we did not offer', targetChallenge(7, 1, Buffer.alloc(16)), /CHAP_A=7, which we did not offer \(offered 5\)/],
    ['CHAP_A=Reject', [['CHAP_A', 'Reject']], /none of the offered algorithms/],
    ['no CHAP_A', [['CHAP_I', '1']], /no CHAP_A/],
    ['an unknown algorithm number', targetChallenge(99, 1, Buffer.alloc(16)), /CHAP_A=99/],
    [
      'no challenge',
      [
        ['CHAP_A', '5'],
        ['CHAP_I', '1'],
      ],
      /no CHAP_I or no CHAP_C/,
    ],
    [
      'a bad identifier',
      [
        ['CHAP_A', '5'],
        ['CHAP_I', '300'],
        ['CHAP_C', '0x00'],
      ],
      /CHAP_I=/,
    ],
    [
      'a malformed challenge',
      [
        ['CHAP_A', '5'],
        ['CHAP_I', '1'],
        ['CHAP_C', '0xq'],
      ],
      /hex-constant/,
    ],
    ['an oversized challenge', targetChallenge(5, 1, Buffer.alloc(1025)), /1025 bytes/],
  ];
  it.each(bad)('refuses %s', (_name, pairs, message) => {
    const c = new ChapInitiator({ username: 'u', secret: SECRET });
    c.offer();
    expect(() => c.respond(pairs)).toThrow(message);
  });

  it('refuses a target challenge we sent in an earlier login (reflection, §12.1.3)', () => {
    const sent = new Set<string>();
    const first = new ChapInitiator({ username: 'u', secret: SECRET, secretIn: SECRET_IN, sentChallenges: sent, random: seq(40) });
    first.offer();
    const ours = decodeChapBinary(first.respond(targetChallenge(5, 1, Buffer.alloc(16, 9)))[3][1]);
    const second = new ChapInitiator({ username: 'u', secret: SECRET, sentChallenges: sent });
    second.offer();
    expect(() => second.respond(targetChallenge(5, 1, ours))).toThrow(/reflection/);
  });

  it('never sends a challenge equal to the target one', () => {
    // A random source stuck on the target's own bytes must not make us echo its challenge.
    const c = new ChapInitiator({ username: 'u', secret: SECRET, secretIn: SECRET_IN, random: (n) => Buffer.alloc(n, 0x33) });
    c.offer();
    expect(() => c.respond(targetChallenge(5, 1, Buffer.alloc(16, 0x33)))).toThrow(/different from the target one/);
  });

  it('refuses mutual CHAP with the same secret both ways (§12.1.3)', () => {
    const c = new ChapInitiator({ username: 'u', secret: SECRET, secretIn: SECRET });
    c.offer();
    expect(() => c.respond(targetChallenge(5, 1, Buffer.alloc(16)))).toThrow(/equals the initiator secret/);
  });

  it('warns about secrets under 12 bytes without refusing them or quoting them', () => {
    const c = new ChapInitiator({ username: 'u', secret: 'short', secretIn: 'tiny' });
    expect(c.warnings).toHaveLength(2);
    expect(c.warnings.join()).toMatch(/5 bytes.*12/);
    expect(c.warnings.join()).not.toMatch(/short|tiny/);
  });

  it('enforces the order offer -> respond -> verify', () => {
    const c = new ChapInitiator({ username: 'u', secret: SECRET });
    expect(() => c.respond([])).toThrow();
    c.offer();
    expect(() => c.offer()).toThrow();
    expect(() => c.verify([])).toThrow();
  });
});

function chapConfig(auth: Partial<Extract<LoginConfig['auth'], { method: 'CHAP' }>>, extra: Partial<LoginConfig> = {}): LoginConfig {
  return {
    initiatorName: 'iqn.2026-11.test:init',
    targetName: 'iqn.2026-11.test:x',
    sessionType: 'Normal',
    isid: 0x80123456789a,
    tsih: 0,
    cid: 0,
    itt: 7,
    cmdSN: 1,
    auth: { method: 'CHAP', username: 'alice', password: SECRET, algorithms: ['MD5'], ...auth },
    wishes: DEFAULT_WISHES,
    ...extra,
  };
}

describe('CHAP logins against the scripted target', () => {
  const algs: ChapAlgorithmName[] = ['MD5', 'SHA1', 'SHA256', 'SHA3-256'];

  it.each(algs)('%s one-way', (alg) => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: SECRET });
    const result = driveLogin(new LoginConversation(chapConfig({ algorithms: [alg] })), target);
    expect([result.authMethod, result.chapAlgorithm, result.tsih]).toEqual(['CHAP', alg, 0x1234]);
  });

  it.each(algs)('%s mutual', (alg) => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: SECRET, mutualUsername: 'tgt', mutualSecret: SECRET_IN });
    const conv = new LoginConversation(chapConfig({ algorithms: [alg], usernameIn: 'tgt', passwordIn: SECRET_IN }));
    const result = driveLogin(conv, target);
    expect([result.authMethod, result.chapAlgorithm]).toEqual(['CHAP', alg]);
    expect(target.receivedChallenges[0]).toHaveLength(CHAP_ALGORITHMS[alg].digestLength);
  });

  it('takes the first offered algorithm the target implements', () => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: SECRET, algorithms: [5, 7] });
    const result = driveLogin(new LoginConversation(chapConfig({ algorithms: ['SHA3-256', 'SHA1', 'SHA256', 'MD5'] })), target);
    expect(result.chapAlgorithm).toBe('SHA256');
  });

  it('fails with a wrong secret: the target answers status 2/1, a LoginError of kind authentication', () => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: SECRET });
    const conv = new LoginConversation(chapConfig({ password: 'not-the-secret' }));
    expect(() => driveLogin(conv, target)).toThrow(LoginError);
    try {
      driveLogin(
        new LoginConversation(chapConfig({ password: 'not-the-secret' })),
        new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: SECRET }),
      );
    } catch (err) {
      expect((err as LoginError).kind).toBe('authentication');
      expect([(err as LoginError).statusClass, (err as LoginError).statusDetail]).toEqual([2, 1]);
      expect((err as LoginError).final).toBe(true);
      expect((err as Error).message).not.toContain('not-the-secret');
    }
  });

  it('fails when no offered algorithm is implemented by the target', () => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: SECRET, algorithms: [5, 7] });
    expect(() => driveLogin(new LoginConversation(chapConfig({ algorithms: ['SHA1'] })), target)).toThrow(/none of the offered algorithms/);
  });

  const misbehaviours: Array<
    [string, ConstructorParameters<typeof ScriptedTarget>[0], Partial<Extract<LoginConfig['auth'], { method: 'CHAP' }>>, RegExp]
  > = [
    ['picks an algorithm we did not offer', { misbehave: ['wrong-algorithm'] }, {}, /which we did not offer/],
    ['answers mutual CHAP wrongly', { misbehave: ['bad-mutual-response'] }, { usernameIn: 'tgt', passwordIn: SECRET_IN }, /does not match/],
    [
      'answers mutual CHAP with our own secret',
      { misbehave: ['mirror-response'] },
      { usernameIn: 'tgt', passwordIn: SECRET_IN },
      /our own secret/,
    ],
    [
      'skips the mutual answer',
      { misbehave: ['no-mutual-response'] },
      { usernameIn: 'tgt', passwordIn: SECRET_IN },
      /without answering our mutual CHAP challenge/,
    ],
    ['downgrades to AuthMethod=None', { misbehave: ['auth-none'] }, {}, /accepted AuthMethod=None although CHAP is configured/],
    ['chooses CHAP and then skips it', { misbehave: ['skip-auth'] }, {}, /without authenticating/],
  ];
  it.each(misbehaviours)('refuses a target that %s', (_name, options, auth, message) => {
    const target = new ScriptedTarget({
      auth: 'CHAP',
      username: 'alice',
      secret: SECRET,
      mutualUsername: 'tgt',
      mutualSecret: SECRET_IN,
      ...options,
    });
    const run = () => driveLogin(new LoginConversation(chapConfig(auth)), target);
    expect(run).toThrow(message);
    try {
      target.reset();
      run();
    } catch (err) {
      expect(err).toBeInstanceOf(LoginError);
      expect((err as LoginError).kind).toBe('authentication');
      for (const secret of [SECRET, SECRET_IN]) expect((err as Error).message).not.toContain(secret);
    }
  });

  it('accepts the None downgrade only when told to (allowNone)', () => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: SECRET, misbehave: ['auth-none'] });
    const result = driveLogin(new LoginConversation(chapConfig({ allowNone: true })), target);
    expect(result.authMethod).toBe('None');
    expect(result.chapAlgorithm).toBeUndefined();
  });

  it('refuses a target that replays our challenge from the previous login (reflection)', () => {
    const sent = new Set<string>();
    const target = new ScriptedTarget({
      auth: 'CHAP',
      username: 'alice',
      secret: SECRET,
      mutualUsername: 'tgt',
      mutualSecret: SECRET_IN,
      misbehave: ['reflect-challenge'],
    });
    const auth = { usernameIn: 'tgt', passwordIn: SECRET_IN };
    driveLogin(new LoginConversation(chapConfig(auth, { chapSentChallenges: sent })), target);
    expect(sent.size).toBe(1);
    target.reset();
    expect(() => driveLogin(new LoginConversation(chapConfig(auth, { chapSentChallenges: sent })), target)).toThrow(/reflection/);
  });

  it('reports weak secrets as warnings of the login result', () => {
    const target = new ScriptedTarget({ auth: 'CHAP', username: 'alice', secret: 'short' });
    const result = driveLogin(new LoginConversation(chapConfig({ password: 'short' })), target);
    expect(result.warnings.join()).toMatch(/5 bytes; RFC 7143 §12.1.3/);
  });
});
