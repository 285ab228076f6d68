/** `mpiscsiadm -m iface`: iface records ("default" and "iser" built in, others in ifaces/). */
import type { RecordStore } from '../../db/store.js';
import { IDENTITY_KEYS } from '../../db/record-ops.js';
import { BUILTIN_IFACES, IFACE_SCHEMA, defaultIfaceRecord } from '../../db/node-record.js';
import type { Rec } from '../../db/record.js';
import { ExitCode } from '../../control/exit-code-table.js';
import { invalidOp } from './modes.js';
import { AdmError, checkParam, out, printJson, printRecord, recordObject, usage, type AdmOptions } from './common.js';

const IFACE_IDENTITY = IDENTITY_KEYS.iface;

/**
 * The iface record, or iscsiadm's "Could not read iface info for NAME." with the exit code of the mode
 * asking: 21 (NO_OBJS_FOUND) to show it, 7 (INVAL) to delete it, 3 for `-m node -o new -I` (iscsiadm 2.1.8).
 */
export async function readIface(store: RecordStore, name: string, code: number = ExitCode.NO_OBJS_FOUND): Promise<Rec> {
  const rec = await store.getIface(name);
  if (!rec) throw new AdmError(code, `Could not read iface info for ${name}.`);
  return rec;
}

const empty = (v: string | undefined): string => (v ? v : '<empty>');

/** `NAME TRANSPORT,HWADDRESS,IPADDRESS,NET_IFACENAME,INITIATORNAME`. */
export function ifaceLine(r: Rec): string {
  return `${r.get('iface.iscsi_ifacename')} ${empty(r.get('iface.transport_name'))},${empty(r.get('iface.hwaddress'))},${empty(
    r.get('iface.ipaddress'),
  )},${empty(r.get('iface.net_ifacename'))},${empty(r.get('iface.initiatorname'))}`;
}

export async function runIface(store: RecordStore, opts: AdmOptions): Promise<void> {
  if (opts.op.length > 1) throw usage('iface mode takes one operation');
  const op = opts.op[0];
  const name = opts.interface;
  if (name === undefined) {
    if (op !== undefined && op !== 'show') throw usage(`-o ${op} requires an iface name (-I)`);
    const recs: Rec[] = [];
    // As iscsiadm 2.1.8 (libopeniscsiusr iscsi_ifaces_get): the stored ones in name order, then the built-ins.
    const names = await store.listIfaces();
    const stored = names.filter((n) => !BUILTIN_IFACES.has(n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const n of [...stored, ...names.filter((n) => BUILTIN_IFACES.has(n))]) {
      const r = await store.getIface(n);
      if (r) recs.push(r);
    }
    if (opts.json) printJson(recs.map((r) => recordObject(r, IFACE_SCHEMA, !!opts.show)));
    else for (const r of recs) out(ifaceLine(r));
    return;
  }
  const builtin = BUILTIN_IFACES.has(name);
  switch (op ?? 'show') {
    case 'show': {
      const rec = await readIface(store, name);
      if (opts.json) printJson(recordObject(rec, IFACE_SCHEMA, !!opts.show));
      else printRecord(rec, IFACE_SCHEMA, !!opts.show);
      return;
    }
    case 'new': {
      if (builtin) throw new AdmError(ExitCode.IDBM, `Could not create new interface ${name}: it is built in.`);
      // As iscsiadm 2.1.8: "NAME updated." then "New interface NAME added", and again with rc 0 when it
      // exists (provisioning re-runs). An existing record keeps its settings.
      if (!(await store.getIface(name))) {
        try {
          await store.putIface(defaultIfaceRecord(name));
        } catch (err) {
          throw new AdmError(ExitCode.INVAL, `Could not create new interface ${name}: ${(err as Error).message}.`);
        }
      }
      out(`${name} updated.`);
      out(`New interface ${name} added`);
      return;
    }
    case 'update': {
      if (builtin) throw new AdmError(ExitCode.INVAL, `Could not update iface ${name}: built-in ifaces cannot be changed.`);
      const value = checkParam(IFACE_SCHEMA, IFACE_IDENTITY, opts.name, opts.value);
      await readIface(store, name);
      await store.updateIface(name, (r) => {
        r.set(opts.name!, value);
      });
      out(`${name} updated.`);
      return;
    }
    case 'delete': {
      if (builtin) throw new AdmError(ExitCode.INVAL, `Could not delete iface ${name}: built-in ifaces cannot be deleted.`);
      if (!(await store.getIface(name)))
        throw new AdmError(ExitCode.INVAL, `Could not read iface info for ${name}.`, `Could not delete iface ${name}: invalid parameter`);
      // Node records bound to the iface go with it, as in iscsiadm ("unbound").
      for (const k of await store.listNodes()) if (k.iface === name) await store.deleteNode(k);
      await store.deleteIface(name);
      out(`${name} unbound and deleted.`);
      return;
    }
    default:
      throw invalidOp('iface', op);
  }
}
