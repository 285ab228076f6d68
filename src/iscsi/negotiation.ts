/**
 * Initiator side of operational-parameter negotiation during login: our offer, checking the target's
 * answers, answering the target's own proposals, and the negotiated result (RFC 7143 §6.2 text mode
 * negotiation, §6.3.3 operational negotiation during login, §13 the keys).
 *
 * Over 500 lines because RFC 7143 §13 gives each key its own rule (boolean AND/OR, numerical min/max,
 * list selection, declaratives) and each rule is written where its keys are listed.
 */
import { DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH } from './constants.js';
import { LoginError } from './errors.js';
import {
  formatBoolean,
  IRRELEVANT,
  keyRule,
  NOT_UNDERSTOOD,
  parseBooleanValue,
  parseNumericValue,
  REJECT,
  SPECIAL_ANSWERS,
  type KeyRule,
} from './keys.js';
import type { TextPair } from './text.js';

export type SessionType = 'Normal' | 'Discovery';
export type DigestName = 'None' | 'CRC32C';

/** What we offer: the node record's `node.session.iscsi.*` and `node.conn[0].iscsi.*` values. */
export interface SessionWishes {
  /** Acceptable digests in order of preference (open-iscsi "None", "CRC32C", "None,CRC32C", "CRC32C,None"). */
  headerDigest: DigestName[];
  dataDigest: DigestName[];
  /** What we declare we can receive (512..2^24-1). */
  maxRecvDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxOutstandingR2T: number;
  maxConnections: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  errorRecoveryLevel: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  /** 0 = use the target's declared MaxRecvDataSegmentLength; else the smaller of both. */
  maxXmitDataSegmentLength: number;
}

/** open-iscsi's node defaults (idbm.c; see reference/open-iscsi.md). */
export const DEFAULT_WISHES: Readonly<SessionWishes> = Object.freeze({
  headerDigest: ['None'] as DigestName[],
  dataDigest: ['None'] as DigestName[],
  maxRecvDataSegmentLength: 262144,
  maxBurstLength: 16776192,
  firstBurstLength: 262144,
  initialR2T: false,
  immediateData: true,
  maxOutstandingR2T: 1,
  maxConnections: 1,
  defaultTime2Wait: 2,
  defaultTime2Retain: 0,
  errorRecoveryLevel: 0,
  dataPDUInOrder: true,
  dataSequenceInOrder: true,
  maxXmitDataSegmentLength: 0,
});

/** open-iscsi's discovery record defaults: as the node, but `discovery.sendtargets.iscsi.MaxRecvDataSegmentLength` 32768. */
export const DEFAULT_DISCOVERY_WISHES: Readonly<SessionWishes> = Object.freeze({
  ...DEFAULT_WISHES,
  maxRecvDataSegmentLength: 32768,
});

export interface NegotiatedParams {
  headerDigest: boolean;
  dataDigest: boolean;
  /** What we declared: the largest data segment the target may send us. */
  maxRecvDataSegmentLength: number;
  /** The largest data segment we may send (the target's declaration, default 8192, capped by our wish). */
  maxXmitDataSegmentLength: number;
  maxBurstLength: number;
  firstBurstLength: number;
  initialR2T: boolean;
  immediateData: boolean;
  maxOutstandingR2T: number;
  maxConnections: number;
  defaultTime2Wait: number;
  defaultTime2Retain: number;
  errorRecoveryLevel: number;
  dataPDUInOrder: boolean;
  dataSequenceInOrder: boolean;
  targetPortalGroupTag?: number;
  targetAlias?: string;
}

/** Our offer order, as open-iscsi's login.c sends it (people diff captures against it). */
const NORMAL_ORDER = [
  'HeaderDigest',
  'DataDigest',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'IFMarker',
  'OFMarker',
  'ErrorRecoveryLevel',
  'InitialR2T',
  'ImmediateData',
  'MaxBurstLength',
  'FirstBurstLength',
  'MaxOutstandingR2T',
  'MaxConnections',
  'DataPDUInOrder',
  'DataSequenceInOrder',
  'MaxRecvDataSegmentLength',
] as const;

/** Discovery sessions offer only keys that apply to them (the others are Irrelevant there, §13.2-§13.19). */
const DISCOVERY_ORDER = [
  'HeaderDigest',
  'DataDigest',
  'DefaultTime2Wait',
  'DefaultTime2Retain',
  'IFMarker',
  'OFMarker',
  'ErrorRecoveryLevel',
  'MaxRecvDataSegmentLength',
] as const;

/** Keys the target declares about itself; nothing is answered (§13.6, §13.8, §13.9, §13.12, §13.26). */
const TARGET_DECLARATIONS = new Set([
  'TargetAlias',
  'TargetAddress',
  'TargetPortalGroupTag',
  'MaxRecvDataSegmentLength',
  'X#NodeArchitecture',
]);

/** What we support of keys we never offer but may be asked about. */
const OUR_TASK_REPORTING = ['RFC3720'];
/** RFC 7143 is iSCSIProtocolLevel 1 (RFC 7144 §2.1); we implement nothing of later levels. */
const OUR_PROTOCOL_LEVEL = 1;

function negotiationError(message: string): LoginError {
  return new LoginError(`negotiation failed: ${message}`, 'negotiation');
}

function cite(rule: KeyRule): string {
  return `RFC 7143 §${rule.section}`;
}

/** Checks a wish against the key's range; a bad node record is a caller error, not a target's. */
function checkWishRange(name: string, value: number): void {
  const rule = keyRule(name)!;
  if (!Number.isInteger(value) || value < rule.min! || value > rule.max!)
    throw new RangeError(`${name}=${value} outside ${rule.min}..${rule.max} (${cite(rule)})`);
}

interface Outcome {
  /** The agreed wire value, or undefined when the key fell back to its default. */
  value?: string;
  /** How it ended, for warnings. */
  via: 'answer' | 'proposal' | 'special' | 'implicit';
  special?: string;
}

/**
 * One login's operational negotiation. Feed it every key=value pair the target sends that is not part
 * of authentication (`receive`), put `offer()` and the replies `receive` returns into Login Requests, and
 * call `result()` after the Login Final-Response. Throws LoginError kind 'negotiation' for answers that
 * break a key's rule.
 */
export class Negotiator {
  /** Things that did not go as offered but did not fail the login (defaults used, odd answers). */
  readonly warnings: string[] = [];
  private readonly wishes: SessionWishes;
  private readonly offered = new Map<string, string>();
  private readonly outcomes = new Map<string, Outcome>();
  private targetMaxRecv?: number;
  private targetPortalGroupTag?: number;
  private targetAlias?: string;

  constructor(
    wishes: SessionWishes,
    readonly sessionType: SessionType,
  ) {
    this.wishes = { ...wishes, headerDigest: [...wishes.headerDigest], dataDigest: [...wishes.dataDigest] };
    this.validateWishes();
  }

  private validateWishes(): void {
    const w = this.wishes;
    for (const [name, list] of [
      ['HeaderDigest', w.headerDigest],
      ['DataDigest', w.dataDigest],
    ] as const) {
      if (list.length === 0 || list.some((d) => d !== 'None' && d !== 'CRC32C') || new Set(list).size !== list.length)
        throw new RangeError(`${name} must list None and/or CRC32C once each, got ${JSON.stringify(list)}`);
    }
    checkWishRange('MaxRecvDataSegmentLength', w.maxRecvDataSegmentLength);
    checkWishRange('MaxBurstLength', w.maxBurstLength);
    checkWishRange('FirstBurstLength', w.firstBurstLength);
    checkWishRange('MaxOutstandingR2T', w.maxOutstandingR2T);
    checkWishRange('MaxConnections', w.maxConnections);
    checkWishRange('DefaultTime2Wait', w.defaultTime2Wait);
    checkWishRange('DefaultTime2Retain', w.defaultTime2Retain);
    checkWishRange('ErrorRecoveryLevel', w.errorRecoveryLevel);
    if (w.maxXmitDataSegmentLength !== 0) checkWishRange('MaxRecvDataSegmentLength', w.maxXmitDataSegmentLength);
    if (w.firstBurstLength > w.maxBurstLength) {
      // §13.14: FirstBurstLength MUST NOT exceed MaxBurstLength; offering both as configured would let
      // a target that takes our values verbatim end with an illegal pair.
      this.warnings.push(`FirstBurstLength ${w.firstBurstLength} exceeds MaxBurstLength ${w.maxBurstLength}; offering ${w.maxBurstLength}`);
      w.firstBurstLength = w.maxBurstLength;
    }
  }

  /** Our value for a key, as we would offer it. */
  private ourValue(key: string): string | undefined {
    const w = this.wishes;
    switch (key) {
      case 'HeaderDigest':
        return w.headerDigest.join(',');
      case 'DataDigest':
        return w.dataDigest.join(',');
      case 'DefaultTime2Wait':
        return String(w.defaultTime2Wait);
      case 'DefaultTime2Retain':
        return String(w.defaultTime2Retain);
      case 'IFMarker':
      case 'OFMarker':
        return 'No';
      case 'ErrorRecoveryLevel':
        return String(w.errorRecoveryLevel);
      case 'InitialR2T':
        return formatBoolean(w.initialR2T);
      case 'ImmediateData':
        return formatBoolean(w.immediateData);
      case 'MaxBurstLength':
        return String(w.maxBurstLength);
      case 'FirstBurstLength':
        return String(w.firstBurstLength);
      case 'MaxOutstandingR2T':
        return String(w.maxOutstandingR2T);
      case 'MaxConnections':
        return String(w.maxConnections);
      case 'DataPDUInOrder':
        return formatBoolean(w.dataPDUInOrder);
      case 'DataSequenceInOrder':
        return formatBoolean(w.dataSequenceInOrder);
      case 'MaxRecvDataSegmentLength':
        return String(w.maxRecvDataSegmentLength);
      case 'TaskReporting':
        return OUR_TASK_REPORTING.join(',');
      case 'iSCSIProtocolLevel':
        return String(OUR_PROTOCOL_LEVEL);
      default:
        return undefined;
    }
  }

  /**
   * The pairs of our opening offer, in open-iscsi's order. Keys already settled (the target proposed
   * them first, e.g. in the security stage) are left out: offering them again would be a duplicate (§6.1).
   */
  offer(): TextPair[] {
    const order = this.sessionType === 'Discovery' ? DISCOVERY_ORDER : NORMAL_ORDER;
    const pairs: TextPair[] = [];
    for (const key of order) {
      if (this.offered.has(key) || this.outcomes.has(key)) continue;
      const value = this.ourValue(key)!;
      this.offered.set(key, value);
      pairs.push([key, value]);
    }
    return pairs;
  }

  /**
   * Consumes pairs from one Login Response (or its joined C-bit continuation). Returns the replies to
   * keys the target proposed, for our next Login Request. With `final` (the Login Final-Response, after
   * which we cannot speak) a proposal we would not accept as sent fails the login: §11.13 forbids a
   * target from ending a stage with keys that still need an answer.
   */
  receive(pairs: readonly TextPair[], options: { final?: boolean } = {}): TextPair[] {
    const replies: TextPair[] = [];
    for (const [key, value] of pairs) {
      if (TARGET_DECLARATIONS.has(key)) {
        this.declaration(key, value);
        continue;
      }
      if (this.offered.has(key)) {
        this.answer(key, value);
        continue;
      }
      const reply = this.proposal(key, value);
      if (!reply) continue;
      if (options.final) {
        // The target ended the login with an open question (§11.13 forbids it). Harmless when our answer
        // would only confirm it, or when the key is unknown or Irrelevant to us; fatal otherwise.
        const [, ourReply] = reply;
        if (ourReply === NOT_UNDERSTOOD || ourReply === IRRELEVANT)
          this.warnings.push(`ignored ${key}=${value} in the final login response`);
        else if (ourReply !== value)
          throw negotiationError(
            `target proposed ${key}=${value} in its final login response; we would answer ${ourReply} but cannot answer any more (RFC 7143 §11.13)`,
          );
        continue;
      }
      replies.push(reply);
    }
    return replies;
  }

  /** Target declarations: no answer, but range checks where the RFC gives one. */
  private declaration(key: string, value: string): void {
    if (SPECIAL_ANSWERS.has(value)) {
      // e.g. "MaxRecvDataSegmentLength=Irrelevant" would be nonsense for a declaration; keep the default.
      this.warnings.push(`target declared ${key}=${value}; ignored`);
      return;
    }
    switch (key) {
      case 'MaxRecvDataSegmentLength':
        this.targetMaxRecv = this.numberInRange(key, value);
        break;
      case 'TargetPortalGroupTag':
        this.targetPortalGroupTag = this.numberInRange(key, value);
        break;
      case 'TargetAlias':
        this.targetAlias = value;
        break;
      default:
        // TargetAddress in a successful response and X#NodeArchitecture inform but change nothing here.
        break;
    }
  }

  private numberInRange(key: string, value: string, min?: number, max?: number): number {
    const rule = keyRule(key)!;
    const n = parseNumericValue(value);
    const lo = min ?? rule.min ?? 0;
    const hi = max ?? rule.max ?? Number.MAX_SAFE_INTEGER;
    if (n === undefined) throw negotiationError(`target sent ${key}=${JSON.stringify(value)}, not a number (${cite(rule)})`);
    if (n < lo || n > hi) throw negotiationError(`target sent ${key}=${n}, outside ${lo}..${hi} (${cite(rule)})`);
    return n;
  }

  /** The target's answer to a key we offered. */
  private answer(key: string, value: string): void {
    const rule = keyRule(key)!;
    const ours = this.offered.get(key)!;
    if (this.outcomes.has(key)) return; // duplicates are caught by the caller's key tracker
    if (SPECIAL_ANSWERS.has(value)) {
      this.outcomes.set(key, { via: 'special', special: value });
      // Fails at once, not after the final response: a target that refused may never send one.
      if (key === 'HeaderDigest') this.checkDigestRefused(key, this.wishes.headerDigest);
      if (key === 'DataDigest') this.checkDigestRefused(key, this.wishes.dataDigest);
      return;
    }
    switch (rule.type) {
      case 'numeric-min': {
        // §6.2.2: the responder answers a value no greater than the offer; that value is the result.
        const n = this.numberInRange(key, value);
        if (n > Number(ours))
          throw negotiationError(`target answered ${key}=${n}, above our offer ${ours} (result function Minimum, ${cite(rule)})`);
        this.outcomes.set(key, { value: String(n), via: 'answer' });
        return;
      }
      case 'numeric-max': {
        const n = this.numberInRange(key, value);
        if (n < Number(ours))
          throw negotiationError(`target answered ${key}=${n}, below our offer ${ours} (result function Maximum, ${cite(rule)})`);
        this.outcomes.set(key, { value: String(n), via: 'answer' });
        return;
      }
      case 'boolean-and':
      case 'boolean-or': {
        const theirs = parseBooleanValue(value);
        if (theirs === undefined) throw negotiationError(`target answered ${key}=${JSON.stringify(value)}, not Yes or No (${cite(rule)})`);
        const mine = ours === 'Yes';
        // §6.2.2: with AND our No stands, with OR our Yes stands; an answer claiming otherwise is broken.
        if (rule.type === 'boolean-and' && !mine && theirs)
          throw negotiationError(`target answered ${key}=Yes although we offered No (result function AND, ${cite(rule)})`);
        if (rule.type === 'boolean-or' && mine && !theirs)
          throw negotiationError(`target answered ${key}=No although we offered Yes (result function OR, ${cite(rule)})`);
        this.outcomes.set(key, { value: formatBoolean(rule.type === 'boolean-and' ? mine && theirs : mine || theirs), via: 'answer' });
        return;
      }
      case 'list': {
        // §6.2.1: the answer is one value, the first of our list the target supports.
        const offeredValues = ours.split(',');
        if (!offeredValues.includes(value))
          throw negotiationError(`target answered ${key}=${value}, which we did not offer (we offered ${ours}; ${cite(rule)})`);
        this.outcomes.set(key, { value, via: 'answer' });
        return;
      }
      case 'declarative':
        return;
    }
  }

  /** A key the target raised on its own: our reply per the key's rule (§6.2). */
  private proposal(key: string, value: string): TextPair | undefined {
    const rule = keyRule(key);
    if (this.outcomes.has(key)) return undefined;
    if (!rule) {
      if (SPECIAL_ANSWERS.has(value)) {
        // An answer to something we never sent; nothing to say back.
        this.warnings.push(`target answered ${key}=${value} to a key we did not send; ignored`);
        return undefined;
      }
      // §6.2: "NotUnderstood" for keys we do not know (vendor X- keys and later RFCs).
      this.warnings.push(`target proposed unknown key ${key}; answered NotUnderstood`);
      return [key, NOT_UNDERSTOOD];
    }
    if (rule.use === 'SO' || rule.use === 'FFPO' || rule.senders === 'initiator') {
      // AuthMethod/CHAP are routed to the authentication code; SendTargets, InitiatorName etc. are
      // ours to send, not the target's. Answering them would confirm something meaningless.
      this.warnings.push(`target sent ${key}=${value}, which only an initiator sends or which is out of place; ignored`);
      return undefined;
    }
    if (SPECIAL_ANSWERS.has(value)) {
      this.warnings.push(`target answered ${key}=${value} to a key we did not offer; ignored`);
      return undefined;
    }
    if (rule.obsolete) {
      // §13.25: IFMarker/OFMarker SHOULD be answered Reject (No is allowed), IF/OFMarkInt MUST be; never
      // NotUnderstood. The outcome is "no markers" either way.
      this.outcomes.set(key, { value: rule.type === 'boolean-and' ? 'No' : undefined, via: 'proposal' });
      return [key, REJECT];
    }
    if (this.sessionType === 'Discovery' && rule.irrelevantInDiscovery) {
      this.outcomes.set(key, { via: 'proposal', special: IRRELEVANT });
      return [key, IRRELEVANT];
    }
    if (key === 'FirstBurstLength' && this.wishes.initialR2T && !this.wishes.immediateData) {
      // §13.14: with InitialR2T=Yes (OR: stays Yes) and ImmediateData=No (AND: stays No) there is no
      // unsolicited data at all, whatever the target answers to those.
      this.outcomes.set(key, { via: 'proposal', special: IRRELEVANT });
      return [key, IRRELEVANT];
    }
    const ours = this.ourValue(key);
    let reply: string;
    switch (rule.type) {
      case 'numeric-min':
      case 'numeric-max': {
        const n = this.numberInRange(key, value);
        const mine = Number(ours ?? rule.default);
        reply = String(rule.type === 'numeric-min' ? Math.min(n, mine) : Math.max(n, mine));
        break;
      }
      case 'boolean-and':
      case 'boolean-or': {
        const theirs = parseBooleanValue(value);
        if (theirs === undefined) throw negotiationError(`target proposed ${key}=${JSON.stringify(value)}, not Yes or No (${cite(rule)})`);
        const mine = (ours ?? rule.default) === 'Yes';
        reply = formatBoolean(rule.type === 'boolean-and' ? mine && theirs : mine || theirs);
        break;
      }
      case 'list': {
        // §6.2.1: answer with the first value of the target's list that we support, or Reject.
        const supported = (ours ?? rule.default ?? '').split(',');
        const pick = value.split(',').find((v) => supported.includes(v));
        reply = pick ?? REJECT;
        break;
      }
      case 'declarative':
        // Declarations need no answer (TargetName etc. from a target inform only).
        return undefined;
    }
    // When we Reject the target's list the key keeps its default (§6.2.1).
    this.outcomes.set(key, reply === REJECT ? { via: 'proposal', special: REJECT } : { value: reply, via: 'proposal' });
    return [key, reply];
  }

  /** The agreed value of a key, its default when the negotiation did not settle it, with warnings. */
  private agreed(key: string, irrelevantOk = false): string {
    const rule = keyRule(key)!;
    const outcome = this.outcomes.get(key);
    const ours = this.offered.get(key);
    if (outcome?.value !== undefined) return outcome.value;
    if (outcome?.special !== undefined) {
      const quiet =
        (outcome.special === IRRELEVANT && irrelevantOk) ||
        (rule.obsolete === true && outcome.special === REJECT) ||
        outcome.via === 'proposal';
      if (!quiet) this.warnings.push(`target answered ${key}=${outcome.special}; using the default ${key}=${rule.default}`);
      return rule.default!;
    }
    if (ours !== undefined) {
      // §6.2.2: an answer is optional when the result is already fixed: AND with our No, OR with our Yes.
      if ((rule.type === 'boolean-and' && ours === 'No') || (rule.type === 'boolean-or' && ours === 'Yes')) return ours;
      this.warnings.push(`target did not answer ${key}=${ours}; using the default ${key}=${rule.default}`);
    }
    return rule.default!;
  }

  /** Our value, after a fallback to the default, still within what we accept? Lists only. */
  private checkListFallback(key: string, value: string, acceptable: readonly string[]): void {
    if (!acceptable.includes(value))
      throw negotiationError(
        `${key} fell back to its default ${value}, which we do not accept (we require ${acceptable.join(',')}; RFC 7143 §13.1)`,
      );
  }

  /**
   * A Reject to our digest list (§6.2.1: the responder supports none of the values) means the target
   * insists on the value we left out. Going on with the default None would give a session the target does
   * not want (it may drop it, or wait for digests that never come), so the login fails here, naming the
   * key and the value to set.
   */
  private checkDigestRefused(key: 'HeaderDigest' | 'DataDigest', offered: readonly string[]): void {
    if (this.outcomes.get(key)?.special !== REJECT) return;
    const wanted = ['CRC32C', 'None'].filter((d) => !offered.includes(d));
    const setting = wanted.length > 0 ? wanted[0] : 'CRC32C,None';
    const urlKey = key === 'HeaderDigest' ? 'header_digest' : 'data_digest';
    throw negotiationError(
      `target rejected ${key}=${offered.join(',')} (it accepts none of the values we offered, RFC 7143 §6.2.1): ` +
        `set node.conn[0].iscsi.${key} = ${setting} (${urlKey}=${setting} in an iscsi:// URL)`,
    );
  }

  private cached?: NegotiatedParams;

  /** The negotiated parameters. Call after the Login Final-Response. */
  result(): NegotiatedParams {
    this.cached ??= this.compute();
    return { ...this.cached };
  }

  private compute(): NegotiatedParams {
    const w = this.wishes;
    const discovery = this.sessionType === 'Discovery';
    const headerDigest = this.agreed('HeaderDigest');
    this.checkListFallback('HeaderDigest', headerDigest, w.headerDigest);
    const dataDigest = this.agreed('DataDigest');
    this.checkListFallback('DataDigest', dataDigest, w.dataDigest);
    this.agreed('IFMarker');
    this.agreed('OFMarker');
    const num = (key: string, irrelevantOk = false) => Number(this.agreed(key, irrelevantOk));
    const bool = (key: string) => this.agreed(key, discovery) === 'Yes';
    const initialR2T = bool('InitialR2T');
    const immediateData = bool('ImmediateData');
    const maxBurstLength = num('MaxBurstLength', discovery);
    // §13.14: FirstBurstLength is Irrelevant when InitialR2T=Yes and ImmediateData=No (and in discovery).
    const fblIrrelevant = discovery || (initialR2T && !immediateData);
    let firstBurstLength = num('FirstBurstLength', fblIrrelevant);
    if (firstBurstLength > maxBurstLength) {
      if (!fblIrrelevant)
        throw negotiationError(`FirstBurstLength ${firstBurstLength} exceeds MaxBurstLength ${maxBurstLength} (RFC 7143 §13.14)`);
      firstBurstLength = maxBurstLength; // unused, but keep the invariant for readers of the result
    }
    let maxXmit = this.targetMaxRecv ?? DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH;
    if (w.maxXmitDataSegmentLength > 0) maxXmit = Math.min(maxXmit, w.maxXmitDataSegmentLength);
    const params: NegotiatedParams = {
      headerDigest: headerDigest === 'CRC32C',
      dataDigest: dataDigest === 'CRC32C',
      maxRecvDataSegmentLength: w.maxRecvDataSegmentLength,
      maxXmitDataSegmentLength: maxXmit,
      maxBurstLength,
      firstBurstLength,
      initialR2T,
      immediateData,
      maxOutstandingR2T: num('MaxOutstandingR2T', discovery),
      maxConnections: num('MaxConnections', discovery),
      defaultTime2Wait: num('DefaultTime2Wait'),
      defaultTime2Retain: num('DefaultTime2Retain'),
      errorRecoveryLevel: num('ErrorRecoveryLevel'),
      dataPDUInOrder: bool('DataPDUInOrder'),
      dataSequenceInOrder: bool('DataSequenceInOrder'),
    };
    if (this.targetPortalGroupTag !== undefined) params.targetPortalGroupTag = this.targetPortalGroupTag;
    if (this.targetAlias !== undefined) params.targetAlias = this.targetAlias;
    return params;
  }
}
