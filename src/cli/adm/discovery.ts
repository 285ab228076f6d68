/** `mpiscsiadm -m discovery|discoverydb`: SendTargets discovery and discovery records. */
import type { PortalKey, RecordStore } from '../../db/store.js';
import { DISCOVERY_SCHEMA, defaultDiscoveryRecord, defaultNodeRecord, type NodeKey } from '../../db/node-record.js';
import type { Rec } from '../../db/record.js';
import type { AuthConfig } from '../../iscsi/login.js';
import { DEFAULT_CHAP_ALGORITHMS } from '../../iscsi/chap.js';
import { LoginError, TransportError } from '../../iscsi/errors.js';
import { discoverTargets } from '../../session/open.js';
import { ExitCode, exitCodeFor } from '../../control/exit-codes.js';
import {
  AdmError,
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
import { loginNodes } from './daemon.js';
import { nodeJson, treeJson, treeLines } from './node.js';
import { readIface } from './iface.js';

const DISCOVERY_IDENTITY = new Set(['discovery.type', 'discovery.sendtargets.address', 'discovery.sendtargets.port']);

function isSendTargets(type: string | undefined): boolean {
  return type === 'st' || type === 'sendtargets';
}

function authOf(rec: Rec): AuthConfig {
  if (rec.get('discovery.sendtargets.auth.authmethod') !== 'CHAP') return { method: 'None' };
  const usernameIn = rec.get('discovery.sendtargets.auth.username_in') ?? '';
  return {
    method: 'CHAP',
    username: rec.get('discovery.sendtargets.auth.username') ?? '',
    password: rec.get('discovery.sendtargets.auth.password') ?? '',
    ...(usernameIn ? { usernameIn, passwordIn: rec.get('discovery.sendtargets.auth.password_in') ?? '' } : {}),
    algorithms: [...DEFAULT_CHAP_ALGORITHMS],
  };
}

function discoveryFailure(address: string, err: unknown): AdmError {
  if (err instanceof TransportError) {
    const cause = (err.cause as Error | undefined)?.message ?? err.message;
    return new AdmError(
      ExitCode.TRANS,
      `cannot make connection to ${address}: ${cause}`,
      'Could not perform SendTargets discovery: encountered connection failure',
    );
  }
  const what = err instanceof LoginError ? `login failed: ${err.message}` : (err as Error).message;
  return new AdmError(exitCodeFor(err), `Could not perform SendTargets discovery: ${what}`);
}

/** SendTargets against one portal; stores the records unless nonpersistent; returns the node keys found. */
async function discover(store: RecordStore, p: PortalKey, opts: AdmOptions, persist: boolean): Promise<NodeKey[]> {
  const drec = (await store.getDiscovery(p)) ?? defaultDiscoveryRecord(p.address, p.port);
  const ifaceName = opts.interface ?? 'default';
  const iface = await readIface(store, ifaceName);
  const loginTimeout = Number(drec.get('discovery.sendtargets.timeo.login_timeout') ?? 15);
  let targets;
  try {
    targets = await discoverTargets({
      host: p.address,
      port: p.port,
      auth: authOf(drec),
      initiatorName: iface.get('iface.initiatorname') || undefined,
      localAddress: iface.get('iface.ipaddress') || undefined,
      loginTimeoutMs: (loginTimeout > 0 ? loginTimeout : 15) * 1000,
    });
  } catch (err) {
    throw discoveryFailure(p.address, err);
  }
  const found: NodeKey[] = [];
  const recs: Rec[] = [];
  for (const t of targets) {
    for (const portal of t.portals) {
      const k: NodeKey = { target: t.targetName, address: portal.host, port: portal.port, tpgt: portal.tpgt, iface: ifaceName };
      if (found.some((f) => nodeLine(f) === nodeLine(k) && f.iface === k.iface)) continue;
      found.push(k);
      // An existing record keeps its settings (iscsiadm's discovery -o update); a new one gets defaults.
      const rec = (await store.getNode(k)) ?? defaultNodeRecord(k.target, { address: k.address, port: k.port, tpgt: k.tpgt }, iface);
      rec.set('node.discovery_address', p.address);
      rec.set('node.discovery_port', String(p.port));
      rec.set('node.discovery_type', 'send_targets');
      recs.push(rec);
    }
  }
  if (persist) {
    await store.putDiscovery(drec);
    // Records this portal found before but not now are stale (iscsiadm's discovery -o delete).
    for (const old of await store.discoveryNodes(p)) {
      if (old.iface === ifaceName && !found.some((k) => nodeLine(k) === nodeLine(old))) await store.deleteNode(old);
    }
    for (const r of recs) await store.putNode(r, p);
  }
  return found;
}

function printDiscovered(keys: readonly NodeKey[], opts: AdmOptions): void {
  if (opts.json) printJson(keys.map(nodeJson));
  else for (const k of keys) out(nodeLine(k));
}

async function listDiscovery(store: RecordStore, opts: AdmOptions): Promise<void> {
  const portals = await store.listDiscovery();
  if (opts.print !== undefined && opts.print >= 1) {
    const st: { portal: PortalKey; nodes: NodeKey[] }[] = [];
    for (const p of portals) st.push({ portal: p, nodes: await store.discoveryNodes(p) });
    const statics = await store.staticNodes();
    if (opts.json) {
      printJson({
        sendtargets: st.map((s) => ({ address: s.portal.address, port: s.portal.port, targets: treeJson(s.nodes) })),
        isns: [],
        static: treeJson(statics),
        firmware: [],
      });
      return;
    }
    out('SENDTARGETS:');
    if (st.length === 0) out('No targets found.');
    for (const s of st) {
      out(`DiscoveryAddress: ${s.portal.address},${s.portal.port}`);
      for (const l of treeLines(s.nodes)) out(l);
    }
    out('iSNS:');
    out('No targets found.');
    out('STATIC:');
    if (statics.length === 0) out('No targets found.');
    for (const l of treeLines(statics)) out(l);
    out('FIRMWARE:');
    out('No targets found.');
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
    if (['isns', 'fw', 'slp'].includes(opts.type)) throw new AdmError(ExitCode.OP_NOT_SUPP, `discovery type ${opts.type} is not supported`);
    throw new AdmError(ExitCode.UNKNOWN_DISCOVERY_TYPE, `Unsupported discovery type.`);
  }
  if (opts.portal === undefined) throw usage('Please specify portal as <ipaddr>[:<ipport>]');
  const spec = parsePortal(opts.portal);
  const p: PortalKey = { address: spec.address, port: spec.port ?? 3260 };
  const ops = opts.op;
  for (const o of ops) if (!['new', 'delete', 'update', 'show', 'nonpersistent'].includes(o)) throw usage(`Invalid op "${o}" for discovery mode`);

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
    await loginNodes(opts, found);
  }
}
