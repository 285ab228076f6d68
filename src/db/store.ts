/**
 * The record store interface (DESIGN.md "Storage of records"): what mpiscsiadm and the daemon need from
 * open-iscsi's node database, implemented by FileStore (files in open-iscsi's layout) and KvStore (a NATS
 * JetStream KV bucket shared by a fleet).
 */
import type { NodeKey } from './node-record.js';
import type { Rec, RecordWarning } from './record.js';

/** A SendTargets discovery portal: the identity of a discovery record. */
export interface PortalKey {
  readonly address: string;
  readonly port: number;
}

/** What importTree brought in. */
export interface ImportResult {
  nodes: number;
  discovery: number;
  ifaces: number;
  links: number;
  files: number;
  warnings: RecordWarning[];
}

/**
 * A change of one record: gets the current record (a fresh copy) and returns the new one or mutates it in
 * place. It may run more than once for one update (KvStore re-applies it to the newer record after a
 * conflicting write by someone else), so it should depend on nothing but the record it is given.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: an updater that edits the record in place returns nothing; void lets a plain `(r) => { r.k = v; }` pass
export type RecordUpdate = (r: Rec) => Rec | void | Promise<Rec | void>;

/**
 * open-iscsi's node database. Lists come sorted as the file tree sorts its names; `get*` gives undefined
 * for a missing record; a corrupt record is a RecordError naming where it is stored and the line.
 * Updates are read-modify-write of one record that never lose a concurrent update of the same record.
 */
export interface RecordStore {
  /** Warnings from reads (unknown keys, bad values), newest last. */
  readonly warnings: RecordWarning[];

  listNodes(): Promise<NodeKey[]>;
  getNode(k: NodeKey): Promise<Rec | undefined>;
  /**
   * Write a node record and its discovery link: send_targets when node.discovery_type is send_targets with
   * a discovery address, static when static, or as `discovery` says. Overwrites the record if it exists.
   */
  putNode(rec: Rec, discovery?: 'static' | PortalKey): Promise<NodeKey>;
  /** The node's identity keys must not change. Throws if there is no such record. */
  updateNode(k: NodeKey, fn: RecordUpdate): Promise<Rec>;
  /** Removes the record and its static and send_targets links; false if there was no record. */
  deleteNode(k: NodeKey): Promise<boolean>;

  listDiscovery(): Promise<PortalKey[]>;
  getDiscovery(p: PortalKey): Promise<Rec | undefined>;
  putDiscovery(rec: Rec): Promise<PortalKey>;
  updateDiscovery(p: PortalKey, fn: RecordUpdate): Promise<Rec>;
  /** Node records linked from a discovery portal. */
  discoveryNodes(p: PortalKey): Promise<NodeKey[]>;
  /** Node records made with `-o new` (static links). */
  staticNodes(): Promise<NodeKey[]>;
  /** Removes the discovery record and its links; node records themselves stay. */
  deleteDiscovery(p: PortalKey): Promise<boolean>;

  /** Built-in "default" and "iser" first, then the stored ifaces. */
  listIfaces(): Promise<string[]>;
  getIface(name: string): Promise<Rec | undefined>;
  putIface(rec: Rec): Promise<string>;
  updateIface(name: string, fn: RecordUpdate): Promise<Rec>;
  deleteIface(name: string): Promise<boolean>;

  /** Import an open-iscsi tree (/etc/iscsi or /var/lib/iscsi layout) whole; nothing is written if a record is corrupt. */
  importTree(srcDir: string): Promise<ImportResult>;
}
