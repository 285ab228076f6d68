/**
 * open-iscsi's node database on disk (reference/open-iscsi.md "Node database layout"):
 *
 *   nodes/<IQN>/<addr>,<port>,<tpgt>/<iface>           node record file
 *   nodes/<IQN>/<addr>,<port>                          legacy node record file (read; rewritten in the new form)
 *   send_targets/<addr>,<port>/st_config               discovery record
 *   send_targets/<addr>,<port>/<IQN>,<addr>,<port>,<tpgt>,<iface> -> nodes/<IQN>/<addr>,<port>,<tpgt>
 *   static/<IQN>,<addr>,<port>,<tpgt>,<iface>          -> nodes/<IQN>/<addr>,<port>,<tpgt>
 *   ifaces/<name>                                      iface record ("default", "iser" built in, never stored)
 *
 * Writes are atomic (temp file in the same directory, fsync, rename, fsync of the directory); files are
 * 0600, directories 0700. Every change of one record runs under a lock keyed by its absolute path, in this
 * process and between processes (file-lock.ts: a lock file under `<root>/.lock/`, as open-iscsi's idbm_lock),
 * so read-modify-write updates of one record from a daemon and an mpiscsiadm never lose each other's changes.
 * iscsiadm itself takes its own lock (/run/lock/iscsi), not ours.
 *
 * Over 500 lines because every path in the tree is checked the same hostile way (no symlink escapes, no
 * FIFOs, bounded reads, atomic writes) and the node, discovery, static and iface records share those helpers.
 */
import { promises as fsp, constants as fsc } from 'node:fs';
import { join, dirname, basename, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { withFileLock } from './file-lock.js';
import { formatRecord, parseRecord, RecordError, type ParsedRecord, type Rec, type RecordWarning, type Schema } from './record.js';
import { BUILTIN_IFACES, DISCOVERY_SCHEMA, IFACE_SCHEMA, NODE_SCHEMA, nodeKeyOf, type NodeKey } from './node-record.js';
import type { ImportResult, PortalKey, RecordStore, RecordUpdate } from './store.js';
import { nodeLinkProblem, RecordRuleError } from './record-rules.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export type { PortalKey, ImportResult } from './store.js';

/** Keyed async mutex: callers on one key run one at a time, in arrival order. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

const isENOENT = (e: unknown): boolean => (e as NodeJS.ErrnoException)?.code === 'ENOENT';

/** Record files are a few KiB; anything larger is not a record (and is never read whole). */
export const MAX_RECORD_BYTES = 256 * 1024;
/** More unknown keys than this make a record file bad rather than a record with warnings. */
export const MAX_UNKNOWN_KEYS = 1000;

/** A record file that cannot be a record at all (a directory, a FIFO, a symlink, too large): names its path. */
export class BadRecordFileError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'BadRecordFileError';
  }
}

export interface FileStoreOptions {
  /**
   * Called once per bad record file (and reason) that a listing skipped: garbage or truncated text
   * (RecordError with file and line), or a file that is no record (BadRecordFileError). Without it,
   * skipped files are only kept in `problems`.
   */
  onBadRecord?: (path: string, err: Error) => void;
}

/** `<addr>,<port>,<tpgt>` (IPv6 addresses as written: `fe80::1,3260,1`). */
export function portalDirName(k: { address: string; port: number; tpgt: number }): string {
  return `${k.address},${k.port},${k.tpgt}`;
}

/** `<addr>,<port>` (send_targets directory names). */
export function parseAddrPort(name: string): PortalKey | undefined {
  const m = /^(.+),(\d+)$/.exec(name);
  return m ? { address: m[1]!, port: Number(m[2]) } : undefined;
}

export function parsePortalDir(name: string): { address: string; port: number; tpgt?: number } | undefined {
  let m = /^(.+),(\d+),(-?\d+)$/.exec(name);
  if (m) return { address: m[1]!, port: Number(m[2]), tpgt: Number(m[3]) };
  m = /^(.+),(\d+)$/.exec(name);
  if (m) return { address: m[1]!, port: Number(m[2]) };
  return undefined;
}

/** `<IQN>,<addr>,<port>,<tpgt>,<iface>`: the name of send_targets/ and static/ links. */
export function linkName(k: NodeKey): string {
  return `${k.target},${k.address},${k.port},${k.tpgt},${k.iface}`;
}

export function parseLinkName(name: string): NodeKey | undefined {
  const m = /^([^,]+),(.+),(\d+),(-?\d+),([^,]+)$/.exec(name);
  if (!m) return undefined;
  return { target: m[1]!, address: m[2]!, port: Number(m[3]), tpgt: Number(m[4]), iface: m[5]! };
}

export const sameNode = (a: NodeKey, b: NodeKey): boolean =>
  a.target === b.target && a.address === b.address && a.port === b.port && a.tpgt === b.tpgt && a.iface === b.iface;

/** A path component must not escape its directory (KvStore applies the same rule to its key tokens). */
export function safeName(what: string, name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new Error(`invalid ${what} "${name}"`);
  }
  return name;
}

export async function readDirNames(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir)).sort();
  } catch (e) {
    if (isENOENT(e)) return [];
    throw e;
  }
}

/** Where a node record is linked from: `discovery` if given, else what node.discovery_type says. */
export function discoveryLinkOf(rec: Rec, discovery?: 'static' | PortalKey): 'static' | PortalKey | undefined {
  if (discovery) return discovery;
  const type = rec.get('node.discovery_type');
  const daddr = rec.get('node.discovery_address');
  const dport = Number(rec.get('node.discovery_port') ?? 0);
  if (type === 'send_targets' && daddr) return { address: daddr, port: dport || 3260 };
  return type === 'static' ? 'static' : undefined;
}

/** One lock table per process, keyed by absolute record path: FileStores on one root share it. */
const PROCESS_LOCKS = new KeyedMutex();

export class FileStore implements RecordStore {
  private readonly locks = PROCESS_LOCKS;

  /**
   * Runs a read-modify-write of the record at `path` alone: one caller at a time in this process (the mutex),
   * then one process at a time (a lock file under <root>/.lock, as iscsiadm and iscsid share idbm_lock).
   */
  private exclusive<T>(path: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(path, () => withFileLock(join(this.root, '.lock'), path, fn));
  }
  readonly root: string;
  /** Warnings from the last reads (unknown keys, bad values), newest last. */
  readonly warnings: RecordWarning[] = [];

  /** Bad record files listings skipped, each once, oldest first. */
  readonly problems: { path: string; error: Error }[] = [];
  private readonly reported = new Set<string>();

  constructor(
    root: string,
    private readonly opts: FileStoreOptions = {},
  ) {
    this.root = resolve(root);
  }

  private noteWarnings(ws: readonly RecordWarning[]): void {
    // No push(...ws): a spread of 100k warnings overflows the stack.
    for (const w of ws.length > 1000 ? ws.slice(-1000) : ws) this.warnings.push(w);
    if (this.warnings.length > 1000) this.warnings.splice(0, this.warnings.length - 1000);
  }

  /** A listing skips `path`: reported once per path and reason. */
  private skip(path: string, error: Error): void {
    const id = `${path}\0${error.message}`;
    if (this.reported.has(id)) return;
    this.reported.add(id);
    this.problems.push({ path, error });
    this.opts.onBadRecord?.(path, error);
  }

  // ---- low level ----------------------------------------------------------------------------------

  private async mkdirs(dir: string): Promise<void> {
    await fsp.mkdir(dir, { recursive: true, mode: DIR_MODE });
  }

  /** Temp file in the same directory, fsync, rename over the target, fsync the directory. */
  async writeAtomic(path: string, text: string | Buffer): Promise<void> {
    const dir = dirname(path);
    await this.mkdirs(dir);
    const tmp = join(dir, `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
    const fh = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, FILE_MODE);
    try {
      await fh.writeFile(text);
      await fh.chmod(FILE_MODE);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await fsp.rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    try {
      await fsp.rename(tmp, path);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
    const dh = await fsp.open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  /**
   * The text of the record file at `path`, or undefined if there is none. Never follows a symlink (O_NOFOLLOW
   * on the file, and the directory it is in must resolve inside the root), never blocks on a FIFO
   * (O_NONBLOCK, then only regular files are read), never reads more than MAX_RECORD_BYTES.
   */
  private async readRecordText(path: string): Promise<string | undefined> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (e) {
      if (isENOENT(e)) return undefined;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new BadRecordFileError(path, 'is a symbolic link; record files are never followed');
      throw new BadRecordFileError(path, `cannot be read: ${(e as Error).message}`);
    }
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new BadRecordFileError(path, 'is a directory, not a record file');
      if (!st.isFile()) throw new BadRecordFileError(path, 'is not a regular file (a FIFO, socket or device)');
      if (st.size > MAX_RECORD_BYTES)
        throw new BadRecordFileError(path, `is ${st.size} bytes; a record file is at most ${MAX_RECORD_BYTES}`);
      const [realRoot, realDir] = await Promise.all([fsp.realpath(this.root), fsp.realpath(dirname(path))]);
      if (realDir !== realRoot && !realDir.startsWith(`${realRoot}/`)) {
        throw new BadRecordFileError(path, `resolves outside the record store (${realDir}); not followed`);
      }
      const buf = Buffer.alloc(MAX_RECORD_BYTES + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n > MAX_RECORD_BYTES)
          throw new BadRecordFileError(path, `is more than ${MAX_RECORD_BYTES} bytes; a record file is not that large`);
      }
      return buf.subarray(0, n).toString('utf8');
    } finally {
      await fh.close();
    }
  }

  private async readParsed(path: string, schema: Schema): Promise<ParsedRecord | undefined> {
    const text = await this.readRecordText(path);
    if (text === undefined) return undefined;
    const parsed = parseRecord(text, { schema, file: path });
    let unknown = 0;
    for (const w of parsed.warnings) {
      if (w.message.startsWith('unknown key') && ++unknown > MAX_UNKNOWN_KEYS) {
        throw new RecordError(path, w.line, `more than ${MAX_UNKNOWN_KEYS} unknown keys; not a record`);
      }
    }
    this.noteWarnings(parsed.warnings);
    return parsed;
  }

  /** The record at `path` if it reads and parses; else the file is reported (once) and skipped. */
  private async readOrSkip(path: string, schema: Schema): Promise<ParsedRecord | undefined> {
    try {
      return await this.readParsed(path, schema);
    } catch (e) {
      if (!(e instanceof RecordError || e instanceof BadRecordFileError)) throw e;
      this.skip(path, e);
      return undefined;
    }
  }

  private async symlink(target: string, path: string): Promise<void> {
    // Made under a temporary name and renamed over the old link: replacing is atomic.
    await this.mkdirs(dirname(path));
    // A short temporary name: a link name near NAME_MAX must not fail for the temporary one.
    const tmp = join(dirname(path), `.link.tmp-${randomBytes(6).toString('hex')}`);
    await fsp.symlink(target, tmp);
    try {
      await fsp.rename(tmp, path);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  private async rmdirIfEmpty(dir: string): Promise<void> {
    try {
      await fsp.rmdir(dir);
    } catch {
      /* not empty or gone */
    }
  }

  // ---- paths ----------------------------------------------------------------------------------------

  nodePortalDir(k: NodeKey): string {
    return join(this.root, 'nodes', safeName('target', k.target), safeName('portal', portalDirName(k)));
  }

  nodePath(k: NodeKey): string {
    return join(this.nodePortalDir(k), safeName('iface', k.iface));
  }

  legacyNodePath(k: { target: string; address: string; port: number }): string {
    return join(this.root, 'nodes', safeName('target', k.target), safeName('portal', `${k.address},${k.port}`));
  }

  discoveryDir(p: PortalKey): string {
    return join(this.root, 'send_targets', safeName('portal', `${p.address},${p.port}`));
  }

  ifacePath(name: string): string {
    return join(this.root, 'ifaces', safeName('iface', name));
  }

  // ---- nodes ----------------------------------------------------------------------------------------

  /**
   * All node records: new layout, plus legacy files whose record is not also in the new layout. Every record
   * file is read: one that is garbage, truncated, a directory, a symlink, a FIFO or too large is skipped and
   * reported once (onBadRecord, problems), so one bad file never hides the good ones.
   */
  async listNodes(): Promise<NodeKey[]> {
    const out: NodeKey[] = [];
    const nodesDir = join(this.root, 'nodes');
    for (const target of await readDirNames(nodesDir)) {
      const tdir = join(nodesDir, target);
      const tst = await fsp.lstat(tdir).catch(() => undefined);
      if (!tst) continue;
      if (!tst.isDirectory()) {
        this.skip(
          tdir,
          new BadRecordFileError(tdir, tst.isSymbolicLink() ? 'is a symbolic link; not followed' : 'is not a target directory'),
        );
        continue;
      }
      for (const entry of await readDirNames(tdir)) {
        const p = join(tdir, entry);
        const st = await fsp.lstat(p).catch(() => undefined);
        if (!st) continue;
        const portal = parsePortalDir(entry);
        if (!portal) continue;
        if (st.isDirectory()) {
          if (portal.tpgt === undefined) continue;
          for (const iface of await readDirNames(p)) {
            if (iface.startsWith('.')) continue;
            if (!(await this.readOrSkip(join(p, iface), NODE_SCHEMA))) continue;
            out.push({ target, address: portal.address, port: portal.port, tpgt: portal.tpgt, iface });
          }
        } else if (st.isSymbolicLink()) {
          this.skip(p, new BadRecordFileError(p, 'is a symbolic link; not followed'));
        } else if (st.isFile() && portal.tpgt === undefined) {
          // Legacy file without tpgt: identity comes from its contents.
          const parsed = await this.readOrSkip(p, NODE_SCHEMA);
          if (!parsed) continue;
          const k = { ...nodeKeyOf(parsed.record), target, address: portal.address, port: portal.port };
          if (!out.some((o) => sameNode(o, k))) out.push(k);
        }
      }
    }
    return out;
  }

  /** A node record, from the new layout or else the legacy file. */
  async getNode(k: NodeKey): Promise<Rec | undefined> {
    const parsed = await this.readParsed(this.nodePath(k), NODE_SCHEMA);
    if (parsed) return parsed.record;
    const legacy = await this.readParsed(this.legacyNodePath(k), NODE_SCHEMA);
    if (legacy && sameNode({ ...nodeKeyOf(legacy.record), target: k.target, address: k.address, port: k.port }, k)) {
      return legacy.record;
    }
    return undefined;
  }

  private async writeNodeUnlocked(rec: Rec, discovery?: 'static' | PortalKey): Promise<NodeKey> {
    const k = nodeKeyOf(rec);
    if (!k.target || !k.address) throw new Error('node record needs node.name and node.conn[0].address');
    // Refused before anything is written: the discovery link carries the whole key in one file name.
    const tooLong = nodeLinkProblem(k);
    if (tooLong) throw new RecordRuleError('node.name', k.target, tooLong);
    await this.writeAtomic(this.nodePath(k), formatRecord(rec, NODE_SCHEMA));
    // Written in the new form: a legacy file for this portal is replaced.
    await fsp.rm(this.legacyNodePath(k), { force: true }).catch(() => undefined);
    const link = discoveryLinkOf(rec, discovery);
    if (link === 'static') {
      await this.symlink(this.nodePortalDir(k), join(this.root, 'static', linkName(k)));
    } else if (link) {
      await this.symlink(this.nodePortalDir(k), join(this.discoveryDir(link), linkName(k)));
    }
    return k;
  }

  /**
   * Write a node record (new layout) and its discovery link: send_targets/ when node.discovery_type is
   * send_targets with a discovery address, static/ when static, or as `discovery` says.
   */
  async putNode(rec: Rec, discovery?: 'static' | PortalKey): Promise<NodeKey> {
    const k = nodeKeyOf(rec);
    return this.exclusive(this.nodePath(k), () => this.writeNodeUnlocked(rec, discovery));
  }

  /**
   * Read-modify-write of one node record under its lock. `fn` gets the current record (a copy) and
   * returns the new one or mutates it in place. The node's identity keys must not change.
   */
  async updateNode(k: NodeKey, fn: RecordUpdate): Promise<Rec> {
    return this.exclusive(this.nodePath(k), async () => {
      const cur = await this.getNode(k);
      if (!cur) throw new Error(`no node record ${linkName(k)}`);
      const next = (await fn(cur)) ?? cur;
      if (!sameNode(nodeKeyOf(next), k)) throw new Error('update may not change node.name, tpgt, portal or iface');
      await this.writeNodeUnlocked(next);
      return next;
    });
  }

  async deleteNode(k: NodeKey): Promise<boolean> {
    return this.exclusive(this.nodePath(k), async () => {
      let found = false;
      for (const p of [this.nodePath(k), this.legacyNodePath(k)]) {
        try {
          const st = await fsp.lstat(p);
          if (p === this.legacyNodePath(k) && !st.isFile()) continue;
          await fsp.rm(p);
          found = true;
        } catch (e) {
          if (!isENOENT(e)) throw e;
        }
      }
      await this.rmdirIfEmpty(this.nodePortalDir(k));
      await this.rmdirIfEmpty(dirname(this.nodePortalDir(k)));
      const name = linkName(k);
      await fsp.rm(join(this.root, 'static', name), { force: true });
      for (const d of await readDirNames(join(this.root, 'send_targets'))) {
        await fsp.rm(join(this.root, 'send_targets', d, name), { force: true });
      }
      return found;
    });
  }

  // ---- discovery ------------------------------------------------------------------------------------

  async listDiscovery(): Promise<PortalKey[]> {
    const out: PortalKey[] = [];
    for (const d of await readDirNames(join(this.root, 'send_targets'))) {
      const p = parseAddrPort(d);
      if (p) out.push(p);
    }
    return out;
  }

  async getDiscovery(p: PortalKey): Promise<Rec | undefined> {
    return (await this.readParsed(join(this.discoveryDir(p), 'st_config'), DISCOVERY_SCHEMA))?.record;
  }

  async putDiscovery(rec: Rec): Promise<PortalKey> {
    const p = { address: rec.get('discovery.sendtargets.address') ?? '', port: Number(rec.get('discovery.sendtargets.port') ?? 3260) };
    if (!p.address) throw new Error('discovery record needs discovery.sendtargets.address');
    const path = join(this.discoveryDir(p), 'st_config');
    await this.exclusive(path, () => this.writeAtomic(path, formatRecord(rec, DISCOVERY_SCHEMA)));
    return p;
  }

  async updateDiscovery(p: PortalKey, fn: RecordUpdate): Promise<Rec> {
    const path = join(this.discoveryDir(p), 'st_config');
    return this.exclusive(path, async () => {
      const cur = await this.getDiscovery(p);
      if (!cur) throw new Error(`no discovery record ${p.address},${p.port}`);
      const next = (await fn(cur)) ?? cur;
      await this.writeAtomic(path, formatRecord(next, DISCOVERY_SCHEMA));
      return next;
    });
  }

  /** Node records linked from a discovery portal. */
  async discoveryNodes(p: PortalKey): Promise<NodeKey[]> {
    return (await readDirNames(this.discoveryDir(p))).flatMap((n) => parseLinkName(n) ?? []);
  }

  async staticNodes(): Promise<NodeKey[]> {
    return (await readDirNames(join(this.root, 'static'))).flatMap((n) => parseLinkName(n) ?? []);
  }

  /** Removes st_config and the links; node records themselves stay (iscsiadm deletes them separately). */
  async deleteDiscovery(p: PortalKey): Promise<boolean> {
    const dir = this.discoveryDir(p);
    return this.exclusive(join(dir, 'st_config'), async () => {
      try {
        await fsp.lstat(dir);
      } catch (e) {
        if (isENOENT(e)) return false;
        throw e;
      }
      await fsp.rm(dir, { recursive: true, force: true });
      return true;
    });
  }

  // ---- ifaces ---------------------------------------------------------------------------------------

  /** Stored iface names plus the built-in "default" and "iser". */
  async listIfaces(): Promise<string[]> {
    const stored = (await readDirNames(join(this.root, 'ifaces'))).filter((n) => !n.startsWith('.') && !BUILTIN_IFACES.has(n));
    return [...BUILTIN_IFACES.keys(), ...stored];
  }

  async getIface(name: string): Promise<Rec | undefined> {
    const builtin = BUILTIN_IFACES.get(name);
    if (builtin) return new Map(builtin);
    return (await this.readParsed(this.ifacePath(name), IFACE_SCHEMA))?.record;
  }

  async putIface(rec: Rec): Promise<string> {
    const name = rec.get('iface.iscsi_ifacename') ?? '';
    if (BUILTIN_IFACES.has(name)) throw new Error(`iface "${name}" is built in and cannot be stored`);
    const path = this.ifacePath(name);
    await this.exclusive(path, () => this.writeAtomic(path, formatRecord(rec, IFACE_SCHEMA)));
    return name;
  }

  async updateIface(name: string, fn: RecordUpdate): Promise<Rec> {
    if (BUILTIN_IFACES.has(name)) throw new Error(`iface "${name}" is built in and cannot be changed`);
    const path = this.ifacePath(name);
    return this.exclusive(path, async () => {
      const cur = await this.getIface(name);
      if (!cur) throw new Error(`no iface record ${name}`);
      const next = (await fn(cur)) ?? cur;
      if ((next.get('iface.iscsi_ifacename') ?? '') !== name) throw new Error('update may not rename an iface');
      await this.writeAtomic(path, formatRecord(next, IFACE_SCHEMA));
      return next;
    });
  }

  async deleteIface(name: string): Promise<boolean> {
    if (BUILTIN_IFACES.has(name)) throw new Error(`iface "${name}" is built in and cannot be deleted`);
    const path = this.ifacePath(name);
    return this.exclusive(path, async () => {
      try {
        await fsp.rm(path);
        return true;
      } catch (e) {
        if (isENOENT(e)) return false;
        throw e;
      }
    });
  }

  // ---- import ---------------------------------------------------------------------------------------

  /**
   * Import an open-iscsi tree (/etc/iscsi or /var/lib/iscsi layout) whole: every node record (legacy
   * files rewritten in the new layout), discovery record, iface record and send_targets/static link,
   * and top-level regular files (iscsid.conf, initiatorname.iscsi) byte for byte. Records are parsed
   * first (readTree), so a corrupt one stops the import with a RecordError naming its file and line
   * before anything is written.
   */
  async importTree(srcDir: string): Promise<ImportResult> {
    const tree = await readTree(srcDir);
    const res: ImportResult = { nodes: 0, discovery: 0, ifaces: 0, links: 0, files: 0, warnings: tree.warnings };
    for (const r of tree.nodes) {
      const k = nodeKeyOf(r);
      await this.exclusive(this.nodePath(k), async () => {
        await this.writeAtomic(this.nodePath(k), formatRecord(r, NODE_SCHEMA));
      });
      res.nodes++;
    }
    for (const { rec, links } of tree.discoveries) {
      const p = await this.putDiscovery(rec);
      res.discovery++;
      for (const k of links) {
        await this.symlink(this.nodePortalDir(k), join(this.discoveryDir(p), linkName(k)));
        res.links++;
      }
    }
    for (const k of tree.statics) {
      await this.symlink(this.nodePortalDir(k), join(this.root, 'static', linkName(k)));
      res.links++;
    }
    for (const r of tree.ifaces) {
      await this.putIface(r);
      res.ifaces++;
    }
    for (const { name, data } of tree.files) {
      await this.writeAtomic(join(this.root, safeName('file', name)), data);
      res.files++;
    }
    this.noteWarnings(res.warnings);
    return res;
  }
}

/** Everything in an open-iscsi tree, parsed: what importTree writes into a store. */
export interface OpenIscsiTree {
  /** Node records; identity keys set from their paths, legacy records only where no new-layout one exists. */
  nodes: Rec[];
  /** Discovery records (a default one for a send_targets directory without st_config) and their links. */
  discoveries: { rec: Rec; links: NodeKey[] }[];
  statics: NodeKey[];
  /** Stored iface records (built-in names skipped). */
  ifaces: Rec[];
  /** Top-level regular files (iscsid.conf, initiatorname.iscsi), byte for byte. */
  files: { name: string; data: Buffer }[];
  warnings: RecordWarning[];
}

/**
 * Read and parse a whole open-iscsi tree without writing anything: a corrupt record, or a value its key's
 * setting refuses, is a RecordError naming its file and line.
 */
export async function readTree(srcDir: string): Promise<OpenIscsiTree> {
  const warnings: RecordWarning[] = [];
  const read = async (path: string, schema: Schema): Promise<Rec> => {
    // Strict: a value its setting refuses (a timer a login would refuse) stops the import at its file and line.
    const parsed = parseRecord(await fsp.readFile(path, 'utf8'), { schema, file: path, strict: true });
    warnings.push(...parsed.warnings);
    return parsed.record;
  };

  const nodes: Rec[] = [];
  const nodesDir = join(srcDir, 'nodes');
  for (const target of await readDirNames(nodesDir)) {
    const tdir = join(nodesDir, target);
    const legacy: Rec[] = [];
    const modern: Rec[] = [];
    for (const entry of await readDirNames(tdir)) {
      const p = join(tdir, entry);
      const portal = parsePortalDir(entry);
      const st = await fsp.lstat(p);
      if (!portal) continue;
      if (st.isDirectory() && portal.tpgt !== undefined) {
        for (const iface of await readDirNames(p)) {
          const fp = join(p, iface);
          if (iface.startsWith('.') || !(await fsp.lstat(fp)).isFile()) continue;
          const r = await read(fp, NODE_SCHEMA);
          // The path is the record's identity, as in iscsiadm.
          r.set('node.name', target);
          r.set('node.conn[0].address', portal.address);
          r.set('node.conn[0].port', String(portal.port));
          r.set('node.tpgt', String(portal.tpgt));
          r.set('iface.iscsi_ifacename', iface);
          modern.push(r);
        }
      } else if (st.isFile() && portal.tpgt === undefined) {
        const r = await read(p, NODE_SCHEMA);
        r.set('node.name', target);
        r.set('node.conn[0].address', portal.address);
        r.set('node.conn[0].port', String(portal.port));
        legacy.push(r);
      }
    }
    nodes.push(...modern);
    for (const r of legacy) if (!modern.some((m) => sameNode(nodeKeyOf(m), nodeKeyOf(r)))) nodes.push(r);
  }

  const discoveries: { rec: Rec; links: NodeKey[] }[] = [];
  const stDir = join(srcDir, 'send_targets');
  for (const d of await readDirNames(stDir)) {
    const dir = join(stDir, d);
    if (!(await fsp.lstat(dir)).isDirectory()) continue;
    const names = await readDirNames(dir);
    const links = names.flatMap((n) => parseLinkName(n) ?? []);
    if (names.includes('st_config')) discoveries.push({ rec: await read(join(dir, 'st_config'), DISCOVERY_SCHEMA), links });
    else {
      const p = parseAddrPort(d);
      if (p) {
        const rec = new Map([
          ['discovery.sendtargets.address', p.address],
          ['discovery.sendtargets.port', String(p.port)],
        ]);
        discoveries.push({ rec, links });
      }
    }
  }
  const statics = (await readDirNames(join(srcDir, 'static'))).flatMap((n) => parseLinkName(n) ?? []);

  const ifaces: Rec[] = [];
  for (const name of await readDirNames(join(srcDir, 'ifaces'))) {
    if (name.startsWith('.') || BUILTIN_IFACES.has(name)) continue;
    const p = join(srcDir, 'ifaces', name);
    if (!(await fsp.lstat(p)).isFile()) continue;
    const r = await read(p, IFACE_SCHEMA);
    r.set('iface.iscsi_ifacename', name);
    ifaces.push(r);
  }

  const files: { name: string; data: Buffer }[] = [];
  for (const name of await readDirNames(srcDir)) {
    if (name.startsWith('.')) continue;
    if ((await fsp.lstat(join(srcDir, name))).isFile()) files.push({ name, data: await fsp.readFile(join(srcDir, name)) });
  }
  return { nodes, discoveries, statics, ifaces, files, warnings };
}

export { RecordError };
