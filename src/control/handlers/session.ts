/**
 * The session.* endpoints: SessionInfo messages built from the session service's sessions (open-iscsi's state
 * names for `session -P 1`, negotiated parameters, timeouts, CHAP with passwords masked unless asked, LUNs),
 * counters for session.stats, and rescan / logout of one session or, said explicitly, all.
 */
import { MASK } from '../../db/record-ops.js';
import { timersFromRecord } from '../../session/node-session.js';
import { InvalidRequestError, NotFoundError } from '../../services/errors.js';
import type { ActiveSession, SessionService } from '../../services/sessions.js';
import { reasonText, type SessionStatus } from '../../../machines/session.machine.js';
import { SESSION_STAT_KEYS, statFieldName, type ControlApi, type SessionInfo, type SessionRequest, type SessionStats } from '../api.js';
import { loginResult, nodeKeyMsg } from './node.js';

/** open-iscsi's connection and session state names (session -P 1) for our statechart states. */
export function iscsiadmStates(status: SessionStatus): { conn: string; sess: string } {
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

/** sid 0 on an operation means every session only with all set. */
function refuseImplicitAllSessions(endpoint: string, req: SessionRequest): void {
  if (req.sid || req.all) return;
  throw new InvalidRequestError(`${endpoint}: name a session (sid) or set all for every session; an empty request is not "all"`);
}

export function sessionInfo(s: ActiveSession, initiatorName: string, showSecrets: boolean): SessionInfo {
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
      state:
        path.device
          .status()
          .groups.flatMap((g) => g.paths)
          .find((x) => x.name === path.path)?.state ?? '',
    })),
    initiatorName: s.rec.get('iface.initiatorname') || initiatorName,
    isid: s.managed.isid.toString(16).padStart(12, '0'),
    tsih: live?.tsih ?? 0,
    ifaceTransport: s.rec.get('iface.transport_name') || 'tcp',
    ifaceIpaddress: s.rec.get('iface.ipaddress') ?? '',
    ifaceHwaddress: s.rec.get('iface.hwaddress') ?? '',
    ifaceNetdev: s.rec.get('iface.net_ifacename') ?? '',
  };
}

export type SessionHandlers = Pick<
  ControlApi,
  'sessionList' | 'sessionShow' | 'sessionShowSecrets' | 'sessionStats' | 'sessionRescan' | 'sessionLogout'
>;

export function sessionHandlers(sessions: SessionService, initiatorName: string): SessionHandlers {
  const infos = (picked: ActiveSession[], showSecrets = false) => ({
    sessions: picked.map((s) => sessionInfo(s, initiatorName, showSecrets)),
  });
  return {
    sessionList: async (req) => infos(sessions.select(req.sid)),
    sessionShow: async (req) => infos(sessions.select(req.sid)),
    sessionShowSecrets: async (req) => infos(sessions.select(req.sid), true),
    sessionStats: async (req) => ({
      stats: sessions.select(req.sid).map((s) => {
        const counters = s.managed.session?.stats;
        const out: SessionStats = { sid: s.sid };
        for (const k of SESSION_STAT_KEYS) out[statFieldName(k)] = counters ? (counters[k] ?? 0) : 0;
        return out;
      }),
    }),
    sessionRescan: async (req) => {
      refuseImplicitAllSessions('session.rescan', req);
      const picked = sessions.select(req.sid);
      for (const s of picked) await sessions.scan(s);
      return infos(picked);
    },
    sessionLogout: async (req) => {
      refuseImplicitAllSessions('session.logout', req);
      const picked = sessions.select(req.sid);
      if (picked.length === 0) throw new NotFoundError('No active sessions.');
      return { results: (await Promise.all(picked.map((s) => sessions.logout(s)))).map(loginResult) };
    },
  };
}
