/**
 * Failover traces of multipath devices (DESIGN.md "Failover model": detect -> requeue -> first completion on
 * the new path -> path restored), driven by MultipathDevice.events$, plus the devices' metrics.
 *
 * Each failover of a path is ONE trace:
 *
 *   mpath.failover (root; mpath.device, mpath.wwid, mpath.path, mpath.failover.reason, iscsi.session.id...)
 *   |- mpath.failover.detect     from when the failure began (a stall probe's oldest I/O issued, the path's
 *   |                            session leaving full-feature phase) to the device acting on it; reason, detail
 *   |- mpath.requeue             first re-issue to the first completion of a re-issued I/O on the new path:
 *   |                            mpath.requeued.count / .bytes; event mpath.io.first_completion (mpath.path.new,
 *   |                            mpath.stall.duration_ms)
 *   |- iscsi.session.recovery    the failed path's session relogging in (instrumentSession), with its
 *   |  `- iscsi.login ...        login attempts
 *   events: mpath.path.state (failed -> checking -> active), mpath.checker, mpath.gate, mpath.group.switched
 *   (failover, failback), mpath.io.failed, mpath.nopath (no usable path: holding for a recovering path ->
 *   no_path_retry's queueing / counting / failing -> serving), mpath.path.gave_up (the path's session
 *   stopped for good or its replacement_timeout expired; also the span's error status).
 *
 * The root ends when the path is active again (mpath.failover.restored=true): the trace shows the whole
 * outage. A path that stays down longer than `restoreWithinMs` (default 60 s) ends the root there
 * (restored=false) rather than keep a span open for hours; its later return is then a separate root span
 * `mpath.path.restored` with a link to the failover span.
 *
 * Over 500 lines because one failover trace follows one outage across the device's events (detect,
 * requeue, recovery, restore); the span bookkeeping for each phase reads the same per-path record.
 */
import {
  SpanKind,
  SpanStatusCode,
  ROOT_CONTEXT,
  trace,
  diag,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import type { Subscription } from 'rxjs';
import type { Clock } from '../session/clock.js';
import type { MultipathDevice, MultipathEvent } from '../multipath/device.js';
import type { PathManager } from '../multipath/manager.js';
import { ioDurationObserver, metricsOf, type TelemetryMetrics } from './metrics.js';
import { NOOP_INSTRUMENTATION, registryOf, type Instrumentation, type Registry } from './registry.js';
import type { Telemetry } from './setup.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_ISCSI_SESSION_ID,
  ATTR_ISCSI_TARGET_NAME,
  ATTR_ISCSI_IFACE,
  ATTR_MPATH_DEVICE,
  ATTR_MPATH_FAILED_COUNT,
  ATTR_MPATH_FAILOVER_DETAIL,
  ATTR_MPATH_FAILOVER_REASON,
  ATTR_MPATH_FAILOVER_RESTORED,
  ATTR_MPATH_GATE,
  ATTR_MPATH_GROUP_SWITCH_REASON,
  ATTR_MPATH_PATH,
  ATTR_MPATH_PATH_NEW,
  ATTR_MPATH_PROBE_STALLED_MS,
  ATTR_MPATH_REISSUES,
  ATTR_MPATH_REQUEUED_BYTES,
  ATTR_MPATH_REQUEUED_COUNT,
  ATTR_MPATH_STALL_MS,
  ATTR_MPATH_WWID,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  EVENT_MPATH_CHECKER,
  EVENT_MPATH_FIRST_COMPLETION,
  EVENT_MPATH_GATE,
  EVENT_MPATH_GROUP_SWITCHED,
  EVENT_MPATH_IO_FAILED,
  EVENT_MPATH_PATH_REMOVED,
  EVENT_MPATH_PATH_STATE,
  EVENT_MPATH_PROBE,
  EVENT_MPATH_NOPATH,
  EVENT_MPATH_PATH_GAVE_UP,
  ATTR_MPATH_HOLD_PATHS,
  ATTR_MPATH_HOLD_END,
  ATTR_MPATH_HOLD_MS,
  SPAN_MPATH_FAILOVER,
  SPAN_MPATH_FAILOVER_DETECT,
  SPAN_MPATH_PATH_RESTORED,
  SPAN_MPATH_REQUEUE,
} from './semconv.js';

export interface FailoverInstrumentationOptions {
  /** A failover span still open this long ends (restored=false); the return gets a linked span. Default 60 s. */
  restoreWithinMs?: number;
  /**
   * Record mpath.path.operation.duration per I/O. Default true. It is the one per-I/O cost of telemetry: one
   * SDK histogram record, about 2 us with its four attributes (sdk-metrics 2.12 hashes the attribute set on
   * every record; measured on a loaded 2-core test machine), i.e. a few percent of a core at 40k IOPS.
   */
  ioLatency?: boolean;
}

/** Longest failure detail kept in an attribute. */
const MAX_DETAIL = 256;
/** A session that left full-feature phase this recently is the failure the device is reacting to. */
const SESSION_DOWN_RECENT_MS = 1_000;
/** A path back with held I/O still to complete on it: the failover ends at that completion, or after this. */
const HELD_COMPLETION_WAIT_MS = 5_000;
/** A failed stall probe this recent explains a path failure (its close comes right after). */
const PROBE_RECENT_MS = 2_000;

interface Failover {
  readonly path: string;
  readonly sessionKey: string | undefined;
  readonly root: Span;
  readonly ctx: Context;
  reason: string;
  /** Started by a re-issue before the path's state change told why. */
  provisional: boolean;
  requeue: Span | undefined;
  requeueCount: number;
  requeueBytes: number;
  totalCount: number;
  totalBytes: number;
  failed: number;
  firstCompletion: boolean;
  /** Set when the path is back and its held I/O has yet to complete (see HELD_COMPLETION_WAIT_MS). */
  endOnCompletion?: unknown;
  /** Why the path's session gave up (identity changed, replacement_timeout expired...), if it did. */
  gaveUp?: string;
  timer: unknown;
}

/** The failover reason of a path.state change to failed: reset | nop-timeout | command-timeout | checker | ... */
export function failoverReason(reason: string, detail: string | undefined): string {
  switch (reason) {
    case 'session-down':
      // The detail starts with the session's reason code (reset, closed, nop-timeout, command-timeout...).
      return detail?.split(/[:;]/)[0].trim() || 'session-down';
    case 'io-error':
      return detail && /command timeout|timed out/i.test(detail) ? 'command-timeout' : 'io-error';
    case 'checker-failed':
      return 'checker';
    case 'operator-failed':
      return 'operator';
    default:
      return reason;
  }
}

const clip = (s: string | undefined): string | undefined =>
  s === undefined ? undefined : s.length > MAX_DETAIL ? `${s.slice(0, MAX_DETAIL)}...` : s;

/**
 * Instruments one device: failover traces (with telemetry.tracing) and its metrics (with telemetry.metrics:
 * the per-I/O latency observer and the observable path counters). Does nothing when telemetry is off.
 */
export function instrumentDevice(
  device: MultipathDevice,
  telemetry: Telemetry,
  opts: FailoverInstrumentationOptions = {},
): Instrumentation {
  if (!telemetry.tracing && !telemetry.metrics) return NOOP_INSTRUMENTATION;
  const registry = registryOf(telemetry);
  registry.devices.add(device);
  const metrics = telemetry.metrics ? metricsOf(telemetry) : undefined;
  const latency = metrics !== undefined && opts.ioLatency !== false;
  if (latency) device.setIoObserver(ioDurationObserver(device, metrics.ioDuration));
  let sub: Subscription | undefined;
  let tracer: FailoverTracer | undefined;
  if (telemetry.tracing) {
    tracer = new FailoverTracer(device, telemetry, registry, metrics, opts.restoreWithinMs ?? 60_000);
    const t = tracer;
    sub = device.events$.subscribe({
      next: (e) => {
        try {
          t.on(e);
        } catch (err) {
          diag.error(`mpiscsi telemetry: ${device.name}: ${String(err)}`);
        }
      },
      complete: () => t.closeAll('device closed'),
    });
  }
  return {
    stop() {
      sub?.unsubscribe();
      tracer?.closeAll('instrumentation stopped');
      if (latency) device.setIoObserver(undefined);
      registry.devices.delete(device);
    },
  };
}

/**
 * Says that the request running in `ctx` (e.g. a control request carrying W3C trace context) is about to take
 * `path` of `device` down: the failover span that follows within `withinMs` becomes its child, so the
 * request and the failover it causes are one trace.
 */
export function expectFailover(telemetry: Telemetry, device: string, path: string, ctx: Context, withinMs = 10_000): void {
  if (!telemetry.tracing || !trace.getSpanContext(ctx)) return;
  registryOf(telemetry).causes.set(`${device}\0${path}`, { ctx, until: telemetry.clock.now() + withinMs });
}

/**
 * Instruments every device of `manager`, present and future (devices are made by addPath, which this wraps
 * on the instance until stop(): PathManager has no device-created event).
 */
export function instrumentPathManager(
  manager: PathManager,
  telemetry: Telemetry,
  opts: FailoverInstrumentationOptions = {},
): Instrumentation {
  if (!telemetry.tracing && !telemetry.metrics) return NOOP_INSTRUMENTATION;
  const done = new Map<MultipathDevice, Instrumentation>();
  const ensure = (d: MultipathDevice): void => {
    if (!done.has(d)) done.set(d, instrumentDevice(d, telemetry, opts));
  };
  for (const d of manager.devices) ensure(d);
  const unsubscribe = manager.onDevice(ensure);
  return {
    stop() {
      unsubscribe();
      for (const i of done.values()) i.stop();
      done.clear();
    },
  };
}

/** The failover spans of one device. */
class FailoverTracer {
  private readonly open = new Map<string, Failover>();
  /** Failover spans that ended before their path came back: the return links to them. */
  private readonly unrestored = new Map<string, SpanContext>();
  /** Path -> its failed stall probe: when it failed, when the stalled I/O was issued (telemetry clock), how long it had stalled when probed. */
  private readonly probeFailed = new Map<string, { at: number; issuedAt: number; stalledMs: number }>();
  /** The spans' times and end timers (restoreWithinMs, the held completion's wait): telemetry.clock. */
  private readonly clock: Clock;

  constructor(
    private readonly device: MultipathDevice,
    private readonly telemetry: Telemetry,
    private readonly registry: Registry,
    private readonly metrics: TelemetryMetrics | undefined,
    private readonly restoreWithinMs: number,
  ) {
    this.clock = telemetry.clock;
  }

  private base(path: string): Attributes {
    return { [ATTR_MPATH_DEVICE]: this.device.name, [ATTR_MPATH_WWID]: this.device.wwid, [ATTR_MPATH_PATH]: path };
  }

  /** The failed path's session attributes (target, portal, iface), when its session is instrumented. */
  private sessionAttrs(sessionKey: string | undefined): Attributes {
    const s = sessionKey ? this.registry.sessions.get(sessionKey) : undefined;
    if (!s) return sessionKey ? { [ATTR_ISCSI_SESSION_ID]: sessionKey } : {};
    const a = s.attributes;
    return {
      [ATTR_ISCSI_SESSION_ID]: sessionKey,
      [ATTR_ISCSI_TARGET_NAME]: a[ATTR_ISCSI_TARGET_NAME],
      [ATTR_ISCSI_IFACE]: a[ATTR_ISCSI_IFACE],
      [ATTR_SERVER_ADDRESS]: a[ATTR_SERVER_ADDRESS],
      [ATTR_SERVER_PORT]: a[ATTR_SERVER_PORT],
    };
  }

  on(e: MultipathEvent): void {
    const now = this.clock.now();
    switch (e.type) {
      case 'probe': {
        if (!e.ok) this.probeFailed.set(e.path, { at: now, issuedAt: now - e.probeMs - e.stalledMs, stalledMs: e.stalledMs });
        this.open.get(e.path)?.root.addEvent(EVENT_MPATH_PROBE, { ok: e.ok, [ATTR_MPATH_PROBE_STALLED_MS]: e.stalledMs }, now);
        break;
      }
      case 'path.state': {
        const f = this.open.get(e.path);
        if (e.to === 'failed' && (f || e.from === 'active')) {
          const reason = this.reasonOf(e.path, failoverReason(e.reason, e.detail), now);
          if (!f) this.start(e.path, reason, e.detail, now);
          else {
            if (f.provisional) {
              f.provisional = false;
              f.reason = reason;
              f.root.setAttributes({ [ATTR_MPATH_FAILOVER_REASON]: reason, [ATTR_ERROR_TYPE]: reason });
              if (e.detail) f.root.setAttribute(ATTR_MPATH_FAILOVER_DETAIL, clip(e.detail)!);
            }
            f.root.addEvent(EVENT_MPATH_PATH_STATE, { from: e.from, to: e.to, reason: e.reason }, now);
          }
        } else if (e.to === 'active' && e.from !== 'none') {
          if (f) {
            f.root.addEvent(EVENT_MPATH_PATH_STATE, { from: e.from, to: e.to, reason: e.reason }, now);
            // A held outage (no other path took its I/O): the I/O held for this path completes on it right
            // after this; end with that first completion, so that the trace shows it.
            if (!f.firstCompletion && f.totalCount > f.failed)
              f.endOnCompletion = this.clock.setTimeout(() => this.end(f, true, this.clock.now()), HELD_COMPLETION_WAIT_MS);
            else this.end(f, true, now);
          } else this.restoredLate(e.path, now);
        } else
          f?.root.addEvent(
            EVENT_MPATH_PATH_STATE,
            { from: e.from, to: e.to, reason: e.reason, ...(e.detail ? { detail: clip(e.detail) } : {}) },
            now,
          );
        break;
      }
      case 'io.reissued': {
        const f = this.open.get(e.from) ?? this.start(e.from, 'io-error', e.error, now, true);
        const bytes = e.bytes ?? 0;
        f.totalCount++;
        f.totalBytes += bytes;
        if (f.firstCompletion) break; // late re-issues: in the root's totals only
        if (!f.requeue)
          f.requeue = this.telemetry.tracer.startSpan(
            SPAN_MPATH_REQUEUE,
            { kind: SpanKind.INTERNAL, startTime: now, attributes: this.base(e.from) },
            f.ctx,
          );
        f.requeueCount++;
        f.requeueBytes += bytes;
        break;
      }
      case 'io.recovered': {
        const f = this.open.get(e.from);
        const reason = f?.reason ?? this.probeReason(e.from, now) ?? 'unknown';
        this.metrics?.failoverStall.record(e.stalledMs / 1000, { ...this.base(e.from), [ATTR_MPATH_FAILOVER_REASON]: reason });
        if (!f || f.firstCompletion) break;
        f.firstCompletion = true;
        const attrs = { [ATTR_MPATH_PATH_NEW]: e.path, [ATTR_MPATH_STALL_MS]: e.stalledMs, [ATTR_MPATH_REISSUES]: e.reissues };
        f.root.setAttributes(attrs);
        if (f.requeue) {
          f.requeue.addEvent(EVENT_MPATH_FIRST_COMPLETION, attrs, now);
          this.endRequeue(f, now);
        } else f.root.addEvent(EVENT_MPATH_FIRST_COMPLETION, attrs, now);
        if (f.endOnCompletion !== undefined) this.end(f, true, now);
        break;
      }
      case 'io.failed': {
        for (const f of this.open.values()) {
          f.failed++;
          if (f.failed <= 16) f.root.addEvent(EVENT_MPATH_IO_FAILED, { [ATTR_ERROR_TYPE]: 'TransportError', message: clip(e.error) }, now);
        }
        break;
      }
      case 'gate':
        for (const f of this.open.values()) f.root.addEvent(EVENT_MPATH_GATE, { from: e.from, [ATTR_MPATH_GATE]: e.to }, now);
        break;
      case 'group.switched':
        for (const f of this.open.values())
          f.root.addEvent(EVENT_MPATH_GROUP_SWITCHED, { from: e.from, to: e.to, [ATTR_MPATH_GROUP_SWITCH_REASON]: e.reason }, now);
        break;
      case 'checker': {
        const f = this.open.get(e.path);
        if (f) f.root.addEvent(EVENT_MPATH_CHECKER, { ok: e.ok, ...(e.detail ? { detail: clip(e.detail) } : {}) }, now);
        break;
      }
      case 'nopath':
        for (const f of this.open.values())
          f.root.addEvent(
            EVENT_MPATH_NOPATH,
            {
              from: e.from,
              to: e.to,
              [ATTR_MPATH_HOLD_PATHS]: e.paths.join(','),
              ...(e.why ? { [ATTR_MPATH_HOLD_END]: e.why, [ATTR_MPATH_HOLD_MS]: e.heldMs ?? 0 } : {}),
              ...(e.detail ? { detail: e.detail } : {}),
            },
            now,
          );
        break;
      case 'path.gaveUp': {
        const f = this.open.get(e.path);
        if (f) {
          f.root.addEvent(EVENT_MPATH_PATH_GAVE_UP, { reason: e.code, detail: clip(e.detail) }, now);
          // A refusal (identity changed, login refused) or an expired replacement_timeout is the outage's error.
          f.gaveUp = clip(`${e.code}: ${e.detail}`);
        }
        break;
      }
      case 'path.removed': {
        const f = this.open.get(e.path);
        if (f) {
          f.root.addEvent(EVENT_MPATH_PATH_REMOVED, { reason: e.reason, ...(e.detail ? { detail: clip(e.detail) } : {}) }, now);
          this.end(f, false, now);
        }
        this.unrestored.delete(e.path);
        this.probeFailed.delete(e.path);
        break;
      }
    }
  }

  private probeReason(path: string, now: number): 'probe' | undefined {
    const p = this.probeFailed.get(path);
    return p && now - p.at < PROBE_RECENT_MS ? 'probe' : undefined;
  }

  /** A failed stall probe just before the failure is the reason (its connection close only says 'closed'). */
  private reasonOf(path: string, reason: string, now: number): string {
    return this.probeReason(path, now) ?? reason;
  }

  private start(path: string, reason: string, detail: string | undefined, now: number, provisional = false): Failover {
    const probe = this.probeFailed.get(path);
    const fromProbe = probe !== undefined && now - probe.at < PROBE_RECENT_MS;
    if (fromProbe) {
      reason = 'probe';
      provisional = false; // the path's state change will only say 'closed'
    }
    this.probeFailed.delete(path);
    const sessionKey = this.device.pathSessionKey(path);
    // Detection began when the stalled I/O was issued, if a probe found it; else when the path's session left
    // full-feature phase, if it just did (instrumentSession hears of it a moment before the device does);
    // else now.
    const downAt = sessionKey === undefined ? undefined : this.registry.sessionDownAt.get(sessionKey);
    const began = fromProbe
      ? probe.issuedAt
      : downAt !== undefined && downAt <= now && now - downAt < SESSION_DOWN_RECENT_MS
        ? downAt
        : now;
    const tracer = this.telemetry.tracer;
    // A request that said it would fail this path (expectFailover) is the failover's parent: one trace.
    const causeKey = `${this.device.name}\0${path}`;
    const cause = this.registry.causes.get(causeKey);
    this.registry.causes.delete(causeKey);
    const parent = cause && cause.until >= now ? cause.ctx : undefined;
    const root = tracer.startSpan(
      SPAN_MPATH_FAILOVER,
      {
        root: parent === undefined,
        kind: SpanKind.INTERNAL,
        startTime: began,
        attributes: {
          ...this.base(path),
          ...this.sessionAttrs(sessionKey),
          [ATTR_MPATH_FAILOVER_REASON]: reason,
          [ATTR_ERROR_TYPE]: reason,
          ...(detail ? { [ATTR_MPATH_FAILOVER_DETAIL]: clip(detail) } : {}),
        },
      },
      parent,
    );
    const ctx = trace.setSpan(ROOT_CONTEXT, root);
    const detect = tracer.startSpan(
      SPAN_MPATH_FAILOVER_DETECT,
      {
        kind: SpanKind.INTERNAL,
        startTime: began,
        attributes: {
          ...this.base(path),
          [ATTR_MPATH_FAILOVER_REASON]: reason,
          ...(detail ? { [ATTR_MPATH_FAILOVER_DETAIL]: clip(detail) } : {}),
          ...(fromProbe ? { [ATTR_MPATH_PROBE_STALLED_MS]: probe.stalledMs } : {}),
        },
      },
      ctx,
    );
    detect.end(now);
    const timer = this.clock.setTimeout(() => {
      const f = this.open.get(path);
      if (f && f.root === root) this.end(f, false, this.clock.now());
    }, this.restoreWithinMs);
    const f: Failover = {
      path,
      sessionKey,
      root,
      ctx,
      reason,
      provisional,
      requeue: undefined,
      requeueCount: 0,
      requeueBytes: 0,
      totalCount: 0,
      totalBytes: 0,
      failed: 0,
      firstCompletion: false,
      timer,
    };
    this.open.set(path, f);
    this.unrestored.delete(path);
    if (sessionKey) this.registry.failoverBySession.set(sessionKey, ctx);
    return f;
  }

  private endRequeue(f: Failover, now: number): void {
    if (!f.requeue) return;
    f.requeue.setAttributes({ [ATTR_MPATH_REQUEUED_COUNT]: f.requeueCount, [ATTR_MPATH_REQUEUED_BYTES]: f.requeueBytes });
    f.requeue.end(now);
    f.requeue = undefined;
  }

  private end(f: Failover, restored: boolean, now: number): void {
    if (this.open.get(f.path) !== f) return;
    this.clock.clearTimeout(f.timer);
    if (f.endOnCompletion !== undefined) this.clock.clearTimeout(f.endOnCompletion);
    this.endRequeue(f, now);
    f.root.setAttributes({
      [ATTR_MPATH_FAILOVER_RESTORED]: restored,
      [ATTR_MPATH_REQUEUED_COUNT]: f.totalCount,
      [ATTR_MPATH_REQUEUED_BYTES]: f.totalBytes,
      [ATTR_MPATH_FAILED_COUNT]: f.failed,
    });
    // A failover that lost I/O (EIO to the client) is an error; one that only moved I/O is not.
    if (f.failed > 0) f.root.setStatus({ code: SpanStatusCode.ERROR, message: `${f.failed} I/Os failed` });
    else if (f.gaveUp) f.root.setStatus({ code: SpanStatusCode.ERROR, message: f.gaveUp });
    f.root.end(now);
    this.open.delete(f.path);
    if (f.sessionKey && this.registry.failoverBySession.get(f.sessionKey) === f.ctx) this.registry.failoverBySession.delete(f.sessionKey);
    if (!restored) this.unrestored.set(f.path, f.root.spanContext());
    this.metrics?.failovers.add(1, { ...this.base(f.path), [ATTR_MPATH_FAILOVER_REASON]: f.reason });
  }

  /** The path came back after its failover span ended: a short root span linked to that failover. */
  private restoredLate(path: string, now: number): void {
    const link = this.unrestored.get(path);
    if (!link) return;
    this.unrestored.delete(path);
    this.telemetry.tracer
      .startSpan(SPAN_MPATH_PATH_RESTORED, {
        root: true,
        kind: SpanKind.INTERNAL,
        startTime: now,
        attributes: this.base(path),
        links: [{ context: link }],
      })
      .end(now);
  }

  closeAll(why: string): void {
    const now = this.clock.now();
    for (const f of [...this.open.values()]) {
      f.root.addEvent(EVENT_MPATH_PATH_REMOVED, { reason: why }, now);
      this.end(f, false, now);
    }
    this.unrestored.clear();
  }
}
