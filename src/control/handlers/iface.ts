/**
 * The iface.* endpoints: iface records in the store ("default" and "iser" built in and fixed), each change
 * checked against the iface schema before it is stored; every reply is the full list.
 */
import type { RecordStore } from '../../db/store.js';
import { BUILTIN_IFACES, IFACE_SCHEMA, defaultIfaceRecord } from '../../db/node-record.js';
import { IDENTITY_KEYS, checkRecordValue, recordFields } from '../../db/record-ops.js';
import { InvalidRequestError, NotFoundError } from '../../services/errors.js';
import type { ControlApi, Field, IfaceListResponse } from '../api.js';

export type IfaceStore = Pick<RecordStore, 'listIfaces' | 'getIface' | 'putIface' | 'updateIface' | 'deleteIface'>;

export type IfaceHandlers = Pick<ControlApi, 'ifaceList' | 'ifaceNew' | 'ifaceUpdate' | 'ifaceDelete'>;

function checkFields(fields: readonly Field[] | undefined): Field[] {
  return (fields ?? []).map((f) => {
    try {
      return { key: f.key, value: checkRecordValue(IFACE_SCHEMA, IDENTITY_KEYS.iface, f.key, f.value) };
    } catch (err) {
      throw new InvalidRequestError((err as Error).message, {
        cause: err,
        lines: ['Could not execute operation on all records: invalid parameter'],
      });
    }
  });
}

export function ifaceHandlers(store: IfaceStore): IfaceHandlers {
  const list = async (): Promise<IfaceListResponse> => {
    const ifaces = [];
    for (const name of await store.listIfaces()) {
      const rec = await store.getIface(name);
      if (rec) ifaces.push({ name, fields: recordFields(rec, IFACE_SCHEMA, { empty: '<empty>' }) });
    }
    return { ifaces };
  };
  return {
    ifaceList: () => list(),
    ifaceNew: async (req) => {
      if (!req.name) throw new InvalidRequestError('iface new requires a name');
      if (BUILTIN_IFACES.has(req.name) || (await store.getIface(req.name)))
        throw new InvalidRequestError(`Could not create new interface ${req.name}: it exists.`);
      const fields = checkFields(req.fields);
      const rec = defaultIfaceRecord(req.name);
      for (const f of fields) rec.set(f.key, f.value);
      await store.putIface(rec);
      return list();
    },
    ifaceUpdate: async (req) => {
      if (BUILTIN_IFACES.has(req.name)) throw new InvalidRequestError(`iface ${req.name} is built in and cannot be changed`);
      if (!(await store.getIface(req.name))) throw new NotFoundError(`Could not read iface info for ${req.name}.`);
      const fields = checkFields(req.fields);
      await store.updateIface(req.name, (r) => {
        for (const f of fields) r.set(f.key, f.value);
      });
      return list();
    },
    ifaceDelete: async (req) => {
      if (BUILTIN_IFACES.has(req.name)) throw new InvalidRequestError(`iface ${req.name} is built in and cannot be deleted`);
      if (!(await store.deleteIface(req.name))) throw new NotFoundError(`Could not read iface info for ${req.name}.`);
      return list();
    },
  };
}
