/**
 * The table of iSCSI login and text keys: type, result function, range, default and scope of every key an
 * initiator meets (RFC 7143 §13 operational keys, §12.1 security keys, §6.2 negotiation rules).
 */

/**
 * How a key's value is settled (§6.2.2): `numeric-min`/`numeric-max` the responder answers a number no
 * higher/lower than the offer and the answer is the result; `boolean-and`/`boolean-or` the result is the
 * AND/OR of both values; `list` the responder picks the first value of the offer it supports (§6.2.1);
 * `declarative` each side states its own value, nothing is answered.
 */
export type KeyType = 'numeric-min' | 'numeric-max' | 'boolean-and' | 'boolean-or' | 'list' | 'declarative';

/** Session-wide (SW) or per connection (CO), §13. */
export type KeyScope = 'session' | 'connection';

/**
 * When a key may be sent (§13 "Use"): LO leading connection of a session only, IO at connection
 * initialization (login) only, ALL at any time, FFPO full-feature phase only, SO security stage only,
 * IALL in every Login Request of the initiator.
 */
export type KeyUse = 'LO' | 'IO' | 'ALL' | 'FFPO' | 'SO' | 'IALL';

export interface KeyRule {
  readonly name: string;
  readonly type: KeyType;
  readonly scope: KeyScope;
  readonly use: KeyUse;
  readonly senders: 'initiator' | 'target' | 'both';
  /** Inclusive range of numeric values. */
  readonly min?: number;
  readonly max?: number;
  /** RFC default, as on the wire; absent for keys with no default. */
  readonly default?: string;
  /** The values a list key or an enumerated declarative key may take. */
  readonly values?: readonly string[];
  /** The RFC says the key is Irrelevant in Discovery sessions. */
  readonly irrelevantInDiscovery?: boolean;
  /** Keys RFC 7143 obsoletes (markers, §13.25): answered with Reject, never NotUnderstood. */
  readonly obsolete?: boolean;
  /** Where the RFC defines it. */
  readonly section: string;
}

/** Constant answers of §6.2: not a value but a verdict on the key. */
export const NOT_UNDERSTOOD = 'NotUnderstood';
export const IRRELEVANT = 'Irrelevant';
export const REJECT = 'Reject';
export const SPECIAL_ANSWERS: ReadonlySet<string> = new Set([NOT_UNDERSTOOD, IRRELEVANT, REJECT]);

/** 2^24 - 1: the DataSegmentLength field is 24 bits (§13.12-§13.14). */
const MAX_24 = 16_777_215;

function rule(r: KeyRule): KeyRule {
  return Object.freeze(r);
}

const TABLE: readonly KeyRule[] = [
  // §13.1: list, "the first value of the initiator's list the target supports".
  rule({
    name: 'HeaderDigest',
    type: 'list',
    scope: 'connection',
    use: 'IO',
    senders: 'both',
    default: 'None',
    values: ['None', 'CRC32C'],
    section: '13.1',
  }),
  rule({
    name: 'DataDigest',
    type: 'list',
    scope: 'connection',
    use: 'IO',
    senders: 'both',
    default: 'None',
    values: ['None', 'CRC32C'],
    section: '13.1',
  }),
  rule({
    name: 'MaxConnections',
    type: 'numeric-min',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    min: 1,
    max: 65535,
    default: '1',
    irrelevantInDiscovery: true,
    section: '13.2',
  }),
  rule({ name: 'SendTargets', type: 'declarative', scope: 'session', use: 'FFPO', senders: 'initiator', section: '13.3' }),
  rule({ name: 'TargetName', type: 'declarative', scope: 'session', use: 'IALL', senders: 'both', section: '13.4' }),
  rule({ name: 'InitiatorName', type: 'declarative', scope: 'session', use: 'IALL', senders: 'initiator', section: '13.5' }),
  rule({ name: 'TargetAlias', type: 'declarative', scope: 'session', use: 'ALL', senders: 'target', section: '13.6' }),
  rule({ name: 'InitiatorAlias', type: 'declarative', scope: 'session', use: 'ALL', senders: 'initiator', section: '13.7' }),
  rule({ name: 'TargetAddress', type: 'declarative', scope: 'session', use: 'ALL', senders: 'target', section: '13.8' }),
  rule({
    name: 'TargetPortalGroupTag',
    type: 'declarative',
    scope: 'session',
    use: 'IO',
    senders: 'target',
    min: 0,
    max: 65535,
    section: '13.9',
  }),
  rule({
    name: 'InitialR2T',
    type: 'boolean-or',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    default: 'Yes',
    irrelevantInDiscovery: true,
    section: '13.10',
  }),
  rule({
    name: 'ImmediateData',
    type: 'boolean-and',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    default: 'Yes',
    irrelevantInDiscovery: true,
    section: '13.11',
  }),
  // §13.12: declarative and per direction: each side states what it can receive.
  rule({
    name: 'MaxRecvDataSegmentLength',
    type: 'declarative',
    scope: 'connection',
    use: 'ALL',
    senders: 'both',
    min: 512,
    max: MAX_24,
    default: '8192',
    section: '13.12',
  }),
  rule({
    name: 'MaxBurstLength',
    type: 'numeric-min',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    min: 512,
    max: MAX_24,
    default: '262144',
    irrelevantInDiscovery: true,
    section: '13.13',
  }),
  // §13.14: also Irrelevant when InitialR2T=Yes and ImmediateData=No; must not exceed MaxBurstLength.
  rule({
    name: 'FirstBurstLength',
    type: 'numeric-min',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    min: 512,
    max: MAX_24,
    default: '65536',
    irrelevantInDiscovery: true,
    section: '13.14',
  }),
  rule({
    name: 'DefaultTime2Wait',
    type: 'numeric-max',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    min: 0,
    max: 3600,
    default: '2',
    section: '13.15',
  }),
  rule({
    name: 'DefaultTime2Retain',
    type: 'numeric-min',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    min: 0,
    max: 3600,
    default: '20',
    section: '13.16',
  }),
  rule({
    name: 'MaxOutstandingR2T',
    type: 'numeric-min',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    min: 1,
    max: 65535,
    default: '1',
    irrelevantInDiscovery: true,
    section: '13.17',
  }),
  rule({
    name: 'DataPDUInOrder',
    type: 'boolean-or',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    default: 'Yes',
    irrelevantInDiscovery: true,
    section: '13.18',
  }),
  rule({
    name: 'DataSequenceInOrder',
    type: 'boolean-or',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    default: 'Yes',
    irrelevantInDiscovery: true,
    section: '13.19',
  }),
  rule({
    name: 'ErrorRecoveryLevel',
    type: 'numeric-min',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    min: 0,
    max: 2,
    default: '0',
    section: '13.20',
  }),
  rule({
    name: 'SessionType',
    type: 'declarative',
    scope: 'session',
    use: 'LO',
    senders: 'initiator',
    default: 'Normal',
    values: ['Discovery', 'Normal'],
    section: '13.21',
  }),
  rule({
    name: 'TaskReporting',
    type: 'list',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    default: 'RFC3720',
    values: ['RFC3720', 'ResponseFence', 'FastAbort'],
    irrelevantInDiscovery: true,
    section: '13.23',
  }),
  rule({
    name: 'iSCSIProtocolLevel',
    type: 'numeric-min',
    scope: 'session',
    use: 'LO',
    senders: 'both',
    min: 0,
    max: 31,
    default: '1',
    section: '13.24',
  }),
  // §13.25: markers are gone from RFC 7143; the boolean keys are AND with default No, so "No" always wins.
  rule({
    name: 'IFMarker',
    type: 'boolean-and',
    scope: 'connection',
    use: 'IO',
    senders: 'both',
    default: 'No',
    obsolete: true,
    section: '13.25',
  }),
  rule({
    name: 'OFMarker',
    type: 'boolean-and',
    scope: 'connection',
    use: 'IO',
    senders: 'both',
    default: 'No',
    obsolete: true,
    section: '13.25',
  }),
  rule({ name: 'IFMarkInt', type: 'declarative', scope: 'connection', use: 'IO', senders: 'both', obsolete: true, section: '13.25' }),
  rule({ name: 'OFMarkInt', type: 'declarative', scope: 'connection', use: 'IO', senders: 'both', obsolete: true, section: '13.25' }),
  rule({ name: 'X#NodeArchitecture', type: 'declarative', scope: 'session', use: 'LO', senders: 'both', section: '13.26' }),
  // §12.1: AuthMethod is a list negotiated in the security stage.
  rule({
    name: 'AuthMethod',
    type: 'list',
    scope: 'connection',
    use: 'SO',
    senders: 'both',
    default: 'None',
    values: ['KRB5', 'SRP', 'SPKM1', 'SPKM2', 'CHAP', 'None'],
    section: '12.1',
  }),
  // §12.1.3: the CHAP exchange; CHAP_A is a list of algorithm numbers, the rest are stated values.
  rule({ name: 'CHAP_A', type: 'list', scope: 'connection', use: 'SO', senders: 'both', section: '12.1.3' }),
  rule({ name: 'CHAP_I', type: 'declarative', scope: 'connection', use: 'SO', senders: 'both', min: 0, max: 255, section: '12.1.3' }),
  rule({ name: 'CHAP_C', type: 'declarative', scope: 'connection', use: 'SO', senders: 'both', section: '12.1.3' }),
  rule({ name: 'CHAP_N', type: 'declarative', scope: 'connection', use: 'SO', senders: 'both', section: '12.1.3' }),
  rule({ name: 'CHAP_R', type: 'declarative', scope: 'connection', use: 'SO', senders: 'both', section: '12.1.3' }),
];

/** Every key this initiator understands, by name. */
export const KEYS: Readonly<Record<string, KeyRule>> = Object.freeze(Object.fromEntries(TABLE.map((r) => [r.name, r])));

export function keyRule(name: string): KeyRule | undefined {
  return Object.hasOwn(KEYS, name) ? KEYS[name] : undefined;
}

/**
 * Parses a numerical value (§6.1 decimal-constant or hex-constant). Returns undefined for anything else
 * (signs, blanks, base64, values past 2^53) so that callers decide how to report it.
 */
export function parseNumericValue(value: string): number | undefined {
  let n: number;
  if (/^0[xX][0-9a-fA-F]{1,13}$/.test(value)) n = parseInt(value.slice(2), 16);
  else if (/^[0-9]{1,15}$/.test(value)) n = parseInt(value, 10);
  else return undefined;
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Parses a boolean-value (§6.1: exactly "Yes" or "No"). */
export function parseBooleanValue(value: string): boolean | undefined {
  return value === 'Yes' ? true : value === 'No' ? false : undefined;
}

export function formatBoolean(b: boolean): 'Yes' | 'No' {
  return b ? 'Yes' : 'No';
}
