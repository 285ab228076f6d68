/**
 * CHAP for iSCSI login, initiator side: algorithms, binary value encoding, responses, and the one-way and
 * mutual exchange with its reflection checks (RFC 7143 §12.1.3, RFC 1994, RFC 7143 §6.1 binary values).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { LoginError, ProtocolError } from './errors.js';
import { parseNumericValue, REJECT, SPECIAL_ANSWERS } from './keys.js';
import type { TextPair } from './text.js';

/**
 * CHAP algorithms by open-iscsi's `node.session.auth.chap_algs` names: the IANA number sent in CHAP_A
 * (§12.1.3, RFC 1994 and the IANA PPP CHAP registry), the node:crypto hash, and its digest length.
 */
export const CHAP_ALGORITHMS = Object.freeze({
  MD5: Object.freeze({ id: 5, hash: 'md5', digestLength: 16 }),
  SHA1: Object.freeze({ id: 6, hash: 'sha1', digestLength: 20 }),
  SHA256: Object.freeze({ id: 7, hash: 'sha256', digestLength: 32 }),
  'SHA3-256': Object.freeze({ id: 8, hash: 'sha3-256', digestLength: 32 }),
});
export type ChapAlgorithmName = keyof typeof CHAP_ALGORITHMS;

/** CHAP_A numbers by name: `{ MD5: 5, SHA1: 6, SHA256: 7, 'SHA3-256': 8 }`. */
export const CHAP_ALGORITHM_IDS: Readonly<Record<ChapAlgorithmName, number>> = Object.freeze({
  MD5: 5,
  SHA1: 6,
  SHA256: 7,
  'SHA3-256': 8,
});

/**
 * open-iscsi's default `chap_algs` is MD5 alone. Keep it: tgt 1.0.85 accepts only 5 and 7 and computes
 * SHA-1 for 7, so an initiator that offers SHA256 first fails against it (open-iscsi issue #180).
 */
export const DEFAULT_CHAP_ALGORITHMS: readonly ChapAlgorithmName[] = Object.freeze(['MD5']);

/** RFC 7143 §12.1.3: secrets SHOULD be at least 12 bytes (96 bits). */
export const MIN_SECRET_LENGTH = 12;
/** Upper bound on a challenge we accept: RFC 7143 §12.1.3 caps CHAP_C at 1024 bytes. */
export const MAX_CHALLENGE_LENGTH = 1024;

export function chapAlgorithmById(id: number): ChapAlgorithmName | undefined {
  return (Object.keys(CHAP_ALGORITHM_IDS) as ChapAlgorithmName[]).find((n) => CHAP_ALGORITHM_IDS[n] === id);
}

function isAlgorithmName(s: string): s is ChapAlgorithmName {
  return Object.hasOwn(CHAP_ALGORITHMS, s);
}

/**
 * Parses open-iscsi's `chap_algs` value ("SHA3-256,SHA256,MD5"): names in order of preference,
 * case-insensitive, blanks ignored, duplicates dropped. Throws RangeError on an unknown name.
 */
export function parseChapAlgs(value: string): ChapAlgorithmName[] {
  const out: ChapAlgorithmName[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim().toUpperCase();
    if (name === '') continue;
    if (!isAlgorithmName(name))
      throw new RangeError(`unknown CHAP algorithm ${JSON.stringify(raw.trim())} (known: MD5, SHA1, SHA256, SHA3-256)`);
    if (!out.includes(name)) out.push(name);
  }
  if (out.length === 0) throw new RangeError('empty CHAP algorithm list');
  return out;
}

export function formatChapAlgs(algs: readonly ChapAlgorithmName[]): string {
  return algs.join(',');
}

/** Encodes binary as a hex-constant ("0x..."), the form every target decodes (§6.1). */
export function encodeChapBinary(value: Buffer): string {
  return `0x${value.toString('hex')}`;
}

const HEX_RE = /^[0-9a-fA-F]+$/;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Decodes a binary-value: "0x"/"0X" hex-constant or "0b"/"0B" base64-constant (§6.1). CHAP_C and CHAP_R
 * are large-binary-values, so decimal is not allowed. Malformed input throws ProtocolError naming the key.
 */
export function decodeChapBinary(value: string, key = 'value'): Buffer {
  const prefix = value.slice(0, 2).toLowerCase();
  const body = value.slice(2);
  if (prefix === '0x') {
    if (!HEX_RE.test(body)) throw new ProtocolError(`${key} is not a valid hex-constant (RFC 7143 §6.1)`);
    // A hex-constant is a number: an odd digit count means a leading zero nibble, as open-iscsi reads it.
    return Buffer.from(body.length % 2 ? `0${body}` : body, 'hex');
  }
  if (prefix === '0b') {
    // RFC 4648 base64 with padding; a length of 1 mod 4 cannot encode whole bytes.
    if (!BASE64_RE.test(body) || body.length % 4 === 1 || (body.includes('=') && body.length % 4 !== 0))
      throw new ProtocolError(`${key} is not a valid base64-constant (RFC 7143 §6.1)`);
    return Buffer.from(body, 'base64');
  }
  throw new ProtocolError(`${key} must start with 0x or 0b (RFC 7143 §6.1 binary-value)`);
}

/** RFC 1994 §4.1: Response = H(Identifier || secret || Challenge), one octet of identifier. */
export function chapResponse(alg: ChapAlgorithmName, id: number, secret: string | Buffer, challenge: Buffer): Buffer {
  if (!Number.isInteger(id) || id < 0 || id > 255) throw new RangeError(`CHAP identifier ${id} outside 0..255`);
  const h = createHash(CHAP_ALGORITHMS[alg].hash);
  h.update(Buffer.from([id]));
  h.update(typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
  h.update(challenge);
  return h.digest();
}

/** Constant-time comparison; different lengths are simply unequal. */
export function chapEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Warnings about a secret that the RFC discourages but tgtd and open-iscsi accept. Never quotes the secret. */
export function secretWarnings(label: string, secret: string): string[] {
  const n = Buffer.byteLength(secret, 'utf8');
  return n < MIN_SECRET_LENGTH ? [`${label} is ${n} bytes; RFC 7143 §12.1.3 asks for at least ${MIN_SECRET_LENGTH}`] : [];
}

export interface ChapInitiatorOptions {
  /** CHAP_N we send (node.session.auth.username). */
  username: string;
  /** Our secret (auth.password). */
  secret: string;
  /** The name the target must give in mutual CHAP (auth.username_in); any name when absent. */
  usernameIn?: string;
  /** The target's secret (auth.password_in); its presence turns on mutual CHAP. */
  secretIn?: string;
  /** CHAP_A offer, in order of preference. Default MD5 only. */
  algorithms?: readonly ChapAlgorithmName[];
  /** Random source for our CHAP_I and CHAP_C; default crypto.randomBytes. Injectable for tests. */
  random?: (n: number) => Buffer;
  /**
   * Challenges we sent earlier (hex), shared across logins to catch a target that replays one of them
   * at us (reflection, §12.1.3). Default: this exchange only.
   */
  sentChallenges?: Set<string>;
}

function authError(message: string): LoginError {
  return new LoginError(`CHAP authentication failed: ${message}`, 'authentication');
}

function pick(pairs: readonly TextPair[], key: string): string | undefined {
  for (const [k, v] of pairs) if (k === key) return v;
  return undefined;
}

/**
 * One CHAP exchange of one login, initiator side: `offer()` (CHAP_A), `respond()` to the target's
 * CHAP_A/CHAP_I/CHAP_C (our CHAP_N/CHAP_R, plus CHAP_I/CHAP_C when mutual), then for mutual CHAP
 * `verify()` the target's CHAP_N/CHAP_R. Failures are LoginError kind 'authentication'; no message
 * ever contains a secret.
 */
export class ChapInitiator {
  readonly warnings: string[] = [];
  private readonly algorithms: readonly ChapAlgorithmName[];
  private readonly random: (n: number) => Buffer;
  private readonly sentChallenges: Set<string>;
  private state: 'new' | 'offered' | 'responded' | 'done' = 'new';
  private chosen?: ChapAlgorithmName;
  private ourId?: number;
  private ourChallenge?: Buffer;

  constructor(private readonly options: ChapInitiatorOptions) {
    this.algorithms = options.algorithms && options.algorithms.length > 0 ? [...options.algorithms] : DEFAULT_CHAP_ALGORITHMS;
    for (const a of this.algorithms) if (!isAlgorithmName(a)) throw new RangeError(`unknown CHAP algorithm ${String(a)}`);
    this.random = options.random ?? randomBytes;
    this.sentChallenges = options.sentChallenges ?? new Set();
    if (options.username === '') throw new RangeError('CHAP username is empty');
    this.warnings.push(...secretWarnings('the CHAP secret', options.secret));
    if (options.secretIn !== undefined) this.warnings.push(...secretWarnings('the mutual CHAP secret', options.secretIn));
  }

  get mutual(): boolean {
    return this.options.secretIn !== undefined;
  }

  /** The algorithm the target chose, once it has. */
  get algorithm(): ChapAlgorithmName | undefined {
    return this.chosen;
  }

  /** True when the exchange is complete (one-way: our response sent; mutual: the target verified). */
  get done(): boolean {
    return this.state === 'done' || (this.state === 'responded' && !this.mutual);
  }

  /** §12.1.3 step 1: CHAP_A=<A1,A2,...> in our order of preference. */
  offer(): TextPair[] {
    if (this.state !== 'new') throw new Error('CHAP offer already sent');
    this.state = 'offered';
    return [['CHAP_A', this.algorithms.map((a) => CHAP_ALGORITHM_IDS[a]).join(',')]];
  }

  /** §12.1.3 steps 2-3: takes the target's CHAP_A, CHAP_I, CHAP_C; returns CHAP_N, CHAP_R (and ours). */
  respond(pairs: readonly TextPair[]): TextPair[] {
    if (this.state !== 'offered') throw new Error('CHAP respond() out of order');
    const a = pick(pairs, 'CHAP_A');
    const i = pick(pairs, 'CHAP_I');
    const c = pick(pairs, 'CHAP_C');
    const offeredIds = this.algorithms.map((x) => CHAP_ALGORITHM_IDS[x]);
    if (a === undefined) throw authError('target did not choose a CHAP algorithm (no CHAP_A)');
    if (a === REJECT || SPECIAL_ANSWERS.has(a))
      throw authError(`target supports none of the offered algorithms (CHAP_A=${offeredIds.join(',')}; it answered ${a})`);
    // §12.1.3: "A is one of A1,A2... that were proposed by the initiator".
    const id = parseNumericValue(a);
    const name = id === undefined ? undefined : chapAlgorithmById(id);
    if (id === undefined || !name || !this.algorithms.includes(name))
      throw authError(`target chose CHAP_A=${a}, which we did not offer (offered ${offeredIds.join(',')})`);
    this.chosen = name;
    if (i === undefined || c === undefined) throw authError('target sent no CHAP_I or no CHAP_C');
    const targetId = parseNumericValue(i);
    if (targetId === undefined || targetId > 255) throw authError(`target sent CHAP_I=${JSON.stringify(i)}, not a number in 0..255`);
    let challenge: Buffer;
    try {
      challenge = decodeChapBinary(c, 'CHAP_C');
    } catch (err) {
      throw new LoginError(`CHAP authentication failed: ${(err as Error).message}`, 'authentication', undefined, undefined, { cause: err });
    }
    if (challenge.length === 0 || challenge.length > MAX_CHALLENGE_LENGTH)
      throw authError(`target challenge is ${challenge.length} bytes (must be 1..${MAX_CHALLENGE_LENGTH})`);
    // §12.1.3 reflection: never answer a challenge we issued ourselves, in this login or an earlier one.
    if (this.sentChallenges.has(challenge.toString('hex')))
      throw authError('target sent back a challenge we issued (reflection attack, RFC 7143 §12.1.3)');
    const out: TextPair[] = [
      ['CHAP_N', this.options.username],
      ['CHAP_R', encodeChapBinary(chapResponse(name, targetId, this.options.secret, challenge))],
    ];
    if (this.mutual) {
      // §12.1.3: a CHAP secret used to authenticate the initiator MUST NOT authenticate the target; a
      // target answer equal to what we would compute is then a failure, so refuse before sending.
      if (this.options.secretIn === this.options.secret)
        throw authError('the mutual CHAP secret equals the initiator secret (RFC 7143 §12.1.3 forbids it)');
      this.ourId = this.random(1)[0];
      const length = Math.max(16, CHAP_ALGORITHMS[name].digestLength);
      let ours = this.random(length);
      // A random challenge equal to the target's is astronomically unlikely; with an injected source it
      // is not, and sending it would hand the target our own response to replay.
      for (let tries = 0; chapEqual(ours, challenge); tries++) {
        if (tries >= 3) throw authError('could not generate a challenge different from the target one');
        ours = this.random(length);
      }
      this.ourChallenge = ours;
      this.sentChallenges.add(ours.toString('hex'));
      out.push(['CHAP_I', String(this.ourId)], ['CHAP_C', encodeChapBinary(ours)]);
    }
    this.state = 'responded';
    return out;
  }

  /** Mutual CHAP §12.1.3 step 4: checks the target's CHAP_N and CHAP_R. */
  verify(pairs: readonly TextPair[]): void {
    if (!this.mutual || this.state !== 'responded') throw new Error('CHAP verify() out of order');
    const n = pick(pairs, 'CHAP_N');
    const r = pick(pairs, 'CHAP_R');
    if (n === undefined || r === undefined) throw authError('target did not authenticate itself (no CHAP_N/CHAP_R for mutual CHAP)');
    if (this.options.usernameIn !== undefined && n !== this.options.usernameIn)
      throw authError(`target CHAP_N ${JSON.stringify(n)} is not the expected ${JSON.stringify(this.options.usernameIn)}`);
    let got: Buffer;
    try {
      got = decodeChapBinary(r, 'CHAP_R');
    } catch (err) {
      throw new LoginError(`CHAP authentication failed: ${(err as Error).message}`, 'authentication', undefined, undefined, { cause: err });
    }
    const alg = this.chosen!;
    const expected = chapResponse(alg, this.ourId!, this.options.secretIn!, this.ourChallenge!);
    // §12.1.3: a response equal to the one we would generate with our own secret means the same secret
    // serves both directions (or a reflection); it MUST be treated as a failure.
    const mirrored = chapResponse(alg, this.ourId!, this.options.secret, this.ourChallenge!);
    if (chapEqual(got, mirrored)) throw authError('target response was computed with our own secret (RFC 7143 §12.1.3)');
    if (!chapEqual(got, expected)) throw authError('target CHAP_R does not match the mutual CHAP secret');
    this.state = 'done';
  }
}
