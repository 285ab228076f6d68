/**
 * W3C Trace Context (traceparent / tracestate) carried in NATS message headers: injected by the client
 * from the active context, extracted by the service, with the W3C propagator itself and not a global SDK.
 */
import { context, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** The part of NATS MsgHdrs the propagator needs (both nats-core copies in node_modules satisfy it). */
export interface HeaderCarrier {
  get(k: string): string;
  set(k: string, v: string): void;
  keys(): string[];
}

const propagator = new W3CTraceContextPropagator();

const getter: TextMapGetter<HeaderCarrier> = {
  keys: (h) => h.keys(),
  // NATS header names keep their case on the wire; another client may send Traceparent.
  get: (h, key) => {
    const exact = h.get(key);
    if (exact) return exact;
    const other = h.keys().find((k) => k.toLowerCase() === key);
    return other ? h.get(other) || undefined : undefined;
  },
};

const setter: TextMapSetter<HeaderCarrier> = {
  set: (h, key, value) => h.set(key, value),
};

/** The context of the request's traceparent/tracestate headers on top of `base`; `base` when there are none. */
export function extractTraceContext(headers: HeaderCarrier | undefined, base: Context = context.active()): Context {
  return headers ? propagator.extract(base, headers, getter) : base;
}

/** Writes traceparent (and tracestate) for the span of `ctx` into `headers`; nothing without a valid span. */
export function injectTraceContext(headers: HeaderCarrier, ctx: Context = context.active()): void {
  propagator.inject(ctx, headers, setter);
}
