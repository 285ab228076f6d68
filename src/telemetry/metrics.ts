/**
 * mpiscsi's OpenTelemetry metrics: per-path I/O of multipath devices, path and session states, failovers,
 * logins, and the iscsiadm `--stats` connection counters. Counts that the data path keeps anyway (PathStats,
 * ConnectionStats) are read by observable instruments at collection time, so they cost the data path
 * nothing; only the latency histogram records per I/O, through MultipathDevice.setIoObserver.
 *
 * | name | instrument | unit | attributes |
 * |---|---|---|---|
 * | mpath.path.operations | observable counter | {operation} | mpath.device, mpath.wwid, mpath.path: I/Os completed on the path |
 * | mpath.path.io | observable counter | By | ... + disk.io.direction (read, write): bytes of those I/Os |
 * | mpath.path.operation.duration | histogram | s | ... + disk.io.direction: issue to completion on the path |
 * | mpath.path.outstanding | observable up-down counter | {operation} | mpath.device, mpath.wwid, mpath.path: in flight now |
 * | mpath.path.reissued | observable counter | {operation} | ...: I/Os that failed on the path and went to another |
 * | mpath.path.state | observable up-down counter | {path} | ... + mpath.path.state (active, failed, checking): 1 for the current state, 0 for the others |
 * | mpath.held | observable up-down counter | {operation} | mpath.device, mpath.wwid: I/Os queued with no usable path |
 * | mpath.failovers | counter | {failover} | mpath.device, mpath.wwid, mpath.path, mpath.failover.reason: counted when the failover span ends |
 * | mpath.failover.stall.duration | histogram | s | mpath.device, mpath.wwid, mpath.path, mpath.failover.reason: first re-issued I/O, first issue to completion |
 * | iscsi.session.state | observable up-down counter | {session} | iscsi.session.id, iscsi.target.name, server.address, server.port, iscsi.iface + iscsi.session.state: 1 current, 0 others |
 * | iscsi.login.duration | histogram | s | iscsi.target.name, server.address, server.port, iscsi.login.phase, error.type (on failure) |
 * | iscsi.connection.data | observable counter | By | session attributes + network.io.direction (transmit: txdata_octets, receive: rxdata_octets) |
 * | iscsi.connection.pdus | observable counter | {pdu} | session attributes + iscsi.pdu.type (iscsiadm name without _pdus: scsicmd, datain, noptx...) + network.io.direction |
 * | iscsi.connection.errors | observable counter | {error} | session attributes + error.type (digest, timeout) |
 *
 * Up-down counters, not gauges, for outstanding/held I/O and states: they are additive (summing paths gives
 * the device), which is what the semantic conventions use UpDownCounter for (like http.server.active_requests).
 * Connection counters are summed over every connection of a session (ManagedSession.connectionStats), so
 * they stay monotonic across relogins.
 */
import type { Attributes, BatchObservableResult, Counter, Histogram, Meter } from '@opentelemetry/api';
import type { ConnectionStats } from '../session/connection.js';
import type { SessionStateName } from '../../machines/session.machine.js';
import type { PathState } from '../../machines/path-group.machine.js';
import type { IoObserver, MultipathDevice } from '../multipath/device.js';
import { registryOf } from './registry.js';
import type { Telemetry } from './setup.js';
import {
  ATTR_DISK_IO_DIRECTION,
  ATTR_ERROR_TYPE,
  ATTR_ISCSI_PDU_TYPE,
  ATTR_ISCSI_SESSION_STATE,
  ATTR_MPATH_DEVICE,
  ATTR_MPATH_PATH,
  ATTR_MPATH_PATH_STATE,
  ATTR_MPATH_WWID,
  ATTR_NETWORK_IO_DIRECTION,
  METRIC_ISCSI_CONNECTION_DATA,
  METRIC_ISCSI_CONNECTION_ERRORS,
  METRIC_ISCSI_CONNECTION_PDUS,
  METRIC_ISCSI_LOGIN_DURATION,
  METRIC_ISCSI_SESSION_STATE,
  METRIC_MPATH_FAILOVERS,
  METRIC_MPATH_FAILOVER_STALL,
  METRIC_MPATH_HELD,
  METRIC_MPATH_PATH_IO,
  METRIC_MPATH_PATH_OPERATIONS,
  METRIC_MPATH_PATH_OPERATION_DURATION,
  METRIC_MPATH_PATH_OUTSTANDING,
  METRIC_MPATH_PATH_REISSUED,
  METRIC_MPATH_PATH_STATE,
} from './semconv.js';

/** I/O latency buckets (s): loopback 100 us to a failover's seconds. */
const IO_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Failover stall and login buckets (s). */
const STALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

const PATH_STATES: readonly PathState[] = ['active', 'failed', 'checking'];
const SESSION_STATES: readonly SessionStateName[] = ['idle', 'loggingIn', 'loggedIn', 'recovering', 'loggingOut', 'loggedOut', 'failed'];

/** ConnectionStats PDU counters: iscsiadm name -> (kind, direction). */
const PDU_COUNTERS: ReadonlyArray<[keyof ConnectionStats, string, 'transmit' | 'receive']> = (
  [
    ['noptx_pdus', 'transmit'],
    ['scsicmd_pdus', 'transmit'],
    ['tmfcmd_pdus', 'transmit'],
    ['login_pdus', 'transmit'],
    ['text_pdus', 'transmit'],
    ['dataout_pdus', 'transmit'],
    ['logout_pdus', 'transmit'],
    ['snack_pdus', 'transmit'],
    ['noprx_pdus', 'receive'],
    ['scsirsp_pdus', 'receive'],
    ['tmfrsp_pdus', 'receive'],
    ['textrsp_pdus', 'receive'],
    ['datain_pdus', 'receive'],
    ['logoutrsp_pdus', 'receive'],
    ['r2t_pdus', 'receive'],
    ['async_pdus', 'receive'],
    ['rjt_pdus', 'receive'],
  ] as const
).map(([key, dir]) => [key, key.replace(/_pdus$/, ''), dir]);

/** The instruments recorded from code (the observable ones read the registry by themselves). */
export interface TelemetryMetrics {
  readonly ioDuration: Histogram;
  readonly failovers: Counter;
  readonly failoverStall: Histogram;
  readonly loginDuration: Histogram;
}

const created = new WeakMap<Telemetry, TelemetryMetrics>();

/** The instruments of `telemetry`, created (with the observable callbacks over its registry) on first use. */
export function metricsOf(telemetry: Telemetry): TelemetryMetrics {
  let m = created.get(telemetry);
  if (!m) {
    m = createMetrics(telemetry.meter, telemetry);
    created.set(telemetry, m);
  }
  return m;
}

function createMetrics(meter: Meter, telemetry: Telemetry): TelemetryMetrics {
  const registry = registryOf(telemetry);
  const ioDuration = meter.createHistogram(METRIC_MPATH_PATH_OPERATION_DURATION, {
    description: 'Duration of an I/O on one path of a multipath device, issue to completion',
    unit: 's',
    advice: { explicitBucketBoundaries: IO_BUCKETS },
  });
  const failovers = meter.createCounter(METRIC_MPATH_FAILOVERS, { description: 'Failovers away from a path', unit: '{failover}' });
  const failoverStall = meter.createHistogram(METRIC_MPATH_FAILOVER_STALL, {
    description: 'How long the first I/O re-issued after a path failure waited, first issue to completion',
    unit: 's',
    advice: { explicitBucketBoundaries: STALL_BUCKETS },
  });
  const loginDuration = meter.createHistogram(METRIC_ISCSI_LOGIN_DURATION, {
    description: 'Duration of an iSCSI login attempt (connect, login phases, LU identity check)',
    unit: 's',
    advice: { explicitBucketBoundaries: STALL_BUCKETS },
  });

  const operations = meter.createObservableCounter(METRIC_MPATH_PATH_OPERATIONS, {
    description: 'I/Os completed on a path',
    unit: '{operation}',
  });
  const io = meter.createObservableCounter(METRIC_MPATH_PATH_IO, { description: 'Bytes of the I/Os completed on a path', unit: 'By' });
  const outstanding = meter.createObservableUpDownCounter(METRIC_MPATH_PATH_OUTSTANDING, {
    description: 'I/Os in flight on a path',
    unit: '{operation}',
  });
  const reissued = meter.createObservableCounter(METRIC_MPATH_PATH_REISSUED, {
    description: 'I/Os that failed on a path and were re-issued on another',
    unit: '{operation}',
  });
  const pathState = meter.createObservableUpDownCounter(METRIC_MPATH_PATH_STATE, {
    description: 'Path state: 1 for the current state',
    unit: '{path}',
  });
  const held = meter.createObservableUpDownCounter(METRIC_MPATH_HELD, {
    description: 'I/Os held while no path works',
    unit: '{operation}',
  });
  meter.addBatchObservableCallback(
    (result) => {
      for (const device of registry.devices) {
        const st = device.status();
        const base: Attributes = { [ATTR_MPATH_DEVICE]: st.name, [ATTR_MPATH_WWID]: st.wwid };
        result.observe(held, st.held, base);
        for (const g of st.groups)
          for (const p of g.paths) {
            const attrs: Attributes = { ...base, [ATTR_MPATH_PATH]: p.name };
            result.observe(operations, p.stats.completed, attrs);
            result.observe(io, p.stats.bytesRead ?? 0, { ...attrs, [ATTR_DISK_IO_DIRECTION]: 'read' });
            result.observe(io, p.stats.bytesWritten ?? 0, { ...attrs, [ATTR_DISK_IO_DIRECTION]: 'write' });
            result.observe(outstanding, p.inFlight, attrs);
            result.observe(reissued, p.stats.reissued, attrs);
            for (const s of PATH_STATES) result.observe(pathState, p.state === s ? 1 : 0, { ...attrs, [ATTR_MPATH_PATH_STATE]: s });
          }
      }
    },
    [operations, io, outstanding, reissued, pathState, held],
  );

  const sessionState = meter.createObservableUpDownCounter(METRIC_ISCSI_SESSION_STATE, {
    description: 'iSCSI session state: 1 for the current state',
    unit: '{session}',
  });
  const data = meter.createObservableCounter(METRIC_ISCSI_CONNECTION_DATA, {
    description: 'SCSI data bytes sent (txdata_octets) and received (rxdata_octets), all connections of the session',
    unit: 'By',
  });
  const pdus = meter.createObservableCounter(METRIC_ISCSI_CONNECTION_PDUS, {
    description: 'iSCSI PDUs by kind (iscsiadm --stats)',
    unit: '{pdu}',
  });
  const errors = meter.createObservableCounter(METRIC_ISCSI_CONNECTION_ERRORS, {
    description: 'Digest errors and timeouts (iscsiadm --stats)',
    unit: '{error}',
  });
  meter.addBatchObservableCallback(
    (result) => {
      for (const { session, attributes } of registry.sessions.values()) {
        const state = session.status.state;
        for (const s of SESSION_STATES) result.observe(sessionState, s === state ? 1 : 0, { ...attributes, [ATTR_ISCSI_SESSION_STATE]: s });
        observeConnection(result, session.connectionStats, attributes);
      }
    },
    [sessionState, data, pdus, errors],
  );
  const observeConnection = (result: BatchObservableResult, st: ConnectionStats, attributes: Attributes) => {
    result.observe(data, st.txdata_octets, { ...attributes, [ATTR_NETWORK_IO_DIRECTION]: 'transmit' });
    result.observe(data, st.rxdata_octets, { ...attributes, [ATTR_NETWORK_IO_DIRECTION]: 'receive' });
    for (const [key, kind, dir] of PDU_COUNTERS)
      result.observe(pdus, st[key], { ...attributes, [ATTR_ISCSI_PDU_TYPE]: kind, [ATTR_NETWORK_IO_DIRECTION]: dir });
    result.observe(errors, st.digest_err, { ...attributes, [ATTR_ERROR_TYPE]: 'digest' });
    result.observe(errors, st.timeout_err, { ...attributes, [ATTR_ERROR_TYPE]: 'timeout' });
  };

  return { ioDuration, failovers, failoverStall, loginDuration };
}

/**
 * The per-I/O latency recorder of one device: attribute sets built once per path and direction, so a
 * completion costs one map lookup and one histogram record.
 */
export function ioDurationObserver(device: MultipathDevice, histogram: Histogram): IoObserver {
  const byPath = new Map<string, [Attributes, Attributes]>();
  return (path, latencyMs, _bytes, write) => {
    let attrs = byPath.get(path);
    if (!attrs) {
      const base = { [ATTR_MPATH_DEVICE]: device.name, [ATTR_MPATH_WWID]: device.wwid, [ATTR_MPATH_PATH]: path };
      attrs = [
        { ...base, [ATTR_DISK_IO_DIRECTION]: 'read' },
        { ...base, [ATTR_DISK_IO_DIRECTION]: 'write' },
      ];
      byPath.set(path, attrs);
    }
    histogram.record(latencyMs / 1000, attrs[write ? 1 : 0]);
  };
}
