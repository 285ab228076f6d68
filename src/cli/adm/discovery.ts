/** `mpiscsiadm -m discovery|discoverydb`: SendTargets discovery and discovery records. */
import type { PortalKey, RecordStore } from '../../db/store.js';
import { BUILTIN_IFACES, DISCOVERY_SCHEMA, defaultDiscoveryRecord, type NodeKey } from '../../db/node-record.js';
import { IDENTITY_KEYS } from '../../db/record-ops.js';
import { LoginError, TransportError } from '../../iscsi/errors.js';
import { ExitCode } from '../../control/exit-code-table.js';
import { describeSkipped } from '../../iscsi/discovery.js';
import { ServiceError } from '../../services/errors.js';
import {
  AdmError,
  admError,
  checkParam,
  hostPort,
  nodeLine,
  noRecords,
  out,
  parsePortal,
  printJson,
  printRecord,
  recordObject,
  usage,
  type AdmOptions,
} from './common.js';
import { discoveryTreeLines, nodeJson, treeJson } from './node.js';
import { checkOps, DISCOVERY_TYPES } from './modes.js';

const DISCOVERY_IDENTITY = IDENTITY_KEYS.discovery;

function isSendTargets(type: string | undefined): boolean {
  return (DISCOVERY_TYPES.supported as readonly (string | undefined)[]).includes(type);
}

async function discoveryFailure(address: string, err: unknown): Promise<AdmError> {
  if (err instanceof TransportError) {
    const cause = (err.cause as Error | undefined)?.message ?? err.message;
    return new AdmError(
      ExitCode.TRANS,
      `cannot make connection to ${address}: ${cause}`,
      'Could not perform SendTargets discovery: encountered connection failure',
    );
  }
  const what = err instanceof LoginError ? `login failed: ${err.message}` : (err as Error).message;
  const { exitCodeFor } = await import('../../control/exit-codes.js');
  return new AdmError(exitCodeFor(err), `Could not perform SendTargets discovery: ${what}`);
}

/**
 * The ifaces a discovery binds: the one named with -I, else every iface stored in ifaces/ (iscsiadm's
 * discovery without -I binds each of them), else `default` when none is stored.
 */
export async function discoveryIfaces(store: Pick<RecordStore, 'listIfaces'>, named: string | undefined): Promise<string[]> {
  if (named !== undefined) return [named];
  const stored = (await store.listIfaces()).filter((n) => !BUILTIN_IFACES.has(n));
  return stored.length > 0 ? stored : ['default'];
}

/** SendTargets against one portal through each iface; stores the records unless nonpersistent; returns the node keys found. */
async function discover(store: RecordStore, p: PortalKey, opts: AdmOptions, persist: boolean): Promise<NodeKey[]> {
  // Imported here: the listings and record operations of this mode load no session code (issue 17, start time).
  const { discoverAndStore } = await import('../../control/discover.js');
  const found: NodeKey[] = [];
  for (const iface of await discoveryIfaces(store, opts.interface)) {
    try {
      found.push(
        ...(await discoverAndStore(store, p, {
          iface,
          nonpersistent: !persist,
          onSkip: (s) => process.stderr.write(`iscsiadm: ${p.address}:${p.port}: ${describeSkipped(s)}\n`),
        })),
      );
    } catch (err) {
      if (err instanceof ServiceError) throw await admError(err);
      throw await discoveryFailure(p.address, err);
    }
  }
  return found;
}

function printDiscovered(keys: readonly NodeKey[], opts: AdmOptions): void {
  if (opts.json) printJson(keys.map(nodeJson));
  else for (const k of keys) out(nodeLine(k));
}

/**
 * The node records of each `-m discovery -P 1` section, as iscsiadm 2.1.8 finds them (usr/idbm.c
 * idbm_print_discovered): by each record's node.discovery_type, and for SendTargets its node.discovery_address
 * and port, not by the send_targets/ and static/ links (a tree written by config management has none).
 */
async function nodesByDiscovery(store: RecordStore): Promise<Array<{ key: NodeKey; type: string; address: string; port: number }>> {
  const out: Array<{ key: NodeKey; type: string; address: string; port: number }> = [];
  for (const key of await store.listNodes()) {
    const rec = await store.getNode(key);
    if (!rec) continue;
    out.push({
      key,
      type: rec.get('node.discovery_type') || 'static',
      address: rec.get('node.discovery_address') ?? '',
      port: Number(rec.get('node.discovery_port') || 0),
    });
  }
  return out;
}

async function listDiscovery(store: RecordStore, opts: AdmOptions): Promise<void> {
  const portals = await store.listDiscovery();
  if (opts.print !== undefined && opts.print >= 1) {
    const nodes = await nodesByDiscovery(store);
    const of = (type: string, p?: PortalKey) =>
      nodes.filter((n) => n.type === type && (!p || (n.address === p.address && n.port === p.port))).map((n) => n.key);
    const st = portals.map((p) => ({ portal: p, nodes: of('send_targets', p) }));
    const isns = of('isns');
    const statics = of('static');
    const fw = of('fw');
    if (opts.json) {
      printJson({
        sendtargets: st.map((s) => ({ address: s.portal.address, port: s.portal.port, targets: treeJson(s.nodes) })),
        isns: treeJson(isns),
        static: treeJson(statics),
        firmware: treeJson(fw),
      });
      return;
    }
    out('SENDTARGETS:');
    if (st.length === 0) out('No targets found.');
    for (const s of st) {
      out(`DiscoveryAddress: ${s.portal.address},${s.portal.port}`);
      for (const l of discoveryTreeLines(s.nodes)) out(l);
    }
    // No iSNS server records (we do not do iSNS): iscsiadm then lists the isns-discovered records themselves.
    for (const [title, keys] of [
      ['iSNS:', isns],
      ['STATIC:', statics],
      ['FIRMWARE:', fw],
    ] as const) {
      out(title);
      if (keys.length === 0) out('No targets found.');
      for (const l of discoveryTreeLines(keys)) out(l);
    }
    // iscsiadm 2.1.8: the sections are printed, and nothing in any of them is NO_OBJS_FOUND (21).
    if (st.length + isns.length + statics.length + fw.length === 0) throw new AdmError(ExitCode.NO_OBJS_FOUND);
    return;
  }
  if (portals.length === 0) throw noRecords();
  if (opts.json) printJson(portals.map((p) => ({ address: p.address, port: p.port, type: 'sendtargets' })));
  else for (const p of portals) out(`${hostPort(p.address, p.port)} via sendtargets`);
}

export async function runDiscovery(store: RecordStore, opts: AdmOptions): Promise<void> {
  const db = opts.mode === 'discoverydb';
  if (opts.type === undefined && opts.portal === undefined) {
    if (opts.op.length > 0 && !opts.op.every((o) => o === 'show')) throw usage('discovery operations need a type (-t) and a portal (-p)');
    return listDiscovery(store, opts);
  }
  if (opts.type === undefined) throw usage('Please specify a discovery type (-t st)');
  if (!isSendTargets(opts.type)) {
    if ((DISCOVERY_TYPES.unsupported as readonly string[]).includes(opts.type))
      throw new AdmError(ExitCode.OP_NOT_SUPP, `discovery type ${opts.type} is not supported`);
    throw new AdmError(ExitCode.UNKNOWN_DISCOVERY_TYPE, `Unsupported discovery type.`);
  }
  if (opts.portal === undefined) throw usage('Please specify portal as <ipaddr>[:<ipport>]');
  const spec = parsePortal(opts.portal);
  const p: PortalKey = { address: spec.address, port: spec.port ?? 3260 };
  const ops = opts.op;
  checkOps(db ? 'discoverydb' : 'discovery', ops);

  if (ops.includes('delete')) {
    if (!(await store.getDiscovery(p))) throw noRecords();
    for (const k of await store.discoveryNodes(p)) await store.deleteNode(k);
    await store.deleteDiscovery(p);
    return;
  }
  if (ops.includes('new')) {
    if (!(await store.getDiscovery(p))) await store.putDiscovery(defaultDiscoveryRecord(p.address, p.port));
  }
  if (ops.includes('update')) {
    const value = checkParam(DISCOVERY_SCHEMA, DISCOVERY_IDENTITY, opts.name, opts.value);
    if (!(await store.getDiscovery(p))) throw noRecords();
    await store.updateDiscovery(p, (r) => {
      r.set(opts.name!, value);
    });
  }
  const plain = !ops.includes('show') && !ops.includes('update') && !ops.includes('new');
  const wantDiscover = db ? !!opts.discover : plain || ops.includes('nonpersistent') || !!opts.discover;
  if (!wantDiscover) {
    if (ops.includes('new') || ops.includes('update')) return;
    const rec = await store.getDiscovery(p);
    if (!rec) throw noRecords();
    if (opts.json) printJson(recordObject(rec, DISCOVERY_SCHEMA, !!opts.show));
    else printRecord(rec, DISCOVERY_SCHEMA, !!opts.show);
    return;
  }
  const found = await discover(store, p, opts, !ops.includes('nonpersistent'));
  printDiscovered(found, opts);
  if (opts.login) {
    if (found.length === 0) throw noRecords();
    await (await import('./daemon.js')).loginNodes(opts, found);
  }
}
