/**
 * Node records as a domain service (iscsiadm -m node -o new/update/delete/show), the one implementation behind
 * the daemon's node.* endpoints and the offline `mpiscsiadm -m node`: every change checked whole before anything
 * is stored, a delete refused while a session uses the record (the check is injected: the daemon knows its
 * sessions, the offline CLI asks the daemon), and each update handed to whoever runs the record's session.
 */
import type { RecordStore } from '../db/store.js';
import { NODE_SCHEMA, defaultNodeRecord, type NodeKey } from '../db/node-record.js';
import type { Rec } from '../db/record.js';
import { IDENTITY_KEYS, checkRecordValue, matchesNode, type NodeMatch } from '../db/record-ops.js';
import { IfaceMissingError, InvalidRequestError, NotFoundError, RecordInUseError } from './errors.js';

/** The record store the node service needs (FileStore, or the JetStream KV store with the same methods). */
export type NodeStore = Pick<RecordStore, 'listNodes' | 'getNode' | 'putNode' | 'updateNode' | 'deleteNode' | 'getIface'>;

export interface RecordChange {
  key: string;
  value: string;
}

export interface NodeServiceOptions {
  store: NodeStore;
  /**
   * Whether a session uses the record now (a delete is then refused). Default: never, for callers that run
   * no sessions and can ask no one.
   */
  inUse?: (k: NodeKey) => boolean | Promise<boolean>;
  /** Told of each record after an update is stored (the daemon applies its timers to the running session). */
  onUpdated?: (k: NodeKey, rec: Rec) => void;
}

/** What `-o new` names: target and portal; the port defaults to 3260, the tpgt to -1, the iface to "default". */
export interface NewNode {
  target: string;
  address: string;
  port?: number;
  tpgt?: number;
  iface?: string;
}

/** The `[iface: ..., target: ..., portal: ADDR,PORT]` that iscsiadm's node messages name a record by. */
export function nodeText(k: NodeKey): string {
  return `[iface: ${k.iface}, target: ${k.target}, portal: ${k.address},${k.port}]`;
}

export class NodeService {
  private readonly store: NodeStore;

  constructor(private readonly opts: NodeServiceOptions) {
    this.store = opts.store;
  }

  /** The records a filter selects, as iscsiadm's -T/-p/-I do (an absent field matches anything). */
  async find(m: NodeMatch): Promise<NodeKey[]> {
    return (await this.store.listNodes()).filter((k) => matchesNode(k, m));
  }

  /** As find, but nothing found is iscsiadm's "No records found". */
  async findSome(m: NodeMatch): Promise<NodeKey[]> {
    const keys = await this.find(m);
    if (keys.length === 0) throw new NotFoundError('No records found');
    return keys;
  }

  /** The selected records; `unreadable` names those listed but gone or unparseable by the time they were read. */
  async show(m: NodeMatch): Promise<{ records: Array<{ key: NodeKey; rec: Rec }>; unreadable: NodeKey[] }> {
    const records: Array<{ key: NodeKey; rec: Rec }> = [];
    const unreadable: NodeKey[] = [];
    for (const key of await this.findSome(m)) {
      const rec = await this.store.getNode(key);
      if (rec) records.push({ key, rec });
      else unreadable.push(key);
    }
    return { records, unreadable };
  }

  /**
   * Checks changes against the node schema and the timer rules a login applies, all before any is stored: a
   * value this accepts is one the login takes. Returns them normalised.
   */
  check(changes: readonly RecordChange[]): RecordChange[] {
    return changes.map((c) => {
      try {
        return { key: c.key, value: checkRecordValue(NODE_SCHEMA, IDENTITY_KEYS.node, c.key, c.value) };
      } catch (err) {
        throw new InvalidRequestError((err as Error).message, {
          cause: err,
          lines: ['Could not execute operation on all records: invalid parameter'],
        });
      }
    });
  }

  /** A static record for `n` from its iface's record, with `changes` applied (checked first). */
  async create(n: NewNode, changes: readonly RecordChange[] = []): Promise<{ key: NodeKey; rec: Rec }> {
    if (!n.target || !n.address) throw new InvalidRequestError('-o new requires a target name and a portal');
    const checked = this.check(changes);
    const ifaceName = n.iface || 'default';
    const iface = await this.store.getIface(ifaceName);
    if (!iface) throw new IfaceMissingError(`Could not read iface info for ${ifaceName}.`);
    const rec = defaultNodeRecord(n.target, { address: n.address, port: n.port || 3260, tpgt: n.tpgt ?? -1 }, iface);
    rec.set('node.discovery_type', 'static');
    for (const c of checked) rec.set(c.key, c.value);
    const key = await this.store.putNode(rec, 'static');
    return { key, rec };
  }

  /** Applies `changes` (checked whole first, so a bad one stores nothing) to every selected record. */
  async update(m: NodeMatch, changes: readonly RecordChange[]): Promise<NodeKey[]> {
    const checked = this.check(changes);
    if (checked.length === 0) throw new InvalidRequestError('update requires name and value');
    const keys = await this.findSome(m);
    for (const k of keys) {
      const rec = await this.store.updateNode(k, (r) => {
        for (const c of checked) r.set(c.key, c.value);
      });
      this.opts.onUpdated?.(k, rec);
    }
    return keys;
  }

  /** Deletes every selected record, none if a session uses any of them. */
  async delete(m: NodeMatch): Promise<NodeKey[]> {
    const keys = await this.findSome(m);
    for (const k of keys) {
      if (await this.opts.inUse?.(k))
        throw new RecordInUseError(
          `This command will remove the record ${nodeText(k)}, but a session is using it. Logout session then rerun command to remove record.`,
        );
    }
    for (const k of keys) await this.store.deleteNode(k);
    return keys;
  }
}
