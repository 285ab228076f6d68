/**
 * The endpoint table of the control API (DESIGN.md "Control plane (NATS)"): subject
 * `mpiscsi.<hostId>.<access>.<group>.<verb>`, the protobuf request and reply types (proto/mpiscsi/v1), and the
 * ControlApi method that answers it.
 *
 * The access token groups the subjects the way nats-server's per-user permissions are written (subject
 * wildcards, not request bodies): `read` lists and shows (secrets masked), `operate` changes something (logins,
 * records, paths, exports), `secrets` shows CHAP passwords in clear. A read-only user gets publish permission on
 * `mpiscsi.*.read.>`, an operator also on `mpiscsi.*.operate.>`, and only who may read secrets on
 * `mpiscsi.*.secrets.>` (README "Who may do what").
 */
import { hostname } from 'node:os';
import type { ControlApi } from './api.js';

/** Who may call an endpoint, as the subject's third token says. */
export type Access = 'read' | 'operate' | 'secrets';

export interface Endpoint {
  access: Access;
  group: string;
  verb: string;
  /** Fully qualified protobuf message names. */
  request: string;
  response: string;
  method: Exclude<keyof ControlApi, 'onEvent'>;
}

const e = (access: Access, group: string, verb: string, request: string, response: string, method: Endpoint['method']): Endpoint => ({
  access,
  group,
  verb,
  request: `mpiscsi.v1.${request}`,
  response: `mpiscsi.v1.${response}`,
  method,
});

export const ENDPOINTS: readonly Endpoint[] = [
  e('operate', 'discovery', 'sendtargets', 'SendTargetsRequest', 'SendTargetsResponse', 'discoverySendtargets'),
  e('read', 'node', 'list', 'NodeListRequest', 'NodeListResponse', 'nodeList'),
  e('read', 'node', 'show', 'NodeShowRequest', 'NodeShowResponse', 'nodeShow'),
  e('secrets', 'node', 'show', 'NodeShowRequest', 'NodeShowResponse', 'nodeShowSecrets'),
  e('operate', 'node', 'new', 'NodeNewRequest', 'NodeChangeResponse', 'nodeNew'),
  e('operate', 'node', 'update', 'NodeUpdateRequest', 'NodeChangeResponse', 'nodeUpdate'),
  e('operate', 'node', 'delete', 'NodeDeleteRequest', 'NodeChangeResponse', 'nodeDelete'),
  e('operate', 'node', 'login', 'NodeLoginRequest', 'NodeLoginResponse', 'nodeLogin'),
  e('operate', 'node', 'logout', 'NodeLoginRequest', 'NodeLoginResponse', 'nodeLogout'),
  e('read', 'session', 'list', 'SessionRequest', 'SessionListResponse', 'sessionList'),
  e('read', 'session', 'show', 'SessionRequest', 'SessionListResponse', 'sessionShow'),
  e('secrets', 'session', 'show', 'SessionRequest', 'SessionListResponse', 'sessionShowSecrets'),
  e('read', 'session', 'stats', 'SessionRequest', 'SessionStatsResponse', 'sessionStats'),
  e('operate', 'session', 'rescan', 'SessionRequest', 'SessionRescanResponse', 'sessionRescan'),
  e('operate', 'session', 'logout', 'SessionRequest', 'SessionLogoutResponse', 'sessionLogout'),
  e('read', 'iface', 'list', 'Empty', 'IfaceListResponse', 'ifaceList'),
  e('operate', 'iface', 'new', 'IfaceRequest', 'IfaceListResponse', 'ifaceNew'),
  e('operate', 'iface', 'update', 'IfaceRequest', 'IfaceListResponse', 'ifaceUpdate'),
  e('operate', 'iface', 'delete', 'IfaceRequest', 'IfaceListResponse', 'ifaceDelete'),
  e('read', 'mpath', 'list', 'MpathRequest', 'MpathListResponse', 'mpathList'),
  e('read', 'mpath', 'show', 'MpathRequest', 'MpathListResponse', 'mpathShow'),
  e('operate', 'mpath', 'fail_path', 'MpathPathRequest', 'MpathListResponse', 'mpathFailPath'),
  e('operate', 'mpath', 'reinstate_path', 'MpathPathRequest', 'MpathListResponse', 'mpathReinstatePath'),
  e('operate', 'mpath', 'switch_group', 'MpathSwitchGroupRequest', 'MpathListResponse', 'mpathSwitchGroup'),
  e('operate', 'mpath', 'set_policy', 'MpathSetPolicyRequest', 'MpathListResponse', 'mpathSetPolicy'),
  e('read', 'export', 'list', 'Empty', 'ExportListResponse', 'exportList'),
  e('operate', 'export', 'start', 'ExportStartRequest', 'ExportListResponse', 'exportStart'),
  e('operate', 'export', 'stop', 'ExportStopRequest', 'ExportListResponse', 'exportStop'),
];

/** Event kinds and their messages, published on `mpiscsi.<hostId>.events.<kind>`. */
export const EVENT_TYPES = {
  session: 'mpiscsi.v1.SessionEvent',
  path: 'mpiscsi.v1.PathEvent',
  mpath: 'mpiscsi.v1.MpathEvent',
} as const;

export function endpointSubject(hostId: string, ep: Pick<Endpoint, 'access' | 'group' | 'verb'>): string {
  return `mpiscsi.${hostId}.${ep.access}.${ep.group}.${ep.verb}`;
}

/** A host id is one subject token: letters, digits, '-' and '_' (no dots or wildcards); the settings table's rule. */
export { HOST_ID_PATTERN } from '../settings/index.js';

/**
 * The host id a daemon uses and a client addresses when none is configured: this machine's name with every
 * character a subject token cannot hold (dots, wildcards) as '_'.
 */
export function defaultHostId(): string {
  return hostname().replace(/[^-\w]/g, '_') || 'localhost';
}

/**
 * The host id that means every host (`mpiscsiadm --host-id all`); a daemon may not take it. Here rather than in
 * fleet.ts so that mpiscsiadm can test for it without loading the fleet view's NATS code (issue 17, start time).
 */
export const ALL_HOSTS = 'all';
