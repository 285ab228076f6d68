/**
 * The daemon's engine behind the control API (src/control/api.ts), as the composition of the domain services
 * (src/services: node records, sessions, exports) and the control handlers per endpoint group
 * (src/control/handlers). One PathManager groups every session's LUs into multipath devices by WWID; every
 * session, path and device change goes out as an event. DESIGN.md "Control plane (NATS)".
 */
import type { RecordStore } from '../db/store.js';
import { PathManager, type MultipathConfig, type MultipathDevice } from '../multipath/index.js';
import { NotFoundError } from '../services/errors.js';
import { ExportService } from '../services/exports.js';
import { NodeService } from '../services/nodes.js';
import { SessionService, type ActiveSession, type LoginOutcome } from '../services/sessions.js';
import { discoveryHandlers, type DiscoveryStore } from '../control/handlers/discovery.js';
import { HostEvents } from '../control/handlers/events.js';
import { exportHandlers } from '../control/handlers/export.js';
import { ifaceHandlers, type IfaceStore } from '../control/handlers/iface.js';
import { mpathHandlers } from '../control/handlers/mpath.js';
import { nodeHandlers } from '../control/handlers/node.js';
import { sessionHandlers } from '../control/handlers/session.js';
import type { ControlApi } from '../control/api.js';

/** The record store the host needs (FileStore, or the JetStream KV store with the same methods). */
export type HostStore = DiscoveryStore & IfaceStore & Pick<RecordStore, 'listNodes' | 'updateNode'>;

/** One logged-in node record (the session service's). */
export type HostSession = ActiveSession;

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
  onSession?: (s: HostSession) => { stop(): void } | undefined;
  /** Called for each new multipath device (telemetry hooks). */
  onDevice?: (d: MultipathDevice) => void;
  /** Called (in the request's context) before an operation takes a path down on purpose: fail_path, logout. */
  onPathDown?: (device: string, path: string) => void;
}

// The endpoints are the handlers' methods, assigned in the constructor; declaration merging gives them their types.
export interface DaemonEngine extends ControlApi {}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface declares what Object.assign in the constructor provides
export class DaemonEngine implements ControlApi {
  readonly manager: PathManager;
  readonly nodes: NodeService;
  readonly sessions: SessionService;
  private readonly exports: ExportService;
  private readonly events: HostEvents;
  private closing: Promise<void> | undefined;

  constructor(opts: DaemonHostOptions) {
    const log = opts.log ?? (() => {});
    const store = opts.store;
    this.events = new HostEvents(log);
    this.manager = new PathManager({ config: opts.multipath, onEvent: (e) => this.events.multipath(e) });
    if (opts.onDevice) this.manager.onDevice(opts.onDevice);
    this.sessions = new SessionService({
      store,
      manager: this.manager,
      initiatorName: opts.initiatorName,
      log,
      onSession: opts.onSession,
      onStatus: (s, st) => this.events.session(s, st),
      onPathDown: opts.onPathDown,
    });
    this.nodes = new NodeService({ store, inUse: (k) => this.sessions.inUse(k), onUpdated: (k, rec) => this.sessions.applyRecord(k, rec) });
    this.exports = new ExportService({ stateDir: opts.stateDir, socketDir: opts.exportDir, allowRemote: opts.allowRemoteExports }, log);
    Object.assign(
      this,
      discoveryHandlers(store, this.sessions, opts.initiatorName, log),
      nodeHandlers(this.nodes, this.sessions),
      sessionHandlers(this.sessions, opts.initiatorName),
      ifaceHandlers(store),
      mpathHandlers(this.manager, opts.onPathDown),
      exportHandlers(this.exports, this.manager),
    );
  }

  onEvent(listener: Parameters<ControlApi['onEvent']>[0]): () => void {
    return this.events.onEvent(listener);
  }

  /**
   * Publishes the current state of every session, path and device as events (after a NATS reconnect or a
   * reload), so that subscribers who missed changes while the bus was down catch up.
   */
  republish(): void {
    this.events.republish(this.sessions.list(), this.manager.devices);
  }

  /** Sessions, for the daemon's own use (SIGHUP reload, shutdown). */
  get activeSessions(): HostSession[] {
    return this.sessions.list();
  }

  /** Re-reads each session's record and applies its timers (SIGHUP). */
  reloadRecords(): Promise<void> {
    return this.sessions.reloadRecords();
  }

  /** Logs in the node records whose node.startup is automatic (iscsid at start); none is not a failure. */
  async loginAutomatic(): Promise<LoginOutcome[]> {
    try {
      return await this.sessions.loginRecords(await this.nodes.find({}), 'automatic', { skipPresent: true });
    } catch (err) {
      if (err instanceof NotFoundError) return [];
      throw err;
    }
  }

  /** The first step of a shutdown: no new logins, and every login in progress abandoned (see SessionService). */
  abandonLogins(): Promise<void> {
    return this.sessions.abandonLogins();
  }

  /** Clean shutdown: pending logins abandoned, NBD clients answered ESHUTDOWN, sessions logged out, devices closed. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.sessions.abandonLogins();
      await this.exports.closeAll();
      await this.sessions.close();
      this.manager.close();
    })();
    return this.closing;
  }
}
