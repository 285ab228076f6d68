/**
 * Opens an iSCSI session over TCP: connect, run the login conversation (RFC 7143 §6, §11.12-13) with
 * redirects and a deadline, and hand the connection to the full-feature Session. Also SendTargets discovery
 * (§13.3, Appendix C) over a Discovery session.
 */
import { Opcode, Stage } from '../iscsi/constants.js';
import { LoginError, ProtocolError, TransportError } from '../iscsi/errors.js';
import type { LoginResponse, Pdu } from '../iscsi/pdu.js';
import { LoginConversation, type AuthConfig, type LoginResult } from '../iscsi/login.js';
import { DEFAULT_WISHES, type SessionWishes } from '../iscsi/negotiation.js';
import { encodeTextData } from '../iscsi/text.js';
import { parseSendTargetsText, sendTargetsRequest, type DiscoveredTarget, type SkippedTarget } from '../iscsi/discovery.js';
import { connectTcp, Connection } from './connection.js';
import { Session } from './session.js';
import { defaultInitiatorName, randomIsid } from './identity.js';

export interface OpenSessionOptions {
  host: string;
  port: number;
  /** Absent for a Discovery session. */
  targetName?: string;
  initiatorName?: string;
  initiatorAlias?: string;
  auth?: AuthConfig;
  wishes?: Partial<SessionWishes>;
  /** Source address to bind (iface.ipaddress). */
  localAddress?: string;
  /** Whole login (connect + every round trip) must finish within this (node.conn[0].timeo.login_timeout). Default 15 s. */
  loginTimeoutMs?: number;
  isid?: number;
  /** Non-zero to reinstate an existing session (§6.3.5). */
  tsih?: number;
  cmdsMax?: number;
  /** Redirects (status class 1) followed before giving up. Default 4. */
  maxRedirects?: number;
  /** Session option: log out by ourselves on an async logout request (default true). */
  logoutOnRequest?: boolean;
  /** Gives up (closing anything opened) when aborted. */
  signal?: AbortSignal;
  /** Told of the login's progress (telemetry, logs): TCP connected, each login stage entered, redirects. */
  onProgress?: (e: LoginProgressEvent) => void;
}

/**
 * A step of one login (§6): the TCP connection is up (with its local address), the conversation entered a
 * stage (the first request's CSG, then each NSG the target transits to: security negotiation, operational
 * negotiation, full-feature phase), or the target redirected us (§11.13.5). Carries no key=value text.
 */
export type LoginProgressEvent =
  | { type: 'connected'; host: string; port: number; localAddress?: string; localPort?: number }
  | { type: 'stage'; stage: 'security' | 'operational' | 'full-feature' }
  | { type: 'redirected'; host: string; port: number };

const STAGE_NAMES: Record<number, 'security' | 'operational' | 'full-feature'> = {
  [Stage.SECURITY_NEGOTIATION]: 'security',
  [Stage.LOGIN_OPERATIONAL_NEGOTIATION]: 'operational',
  [Stage.FULL_FEATURE_PHASE]: 'full-feature',
};

export interface OpenedSession {
  session: Session;
  login: LoginResult;
  /** The portal the session ended up on (after redirects). */
  host: string;
  port: number;
}

export async function openSession(opts: OpenSessionOptions): Promise<OpenedSession> {
  const deadline = performance.now() + (opts.loginTimeoutMs ?? 15_000);
  let host = opts.host;
  let port = opts.port;
  const isid = opts.isid ?? randomIsid();
  const initiatorName = opts.initiatorName ?? defaultInitiatorName();
  for (let redirects = 0; ; redirects++) {
    const remaining = deadline - performance.now();
    if (remaining <= 0) throw new LoginError(`login to ${host}:${port} timed out`, 'timeout');
    const socket = await connectTcp({ host, port, localAddress: opts.localAddress, timeoutMs: remaining, signal: opts.signal });
    opts.onProgress?.({ type: 'connected', host, port, localAddress: socket.localAddress, localPort: socket.localPort });
    const conn = new Connection(socket);
    const onAbort = () => conn.destroy(new LoginError(`login to ${host}:${port} aborted`, 'timeout'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const login = await runLogin(conn, {
        initiatorName,
        initiatorAlias: opts.initiatorAlias,
        targetName: opts.targetName,
        sessionType: opts.targetName === undefined ? 'Discovery' : 'Normal',
        isid,
        tsih: opts.tsih ?? 0,
        cid: 0,
        itt: 0,
        cmdSN: 0,
        auth: opts.auth ?? { method: 'None' },
        wishes: { ...DEFAULT_WISHES, ...opts.wishes },
      }, deadline, opts.onProgress);
      const session = new Session(conn, {
        targetName: opts.targetName ?? '',
        initiatorName,
        isid,
        tsih: login.tsih,
        cid: 0,
        statSN: login.statSN,
        expCmdSN: login.expCmdSN,
        maxCmdSN: login.maxCmdSN,
        cmdSN: login.expCmdSN,
        params: login.params,
        cmdsMax: opts.cmdsMax,
        logoutOnRequest: opts.logoutOnRequest,
      });
      return { session, login, host, port };
    } catch (err) {
      conn.destroy();
      if (opts.signal?.aborted) throw new LoginError(`login to ${host}:${port} aborted`, 'timeout', undefined, undefined, { cause: err });
      if (err instanceof LoginError && err.kind === 'redirect' && err.targetAddress && redirects < (opts.maxRedirects ?? 4)) {
        host = err.targetAddress.host;
        port = err.targetAddress.port;
        opts.onProgress?.({ type: 'redirected', host, port });
        continue;
      }
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

type LoginConfig = ConstructorParameters<typeof LoginConversation>[0];

/** Drives the login conversation over a fresh connection until full-feature phase or failure. */
function runLogin(conn: Connection, config: LoginConfig, deadline: number, onProgress?: (e: LoginProgressEvent) => void): Promise<LoginResult> {
  return new Promise<LoginResult>((resolve, reject) => {
    const conversation = new LoginConversation(config);
    let done = false;
    const finish = (err: Error | undefined, result?: LoginResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(
      () => finish(new LoginError(`login to ${conn.remote} timed out`, 'timeout')),
      Math.max(0, deadline - performance.now()),
    );
    conn.setHandler({
      pdu: (pdu: Pdu) => {
        if (done) return;
        if (pdu.opcode !== Opcode.LOGIN_RESPONSE) {
          // §6: only Login Responses may arrive before full-feature phase.
          finish(new ProtocolError('non-login PDU during login', pdu.opcode, 0));
          return;
        }
        try {
          const resp = pdu as LoginResponse;
          const step = conversation.handle(resp);
          // §11.13: T=1 moves the login to NSG (checked by the conversation).
          if (onProgress && resp.transit && resp.nsg !== resp.csg && STAGE_NAMES[resp.nsg]) onProgress({ type: 'stage', stage: STAGE_NAMES[resp.nsg] });
          if ('done' in step) finish(undefined, step.done);
          else conn.send(step.next);
        } catch (err) {
          finish(err as Error);
        }
      },
      closed: (err) =>
        finish(
          err instanceof TransportError
            ? new LoginError(`connection closed during login: ${err.message}`, 'target', undefined, undefined, { cause: err })
            : err,
        ),
    });
    try {
      const first = conversation.start();
      if (onProgress && STAGE_NAMES[first.csg]) onProgress({ type: 'stage', stage: STAGE_NAMES[first.csg] });
      conn.send(first);
    } catch (err) {
      finish(err as Error);
    }
  });
}

export interface DiscoverOptions extends Omit<OpenSessionOptions, 'targetName'> {
  /** Each target (or address) of the answer left out, and why (see parseSendTargets). */
  onSkip?: (skipped: SkippedTarget) => void;
}

/** SendTargets=All over a Discovery session; logs out afterwards. */
export async function discoverTargets(opts: DiscoverOptions): Promise<DiscoveredTarget[]> {
  const { onSkip, ...open } = opts;
  const { session, host, port } = await openSession({ ...open, targetName: undefined });
  try {
    const text = await session.text(encodeTextData(sendTargetsRequest()));
    // Appendix C: a target listed without TargetAddress is reached through the portal we asked.
    return parseSendTargetsText(text, { onSkip, discoveryPortal: { host, port } });
  } finally {
    await session.logout(5000);
  }
}
