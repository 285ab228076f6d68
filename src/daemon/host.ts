/**
 * The daemon's engine behind the control API (src/control/host.ts): node records in a store, one supervised
 * session per logged-in node record (at most one, however many login requests race), every LU behind a
 * session a path of a multipath device (PathManager, grouped by WWID), devices exported over NBD, and every
 * session/path/device state change as an event. DESIGN.md "Control plane (NATS)".
 */
import type { Subscription } from 'rxjs';
import type { RecordStore, PortalKey } from '../db/store.js';
import { BUILTIN_IFACES, IFACE_SCHEMA, NODE_SCHEMA, defaultIfaceRecord, defaultNodeRecord, type NodeKey } from '../db/node-record.js';
import type { Rec } from '../db/record.js';
import { IDENTITY_KEYS, MASK, checkRecordValue, matchesNode, recordFields, type NodeMatch } from '../db/record-ops.js';
import { LoginError } from '../iscsi/errors.js';
import { ManagedSession } from '../session/managed-session.js';
import { sayLoginWarnings } from '../session/login-warnings.js';
import { LoginPacer } from '../session/login-pacer.js';
import { sessionOptionsFromRecord, timersFromRecord } from '../session/node-session.js';
import { inquiryData, listLuns } from '../session/lun.js';
import { parseStandardInquiry } from '../scsi/inquiry.js';
import { PathManager, describeGate, describeGaveUp, describeNoPath, type MultipathDevice, type MultipathEvent, type MultipathConfig } from '../multipath/index.js';
import { DaemonExports } from './exports.js';
import { formatTopology } from '../multipath/topology.js';
import { discoverAndStore } from '../control/discover.js';
import { describeSkipped } from '../iscsi/discovery.js';
import { ExitCode, exitCodeFor } from '../control/exit-codes.js';
import {
  ControlError,
  type ControlHost,
  type Empty,
  type ExportListResponse,
  type ExportStartRequest,
  type ExportStopRequest,
  type Field,
  type HostEvent,
  type IfaceListResponse,
  type IfaceRequest,
  type LoginResult,
  type MpathDeviceMsg,
  type MpathListResponse,
  type MpathPathRequest,
  type MpathRequest,
  type MpathSetPolicyRequest,
  type MpathSwitchGroupRequest,
  type NodeChangeResponse,
  type NodeDeleteRequest,
  type NodeFilter,
  type NodeKeyMsg,
  type NodeListRequest,
  type NodeListResponse,
  type NodeLoginRequest,
  type NodeLoginResponse,
  type NodeNewRequest,
  type NodeShowRequest,
  type NodeShowResponse,
  type NodeUpdateRequest,
  type SendTargetsRequest,
  type SendTargetsResponse,
  type SessionInfo,
  type SessionListResponse,
  type SessionLogoutResponse,
  type SessionRequest,
  type SessionRescanResponse,
  type SessionStatsResponse,
  type SessionStats,
  SESSION_STAT_KEYS,
  statFieldName,
} from '../control/host.js';
import { multipathSettings } from '../multipath/config.js';
import { reasonText, type SessionStatus } from '../../machines/session.machine.js';
import { TIMER_VALUE_CHECK } from '../../machines/timer-values.js';

/** The record store the host needs (FileStore, or the JetStream KV store with the same methods). */
export type HostStore = Pick<
  RecordStore,
  | 'listNodes'
  | 'getNode'
  | 'putNode'
  | 'updateNode'
  | 'deleteNode'
  | 'getDiscovery'
  | 'putDiscovery'
  | 'discoveryNodes'
  | 'listIfaces'
  | 'getIface'
  | 'putIface'
  | 'updateIface'
  | 'deleteIface'
>;

export interface DaemonHostOptions {
  store: HostStore;
  /** Initiator name for ifaces that set none. */
  initiatorName: string;
  /** Where export sockets go by default (<stateDir>/nbd/<name>.sock). */
  stateDir: string;
  /** multipath.conf settings for every device. */
  multipath?: Partial<MultipathConfig>;
  /** Allow exports on non-loopback TCP addresses. Default false. */
  allowRemoteExports?: boolean;
  /** A directory export sockets may be put in besides <stateDir>/nbd (`--export-dir`). */
  exportDir?: string;
  /** A line per notable thing (logins, failures, path changes); never secrets. */
  log?: (line: string) => void;
  /** Called for each new session before its login (telemetry hooks); what it returns is stopped with the session. */
  onSession?: (s: HostSession) => { stop(): void } | void;
  /** Called for each new multipath device (telemetry hooks). */
  onDevice?: (d: MultipathDevice) => void;
  /** Called (in the request's context) before an operation takes a path down on purpose: fail_path, logout. */
  onPathDown?: (device: string, path: string) => void;
}

/** One logged-in node record. */
export interface HostSession {
  readonly sid: number;
  readonly key: NodeKey;
  readonly managed: ManagedSession;
  /** The record the session was made from (CHAP, timeouts for `session -P 2`). */
  rec: Rec;
  /** LUN -> path name in its multipath device. */
  readonly paths: Map<number, { device: MultipathDevice; path: string; wwid: string }>;
  sub?: Subscription;
  instrumentation?: { stop(): void } | void;
}

const nodeId = (k: NodeKey): string => `${k.target}\0${k.address}\0${k.port}\0${k.iface}`;
const portalText = (k: NodeKey): string => `${k.address},${k.port}`;

export function nodeKeyMsg(k: NodeKey): NodeKeyMsg {
  return { target: k.target, portal: { address: k.address, port: k.port, tpgt: k.tpgt }, iface: k.iface };
}

function match(f: NodeFilter | undefined): NodeMatch {
  return {
    target: f?.target || undefined,
    address: f?.address || undefined,
    port: f?.port || undefined,
    iface: f?.iface || undefined,
  };
}


/** open-iscsi's connection and session state names (session -P 1) for our statechart states. */
function iscsiadmStates(status: SessionStatus): { conn: string; sess: string } {
  switch (status.state) {
    case 'loggedIn':
      return { conn: 'LOGGED IN', sess: 'LOGGED_IN' };
    case 'recovering':
      return { conn: 'TRANSPORT WAIT', sess: 'FAILED' };
    case 'loggingIn':
      return { conn: 'IN LOGIN', sess: 'FREE' };
    case 'loggingOut':
      return { conn: 'IN LOGOUT', sess: 'LOGGED_IN' };
    case 'failed':
      return { conn: 'FAILED', sess: 'FAILED' };
    default:
      return { conn: 'FREE', sess: 'FREE' };
  }
}

/**
 * A mass login or logout must be asked for: an empty body (a client that forgot its filter, or one whose
 * fields this version does not know) is not "every record". `startup: 'all'` is the explicit form (-L all).
 */
const namesSome = (f: NodeFilter | undefined): boolean => !!f && !!(f.target || f.address || f.port || f.iface);

/** A mass operation has to say so (`all`, or for logins a startup selection): an empty request is not "all". */
function refuseImplicitAll(endpoint: string, req: { filter?: NodeFilter; startup?: string; all?: boolean }, how = 'set all for every record'): void {
  if (req.all || req.startup || namesSome(req.filter)) return;
  throw new ControlError(ExitCode.INVAL, `${endpoint}: name a target, portal or iface, or ${how}; an empty request is not "all"`);
}

/** sid 0 on an operation means every session only with all set. */
function refuseImplicitAllSessions(endpoint: string, req: SessionRequest): void {
  if (req.sid || req.all) return;
  throw new ControlError(ExitCode.INVAL, `${endpoint}: name a session (sid) or set all for every session; an empty request is not "all"`);
}

export class DaemonHost implements ControlHost {
  private readonly store: HostStore;
  private readonly pacer = new LoginPacer();
  readonly manager: PathManager;
  private readonly sessions = new Map<number, HostSession>();
  /** Node -> its session, or the login in progress (so concurrent logins make one session). */
  private readonly byNode = new Map<string, Promise<HostSession>>();
  private readonly exports: DaemonExports;
  private readonly listeners = new Set<(e: HostEvent) => void>();
  private nextSid = 1;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Sessions whose login is in progress (abandoned on shutdown). */
  private readonly loggingIn = new Map<ManagedSession, NodeKey>();
  private readonly log: (line: string) => void;

  constructor(private readonly opts: DaemonHostOptions) {
    this.store = opts.store;
    this.log = opts.log ?? (() => {});
    this.exports = new DaemonExports({ stateDir: opts.stateDir, socketDir: opts.exportDir, allowRemote: opts.allowRemoteExports }, this.log);
    this.manager = new PathManager({
      config: opts.multipath,
      onEvent: (e) => this.onMultipathEvent(e),
    });
    if (opts.onDevice) this.manager.onDevice(opts.onDevice);
  }

  // ---- events ----

  onEvent(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: HostEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private onMultipathEvent(e: MultipathEvent): void {
    const atMs = Date.now();
    switch (e.type) {
      case 'path.state':
        this.log(`${e.device}: path ${e.path} ${e.from} -> ${e.to} (${e.reason}${e.detail ? `: ${e.detail}` : ''})`);
        this.emit({ kind: 'path', event: { device: e.device, path: e.path, from: e.from, to: e.to, reason: e.reason, detail: e.detail ?? '', atMs } });
        return;
      case 'path.removed':
        this.emit({ kind: 'path', event: { device: e.device, path: e.path, from: '', to: 'removed', reason: e.reason, detail: e.detail ?? '', atMs } });
        return;
      case 'gate':
        this.log(`${e.device}: ${describeGate(e)}`);
        this.emit({ kind: 'mpath', event: { device: e.device, kind: 'gate', from: e.from, to: e.to, reason: '', detail: '', atMs } });
        return;
      case 'group.switched':
        this.emit({
          kind: 'mpath',
          event: { device: e.device, kind: 'group.switched', from: String(e.from + 1), to: String(e.to + 1), reason: e.reason, detail: '', atMs },
        });
        return;
      case 'io.failed':
        this.emit({ kind: 'mpath', event: { device: e.device, kind: 'io.failed', from: '', to: '', reason: '', detail: e.error, atMs } });
        return;
      case 'nopath': {
        const line = describeNoPath(e);
        this.log(`${e.device}: ${line}`);
        this.emit({ kind: 'mpath', event: { device: e.device, kind: 'nopath', from: e.from, to: e.to, reason: e.why ?? '', detail: line, atMs } });
        return;
      }
      case 'path.gaveUp':
        this.log(`${e.device}: ${describeGaveUp(e)}`);
        this.emit({ kind: 'path', event: { device: e.device, path: e.path, from: 'failed', to: 'gave-up', reason: e.code, detail: e.detail, atMs } });
        return;
      default:
        return;
    }
  }

  // ---- discovery ----

  async discoverySendtargets(req: SendTargetsRequest): Promise<SendTargetsResponse> {
    if (!req.address) throw new ControlError(ExitCode.INVAL, 'Please specify portal as <ipaddr>[:<ipport>]');
    const portal: PortalKey = { address: req.address, port: req.port || 3260 };
    const ifaces = req.ifaces?.length ? req.ifaces : ['default'];
    const found: NodeKey[] = [];
    const skipped: string[] = [];
    for (const iface of ifaces) {
      try {
        found.push(
          ...(await discoverAndStore(this.store, portal, {
            iface,
            nonpersistent: req.nonpersistent,
            settings: req.settings,
            initiatorName: this.opts.initiatorName,
            onSkip: (s) => {
              const line = describeSkipped(s);
              skipped.push(line);
              this.log(`discovery ${portal.address}:${portal.port}: ${line}`);
            },
          })),
        );
      } catch (err) {
        if (err instanceof ControlError) throw err;
        throw new ControlError(exitCodeFor(err), `Could not perform SendTargets discovery: ${(err as Error).message}`, [], { cause: err });
      }
    }
    const logins = req.login ? await this.loginKeys(found) : [];
    return { nodes: found.map((k) => ({ node: nodeKeyMsg(k) })), logins, skipped };
  }

  // ---- node records ----

  private async matching(f: NodeFilter | undefined): Promise<NodeKey[]> {
    const m = match(f);
    return (await this.store.listNodes()).filter((k) => matchesNode(k, m));
  }

  private async matchingOrFail(f: NodeFilter | undefined): Promise<NodeKey[]> {
    const keys = await this.matching(f);
    if (keys.length === 0) throw new ControlError(ExitCode.NO_OBJS_FOUND, 'No records found');
    return keys;
  }

  async nodeList(req: NodeListRequest): Promise<NodeListResponse> {
    return { nodes: (await this.matching(req.filter)).map(nodeKeyMsg) };
  }

  async nodeShow(req: NodeShowRequest): Promise<NodeShowResponse> {
    return this.showNodes(req, false);
  }

  async nodeShowSecrets(req: NodeShowRequest): Promise<NodeShowResponse> {
    return this.showNodes(req, true);
  }

  /** Passwords in clear only for the secrets endpoint, whatever the request's (deprecated) showSecrets says. */
  private async showNodes(req: NodeShowRequest, showSecrets: boolean): Promise<NodeShowResponse> {
    const records = [];
    for (const k of await this.matchingOrFail(req.filter)) {
      const rec = await this.store.getNode(k);
      if (!rec) continue;
      records.push({ node: nodeKeyMsg(k), fields: recordFields(rec, NODE_SCHEMA, { showSecrets, empty: '<empty>' }) });
    }
    return { records };
  }

  private checkFields(kind: 'node' | 'iface', fields: readonly Field[] | undefined): Field[] {
    const schema = kind === 'node' ? NODE_SCHEMA : IFACE_SCHEMA;
    return (fields ?? []).map((f) => {
      try {
        return { key: f.key, value: checkRecordValue(schema, IDENTITY_KEYS[kind], f.key, f.value, TIMER_VALUE_CHECK) };
      } catch (err) {
        throw new ControlError(ExitCode.INVAL, (err as Error).message, ['Could not execute operation on all records: invalid parameter']);
      }
    });
  }

  async nodeNew(req: NodeNewRequest): Promise<NodeChangeResponse> {
    const n = req.node;
    if (!n?.target || !n.portal?.address) throw new ControlError(ExitCode.INVAL, '-o new requires a target name and a portal');
    const fields = this.checkFields('node', req.fields);
    const ifaceName = n.iface || 'default';
    const iface = await this.store.getIface(ifaceName);
    if (!iface) throw new ControlError(ExitCode.NO_OBJS_FOUND, `Could not read iface info for ${ifaceName}.`);
    const port = n.portal.port || 3260;
    const tpgt = n.portal.tpgt ?? -1;
    const rec = defaultNodeRecord(n.target, { address: n.portal.address, port, tpgt }, iface);
    rec.set('node.discovery_type', 'static');
    for (const f of fields) rec.set(f.key, f.value);
    const key = await this.store.putNode(rec, 'static');
    return { nodes: [nodeKeyMsg(key)] };
  }

  async nodeUpdate(req: NodeUpdateRequest): Promise<NodeChangeResponse> {
    refuseImplicitAll('node.update', req);
    const fields = this.checkFields('node', req.fields);
    if (fields.length === 0) throw new ControlError(ExitCode.INVAL, 'update requires name and value');
    const keys = await this.matchingOrFail(req.filter);
    for (const k of keys) {
      const rec = await this.store.updateNode(k, (r) => {
        for (const f of fields) r.set(f.key, f.value);
      });
      this.applyLive(k, rec);
    }
    return { nodes: keys.map(nodeKeyMsg) };
  }

  /** Timer changes take effect on the running session at once (open-iscsi waits for the next login: #393). */
  private applyLive(k: NodeKey, rec: Rec): void {
    for (const s of this.sessions.values()) {
      if (nodeId(s.key) !== nodeId(k)) continue;
      s.rec = rec;
      try {
        s.managed.setTimers(timersFromRecord(rec));
      } catch (err) {
        this.log(`sid ${s.sid}: timers not changed: ${(err as Error).message}`);
      }
    }
  }

  async nodeDelete(req: NodeDeleteRequest): Promise<NodeChangeResponse> {
    refuseImplicitAll('node.delete', req);
    const keys = await this.matchingOrFail(req.filter);
    for (const k of keys) {
      if (this.byNode.has(nodeId(k)))
        throw new ControlError(ExitCode.SESS_EXISTS, `This command will remove the record [iface: ${k.iface}, target: ${k.target}, portal: ${portalText(k)}], but a session is using it. Logout session then rerun command to remove record.`);
    }
    for (const k of keys) await this.store.deleteNode(k);
    return { nodes: keys.map(nodeKeyMsg) };
  }

  // ---- login / logout ----

  async nodeLogin(req: NodeLoginRequest): Promise<NodeLoginResponse> {
    refuseImplicitAll('node.login', req, 'set all (every record) or startup');
    let keys = await this.matching(req.filter);
    if (req.startup) {
      if (!['all', 'manual', 'automatic', 'onboot'].includes(req.startup))
        throw new ControlError(ExitCode.INVAL, `Invalid loginall option ${req.startup}.`);
      if (req.startup !== 'all') {
        const picked: NodeKey[] = [];
        for (const k of keys) if ((await this.store.getNode(k))?.get('node.startup') === req.startup) picked.push(k);
        keys = picked;
      }
    }
    if (keys.length === 0) throw new ControlError(ExitCode.NO_OBJS_FOUND, 'No records found');
    // -L skips nodes that are logged in already; -l reports them (SESS_EXISTS).
    if (req.startup) keys = keys.filter((k) => !this.byNode.has(nodeId(k)));
    return { results: await this.loginKeys(keys) };
  }

  private async loginKeys(keys: readonly NodeKey[]): Promise<LoginResult[]> {
    return Promise.all(
      keys.map(async (k): Promise<LoginResult> => {
        try {
          const s = await this.login(k);
          return { node: nodeKeyMsg(k), sid: s.sid, code: 0, message: '' };
        } catch (err) {
          const code = err instanceof ControlError ? err.code : exitCodeFor(err);
          return { node: nodeKeyMsg(k), sid: 0, code, message: (err as Error).message };
        }
      }),
    );
  }

  /**
   * Logs `k` in, once: a login while another for the same node runs waits for it and then answers
   * SESS_EXISTS (or the same failure); a logged-in node answers SESS_EXISTS.
   */
  async login(k: NodeKey): Promise<HostSession> {
    if (this.closed) throw new ControlError(ExitCode.ISCSID_NOTCONN, 'mpiscsid is shutting down: no new logins');
    const id = nodeId(k);
    const running = this.byNode.get(id);
    if (running) {
      await running;
      throw new ControlError(ExitCode.SESS_EXISTS, `${k.iface}: 1 session requested, but 1 already present.`);
    }
    const p = this.doLogin(k);
    this.byNode.set(id, p);
    p.catch(() => {
      if (this.byNode.get(id) === p) this.byNode.delete(id);
    });
    return p;
  }

  private async doLogin(k: NodeKey): Promise<HostSession> {
    const rec = await this.store.getNode(k);
    if (!rec) throw new ControlError(ExitCode.NO_OBJS_FOUND, 'No records found');
    let options;
    try {
      options = sessionOptionsFromRecord(rec, { initiatorName: this.opts.initiatorName });
    } catch (err) {
      throw new ControlError(ExitCode.INVAL, (err as Error).message);
    }
    const sid = this.nextSid++;
    const managed = new ManagedSession({
      ...options,
      pacer: this.pacer,
      failFast: true,
      sessionKey: `sid ${sid} ${k.target},${k.address}:${k.port}/${k.iface}`,
    });
    const s: HostSession = { sid, key: k, managed, rec, paths: new Map() };
    s.sub = managed.events$.subscribe((st) =>
      this.emit({ kind: 'session', event: { sid, node: nodeKeyMsg(k), state: st.state, gate: st.gate, reason: reasonText(st), atMs: Date.now() } }),
    );
    s.sub.add(sayLoginWarnings(managed, (w) => this.log(`sid ${sid}: login to ${k.target} at ${portalText(k)}: warning: ${w}`)));
    s.instrumentation = this.opts.onSession?.(s);
    this.loggingIn.set(managed, k);
    try {
      await managed.login();
      if (this.closed) throw new ControlError(ExitCode.ISCSID_NOTCONN, 'login abandoned: mpiscsid is shutting down');
    } catch (err) {
      if (this.closed && managed.status.state !== 'loggedIn') err = new ControlError(ExitCode.ISCSID_NOTCONN, 'login abandoned: mpiscsid is shutting down', [], { cause: err });
      if (managed.status.state === 'loggedIn') await managed.logout().catch(() => {});
      s.sub.unsubscribe();
      managed.stop();
      s.instrumentation?.stop();
      this.log(`sid ${sid}: login to ${k.target} at ${portalText(k)} failed: ${(err as Error).message}`);
      if (err instanceof LoginError || !(err instanceof ControlError)) throw new ControlError(exitCodeFor(err), (err as Error).message, [], { cause: err });
      throw err;
    } finally {
      this.loggingIn.delete(managed);
    }
    this.sessions.set(sid, s);
    this.log(`sid ${sid}: logged in to ${k.target} at ${portalText(k)} through iface ${k.iface}`);
    await this.scan(s);
    return s;
  }

  /** REPORT LUNS; each disk LU becomes a path of the multipath device with its WWID. */
  private async scan(s: HostSession): Promise<void> {
    let luns: readonly number[];
    try {
      luns = await listLuns(s.managed);
    } catch (err) {
      this.log(`sid ${s.sid}: REPORT LUNS failed: ${(err as Error).message}`);
      return;
    }
    for (const [lun, p] of s.paths) {
      if (!luns.includes(lun)) {
        p.device.removePath(p.path, 'operator', 'LUN no longer reported');
        s.paths.delete(lun);
      }
    }
    for (const lun of luns) {
      if (s.paths.has(lun)) continue;
      try {
        // Only disks (peripheral qualifier 0, device type 0): tgtd's LUN 0 is its controller.
        const inq = parseStandardInquiry(await inquiryData(s.managed, lun));
        if (inq.peripheralQualifier !== 0 || inq.peripheralDeviceType !== 0) continue;
        const name = `${s.sid}:0:0:${lun}`;
        const device = await this.manager.addPath(s.managed, { name, lun });
        s.paths.set(lun, { device, path: name, wwid: device.wwid });
      } catch (err) {
        this.log(`sid ${s.sid}: LUN ${lun} not added: ${(err as Error).message}`);
      }
    }
  }

  async nodeLogout(req: NodeLoginRequest): Promise<NodeLoginResponse> {
    refuseImplicitAll('node.logout', req, 'set all (every session) or startup');
    let sessions = [...this.sessions.values()].filter((s) => matchesNode(s.key, match(req.filter)));
    if (req.startup && req.startup !== 'all') {
      const picked: HostSession[] = [];
      for (const s of sessions) if ((s.rec.get('node.startup') ?? 'manual') === req.startup) picked.push(s);
      sessions = picked;
    }
    if (sessions.length === 0) throw new ControlError(ExitCode.NO_OBJS_FOUND, 'No matching sessions found');
    return { results: await Promise.all(sessions.map((s) => this.logoutSession(s))) };
  }

  private async logoutSession(s: HostSession): Promise<LoginResult> {
    for (const [, p] of s.paths) this.opts.onPathDown?.(p.device.name, p.path);
    for (const [, p] of s.paths) {
      this.manager.removePath(p.device.name, p.path);
    }
    s.paths.clear();
    let code = 0;
    let message = '';
    try {
      await s.managed.logout();
    } catch (err) {
      code = ExitCode.LOGOUT;
      message = (err as Error).message;
    }
    s.managed.stop();
    s.sub?.unsubscribe();
    s.instrumentation?.stop();
    this.sessions.delete(s.sid);
    this.byNode.delete(nodeId(s.key));
    this.log(`sid ${s.sid}: logged out of ${s.key.target} at ${portalText(s.key)}${code ? ` (${message})` : ''}`);
    return { node: nodeKeyMsg(s.key), sid: s.sid, code, message };
  }

  // ---- sessions ----

  private selected(req: SessionRequest): HostSession[] {
    if (!req.sid) return [...this.sessions.values()];
    const s = this.sessions.get(req.sid);
    if (!s) throw new ControlError(ExitCode.SESS_NOT_FOUND, `Could not get session info for sid ${req.sid}`);
    return [s];
  }

  private sessionInfo(s: HostSession, showSecrets: boolean): SessionInfo {
    const status = s.managed.status;
    const st = iscsiadmStates(status);
    const live = s.managed.session;
    const p = live?.params;
    const t = timersFromRecord(s.rec);
    const secret = (v: string | undefined) => (v ? (showSecrets ? v : MASK) : '');
    return {
      sid: s.sid,
      node: nodeKeyMsg(s.key),
      currentPortal: { address: s.key.address, port: s.key.port, tpgt: s.key.tpgt },
      connectionState: st.conn,
      sessionState: st.sess,
      internalState: status.state,
      reason: reasonText(status),
      params: p
        ? {
            headerDigest: p.headerDigest ? 'CRC32C' : 'None',
            dataDigest: p.dataDigest ? 'CRC32C' : 'None',
            maxRecvDataSegmentLength: p.maxRecvDataSegmentLength,
            maxXmitDataSegmentLength: p.maxXmitDataSegmentLength,
            firstBurstLength: p.firstBurstLength,
            maxBurstLength: p.maxBurstLength,
            immediateData: p.immediateData,
            initialR2t: p.initialR2T,
            maxOutstandingR2t: p.maxOutstandingR2T,
          }
        : undefined,
      timeouts: {
        recoveryTimeout: Math.round(t.replacementTimeoutMs / 1000),
        targetResetTimeout: Math.round(t.tgtResetTimeoutMs / 1000),
        lunResetTimeout: Math.round(t.luResetTimeoutMs / 1000),
        abortTimeout: Math.round(t.abortTimeoutMs / 1000),
      },
      chap: {
        username: s.rec.get('node.session.auth.username') ?? '',
        password: secret(s.rec.get('node.session.auth.password')),
        usernameIn: s.rec.get('node.session.auth.username_in') ?? '',
        passwordIn: secret(s.rec.get('node.session.auth.password_in')),
      },
      luns: [...s.paths].map(([lun, path]) => ({
        lun,
        wwid: path.wwid,
        device: path.device.name,
        state: path.device.status().groups.flatMap((g) => g.paths).find((x) => x.name === path.path)?.state ?? '',
      })),
      initiatorName: s.rec.get('iface.initiatorname') || this.opts.initiatorName,
      isid: s.managed.isid.toString(16).padStart(12, '0'),
      tsih: live?.tsih ?? 0,
    };
  }

  async sessionList(req: SessionRequest): Promise<SessionListResponse> {
    return { sessions: this.selected(req).map((s) => this.sessionInfo(s, false)) };
  }

  async sessionShow(req: SessionRequest): Promise<SessionListResponse> {
    return { sessions: this.selected(req).map((s) => this.sessionInfo(s, false)) };
  }

  async sessionShowSecrets(req: SessionRequest): Promise<SessionListResponse> {
    return { sessions: this.selected(req).map((s) => this.sessionInfo(s, true)) };
  }

  async sessionStats(req: SessionRequest): Promise<SessionStatsResponse> {
    const stats: SessionStats[] = this.selected(req).map((s) => {
      const counters = s.managed.session?.stats;
      const out: SessionStats = { sid: s.sid };
      for (const k of SESSION_STAT_KEYS) out[statFieldName(k)] = counters ? counters[k] ?? 0 : 0;
      return out;
    });
    return { stats };
  }

  async sessionRescan(req: SessionRequest): Promise<SessionRescanResponse> {
    refuseImplicitAllSessions('session.rescan', req);
    const picked = this.selected(req);
    for (const s of picked) await this.scan(s);
    return { sessions: picked.map((s) => this.sessionInfo(s, false)) };
  }

  async sessionLogout(req: SessionRequest): Promise<SessionLogoutResponse> {
    refuseImplicitAllSessions('session.logout', req);
    const picked = this.selected(req);
    if (picked.length === 0) throw new ControlError(ExitCode.NO_OBJS_FOUND, 'No active sessions.');
    return { results: await Promise.all(picked.map((s) => this.logoutSession(s))) };
  }

  /**
   * Publishes the current state of every session, path and device as events (after a NATS reconnect or a
   * reload), so that subscribers who missed changes while the bus was down catch up.
   */
  republish(): void {
    const atMs = Date.now();
    for (const s of this.sessions.values()) {
      const st = s.managed.status;
      this.emit({ kind: 'session', event: { sid: s.sid, node: nodeKeyMsg(s.key), state: st.state, gate: st.gate, reason: 'republish', atMs } });
    }
    for (const d of this.manager.devices) {
      const st = d.status();
      this.emit({ kind: 'mpath', event: { device: d.name, kind: 'gate', from: '', to: st.gate, reason: 'republish', detail: '', atMs } });
      for (const g of st.groups)
        for (const p of g.paths)
          this.emit({ kind: 'path', event: { device: d.name, path: p.name, from: '', to: p.state, reason: 'republish', detail: '', atMs } });
    }
  }

  /** Sessions, for the daemon's own use (SIGHUP reload, shutdown). */
  get activeSessions(): HostSession[] {
    return [...this.sessions.values()];
  }

  /** Re-reads each session's record and applies its timers (SIGHUP). */
  async reloadRecords(): Promise<void> {
    for (const s of this.sessions.values()) {
      const rec = await this.store.getNode(s.key);
      if (rec) this.applyLive(s.key, rec);
    }
  }

  // ---- ifaces ----

  private async ifaceRecords(): Promise<IfaceListResponse> {
    const names = await this.store.listIfaces();
    const ifaces = [];
    for (const name of names) {
      const rec = await this.store.getIface(name);
      if (rec) ifaces.push({ name, fields: recordFields(rec, IFACE_SCHEMA, { empty: '<empty>' }) });
    }
    return { ifaces };
  }

  async ifaceList(_req: Empty): Promise<IfaceListResponse> {
    return this.ifaceRecords();
  }

  async ifaceNew(req: IfaceRequest): Promise<IfaceListResponse> {
    if (!req.name) throw new ControlError(ExitCode.INVAL, 'iface new requires a name');
    if (BUILTIN_IFACES.has(req.name) || (await this.store.getIface(req.name)))
      throw new ControlError(ExitCode.INVAL, `Could not create new interface ${req.name}: it exists.`);
    const fields = this.checkFields('iface', req.fields);
    const rec = defaultIfaceRecord(req.name);
    for (const f of fields) rec.set(f.key, f.value);
    await this.store.putIface(rec);
    return this.ifaceRecords();
  }

  async ifaceUpdate(req: IfaceRequest): Promise<IfaceListResponse> {
    if (BUILTIN_IFACES.has(req.name)) throw new ControlError(ExitCode.INVAL, `iface ${req.name} is built in and cannot be changed`);
    if (!(await this.store.getIface(req.name))) throw new ControlError(ExitCode.NO_OBJS_FOUND, `Could not read iface info for ${req.name}.`);
    const fields = this.checkFields('iface', req.fields);
    await this.store.updateIface(req.name, (r) => {
      for (const f of fields) r.set(f.key, f.value);
    });
    return this.ifaceRecords();
  }

  async ifaceDelete(req: IfaceRequest): Promise<IfaceListResponse> {
    if (BUILTIN_IFACES.has(req.name)) throw new ControlError(ExitCode.INVAL, `iface ${req.name} is built in and cannot be deleted`);
    if (!(await this.store.deleteIface(req.name))) throw new ControlError(ExitCode.NO_OBJS_FOUND, `Could not read iface info for ${req.name}.`);
    return this.ifaceRecords();
  }

  // ---- multipath ----

  private deviceMsg(d: MultipathDevice): MpathDeviceMsg {
    const st = d.status();
    const id = st.identity;
    return {
      name: st.name,
      wwid: st.wwid,
      vendor: id?.vendor ?? '',
      product: id?.product ?? '',
      sizeBytes: 0,
      gate: st.gate,
      policy: st.policy,
      activeGroup: st.activeGroup + 1,
      held: st.held,
      paths: st.groups.flatMap((g) =>
        g.paths.map((p) => ({
          name: p.name,
          hctl: p.hctl,
          lun: p.lun,
          prio: p.prio,
          group: g.index + 1,
          state: p.state,
          reason: p.reason,
          detail: p.detail ?? '',
          sessionState: p.session.state,
          inFlight: p.inFlight,
          issued: p.stats.issued,
          completed: p.stats.completed,
          reissued: p.stats.reissued,
        })),
      ),
      topology: formatTopology(st),
    };
  }

  private device(name: string | undefined): MultipathDevice {
    const d = name ? this.manager.device(name) : undefined;
    if (!d) throw new ControlError(ExitCode.NO_OBJS_FOUND, `multipath device ${name ?? ''} not found`);
    return d;
  }

  async mpathList(req: MpathRequest): Promise<MpathListResponse> {
    const devices = req.device ? [this.device(req.device)] : this.manager.devices;
    return { devices: devices.map((d) => this.deviceMsg(d)) };
  }

  async mpathShow(req: MpathRequest): Promise<MpathListResponse> {
    return { devices: [this.deviceMsg(this.device(req.device))] };
  }

  private pathOf(d: MultipathDevice, path: string): void {
    if (!d.pathNames.includes(path)) throw new ControlError(ExitCode.NO_OBJS_FOUND, `path ${path} is not a path of ${d.name}`);
  }

  async mpathFailPath(req: MpathPathRequest): Promise<MpathListResponse> {
    const d = this.device(req.device);
    this.pathOf(d, req.path);
    this.opts.onPathDown?.(d.name, req.path);
    d.failPath(req.path);
    return { devices: [this.deviceMsg(d)] };
  }

  async mpathReinstatePath(req: MpathPathRequest): Promise<MpathListResponse> {
    const d = this.device(req.device);
    this.pathOf(d, req.path);
    d.reinstatePath(req.path);
    return { devices: [this.deviceMsg(d)] };
  }

  async mpathSwitchGroup(req: MpathSwitchGroupRequest): Promise<MpathListResponse> {
    const d = this.device(req.device);
    if (!req.group || !d.switchGroup(req.group - 1)) throw new ControlError(ExitCode.INVAL, `${d.name} has no usable path group ${req.group}`);
    return { devices: [this.deviceMsg(d)] };
  }

  async mpathSetPolicy(req: MpathSetPolicyRequest): Promise<MpathListResponse> {
    const d = this.device(req.device);
    try {
      d.configure(multipathSettings(req.settings ?? {}));
    } catch (err) {
      throw new ControlError(ExitCode.INVAL, (err as Error).message);
    }
    return { devices: [this.deviceMsg(d)] };
  }

  // ---- exports ----

  async exportList(_req: Empty): Promise<ExportListResponse> {
    return this.exports.list();
  }

  async exportStart(req: ExportStartRequest): Promise<ExportListResponse> {
    return this.exports.start(req, (name) => this.device(name));
  }

  async exportStop(req: ExportStopRequest): Promise<ExportListResponse> {
    return this.exports.stop(req.name);
  }

  // ---- lifecycle ----

  /** Logs in the node records whose node.startup is automatic (iscsid at start). */
  async loginAutomatic(): Promise<LoginResult[]> {
    try {
      return (await this.nodeLogin({ startup: 'automatic' })).results;
    } catch (err) {
      if (err instanceof ControlError && err.code === ExitCode.NO_OBJS_FOUND) return [];
      throw err;
    }
  }

  /**
   * The first step of a shutdown: no new logins, and every login still in progress is abandoned (its
   * session stopped, the request answered with the reason) rather than waited for, since a target that does
   * not answer would hold the shutdown for as long as the login retries. Resolves when each has ended.
   */
  async abandonLogins(): Promise<void> {
    this.closed = true;
    for (const [managed, k] of this.loggingIn) {
      this.log(`abandoning the login to ${k.target} at ${portalText(k)}: mpiscsid is shutting down`);
      managed.stop();
    }
    await Promise.allSettled([...this.byNode.values()]);
  }

  /** Clean shutdown: pending logins abandoned, NBD clients answered ESHUTDOWN, sessions logged out, devices closed. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.abandonLogins();
      await this.exports.closeAll();
      await Promise.all([...this.sessions.values()].map((s) => this.logoutSession(s)));
      this.manager.close();
    })();
    return this.closing;
  }
}
