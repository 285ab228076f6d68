/**
 * Helpers for the control-plane tests: sample messages with every field set (built from the schema), a
 * ControlApi that records its calls and the active span context, an AsyncLocalStorage context manager for
 * OpenTelemetry, and NATS status waiters.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, context, trace, type Context, type ContextManager, type SpanContext } from '@opentelemetry/api';
import type { NatsConnection } from '@nats-io/transport-node';
import { ScalarType, type DescField } from '@bufbuild/protobuf';
import { ENDPOINTS, type Endpoint } from '../../src/control/endpoints.js';
import type { ControlApi, HostEvent } from '../../src/control/api.js';
import { messageType } from '../../src/control/schema.js';
import { activeRequestContext } from '../../src/control/service.js';

const INT_SAMPLES: Partial<Record<ScalarType, number>> = {
  [ScalarType.INT32]: -7,
  [ScalarType.SINT32]: -7,
  [ScalarType.SFIXED32]: -7,
  [ScalarType.UINT32]: 7,
  [ScalarType.FIXED32]: 7,
  [ScalarType.INT64]: -(2 ** 40) - 7,
  [ScalarType.SINT64]: -(2 ** 40) - 7,
  [ScalarType.SFIXED64]: -(2 ** 40) - 7,
  [ScalarType.UINT64]: 2 ** 40 + 7,
  [ScalarType.FIXED64]: 2 ** 40 + 7,
};

/** An object of message `typeName` with every field set to a non-default value (64-bit ones above 2^32). */
export function sample(typeName: string, tag = 's'): Record<string, unknown> {
  const t = messageType(typeName);
  const out: Record<string, unknown> = {};
  for (const f of t.fields) {
    const one = (): unknown => {
      if (f.message) return sample(f.message.typeName, tag);
      return scalarSample(f, f.scalar!, tag);
    };
    if (f.fieldKind === 'map') out[f.localName] = { [`${tag}-key`]: one() };
    else if (f.fieldKind === 'list') out[f.localName] = [one(), one()];
    else out[f.localName] = one();
  }
  return out;
}

function scalarSample(f: DescField, s: ScalarType, tag: string): unknown {
  if (s === ScalarType.STRING) return `${tag}-${f.localName}`;
  if (s === ScalarType.BOOL) return true;
  if (s === ScalarType.DOUBLE || s === ScalarType.FLOAT) return 1.5;
  const n = INT_SAMPLES[s];
  if (n === undefined) throw new Error(`no sample for ${ScalarType[s]} (${f.parent.typeName}.${f.name})`);
  return n;
}

export interface RecordedCall {
  method: string;
  req: unknown;
  /** The span context active inside the host method, if any. */
  span: SpanContext | undefined;
  /** The span context of activeRequestContext() inside the host method (works without a context manager). */
  requestSpan: SpanContext | undefined;
}

/** A ControlApi that answers every endpoint with sample(response) or a configured reply, and records calls. */
export class RecordingHost implements ControlApi {
  readonly calls: RecordedCall[] = [];
  /** method -> reply object, or a function that throws / returns. */
  readonly replies = new Map<string, (req: unknown) => unknown>();
  private readonly listeners = new Set<(e: HostEvent) => void>();

  constructor() {
    for (const ep of ENDPOINTS) {
      (this as unknown as Record<string, (req: unknown) => Promise<unknown>>)[ep.method] = (req) => this.answer(ep, req);
    }
  }

  private async answer(ep: Endpoint, req: unknown): Promise<unknown> {
    this.calls.push({
      method: ep.method,
      req,
      span: trace.getSpanContext(context.active()),
      requestSpan: trace.getSpanContext(activeRequestContext()),
    });
    const r = this.replies.get(ep.method);
    return r ? r(req) : sample(ep.response, ep.method);
  }

  emit(e: HostEvent): void {
    for (const l of this.listeners) l(e);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  onEvent(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // Filled in by the constructor from ENDPOINTS; declared for the type checker.
  declare discoverySendtargets: ControlApi['discoverySendtargets'];
  declare nodeList: ControlApi['nodeList'];
  declare nodeShow: ControlApi['nodeShow'];
  declare nodeShowSecrets: ControlApi['nodeShowSecrets'];
  declare nodeNew: ControlApi['nodeNew'];
  declare nodeUpdate: ControlApi['nodeUpdate'];
  declare nodeDelete: ControlApi['nodeDelete'];
  declare nodeLogin: ControlApi['nodeLogin'];
  declare nodeLogout: ControlApi['nodeLogout'];
  declare sessionList: ControlApi['sessionList'];
  declare sessionShow: ControlApi['sessionShow'];
  declare sessionShowSecrets: ControlApi['sessionShowSecrets'];
  declare sessionStats: ControlApi['sessionStats'];
  declare sessionRescan: ControlApi['sessionRescan'];
  declare sessionLogout: ControlApi['sessionLogout'];
  declare ifaceList: ControlApi['ifaceList'];
  declare ifaceNew: ControlApi['ifaceNew'];
  declare ifaceUpdate: ControlApi['ifaceUpdate'];
  declare ifaceDelete: ControlApi['ifaceDelete'];
  declare mpathList: ControlApi['mpathList'];
  declare mpathShow: ControlApi['mpathShow'];
  declare mpathFailPath: ControlApi['mpathFailPath'];
  declare mpathReinstatePath: ControlApi['mpathReinstatePath'];
  declare mpathSwitchGroup: ControlApi['mpathSwitchGroup'];
  declare mpathSetPolicy: ControlApi['mpathSetPolicy'];
  declare exportList: ControlApi['exportList'];
  declare exportStart: ControlApi['exportStart'];
  declare exportStop: ControlApi['exportStop'];
}

/** OpenTelemetry context over AsyncLocalStorage (what an SDK's context manager does), for the trace test only. */
export class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const f = target as unknown as (...a: unknown[]) => unknown;
    return ((...a: unknown[]) => this.with(ctx, () => f(...a))) as unknown as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}

/** Resolves on the connection's next status event of `type` (start waiting before causing it). */
export function nextStatus(nc: NatsConnection, type: string): Promise<void> {
  return (async () => {
    for await (const s of nc.status()) if (s.type === type) return;
    throw new Error(`connection closed before a ${type} status`);
  })();
}
