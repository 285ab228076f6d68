/**
 * What the NATS control service drives: one method per endpoint of DESIGN.md "Control plane (NATS)", with
 * the request and reply messages of proto/mpiscsi/v1/*.proto as plain objects (the generated types of
 * src/control/gen/ mapped by Plain: lowerCamelCase fields, 64-bit integers as numbers). The daemon implements
 * it; the service and the client only move these objects over NATS. A method fails with a ControlError
 * carrying the iscsiadm exit code.
 */
import type { Message } from '@bufbuild/protobuf';
import type * as common from './gen/mpiscsi/v1/common_pb.js';
import type * as discovery from './gen/mpiscsi/v1/discovery_pb.js';
import type * as events from './gen/mpiscsi/v1/events_pb.js';
import type * as exp from './gen/mpiscsi/v1/export_pb.js';
import type * as iface from './gen/mpiscsi/v1/iface_pb.js';
import type * as mpath from './gen/mpiscsi/v1/mpath_pb.js';
import type * as node from './gen/mpiscsi/v1/node_pb.js';
import type * as session from './gen/mpiscsi/v1/session_pb.js';
import type { ALWAYS_SET } from './schema.js';

/** An error with an iscsiadm exit code (open-iscsi include/iscsi_err.h), as the wire's Error message carries it. */
export class ControlError extends Error {
  override readonly name = 'ControlError';
  readonly lines: string[];
  constructor(
    readonly code: number,
    message: string,
    lines: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.lines = lines;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Messages: the generated types (src/control/gen/, from proto/) as the codec's plain objects (schema.ts).
// Names and field types come from the generator; this file adds only what proto3 cannot say: which fields a
// caller may leave out of a request (absent means the default on the wire), and which sub-messages are always
// set (ALWAYS_SET, filled in by the codec).

type Name<T> = T extends Message<infer N> ? N : never;
type AlwaysSetKeys<T> = Name<T> extends keyof typeof ALWAYS_SET ? (typeof ALWAYS_SET)[Name<T>][number] : never;
type PlainValue<V> = V extends bigint
  ? number
  : V extends Message
    ? Plain<V>
    : V extends readonly (infer E)[]
      ? PlainValue<E>[]
      : V extends Uint8Array
        ? V
        : V extends object
          ? { [k: string]: PlainValue<V[keyof V]> }
          : V;

/**
 * Generated message `T` as a plain object: no `$typeName`, 64-bit integers as numbers, every scalar and
 * repeated field present, sub-messages optional except those of ALWAYS_SET.
 */
export type Plain<T extends Message> = {
  [K in keyof T as K extends '$typeName' | '$unknown' | AlwaysSetKeys<T> ? never : K]: PlainValue<T[K]>;
} & { [K in AlwaysSetKeys<T> & keyof T]-?: PlainValue<NonNullable<T[K]>> };

/** A request as a caller writes it: every field of Plain<T> optional except `Needed`. */
export type Input<T extends Message, Needed extends keyof Plain<T> = never> = Partial<Plain<T>> & Pick<Plain<T>, Needed>;
/** Input<T> whose `filter` may name only some of its fields (an empty one matches anything). */
type Filtered<T extends Message & { filter?: common.NodeFilter }, Needed extends keyof Plain<T> = never> = Omit<
  Input<T, Needed>,
  'filter'
> & {
  filter?: NodeFilter;
};

export type PortalMsg = Plain<common.Portal>;
export type NodeKeyMsg = Plain<common.NodeKey>;
export type NodeFilter = Input<common.NodeFilter>;
export type Field = Plain<common.Field>;
export type Empty = Plain<common.Empty>;
/** The Error message of an error reply (ControlError on either side). */
export type ErrorMsg = Plain<common.Error>;

export type SendTargetsRequest = Input<discovery.SendTargetsRequest, 'address'>;
export type LoginResultMsg = Plain<discovery.LoginResult>;
export type DiscoveredNode = Plain<discovery.DiscoveredNode>;
/** `skipped` (targets or addresses of the answer not stored, with why) may be left out by the host. */
export type SendTargetsResponse = Omit<Plain<discovery.SendTargetsResponse>, 'skipped'> &
  Partial<Pick<Plain<discovery.SendTargetsResponse>, 'skipped'>>;

export type NodeListRequest = Filtered<node.NodeListRequest>;
export type NodeListResponse = Plain<node.NodeListResponse>;
/** showSecrets is deprecated and ignored: nodeShowSecrets (secrets.node.show) is the one that shows passwords. */
export type NodeShowRequest = Filtered<node.NodeShowRequest>;
export type NodeRecordMsg = Plain<node.NodeRecord>;
export type NodeShowResponse = Plain<node.NodeShowResponse>;
export type NodeNewRequest = Input<node.NodeNewRequest, 'node'>;
/** `all` is required with an empty filter. */
export type NodeUpdateRequest = Filtered<node.NodeUpdateRequest, 'fields'>;
/** `all` is required with an empty filter. */
export type NodeDeleteRequest = Filtered<node.NodeDeleteRequest>;
export type NodeChangeResponse = Plain<node.NodeChangeResponse>;
/** `all` (every record) is required when filter and startup are empty. */
export type NodeLoginRequest = Filtered<node.NodeLoginRequest>;
export type NodeLoginResponse = Plain<node.NodeLoginResponse>;

/** sid 0 with `all` on rescan and logout: every session. showSecrets is deprecated and ignored. */
export type SessionRequest = Input<session.SessionRequest>;
export type NegotiatedParamsMsg = Plain<session.NegotiatedParams>;
export type SessionTimeouts = Plain<session.SessionTimeouts>;
export type ChapInfo = Plain<session.ChapInfo>;
export type SessionLun = Plain<session.SessionLun>;
export type SessionInfo = Plain<session.SessionInfo>;
export type SessionListResponse = Plain<session.SessionListResponse>;
/** The iSCSI SNMP counters as iscsiadm -s names them (snake_case), in its order. */
export const SESSION_STAT_KEYS = [
  'txdata_octets',
  'rxdata_octets',
  'noptx_pdus',
  'scsicmd_pdus',
  'tmfcmd_pdus',
  'login_pdus',
  'text_pdus',
  'dataout_pdus',
  'logout_pdus',
  'snack_pdus',
  'noprx_pdus',
  'scsirsp_pdus',
  'tmfrsp_pdus',
  'textrsp_pdus',
  'datain_pdus',
  'logoutrsp_pdus',
  'r2t_pdus',
  'async_pdus',
  'rjt_pdus',
  'digest_err',
  'timeout_err',
] as const;
export type SessionStatKey = (typeof SESSION_STAT_KEYS)[number];
type CamelCase<S extends string> = S extends `${infer H}_${infer C}${infer R}` ? `${H}${Uppercase<C>}${CamelCase<R>}` : S;
/** A counter's field in SessionStats (txdataOctets). */
export type SessionStatField = Exclude<keyof Plain<session.SessionStats>, 'sid'>;
// Fails to compile when SESSION_STAT_KEYS and proto/'s SessionStats differ by a counter.
const statKeysMatchProto: [CamelCase<SessionStatKey>] extends [SessionStatField]
  ? [SessionStatField] extends [CamelCase<SessionStatKey>]
    ? true
    : never
  : never = true;
void statKeysMatchProto;
/** One session's counters under their protobuf (lowerCamelCase) names; one left out is sent as 0. */
export type SessionStats = Pick<Plain<session.SessionStats>, 'sid'> & Partial<Pick<Plain<session.SessionStats>, SessionStatField>>;
export type SessionStatsResponse = { stats: SessionStats[] };
/** txdata_octets -> txdataOctets, the name the generated code and proto3 JSON give the field. */
export function statFieldName(key: SessionStatKey): SessionStatField {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) as SessionStatField;
}
export type SessionRescanResponse = Plain<session.SessionRescanResponse>;
export type SessionLogoutResponse = Plain<session.SessionLogoutResponse>;

export type IfaceRecordMsg = Plain<iface.IfaceRecord>;
export type IfaceListResponse = Plain<iface.IfaceListResponse>;
export type IfaceRequest = Input<iface.IfaceRequest, 'name'>;

export type MpathPath = Plain<mpath.MpathPath>;
export type MpathDeviceMsg = Plain<mpath.MpathDevice>;
export type MpathRequest = Input<mpath.MpathRequest>;
export type MpathListResponse = Plain<mpath.MpathListResponse>;
export type MpathPathRequest = Input<mpath.MpathPathRequest, 'device' | 'path'>;
export type MpathSwitchGroupRequest = Input<mpath.MpathSwitchGroupRequest, 'device' | 'group'>;
export type MpathSetPolicyRequest = Input<mpath.MpathSetPolicyRequest, 'device' | 'settings'>;

export type ExportInfo = Plain<exp.ExportInfo>;
export type ExportListResponse = Plain<exp.ExportListResponse>;
export type ExportStartRequest = Input<exp.ExportStartRequest, 'device'>;
export type ExportStopRequest = Input<exp.ExportStopRequest, 'name'>;

export type SessionEventMsg = Plain<events.SessionEvent>;
export type PathEventMsg = Plain<events.PathEvent>;
export type MpathEventMsg = Plain<events.MpathEvent>;

/** Events the host emits; the service publishes each on mpiscsi.<hostId>.events.<kind>. */
export type HostEvent =
  | { kind: 'session'; event: SessionEventMsg }
  | { kind: 'path'; event: PathEventMsg }
  | { kind: 'mpath'; event: MpathEventMsg };

/** The daemon, as the control service sees it. Each method is one endpoint `<group>.<verb>`. */
export interface ControlApi {
  discoverySendtargets(req: SendTargetsRequest): Promise<SendTargetsResponse>;

  nodeList(req: NodeListRequest): Promise<NodeListResponse>;
  nodeShow(req: NodeShowRequest): Promise<NodeShowResponse>;
  /** nodeShow with CHAP passwords in clear (subject secrets.node.show). */
  nodeShowSecrets(req: NodeShowRequest): Promise<NodeShowResponse>;
  nodeNew(req: NodeNewRequest): Promise<NodeChangeResponse>;
  nodeUpdate(req: NodeUpdateRequest): Promise<NodeChangeResponse>;
  nodeDelete(req: NodeDeleteRequest): Promise<NodeChangeResponse>;
  nodeLogin(req: NodeLoginRequest): Promise<NodeLoginResponse>;
  nodeLogout(req: NodeLoginRequest): Promise<NodeLoginResponse>;

  sessionList(req: SessionRequest): Promise<SessionListResponse>;
  sessionShow(req: SessionRequest): Promise<SessionListResponse>;
  /** sessionShow with CHAP passwords in clear (subject secrets.session.show). */
  sessionShowSecrets(req: SessionRequest): Promise<SessionListResponse>;
  sessionStats(req: SessionRequest): Promise<SessionStatsResponse>;
  sessionRescan(req: SessionRequest): Promise<SessionRescanResponse>;
  sessionLogout(req: SessionRequest): Promise<SessionLogoutResponse>;

  ifaceList(req: Empty): Promise<IfaceListResponse>;
  ifaceNew(req: IfaceRequest): Promise<IfaceListResponse>;
  ifaceUpdate(req: IfaceRequest): Promise<IfaceListResponse>;
  ifaceDelete(req: IfaceRequest): Promise<IfaceListResponse>;

  mpathList(req: MpathRequest): Promise<MpathListResponse>;
  mpathShow(req: MpathRequest): Promise<MpathListResponse>;
  mpathFailPath(req: MpathPathRequest): Promise<MpathListResponse>;
  mpathReinstatePath(req: MpathPathRequest): Promise<MpathListResponse>;
  mpathSwitchGroup(req: MpathSwitchGroupRequest): Promise<MpathListResponse>;
  mpathSetPolicy(req: MpathSetPolicyRequest): Promise<MpathListResponse>;

  exportList(req: Empty): Promise<ExportListResponse>;
  exportStart(req: ExportStartRequest): Promise<ExportListResponse>;
  exportStop(req: ExportStopRequest): Promise<ExportListResponse>;

  /** Subscribe to state changes; returns the unsubscribe function. */
  onEvent(listener: (e: HostEvent) => void): () => void;
}
