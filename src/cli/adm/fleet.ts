/**
 * `mpiscsiadm --host-id all`: the fleet view. Every mpiscsid found through the NATS services framework
 * (src/control/fleet.ts), each line prefixed with its host id as `HOST: ` (pdsh's form, so `grep ^h2:` and
 * `cut -d: -f1` work): without -m a summary line per host then its sessions, devices and exports; with
 * `-m session`, `-m mpath` or `-m export` that listing only, in the single-host form after the prefix.
 * `--json` gives the same with `hostId` in every object.
 */
import { connect } from '@nats-io/transport-node';
import { connectError } from '../../control/client.js';
import { ExitCode } from '../../control/exit-codes.js';
import { fleetState, type FleetHostState } from '../../control/fleet.js';
import { AdmError, out, printJson, usage, warn, type AdmOptions } from './common.js';
import { admNatsOptions, DAEMON_UNREACHABLE, sessionLines } from './daemon.js';

type Kind = 'sessions' | 'devices' | 'exports';
const KIND_OF_MODE: Record<string, Kind> = { session: 'sessions', mpath: 'devices', export: 'exports' };

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

function sessionText(s: FleetHostState['sessions'][number], level: number): string[] {
  if (level > 0) return sessionLines(s, level);
  const p = s.currentPortal;
  const portal = p.address.includes(':') ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`;
  return [`tcp: [${s.sid}] ${portal},${p.tpgt} ${s.node.target} (non-flash)`];
}

function hostLines(h: FleetHostState, kinds: readonly Kind[], level: number): string[] {
  const lines: string[] = [];
  if (kinds.length > 1) {
    lines.push(
      `mpiscsid ${h.version}, ${plural(h.sessions.length, 'session')}, ${plural(h.devices.length, 'device')}, ${plural(h.exports.length, 'export')}`,
    );
  }
  if (kinds.includes('sessions')) for (const s of h.sessions) lines.push(...sessionText(s, level));
  if (kinds.includes('devices')) for (const d of h.devices) lines.push(...d.topology);
  if (kinds.includes('exports')) {
    for (const e of h.exports) lines.push(`${kinds.length > 1 ? 'export ' : ''}${e.name} ${e.device} ${e.uris.join(' ')}`);
  }
  return lines.map((l) => `${h.hostId}: ${l}`);
}

function fleetJson(hosts: readonly FleetHostState[], kinds: readonly Kind[]) {
  const withHost = <T extends object>(hostId: string, xs: readonly T[]) => xs.map((x) => ({ hostId, ...x }));
  const json: Record<string, unknown> = {
    hosts: hosts.map((h) => ({ hostId: h.hostId, id: h.id, version: h.version, ...(h.error ? { error: h.error } : {}) })),
  };
  for (const k of kinds) json[k] = hosts.flatMap((h) => withHost(h.hostId, h[k] as readonly object[]));
  return json;
}

export async function runFleet(opts: AdmOptions): Promise<void> {
  const mode = opts.mode;
  if (mode !== undefined && !(mode in KIND_OF_MODE)) {
    throw usage(
      `--host-id all lists every host's sessions, mpath devices and exports: use it without -m or with -m session, mpath or export, not -m ${mode}`,
    );
  }
  if (opts.op.some((o) => o !== 'show') || opts.login || opts.logout || opts.rescan || opts.stats || opts.sid !== undefined) {
    throw usage('--host-id all only lists; name one host (--host-id ID) to change something');
  }
  const kinds: Kind[] = mode === undefined ? ['sessions', 'devices', 'exports'] : [KIND_OF_MODE[mode]!];
  let nc: Awaited<ReturnType<typeof connect>>;
  try {
    nc = await connect(admNatsOptions(opts));
  } catch (err) {
    const ce = connectError(err);
    throw ce.code === ExitCode.ISCSID_NOTCONN ? new AdmError(ce.code, DAEMON_UNREACHABLE) : new AdmError(ce.code, ce.message);
  }
  let hosts: FleetHostState[];
  try {
    hosts = await fleetState(nc, { timeoutMs: (opts.timeout ?? 10) * 1000 });
  } finally {
    await nc.close().catch(() => {});
  }
  if (hosts.length === 0) throw new AdmError(ExitCode.ISCSID_NOTCONN, 'no mpiscsid answered on NATS (services discovery of "mpiscsi")');
  if (opts.json) printJson(fleetJson(hosts, kinds));
  else for (const h of hosts) for (const l of hostLines(h, kinds, opts.print ?? 0)) out(l);
  const failed = hosts.filter((h) => h.error);
  for (const h of failed) warn(`${h.hostId}: did not answer: ${h.error!.message}`);
  if (failed.length > 0) throw new AdmError(failed[failed.length - 1]!.error!.code);
  if (!opts.json && kinds.length === 1 && hosts.every((h) => h[kinds[0]!].length === 0)) {
    throw new AdmError(
      ExitCode.NO_OBJS_FOUND,
      mode === 'session' ? 'No active sessions.' : mode === 'mpath' ? 'No multipath devices.' : 'No exports.',
    );
  }
}
