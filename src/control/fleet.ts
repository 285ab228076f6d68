/**
 * The fleet: every mpiscsid on one NATS system, found through the NATS services framework's discovery
 * ($SRV.INFO.mpiscsi, ADR-32: each daemon's service answers with its id, version and metadata host_id), then
 * asked for its sessions, multipath devices and exports over its own subjects (DESIGN.md "Control plane").
 * A host that is found but does not answer is reported with its error, not dropped, so a listing never hides
 * a host quietly.
 */
import { Svcm, type ServiceInfo } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { ControlClient, type ResponseOf } from './client.js';
import { HOST_ID_PATTERN } from './endpoints.js';
import { toControlError } from './errors.js';
import { SERVICE_NAME } from './wire.js';

export { ALL_HOSTS } from './endpoints.js';

export interface FleetHost {
  hostId: string;
  /** The services-framework instance id and version the daemon announced. */
  id: string;
  version: string;
}

export interface FleetHostState extends FleetHost {
  sessions: ResponseOf<'sessionList'>['sessions'];
  devices: ResponseOf<'mpathList'>['devices'];
  exports: ResponseOf<'exportList'>['exports'];
  /** Set when the host was found but did not answer one of the listings (then the lists hold what it did answer). */
  error?: { code: number; message: string };
}

export interface FleetOptions {
  /** How long discovery waits for the first answer (ms); it stops 300 ms after the last. Default 2000. */
  discoveryWaitMs?: number;
  /** Reply timeout per listing request (ms). Default 5000. */
  timeoutMs?: number;
}

/** The mpiscsi daemons answering $SRV.INFO.mpiscsi, one per host id (the last to answer if two instances share one), sorted. */
export async function discoverHosts(nc: NatsConnection, opts: FleetOptions = {}): Promise<FleetHost[]> {
  // @nats-io/services carries its own @nats-io/nats-core copy; the connection is the same object at runtime.
  const svcm = new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]);
  const answers = await svcm.client({ strategy: 'stall', maxWait: opts.discoveryWaitMs ?? 2000 }).info(SERVICE_NAME);
  const byHost = new Map<string, FleetHost>();
  for await (const info of answers as AsyncIterable<ServiceInfo>) {
    const hostId = info.metadata?.host_id;
    if (!hostId || !HOST_ID_PATTERN.test(hostId)) continue; // not one of ours, or an id no subject can carry
    byHost.set(hostId, { hostId, id: info.id, version: info.version });
  }
  return [...byHost.values()].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
}

/** Every host's sessions, devices and exports, asked of all hosts at once. */
export async function fleetState(nc: NatsConnection, opts: FleetOptions = {}): Promise<FleetHostState[]> {
  const hosts = await discoverHosts(nc, opts);
  return Promise.all(
    hosts.map(async (h): Promise<FleetHostState> => {
      const c = new ControlClient(nc, { hostId: h.hostId, timeoutMs: opts.timeoutMs });
      const state: FleetHostState = { ...h, sessions: [], devices: [], exports: [] };
      try {
        const [s, d, e] = await Promise.all([c.call('sessionList', {}), c.call('mpathList', { device: '' }), c.call('exportList', {})]);
        state.sessions = s.sessions;
        state.devices = d.devices;
        state.exports = e.exports;
      } catch (err) {
        const ce = toControlError(err);
        state.error = { code: ce.code, message: ce.message };
      }
      return state;
    }),
  );
}
