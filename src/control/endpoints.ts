/**
 * The endpoint table of the control API (DESIGN.md "Control plane (NATS)"): subject `mpiscsi.<hostId>.<group>.<verb>`,
 * the protobuf request and reply types (proto/mpiscsi/v1), and the ControlHost method that answers it.
 */
import { hostname } from 'node:os';
import type { ControlHost } from './host.js';

export interface Endpoint {
  group: string;
  verb: string;
  /** Fully qualified protobuf message names. */
  request: string;
  response: string;
  method: Exclude<keyof ControlHost, 'onEvent'>;
}

const e = (group: string, verb: string, request: string, response: string, method: Endpoint['method']): Endpoint => ({
  group,
  verb,
  request: `mpiscsi.v1.${request}`,
  response: `mpiscsi.v1.${response}`,
  method,
});

export const ENDPOINTS: readonly Endpoint[] = [
  e('discovery', 'sendtargets', 'SendTargetsRequest', 'SendTargetsResponse', 'discoverySendtargets'),
  e('node', 'list', 'NodeListRequest', 'NodeListResponse', 'nodeList'),
  e('node', 'show', 'NodeShowRequest', 'NodeShowResponse', 'nodeShow'),
  e('node', 'new', 'NodeNewRequest', 'NodeChangeResponse', 'nodeNew'),
  e('node', 'update', 'NodeUpdateRequest', 'NodeChangeResponse', 'nodeUpdate'),
  e('node', 'delete', 'NodeDeleteRequest', 'NodeChangeResponse', 'nodeDelete'),
  e('node', 'login', 'NodeLoginRequest', 'NodeLoginResponse', 'nodeLogin'),
  e('node', 'logout', 'NodeLoginRequest', 'NodeLoginResponse', 'nodeLogout'),
  e('session', 'list', 'SessionRequest', 'SessionListResponse', 'sessionList'),
  e('session', 'show', 'SessionRequest', 'SessionListResponse', 'sessionShow'),
  e('session', 'stats', 'SessionRequest', 'SessionStatsResponse', 'sessionStats'),
  e('session', 'rescan', 'SessionRequest', 'SessionRescanResponse', 'sessionRescan'),
  e('session', 'logout', 'SessionRequest', 'SessionLogoutResponse', 'sessionLogout'),
  e('iface', 'list', 'Empty', 'IfaceListResponse', 'ifaceList'),
  e('iface', 'new', 'IfaceRequest', 'IfaceListResponse', 'ifaceNew'),
  e('iface', 'update', 'IfaceRequest', 'IfaceListResponse', 'ifaceUpdate'),
  e('iface', 'delete', 'IfaceRequest', 'IfaceListResponse', 'ifaceDelete'),
  e('mpath', 'list', 'MpathRequest', 'MpathListResponse', 'mpathList'),
  e('mpath', 'show', 'MpathRequest', 'MpathListResponse', 'mpathShow'),
  e('mpath', 'fail_path', 'MpathPathRequest', 'MpathListResponse', 'mpathFailPath'),
  e('mpath', 'reinstate_path', 'MpathPathRequest', 'MpathListResponse', 'mpathReinstatePath'),
  e('mpath', 'switch_group', 'MpathSwitchGroupRequest', 'MpathListResponse', 'mpathSwitchGroup'),
  e('mpath', 'set_policy', 'MpathSetPolicyRequest', 'MpathListResponse', 'mpathSetPolicy'),
  e('export', 'list', 'Empty', 'ExportListResponse', 'exportList'),
  e('export', 'start', 'ExportStartRequest', 'ExportListResponse', 'exportStart'),
  e('export', 'stop', 'ExportStopRequest', 'ExportListResponse', 'exportStop'),
];

/** Event kinds and their messages, published on `mpiscsi.<hostId>.events.<kind>`. */
export const EVENT_TYPES = {
  session: 'mpiscsi.v1.SessionEvent',
  path: 'mpiscsi.v1.PathEvent',
  mpath: 'mpiscsi.v1.MpathEvent',
} as const;

export function endpointSubject(hostId: string, ep: Pick<Endpoint, 'group' | 'verb'>): string {
  return `mpiscsi.${hostId}.${ep.group}.${ep.verb}`;
}

/** A host id is one subject token: letters, digits, '-' and '_' (no dots or wildcards). */
export const HOST_ID_PATTERN = /^[-\w]+$/;

/**
 * The host id a daemon uses and a client addresses when none is configured: this machine's name with every
 * character a subject token cannot hold (dots, wildcards) as '_'.
 */
export function defaultHostId(): string {
  return hostname().replace(/[^-\w]/g, '_') || 'localhost';
}
