/**
 * `mpiscsiadm -m node`: node records in the database, offline like iscsiadm, through the node service the
 * daemon's node.* endpoints use (src/services/nodes.ts); login and logout go to the daemon.
 */
import type { RecordStore } from '../../db/store.js';
import { NODE_SCHEMA, type NodeKey } from '../../db/node-record.js';
import type { NodeMatch } from '../../db/record-ops.js';
import { ExitCode } from '../../control/exit-code-table.js';
import type { ControlClient } from '../../control/client.js';
import { defaultHostId } from '../../control/endpoints.js';
import { anyServerListening, parseServers } from '../../control/nats-servers.js';
import { NodeService, type RecordChange } from '../../services/nodes.js';
import { checkOps } from './modes.js';
import {
  AdmError,
  admError,
  hostPort,
  NATS_CONNECT_TIMEOUT_MS,
  nodeLine,
  noRecords,
  out,
  parsePortal,
  printJson,
  printRecord,
  recordObject,
  usage,
  warn,
  type AdmOptions,
  type PortalSpec,
} from './common.js';

/** The daemon's side (NATS, the control client): imported by the operations that talk to it, not by offline ones. */
const daemonSide = () => import('./daemon.js');

export interface NodeFilter {
  target?: string;
  portal?: PortalSpec;
  iface?: string;
}

export function nodeFilter(opts: AdmOptions): NodeFilter {
  return { target: opts.targetname, portal: opts.portal !== undefined ? parsePortal(opts.portal) : undefined, iface: opts.interface };
}

/** -T/-p/-I as the records they select (an absent one matches anything). */
export function nodeMatchOf(f: NodeFilter): NodeMatch {
  return { target: f.target, iface: f.iface, address: f.portal?.address, port: f.portal?.port, tpgt: f.portal?.tpgt };
}

export const nodeJson = (k: NodeKey) => ({ target: k.target, address: k.address, port: k.port, tpgt: k.tpgt, iface: k.iface });

/**
 * `-m node -P 1` (iscsiadm.c print_nodes_tree): `Target:` when the target changes, then a tab `Portal:` and two
 * tabs `Iface Name:` for every record, the Portal line repeated for each iface of a portal.
 */
export function treeLines(keys: readonly NodeKey[]): string[] {
  const lines: string[] = [];
  let last: NodeKey | undefined;
  for (const k of keys) {
    if (last?.target !== k.target) lines.push(`Target: ${k.target}`);
    lines.push(`\tPortal: ${hostPort(k.address, k.port)},${k.tpgt}`, `\t\tIface Name: ${k.iface}`);
    last = k;
  }
  return lines;
}

/**
 * The records of a `-m discovery -P 1` section (usr/idbm.c idbm_print_node_tree): `Target:` when the target
 * changes, `Portal:` when the address or port changes from the record before, `Iface Name:` for each.
 */
export function discoveryTreeLines(keys: readonly NodeKey[]): string[] {
  const lines: string[] = [];
  let last: NodeKey | undefined;
  for (const k of keys) {
    if (last?.target !== k.target) {
      lines.push(`Target: ${k.target}`);
      last = undefined;
    }
    if (last === undefined || last.address !== k.address || last.port !== k.port)
      lines.push(`\tPortal: ${hostPort(k.address, k.port)},${k.tpgt}`);
    lines.push(`\t\tIface Name: ${k.iface}`);
    last = k;
  }
  return lines;
}

export function treeJson(keys: readonly NodeKey[]) {
  const targets = [...new Set(keys.map((k) => k.target))];
  return targets.map((t) => {
    const mine = keys.filter((k) => k.target === t);
    const portals = [...new Set(mine.map((k) => `${hostPort(k.address, k.port)},${k.tpgt}`))];
    return {
      target: t,
      portals: portals.map((p) => ({
        portal: p,
        ifaces: mine.filter((k) => `${hostPort(k.address, k.port)},${k.tpgt}` === p).map((k) => k.iface),
      })),
    };
  });
}

const sameRecord = (a: NodeKey, b: NodeKey): boolean =>
  a.target === b.target && a.address === b.address && a.port === b.port && a.iface === b.iface;

/**
 * The running mpiscsid, as far as the offline operations need it, over one connection made on first use.
 *
 * The offline in-use check: mpiscsid is the only initiator that makes our sessions, so a record is in use when
 * the daemon named by --nats / --host-id answers session.list with a session for it. When no daemon answers, no
 * session of ours can be using the record and a delete goes ahead, as iscsiadm's does when iscsid has none.
 * Asked once per command, and only by the operations that need it (delete, update).
 */
class DaemonPeer {
  private client: Promise<ControlClient | undefined> | undefined;
  private sessions: Promise<NodeKey[]> | undefined;

  constructor(private readonly opts: AdmOptions) {}

  private connect(): Promise<ControlClient | undefined> {
    this.client ??= this.open().catch(() => undefined);
    return this.client;
  }

  private async open(): Promise<ControlClient | undefined> {
    // No NATS server accepts a connection: no daemon can answer, so no session of ours uses the record, and the
    // NATS client (and the control client's protobuf and OpenTelemetry) need not be loaded to be told so. A server
    // that accepts is asked as before, and its answer (or none) decides.
    if (!(await anyServerListening(parseServers(this.opts.nats), NATS_CONNECT_TIMEOUT_MS))) return undefined;
    const [{ ControlClient }, { admNatsOptions }] = await Promise.all([import('../../control/client.js'), daemonSide()]);
    return ControlClient.connect(admNatsOptions(this.opts), {
      hostId: this.opts.hostId ?? defaultHostId(),
      timeoutMs: (this.opts.timeout ?? 10) * 1000,
    });
  }

  /** The records the daemon's sessions were made from; none when no daemon answers. */
  inUse(k: NodeKey): Promise<boolean> {
    this.sessions ??= this.connect().then(async (c) => {
      if (!c) return [];
      try {
        return (await c.call('sessionList', {})).sessions.map((s) => ({
          target: s.node.target,
          address: s.node.portal.address,
          port: s.node.portal.port,
          tpgt: s.node.portal.tpgt,
          iface: s.node.iface,
        }));
      } catch {
        return []; // no daemon on this host id (no responders), or one that will not say: none known
      }
    });
    return this.sessions.then((keys) => keys.some((s) => sameRecord(s, k)));
  }

  /**
   * An update of a record a running session uses is handed to the daemon too (node.update for that record), so
   * its timers change at once as they do for an update sent to the daemon, not at the next SIGHUP or login.
   */
  async applyLive(keys: readonly NodeKey[], changes: RecordChange[]): Promise<void> {
    for (const k of keys) {
      if (!(await this.inUse(k))) continue;
      try {
        const c = await this.connect();
        await c?.call('nodeUpdate', { filter: { target: k.target, address: k.address, port: k.port, iface: k.iface }, fields: changes });
      } catch (err) {
        warn(`record updated; the running session keeps its old values until mpiscsid reloads (SIGHUP): ${(err as Error).message}`);
      }
    }
  }

  async close(): Promise<void> {
    await (await this.client)?.close().catch(() => {});
  }
}

async function nodeNew(nodes: NodeService, opts: AdmOptions, f: NodeFilter): Promise<void> {
  if (f.target === undefined || f.portal === undefined) throw usage('-o new requires a target name (-T) and a portal (-p)');
  const ifaceName = f.iface ?? 'default';
  const { key, rec } = await nodes.create({
    target: f.target,
    address: f.portal.address,
    port: f.portal.port,
    tpgt: f.portal.tpgt,
    iface: ifaceName,
  });
  const g = (k: string) => rec.get(k) ?? '';
  const line = `New iSCSI node [${g('iface.transport_name')}:[hw=${g('iface.hwaddress')},ip=${g('iface.ipaddress')},net_if=${g('iface.net_ifacename')},iscsi_if=${ifaceName}] ${key.address},${key.port},${key.tpgt} ${key.target}] added`;
  if (opts.json) printJson({ added: { target: key.target, address: key.address, port: key.port, tpgt: key.tpgt, iface: ifaceName } });
  else out(line);
}

export async function runNode(store: RecordStore, opts: AdmOptions): Promise<void> {
  const daemon = new DaemonPeer(opts);
  const nodes = new NodeService({ store, inUse: (k) => daemon.inUse(k) });
  try {
    await node(nodes, opts, daemon);
  } catch (err) {
    throw await admError(err);
  } finally {
    await daemon.close();
  }
}

async function node(nodes: NodeService, opts: AdmOptions, daemon: DaemonPeer): Promise<void> {
  const f = nodeFilter(opts);
  if (opts.loginall !== undefined) return (await daemonSide()).loginAll(opts, opts.loginall);
  if (opts.logoutall !== undefined) return (await daemonSide()).logoutAll(opts, opts.logoutall);
  const filtered = f.target !== undefined || f.portal !== undefined || f.iface !== undefined;
  const op = opts.op[0];
  if (opts.op.length > 1) throw usage('node mode takes one operation');
  if (op === 'new') {
    if (opts.login || opts.logout) throw usage('-o new cannot be combined with --login/--logout');
    return nodeNew(nodes, opts, f);
  }
  if (op !== undefined) checkOps('node', [op]);
  const m = nodeMatchOf(f);
  const keys = await nodes.find(m);
  if (keys.length === 0) throw noRecords();
  if (opts.login) return (await daemonSide()).loginNodes(opts, keys);
  if (opts.logout) return (await daemonSide()).logoutNodes(opts, keys);

  if (op === 'delete') {
    await nodes.delete(m);
    return;
  }
  if (op === 'update') {
    if (opts.name === undefined || opts.value === undefined) throw usage('update requires name and value');
    const changes = nodes.check([{ key: opts.name, value: opts.value }]);
    const updated = await nodes.update(m, changes);
    await daemon.applyLive(updated, changes);
    return;
  }
  if (op === undefined && opts.print !== undefined && opts.print >= 1) {
    if (opts.json) printJson(treeJson(keys));
    else for (const l of treeLines(keys)) out(l);
    return;
  }
  if (op === undefined && !filtered) {
    if (opts.json) printJson(keys.map(nodeJson));
    else for (const k of keys) out(nodeLine(k));
    return;
  }
  // show: every matched record
  const { records, unreadable } = await nodes.show(m);
  if (unreadable.length > 0) throw new AdmError(ExitCode.IDBM, `Could not read node record ${nodeLine(unreadable[0]!)}`);
  if (opts.json) printJson(records.map(({ rec }) => recordObject(rec, NODE_SCHEMA, !!opts.show)));
  else for (const { rec } of records) printRecord(rec, NODE_SCHEMA, !!opts.show);
}
