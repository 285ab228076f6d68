/**
 * open-iscsi's node database in a NATS JetStream KV bucket (DESIGN.md "Storage of records",
 * `--db nats-kv://BUCKET`), so a fleet of daemons shares one set of records; it behaves like FileStore.
 *
 * Key layout: each path component of open-iscsi's tree (reference/open-iscsi.md "Node database layout")
 * becomes one key token, and the tokens are joined with `.`:
 *
 *   nodes.<IQN>.<addr>,<port>,<tpgt>.<iface>             node record text
 *   send_targets.<addr>,<port>.st_config                 discovery record text
 *   send_targets.<addr>,<port>.<IQN>,<addr>,<port>,<tpgt>,<iface>   link: value is the node record's key
 *   send_targets.<addr>,<port>                           empty marker: the directory, left when deleteNode
 *                                                        removes a link (FileStore keeps listing the empty
 *                                                        directory), removed by deleteDiscovery
 *   static.<IQN>,<addr>,<port>,<tpgt>,<iface>            link: value is the node record's key
 *   ifaces.<iface_name>                                  iface record text ("default", "iser" never stored)
 *   <file>                                               a top-level file of an imported tree, byte for byte
 *
 * Token encoding (encodeKeyToken): KV keys allow only [-/_=.a-zA-Z0-9] and `.` separates tokens, while
 * IQNs hold `.` and `:` and portals hold `,` (and `:` for IPv6). So `A-Z a-z 0-9 _ -` stand for
 * themselves and every other character is written as its UTF-8 bytes, each `=XX` in upper-case hex
 * (quoted-printable style); the empty string is the token `=`. Example:
 * `nodes.iqn=2E2026-11=2Etest=3Adisk0.fe80=3A=3A1=2C3260=2C1.default`. The encoding is one-to-one:
 * decodeKeyToken rejects anything encodeKeyToken would not write.
 *
 * Values are record text in open-iscsi's format (formatRecord/parseRecord), so a value reads back
 * exactly as a file would; a corrupt value is a RecordError naming `nats-kv://BUCKET/<key>` and the line.
 * Updates are compare-and-set on the key's revision (kv.update), re-read and re-applied after a
 * conflicting write, so concurrent writers on any connection lose nothing; deletes are compare-and-set
 * too, so exactly one of two concurrent deleters sees the record. Links are created with kv.create
 * (their value follows from their name, so an existing link is left alone). putNode/putDiscovery/putIface
 * overwrite, as FileStore's do.
 *
 * Difference from FileStore: legacy node records (nodes/<IQN>/<addr>,<port> without tpgt) are never
 * stored here (importTree rewrites them in the new layout), so there is no legacy form to read.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { formatRecord, parseRecord, type ParsedRecord, type Rec, type RecordWarning, type Schema } from './record.js';
import { BUILTIN_IFACES, DISCOVERY_SCHEMA, IFACE_SCHEMA, NODE_SCHEMA, nodeKeyOf, type NodeKey } from './node-record.js';
import {
  discoveryLinkOf,
  linkName,
  parseAddrPort,
  parseLinkName,
  parsePortalDir,
  portalDirName,
  readTree,
  safeName,
  sameNode,
} from './file-store.js';
import type { ImportResult, PortalKey, RecordStore, RecordUpdate } from './store.js';

/** Characters that stand for themselves in a key token. */
const LITERAL_RE = /^[A-Za-z0-9_-]$/;
const HEX_RE = /^[0-9A-F]{2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** One path component as one KV key token (see the file header). Defined for well-formed Unicode strings. */
export function encodeKeyToken(s: string): string {
  if (s === '') return '=';
  let out = '';
  for (const ch of s) {
    if (LITERAL_RE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The inverse of encodeKeyToken; throws on a token encodeKeyToken would not have written. */
export function decodeKeyToken(t: string): string {
  if (t === '=') return '';
  const bad = (why: string) => new Error(`invalid key token "${t}": ${why}`);
  if (t === '') throw bad('empty');
  const bytes: number[] = [];
  for (let i = 0; i < t.length; ) {
    const c = t[i]!;
    if (c === '=') {
      const hex = t.slice(i + 1, i + 3);
      if (!HEX_RE.test(hex)) throw bad(`"=" at ${i} not followed by two upper-case hex digits`);
      const b = Number.parseInt(hex, 16);
      if (LITERAL_RE.test(String.fromCharCode(b))) throw bad(`"=${hex}" escapes a character that stands for itself`);
      bytes.push(b);
      i += 3;
    } else if (LITERAL_RE.test(c)) {
      bytes.push(c.charCodeAt(0));
      i++;
    } else {
      throw bad(`"${c}" at ${i} is not allowed`);
    }
  }
  let s: string;
  try {
    s = UTF8.decode(Uint8Array.from(bytes));
  } catch (e) {
    throw new Error(`invalid key token "${t}": not UTF-8`, { cause: e });
  }
  // A code point escaped in more than one way (e.g. an over-long form) is rejected by the fatal decoder;
  // this catches anything else that would not encode back to the same token.
  if (encodeKeyToken(s) !== t) throw bad('not in canonical form');
  return s;
}

/** A path in open-iscsi's tree (components) as a KV key. */
export function kvKeyOf(...components: string[]): string {
  return components.map(encodeKeyToken).join('.');
}

/** A KV key back to path components; undefined for a key this store did not write. */
export function pathOfKvKey(key: string): string[] | undefined {
  try {
    return key.split('.').map(decodeKeyToken);
  } catch {
    return undefined;
  }
}

/** A compare-and-set update kept losing to other writers. */
export class StoreConflictError extends Error {
  constructor(
    readonly key: string,
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    super(`record ${key}: gave up after ${attempts} conflicting updates`, options);
    this.name = 'StoreConflictError';
  }
}

/** The server refused a write because the key's revision was not the expected one. */
export function isWrongRevision(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export interface KvStoreOptions {
  /** Values kept per key when open() creates the bucket (at least 5); default 5. An existing bucket is left as it is. */
  history?: number;
  /** Attempts of one compare-and-set update before StoreConflictError; default 1000. */
  maxAttempts?: number;
  /**
   * Copies of the bucket kept by a JetStream cluster (1..5) when open() creates it; default 1. Given for an
   * existing bucket with another count, open() refuses (a fleet asking for R3 must not run on an R1 bucket).
   */
  replicas?: number;
}

/** Tuple order of path components, as FileStore's sorted directory walk yields them. */
function comparePaths(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i]! < b[i]!) return -1;
    if (a[i]! > b[i]!) return 1;
  }
  return a.length - b.length;
}

export class KvStore implements RecordStore {
  /** Warnings from the last reads (unknown keys, bad values), newest last. */
  readonly warnings: RecordWarning[] = [];
  private readonly maxAttempts: number;

  /**
   * A store over an open bucket; `bucket` is its name, used in error messages. With `jsm`, listings read the
   * stream's subjects (see keys()); without, they use kv.keys().
   */
  constructor(
    readonly kv: KV,
    readonly bucket: string,
    opts: KvStoreOptions = {},
    private readonly jsm?: JetStreamManager,
  ) {
    this.maxAttempts = opts.maxAttempts ?? 1000;
    if (!(this.maxAttempts >= 1)) throw new Error(`maxAttempts must be at least 1, not ${opts.maxAttempts}`);
  }

  /** Opens the bucket on `nc`, creating it (with opts.history, default 5, and opts.replicas, default 1) if it does not exist. */
  static async open(nc: NatsConnection, bucket: string, opts: KvStoreOptions = {}): Promise<KvStore> {
    const history = opts.history ?? 5;
    if (!Number.isInteger(history) || history < 5 || history > 64) throw new Error(`history must be an integer 5..64, not ${opts.history}`);
    const replicas = opts.replicas ?? 1;
    // JetStream's own limit: a stream has at most 5 replicas.
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5)
      throw new Error(`replicas must be an integer 1..5, not ${opts.replicas}`);
    const kv = await new Kvm(nc).create(bucket, { history, replicas });
    if (opts.replicas !== undefined) {
      const have = (await kv.status()).replicas;
      if (have !== replicas) {
        throw new Error(`KV bucket ${bucket} exists with ${have} replica${have === 1 ? '' : 's'}, not the ${replicas} asked for`);
      }
    }
    return new KvStore(kv, bucket, opts, await jetstreamManager(nc));
  }

  /** Where a key is, as RecordError and messages name it. */
  where(key: string): string {
    return `nats-kv://${this.bucket}/${key}`;
  }

  private noteWarnings(ws: readonly RecordWarning[]): void {
    this.warnings.push(...ws);
    if (this.warnings.length > 1000) this.warnings.splice(0, this.warnings.length - 1000);
  }

  // ---- low level ----------------------------------------------------------------------------------

  /** The live entry of a key; undefined if it never existed or was deleted. */
  private async entry(key: string): Promise<KvEntry | undefined> {
    const e = await this.kv.get(key);
    return e && e.operation === 'PUT' ? e : undefined;
  }

  private parse(e: KvEntry, schema: Schema): ParsedRecord {
    const parsed = parseRecord(e.string(), { schema, file: this.where(e.key) });
    this.noteWarnings(parsed.warnings);
    return parsed;
  }

  private async read(key: string, schema: Schema): Promise<Rec | undefined> {
    const e = await this.entry(key);
    return e ? this.parse(e, schema).record : undefined;
  }

  /**
   * The live keys matching a filter. kv.keys() makes an ordered consumer, and on a cluster that has just lost
   * a member the server may place that consumer on the lost member, so a listing then times out (seen: one
   * listing in six, for as long as the lost member stayed away). Instead: the stream's subjects under the
   * filter (STREAM.INFO subjects_filter, answered by the stream leader, paged by nats.js), each kept if its
   * last entry is a PUT (a direct get, answered by any replica).
   */
  private async keys(filter: string): Promise<string[]> {
    if (!this.jsm) {
      const out: string[] = [];
      for await (const key of await this.kv.keys(filter)) out.push(key);
      return out;
    }
    const prefix = `$KV.${this.bucket}.`;
    const si = await this.jsm.streams.info(`KV_${this.bucket}`, { subjects_filter: `${prefix}${filter}` });
    const keys = Object.keys(si.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
    const live = await Promise.all(keys.map(async (k) => ((await this.entry(k)) ? k : undefined)));
    return live.filter((k): k is string => k !== undefined);
  }

  /** Keys matching a filter, as decoded path components (keys this store did not write are skipped), sorted. */
  private async paths(filter: string): Promise<string[][]> {
    const out: string[][] = [];
    for (const key of await this.keys(filter)) {
      const p = pathOfKvKey(key);
      if (p) out.push(p);
    }
    return out.sort(comparePaths);
  }

  /**
   * Read-modify-write by revision: read, apply, kv.update(key, text, revision); a wrong-revision answer
   * means someone else wrote in between, so read again and apply again.
   */
  private async casUpdate(key: string, schema: Schema, missing: () => Error, apply: (r: Rec) => Promise<Rec>): Promise<Rec> {
    for (let attempt = 1; ; attempt++) {
      const e = await this.entry(key);
      if (!e) throw missing();
      const next = await apply(this.parse(e, schema).record);
      try {
        await this.kv.update(key, formatRecord(next, schema), e.revision);
        return next;
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
        if (attempt >= this.maxAttempts) throw new StoreConflictError(this.where(key), attempt, { cause: err });
      }
    }
  }

  /** Delete by revision: true if this call removed a live entry, false if there was none. */
  private async casDelete(key: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const e = await this.entry(key);
      if (!e) return false;
      try {
        await this.kv.delete(key, { previousSeq: e.revision });
        return true;
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
        if (attempt >= this.maxAttempts) throw new StoreConflictError(this.where(key), attempt, { cause: err });
      }
    }
  }

  /** Create a key unless it exists (links and markers: their value follows from their name, so an existing one is right). */
  private async createIfAbsent(key: string, value: string): Promise<void> {
    try {
      await this.kv.create(key, value);
    } catch (err) {
      if (!isWrongRevision(err)) throw err;
    }
  }

  // ---- keys ---------------------------------------------------------------------------------------

  /** Key of a node record; throws for names FileStore would refuse as path components. */
  nodeKey(k: NodeKey): string {
    return kvKeyOf('nodes', safeName('target', k.target), safeName('portal', portalDirName(k)), safeName('iface', k.iface));
  }

  private discoveryPath(p: PortalKey): string[] {
    return ['send_targets', safeName('portal', `${p.address},${p.port}`)];
  }

  discoveryKey(p: PortalKey): string {
    return kvKeyOf(...this.discoveryPath(p), 'st_config');
  }

  ifaceKey(name: string): string {
    return kvKeyOf('ifaces', safeName('iface', name));
  }

  private async writeLink(k: NodeKey, link: 'static' | PortalKey | undefined): Promise<void> {
    if (link === 'static') await this.createIfAbsent(kvKeyOf('static', linkName(k)), this.nodeKey(k));
    else if (link) await this.createIfAbsent(kvKeyOf(...this.discoveryPath(link), linkName(k)), this.nodeKey(k));
  }

  // ---- nodes ----------------------------------------------------------------------------------------

  async listNodes(): Promise<NodeKey[]> {
    const out: NodeKey[] = [];
    for (const [, target, portalDir, iface] of await this.paths('nodes.*.*.*')) {
      const portal = parsePortalDir(portalDir!);
      if (!portal || portal.tpgt === undefined || iface!.startsWith('.')) continue;
      out.push({ target: target!, address: portal.address, port: portal.port, tpgt: portal.tpgt, iface: iface! });
    }
    return out;
  }

  async getNode(k: NodeKey): Promise<Rec | undefined> {
    return this.read(this.nodeKey(k), NODE_SCHEMA);
  }

  async putNode(rec: Rec, discovery?: 'static' | PortalKey): Promise<NodeKey> {
    const k = nodeKeyOf(rec);
    const key = this.nodeKey(k);
    if (!k.target || !k.address) throw new Error('node record needs node.name and node.conn[0].address');
    await this.kv.put(key, formatRecord(rec, NODE_SCHEMA));
    await this.writeLink(k, discoveryLinkOf(rec, discovery));
    return k;
  }

  async updateNode(k: NodeKey, fn: RecordUpdate): Promise<Rec> {
    const next = await this.casUpdate(
      this.nodeKey(k),
      NODE_SCHEMA,
      () => new Error(`no node record ${linkName(k)}`),
      async (cur) => {
        const r = (await fn(cur)) ?? cur;
        if (!sameNode(nodeKeyOf(r), k)) throw new Error('update may not change node.name, tpgt, portal or iface');
        return r;
      },
    );
    await this.writeLink(k, discoveryLinkOf(next));
    return next;
  }

  async deleteNode(k: NodeKey): Promise<boolean> {
    const found = await this.casDelete(this.nodeKey(k));
    const name = encodeKeyToken(linkName(k));
    await this.casDelete(`static.${name}`);
    const links: string[] = [];
    links.push(...(await this.keys(`send_targets.*.${name}`)));
    for (const key of links) {
      // The send_targets directory outlives its last link in the file tree; its marker key stands for it.
      await this.createIfAbsent(key.slice(0, key.lastIndexOf('.')), '');
      await this.casDelete(key);
    }
    return found;
  }

  // ---- discovery ------------------------------------------------------------------------------------

  /** Portals with a discovery record, links or a directory marker (as FileStore lists send_targets directories). */
  async listDiscovery(): Promise<PortalKey[]> {
    const seen = new Set<string>();
    for (const [, dir] of await this.paths('send_targets.>')) seen.add(dir!);
    return [...seen].sort().flatMap((d) => parseAddrPort(d) ?? []);
  }

  async getDiscovery(p: PortalKey): Promise<Rec | undefined> {
    return this.read(this.discoveryKey(p), DISCOVERY_SCHEMA);
  }

  async putDiscovery(rec: Rec): Promise<PortalKey> {
    const p = { address: rec.get('discovery.sendtargets.address') ?? '', port: Number(rec.get('discovery.sendtargets.port') ?? 3260) };
    if (!p.address) throw new Error('discovery record needs discovery.sendtargets.address');
    await this.kv.put(this.discoveryKey(p), formatRecord(rec, DISCOVERY_SCHEMA));
    return p;
  }

  async updateDiscovery(p: PortalKey, fn: RecordUpdate): Promise<Rec> {
    return this.casUpdate(
      this.discoveryKey(p),
      DISCOVERY_SCHEMA,
      () => new Error(`no discovery record ${p.address},${p.port}`),
      async (cur) => (await fn(cur)) ?? cur,
    );
  }

  async discoveryNodes(p: PortalKey): Promise<NodeKey[]> {
    return (await this.paths(`${kvKeyOf(...this.discoveryPath(p))}.*`)).flatMap((path) => parseLinkName(path[2]!) ?? []);
  }

  async staticNodes(): Promise<NodeKey[]> {
    return (await this.paths('static.*')).flatMap((path) => parseLinkName(path[1]!) ?? []);
  }

  async deleteDiscovery(p: PortalKey): Promise<boolean> {
    const dir = kvKeyOf(...this.discoveryPath(p));
    const keys: string[] = [];
    keys.push(...(await this.keys(`${dir}.>`)));
    if (await this.entry(dir)) keys.push(dir);
    if (keys.length === 0) return false;
    for (const key of keys) await this.kv.delete(key);
    return true;
  }

  // ---- ifaces ---------------------------------------------------------------------------------------

  async listIfaces(): Promise<string[]> {
    const stored = (await this.paths('ifaces.*')).map((p) => p[1]!).filter((n) => !n.startsWith('.') && !BUILTIN_IFACES.has(n));
    return [...BUILTIN_IFACES.keys(), ...stored];
  }

  async getIface(name: string): Promise<Rec | undefined> {
    const builtin = BUILTIN_IFACES.get(name);
    if (builtin) return new Map(builtin);
    return this.read(this.ifaceKey(name), IFACE_SCHEMA);
  }

  async putIface(rec: Rec): Promise<string> {
    const name = rec.get('iface.iscsi_ifacename') ?? '';
    if (BUILTIN_IFACES.has(name)) throw new Error(`iface "${name}" is built in and cannot be stored`);
    await this.kv.put(this.ifaceKey(name), formatRecord(rec, IFACE_SCHEMA));
    return name;
  }

  async updateIface(name: string, fn: RecordUpdate): Promise<Rec> {
    if (BUILTIN_IFACES.has(name)) throw new Error(`iface "${name}" is built in and cannot be changed`);
    return this.casUpdate(
      this.ifaceKey(name),
      IFACE_SCHEMA,
      () => new Error(`no iface record ${name}`),
      async (cur) => {
        const next = (await fn(cur)) ?? cur;
        if ((next.get('iface.iscsi_ifacename') ?? '') !== name) throw new Error('update may not rename an iface');
        return next;
      },
    );
  }

  async deleteIface(name: string): Promise<boolean> {
    if (BUILTIN_IFACES.has(name)) throw new Error(`iface "${name}" is built in and cannot be deleted`);
    return this.casDelete(this.ifaceKey(name));
  }

  // ---- import ---------------------------------------------------------------------------------------

  /**
   * Import an open-iscsi tree whole, as FileStore.importTree does (the same readTree parses it first, so a
   * corrupt record stops the import naming its file and line before anything is written). Top-level files
   * (iscsid.conf, initiatorname.iscsi) go to single-token keys, byte for byte (readFile).
   */
  async importTree(srcDir: string): Promise<ImportResult> {
    const tree = await readTree(srcDir);
    const res: ImportResult = { nodes: 0, discovery: 0, ifaces: 0, links: 0, files: 0, warnings: tree.warnings };
    for (const r of tree.nodes) {
      await this.kv.put(this.nodeKey(nodeKeyOf(r)), formatRecord(r, NODE_SCHEMA));
      res.nodes++;
    }
    for (const { rec, links } of tree.discoveries) {
      const p = await this.putDiscovery(rec);
      res.discovery++;
      for (const k of links) {
        await this.writeLink(k, p);
        res.links++;
      }
    }
    for (const k of tree.statics) {
      await this.writeLink(k, 'static');
      res.links++;
    }
    for (const r of tree.ifaces) {
      await this.putIface(r);
      res.ifaces++;
    }
    for (const { name, data } of tree.files) {
      await this.kv.put(kvKeyOf(safeName('file', name)), data);
      res.files++;
    }
    this.noteWarnings(res.warnings);
    return res;
  }

  /** A top-level file of an imported tree (initiatorname.iscsi, iscsid.conf), or undefined. */
  async readFile(name: string): Promise<Buffer | undefined> {
    const e = await this.entry(kvKeyOf(safeName('file', name)));
    return e ? Buffer.from(e.value) : undefined;
  }
}
