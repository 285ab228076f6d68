/** `mpiscsiadm -m node`: node records in the database, offline like iscsiadm. */
import type { RecordStore } from '../../db/store.js';
import { NODE_SCHEMA, defaultNodeRecord, type NodeKey } from '../../db/node-record.js';
import { IDENTITY_KEYS, matchesNode } from '../../db/record-ops.js';
import { ExitCode } from '../../control/exit-codes.js';
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
  type PortalSpec,
} from './common.js';
import { loginAll, loginNodes, logoutAll, logoutNodes } from './daemon.js';
import { readIface } from './iface.js';

/** Keys that name the record (its path): iscsiadm does not let -o update change them. */
const NODE_IDENTITY = IDENTITY_KEYS.node;

export interface NodeFilter {
  target?: string;
  portal?: PortalSpec;
  iface?: string;
}

export function nodeFilter(opts: AdmOptions): NodeFilter {
  return { target: opts.targetname, portal: opts.portal !== undefined ? parsePortal(opts.portal) : undefined, iface: opts.interface };
}

export function matches(k: NodeKey, f: NodeFilter): boolean {
  return matchesNode(k, { target: f.target, iface: f.iface, address: f.portal?.address, port: f.portal?.port, tpgt: f.portal?.tpgt });
}

export async function matchingNodes(store: RecordStore, f: NodeFilter): Promise<NodeKey[]> {
  return (await store.listNodes()).filter((k) => matches(k, f));
}

export const nodeJson = (k: NodeKey) => ({ target: k.target, address: k.address, port: k.port, tpgt: k.tpgt, iface: k.iface });

/** `-P 1` tree: `Target:`, tab `Portal:`, two tabs `Iface Name:`. */
export function treeLines(keys: readonly NodeKey[]): string[] {
  const lines: string[] = [];
  const targets = [...new Set(keys.map((k) => k.target))];
  for (const t of targets) {
    lines.push(`Target: ${t}`);
    const mine = keys.filter((k) => k.target === t);
    const portals = [...new Set(mine.map((k) => `${hostPort(k.address, k.port)},${k.tpgt}`))];
    for (const p of portals) {
      lines.push(`\tPortal: ${p}`);
      for (const k of mine) if (`${hostPort(k.address, k.port)},${k.tpgt}` === p) lines.push(`\t\tIface Name: ${k.iface}`);
    }
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

async function nodeNew(store: RecordStore, opts: AdmOptions, f: NodeFilter): Promise<void> {
  if (f.target === undefined || f.portal === undefined) throw usage('-o new requires a target name (-T) and a portal (-p)');
  const ifaceName = f.iface ?? 'default';
  const iface = await readIface(store, ifaceName, ExitCode.NOMEM); // iscsiadm 2.1.8 answers 3 here
  const port = f.portal.port ?? 3260;
  const tpgt = f.portal.tpgt ?? -1;
  const rec = defaultNodeRecord(f.target, { address: f.portal.address, port, tpgt }, iface);
  rec.set('node.discovery_type', 'static');
  await store.putNode(rec, 'static');
  const g = (k: string) => rec.get(k) ?? '';
  const line = `New iSCSI node [${g('iface.transport_name')}:[hw=${g('iface.hwaddress')},ip=${g('iface.ipaddress')},net_if=${g('iface.net_ifacename')},iscsi_if=${ifaceName}] ${f.portal.address},${port},${tpgt} ${f.target}] added`;
  if (opts.json) printJson({ added: { target: f.target, address: f.portal.address, port, tpgt, iface: ifaceName } });
  else out(line);
}

export async function runNode(store: RecordStore, opts: AdmOptions): Promise<void> {
  const f = nodeFilter(opts);
  if (opts.loginall !== undefined) return loginAll(opts, opts.loginall);
  if (opts.logoutall !== undefined) return logoutAll(opts, opts.logoutall);
  const filtered = f.target !== undefined || f.portal !== undefined || f.iface !== undefined;
  const op = opts.op[0];
  if (opts.op.length > 1) throw usage('node mode takes one operation');
  if (op === 'new') {
    if (opts.login || opts.logout) throw usage('-o new cannot be combined with --login/--logout');
    return nodeNew(store, opts, f);
  }
  if (op !== undefined && !['show', 'update', 'delete'].includes(op)) {
    throw usage(`Invalid op "${op}" for node mode: use new, delete, update or show`);
  }
  const keys = await matchingNodes(store, f);
  if (keys.length === 0) throw noRecords();
  if (opts.login) return loginNodes(opts, keys);
  if (opts.logout) return logoutNodes(opts, keys);

  if (op === 'delete') {
    for (const k of keys) await store.deleteNode(k);
    return;
  }
  if (op === 'update') {
    const value = checkParam(NODE_SCHEMA, NODE_IDENTITY, opts.name, opts.value);
    for (const k of keys) {
      await store.updateNode(k, (r) => {
        r.set(opts.name!, value);
      });
    }
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
  const recs = [];
  for (const k of keys) {
    const rec = await store.getNode(k);
    if (!rec) throw new AdmError(ExitCode.IDBM, `Could not read node record ${nodeLine(k)}`);
    recs.push(rec);
  }
  if (opts.json) printJson(recs.map((r) => recordObject(r, NODE_SCHEMA, !!opts.show)));
  else for (const r of recs) printRecord(r, NODE_SCHEMA, !!opts.show);
}
