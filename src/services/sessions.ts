/**
 * Sessions as a domain service: at most one supervised session per node record however many login requests
 * race (a second login waits for the first and answers "already present"), each LU a session reports (REPORT
 * LUNS, disks only) attached as a path of its multipath device, logout, the record's timers applied to the
 * running session when the record changes, and the shutdown that abandons logins in progress. The daemon's
 * node.login/logout and session.* endpoints run on it; `attachPaths` is the path grouping `mpiscsi serve` uses.
 */
import type { Subscription } from 'rxjs';
import type { RecordStore } from '../db/store.js';
import type { NodeKey } from '../db/node-record.js';
import type { Rec } from '../db/record.js';
import { matchesNode, type NodeMatch } from '../db/record-ops.js';
import { ManagedSession } from '../session/managed-session.js';
import { sayLoginWarnings } from '../session/login-warnings.js';
import { LoginPacer } from '../session/login-pacer.js';
import { sessionOptionsFromRecord, timersFromRecord } from '../session/node-session.js';
import { inquiryData, listLuns } from '../session/lun.js';
import { parseStandardInquiry } from '../scsi/inquiry.js';
import type { MultipathDevice, PathManager } from '../multipath/index.js';
import type { SessionStatus } from '../../machines/session.machine.js';
import {
  AlreadyExistsError,
  InvalidRequestError,
  LogoutFailedError,
  NotFoundError,
  OperationFailedError,
  ServiceError,
  SessionNotFoundError,
  ShuttingDownError,
} from './errors.js';

/** One logged-in node record. */
export interface ActiveSession {
  readonly sid: number;
  readonly key: NodeKey;
  readonly managed: ManagedSession;
  /** The record the session was made from (CHAP, timeouts for `session -P 2`). */
  rec: Rec;
  /** LUN -> path name in its multipath device. */
  readonly paths: Map<number, { device: MultipathDevice; path: string; wwid: string }>;
  sub?: Subscription;
  instrumentation?: { stop(): void };
}

/** How a login of one record ended: a session id, or the failure (its exit code from src/control/exit-codes.ts). */
export interface LoginOutcome {
  key: NodeKey;
  sid: number;
  error?: unknown;
}

export interface LogoutOutcome {
  key: NodeKey;
  sid: number;
  error?: LogoutFailedError;
}

export interface SessionServiceOptions {
  store: Pick<RecordStore, 'getNode'>;
  manager: PathManager;
  /** Initiator name for ifaces that set none. */
  initiatorName: string;
  log?: (line: string) => void;
  /** Called for each new session before its login (telemetry hooks); what it returns is stopped with the session. */
  onSession?: (s: ActiveSession) => { stop(): void } | undefined;
  /** Every change of a session's state or gate. */
  onStatus?: (s: ActiveSession, status: SessionStatus) => void;
  /** Called before a logout takes a path down on purpose. */
  onPathDown?: (device: string, path: string) => void;
}

/** iscsiadm's node.startup values, as `-L` selects them. */
export const STARTUP_VALUES = ['all', 'manual', 'automatic', 'onboot'] as const;

const nodeId = (k: NodeKey): string => `${k.target}\0${k.address}\0${k.port}\0${k.iface}`;
export const portalText = (k: NodeKey): string => `${k.address},${k.port}`;

export class SessionService {
  private readonly pacer = new LoginPacer();
  private readonly sessions = new Map<number, ActiveSession>();
  /** Node -> its session, or the login in progress (so concurrent logins make one session). */
  private readonly byNode = new Map<string, Promise<ActiveSession>>();
  /** Sessions whose login is in progress (abandoned on shutdown). */
  private readonly loggingIn = new Map<ManagedSession, NodeKey>();
  private nextSid = 1;
  private closed = false;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: SessionServiceOptions) {
    this.log = opts.log ?? (() => {});
  }

  /** Every session, in login order. */
  list(): ActiveSession[] {
    return [...this.sessions.values()];
  }

  /** One session by id, or every session for sid 0 / none. */
  select(sid: number | undefined): ActiveSession[] {
    if (!sid) return this.list();
    const s = this.sessions.get(sid);
    if (!s) throw new SessionNotFoundError(`Could not get session info for sid ${sid}`);
    return [s];
  }

  /** Whether a session uses (or a login is making one from) the record: what a node delete checks. */
  inUse(k: NodeKey): boolean {
    return this.byNode.has(nodeId(k));
  }

  /**
   * Logs in `keys` at once, each reported on its own. With `startup`, only records whose node.startup is that
   * (any for "all"). A logged-in one is reported ("already present", as iscsiadm's -l and -L do), or skipped
   * with `skipPresent` (the daemon's own automatic logins).
   */
  async loginRecords(keys: readonly NodeKey[], startup?: string, opts: { skipPresent?: boolean } = {}): Promise<LoginOutcome[]> {
    if (startup) {
      if (!(STARTUP_VALUES as readonly string[]).includes(startup)) throw new InvalidRequestError(`Invalid loginall option ${startup}.`);
      const picked: NodeKey[] = [];
      for (const k of keys) if (startup === 'all' || (await this.opts.store.getNode(k))?.get('node.startup') === startup) picked.push(k);
      keys = picked;
    }
    if (keys.length === 0) throw new NotFoundError('No records found');
    if (opts.skipPresent) keys = keys.filter((k) => !this.inUse(k));
    return Promise.all(
      keys.map(async (key): Promise<LoginOutcome> => {
        try {
          return { key, sid: (await this.login(key)).sid };
        } catch (error) {
          return { key, sid: 0, error };
        }
      }),
    );
  }

  /**
   * Logs `k` in, once: a login while another for the same node runs waits for it and then answers
   * "already present" (or the same failure); a logged-in node answers "already present".
   */
  async login(k: NodeKey): Promise<ActiveSession> {
    if (this.closed) throw new ShuttingDownError('mpiscsid is shutting down: no new logins');
    const id = nodeId(k);
    const running = this.byNode.get(id);
    if (running) {
      await running;
      throw new AlreadyExistsError(`${k.iface}: 1 session requested, but 1 already present.`);
    }
    const p = this.start(k);
    this.byNode.set(id, p);
    p.catch(() => {
      if (this.byNode.get(id) === p) this.byNode.delete(id);
    });
    return p;
  }

  private async start(k: NodeKey): Promise<ActiveSession> {
    const rec = await this.opts.store.getNode(k);
    if (!rec) throw new NotFoundError('No records found');
    let options: ReturnType<typeof sessionOptionsFromRecord>;
    try {
      options = sessionOptionsFromRecord(rec, { initiatorName: this.opts.initiatorName });
    } catch (err) {
      throw new InvalidRequestError((err as Error).message, { cause: err });
    }
    const sid = this.nextSid++;
    const managed = new ManagedSession({
      ...options,
      pacer: this.pacer,
      failFast: true,
      sessionKey: `sid ${sid} ${k.target},${k.address}:${k.port}/${k.iface}`,
    });
    const s: ActiveSession = { sid, key: k, managed, rec, paths: new Map() };
    s.sub = managed.events$.subscribe((st) => this.opts.onStatus?.(s, st));
    s.sub.add(sayLoginWarnings(managed, (w) => this.log(`sid ${sid}: login to ${k.target} at ${portalText(k)}: warning: ${w}`)));
    s.instrumentation = this.opts.onSession?.(s);
    this.loggingIn.set(managed, k);
    try {
      await managed.login();
      if (this.closed) throw new ShuttingDownError('login abandoned: mpiscsid is shutting down');
    } catch (cause) {
      const abandoned = this.closed && managed.status.state !== 'loggedIn';
      const err = abandoned ? new ShuttingDownError('login abandoned: mpiscsid is shutting down', { cause }) : cause;
      if (managed.status.state === 'loggedIn') await managed.logout().catch(() => {});
      s.sub.unsubscribe();
      managed.stop();
      s.instrumentation?.stop();
      this.log(`sid ${sid}: login to ${k.target} at ${portalText(k)} failed: ${(err as Error).message}`);
      throw err instanceof ServiceError ? err : new OperationFailedError((err as Error).message, err);
    } finally {
      this.loggingIn.delete(managed);
    }
    this.sessions.set(sid, s);
    this.log(`sid ${sid}: logged in to ${k.target} at ${portalText(k)} through iface ${k.iface}`);
    await this.scan(s);
    return s;
  }

  /** REPORT LUNS; each disk LU becomes a path of its multipath device (by WWID), and LUs gone are removed. */
  async scan(s: ActiveSession): Promise<void> {
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
        const device = await this.opts.manager.addPath(s.managed, { name, lun });
        s.paths.set(lun, { device, path: name, wwid: device.wwid });
      } catch (err) {
        this.log(`sid ${s.sid}: LUN ${lun} not added: ${(err as Error).message}`);
      }
    }
  }

  /** The sessions of records `m` selects, those whose node.startup is `startup` when it is given and not "all". */
  sessionsOf(m: NodeMatch, startup?: string): ActiveSession[] {
    const picked = this.list().filter(
      (s) => matchesNode(s.key, m) && (!startup || startup === 'all' || (s.rec.get('node.startup') ?? 'manual') === startup),
    );
    if (picked.length === 0) throw new NotFoundError('No matching sessions found');
    return picked;
  }

  /** Its paths removed from their devices, then a logout; the session is stopped whether the target answers or not. */
  async logout(s: ActiveSession): Promise<LogoutOutcome> {
    for (const [, p] of s.paths) this.opts.onPathDown?.(p.device.name, p.path);
    for (const [, p] of s.paths) this.opts.manager.removePath(p.device.name, p.path);
    s.paths.clear();
    let error: LogoutFailedError | undefined;
    try {
      await s.managed.logout();
    } catch (err) {
      error = new LogoutFailedError((err as Error).message, err);
    }
    s.managed.stop();
    s.sub?.unsubscribe();
    s.instrumentation?.stop();
    this.sessions.delete(s.sid);
    this.byNode.delete(nodeId(s.key));
    this.log(`sid ${s.sid}: logged out of ${s.key.target} at ${portalText(s.key)}${error ? ` (${error.message})` : ''}`);
    return { key: s.key, sid: s.sid, error };
  }

  /** A changed record's timers take effect on its running session at once (open-iscsi waits for the next login: #393). */
  applyRecord(k: NodeKey, rec: Rec): void {
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

  /** Re-reads each session's record and applies its timers (SIGHUP). */
  async reloadRecords(): Promise<void> {
    for (const s of this.sessions.values()) {
      const rec = await this.opts.store.getNode(s.key);
      if (rec) this.applyRecord(s.key, rec);
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

  /** Logins abandoned, then every session logged out. */
  async close(): Promise<void> {
    await this.abandonLogins();
    await Promise.all(this.list().map((s) => this.logout(s)));
  }
}

/**
 * Groups logged-in sessions (one per path, all naming `lun`) into one multipath device, as `mpiscsi serve`
 * does: a path that failed its login is reported and left out; a path to another LU than the first is an error.
 */
export async function attachPaths(
  manager: PathManager,
  paths: ReadonlyArray<{ managed: ManagedSession; name: string; login: PromiseSettledResult<void> }>,
  lun: number,
  log: (line: string) => void,
): Promise<MultipathDevice> {
  let device: MultipathDevice | undefined;
  for (const p of paths) {
    if (p.login.status === 'rejected') {
      log(`mpiscsi: path ${p.name}: login failed: ${(p.login.reason as Error).message}`);
      continue;
    }
    const d = await manager.addPath(p.managed, { name: p.name, lun });
    if (device && d !== device)
      throw new InvalidRequestError(`path ${p.name} leads to another LU (WWID ${d.wwid}) than the first path (${device.wwid})`);
    device = d;
  }
  if (!device) throw new Error('no path could log in');
  return device;
}
