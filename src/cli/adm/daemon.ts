/**
 * The `mpiscsiadm` operations that need the daemon (login, logout, session mode), sent to mpiscsid over NATS
 * (src/control). Output lines and exit codes are iscsiadm's (reference/open-iscsi.md); a daemon that cannot
 * be reached is ISCSID_NOTCONN (20), as iscsiadm without iscsid.
 */
import type { NodeKey } from '../../db/node-record.js';
import { MASK } from '../../db/record-ops.js';
import { ExitCode, exitCodeText } from '../../control/exit-codes.js';
import { ControlClient } from '../../control/client.js';
import { DAEMON_NOT_CONNECTED } from '../../control/errors.js';
import {
  ControlError,
  SESSION_STAT_KEYS,
  statFieldName,
  type LoginResultMsg,
  type NodeKeyMsg,
  type SessionInfo,
} from '../../control/api.js';
import { natsConnectionOptions, parseServers, redactUrl } from '../../control/nats-options.js';
import { defaultHostId } from '../../control/endpoints.js';
import { AdmError, hostPort, NATS_CONNECT_TIMEOUT_MS, out, printJson, usage, warn, type AdmOptions } from './common.js';
import { checkOps, STARTUP_SELECTORS } from './modes.js';

export const DAEMON_UNREACHABLE = DAEMON_NOT_CONNECTED;

export function daemonError(...more: string[]): AdmError {
  return new AdmError(ExitCode.ISCSID_NOTCONN, DAEMON_UNREACHABLE, ...more);
}

/** A client for the daemon named by --nats / --host-id (or MPISCSI_NATS_URL / MPISCSI_HOST_ID). */
export function admNatsOptions(opts: AdmOptions) {
  return natsConnectionOptions({
    servers: opts.nats,
    user: opts.natsUser,
    passwordFile: opts.natsPasswordFile,
    tokenFile: opts.natsTokenFile,
    credsFile: opts.natsCreds,
    tls: opts.natsTlsCa ? { caFile: opts.natsTlsCa } : undefined,
    name: 'mpiscsiadm',
    maxReconnectAttempts: 0,
    connectTimeoutMs: NATS_CONNECT_TIMEOUT_MS,
  });
}

/**
 * Exit 20 (ISCSID_NOTCONN) as iscsiadm without iscsid, saying which part is missing: no NATS server at the URLs
 * tried, or NATS up and no mpiscsid answering for the host id (stopped, or started with another --host-id).
 */
function unreachable(opts: AdmOptions, stage: 'nats' | 'daemon', err: unknown): AdmError {
  const urls = parseServers(opts.nats).map(redactUrl).join(', ');
  if (stage === 'nats') {
    const why = (err as ControlError).lines?.[0]?.replace(/^NATS: /, '') ?? '';
    return new AdmError(ExitCode.ISCSID_NOTCONN, `can not connect to iSCSI daemon: no NATS server at ${urls}${why ? ` (${why})` : ''}`);
  }
  const host = opts.hostId ?? defaultHostId();
  return new AdmError(ExitCode.ISCSID_NOTCONN, `can not connect to iSCSI daemon: no mpiscsid answers for host id ${host} on NATS ${urls}`);
}

async function daemon(opts: AdmOptions): Promise<ControlClient> {
  try {
    return await ControlClient.connect(admNatsOptions(opts), {
      hostId: opts.hostId ?? defaultHostId(),
      timeoutMs: (opts.timeout ?? 120) * 1000,
    });
  } catch (err) {
    if (err instanceof ControlError && err.code === ExitCode.ISCSID_NOTCONN) throw unreachable(opts, 'nats', err);
    throw asAdm(opts, err);
  }
}

function asAdm(opts: AdmOptions, err: unknown): AdmError {
  if (err instanceof AdmError) return err;
  // Connected to NATS, but no reply: no daemon on this host id (no responders, or the request timed out).
  if (err instanceof ControlError && err.code === ExitCode.ISCSID_NOTCONN) return unreachable(opts, 'daemon', err);
  if (err instanceof ControlError) return new AdmError(err.code, err.message, ...err.lines);
  return new AdmError(ExitCode.GENERIC, (err as Error).message);
}

export async function withDaemon<T>(opts: AdmOptions, fn: (c: ControlClient) => Promise<T>): Promise<T> {
  const c = await daemon(opts);
  try {
    return await fn(c);
  } catch (err) {
    throw asAdm(opts, err);
  } finally {
    await c.close().catch(() => {});
  }
}

const portalOf = (k: NodeKeyMsg): string => `${k.portal.address},${k.portal.port}`;
const where = (k: NodeKeyMsg): string => `[iface: ${k.iface}, target: ${k.target}, portal: ${portalOf(k)}]`;
const keyMsg = (k: NodeKey): NodeKeyMsg => ({
  target: k.target,
  portal: { address: k.address, port: k.port, tpgt: k.tpgt },
  iface: k.iface,
});

/**
 * Reports login results as iscsiadm does: `Login to [...] successful.` per success, two lines per failure,
 * a logged-in node as `IFACE: 1 session requested, but 1 already present.`; then, if any did not log in,
 * `Could not log into all portals` and the first such code as the exit status (usr/iscsiadm.c login_portals,
 * session_mgmt.c: SESS_EXISTS, 15, counts as a failure).
 */
function reportLogins(results: readonly LoginResultMsg[], json: boolean): void {
  if (json) printJson(results.map((r) => ({ ...r.node, sid: r.sid, code: r.code, error: r.code ? r.message : undefined })));
  let failed: number | undefined;
  for (const r of results) {
    if (r.code === 0) {
      if (!json) out(`Login to ${where(r.node)} successful.`);
      continue;
    }
    failed ??= r.code;
    if (r.code === ExitCode.SESS_EXISTS) {
      warn(`${r.node.iface}: 1 session requested, but 1 already present.`);
    } else {
      warn(`Could not login to ${where(r.node)}.`);
      warn(`initiator reported error (${r.code} - ${exitCodeText(r.code)})`);
      if (r.message) warn(r.message);
    }
  }
  if (failed !== undefined) throw new AdmError(failed, 'Could not log into all portals');
}

/** `-l` on matched node records. */
export async function loginNodes(opts: AdmOptions, keys: readonly NodeKey[]): Promise<void> {
  const attempt = withDaemon(opts, async (c) => {
    // Nodes with a session already are reported before any login starts, as iscsiadm does.
    const sessions = (await c.call('sessionList', {})).sessions;
    const all = keys.map(keyMsg);
    const present = all.filter((k) => sessions.some((s) => sameNode(s.node, k)));
    const msgs = all.filter((k) => !present.includes(k));
    if (!opts.json) for (const k of msgs) out(`Logging in to ${where(k)}`);
    const done = present.map((k): LoginResultMsg => ({ node: k, sid: 0, code: ExitCode.SESS_EXISTS, message: 'session exists' }));
    const results = await Promise.all(
      msgs.map(async (k): Promise<LoginResultMsg> => {
        try {
          const r = await c.call('nodeLogin', {
            filter: { target: k.target, address: k.portal.address, port: k.portal.port, iface: k.iface },
          });
          return r.results[0] ?? { node: k, sid: 0, code: ExitCode.NO_OBJS_FOUND, message: 'No records found' };
        } catch (err) {
          if (err instanceof ControlError && err.code === ExitCode.ISCSID_NOTCONN) throw err;
          return { node: k, sid: 0, code: err instanceof ControlError ? err.code : ExitCode.GENERIC, message: (err as Error).message };
        }
      }),
    );
    reportLogins([...done, ...results], !!opts.json);
  });
  await attempt.catch((err: unknown) => {
    if (!(err instanceof AdmError) || err.status !== ExitCode.ISCSID_NOTCONN || err.lines.length !== 1) throw err;
    // As iscsiadm without iscsid: each node reported, then the summary.
    warn(err.lines[0]!);
    for (const k of keys) {
      warn(`Could not login to ${where(keyMsg(k))}.`);
      warn(`initiator reported error (${ExitCode.ISCSID_NOTCONN} - ${exitCodeText(ExitCode.ISCSID_NOTCONN)})`);
    }
    throw new AdmError(ExitCode.ISCSID_NOTCONN, 'Could not log into all portals');
  });
}

/** `-L all|manual|automatic|onboot`. */
export async function loginAll(opts: AdmOptions, which: string): Promise<void> {
  if (!(STARTUP_SELECTORS as readonly string[]).includes(which)) throw usage(`Invalid loginall option ${which}.`);
  await withDaemon(opts, async (c) => {
    const r = await c.call('nodeLogin', { startup: which });
    // A node with a session already is not logged in again, so it has no "Logging in" line.
    if (!opts.json) for (const x of r.results) if (x.code !== ExitCode.SESS_EXISTS) out(`Logging in to ${where(x.node)}`);
    reportLogins(r.results, !!opts.json);
  });
}

function reportLogouts(results: readonly LoginResultMsg[], json: boolean): void {
  if (json) printJson(results.map((r) => ({ ...r.node, sid: r.sid, code: r.code, error: r.code ? r.message : undefined })));
  let failed: number | undefined;
  for (const r of results) {
    const tail = `[sid: ${r.sid}, target: ${r.node.target}, portal: ${portalOf(r.node)}]`;
    if (r.code === 0) {
      if (!json) out(`Logout of ${tail} successful.`);
    } else {
      failed = r.code;
      warn(`Could not logout of ${tail}.`);
      warn(`initiator reported error (${r.code} - ${exitCodeText(r.code)})`);
    }
  }
  if (failed !== undefined) throw new AdmError(failed, 'Could not logout of all requested sessions');
}

/** Sessions matching the node keys, listed before logging out (iscsiadm prints `Logging out of session` first). */
async function logoutWhere(opts: AdmOptions, c: ControlClient, pick: (s: SessionInfo) => boolean, startup?: string): Promise<void> {
  const sessions = (await c.call('sessionList', {})).sessions.filter(pick);
  if (sessions.length === 0) throw new AdmError(ExitCode.NO_OBJS_FOUND, 'No matching sessions found');
  if (!opts.json)
    for (const s of sessions) out(`Logging out of session [sid: ${s.sid}, target: ${s.node.target}, portal: ${portalOf(s.node)}]`);
  const results: LoginResultMsg[] = [];
  for (const s of sessions) {
    if (startup) results.push(...(await c.call('nodeLogout', { filter: filterOf(s.node), startup })).results);
    else results.push(...(await c.call('sessionLogout', { sid: s.sid })).results);
  }
  reportLogouts(results, !!opts.json);
}

const filterOf = (k: NodeKeyMsg) => ({ target: k.target, address: k.portal.address, port: k.portal.port, iface: k.iface });
const sameNode = (a: NodeKeyMsg, b: NodeKeyMsg) =>
  a.target === b.target && a.portal.address === b.portal.address && a.portal.port === b.portal.port && a.iface === b.iface;

/** `-u` on matched node records. */
export async function logoutNodes(opts: AdmOptions, keys: readonly NodeKey[]): Promise<void> {
  const msgs = keys.map(keyMsg);
  await withDaemon(opts, (c) => logoutWhere(opts, c, (s) => msgs.some((k) => sameNode(k, s.node))));
}

/** `-U all|manual|automatic`. */
export async function logoutAll(opts: AdmOptions, which: string): Promise<void> {
  if (!(STARTUP_SELECTORS as readonly string[]).includes(which)) throw usage(`Invalid logoutall option ${which}.`);
  await withDaemon(opts, async (c) => {
    const sessions = (await c.call('sessionList', {})).sessions;
    if (sessions.length === 0) throw new AdmError(ExitCode.NO_OBJS_FOUND, 'No matching sessions found');
    await logoutWhere(opts, c, () => true, which);
  });
}

// ---- session mode ----

const portalLine = (s: SessionInfo): string => `${hostPort(s.currentPortal.address, s.currentPortal.port)},${s.currentPortal.tpgt}`;
const empty = (v: string | undefined): string => (v ? v : '<empty>');
const yesNo = (b: boolean): string => (b ? 'Yes' : 'No');

/** Linux's SCSI device state for a path state (what iscsiadm -P 3 reads from sysfs). */
const scsiState = (pathState: string): string => (pathState === 'active' ? 'running' : pathState === '' ? 'Unknown' : 'blocked');

/**
 * `-P 1..3` lines of one session, as usr/session_info.c session_info_print_tree prints them: `Target:` unless
 * `prev` (the session listed before) has the same target, the portal lines unless it has the same portal too
 * (an empty line then), the iface (usr/iface.c iface_print), the iSCSI states; level 2 the timeouts, CHAP
 * (passwords `********` unless `showSecrets`, -S) and negotiated parameters; level 3 the SCSI devices, each LU
 * as iscsiadm's `Attached scsi disk NAME  State: running` naming the multipath device we serve, then our line.
 */
export function sessionLines(s: SessionInfo, level: number, opts: { prev?: SessionInfo; showSecrets?: boolean } = {}): string[] {
  const l: string[] = [];
  const prev = opts.prev?.node.target === s.node.target ? opts.prev : undefined;
  if (!prev) l.push(`Target: ${s.node.target} (non-flash)`);
  if (prev && prev.currentPortal.address === s.currentPortal.address && prev.currentPortal.port === s.currentPortal.port) l.push('');
  else {
    l.push(`\tCurrent Portal: ${portalLine(s)}`);
    l.push(`\tPersistent Portal: ${hostPort(s.node.portal.address, s.node.portal.port)},${s.node.portal.tpgt}`);
  }
  l.push('\t\t**********', '\t\tInterface:', '\t\t**********');
  l.push(`\t\tIface Name: ${empty(s.node.iface)}`);
  l.push(`\t\tIface Transport: ${empty(s.ifaceTransport || 'tcp')}`);
  l.push(`\t\tIface Initiatorname: ${empty(s.initiatorName)}`);
  const ip = s.ifaceIpaddress;
  l.push(`\t\tIface IPaddress: ${ip === '' ? '<empty>' : ip.includes('.') ? ip : `[${ip}]`}`);
  l.push(`\t\tIface HWaddress: ${empty(s.ifaceHwaddress)}`);
  l.push(`\t\tIface Netdev: ${empty(s.ifaceNetdev)}`);
  l.push(`\t\tSID: ${s.sid}`);
  l.push(`\t\tiSCSI Connection State: ${s.connectionState}`);
  l.push(`\t\tiSCSI Session State: ${s.sessionState}`);
  l.push(`\t\tInternal iscsid Session State: ${s.internalState === 'loggedIn' ? 'NO CHANGE' : s.internalState.toUpperCase()}`);
  if (level >= 2) {
    l.push('\t\t*********', '\t\tTimeouts:', '\t\t*********');
    l.push(`\t\tRecovery Timeout: ${s.timeouts.recoveryTimeout}`);
    l.push(`\t\tTarget Reset Timeout: ${s.timeouts.targetResetTimeout}`);
    l.push(`\t\tLUN Reset Timeout: ${s.timeouts.lunResetTimeout}`);
    l.push(`\t\tAbort Timeout: ${s.timeouts.abortTimeout}`);
    l.push('\t\t*****', '\t\tCHAP:', '\t\t*****');
    l.push(`\t\tusername: ${empty(s.chap.username)}`);
    // Without -S both passwords are ******** whether set or not; with -S iscsiadm 2.1.8 labels the
    // incoming one "password:" too (session_info.c), kept so output compared line for line matches.
    l.push(`\t\tpassword: ${opts.showSecrets ? empty(s.chap.password) : MASK}`);
    l.push(`\t\tusername_in: ${empty(s.chap.usernameIn)}`);
    l.push(opts.showSecrets ? `\t\tpassword: ${empty(s.chap.passwordIn)}` : `\t\tpassword_in: ${MASK}`);
    l.push('\t\t************************', '\t\tNegotiated iSCSI params:', '\t\t************************');
    const p = s.params;
    if (p) {
      l.push(`\t\tHeaderDigest: ${p.headerDigest}`);
      l.push(`\t\tDataDigest: ${p.dataDigest}`);
      l.push(`\t\tMaxRecvDataSegmentLength: ${p.maxRecvDataSegmentLength}`);
      l.push(`\t\tMaxXmitDataSegmentLength: ${p.maxXmitDataSegmentLength}`);
      l.push(`\t\tFirstBurstLength: ${p.firstBurstLength}`);
      l.push(`\t\tMaxBurstLength: ${p.maxBurstLength}`);
      l.push(`\t\tImmediateData: ${yesNo(p.immediateData)}`);
      l.push(`\t\tInitialR2T: ${yesNo(p.initialR2t)}`);
      l.push(`\t\tMaxOutstandingR2T: ${p.maxOutstandingR2t}`);
    }
  }
  if (level >= 3) {
    l.push('\t\t************************', '\t\tAttached SCSI devices:', '\t\t************************');
    l.push(`\t\tHost Number: ${s.sid}\tState: ${s.sessionState === 'LOGGED_IN' ? 'running' : 'blocked'}`);
    for (const lun of s.luns) {
      l.push(`\t\tscsi${s.sid} Channel 00 Id 0 Lun: ${lun.lun}`);
      l.push(`\t\t\tAttached scsi disk ${lun.device}\t\tState: ${scsiState(lun.state)}`);
      l.push(`\t\t\tAttached multipath device ${lun.device}\t\tState: ${lun.state || 'unknown'}`);
    }
  }
  return l;
}

export async function runSession(opts: AdmOptions): Promise<void> {
  const sid = opts.sid === undefined ? undefined : Number(opts.sid);
  if (opts.sid !== undefined && (!/^\d+$/.test(opts.sid) || sid === 0)) throw usage(`invalid sid "${opts.sid}"`);
  const op = opts.op[0];
  if (op !== undefined) checkOps('session', [op]);
  await withDaemon(opts, async (c) => {
    if (opts.logout) {
      if (sid === undefined) return logoutWhere(opts, c, () => true);
      return logoutWhere(opts, c, (s) => s.sid === sid);
    }
    if (opts.rescan) {
      const r = await c.call('sessionRescan', { sid: sid ?? 0, all: sid === undefined });
      if (r.sessions.length === 0) throw new AdmError(ExitCode.NO_OBJS_FOUND, 'No active sessions.');
      if (opts.json) printJson(r.sessions);
      else for (const s of r.sessions) out(`Rescanning session [sid: ${s.sid}, target: ${s.node.target}, portal: ${portalOf(s.node)}]`);
      return;
    }
    if (opts.stats) {
      if (sid === undefined) throw usage('--stats needs a session id (-r SID)');
      const [st] = (await c.call('sessionStats', { sid })).stats;
      const [info] = (await c.call('sessionList', { sid })).sessions;
      if (opts.json) return printJson(st);
      out(`Stats for session [sid: ${sid}, target: ${info.node.target}, portal: ${portalOf(info.node)}]`);
      out('iSCSI SNMP:');
      for (const k of SESSION_STAT_KEYS) out(`\t${k}: ${st[statFieldName(k)] ?? 0}`);
      return;
    }
    const r = await c.call(opts.show ? 'sessionShowSecrets' : 'sessionList', { sid: sid ?? 0 });
    if (r.sessions.length === 0) throw new AdmError(ExitCode.NO_OBJS_FOUND, 'No active sessions.');
    if (opts.json) return printJson(r.sessions);
    const level = opts.print ?? 0;
    let prev: SessionInfo | undefined;
    for (const s of r.sessions) {
      if (level === 0) out(`tcp: [${s.sid}] ${portalLine(s)} ${s.node.target} (non-flash)`);
      else for (const line of sessionLines(s, level, { prev, showSecrets: !!opts.show })) out(line);
      prev = s;
    }
  });
}
