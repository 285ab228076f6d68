/**
 * The initiator's login conversation as a pure state machine over Login Request/Response PDUs: stages,
 * authentication, operational negotiation and C-bit continuation (RFC 7143 §6.3 login phase, §11.12 Login
 * Request, §11.13 Login Response, §12.1 authentication).
 *
 * Flow, as open-iscsi's usr/login.c: SecurityNegotiation only when CHAP is configured (§6.3.1 lets the
 * first request start in either stage; AuthMethod may only be sent in the security stage).
 *   None:  [CSG1 NSG3 T] InitiatorName, TargetName, SessionType, our operational offer
 *   CHAP:  [CSG0 NSG1 T] InitiatorName, TargetName, SessionType, AuthMethod=CHAP,None  ->  [T=0] AuthMethod=CHAP
 *          [CSG0] CHAP_A=5  ->  [T=0] CHAP_A, CHAP_I, CHAP_C
 *          [CSG0 NSG1 T] CHAP_N, CHAP_R (+ CHAP_I, CHAP_C if mutual)  ->  [T NSG1] (+ CHAP_N, CHAP_R)
 *          [CSG1 NSG3 T] our operational offer
 *   then:  ... [T NSG3] answers, TSIH  (Login Final-Response)
 * A target that needs authentication refuses a login without it with status 2/1.
 * A response with C=1 is answered with an empty request; a request too long for one PDU goes out with
 * C=1 and the target answers each part with an empty response.
 */
import { Opcode, Stage, DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH } from './constants.js';
import { ChapInitiator, type ChapAlgorithmName } from './chap.js';
import { formatTargetAddress, parseTargetAddress } from './discovery.js';
import { LoginError, ProtocolError } from './errors.js';
import { NOT_UNDERSTOOD, REJECT, IRRELEVANT } from './keys.js';
import { Negotiator, type NegotiatedParams, type SessionWishes } from './negotiation.js';
import type { LoginRequest, LoginResponse } from './pdu.js';
import { assertUniqueKeys, encodeTextData, parseTextData, TextAccumulator, TextSegmenter, type TextPair } from './text.js';

export type AuthConfig =
  | { method: 'None' }
  | {
      method: 'CHAP';
      username: string;
      password: string;
      /** Mutual CHAP: the name and secret the target must prove. */
      usernameIn?: string;
      passwordIn?: string;
      /** CHAP_A offer in order of preference (open-iscsi chap_algs, default MD5). */
      algorithms: ChapAlgorithmName[];
      /**
       * Accept a target that answers AuthMethod=None although CHAP is configured. Default false: a
       * configured secret that silently goes unused hides a misconfigured target (open-iscsi #438).
       */
      allowNone?: boolean;
    };

export interface LoginConfig {
  initiatorName: string;
  initiatorAlias?: string;
  /** Absent => Discovery. */
  targetName?: string;
  sessionType: 'Normal' | 'Discovery';
  /** 48-bit ISID (§11.12.5). */
  isid: number;
  /** 0 for a new session, the session's TSIH to add or reinstate a connection (§11.12.6). */
  tsih: number;
  cid: number;
  itt: number;
  /** The CmdSN of every request of this login (§11.12.8). */
  cmdSN: number;
  /** ExpStatSN of the first request; default 0 (§11.12.9). */
  expStatSN?: number;
  auth: AuthConfig;
  wishes: SessionWishes;
  /** Random source for CHAP (mutual challenge); default crypto.randomBytes. */
  random?: (n: number) => Buffer;
  /**
   * Hex of the mutual CHAP challenges we sent in earlier logins, shared by the caller (per node) so that a
   * target replaying one of them as its own challenge is refused (reflection, §12.1.3). Updated in place.
   */
  chapSentChallenges?: Set<string>;
  /**
   * Largest data segment we send during login. Default 8192: the target's MaxRecvDataSegmentLength is
   * its default until it declares one, and it declares nothing before the operational stage (§13.12).
   */
  maxSendDataSegmentLength?: number;
}

export interface LoginResult {
  params: NegotiatedParams;
  tsih: number;
  /** StatSN of the Login Final-Response; the connection's ExpStatSN is this + 1. */
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  targetPortalGroupTag?: number;
  authMethod: 'None' | 'CHAP';
  chapAlgorithm?: string;
  /** Things that did not fail the login but deserve a log line (defaults used, weak secrets). */
  warnings: string[];
}

/**
 * A target that needs more round trips than this is broken or hostile; we stop instead of looping.
 * Exchanges that only move C-bit text parts do not count: they are bounded by MAX_LOGIN_TEXT_PARTS.
 */
export const MAX_LOGIN_ROUND_TRIPS = 32;
/** Most C=1 parts a target may split its login text into (1024 parts of 8192 bytes is 8 MiB). */
export const MAX_LOGIN_TEXT_PARTS = 1024;

const SECURITY_KEYS = /^(AuthMethod|CHAP_[A-Z]+)$/;

type AuthPhase = 'method' | 'chap-alg' | 'chap-response' | 'done';

function authError(message: string): LoginError {
  return new LoginError(message, 'authentication');
}

/**
 * One login on one connection. `start()` gives the first Login Request; every Login Response goes to
 * `handle()`, which returns the next request or, after the Login Final-Response, the result. Throws
 * LoginError (status, authentication, negotiation) or ProtocolError (a response that breaks §11.13).
 */
export class LoginConversation {
  private readonly config: LoginConfig;
  private readonly negotiator: Negotiator;
  private readonly chap?: ChapInitiator;
  private readonly maxSend: number;
  private readonly incoming = new TextAccumulator();
  /** Keys the target sent in this login: each at most once (§6.1). */
  private readonly seenKeys = new Set<string>();
  private readonly warnings: string[] = [];

  private stage: number = Stage.SECURITY_NEGOTIATION;
  private authPhase: AuthPhase = 'method';
  private authMethod?: 'None' | 'CHAP';
  private offeredOperational = false;
  private expStatSN: number;
  private roundTrips = 0;
  private textParts = 0;
  private started = false;
  private finished = false;
  /** The last request sent, to check the response against (stage, T bit, NSG). */
  private last?: LoginRequest;
  /** T and NSG of our last request that carried our own text: repeated while we fetch C=1 parts. */
  private intent = { transit: true, nsg: Stage.LOGIN_OPERATIONAL_NEGOTIATION as number };
  /** Remaining parts of a request sent with C=1, with the T/NSG its last part carries. */
  private outgoing?: { segmenter: TextSegmenter; transit: boolean; nsg: number };

  constructor(config: LoginConfig) {
    if (!config.initiatorName) throw new RangeError('InitiatorName is required (RFC 7143 §13.5)');
    if (config.sessionType === 'Normal' && !config.targetName) throw new RangeError('a Normal session needs a TargetName (RFC 7143 §13.4)');
    if (config.sessionType === 'Discovery' && config.targetName)
      throw new RangeError('a Discovery session sends no TargetName (RFC 7143 §13.4)');
    this.config = config;
    this.negotiator = new Negotiator(config.wishes, config.sessionType);
    this.maxSend = config.maxSendDataSegmentLength ?? DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH;
    this.expStatSN = config.expStatSN ?? 0;
    if (config.auth.method === 'CHAP') {
      const a = config.auth;
      this.chap = new ChapInitiator({
        username: a.username,
        secret: a.password,
        usernameIn: a.usernameIn,
        secretIn: a.passwordIn,
        algorithms: a.algorithms,
        random: config.random,
        sentChallenges: config.chapSentChallenges,
      });
      if (a.usernameIn !== undefined && a.passwordIn === undefined)
        this.warnings.push('usernameIn is set without passwordIn: mutual CHAP stays off');
    }
  }

  /**
   * The first Login Request: our declarations (§6.3.1: InitiatorName and, for a Normal session,
   * TargetName MUST be in it; §13.21 SessionType), then the AuthMethod offer or, without credentials,
   * the operational offer.
   */
  start(): LoginRequest {
    if (this.started) throw new Error('login already started');
    this.started = true;
    const c = this.config;
    const pairs: TextPair[] = [['InitiatorName', c.initiatorName]];
    if (c.initiatorAlias) pairs.push(['InitiatorAlias', c.initiatorAlias]);
    if (c.targetName) pairs.push(['TargetName', c.targetName]);
    pairs.push(['SessionType', c.sessionType]);
    if (!this.chap) {
      // No credentials: skip the security stage as open-iscsi does (one round trip less).
      this.stage = Stage.LOGIN_OPERATIONAL_NEGOTIATION;
      this.authMethod = 'None';
      this.authPhase = 'done';
      return this.operationalRequest(pairs);
    }
    // §12.1: AuthMethod is a list; CHAP first, then None as open-iscsi offers it. A None answer is still
    // refused unless allowNone (see AuthConfig).
    pairs.push(['AuthMethod', 'CHAP,None']);
    return this.send(pairs, true, Stage.LOGIN_OPERATIONAL_NEGOTIATION);
  }

  handle(resp: LoginResponse): { next: LoginRequest } | { done: LoginResult } {
    if (!this.started || this.finished) throw new Error('login conversation is not running');
    try {
      return this.step(resp);
    } catch (err) {
      // Every failure ends the login: the connection must be dropped (§6.3, §7).
      this.finished = true;
      throw err;
    }
  }

  private step(resp: LoginResponse): { next: LoginRequest } | { done: LoginResult } {
    const last = this.last!;
    if (resp.opcode !== Opcode.LOGIN_RESPONSE) throw new ProtocolError('expected a Login Response', resp.opcode);
    // §11.13: the response carries the ITT and ISID of the request it answers.
    if (resp.itt >>> 0 !== this.config.itt >>> 0)
      throw new ProtocolError(`Login Response ITT 0x${(resp.itt >>> 0).toString(16)} is not ours`, resp.opcode, 16);
    if (resp.statusClass !== 0) throw this.statusError(resp);
    if (resp.isid !== this.config.isid) throw new ProtocolError('Login Response for another ISID', resp.opcode, 8);
    // §11.13.2: Version-active must lie within our Version-min..Version-max (both 0).
    if (resp.versionActive !== 0) throw new ProtocolError(`Login Response with Version-active ${resp.versionActive}`, resp.opcode, 3);
    // §11.13: the response is in the stage of the request.
    if (resp.csg !== last.csg)
      throw new ProtocolError(`Login Response in stage ${resp.csg}, request was in stage ${last.csg}`, resp.opcode, 1);
    if (resp.transit) {
      // §11.13: T=1 only in answer to T=1, and never past the stage the initiator asked for.
      if (!last.transit) throw new ProtocolError('Login Response with T=1 to a request with T=0', resp.opcode, 1);
      if (resp.nsg <= resp.csg || resp.nsg > last.nsg)
        throw new ProtocolError(
          `Login Response moves from stage ${resp.csg} to ${resp.nsg}, request asked for ${last.nsg}`,
          resp.opcode,
          1,
        );
    }
    // §11.13.4: StatSN counts every response of the login; ExpStatSN acknowledges the latest.
    this.expStatSN = (resp.statSN + 1) >>> 0;

    if (this.outgoing) {
      // §11.12.2: each part of our C=1 text is answered by an empty response with T=0. Our own text is
      // finite, so these exchanges need no budget.
      if (resp.data?.length || resp.transit || resp.cont)
        throw new ProtocolError('target answered a C=1 Login Request with more than an empty response', resp.opcode, 1);
      return { next: this.sendNextPart() };
    }

    const text = this.incoming.push(resp.data, resp.cont, resp.opcode);
    if (text === undefined) {
      if (++this.textParts > MAX_LOGIN_TEXT_PARTS)
        throw new ProtocolError(`login text split into more than ${MAX_LOGIN_TEXT_PARTS} parts`, resp.opcode);
      // §11.13: the target has more text (C=1); an empty request asks for the rest. It repeats our last
      // T and NSG (as open-iscsi does): we are still ready to move on, and the last part may then say T=1.
      return { next: this.request(undefined, this.intent.transit, false, this.intent.nsg) };
    }
    if (++this.roundTrips > MAX_LOGIN_ROUND_TRIPS)
      throw new ProtocolError(`login did not finish within ${MAX_LOGIN_ROUND_TRIPS} round trips`, resp.opcode);
    const pairs = parseTextData(text, { opcode: resp.opcode });
    assertUniqueKeys(pairs, this.seenKeys, undefined, resp.opcode);

    if (this.stage === Stage.SECURITY_NEGOTIATION) return this.securityStep(resp, pairs);
    return this.operationalStep(resp, pairs);
  }

  /** Status class 1 (redirect), 2 (initiator error), 3 (target error): §11.13.5. */
  private statusError(resp: LoginResponse): LoginError {
    if (resp.statusClass !== 1)
      return LoginError.fromStatus(
        resp.statusClass,
        resp.statusDetail,
        // A target that requires CHAP answers a login without it with 2/1 (we never offered AuthMethod).
        resp.statusClass === 2 && resp.statusDetail === 1 && !this.chap ? 'no CHAP credentials are configured for this node' : '',
      );
    // §11.13.5: a redirect carries TargetAddress, where to log in instead (§13.8).
    let address: { host: string; port: number; tpgt?: number } | undefined;
    let problem = 'no TargetAddress';
    try {
      const value = parseTextData(resp.data ?? Buffer.alloc(0), { opcode: resp.opcode }).find(([k]) => k === 'TargetAddress')?.[1];
      if (value !== undefined) address = parseTargetAddress(value);
    } catch (err) {
      problem = `unusable TargetAddress: ${(err as Error).message}`;
    }
    const where = address ? `to ${formatTargetAddress(address)}` : problem;
    const err = LoginError.fromStatus(resp.statusClass, resp.statusDetail, where);
    if (address) err.targetAddress = address;
    return err;
  }

  private securityStep(resp: LoginResponse, pairs: TextPair[]): { next: LoginRequest } | { done: LoginResult } {
    const auth = pairs.filter(([k]) => SECURITY_KEYS.test(k));
    const other = pairs.filter(([k]) => !SECURITY_KEYS.test(k));
    // TargetPortalGroupTag and TargetAlias come here; proposals of operational keys get their answers in
    // our next request.
    const replies = this.negotiator.receive(other);
    let out: TextPair[] = [];
    let transit = true;

    switch (this.authPhase) {
      case 'method': {
        const chap = this.chap!; // the security stage is entered only with CHAP configured
        const method = auth.find(([k]) => k === 'AuthMethod')?.[1];
        const extra = auth.filter(([k]) => k !== 'AuthMethod');
        if (extra.length) throw new ProtocolError(`${extra[0][0]} before AuthMethod was settled (RFC 7143 §12.1)`, resp.opcode);
        // A target that moves on without answering has taken the default, None (§12.1).
        const chosen = method ?? (resp.transit ? 'None' : undefined);
        if (chosen === undefined) break; // nothing settled and the target is not ready: ask again, T=1
        if (chosen === 'CHAP') {
          if (resp.transit) throw authError('target chose AuthMethod=CHAP but ended the security stage without authenticating');
          this.authMethod = 'CHAP';
          this.authPhase = 'chap-alg';
          out = chap.offer();
          transit = false; // §12.1.3: the target must answer CHAP_A before anyone may transit
          break;
        }
        if (chosen === 'None') {
          // open-iscsi #438: a configured secret that silently goes unused hides a misconfigured target.
          if (!(this.config.auth.method === 'CHAP' && this.config.auth.allowNone))
            throw authError(
              'target accepted AuthMethod=None although CHAP is configured; refusing to log in unauthenticated (set allowNone to permit)',
            );
          this.authMethod = 'None';
          this.authPhase = 'done';
          break;
        }
        if (chosen === REJECT || chosen === NOT_UNDERSTOOD || chosen === IRRELEVANT)
          throw authError(`target rejected AuthMethod=CHAP,None (answered ${chosen})`);
        throw authError(`target chose AuthMethod=${chosen}, which we did not offer (we offered CHAP,None)`);
      }
      case 'chap-alg': {
        out = this.chap!.respond(auth);
        this.authPhase = 'chap-response';
        break;
      }
      case 'chap-response': {
        if (this.chap!.mutual) {
          const has = auth.some(([k]) => k === 'CHAP_N' || k === 'CHAP_R');
          if (has) {
            this.chap!.verify(auth);
            this.authPhase = 'done';
          } else if (resp.transit) {
            throw authError('target ended the security stage without answering our mutual CHAP challenge');
          }
        } else {
          if (auth.length) throw new ProtocolError(`unexpected ${auth[0][0]} after our CHAP response`, resp.opcode);
          this.authPhase = 'done';
        }
        break;
      }
      case 'done':
        if (auth.length) throw new ProtocolError(`unexpected ${auth[0][0]} after authentication`, resp.opcode);
        break;
    }

    if (resp.transit) {
      if (this.authPhase !== 'done') throw authError('target ended the security stage before authentication completed');
      // Only LoginOperationalNegotiation can follow: we never ask for more than stage 1 here.
      this.stage = resp.nsg;
      return { next: this.operationalRequest(replies) };
    }
    return { next: this.send([...out, ...replies], transit, Stage.LOGIN_OPERATIONAL_NEGOTIATION) };
  }

  private operationalRequest(before: TextPair[]): LoginRequest {
    const pairs: TextPair[] = [...before];
    if (!this.offeredOperational) {
      this.offeredOperational = true;
      pairs.push(...this.negotiator.offer());
    }
    // §6.3: we are ready for full-feature phase from our first operational request on; the target
    // keeps T=0 while it has more to negotiate.
    return this.send(pairs, true, Stage.FULL_FEATURE_PHASE);
  }

  private operationalStep(resp: LoginResponse, pairs: TextPair[]): { next: LoginRequest } | { done: LoginResult } {
    const auth = pairs.find(([k]) => SECURITY_KEYS.test(k));
    if (auth) throw new ProtocolError(`${auth[0]} outside the security stage (RFC 7143 §6.3)`, resp.opcode);
    const final = resp.transit && resp.nsg === Stage.FULL_FEATURE_PHASE;
    const replies = this.negotiator.receive(pairs, { final });
    if (!final) return { next: this.operationalRequest(replies) };
    // §11.13.3: a new session gets its non-zero TSIH in the Login Final-Response; an existing one keeps its own.
    if (resp.tsih === 0) throw new ProtocolError('Login Final-Response without a TSIH', resp.opcode, 14);
    if (this.config.tsih !== 0 && resp.tsih !== this.config.tsih)
      throw new ProtocolError(`Login Final-Response TSIH ${resp.tsih} differs from the session's ${this.config.tsih}`, resp.opcode, 14);
    this.finished = true;
    const params = this.negotiator.result();
    const result: LoginResult = {
      params,
      tsih: resp.tsih,
      statSN: resp.statSN,
      expCmdSN: resp.expCmdSN,
      maxCmdSN: resp.maxCmdSN,
      authMethod: this.authMethod ?? 'None',
      warnings: [...this.warnings, ...(this.chap?.warnings ?? []), ...this.negotiator.warnings],
    };
    if (params.targetPortalGroupTag !== undefined) result.targetPortalGroupTag = params.targetPortalGroupTag;
    if (this.authMethod === 'CHAP' && this.chap?.algorithm) result.chapAlgorithm = this.chap.algorithm;
    return { done: result };
  }

  /** Encodes pairs and sends them, in C=1 parts when longer than one data segment (§6.1, §11.12.2). */
  private send(pairs: TextPair[], transit: boolean, nsg: number): LoginRequest {
    this.intent = { transit, nsg };
    const data = encodeTextData(pairs);
    if (data.length <= this.maxSend) return this.request(data.length ? data : undefined, transit, false, nsg);
    this.outgoing = { segmenter: new TextSegmenter(data, this.maxSend), transit, nsg };
    return this.sendNextPart();
  }

  private sendNextPart(): LoginRequest {
    const o = this.outgoing!;
    const part = o.segmenter.next();
    if (!part.cont) this.outgoing = undefined;
    // §11.12.2: T and C are never both set; the last part carries our real T and NSG.
    return part.cont ? this.request(part.data, false, true, this.stage) : this.request(part.data, o.transit, false, o.nsg);
  }

  private request(data: Buffer | undefined, transit: boolean, cont: boolean, nsg: number): LoginRequest {
    const c = this.config;
    const req: LoginRequest = {
      opcode: Opcode.LOGIN_REQUEST,
      transit,
      cont,
      csg: this.stage,
      // NSG is meaningful only with T=1; open-iscsi repeats the current stage otherwise.
      nsg: transit ? nsg : this.stage,
      versionMax: 0,
      versionMin: 0,
      isid: c.isid,
      tsih: c.tsih,
      cid: c.cid,
      itt: c.itt,
      // §11.12.8: Login Requests are immediate: every request of the login carries the same CmdSN.
      cmdSN: c.cmdSN,
      expStatSN: this.expStatSN,
      data,
    };
    this.last = req;
    return req;
  }
}
