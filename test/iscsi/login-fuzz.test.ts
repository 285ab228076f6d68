/**
 * Fuzz tests of the initiator's login against a hostile target (RFC 7143 §6.3 login phase, §11.13 Login
 * Response, §12.1.3 CHAP, §13.8 TargetAddress, §11.13.5 redirects), with fast-check:
 *   - random Login Response PDUs (every header field, random or CHAP-shaped text, random bytes) through the
 *     wire codec into LoginConversation;
 *   - a mostly valid target (ScriptedTarget: security stage with CHAP, then operational answers) whose
 *     options are random and whose responses are mutated, so that the fuzzer reaches the deep states;
 *   - redirects (status class 1) with random TargetAddress values;
 *   - the whole login over TCP (openSession) against a target answering random PDUs.
 * A login ends in a result or in a LoginError/ProtocolError (never a TypeError or RangeError from inside);
 * no secret is ever sent in clear or quoted in an error or warning; a login with CHAP configured succeeds
 * only after our CHAP_R was computed from the target's challenge, and with mutual CHAP only after the target
 * proved the mutual secret; a redirect is followed only to an IP address or a DNS name. Skipped until src is
 * fixed: a target proposing iSCSIProtocolLevel (RFC 7143 §13.24) fails every login.
 */
import { createHash } from 'node:crypto';
import { isIP, createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChapAlgorithmName } from '../../src/iscsi/chap.js';
import { Opcode } from '../../src/iscsi/constants.js';
import { LoginError, ProtocolError, TransportError } from '../../src/iscsi/errors.js';
import { encodePdu, PduFramer } from '../../src/iscsi/framer.js';
import { keyRule } from '../../src/iscsi/keys.js';
import { LoginConversation, type AuthConfig, type LoginConfig, type LoginResult } from '../../src/iscsi/login.js';
import { DEFAULT_DISCOVERY_WISHES, DEFAULT_WISHES, type DigestName, type SessionWishes } from '../../src/iscsi/negotiation.js';
import type { LoginRequest, LoginResponse, Pdu } from '../../src/iscsi/pdu.js';
import { openSession } from '../../src/session/open.js';
import { ScriptedTarget, TGT_VALUES, type Misbehaviour, type ScriptedTargetOptions } from '../support/chap-target.js';

// ---------------------------------------------------------------------------------------------------------
// Identities and secrets. The secrets are distinctive so that a leak cannot be a coincidence.

const SECRET = 'Fz9-initiator-SECRET-7c1e9a';
const SECRET_IN = 'Fz9-target-SECRET-5d0f3e88';
const SECRETS = [SECRET, SECRET_IN];
const USER = 'alice';
const USER_IN = 'tgtuser';
const INITIATOR = 'iqn.2026-11.test:login-fuzz';
const TARGET = 'iqn.2026-11.test:x';
const ITT = 0x10;
const ISID = 0x80123456789a;

type AuthChoice = 'None' | 'CHAP' | 'mutual' | 'allowNone';

const ALGORITHMS: ChapAlgorithmName[] = ['MD5', 'SHA1', 'SHA256', 'SHA3-256'];
const HASH_OF: Record<number, string> = { 5: 'md5', 6: 'sha1', 7: 'sha256', 8: 'sha3-256' };

function authConfig(choice: AuthChoice, algorithms: ChapAlgorithmName[]): AuthConfig {
  switch (choice) {
    case 'None':
      return { method: 'None' };
    case 'CHAP':
      return { method: 'CHAP', username: USER, password: SECRET, algorithms };
    case 'allowNone':
      return { method: 'CHAP', username: USER, password: SECRET, algorithms, allowNone: true };
    case 'mutual':
      return { method: 'CHAP', username: USER, password: SECRET, usernameIn: USER_IN, passwordIn: SECRET_IN, algorithms };
  }
}

/** A deterministic random source (fast-check must be able to replay a counterexample). */
function seededRandom(seed: number): (n: number) => Buffer {
  let counter = 0;
  return (n) => {
    const out = Buffer.alloc(n);
    for (let off = 0; off < n; ) off += createHash('sha256').update(`${seed}:${counter++}`).digest().copy(out, off);
    return out;
  };
}

interface ConfigSpec {
  auth: AuthChoice;
  algorithms: ChapAlgorithmName[];
  discovery: boolean;
  tsih: number;
  wishes: Partial<SessionWishes>;
  maxSend?: number;
  seed: number;
}

function loginConfig(c: ConfigSpec): LoginConfig {
  return {
    initiatorName: INITIATOR,
    ...(c.discovery ? {} : { targetName: TARGET }),
    sessionType: c.discovery ? 'Discovery' : 'Normal',
    isid: ISID,
    tsih: c.tsih,
    cid: 0,
    itt: ITT,
    cmdSN: 1,
    auth: authConfig(c.auth, c.algorithms),
    wishes: { ...(c.discovery ? DEFAULT_DISCOVERY_WISHES : DEFAULT_WISHES), ...c.wishes },
    random: seededRandom(c.seed),
    ...(c.maxSend !== undefined ? { maxSendDataSegmentLength: c.maxSend } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Arbitraries

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const weighted = <T>(...arbs: Array<[number, fc.Arbitrary<T>]>): fc.Arbitrary<T> =>
  fc.oneof(...arbs.map(([weight, arbitrary]) => ({ weight, arbitrary })));
/** Mostly absent: present in about one run of `1 + odds`. */
const rarely = <T>(arb: fc.Arbitrary<T>, odds = 4): fc.Arbitrary<T | undefined> =>
  weighted<T | undefined>([odds, fc.constant(undefined)], [1, arb]);

const digestList = fc.constantFrom<DigestName[]>(['None'], ['CRC32C'], ['None', 'CRC32C'], ['CRC32C', 'None']);
const wishesArb: fc.Arbitrary<Partial<SessionWishes>> = fc.record(
  {
    headerDigest: digestList,
    dataDigest: digestList,
    immediateData: fc.boolean(),
    initialR2T: fc.boolean(),
    maxBurstLength: fc.constantFrom(512, 65536, 262144, 16776192),
    firstBurstLength: fc.constantFrom(512, 65536, 262144),
    maxRecvDataSegmentLength: fc.constantFrom(512, 8192, 262144),
    maxXmitDataSegmentLength: fc.constantFrom(0, 4096, 65536),
    errorRecoveryLevel: fc.constantFrom(0, 1, 2),
    defaultTime2Wait: fc.constantFrom(0, 2, 3600),
  },
  { requiredKeys: [] },
);

const configArb: fc.Arbitrary<ConfigSpec> = fc.record({
  auth: fc.constantFrom<AuthChoice>('None', 'CHAP', 'CHAP', 'mutual', 'mutual', 'allowNone'),
  algorithms: fc.shuffledSubarray(ALGORITHMS, { minLength: 1 }),
  discovery: weighted([3, fc.constant(false)], [1, fc.constant(true)]),
  tsih: weighted([4, fc.constant(0)], [1, fc.integer({ min: 1, max: 0xffff })]),
  wishes: weighted([1, fc.constant({})], [2, wishesArb]),
  maxSend: rarely(fc.integer({ min: 1, max: 300 })),
  seed: fc.nat(),
});

/** Every key a login meets, plus keys only an initiator sends and vendor keys. */
const KNOWN_KEYS = [
  'AuthMethod',
  'CHAP_A',
  'CHAP_I',
  'CHAP_C',
  'CHAP_N',
  'CHAP_R',
  'TargetAddress',
  'TargetPortalGroupTag',
  'TargetAlias',
  'TargetName',
  'InitiatorName',
  'InitiatorAlias',
  'SessionType',
  'SendTargets',
  'HeaderDigest',
  'DataDigest',
  'MaxRecvDataSegmentLength',
  'MaxBurstLength',
  'FirstBurstLength',
  'InitialR2T',
  'ImmediateData',
  'MaxConnections',
  'MaxOutstandingR2T',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'ErrorRecoveryLevel',
  'DataPDUInOrder',
  'DataSequenceInOrder',
  'IFMarker',
  'OFMarker',
  'IFMarkInt',
  'OFMarkInt',
  'TaskReporting',
  'iSCSIProtocolLevel',
  'X#NodeArchitecture',
  'X-com.example.Turbo',
  'CHAP_X',
];
const keyArb = weighted<string>(
  [10, fc.constantFrom(...KNOWN_KEYS)],
  [1, fc.stringMatching(/^[A-Z][A-Za-z0-9.\-+@_]{0,70}$/)],
  [1, fc.string({ maxLength: 12 })],
);

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** Values: the special answers, boundaries of every numeric range, CHAP-shaped binaries, and garbage. */
const valueArb = weighted<string>(
  [
    6,
    fc.constantFrom(
      'CHAP',
      'None',
      'CHAP,None',
      'KRB5',
      'Reject',
      'NotUnderstood',
      'Irrelevant',
      'Yes',
      'No',
      'yes',
      '',
      '5',
      '6',
      '7',
      '8',
      '5,7',
      '0',
      '1',
      '2',
      '3',
      '255',
      '256',
      '-1',
      '+1',
      ' 1',
      '1 ',
      '0x',
      '0b',
      '0x0',
      '0xZZ',
      '0b====',
      '511',
      '512',
      '8192',
      '65535',
      '65536',
      '262144',
      '16777215',
      '16777216',
      '3600',
      '3601',
      '4294967296',
      '0x1fffffffffffff',
      '99999999999999999999',
      'CRC32C',
      'None,CRC32C',
      'CRC32C,None',
      'RFC3720',
      'FastAbort',
      'ResponseFence',
      '127.0.0.1:3260,1',
      '[::1]:3260,1',
      'a/b:3260',
      'x\ny',
      'x\r\ny',
      'x\u0000y',
      '\u0000',
      'é',
      '\u202e',
    ),
  ],
  [2, fc.integer({ min: -2, max: 2 ** 32 }).map(String)],
  [2, fc.uint8Array({ minLength: 0, maxLength: 1100 }).map((b) => `0x${hex(b)}`)],
  [1, fc.uint8Array({ minLength: 0, maxLength: 100 }).map((b) => `0b${Buffer.from(b).toString('base64')}`)],
  [2, fc.string({ maxLength: 24, unit: 'binary' })],
  [1, fc.integer({ min: 200, max: 9000 }).map((n) => 'v'.repeat(n))],
);

/** key=value NUL ..., as a hostile target sends it: no checks, NULs and newlines inside values allowed. */
function rawText(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

const textArb = fc
  .record({
    pairs: fc.array(fc.tuple(keyArb, valueArb), { maxLength: 5 }),
    damage: weighted<'none' | 'no-final-nul' | 'extra-nuls' | 'no-equals'>(
      [12, fc.constant('none')],
      [1, fc.constantFrom('no-final-nul', 'extra-nuls', 'no-equals')],
    ),
  })
  .map(({ pairs, damage }) => {
    let b = rawText(pairs);
    if (damage === 'no-final-nul' && b.length > 0) b = b.subarray(0, b.length - 1);
    if (damage === 'extra-nuls') b = Buffer.concat([Buffer.alloc(3), b, Buffer.alloc(2)]);
    if (damage === 'no-equals') b = Buffer.concat([b, Buffer.from('Bogus\0')]);
    return b;
  });

/** Text shaped like the security stage: AuthMethod and CHAP keys with plausible and hostile values. */
const chapTextArb = fc
  .record({
    method: fc.option(fc.constantFrom('CHAP', 'None', 'Reject', 'CHAP,None', 'SRP'), { nil: undefined }),
    a: fc.option(weighted<string>([4, fc.constantFrom('5', '6', '7', '8')], [1, valueArb]), { nil: undefined }),
    i: fc.option(weighted<string>([4, u8.map(String)], [1, valueArb]), { nil: undefined }),
    c: fc.option(weighted<string>([4, fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => `0x${hex(b)}`)], [1, valueArb]), {
      nil: undefined,
    }),
    n: fc.option(fc.constantFrom(USER_IN, 'impostor', ''), { nil: undefined }),
    r: fc.option(weighted<string>([3, fc.uint8Array({ minLength: 16, maxLength: 32 }).map((b) => `0x${hex(b)}`)], [1, valueArb]), {
      nil: undefined,
    }),
    other: fc.array(fc.tuple(keyArb, valueArb), { maxLength: 2 }),
  })
  .map(({ method, a, i, c, n, r, other }) => {
    const pairs: Array<[string, string]> = [];
    if (method !== undefined) pairs.push(['AuthMethod', method]);
    if (a !== undefined) pairs.push(['CHAP_A', a]);
    if (i !== undefined) pairs.push(['CHAP_I', i]);
    if (c !== undefined) pairs.push(['CHAP_C', c]);
    if (n !== undefined) pairs.push(['CHAP_N', n]);
    if (r !== undefined) pairs.push(['CHAP_R', r]);
    return rawText([...pairs, ...other]);
  });

const dataArb: fc.Arbitrary<Buffer | undefined> = weighted<Buffer | undefined>(
  [4, fc.constant(undefined)],
  [1, fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => Buffer.from(b))],
  [4, textArb],
  [4, chapTextArb],
);

/** A Login Response's fields as the fuzzer draws them, and how it ties them to the request. */
interface ResponseSpec extends Omit<LoginResponse, 'opcode' | 'data'> {
  /** Copy ITT, ISID and CSG from the request (and Version-active 0), so the response gets past the first checks. */
  anchored: boolean;
  /** T and NSG as the request asked. */
  followStage: boolean;
  data: Buffer | undefined;
}

const responseArb: fc.Arbitrary<ResponseSpec> = fc.record({
  anchored: weighted([6, fc.constant(true)], [1, fc.constant(false)]),
  followStage: weighted([3, fc.constant(true)], [1, fc.constant(false)]),
  transit: fc.boolean(),
  cont: weighted([5, fc.constant(false)], [1, fc.constant(true)]),
  csg: fc.integer({ min: 0, max: 3 }),
  nsg: fc.integer({ min: 0, max: 3 }),
  versionMax: u8,
  versionActive: weighted([6, fc.constant(0)], [1, u8]),
  isid: fc.integer({ min: 0, max: 0xffff_ffff_ffff }),
  tsih: weighted([1, fc.constant(0)], [2, fc.integer({ min: 1, max: 0xffff })]),
  itt: u32,
  statSN: u32,
  expCmdSN: u32,
  maxCmdSN: u32,
  statusClass: weighted([14, fc.constant(0)], [2, fc.constantFrom(1, 2, 3)], [1, u8]),
  statusDetail: weighted([3, fc.constantFrom(0, 1, 2, 3)], [1, u8]),
  data: dataArb,
});

/** A plain answer: the request's stage, T and NSG, status 0, no text. */
const NEUTRAL: ResponseSpec = {
  anchored: true,
  followStage: true,
  transit: false,
  cont: false,
  csg: 0,
  nsg: 0,
  versionMax: 0,
  versionActive: 0,
  isid: 0,
  tsih: 0x1234,
  itt: 0,
  statSN: 1,
  expCmdSN: 1,
  maxCmdSN: 2,
  statusClass: 0,
  statusDetail: 0,
  data: undefined,
};

function buildResponse(s: ResponseSpec, req: LoginRequest): LoginResponse {
  const a = s.anchored;
  const cont = s.cont;
  // T and C together is a framing error the codec refuses (§11.13); keep it rare so the conversation is reached.
  const transit = a && s.followStage ? req.transit && !cont : a ? s.transit && !cont : s.transit;
  return {
    opcode: Opcode.LOGIN_RESPONSE,
    transit,
    cont,
    csg: a ? req.csg : s.csg,
    nsg: a && s.followStage ? req.nsg : s.nsg,
    versionMax: s.versionMax,
    versionActive: a ? 0 : s.versionActive,
    isid: a ? req.isid : s.isid,
    tsih: s.tsih,
    itt: a ? req.itt : s.itt,
    statSN: s.statSN,
    expCmdSN: s.expCmdSN,
    maxCmdSN: s.maxCmdSN,
    statusClass: s.statusClass,
    statusDetail: s.statusDetail,
    data: s.data && s.data.length > 0 ? s.data : undefined,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Driving a conversation

/** Through the real codec, as a socket delivers it; a PDU the decoder refuses throws its ProtocolError. */
function viaWire(resp: LoginResponse): LoginResponse {
  let out: Pdu | undefined;
  new PduFramer({ maxRecvDataSegmentLength: 1 << 24 }).push(encodePdu(resp), (p) => (out = p));
  if (!out) throw new Error('test bug: the response did not frame');
  return out as LoginResponse;
}

type Outcome =
  | { kind: 'done'; result: LoginResult }
  | { kind: 'error'; error: unknown }
  /** Still running when the script ended. */
  | { kind: 'running' }
  /** The scripted target gave up (it refuses what it does not expect); see the structured property. */
  | { kind: 'target-gave-up'; error: unknown };

interface Exchange {
  req: LoginRequest;
  /** The response as the conversation got it (after mutation and the codec); undefined if it did not decode. */
  resp?: LoginResponse;
}

interface Run {
  outcome: Outcome;
  log: Exchange[];
}

/**
 * Runs one login: `respond` answers each request (undefined ends the script). Errors of `respond` itself
 * are the target's, not the initiator's.
 */
function drive(config: LoginConfig, respond: (req: LoginRequest, i: number) => LoginResponse | undefined, maxSteps = 400): Run {
  const conv = new LoginConversation(config);
  const log: Exchange[] = [];
  let req = conv.start();
  for (let i = 0; i < maxSteps; i++) {
    const ex: Exchange = { req };
    log.push(ex);
    let raw: LoginResponse | undefined;
    try {
      raw = respond(req, i);
    } catch (error) {
      return { outcome: { kind: 'target-gave-up', error }, log };
    }
    if (!raw) return { outcome: { kind: 'running' }, log };
    try {
      ex.resp = viaWire(raw);
      const step = conv.handle(ex.resp);
      if ('done' in step) return { outcome: { kind: 'done', result: step.done }, log };
      req = step.next;
    } catch (error) {
      return { outcome: { kind: 'error', error }, log };
    }
  }
  return { outcome: { kind: 'running' }, log };
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return `non-Error thrown: ${String(err)}`;
  return `${err.constructor.name}: ${err.message}\n${err.stack ?? ''}`;
}

/** Every text the login exposes to a log or a user: messages, causes, stacks, warnings, the result. */
function exposedTexts(outcome: Outcome): string[] {
  const out: string[] = [];
  const fromError = (e: unknown, depth = 0) => {
    if (depth > 5 || e === undefined || e === null) return;
    if (e instanceof Error) {
      out.push(e.message, String(e), e.stack ?? '');
      if (e instanceof LoginError && e.targetAddress) out.push(JSON.stringify(e.targetAddress));
      fromError((e as { cause?: unknown }).cause, depth + 1);
    } else out.push(String(e));
  };
  if (outcome.kind === 'error' || outcome.kind === 'target-gave-up') fromError(outcome.error);
  if (outcome.kind === 'done') out.push(JSON.stringify(outcome.result), ...outcome.result.warnings);
  return out;
}

/** The checks every run must pass, whatever the target sent. */
function checkCommon(run: Run, config: LoginConfig): void {
  const { outcome } = run;
  if (outcome.kind === 'error') {
    const ok = outcome.error instanceof LoginError || outcome.error instanceof ProtocolError;
    expect(ok, `the login failed with something other than LoginError/ProtocolError: ${describeError(outcome.error)}`).toBe(true);
    expect((outcome.error as Error).message.length).toBeGreaterThan(0);
  }
  for (const text of exposedTexts(outcome))
    for (const s of SECRETS) expect(text.includes(s), `a secret is quoted in ${JSON.stringify(text.slice(0, 200))}`).toBe(false);
  for (const { req } of run.log) {
    expect(req.opcode).toBe(Opcode.LOGIN_REQUEST);
    // §11.12: one ITT, ISID and CmdSN for the whole login; T and C never both set.
    expect([req.itt, req.isid, req.cmdSN]).toEqual([config.itt, config.isid, config.cmdSN]);
    expect(req.transit && req.cont).toBe(false);
    if (req.data) for (const s of SECRETS) expect(req.data.includes(Buffer.from(s, 'utf8')), 'a secret was sent in clear').toBe(false);
  }
  if (outcome.kind === 'done') {
    const auth = config.auth;
    if (auth.method === 'CHAP' && !auth.allowNone) expect(outcome.result.authMethod).toBe('CHAP');
    if (auth.method === 'None') expect(outcome.result.authMethod).toBe('None');
    checkParams(outcome.result, config);
  }
}

/** A negotiated result every target must leave us with (ranges of §13, what we did not offer never on). */
function checkParams(result: LoginResult, config: LoginConfig): void {
  const p = result.params;
  const w = config.wishes;
  const inRange = (key: string, v: number) => {
    const r = keyRule(key)!;
    expect(Number.isInteger(v) && v >= r.min! && v <= r.max!, `${key}=${v} outside ${r.min}..${r.max}`).toBe(true);
  };
  inRange('MaxBurstLength', p.maxBurstLength);
  inRange('FirstBurstLength', p.firstBurstLength);
  inRange('MaxRecvDataSegmentLength', p.maxXmitDataSegmentLength);
  inRange('MaxOutstandingR2T', p.maxOutstandingR2T);
  inRange('MaxConnections', p.maxConnections);
  inRange('DefaultTime2Wait', p.defaultTime2Wait);
  inRange('DefaultTime2Retain', p.defaultTime2Retain);
  inRange('ErrorRecoveryLevel', p.errorRecoveryLevel);
  expect(p.maxRecvDataSegmentLength).toBe(w.maxRecvDataSegmentLength);
  if (w.maxXmitDataSegmentLength > 0) expect(p.maxXmitDataSegmentLength).toBeLessThanOrEqual(w.maxXmitDataSegmentLength);
  // §13.1: the digest is one of the values we offered.
  expect(w.headerDigest).toContain(p.headerDigest ? 'CRC32C' : 'None');
  expect(w.dataDigest).toContain(p.dataDigest ? 'CRC32C' : 'None');
  expect(p.firstBurstLength).toBeLessThanOrEqual(p.maxBurstLength);
  if (p.targetPortalGroupTag !== undefined) inRange('TargetPortalGroupTag', p.targetPortalGroupTag);
  // §11.13.3: a non-zero TSIH, the session's own when it has one.
  expect(result.tsih).not.toBe(0);
  if (config.tsih !== 0) expect(result.tsih).toBe(config.tsih);
}

// ---------------------------------------------------------------------------------------------------------
// An independent view of the CHAP exchange (as the scripted target computes it, not through src/iscsi/chap.ts)

function parsePairs(data: Buffer): Array<[string, string]> | undefined {
  if (data.length === 0) return [];
  const s = data.toString('utf8');
  if (!s.endsWith('\0')) return undefined;
  const out: Array<[string, string]> = [];
  for (const kv of s.slice(0, -1).split('\0')) {
    if (kv === '') continue;
    const i = kv.indexOf('=');
    if (i < 0) return undefined;
    out.push([kv.slice(0, i), kv.slice(i + 1)]);
  }
  return out;
}

/** The logical texts of one direction: C=1 parts joined (§6.1), in order. */
function texts(parts: Array<{ data?: Buffer; cont: boolean }>): Array<Map<string, string>> {
  const out: Array<Map<string, string>> = [];
  let held: Buffer[] = [];
  for (const p of parts) {
    if (p.data) held.push(p.data);
    if (p.cont) continue;
    const pairs = parsePairs(Buffer.concat(held)) ?? [];
    held = [];
    const m = new Map<string, string>();
    for (const [k, v] of pairs) if (!m.has(k)) m.set(k, v);
    out.push(m);
  }
  return out;
}

function decodeBinary(v: string): Buffer | undefined {
  if (/^0x[0-9a-f]+$/i.test(v)) {
    const h = v.slice(2);
    return Buffer.from(h.length % 2 ? `0${h}` : h, 'hex');
  }
  if (/^0b[A-Za-z0-9+/]+={0,2}$/i.test(v)) return Buffer.from(v.slice(2), 'base64');
  return undefined;
}

function chapHash(alg: number, id: number, secret: string, challenge: Buffer): Buffer {
  return createHash(HASH_OF[alg])
    .update(Buffer.from([id]))
    .update(secret, 'utf8')
    .update(challenge)
    .digest();
}

/**
 * After a successful login with CHAP: our CHAP_R answers the challenge the target sent, computed with our
 * secret; with mutual CHAP the target's CHAP_R answers our challenge with the mutual secret, under the name
 * we expect. A login that succeeds without these authenticated nobody.
 */
function checkChapSuccess(run: Run, config: LoginConfig): void {
  const auth = config.auth;
  if (run.outcome.kind !== 'done' || auth.method !== 'CHAP' || run.outcome.result.authMethod !== 'CHAP') return;
  const theirs = texts(run.log.filter((e) => e.resp).map((e) => e.resp!));
  const ours = texts(run.log.map((e) => e.req));
  const challenge = theirs.find((t) => t.has('CHAP_C'));
  const response = ours.find((t) => t.has('CHAP_R'));
  expect(challenge, 'CHAP succeeded but the target never sent CHAP_C').toBeDefined();
  expect(response, 'CHAP succeeded but we never sent CHAP_R').toBeDefined();
  const alg = Number(challenge!.get('CHAP_A'));
  expect(Object.keys(HASH_OF).map(Number)).toContain(alg);
  expect(response!.get('CHAP_N')).toBe(USER);
  const expected = chapHash(alg, Number(challenge!.get('CHAP_I')), SECRET, decodeBinary(challenge!.get('CHAP_C')!)!);
  expect(decodeBinary(response!.get('CHAP_R')!)?.equals(expected), 'our CHAP_R is not H(I, secret, C)').toBe(true);
  if (auth.passwordIn === undefined) return;
  const ourId = Number(response!.get('CHAP_I'));
  const ourChallenge = decodeBinary(response!.get('CHAP_C') ?? '');
  expect(ourChallenge, 'mutual CHAP succeeded but we sent no challenge').toBeDefined();
  const proof = theirs.find((t) => t.has('CHAP_R'));
  expect(proof, 'mutual CHAP succeeded without a CHAP_R from the target').toBeDefined();
  expect(proof!.get('CHAP_N')).toBe(auth.usernameIn);
  const mutual = chapHash(alg, ourId, SECRET_IN, ourChallenge!);
  expect(decodeBinary(proof!.get('CHAP_R')!)?.equals(mutual), 'the target never proved the mutual secret').toBe(true);
}

// ---------------------------------------------------------------------------------------------------------

describe('random Login Responses (header fields, text, bytes) through the codec', () => {
  it('end in a result or a LoginError/ProtocolError; no secret leaks; no success without authentication', () => {
    const stats = { done: 0, error: 0, running: 0, deep: 0 };
    fc.assert(
      fc.property(configArb, fc.array(responseArb, { minLength: 1, maxLength: 10 }), (spec, script) => {
        const config = loginConfig(spec);
        const run = drive(config, (req, i) => (i < script.length ? buildResponse(script[i], req) : undefined));
        expect(run.outcome.kind).not.toBe('target-gave-up');
        checkCommon(run, config);
        checkChapSuccess(run, config);
        // Nobody can guess H(I, mutual secret, C) for a challenge it never saw.
        const mutual = config.auth.method === 'CHAP' && config.auth.passwordIn !== undefined;
        expect(mutual && run.outcome.kind === 'done', 'mutual CHAP succeeded against random answers').toBe(false);
        stats[run.outcome.kind as 'done' | 'error' | 'running']++;
        if (run.log.length >= 2) stats.deep++;
      }),
      { numRuns: 1500 },
    );
    // The arbitraries must get past the first checks often enough to matter.
    expect(stats.deep).toBeGreaterThan(120);
  });

  it('never loops: a target answering forever with C=1 parts or T=0 is cut off by the conversation', () => {
    fc.assert(
      fc.property(configArb, fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (spec, cont, part) => {
        const config = loginConfig({ ...spec, maxSend: undefined });
        const run = drive(
          config,
          (req) => ({
            ...buildResponse({ ...NEUTRAL, anchored: true, followStage: false, transit: false, cont }, req),
            data: cont ? Buffer.from(part) : undefined,
          }),
          5000,
        );
        expect(run.outcome.kind).toBe('error');
        checkCommon(run, config);
        expect((run.outcome as { error: Error }).error).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 20 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// A mostly valid target, mutated

const OPERATIONAL_KEYS = Object.keys(TGT_VALUES);
/** Values near what an operational key takes, and its hostile neighbours. */
const opValueArb = weighted<string>(
  [
    4,
    fc.constantFrom(
      'Yes',
      'No',
      'None',
      'CRC32C',
      'CRC32C,None',
      'None,CRC32C',
      'Reject',
      'Irrelevant',
      'NotUnderstood',
      '0',
      '1',
      '2',
      '3',
      '511',
      '512',
      '8192',
      '65536',
      '262144',
      '16776192',
      '16777215',
      '16777216',
      '3600',
      '3601',
      '65535',
      '65536',
      '0x200',
      '',
      'FastAbort',
      'RFC3720,FastAbort',
    ),
  ],
  [1, valueArb],
);
const MISBEHAVIOURS: Misbehaviour[] = [
  'wrong-algorithm',
  'reject-algorithm',
  'bad-mutual-response',
  'mirror-response',
  'no-mutual-response',
  'auth-none',
  'skip-auth',
  'redirect',
];

const targetArb: fc.Arbitrary<ScriptedTargetOptions> = fc
  .record({
    auth: weighted<'None' | 'CHAP' | 'Either'>([1, fc.constant('None')], [8, fc.constantFrom('CHAP', 'Either')]),
    username: weighted([8, fc.constant(USER)], [1, fc.constant('mallory')]),
    secret: weighted([8, fc.constant(SECRET)], [1, fc.constant('not-our-secret-123')]),
    mutualUsername: weighted([8, fc.constant(USER_IN)], [1, fc.constant('impostor')]),
    mutualSecret: weighted([8, fc.constant(SECRET_IN)], [1, fc.constantFrom(SECRET, 'not-the-target-secret')]),
    algorithms: rarely(fc.subarray([5, 6, 7, 8], { minLength: 1 }), 2),
    challengeLength: weighted([8, fc.constantFrom(16, 50)], [1, fc.integer({ min: 0, max: 1100 })]),
    values: rarely(fc.dictionary(fc.constantFrom(...OPERATIONAL_KEYS), opValueArb, { minKeys: 1, maxKeys: 2 })),
    answerOverrides: rarely(
      fc.dictionary(fc.constantFrom(...OPERATIONAL_KEYS, 'MaxRecvDataSegmentLength'), opValueArb, { minKeys: 1, maxKeys: 2 }),
    ),
    proposals: rarely(
      fc.array(
        fc.tuple(
          fc.constantFrom(...OPERATIONAL_KEYS, 'TaskReporting', 'X-com.example.Turbo', 'iSCSIProtocolLevel', 'IFMarkInt'),
          opValueArb,
        ),
        {
          minLength: 1,
          maxLength: 2,
        },
      ),
    ),
    finalExtra: rarely(
      fc.array(fc.tuple(fc.constantFrom('TargetAlias', 'TaskReporting', 'X-vendor.key', 'TargetAddress', 'MaxBurstLength'), opValueArb), {
        minLength: 1,
        maxLength: 1,
      }),
    ),
    maxRecvDataSegmentLength: weighted([6, fc.constantFrom(512, 8192, 65536, 16777215)], [1, fc.constantFrom(511, 16777216)]),
    maxSegment: rarely(fc.integer({ min: 1, max: 300 }), 2),
    tsih: weighted([6, fc.constant(0x1234)], [1, u16]),
    statSN: u32,
    misbehave: rarely(fc.subarray(MISBEHAVIOURS, { minLength: 1, maxLength: 2 })),
    redirectTo: fc.constantFrom('192.0.2.7:3261,2', '[2001:db8::7]', 'a/b:3260', ''),
  })
  // ScriptedTarget spreads its options over its defaults: an absent option must not be an undefined one.
  .map((o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as ScriptedTargetOptions);

type Mutation =
  | {
      at: number;
      kind: 'header';
      field: 'transit' | 'cont' | 'csg' | 'nsg' | 'tsih' | 'statSN' | 'statusClass' | 'itt' | 'versionActive';
      value: number;
    }
  | { at: number; kind: 'value'; index: number; value: string }
  | { at: number; kind: 'key'; index: number; key: string }
  | { at: number; kind: 'drop' | 'duplicate'; index: number }
  | { at: number; kind: 'add'; key: string; value: string }
  | { at: number; kind: 'byte'; offset: number; byte: number }
  | { at: number; kind: 'truncate'; length: number };

const at = fc.integer({ min: 0, max: 7 });
const mutationArb: fc.Arbitrary<Mutation> = weighted<Mutation>(
  [
    1,
    fc.record({
      at,
      kind: fc.constant('header' as const),
      field: fc.constantFrom('transit', 'cont', 'csg', 'nsg', 'tsih', 'statSN', 'statusClass', 'itt', 'versionActive'),
      value: fc.oneof(fc.integer({ min: 0, max: 3 }), u16),
    }),
  ],
  [4, fc.record({ at, kind: fc.constant('value' as const), index: fc.nat(12), value: weighted<string>([1, opValueArb], [1, valueArb]) })],
  [1, fc.record({ at, kind: fc.constant('key' as const), index: fc.nat(12), key: keyArb })],
  [1, fc.record({ at, kind: fc.constantFrom('drop' as const, 'duplicate' as const), index: fc.nat(12) })],
  [2, fc.record({ at, kind: fc.constant('add' as const), key: keyArb, value: weighted<string>([1, opValueArb], [1, valueArb]) })],
  [1, fc.record({ at, kind: fc.constant('byte' as const), offset: fc.nat(400), byte: u8 })],
  [1, fc.record({ at, kind: fc.constant('truncate' as const), length: fc.nat(200) })],
);

/** A quarter of the logins unmutated, the others with up to three mutations. */
const mutationsArb = weighted<Mutation[]>([1, fc.constant([])], [3, fc.array(mutationArb, { maxLength: 3 })]);

/** Applies the mutations for response #i; returns the response and whether anything changed. */
function mutate(resp: LoginResponse, i: number, mutations: readonly Mutation[]): { resp: LoginResponse; changed: boolean } {
  const mine = mutations.filter((m) => m.at === i);
  if (mine.length === 0) return { resp, changed: false };
  const out: LoginResponse = { ...resp };
  const before = encodePdu(resp);
  for (const m of mine) {
    const data = out.data ?? Buffer.alloc(0);
    const pairs = parsePairs(data);
    switch (m.kind) {
      case 'header': {
        const f = m.field;
        if (f === 'transit' || f === 'cont') out[f] = m.value % 2 === 1;
        else if (f === 'csg' || f === 'nsg') out[f] = m.value & 3;
        else out[f] = m.value;
        break;
      }
      case 'value':
      case 'key':
      case 'drop':
      case 'duplicate': {
        if (!pairs || pairs.length === 0) break;
        const j = m.index % pairs.length;
        if (m.kind === 'value') pairs[j] = [pairs[j][0], m.value];
        if (m.kind === 'key') pairs[j] = [m.key, pairs[j][1]];
        if (m.kind === 'drop') pairs.splice(j, 1);
        if (m.kind === 'duplicate') pairs.splice(j, 0, pairs[j]);
        out.data = rawText(pairs);
        break;
      }
      case 'add':
        out.data = Buffer.concat([data, rawText([[m.key, m.value]])]);
        break;
      case 'byte':
        if (data.length === 0) break;
        out.data = Buffer.from(data);
        out.data[m.offset % data.length] = m.byte;
        break;
      case 'truncate':
        out.data = data.subarray(0, Math.min(data.length, m.length));
        break;
    }
    if (out.data && out.data.length === 0) out.data = undefined;
  }
  return { resp: out, changed: !encodePdu(out).equals(before) };
}

describe('a mostly valid target (CHAP, then operational answers) with mutated responses', () => {
  it('reaches full feature phase only when authenticated, with sane parameters; fails otherwise with our errors', () => {
    const stats = { done: 0, doneChap: 0, doneMutual: 0, operational: 0, error: 0, gaveUp: 0 };
    fc.assert(
      fc.property(configArb, targetArb, mutationsArb, (spec, options, mutations) => {
        const config = loginConfig(spec);
        const target = new ScriptedTarget({
          targetName: TARGET,
          mutualUsername: USER_IN,
          random: seededRandom(spec.seed + 1),
          ...options,
        });
        let mutated = false;
        const run = drive(config, (req, i) => {
          const m = mutate(target.handle(req), i, mutations);
          mutated ||= m.changed;
          return m.resp;
        });
        if (run.outcome.kind === 'target-gave-up') {
          // The scripted target refuses requests it does not expect. Unmutated, that is the initiator
          // breaking §11.12 (T and C together, a changed ITT/CmdSN, a wrong ExpStatSN, bad text).
          expect(mutated, `the target refused an unmutated login: ${describeError(run.outcome.error)}`).toBe(true);
          stats.gaveUp++;
        }
        checkCommon(run, config);
        checkChapSuccess(run, config);
        if (run.outcome.kind === 'done') {
          stats.done++;
          if (run.outcome.result.authMethod === 'CHAP') stats.doneChap++;
          if (config.auth.method === 'CHAP' && config.auth.passwordIn !== undefined) stats.doneMutual++;
          // The result echoes the Login Final-Response (§11.13.3, §11.13.4).
          const last = run.log[run.log.length - 1].resp!;
          expect([run.outcome.result.tsih, run.outcome.result.statSN, run.outcome.result.expCmdSN, run.outcome.result.maxCmdSN]).toEqual([
            last.tsih,
            last.statSN,
            last.expCmdSN,
            last.maxCmdSN,
          ]);
        }
        if (run.outcome.kind === 'error') stats.error++;
        if (run.log.some((e) => e.req.csg === 1)) stats.operational++;
      }),
      { numRuns: 1200 },
    );
    // Deep states were reached: successful logins of every kind, and the operational stage.
    expect(stats.done).toBeGreaterThan(50);
    expect(stats.doneChap).toBeGreaterThan(50);
    expect(stats.doneMutual).toBeGreaterThan(15);
    expect(stats.operational).toBeGreaterThan(300);
  });
  // Found by the property above: the text parser's key rule (a standard-label starts with a capital letter,
  // §6.1) refused the one standard key that does not, iSCSIProtocolLevel (RFC 7143 §13.24), so a target
  // proposing it failed every login.
  it('answers a target that proposes iSCSIProtocolLevel (RFC 7143 §13.24) and logs in', () => {
    for (const auth of ['None', 'CHAP'] as const) {
      const target = new ScriptedTarget({
        targetName: TARGET,
        auth,
        username: USER,
        secret: SECRET,
        proposals: [['iSCSIProtocolLevel', '1']],
      });
      const config = loginConfig({ auth, algorithms: ['MD5'], discovery: false, tsih: 0, wishes: {}, seed: 1 });
      const run = drive(config, (req) => target.handle(req));
      expect(run.outcome.kind, run.outcome.kind === 'error' ? describeError(run.outcome.error) : '').toBe('done');
      expect(texts(run.log.map((e) => e.req)).some((t) => t.get('iSCSIProtocolLevel') === '1')).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Redirects (§11.13.5, §13.8)

/** A host a TCP connection can be opened to: an IP literal (IPv6 with a zone), or an RFC 1123 host name. */
function isAddress(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const zone = /^([^%]+)%[A-Za-z0-9_.-]+$/.exec(host);
  if (zone && isIP(zone[1]) === 6) return true;
  const label = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
  return host.length <= 253 && new RegExp(`^${label}(?:\\.${label})*\\.?$`).test(host);
}

interface AddressCase {
  value: string;
  expected: { host: string; port: number; tpgt?: number };
}

const portArb = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
const tpgtArb = fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined });

const validAddressArb: fc.Arbitrary<AddressCase> = fc
  .tuple(
    fc.oneof(
      fc.ipV4().map((h) => ({ host: h, text: h })),
      fc.ipV6().map((h) => ({ host: h, text: `[${h}]` })),
      fc.tuple(fc.ipV6(), fc.constantFrom('eth0', 'enp0s31f6', '2')).map(([h, z]) => ({ host: `${h}%${z}`, text: `[${h}%${z}]` })),
      fc.domain().map((h) => ({ host: h, text: h })),
      fc.constant({ host: 'localhost', text: 'localhost' }),
    ),
    portArb,
    tpgtArb,
  )
  .map(([{ host, text }, port, tpgt]) => ({
    value: `${text}${port !== undefined ? `:${port}` : ''}${tpgt !== undefined ? `,${tpgt}` : ''}`,
    expected: { host, port: port ?? 3260, ...(tpgt !== undefined ? { tpgt } : {}) },
  }));

/** TargetAddress values no connection can be opened to, of the shapes a hostile target sends. */
const hostileAddressArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(
      // a host name with a path, a control character or punctuation in it
      fc
        .tuple(
          fc.domain(),
          fc.constantFrom('/', '\\', '/../', '\u0001', '\u001b', '\u007f', '"', '<', '>', '@', '?', '#', '*', '|', '\u0085', '$(x)'),
          fc.domain(),
        )
        .map(([a, c, b]) => `${a}${c}${b}`),
      fc.constantFrom('..', '.', '-', '%', '%eth0', 'a:b:c', '::::', ':::', '[a/b]', '[..]', '[::1]]', '[]', '', '\u0007', 'x y', '\t'),
      // no address at all, or a bad port or tag
      fc.constantFrom('10.0.0.1:0', '10.0.0.1:65536', '10.0.0.1:x', '10.0.0.1:-1', '10.0.0.1,65536', '10.0.0.1,x', '[::1', ':3260', ',1'),
      fc.string({ maxLength: 30, unit: 'binary' }).filter((s) => !s.includes('\0')),
    ),
    portArb,
    tpgtArb,
  )
  .map(([h, port, tpgt]) => `${h}${port !== undefined ? `:${port}` : ''}${tpgt !== undefined ? `,${tpgt}` : ''}`);

const redirectExtraArb = fc.array(
  fc.tuple(fc.constantFrom('TargetAlias', 'X-vendor.info', 'TargetPortalGroupTag'), fc.string({ maxLength: 10 })),
  { maxLength: 2 },
);

function redirect(config: LoginConfig, detail: number, data: Buffer | undefined): unknown {
  const conv = new LoginConversation(config);
  const req = conv.start();
  try {
    conv.handle(viaWire(buildResponse({ ...NEUTRAL, statusClass: 1, statusDetail: detail, data }, req)));
  } catch (err) {
    return err;
  }
  throw new Error('a redirect did not fail the login');
}

describe('login redirects (status class 1) with random TargetAddress values', () => {
  it('carry a valid TargetAddress exactly as sent, and say where', () => {
    fc.assert(
      fc.property(configArb, fc.constantFrom(1, 2), validAddressArb, redirectExtraArb, (spec, detail, a, extra) => {
        const config = loginConfig(spec);
        const err = redirect(config, detail, rawText([...extra, ['TargetAddress', a.value]]));
        expect(err, describeError(err)).toBeInstanceOf(LoginError);
        const e = err as LoginError;
        expect([e.kind, e.statusClass, e.statusDetail]).toEqual(['redirect', 1, detail]);
        expect(e.targetAddress).toEqual(a.expected);
        expect(e.message).toMatch(/target moved (temporarily|permanently)/);
      }),
      { numRuns: 400 },
    );
  });

  it('fail as a redirect with no address to follow when TargetAddress is missing or does not parse', () => {
    fc.assert(
      fc.property(
        configArb,
        u8,
        fc.constantFrom(
          '10.0.0.1:0',
          '10.0.0.1:65536',
          '10.0.0.1:x',
          '10.0.0.1,65536',
          '10.0.0.1,x',
          '[::1',
          ':3260',
          ',1',
          '',
          'a b',
          '[]',
        ),
        fc.boolean(),
        (spec, detail, value, missing) => {
          const err = redirect(loginConfig(spec), detail, missing ? undefined : rawText([['TargetAddress', value]]));
          expect(err, describeError(err)).toBeInstanceOf(LoginError);
          const e = err as LoginError;
          expect(e.kind).toBe('redirect');
          expect(e.targetAddress).toBeUndefined();
          expect(e.message).toMatch(/no TargetAddress|unusable TargetAddress/);
          expect(e.message).not.toMatch(/[\u0000-\u001f]/);
        },
      ),
      { numRuns: 100 },
    );
  });

  // Before e6e590a parseTargetAddress took any host without blanks, commas or brackets ("a/a", "..",
  // "a\u0001b", "a:b:c"), and openSession followed such a redirect.
  it('refuse a TargetAddress that is not an address: nothing to follow, a message on one line', () => {
    fc.assert(
      fc.property(configArb, fc.constantFrom(1, 2), hostileAddressArb, redirectExtraArb, (spec, detail, value, extra) => {
        const err = redirect(loginConfig(spec), detail, rawText([...extra, ['TargetAddress', value]]));
        expect(err, describeError(err)).toBeInstanceOf(LoginError);
        const e = err as LoginError;
        expect(e.kind).toBe('redirect');
        if (e.targetAddress !== undefined)
          expect(isAddress(e.targetAddress.host), `would follow to ${JSON.stringify(e.targetAddress)}`).toBe(true);
        else expect(e.message).toMatch(/no TargetAddress|unusable TargetAddress/);
        expect(e.message).not.toMatch(/[\u0000-\u001f]/);
      }),
      { numRuns: 400 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// The whole login over TCP (openSession: framing, the login driver's promise, connection handling)

type WireStep = { kind: 'pdu'; spec: ResponseSpec } | { kind: 'bytes'; bytes: Uint8Array };

const wireStepArb: fc.Arbitrary<WireStep> = weighted<WireStep>(
  [8, responseArb.map((spec) => ({ kind: 'pdu' as const, spec }))],
  [1, fc.uint8Array({ minLength: 1, maxLength: 120 }).map((bytes) => ({ kind: 'bytes' as const, bytes }))],
);

describe('openSession against a target answering random PDUs over TCP', () => {
  let server: Server;
  let port = 0;
  /** What the current run's target answers: one step per Login Request, then FIN. */
  let script: WireStep[] = [];
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      const framer = new PduFramer({ maxRecvDataSegmentLength: 1 << 24 });
      const steps = script;
      let i = 0;
      socket.on('data', (chunk: Buffer) => {
        try {
          framer.push(chunk, (pdu) => {
            if (socket.writableEnded) return;
            const step = steps[i++];
            if (step === undefined || pdu.opcode !== Opcode.LOGIN_REQUEST) return void socket.end();
            socket.write(step.kind === 'bytes' ? step.bytes : encodePdu(buildResponse(step.spec, pdu as LoginRequest)));
            // Garbage bytes may leave a PDU unfinished: nothing more comes, so the initiator must see the FIN.
            if (i >= steps.length || step.kind === 'bytes') socket.end();
          });
        } catch {
          socket.destroy();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('settles promptly (no timeout) with a session or a LoginError/ProtocolError/TransportError, quoting no secret', async () => {
    await fc.assert(
      fc.asyncProperty(configArb, fc.array(wireStepArb, { minLength: 1, maxLength: 6 }), async (spec, steps) => {
        script = steps;
        const config = loginConfig(spec);
        const started = performance.now();
        let outcome: Outcome;
        try {
          const opened = await openSession({
            host: '127.0.0.1',
            port,
            targetName: config.targetName,
            initiatorName: INITIATOR,
            auth: config.auth,
            wishes: config.wishes,
            tsih: config.tsih,
            loginTimeoutMs: 10_000,
            maxRedirects: 0,
          });
          opened.session.close();
          outcome = { kind: 'done', result: opened.login };
        } catch (error) {
          outcome = { kind: 'error', error };
        }
        // Every request was answered and the script ends with FIN: nothing is left to wait for.
        expect(performance.now() - started).toBeLessThan(5000);
        if (outcome.kind === 'error') {
          const e = outcome.error;
          const ok = e instanceof LoginError || e instanceof ProtocolError || e instanceof TransportError;
          expect(ok, describeError(e)).toBe(true);
          expect(e instanceof LoginError && e.kind === 'timeout', describeError(e)).toBe(false);
        }
        for (const text of exposedTexts(outcome)) for (const s of SECRETS) expect(text.includes(s)).toBe(false);
        if (outcome.kind === 'done' && config.auth.method === 'CHAP') {
          expect(config.auth.passwordIn, 'mutual CHAP succeeded against random answers').toBeUndefined();
          if (!config.auth.allowNone) expect(outcome.result.authMethod).toBe('CHAP');
        }
      }),
      { numRuns: 150 },
    );
  });
});
