/**
 * What the control client and service agree on besides the endpoint table (DESIGN.md "Control plane (NATS)"):
 * the services-framework name, the event subjects and the Content-Type header that picks a body's format.
 * Apart from service.ts so that a client (mpiscsiadm) finds them without loading the service side: the NATS
 * services framework and OpenTelemetry (issue 17, start time). No imports: schema.ts and api.ts lean on it.
 */

/** The services-framework name every mpiscsi daemon registers ($SRV.PING.mpiscsi). */
export const SERVICE_NAME = 'mpiscsi';

/** How a body is encoded: protobuf binary (the default) or proto3 JSON. */
export type WireFormat = 'protobuf' | 'json';

/** The header value that selects proto3 JSON (header `Content-Type`). */
export const JSON_CONTENT_TYPE = 'application/json';
export const CONTENT_TYPE_HEADER = 'Content-Type';

/** The subject events of `kind` (a HostEvent kind, or '*' for every kind) are published on. */
export function eventSubject(hostId: string, kind: string): string {
  return `mpiscsi.${hostId}.events.${kind}`;
}

/** Protobuf unless the message's Content-Type header says JSON (any case of the header name, parameters ignored). */
export function requestFormat(h: { get(k: string): string; keys(): string[] } | undefined): WireFormat {
  if (!h) return 'protobuf';
  const key = h.keys().find((k) => k.toLowerCase() === CONTENT_TYPE_HEADER.toLowerCase());
  const value = key ? h.get(key) : '';
  return value.split(';')[0]!.trim().toLowerCase() === JSON_CONTENT_TYPE ? 'json' : 'protobuf';
}
