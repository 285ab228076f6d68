/**
 * What the instrumentation of one Telemetry shares: the instrumented sessions (their attributes, for metrics
 * and for the failover spans of their paths), the instrumented devices, and the open failover span of each
 * path's session (a session's recovery becomes part of its path's failover trace).
 */
import type { Attributes, Context } from '@opentelemetry/api';
import type { ManagedSession } from '../session/managed-session.js';
import type { MultipathDevice } from '../multipath/device.js';
import type { Telemetry } from './setup.js';

export interface SessionEntry {
  readonly session: ManagedSession;
  /** iscsi.target.name, iscsi.session.id, iscsi.iface, server.address, server.port. */
  readonly attributes: Attributes;
}

export interface Registry {
  readonly sessions: Map<string, SessionEntry>;
  readonly devices: Set<MultipathDevice>;
  /** Session key -> context of the open `mpath.failover` span of the path that session carries. */
  readonly failoverBySession: Map<string, Context>;
  /** Session key -> when (telemetry.clock) the session last left full-feature phase: where a failover's detection begins. */
  readonly sessionDownAt: Map<string, number>;
  /**
   * `device\0path` -> the context of a request that is about to fail that path (an operator's fail_path or
   * logout over NATS) and until when it counts: the failover it causes becomes part of the request's trace.
   */
  readonly causes: Map<string, { ctx: Context; until: number }>;
}

const registries = new WeakMap<Telemetry, Registry>();

export function registryOf(telemetry: Telemetry): Registry {
  let r = registries.get(telemetry);
  if (!r) {
    r = { sessions: new Map(), devices: new Set(), failoverBySession: new Map(), sessionDownAt: new Map(), causes: new Map() };
    registries.set(telemetry, r);
  }
  return r;
}

/** Something instrumented; stop() unsubscribes (open spans end). */
export interface Instrumentation {
  stop(): void;
}

export const NOOP_INSTRUMENTATION: Instrumentation = Object.freeze({ stop() {} });
