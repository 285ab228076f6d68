/**
 * What the NATS control service drives: one method per endpoint of DESIGN.md "Control plane (NATS)", with
 * the request and reply shapes of proto/mpiscsi/v1/*.proto as plain objects (protobufjs field names in
 * lowerCamelCase, 64-bit integers as numbers). The daemon implements it; the service and the client only
 * move these objects over NATS. A method fails with a ControlError carrying the iscsiadm exit code.
 */

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

export interface Portal {
  address: string;
  port: number;
  tpgt: number;
}

export interface NodeKeyMsg {
  target: string;
  portal: Portal;
  iface: string;
}

export interface NodeFilter {
  target?: string;
  address?: string;
  port?: number;
  iface?: string;
}

export interface Field {
  key: string;
  value: string;
}

export type Empty = Record<string, never>;

export interface SendTargetsRequest {
  address: string;
  port?: number;
  ifaces?: string[];
  nonpersistent?: boolean;
  login?: boolean;
  settings?: Field[];
}
export interface LoginResult {
  node: NodeKeyMsg;
  sid: number;
  code: number;
  message: string;
}
export interface SendTargetsResponse {
  nodes: Array<{ node: NodeKeyMsg }>;
  logins: LoginResult[];
  /** Targets or addresses of the answer not stored, with why. */
  skipped?: string[];
}

export interface NodeListRequest {
  filter?: NodeFilter;
}
export interface NodeListResponse {
  nodes: NodeKeyMsg[];
}
export interface NodeShowRequest {
  filter?: NodeFilter;
  /** Deprecated and ignored: nodeShowSecrets (secrets.node.show) is the one that shows passwords. */
  showSecrets?: boolean;
}
export interface NodeRecordMsg {
  node: NodeKeyMsg;
  fields: Field[];
}
export interface NodeShowResponse {
  records: NodeRecordMsg[];
}
export interface NodeNewRequest {
  node: NodeKeyMsg;
  fields?: Field[];
}
export interface NodeUpdateRequest {
  filter?: NodeFilter;
  fields: Field[];
  /** Required with an empty filter. */
  all?: boolean;
}
export interface NodeDeleteRequest {
  filter?: NodeFilter;
  /** Required with an empty filter. */
  all?: boolean;
}
export interface NodeChangeResponse {
  nodes: NodeKeyMsg[];
}
export interface NodeLoginRequest {
  filter?: NodeFilter;
  startup?: string;
  /** Every record; required when filter and startup are empty. */
  all?: boolean;
}
export interface NodeLoginResponse {
  results: LoginResult[];
}

export interface SessionRequest {
  sid?: number;
  /** Deprecated and ignored: sessionShowSecrets (secrets.session.show) is the one that shows passwords. */
  showSecrets?: boolean;
  /** With sid 0 on rescan and logout: every session. */
  all?: boolean;
}
export interface NegotiatedParams {
  headerDigest: string;
  dataDigest: string;
  maxRecvDataSegmentLength: number;
  maxXmitDataSegmentLength: number;
  firstBurstLength: number;
  maxBurstLength: number;
  immediateData: boolean;
  initialR2t: boolean;
  maxOutstandingR2t: number;
}
export interface SessionTimeouts {
  recoveryTimeout: number;
  targetResetTimeout: number;
  lunResetTimeout: number;
  abortTimeout: number;
}
export interface ChapInfo {
  username: string;
  password: string;
  usernameIn: string;
  passwordIn: string;
}
export interface SessionLun {
  lun: number;
  wwid: string;
  device: string;
  state: string;
}
export interface SessionInfo {
  sid: number;
  node: NodeKeyMsg;
  currentPortal: Portal;
  connectionState: string;
  sessionState: string;
  internalState: string;
  reason: string;
  params?: NegotiatedParams;
  timeouts: SessionTimeouts;
  chap: ChapInfo;
  luns: SessionLun[];
  initiatorName: string;
  isid: string;
  tsih: number;
}
export interface SessionListResponse {
  sessions: SessionInfo[];
}
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
/** Counters under their protobuf (lowerCamelCase) names, e.g. txdataOctets; see statFieldName. */
export type SessionStats = { sid: number } & Record<string, number>;
export interface SessionStatsResponse {
  stats: SessionStats[];
}
/** txdata_octets -> txdataOctets, the name protobufjs and proto3 JSON give the field. */
export function statFieldName(key: SessionStatKey): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}
export interface SessionRescanResponse {
  sessions: SessionInfo[];
}
export interface SessionLogoutResponse {
  results: LoginResult[];
}

export interface IfaceRecordMsg {
  name: string;
  fields: Field[];
}
export interface IfaceListResponse {
  ifaces: IfaceRecordMsg[];
}
export interface IfaceRequest {
  name: string;
  fields?: Field[];
}

export interface MpathPath {
  name: string;
  hctl: string;
  lun: number;
  prio: number;
  group: number;
  state: string;
  reason: string;
  /** Why the path is in its state, in words (session reason, replacement_timeout expired, identity change). */
  detail: string;
  sessionState: string;
  inFlight: number;
  issued: number;
  completed: number;
  reissued: number;
}
export interface MpathDeviceMsg {
  name: string;
  wwid: string;
  vendor: string;
  product: string;
  sizeBytes: number;
  gate: string;
  policy: string;
  activeGroup: number;
  held: number;
  paths: MpathPath[];
  topology: string[];
}
export interface MpathRequest {
  device?: string;
}
export interface MpathListResponse {
  devices: MpathDeviceMsg[];
}
export interface MpathPathRequest {
  device: string;
  path: string;
}
export interface MpathSwitchGroupRequest {
  device: string;
  group: number;
}
export interface MpathSetPolicyRequest {
  device: string;
  settings: Record<string, string>;
}

export interface ExportInfo {
  name: string;
  device: string;
  uris: string[];
  clients: number;
}
export interface ExportListResponse {
  exports: ExportInfo[];
}
export interface ExportStartRequest {
  device: string;
  name?: string;
  socket?: string;
  tcp?: string;
}
export interface ExportStopRequest {
  name: string;
}

export interface SessionEventMsg {
  sid: number;
  node: NodeKeyMsg;
  state: string;
  gate: string;
  reason: string;
  atMs: number;
}
export interface PathEventMsg {
  device: string;
  path: string;
  from: string;
  to: string;
  reason: string;
  detail: string;
  atMs: number;
}
export interface MpathEventMsg {
  device: string;
  kind: string;
  from: string;
  to: string;
  reason: string;
  detail: string;
  atMs: number;
}

/** Events the host emits; the service publishes each on mpiscsi.<hostId>.events.<kind>. */
export type HostEvent =
  | { kind: 'session'; event: SessionEventMsg }
  | { kind: 'path'; event: PathEventMsg }
  | { kind: 'mpath'; event: MpathEventMsg };

/** The daemon, as the control service sees it. Each method is one endpoint `<group>.<verb>`. */
export interface ControlHost {
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
