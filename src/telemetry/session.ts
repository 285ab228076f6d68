/**
 * Instrumentation of one supervised iSCSI session (ManagedSession): a span `iscsi.login` per login attempt
 * (connect, security / operational negotiation, full-feature phase as events; the negotiated parameters as
 * attributes), a span `iscsi.session.recovery` per recovery (reason, Time2Wait, attempts) with its login
 * attempts as children, and the session's metrics (state, connection counters, login duration). A recovery
 * of a session that carries a multipath path in failover joins that failover's trace. No credentials: only
 * the auth method and CHAP algorithm are recorded, never user names or secrets.
 */
import { SpanKind, SpanStatusCode, ROOT_CONTEXT, trace, diag, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { Subscription } from 'rxjs';
import { LoginError } from '../iscsi/errors.js';
import type { NegotiatedParams } from '../iscsi/negotiation.js';
import type { ManagedSession, SessionLoginEvent } from '../session/managed-session.js';
import { oneLine } from '../session/login-warnings.js';
import { time2WaitMsOf, type SessionStatus } from '../../machines/session.machine.js';
import { metricsOf } from './metrics.js';
import { NOOP_INSTRUMENTATION, registryOf, type Instrumentation } from './registry.js';
import type { Telemetry } from './setup.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_ISCSI_AUTH_CHAP_ALGORITHM,
  ATTR_ISCSI_AUTH_METHOD,
  ATTR_ISCSI_CONNECTION_CID,
  ATTR_ISCSI_IFACE,
  ATTR_ISCSI_LOGIN_ATTEMPT,
  ATTR_ISCSI_LOGIN_PHASE,
  ATTR_ISCSI_LOGIN_WARNING,
  ATTR_ISCSI_RECOVERY_ATTEMPTS,
  ATTR_ISCSI_RECOVERY_REASON,
  ATTR_ISCSI_SESSION_ID,
  ATTR_ISCSI_SESSION_ISID,
  ATTR_ISCSI_SESSION_TSIH,
  ATTR_ISCSI_TARGET_NAME,
  ATTR_ISCSI_TIME2WAIT,
  ATTR_NETWORK_LOCAL_ADDRESS,
  ATTR_NETWORK_LOCAL_PORT,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  EVENT_LOGIN_CONNECTED,
  EVENT_LOGIN_FULL_FEATURE,
  EVENT_LOGIN_OPERATIONAL,
  EVENT_LOGIN_REDIRECTED,
  EVENT_LOGIN_SECURITY,
  EVENT_LOGIN_WARNING,
  ISCSI_PARAM_PREFIX,
  SPAN_ISCSI_LOGIN,
  SPAN_ISCSI_SESSION_RECOVERY,
} from './semconv.js';

export interface SessionInstrumentationOptions {
  /** iscsi.iface: the iface name. Default the session's source address, else 'default'. */
  iface?: string;
}

const STAGE_EVENTS = {
  security: EVENT_LOGIN_SECURITY,
  operational: EVENT_LOGIN_OPERATIONAL,
  'full-feature': EVENT_LOGIN_FULL_FEATURE,
} as const;

/** camelCase NegotiatedParams key -> iscsi.param.snake_case. */
const paramName = (k: string): string =>
  ISCSI_PARAM_PREFIX +
  k
    .replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
    .replace(/p_d_u/, 'pdu')
    .replace(/r2_t/, 'r2t');

/** The negotiated operational parameters (§13) as attributes, e.g. iscsi.param.max_burst_length. */
export function negotiatedAttributes(params: NegotiatedParams): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(params))
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') out[paramName(k)] = v;
  return out;
}

/** error.type of a failed login or recovery: LoginError kind, else the error's class name. */
export function errorType(err: unknown): string {
  if (err instanceof LoginError) return `login-${err.kind}`;
  if (err instanceof Error) return err.name || 'Error';
  return '_OTHER';
}

/** The session's identifying attributes (no credentials). */
export function sessionAttributes(session: ManagedSession, opts: SessionInstrumentationOptions = {}): Attributes {
  const t = session.target;
  return {
    [ATTR_ISCSI_TARGET_NAME]: t.targetName,
    [ATTR_ISCSI_SESSION_ID]: session.key,
    [ATTR_ISCSI_SESSION_ISID]: session.isid.toString(16).padStart(12, '0'),
    [ATTR_ISCSI_CONNECTION_CID]: 0,
    [ATTR_ISCSI_IFACE]: opts.iface ?? t.localAddress ?? 'default',
    [ATTR_SERVER_ADDRESS]: t.host,
    [ATTR_SERVER_PORT]: t.port,
  };
}

/**
 * Instruments `session` for `telemetry` until stop(). Call it before login() to see the first login's span.
 * With telemetry off it does nothing (no subscription).
 */
export function instrumentSession(
  session: ManagedSession,
  telemetry: Telemetry,
  opts: SessionInstrumentationOptions = {},
): Instrumentation {
  if (!telemetry.tracing && !telemetry.metrics) return NOOP_INSTRUMENTATION;
  const registry = registryOf(telemetry);
  const attributes = sessionAttributes(session, opts);
  registry.sessions.set(session.key, { session, attributes });
  const metrics = telemetry.metrics ? metricsOf(telemetry) : undefined;
  const tracer = telemetry.tracer;
  const clock = telemetry.clock;
  const subs: Subscription[] = [];

  let recovery: { span: Span; ctx: Context; attempts: number } | undefined;
  /** A recovery seen on events$ whose span is not made yet (see ensureRecovery). */
  let pendingRecovery: { at: number; status: SessionStatus } | undefined;
  let login: { span: Span | undefined; startedAt: number; phase: string } | undefined;

  /**
   * The recovery span is made one microtask after the session left full-feature phase (or at its first login
   * event, if sooner): the multipath device hears of the same change after us and opens its failover span,
   * which then becomes the recovery's parent.
   */
  const ensureRecovery = (): void => {
    if (!pendingRecovery || !telemetry.tracing) return;
    const { at, status } = pendingRecovery;
    pendingRecovery = undefined;
    const parent = registry.failoverBySession.get(session.key) ?? ROOT_CONTEXT;
    const time2WaitMs = time2WaitMsOf(session.actor.getSnapshot());
    const span = tracer.startSpan(
      SPAN_ISCSI_SESSION_RECOVERY,
      {
        kind: SpanKind.INTERNAL,
        startTime: at,
        attributes: {
          ...attributes,
          [ATTR_ISCSI_RECOVERY_REASON]: status.reason.code,
          [ATTR_ERROR_TYPE]: status.reason.code,
          [ATTR_ISCSI_TIME2WAIT]: time2WaitMs / 1000,
        },
      },
      parent,
    );
    recovery = { span, ctx: trace.setSpan(parent, span), attempts: 0 };
  };

  const endRecovery = (status: SessionStatus): void => {
    ensureRecovery();
    if (!recovery) return;
    const { span, attempts } = recovery;
    recovery = undefined;
    span.setAttribute(ATTR_ISCSI_RECOVERY_ATTEMPTS, attempts);
    if (status.state === 'loggedIn') span.setStatus({ code: SpanStatusCode.OK });
    else span.setStatus({ code: SpanStatusCode.ERROR, message: `session ${status.state} (${status.reason.code})` });
    span.end(clock.now());
  };

  const onStatus = (st: SessionStatus): void => {
    if (st.state === 'recovering') {
      if (!recovery && !pendingRecovery && telemetry.tracing) {
        pendingRecovery = { at: clock.now(), status: st };
        registry.sessionDownAt.set(session.key, pendingRecovery.at);
        queueMicrotask(ensureRecovery);
      }
    } else if (recovery || pendingRecovery) endRecovery(st);
  };

  const onLogin = (e: SessionLoginEvent): void => {
    const now = clock.now();
    switch (e.type) {
      case 'login.started': {
        login?.span?.end(now); // not expected: every attempt ends with succeeded or failed
        if (!telemetry.tracing) {
          login = { span: undefined, startedAt: now, phase: e.phase };
          break;
        }
        ensureRecovery();
        if (recovery) recovery.attempts++;
        const span = tracer.startSpan(
          SPAN_ISCSI_LOGIN,
          {
            kind: SpanKind.CLIENT,
            startTime: now,
            attributes: {
              ...attributes,
              [ATTR_ISCSI_LOGIN_PHASE]: e.phase,
              [ATTR_ISCSI_LOGIN_ATTEMPT]: e.attempt,
              [ATTR_NETWORK_TRANSPORT]: 'tcp',
              [ATTR_NETWORK_PEER_ADDRESS]: e.host,
              [ATTR_NETWORK_PEER_PORT]: e.port,
            },
          },
          recovery?.ctx ?? ROOT_CONTEXT,
        );
        login = { span, startedAt: now, phase: e.phase };
        break;
      }
      case 'login.progress': {
        const span = login?.span;
        if (!span) break;
        const p = e.progress;
        if (p.type === 'connected') {
          span.setAttributes({
            [ATTR_NETWORK_PEER_ADDRESS]: p.host,
            [ATTR_NETWORK_PEER_PORT]: p.port,
            ...(p.localAddress ? { [ATTR_NETWORK_LOCAL_ADDRESS]: p.localAddress } : {}),
            ...(p.localPort ? { [ATTR_NETWORK_LOCAL_PORT]: p.localPort } : {}),
          });
          span.addEvent(EVENT_LOGIN_CONNECTED, { [ATTR_NETWORK_PEER_ADDRESS]: p.host, [ATTR_NETWORK_PEER_PORT]: p.port }, now);
        } else if (p.type === 'stage') span.addEvent(STAGE_EVENTS[p.stage], undefined, now);
        else span.addEvent(EVENT_LOGIN_REDIRECTED, { [ATTR_NETWORK_PEER_ADDRESS]: p.host, [ATTR_NETWORK_PEER_PORT]: p.port }, now);
        break;
      }
      case 'login.succeeded':
      case 'login.failed': {
        if (!login) break;
        const { span, startedAt, phase } = login;
        login = undefined;
        const metricAttrs: Attributes = {
          [ATTR_ISCSI_TARGET_NAME]: attributes[ATTR_ISCSI_TARGET_NAME],
          [ATTR_SERVER_ADDRESS]: attributes[ATTR_SERVER_ADDRESS],
          [ATTR_SERVER_PORT]: attributes[ATTR_SERVER_PORT],
          [ATTR_ISCSI_LOGIN_PHASE]: phase,
        };
        if (e.type === 'login.succeeded') {
          const l = e.login;
          span?.setAttributes({
            [ATTR_ISCSI_SESSION_TSIH]: l.tsih,
            [ATTR_ISCSI_AUTH_METHOD]: l.authMethod,
            ...(l.chapAlgorithm ? { [ATTR_ISCSI_AUTH_CHAP_ALGORITHM]: l.chapAlgorithm } : {}),
            ...negotiatedAttributes(l.params),
          });
          for (const w of l.warnings) span?.addEvent(EVENT_LOGIN_WARNING, { [ATTR_ISCSI_LOGIN_WARNING]: oneLine(w) }, now);
          span?.setStatus({ code: SpanStatusCode.OK });
        } else {
          const type = errorType(e.error);
          metricAttrs[ATTR_ERROR_TYPE] = type;
          span?.setAttribute(ATTR_ERROR_TYPE, type);
          span?.setStatus({ code: SpanStatusCode.ERROR, message: e.error.message });
        }
        span?.end(now);
        metrics?.loginDuration.record((now - startedAt) / 1000, metricAttrs);
        break;
      }
    }
  };

  const guard =
    <T>(fn: (v: T) => void) =>
    (v: T) => {
      try {
        fn(v);
      } catch (err) {
        diag.error(`mpiscsi telemetry: session ${session.key}: ${String(err)}`);
      }
    };
  subs.push(session.loginEvents$.subscribe(guard(onLogin)));
  if (telemetry.tracing) subs.push(session.events$.subscribe({ next: guard(onStatus), error: () => {} }));

  return {
    stop() {
      for (const s of subs.splice(0)) s.unsubscribe();
      const now = clock.now();
      login?.span?.end(now);
      login = undefined;
      pendingRecovery = undefined;
      if (recovery) {
        recovery.span.setAttribute(ATTR_ISCSI_RECOVERY_ATTEMPTS, recovery.attempts);
        recovery.span.end(now);
        recovery = undefined;
      }
      if (registry.sessions.get(session.key)?.session === session) {
        registry.sessions.delete(session.key);
        registry.sessionDownAt.delete(session.key);
      }
    },
  };
}
