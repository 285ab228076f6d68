/**
 * Attribute, span, event and metric names of mpiscsi's telemetry: the stable OpenTelemetry semantic
 * conventions imported as constants, unstable ones copied here (as opentelemetry-js advises for incubating
 * names), and mpiscsi's own `iscsi.*` / `mpath.*` names.
 */
// Stable (semantic-conventions 1.45): re-exported, so every name the instrumentation uses comes from here.
export {
  ATTR_ERROR_TYPE,
  ATTR_NETWORK_LOCAL_ADDRESS,
  ATTR_NETWORK_LOCAL_PORT,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_TRANSPORT,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from '@opentelemetry/semantic-conventions';

// Incubating in semantic-conventions 1.45 (copied, not imported from '/incubating').
/** 'read' | 'write' (disk.io.direction). */
export const ATTR_DISK_IO_DIRECTION = 'disk.io.direction' as const;
/** 'transmit' | 'receive' (network.io.direction). */
export const ATTR_NETWORK_IO_DIRECTION = 'network.io.direction' as const;

// iSCSI (RFC 7143) attributes.
/** The target's iSCSI name (IQN/EUI/NAA), e.g. 'iqn.2026-11.test:disk'. */
export const ATTR_ISCSI_TARGET_NAME = 'iscsi.target.name' as const;
/** mpiscsi's session key (ManagedSession.key): stable across relogins of one session. */
export const ATTR_ISCSI_SESSION_ID = 'iscsi.session.id' as const;
/** ISID (§11.12.5) as 12 hex digits. */
export const ATTR_ISCSI_SESSION_ISID = 'iscsi.session.isid' as const;
/** TSIH the target assigned at the login (§11.12.6). */
export const ATTR_ISCSI_SESSION_TSIH = 'iscsi.session.tsih' as const;
/** Connection ID (§11.12.7); mpiscsi runs one connection per session: 0. */
export const ATTR_ISCSI_CONNECTION_CID = 'iscsi.connection.cid' as const;
/** The iface (open-iscsi iface name, or the source address) the session uses. */
export const ATTR_ISCSI_IFACE = 'iscsi.iface' as const;
/** 'initial' login or 'reopen' (reinstatement after a failure, §6.3.5). */
export const ATTR_ISCSI_LOGIN_PHASE = 'iscsi.login.phase' as const;
/** 1-based attempt within the login or reopen loop. */
export const ATTR_ISCSI_LOGIN_ATTEMPT = 'iscsi.login.attempt' as const;
/** 'None' | 'CHAP' (the method used, never the credentials). */
export const ATTR_ISCSI_AUTH_METHOD = 'iscsi.auth.method' as const;
/** CHAP_A chosen, e.g. 'MD5'. */
export const ATTR_ISCSI_AUTH_CHAP_ALGORITHM = 'iscsi.auth.chap_algorithm' as const;
/** Prefix of the negotiated operational parameters (§13), e.g. 'iscsi.param.max_burst_length'. */
export const ISCSI_PARAM_PREFIX = 'iscsi.param.' as const;
/** Session state (SessionStateName): idle, loggingIn, loggedIn, recovering, loggingOut, loggedOut, failed. */
export const ATTR_ISCSI_SESSION_STATE = 'iscsi.session.state' as const;
/** Why the session left full-feature phase (ReasonCode: reset, nop-timeout, command-timeout, closed...). */
export const ATTR_ISCSI_RECOVERY_REASON = 'iscsi.recovery.reason' as const;
/** Login attempts the recovery took. */
export const ATTR_ISCSI_RECOVERY_ATTEMPTS = 'iscsi.recovery.attempts' as const;
/** DefaultTime2Wait / the async message's Time2Wait in force, seconds (§13.15). */
export const ATTR_ISCSI_TIME2WAIT = 'iscsi.time2wait' as const;
/** ConnectionStats PDU kind (iscsiadm --stats name without '_pdus'), e.g. 'scsicmd', 'datain'. */
export const ATTR_ISCSI_PDU_TYPE = 'iscsi.pdu.type' as const;

// Multipath attributes.
/** The LU's WWID (VPD 0x83), e.g. '36000...'. */
export const ATTR_MPATH_WWID = 'mpath.wwid' as const;
/** The device alias, e.g. 'mpatha'. */
export const ATTR_MPATH_DEVICE = 'mpath.device' as const;
/** A path's name, e.g. '127.0.0.1:3260/iface0'. */
export const ATTR_MPATH_PATH = 'mpath.path' as const;
/** The path I/O moved to after a failover (first completion). */
export const ATTR_MPATH_PATH_NEW = 'mpath.path.new' as const;
/** Path state: active | failed | checking. */
export const ATTR_MPATH_PATH_STATE = 'mpath.path.state' as const;
/** Why the failover: reset | closed | nop-timeout | command-timeout | probe | checker | io-error | operator | ... */
export const ATTR_MPATH_FAILOVER_REASON = 'mpath.failover.reason' as const;
/** Detail of the failure (an error message; never credentials). */
export const ATTR_MPATH_FAILOVER_DETAIL = 'mpath.failover.detail' as const;
/** Whether the failed path came back before the failover span ended. */
export const ATTR_MPATH_FAILOVER_RESTORED = 'mpath.failover.restored' as const;
/** I/Os re-issued on another path. */
export const ATTR_MPATH_REQUEUED_COUNT = 'mpath.requeued.count' as const;
/** Bytes of those I/Os. */
export const ATTR_MPATH_REQUEUED_BYTES = 'mpath.requeued.bytes' as const;
/** I/Os failed upward (EIO) during the failover. */
export const ATTR_MPATH_FAILED_COUNT = 'mpath.failed.count' as const;
/** How long the first re-issued I/O waited, from its first issue to its completion, ms. */
export const ATTR_MPATH_STALL_MS = 'mpath.stall.duration_ms' as const;
/** Times the first re-issued I/O to complete was re-issued. */
export const ATTR_MPATH_REISSUES = 'mpath.reissues' as const;
/** Probe: how long the oldest I/O had been outstanding, ms; NOP round trip, ms. */
export const ATTR_MPATH_PROBE_STALLED_MS = 'mpath.probe.stalled_ms' as const;
/** Gate of the device: open | queueing | failed. */
export const ATTR_MPATH_GATE = 'mpath.gate' as const;
/** Path group switch reason and indexes. */
export const ATTR_MPATH_GROUP_SWITCH_REASON = 'mpath.group.switch_reason' as const;

// Span names.
export const SPAN_ISCSI_LOGIN = 'iscsi.login' as const;
export const SPAN_ISCSI_SESSION_RECOVERY = 'iscsi.session.recovery' as const;
export const SPAN_MPATH_FAILOVER = 'mpath.failover' as const;
export const SPAN_MPATH_FAILOVER_DETECT = 'mpath.failover.detect' as const;
export const SPAN_MPATH_REQUEUE = 'mpath.requeue' as const;
export const SPAN_MPATH_PATH_RESTORED = 'mpath.path.restored' as const;

// Span event names.
export const EVENT_LOGIN_CONNECTED = 'iscsi.login.connected' as const;
export const EVENT_LOGIN_SECURITY = 'iscsi.login.security_negotiation' as const;
export const EVENT_LOGIN_OPERATIONAL = 'iscsi.login.operational_negotiation' as const;
export const EVENT_LOGIN_FULL_FEATURE = 'iscsi.login.full_feature' as const;
export const EVENT_LOGIN_REDIRECTED = 'iscsi.login.redirected' as const;
/** One per warning of a successful login (a key answered Reject or left unanswered, a short CHAP secret...). */
export const EVENT_LOGIN_WARNING = 'iscsi.login.warning' as const;
/** The warning's text, one printable line. */
export const ATTR_ISCSI_LOGIN_WARNING = 'iscsi.login.warning.message' as const;
export const EVENT_MPATH_PROBE = 'mpath.probe' as const;
/** Paths I/O is held for (comma-separated), how a hold ended (fast-io-fail-tmo, no-path-can-return) and its length. */
export const ATTR_MPATH_HOLD_PATHS = 'mpath.hold.paths' as const;
export const ATTR_MPATH_HOLD_END = 'mpath.hold.end' as const;
export const ATTR_MPATH_HOLD_MS = 'mpath.hold.duration_ms' as const;
export const EVENT_MPATH_FIRST_COMPLETION = 'mpath.io.first_completion' as const;
export const EVENT_MPATH_PATH_STATE = 'mpath.path.state' as const;
export const EVENT_MPATH_CHECKER = 'mpath.checker' as const;
export const EVENT_MPATH_GATE = 'mpath.gate' as const;
export const EVENT_MPATH_GROUP_SWITCHED = 'mpath.group.switched' as const;
export const EVENT_MPATH_IO_FAILED = 'mpath.io.failed' as const;
export const EVENT_MPATH_PATH_REMOVED = 'mpath.path.removed' as const;
/** No usable path: what the device does with I/O changed (holding, queueing, counting, failing, serving). */
export const EVENT_MPATH_NOPATH = 'mpath.nopath' as const;
/** A path's session stopped for good or its replacement_timeout expired (identity changed, login refused...). */
export const EVENT_MPATH_PATH_GAVE_UP = 'mpath.path.gave_up' as const;

// Metric names (units and instruments documented in metrics.ts).
export const METRIC_MPATH_PATH_OPERATIONS = 'mpath.path.operations' as const;
export const METRIC_MPATH_PATH_IO = 'mpath.path.io' as const;
export const METRIC_MPATH_PATH_OPERATION_DURATION = 'mpath.path.operation.duration' as const;
export const METRIC_MPATH_PATH_OUTSTANDING = 'mpath.path.outstanding' as const;
export const METRIC_MPATH_PATH_REISSUED = 'mpath.path.reissued' as const;
export const METRIC_MPATH_PATH_STATE = 'mpath.path.state' as const;
export const METRIC_MPATH_FAILOVERS = 'mpath.failovers' as const;
export const METRIC_MPATH_FAILOVER_STALL = 'mpath.failover.stall.duration' as const;
export const METRIC_MPATH_HELD = 'mpath.held' as const;
export const METRIC_ISCSI_SESSION_STATE = 'iscsi.session.state' as const;
export const METRIC_ISCSI_LOGIN_DURATION = 'iscsi.login.duration' as const;
export const METRIC_ISCSI_CONNECTION_DATA = 'iscsi.connection.data' as const;
export const METRIC_ISCSI_CONNECTION_PDUS = 'iscsi.connection.pdus' as const;
export const METRIC_ISCSI_CONNECTION_ERRORS = 'iscsi.connection.errors' as const;
