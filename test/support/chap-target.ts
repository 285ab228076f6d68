/**
 * A scripted iSCSI target for login tests, PDU to PDU with no sockets: security stage with one-way and
 * mutual CHAP, operational negotiation, C-bit continuation both ways, and misbehaviours that tgtd cannot
 * produce (RFC 7143 §6.3 login, §11.12-§11.13 Login PDUs, §12.1.3 CHAP).
 *
 * Its CHAP arithmetic and text parsing are written here independently of src/iscsi so that a bug in the
 * initiator's code cannot hide behind the same bug in the target's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Opcode } from '../../src/iscsi/constants.js';
import { encodePdu, PduFramer } from '../../src/iscsi/framer.js';
import type { LoginConversation, LoginResult } from '../../src/iscsi/login.js';
import type { LoginRequest, LoginResponse, Pdu } from '../../src/iscsi/pdu.js';

export type Misbehaviour =
  /** Answers CHAP_A with an algorithm the initiator did not offer. */
  | 'wrong-algorithm'
  /** Answers CHAP_A=Reject. */
  | 'reject-algorithm'
  /** Uses, as its own CHAP_C, the challenge the initiator sent in the previous login (reflection). */
  | 'reflect-challenge'
  /** Answers mutual CHAP with a wrong CHAP_R. */
  | 'bad-mutual-response'
  /** Answers mutual CHAP with the response computed from the initiator's own secret. */
  | 'mirror-response'
  /** Moves on without answering mutual CHAP. */
  | 'no-mutual-response'
  /** Answers AuthMethod=None to an initiator that offered CHAP,None (a downgrade). */
  | 'auth-none'
  /** Chooses CHAP but ends the security stage without running it. */
  | 'skip-auth'
  /** Redirects the first Login Request (status 1/1) to `redirectTo`. */
  | 'redirect'
  /** Never ends a stage: every response has T=0 and no text. */
  | 'never-finish';

export interface ScriptedTargetOptions {
  targetName?: string;
  portalGroupTag?: number;
  /** 'CHAP' requires CHAP; 'None' accepts only AuthMethod=None; 'Either' takes CHAP when offered. */
  auth?: 'None' | 'CHAP' | 'Either';
  username?: string;
  secret?: string;
  /** Mutual CHAP: the name and secret this target proves itself with. */
  mutualUsername?: string;
  mutualSecret?: string;
  /** CHAP_A values this target implements (default 5, 6, 7, 8). */
  algorithms?: number[];
  /** Length of the target's CHAP_C (tgtd: 50). */
  challengeLength?: number;
  /** The target's own values for operational keys; defaults as tgt 1.0.85. */
  values?: Record<string, string>;
  /** Raw answers replacing the computed ones (to test bad answers). */
  answerOverrides?: Record<string, string>;
  /** Keys the target proposes in its first operational response (which then has T=0). */
  proposals?: Array<[string, string]>;
  /** Keys the target adds to its Login Final-Response. */
  finalExtra?: Array<[string, string]>;
  /** Declares MaxRecvDataSegmentLength (tgt does not). */
  maxRecvDataSegmentLength?: number;
  /** Splits the target's text into C=1 parts of this many bytes. */
  maxSegment?: number;
  tsih?: number;
  statSN?: number;
  misbehave?: Misbehaviour[];
  redirectTo?: string;
  random?: (n: number) => Buffer;
}

/** tgt 1.0.85's values, as captured (see test/iscsi/login.test.ts fixtures). */
export const TGT_VALUES: Record<string, string> = {
  HeaderDigest: 'None',
  DataDigest: 'None',
  InitialR2T: 'Yes',
  ImmediateData: 'Yes',
  MaxBurstLength: '262144',
  FirstBurstLength: '65536',
  DefaultTime2Wait: '2',
  DefaultTime2Retain: '0',
  MaxOutstandingR2T: '1',
  ErrorRecoveryLevel: '0',
  IFMarker: 'No',
  OFMarker: 'No',
  MaxConnections: '1',
  DataPDUInOrder: 'Yes',
  DataSequenceInOrder: 'Yes',
};

const HASHES: Record<number, string> = { 5: 'md5', 6: 'sha1', 7: 'sha256', 8: 'sha3-256' };
const MIN_KEYS = new Set([
  'MaxBurstLength',
  'FirstBurstLength',
  'DefaultTime2Retain',
  'MaxOutstandingR2T',
  'MaxConnections',
  'ErrorRecoveryLevel',
]);
const MAX_KEYS = new Set(['DefaultTime2Wait']);
const AND_KEYS = new Set(['ImmediateData', 'IFMarker', 'OFMarker']);
const OR_KEYS = new Set(['InitialR2T', 'DataPDUInOrder', 'DataSequenceInOrder']);
const LIST_KEYS = new Set(['HeaderDigest', 'DataDigest']);
const DECLARATIONS = new Set(['InitiatorName', 'InitiatorAlias', 'TargetName', 'SessionType']);

function parseText(data: Buffer | undefined): Array<[string, string]> {
  if (!data || data.length === 0) return [];
  const s = data.toString('utf8');
  if (!s.endsWith('\0')) throw new Error('scripted target: text without final NUL');
  return s
    .slice(0, -1)
    .split('\0')
    .map((kv) => {
      const i = kv.indexOf('=');
      if (i < 0) throw new Error(`scripted target: no '=' in ${kv}`);
      return [kv.slice(0, i), kv.slice(i + 1)] as [string, string];
    });
}

function encodeText(pairs: Array<[string, string]>): Buffer {
  return Buffer.from(pairs.map(([k, v]) => `${k}=${v}\0`).join(''), 'utf8');
}

function decodeBinary(v: string): Buffer {
  if (/^0x/i.test(v)) return Buffer.from(v.slice(2).length % 2 ? `0${v.slice(2)}` : v.slice(2), 'hex');
  if (/^0b/i.test(v)) return Buffer.from(v.slice(2), 'base64');
  throw new Error(`scripted target: bad binary ${v}`);
}

function hash(alg: number, id: number, secret: string, challenge: Buffer): Buffer {
  return createHash(HASHES[alg])
    .update(Buffer.from([id]))
    .update(secret, 'utf8')
    .update(challenge)
    .digest();
}

/** A target side of the login, one Login Response per Login Request. */
export class ScriptedTarget {
  /** Every request received and response sent, in order. */
  readonly log: Array<{ req: LoginRequest; resp: LoginResponse }> = [];
  /** The mutual challenges initiators sent us (for 'reflect-challenge' on the next login). */
  readonly receivedChallenges: Buffer[] = [];
  private readonly o: Required<
    Pick<ScriptedTargetOptions, 'portalGroupTag' | 'auth' | 'algorithms' | 'challengeLength' | 'tsih' | 'statSN'>
  > &
    ScriptedTargetOptions;
  private readonly random: (n: number) => Buffer;
  private statSN: number;
  private phase: 'first' | 'chap-a' | 'chap-r' | 'sec-done' | 'op' | 'done' = 'first';
  private alg = 5;
  private id = 0;
  private challenge: Buffer = Buffer.alloc(0);
  private incoming: Buffer[] = [];
  private outgoing: Buffer[] = [];
  private outgoingHeader?: { transit: boolean; csg: number; nsg: number; tsih: number };
  private proposed = false;
  private sentTpgt = false;
  private first?: LoginRequest;

  constructor(options: ScriptedTargetOptions = {}) {
    this.o = {
      portalGroupTag: 1,
      auth: 'None',
      algorithms: [5, 6, 7, 8],
      challengeLength: 50,
      tsih: 0x1234,
      statSN: 0x100,
      ...options,
    };
    this.random = options.random ?? randomBytes;
    this.statSN = this.o.statSN;
  }

  private bad(m: Misbehaviour): boolean {
    return this.o.misbehave?.includes(m) ?? false;
  }

  /** Resets per-login state so the same target (and its memory of challenges) serves another login. */
  reset(): void {
    this.phase = 'first';
    this.incoming = [];
    this.outgoing = [];
    this.outgoingHeader = undefined;
    this.proposed = false;
    this.sentTpgt = false;
    this.first = undefined;
    this.statSN = this.o.statSN;
  }

  handle(req: LoginRequest): LoginResponse {
    const resp = this.respond(req);
    this.log.push({ req, resp });
    return resp;
  }

  private response(req: LoginRequest, fields: Partial<LoginResponse>): LoginResponse {
    const resp: LoginResponse = {
      opcode: Opcode.LOGIN_RESPONSE,
      transit: false,
      cont: false,
      csg: req.csg,
      nsg: req.csg,
      versionMax: 0,
      versionActive: 0,
      isid: req.isid,
      tsih: req.tsih,
      itt: req.itt,
      statSN: this.statSN,
      expCmdSN: req.cmdSN,
      maxCmdSN: (req.cmdSN + 1) >>> 0,
      statusClass: 0,
      statusDetail: 0,
      ...fields,
    };
    this.statSN = (this.statSN + 1) >>> 0;
    return resp;
  }

  private fail(req: LoginRequest, statusClass: number, statusDetail: number, data?: Buffer): LoginResponse {
    this.phase = 'done';
    return this.response(req, { statusClass, statusDetail, csg: 0, nsg: 0, data });
  }

  /** Sends text, in C=1 parts when `maxSegment` is set (§11.13: C=1 responses have T=0). */
  private text(req: LoginRequest, pairs: Array<[string, string]>, h: { transit: boolean; nsg: number; tsih?: number }): LoginResponse {
    const data = encodeText(pairs);
    const tsih = h.tsih ?? req.tsih;
    const max = this.o.maxSegment;
    if (!max || data.length <= max)
      return this.response(req, { transit: h.transit, nsg: h.transit ? h.nsg : req.csg, tsih, data: data.length ? data : undefined });
    this.outgoing = [];
    for (let off = 0; off < data.length; off += max) this.outgoing.push(data.subarray(off, off + max));
    this.outgoingHeader = { transit: h.transit, csg: req.csg, nsg: h.nsg, tsih };
    return this.nextPart(req);
  }

  private nextPart(req: LoginRequest): LoginResponse {
    const part = this.outgoing.shift()!;
    const last = this.outgoing.length === 0;
    const h = this.outgoingHeader!;
    // §11.13: T=1 only in answer to a request with T=1.
    const transit = last && h.transit && req.transit;
    return this.response(req, {
      transit,
      cont: !last,
      nsg: transit ? h.nsg : req.csg,
      tsih: last ? h.tsih : req.tsih,
      data: part,
    });
  }

  private respond(req: LoginRequest): LoginResponse {
    if (req.opcode !== Opcode.LOGIN_REQUEST) throw new Error('scripted target: not a login request');
    if (this.first) {
      // §11.12.8: one CmdSN for the whole login; §11.12: same ITT and ISID.
      if (req.cmdSN !== this.first.cmdSN || req.itt !== this.first.itt || req.isid !== this.first.isid)
        throw new Error('scripted target: CmdSN, ITT or ISID changed during login');
      if (req.expStatSN !== this.statSN) throw new Error(`scripted target: ExpStatSN ${req.expStatSN}, expected ${this.statSN}`);
    } else {
      this.first = req;
    }
    if (req.transit && req.cont) throw new Error('scripted target: T and C both set');
    if (this.outgoing.length > 0) {
      // §11.13: the initiator fetches the rest of our text with empty requests.
      if (req.data?.length || req.cont) throw new Error('scripted target: expected an empty request for more text');
      return this.nextPart(req);
    }
    if (req.data) this.incoming.push(req.data);
    if (req.cont) return this.response(req, {}); // §11.12.2: answer a C=1 part with an empty response
    const pairs = parseText(Buffer.concat(this.incoming));
    this.incoming = [];
    if (this.bad('never-finish')) return this.response(req, {});
    const get = (k: string) => pairs.find(([key]) => key === k)?.[1];

    switch (this.phase) {
      case 'first': {
        if (!get('InitiatorName')) throw new Error('scripted target: no InitiatorName in the first request');
        if (this.bad('redirect')) return this.fail(req, 1, 1, encodeText([['TargetAddress', this.o.redirectTo ?? '192.0.2.7:3261,2']]));
        const type = get('SessionType') ?? 'Normal';
        if (type === 'Normal' && this.o.targetName && get('TargetName') !== this.o.targetName) return this.fail(req, 2, 3);
        if (req.csg === 1) {
          // The initiator skipped the security stage: fine unless we require CHAP (tgtd: 2/1).
          if (this.o.auth === 'CHAP') return this.fail(req, 2, 1);
          this.phase = 'op';
          return this.operational(req, pairs);
        }
        const offered = (get('AuthMethod') ?? 'None').split(',');
        const out: Array<[string, string]> = [['TargetPortalGroupTag', String(this.o.portalGroupTag)]];
        this.sentTpgt = true;
        const wantChap = this.o.auth === 'CHAP' || (this.o.auth === 'Either' && offered.includes('CHAP'));
        if (this.bad('auth-none') || !wantChap) {
          if (this.o.auth === 'CHAP' && !this.bad('auth-none')) return this.fail(req, 2, 1);
          out.push(['AuthMethod', 'None']);
          this.phase = 'sec-done';
          return this.text(req, out, { transit: req.transit, nsg: 1 });
        }
        if (!offered.includes('CHAP')) return this.fail(req, 2, 1);
        out.push(['AuthMethod', 'CHAP']);
        if (this.bad('skip-auth')) {
          this.phase = 'sec-done';
          return this.text(req, out, { transit: req.transit, nsg: 1 });
        }
        this.phase = 'chap-a';
        return this.text(req, out, { transit: false, nsg: 0 });
      }
      case 'chap-a': {
        const offered = (get('CHAP_A') ?? '').split(',').map(Number);
        // §12.1.3: the target picks one of the initiator's algorithms.
        let pick = offered.find((a) => this.o.algorithms.includes(a));
        if (this.bad('wrong-algorithm')) pick = [5, 6, 7, 8].find((a) => !offered.includes(a)) ?? 99;
        if (pick === undefined || this.bad('reject-algorithm')) return this.text(req, [['CHAP_A', 'Reject']], { transit: false, nsg: 0 });
        this.alg = pick;
        this.id = this.random(1)[0];
        this.challenge =
          this.bad('reflect-challenge') && this.receivedChallenges.length > 0
            ? this.receivedChallenges[this.receivedChallenges.length - 1]
            : this.random(this.o.challengeLength);
        this.phase = 'chap-r';
        return this.text(
          req,
          [
            ['CHAP_A', String(pick)],
            ['CHAP_I', String(this.id)],
            ['CHAP_C', `0x${this.challenge.toString('hex')}`],
          ],
          { transit: false, nsg: 0 },
        );
      }
      case 'chap-r': {
        const n = get('CHAP_N');
        const r = get('CHAP_R');
        if (n !== this.o.username || r === undefined) return this.fail(req, 2, 1);
        if (!decodeBinary(r).equals(hash(this.alg, this.id, this.o.secret ?? '', this.challenge))) return this.fail(req, 2, 1);
        const out: Array<[string, string]> = [];
        const ci = get('CHAP_I');
        const cc = get('CHAP_C');
        if (ci !== undefined && cc !== undefined && !this.bad('no-mutual-response')) {
          const theirs = decodeBinary(cc);
          this.receivedChallenges.push(theirs);
          let answer = hash(this.alg, Number(ci), this.o.mutualSecret ?? '', theirs);
          if (this.bad('mirror-response')) answer = hash(this.alg, Number(ci), this.o.secret ?? '', theirs);
          if (this.bad('bad-mutual-response')) answer = Buffer.from(answer.map((b) => b ^ 0xff));
          out.push(['CHAP_N', this.o.mutualUsername ?? 'target'], ['CHAP_R', `0x${answer.toString('hex')}`]);
        }
        this.phase = 'sec-done';
        return this.text(req, out, { transit: req.transit, nsg: 1 });
      }
      case 'sec-done': {
        if (req.csg === 0) return this.text(req, [], { transit: req.transit, nsg: 1 });
        this.phase = 'op';
        return this.operational(req, pairs);
      }
      case 'op':
        return this.operational(req, pairs);
      case 'done':
        throw new Error('scripted target: request after the login ended');
    }
  }

  /** Answers each offered key by its result function (§6.2), using the target's own values. */
  private operational(req: LoginRequest, pairs: Array<[string, string]>): LoginResponse {
    const values = { ...TGT_VALUES, ...this.o.values };
    const out: Array<[string, string]> = [];
    if (!this.sentTpgt) out.push(['TargetPortalGroupTag', String(this.o.portalGroupTag)]);
    this.sentTpgt = true;
    for (const [k, v] of pairs) {
      if (DECLARATIONS.has(k)) continue;
      if (this.o.answerOverrides && k in this.o.answerOverrides) {
        out.push([k, this.o.answerOverrides[k]]);
        continue;
      }
      const mine = values[k];
      if (this.o.proposals?.some(([pk]) => pk === k)) continue; // the initiator's reply to our proposal
      if (k === 'MaxRecvDataSegmentLength') continue; // declarative: nothing to answer
      if (mine === undefined) out.push([k, 'NotUnderstood']);
      else if (MIN_KEYS.has(k)) out.push([k, String(Math.min(Number(v), Number(mine)))]);
      else if (MAX_KEYS.has(k)) out.push([k, String(Math.max(Number(v), Number(mine)))]);
      else if (AND_KEYS.has(k)) out.push([k, v === 'Yes' && mine === 'Yes' ? 'Yes' : 'No']);
      else if (OR_KEYS.has(k)) out.push([k, v === 'Yes' || mine === 'Yes' ? 'Yes' : 'No']);
      else if (LIST_KEYS.has(k)) out.push([k, v.split(',').find((x) => mine.split(',').includes(x)) ?? 'Reject']);
      else out.push([k, 'NotUnderstood']);
    }
    if (this.o.maxRecvDataSegmentLength !== undefined && !this.proposed)
      out.push(['MaxRecvDataSegmentLength', String(this.o.maxRecvDataSegmentLength)]);
    if (this.o.proposals && !this.proposed) {
      this.proposed = true;
      out.push(...this.o.proposals);
      return this.text(req, out, { transit: false, nsg: 1 });
    }
    this.proposed = true;
    if (!req.transit) return this.text(req, out, { transit: false, nsg: 1 });
    out.push(...(this.o.finalExtra ?? []));
    this.phase = 'done';
    return this.text(req, out, { transit: true, nsg: 3, tsih: req.tsih || this.o.tsih });
  }
}

/** Encodes and decodes a PDU through the real codec, as a socket would. */
export function viaWire<T extends Pdu>(pdu: T): T {
  let out: Pdu | undefined;
  new PduFramer({ maxRecvDataSegmentLength: 1 << 24 }).push(encodePdu(pdu), (p) => (out = p));
  if (!out) throw new Error('PDU did not frame');
  return out as T;
}

/** Runs a whole login between a conversation and a scripted target, every PDU through the wire codec. */
export function driveLogin(conv: LoginConversation, target: ScriptedTarget): LoginResult {
  let req = viaWire(conv.start());
  for (let i = 0; i < 5000; i++) {
    const resp = viaWire(target.handle(req));
    const step = conv.handle(resp);
    if ('done' in step) return step.done;
    req = viaWire(step.next);
  }
  throw new Error('driveLogin: no end after 5000 round trips');
}
