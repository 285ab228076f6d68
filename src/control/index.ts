/** The NATS control plane's public API (DESIGN.md "Control plane (NATS)"): host interface, endpoint table, codec, service, client and connection options. */
export * from './api.js';
export { ENDPOINTS, EVENT_TYPES, endpointSubject, type Endpoint } from './endpoints.js';
export { ExitCode, exitCodeFor } from './exit-codes.js';
export { DAEMON_NOT_CONNECTED, toControlError } from './errors.js';
export {
  ALWAYS_SET,
  ControlDecodeError,
  decodeMessage,
  encodeMessage,
  decodeJson,
  decodeProtobuf,
  encodeJson,
  encodeProtobuf,
  loadSchema,
  messageType,
  JSON_CONTENT_TYPE,
  CONTENT_TYPE_HEADER,
  type WireFormat,
} from './schema.js';
export { extractTraceContext, injectTraceContext } from './trace.js';
export { eventSubject, requestFormat, SERVICE_NAME } from './wire.js';
export {
  startControlService,
  activeRequestContext,
  type ControlServiceOptions,
  type RunningControlService,
} from './service.js';
export {
  ControlClient,
  connectError,
  DEFAULT_TIMEOUT_MS,
  type ControlClientOptions,
  type RequestOptions,
  type EndpointMethod,
  type RequestOf,
  type ResponseOf,
  type RemoteHost,
  type EventMeta,
} from './client.js';
export {
  natsConnectionOptions,
  describeNatsSettings,
  parseServers,
  NATS_ENV,
  DEFAULT_NATS_SERVER,
  DEFAULT_RECONNECT_WAIT_MS,
  type NatsSettings,
} from './nats-options.js';
