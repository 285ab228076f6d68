/**
 * Opens an iSCSI session over TCP: connect, run the login conversation (RFC 7143 §6, §11.12-13) with
 * redirects and a deadline, and hand the connection to the full-feature Session. Also SendTargets discovery
 * (§13.3, Appendix C) over a Discovery session. A peer that answers the login with something other than a
 * Login Response is named for what it is (NoIscsiTargetError), not for the header field that first failed.
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
import { systemClock, type Clock } from './clock.js';
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
  /** The clock of the login deadline and of the session's own waits (ping, TMF, logout). Default systemClock. */
  clock?: Clock;
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
  const clock = opts.clock ?? systemClock;
  const deadline = clock.now() + (opts.loginTimeoutMs ?? 15_000);
  let host = opts.host;
  let port = opts.port;
  const isid = opts.isid ?? randomIsid();
  const initiatorName = opts.initiatorName ?? defaultInitiatorName();
  for (let redirects = 0; ; redirects++) {
    const remaining = deadline - clock.now();
    if (remaining <= 0) throw new LoginError(`login to ${host}:${port} timed out`, 'timeout');
    const socket = await connectTcp({ host, port, localAddress: opts.localAddress, timeoutMs: remaining, signal: opts.signal, clock });
    opts.onProgress?.({ type: 'connected', host, port, localAddress: socket.localAddress, localPort: socket.localPort });
    const conn = new Connection(socket);
    const onAbort = () => conn.destroy(new LoginError(`login to ${host}:${port} aborted`, 'timeout'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const login = await runLogin(
        conn,
        {
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
        },
        clock,
        deadline,
        `${host.includes(':') ? `[${host}]` : host}:${port}`,
        opts.onProgress,
      );
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
        clock,
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

/**
 * The login reached a peer that is not an iSCSI target: it sent bytes before (or instead of) any Login
 * Response, e.g. an HTTP server's `HTTP/1.1 400 Bad Request` or a NATS server's `INFO {...}`. A TransportError
 * (exit code 4, a connection failure) with the bytes described; `cause` is what the framer or login said.
 */
export class NoIscsiTargetError extends TransportError {
  constructor(
    readonly portal: string,
    readonly seen: Buffer,
    options?: { cause?: unknown },
  ) {
    super(`no iSCSI target at ${portal}: ${describeBytes(seen)}`, options);
  }
}

/** Text a person recognises (`it sent "HTTP/1.1 400 Bad Request"`), or the first bytes in hex when they are not text. */
export function describeBytes(seen: Buffer): string {
  const firstLine = seen.toString('latin1').split(/\r?\n/)[0];
  // Printable ASCII (and tabs) only: a banner or status line; anything else is binary and shown as hex.
  if (firstLine.length >= 4 && /^[\x20-\x7e\t]+$/.test(firstLine)) {
    const text = firstLine.length > 60 ? `${firstLine.slice(0, 60)}...` : firstLine;
    // Quoted as sent, not JSON-escaped: a status line or banner reads best as the peer wrote it.
    return `it sent "${text}", not an iSCSI Login Response`;
  }
  const hex = [...seen.subarray(0, 16)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `it sent ${seen.length}${seen.length >= 64 ? '+' : ''} bytes starting ${hex}, not an iSCSI Login Response`;
}

/** Drives the login conversation over a fresh connection until full-feature phase or failure. */
function runLogin(
  conn: Connection,
  config: LoginConfig,
  clock: Clock,
  deadline: number,
  portal: string,
  onProgress?: (e: LoginProgressEvent) => void,
): Promise<LoginResult> {
  return new Promise<LoginResult>((resolve, reject) => {
    const conversation = new LoginConversation(config);
    let done = false;
    /** A PDU was framed: from here on the peer is an iSCSI target (if a misbehaving one) and its errors are its own. */
    let answered = false;
    const finish = (err: Error | undefined, result?: LoginResult) => {
      if (done) return;
      done = true;
      clock.clearTimeout(timer);
      // Whatever failed (a header the framer refused, a close, the deadline), a peer that sent bytes that
      // framed no PDU and do not start a Login Response is not an iSCSI target; one that sent nothing may be
      // a target that dropped us, and keeps the error it gave.
      const seen = conn.firstBytes;
      if (err && !answered && seen.length > 0 && (seen[0] & 0x3f) !== Opcode.LOGIN_RESPONSE)
        reject(new NoIscsiTargetError(portal, seen, { cause: err }));
      else if (err) reject(err);
      else resolve(result!);
    };
    const timer = clock.setTimeout(
      () => finish(new LoginError(`login to ${conn.remote} timed out`, 'timeout')),
      Math.max(0, deadline - clock.now()),
    );
    conn.setHandler({
      pdu: (pdu: Pdu) => {
        if (done) return;
        answered = true;
        if (pdu.opcode !== Opcode.LOGIN_RESPONSE) {
          // §6: only Login Responses may arrive before full-feature phase.
          finish(new ProtocolError('non-login PDU during login', pdu.opcode, 0));
          return;
        }
        try {
          const resp = pdu as LoginResponse;
          const step = conversation.handle(resp);
          // §11.13: T=1 moves the login to NSG (checked by the conversation).
          if (onProgress && resp.transit && resp.nsg !== resp.csg && STAGE_NAMES[resp.nsg])
            onProgress({ type: 'stage', stage: STAGE_NAMES[resp.nsg] });
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
