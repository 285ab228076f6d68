/**
 * KvStore against a real nats-server with JetStream: one behaviour suite run on FileStore and KvStore,
 * a differential run comparing their answers, two daemons sharing a bucket, compare-and-set under forced
 * contention (with a mutation check that a revision-blind put loses updates), corrupt values, importTree,
 * openStore, and fast-check round trips of the key encoding.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import { NatsServer } from '../support/nats-server.js';
import { FileStore } from '../../src/db/file-store.js';
import { KvStore, decodeKeyToken, encodeKeyToken, kvKeyOf, pathOfKvKey, StoreConflictError } from '../../src/db/kv-store.js';
import { openStore, parseNatsKvSpec } from '../../src/db/open-store.js';
import type { RecordStore } from '../../src/db/store.js';
import { RecordError, formatRecord, parseRecord, type Rec } from '../../src/db/record.js';
import {
  DISCOVERY_SCHEMA,
  IFACE_SCHEMA,
  NODE_SCHEMA,
  defaultDiscoveryRecord,
  defaultIfaceRecord,
  defaultNodeRecord,
  nodeKeyOf,
  type NodeKey,
} from '../../src/db/node-record.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const IQN = 'iqn.2026-11.test:disk0';
const LEGACY_IQN = 'iqn.2009-01.old:lun1';

let server: NatsServer;
let nc1: NatsConnection;
let nc2: NatsConnection;
let tmp: string;
let bucketSeq = 0;
const newBucket = (): string => `recs-${process.pid}-${++bucketSeq}`;

beforeAll(async () => {
  server = await NatsServer.start();
  nc1 = await connect({ servers: server.url });
  nc2 = await connect({ servers: server.url });
  tmp = mkdtempSync(join(tmpdir(), 'mpiscsi-kv-'));
});
afterAll(async () => {
  await nc1?.close();
  await nc2?.close();
  await server?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface Flavour {
  name: string;
  make(): Promise<RecordStore>;
}
let dirSeq = 0;
const FLAVOURS: Flavour[] = [
  { name: 'FileStore', make: async () => new FileStore(join(tmp, `db-${++dirSeq}`)) },
  { name: 'KvStore', make: () => KvStore.open(nc1, newBucket()) },
];

const sendTargetsNode = (target: string, address: string, tpgt = 1, iface = 'default', daddr = address): Rec => {
  const rec = defaultNodeRecord(target, { address, port: 3260, tpgt }, iface);
  rec.set('node.discovery_type', 'send_targets');
  rec.set('node.discovery_address', daddr);
  rec.set('node.discovery_port', '3260');
  return rec;
};

/** An /etc/iscsi-shaped tree from the fixtures: new-layout and legacy nodes, discovery, static, iface, conf file. */
function makeTree(src: string): void {
  const st = join(src, 'send_targets', '127.0.0.1,3260');
  mkdirSync(join(src, 'nodes', IQN, '127.0.0.1,3260,1'), { recursive: true });
  writeFileSync(join(src, 'nodes', IQN, '127.0.0.1,3260,1', 'default'), fixture('node-chap.record'));
  mkdirSync(join(src, 'nodes', LEGACY_IQN), { recursive: true });
  writeFileSync(
    join(src, 'nodes', LEGACY_IQN, '10.1.1.1,3260'),
    '# BEGIN RECORD 2.0-871\nnode.name = iqn.2009-01.old:lun1\nnode.tpgt = 2\nnode.startup = manual\n' +
      'iface.iscsi_ifacename = default\nnode.discovery_type = static\nnode.session.auth.password_length = 0\n' +
      'node.session.vendor_thing = keep me\nnode.conn[0].address = 10.1.1.1\nnode.conn[0].port = 3260\n# END RECORD\n',
  );
  mkdirSync(st, { recursive: true });
  writeFileSync(join(st, 'st_config'), fixture('st_config.record'));
  symlinkSync(join(src, 'nodes', IQN, '127.0.0.1,3260,1'), join(st, `${IQN},127.0.0.1,3260,1,default`));
  mkdirSync(join(src, 'static'));
  symlinkSync(join(src, 'nodes', LEGACY_IQN), join(src, 'static', `${LEGACY_IQN},10.1.1.1,3260,2,default`));
  mkdirSync(join(src, 'ifaces'));
  writeFileSync(join(src, 'ifaces', 'iface0'), fixture('iface0.record'));
  writeFileSync(join(src, 'initiatorname.iscsi'), 'InitiatorName=iqn.2026-11.test:host\n');
}

/** Resolves once `n` callers have arrived: forces every concurrent update to read before any writes. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return () => {
    if (++arrived === n) open();
    return opened;
  };
}

describe.each(FLAVOURS)('$name behaviour (RecordStore)', ({ make }) => {
  it('puts, gets, lists, updates and deletes nodes; IPv6 portals and IQNs with ":" round-trip', async () => {
    const store = await make();
    const rec = defaultNodeRecord(IQN, { address: 'fe80::1', port: 3260, tpgt: 1 }, 'iface0');
    rec.set('node.session.auth.password', 'pw');
    rec.set('x.vendor.key', 'kept');
    const k = await store.putNode(rec, 'static');
    expect(k).toEqual({ target: IQN, address: 'fe80::1', port: 3260, tpgt: 1, iface: 'iface0' });
    expect([...(await store.getNode(k))!]).toEqual([...rec]);
    expect(await store.listNodes()).toEqual([k]);
    expect(await store.staticNodes()).toEqual([k]);
    const after = await store.updateNode(k, (r) => void r.set('node.startup', 'automatic'));
    expect(after.get('node.startup')).toBe('automatic');
    expect((await store.getNode(k))!.get('node.startup')).toBe('automatic');
    expect(await store.deleteNode(k)).toBe(true);
    expect(await store.deleteNode(k)).toBe(false);
    expect(await store.getNode(k)).toBeUndefined();
    expect(await store.listNodes()).toEqual([]);
    expect(await store.staticNodes()).toEqual([]);
  });

  it('lists nodes in the file tree order whatever the write order', async () => {
    const store = await make();
    const keys: NodeKey[] = [];
    for (const target of ['iqn.2026-01.b:x', 'iqn.2026-01.a:y', 'iqn.2026-01.a:Z']) {
      for (const address of ['::1', '10.0.0.2', '10.0.0.10']) {
        for (const iface of ['iface1', 'default']) keys.push(nodeKeyOf(defaultNodeRecord(target, { address, port: 3260, tpgt: 1 }, iface)));
      }
    }
    const shuffled = [...keys].sort(() => 0.5 - Math.random());
    for (const k of shuffled) await store.putNode(defaultNodeRecord(k.target, k, k.iface));
    const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const expected = [...keys].sort(
      (a, b) =>
        cmp(a.target, b.target) || cmp(`${a.address},${a.port},${a.tpgt}`, `${b.address},${b.port},${b.tpgt}`) || cmp(a.iface, b.iface),
    );
    expect(await store.listNodes()).toEqual(expected);
  });

  it('send_targets discovery records link their nodes; deleting the discovery record keeps the nodes', async () => {
    const store = await make();
    const drec = defaultDiscoveryRecord('fd00::5');
    const p = await store.putDiscovery(drec);
    expect(p).toEqual({ address: 'fd00::5', port: 3260 });
    expect([...(await store.getDiscovery(p))!]).toEqual([...drec]);
    const k1 = await store.putNode(sendTargetsNode(IQN, 'fd00::5'));
    const k2 = await store.putNode(sendTargetsNode('iqn.2026-11.test:disk1', 'fd00::6', 2, 'default', 'fd00::5'));
    expect(await store.listDiscovery()).toEqual([p]);
    expect(await store.discoveryNodes(p)).toEqual([k1, k2]);
    await store.updateDiscovery(p, (r) => void r.set('discovery.sendtargets.auth.authmethod', 'CHAP'));
    expect((await store.getDiscovery(p))!.get('discovery.sendtargets.auth.authmethod')).toBe('CHAP');
    // Deleting a node removes its link.
    expect(await store.deleteNode(k2)).toBe(true);
    expect(await store.discoveryNodes(p)).toEqual([k1]);
    expect(await store.deleteDiscovery(p)).toBe(true);
    expect(await store.deleteDiscovery(p)).toBe(false);
    expect(await store.getDiscovery(p)).toBeUndefined();
    expect(await store.listDiscovery()).toEqual([]);
    expect(await store.discoveryNodes(p)).toEqual([]);
    expect(await store.getNode(k1)).toBeDefined();
  });

  it('a send_targets portal stays listed after its last link goes, until deleteDiscovery', async () => {
    const store = await make();
    const p = { address: '192.0.2.9', port: 3260 };
    const k = await store.putNode(defaultNodeRecord(IQN, { address: '192.0.2.9', port: 3260, tpgt: 1 }), p);
    expect(await store.listDiscovery()).toEqual([p]);
    expect(await store.getDiscovery(p)).toBeUndefined();
    expect(await store.deleteNode(k)).toBe(true);
    expect(await store.discoveryNodes(p)).toEqual([]);
    expect(await store.listDiscovery()).toEqual([p]);
    expect(await store.deleteDiscovery(p)).toBe(true);
    expect(await store.listDiscovery()).toEqual([]);
    expect(await store.deleteDiscovery(p)).toBe(false);
  });

  it('an update writes the link its record now asks for', async () => {
    const store = await make();
    const rec = defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 });
    rec.set('node.discovery_type', 'isns');
    const k = await store.putNode(rec);
    expect(await store.staticNodes()).toEqual([]);
    await store.updateNode(k, (r) => void r.set('node.discovery_type', 'static'));
    expect(await store.staticNodes()).toEqual([k]);
  });

  it('refuses what FileStore refuses, with the same messages', async () => {
    const store = await make();
    const k = await store.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    await expect(store.updateNode(k, (r) => void r.set('node.tpgt', '2'))).rejects.toThrow(
      'update may not change node.name, tpgt, portal or iface',
    );
    const missing = { ...k, tpgt: 9 };
    await expect(store.updateNode(missing, () => {})).rejects.toThrow(`no node record ${IQN},127.0.0.1,3260,9,default`);
    await expect(store.updateDiscovery({ address: '::1', port: 3260 }, () => {})).rejects.toThrow('no discovery record ::1,3260');
    expect(() => defaultNodeRecord('..', { address: '127.0.0.1', port: 3260, tpgt: 1 })).toThrow(
      'node.name = "..": does not start with iqn., eui. or naa.',
    );
    const traversal = defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 });
    traversal.set('node.name', '..');
    await expect(store.putNode(traversal)).rejects.toThrow('invalid target ".."');
    const noAddress = defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 });
    noAddress.delete('node.conn[0].address');
    await expect(store.putNode(noAddress)).rejects.toThrow(/needs node.name/);
    expect(() => defaultIfaceRecord('a/b')).toThrow('iface.iscsi_ifacename = "a/b": may hold only');
    const slashed = defaultIfaceRecord('ok');
    slashed.set('iface.iscsi_ifacename', 'a/b');
    await expect(store.putIface(slashed)).rejects.toThrow('invalid iface "a/b"');
    await expect(store.getIface('')).rejects.toThrow('invalid iface ""');
    await expect(store.putDiscovery(new Map())).rejects.toThrow(/needs discovery.sendtargets.address/);
  });

  it('ifaces: built-in default and iser are listed and never stored; others put, update, delete', async () => {
    const store = await make();
    expect(await store.listIfaces()).toEqual(['default', 'iser']);
    expect((await store.getIface('iser'))!.get('iface.transport_name')).toBe('iser');
    await expect(store.putIface(defaultIfaceRecord('default'))).rejects.toThrow(/built in/);
    await expect(store.updateIface('iser', () => {})).rejects.toThrow(/built in/);
    await expect(store.deleteIface('default')).rejects.toThrow(/built in/);
    expect(await store.getIface('iface0')).toBeUndefined();
    const rec = defaultIfaceRecord('iface0');
    rec.set('iface.net_ifacename', 'eth1');
    rec.set('iface.ipaddress', '192.0.2.10');
    expect(await store.putIface(rec)).toBe('iface0');
    expect(formatRecord((await store.getIface('iface0'))!, IFACE_SCHEMA)).toBe(fixture('iface0.record'));
    await store.putIface(defaultIfaceRecord('a.b:c'));
    expect(await store.listIfaces()).toEqual(['default', 'iser', 'a.b:c', 'iface0']);
    await store.updateIface('iface0', (r) => void r.set('iface.mtu', '9000'));
    expect((await store.getIface('iface0'))!.get('iface.mtu')).toBe('9000');
    await expect(store.updateIface('iface0', (r) => void r.set('iface.iscsi_ifacename', 'x'))).rejects.toThrow(
      'update may not rename an iface',
    );
    await expect(store.updateIface('nope', () => {})).rejects.toThrow('no iface record nope');
    expect(await store.deleteIface('iface0')).toBe(true);
    expect(await store.deleteIface('iface0')).toBe(false);
    expect(await store.listIfaces()).toEqual(['default', 'iser', 'a.b:c']);
  });

  it('50 concurrent updates of one record lose nothing', async () => {
    const store = await make();
    const k = await store.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    // (No barrier here: FileStore runs one update at a time under its lock, so it would wait forever.)
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.updateNode(k, async (r) => {
          await new Promise((yieldToOthers) => setImmediate(yieldToOthers));
          r.set(`x.test.key${i}`, String(i));
        }),
      ),
    );
    const r = (await store.getNode(k))!;
    for (let i = 0; i < 50; i++) expect(r.get(`x.test.key${i}`)).toBe(String(i));
  });

  it('imports the fixtures tree whole', async () => {
    const store = await make();
    const src = mkdtempSync(join(tmp, 'etc-iscsi-'));
    makeTree(src);
    const res = await store.importTree(src);
    expect(res).toMatchObject({ nodes: 2, discovery: 1, ifaces: 1, links: 2, files: 1 });
    expect(res.warnings.map((w) => w.key)).toEqual(['node.session.vendor_thing']);
    const k = { target: IQN, address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' };
    const legacyKey = { target: LEGACY_IQN, address: '10.1.1.1', port: 3260, tpgt: 2, iface: 'default' };
    expect(await store.listNodes()).toEqual([legacyKey, k]);
    expect(formatRecord((await store.getNode(k))!, NODE_SCHEMA)).toBe(fixture('node-chap.record'));
    expect((await store.getNode(legacyKey))!.get('node.session.vendor_thing')).toBe('keep me');
    const p = { address: '127.0.0.1', port: 3260 };
    expect(await store.listDiscovery()).toEqual([p]);
    expect(formatRecord((await store.getDiscovery(p))!, DISCOVERY_SCHEMA)).toBe(fixture('st_config.record'));
    expect(await store.discoveryNodes(p)).toEqual([k]);
    expect(await store.staticNodes()).toEqual([legacyKey]);
    expect(formatRecord((await store.getIface('iface0'))!, IFACE_SCHEMA)).toBe(fixture('iface0.record'));
  });

  it('a corrupt record in the tree stops the import naming its file and line, writing nothing', async () => {
    const store = await make();
    const src = mkdtempSync(join(tmp, 'etc-iscsi-'));
    makeTree(src);
    const bad = join(src, 'nodes', IQN, '127.0.0.1,3260,1', 'default');
    writeFileSync(bad, fixture('node-chap.record').replace('node.session.scan = auto', 'node.session.scan auto'));
    const err = await store.importTree(src).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordError);
    expect((err as RecordError).file).toBe(bad);
    expect((err as RecordError).line).toBe(fixture('node-chap.record').split('\n').indexOf('node.session.scan = auto') + 1);
    expect(await store.listNodes()).toEqual([]);
    expect(await store.listDiscovery()).toEqual([]);
    expect(await store.listIfaces()).toEqual(['default', 'iser']);
  });
});

describe('FileStore and KvStore give the same answers', () => {
  /** One script of operations; every result (or error message) goes into the transcript. */
  async function transcript(store: RecordStore): Promise<unknown[]> {
    const out: unknown[] = [];
    const step = async (f: () => Promise<unknown>): Promise<void> => {
      try {
        const v = await f();
        out.push(v instanceof Map ? [...v] : v);
      } catch (e) {
        out.push({ error: (e as Error).message });
      }
    };
    const p = { address: '192.0.2.1', port: 3260 };
    const p6 = { address: '2001:db8::1', port: 3261 };
    await step(() => store.listNodes());
    await step(() => store.listDiscovery());
    await step(() => store.putDiscovery(defaultDiscoveryRecord(p.address, p.port)));
    await step(() => store.putDiscovery(defaultDiscoveryRecord(p6.address, p6.port)));
    for (const [i, t] of ['iqn.2026-11.test:a', 'iqn.2026-11.test:b'].entries()) {
      await step(() => store.putNode(sendTargetsNode(t, p.address, i + 1)));
      await step(() => store.putNode(sendTargetsNode(t, '2001:db8::1', i + 1, 'default', p6.address)));
    }
    await step(() => store.putNode(defaultNodeRecord('iqn.2026-11.test:c', { address: '198.51.100.7', port: 3260, tpgt: -1 }), 'static'));
    await step(() =>
      store.putNode(defaultNodeRecord('iqn.2026-11.test:c', { address: '198.51.100.7', port: 3260, tpgt: -1 }, 'iface9'), p),
    );
    await step(() => store.listNodes());
    await step(() => store.listDiscovery());
    await step(() => store.discoveryNodes(p));
    await step(() => store.discoveryNodes(p6));
    await step(() => store.staticNodes());
    const k = { target: 'iqn.2026-11.test:a', address: p.address, port: 3260, tpgt: 1, iface: 'default' };
    await step(() => store.updateNode(k, (r) => void r.set('node.session.auth.username', 'u')));
    await step(() => store.updateNode({ ...k, iface: 'nope' }, () => {}));
    await step(() => store.getNode(k));
    await step(() => store.getNode({ ...k, port: 1 }));
    await step(() => store.deleteNode(k));
    await step(() => store.deleteNode(k));
    await step(() => store.discoveryNodes(p));
    await step(() => store.updateDiscovery(p6, (r) => void r.set('discovery.startup', 'automatic')));
    await step(() => store.getDiscovery(p6));
    await step(() => store.deleteDiscovery(p6));
    await step(() => store.listDiscovery());
    await step(() => store.putIface(defaultIfaceRecord('iface9')));
    await step(() => store.putIface(defaultIfaceRecord('iser')));
    await step(() => store.listIfaces());
    await step(() => store.getIface('iface9'));
    await step(() => store.getIface('iface8'));
    await step(() => store.deleteIface('iface9'));
    await step(() => store.listNodes());
    return out;
  }

  it('for one script of every operation', async () => {
    const [file, kv] = await Promise.all(FLAVOURS.map(async (f) => transcript(await f.make())));
    expect(kv).toEqual(file);
  });
});

/** One operation of the random differential test, over small domains so that operations meet. */
type Op = { op: string; i: number; j: number; v: number };
const TARGETS = ['iqn.2026-11.test:a', 'iqn.2026-11.test:b'];
const ADDRS = ['192.0.2.1', 'fe80::1'];
const IFACES = ['default', 'if0'];
const PORTALS = ADDRS.map((address) => ({ address, port: 3260 }));
const OPS = [
  'putNode',
  'putNodeWith',
  'updateNode',
  'updateNodeIdentity',
  'deleteNode',
  'getNode',
  'listNodes',
  'staticNodes',
  'putDiscovery',
  'updateDiscovery',
  'deleteDiscovery',
  'getDiscovery',
  'listDiscovery',
  'discoveryNodes',
  'putIface',
  'updateIface',
  'deleteIface',
  'getIface',
  'listIfaces',
] as const;

async function runOps(store: RecordStore, ops: Op[]): Promise<unknown[]> {
  const out: unknown[] = [];
  const keyOf = (i: number): NodeKey => ({
    target: TARGETS[i % 2]!,
    address: ADDRS[(i >> 1) % 2]!,
    port: 3260,
    tpgt: 1,
    iface: IFACES[(i >> 2) % 2]!,
  });
  const nodeRec = (i: number, v: number): Rec => {
    const k = keyOf(i);
    const r = defaultNodeRecord(k.target, k, k.iface);
    const types = ['static', 'send_targets', 'isns'] as const;
    r.set('node.discovery_type', types[v % 3]!);
    r.set('node.discovery_address', PORTALS[(v >> 2) % 2]!.address);
    r.set('node.discovery_port', '3260');
    r.set('x.v', String(v));
    return r;
  };
  for (const { op, i, j, v } of ops) {
    const p = PORTALS[j % 2]!;
    const ifname = ['if0', 'if1', 'iser'][j % 3]!;
    const call: Record<(typeof OPS)[number], () => Promise<unknown>> = {
      putNode: () => store.putNode(nodeRec(i, v)),
      putNodeWith: () => store.putNode(nodeRec(i, v), v % 2 ? 'static' : p),
      updateNode: () => store.updateNode(keyOf(i), (r) => void r.set(`x.u${v}`, String(v))),
      updateNodeIdentity: () => store.updateNode(keyOf(i), (r) => void r.set('node.tpgt', String(v + 5))),
      deleteNode: () => store.deleteNode(keyOf(i)),
      getNode: () => store.getNode(keyOf(i)),
      listNodes: () => store.listNodes(),
      staticNodes: () => store.staticNodes(),
      putDiscovery: () => store.putDiscovery(defaultDiscoveryRecord(p.address, p.port)),
      updateDiscovery: () => store.updateDiscovery(p, (r) => void r.set('discovery.sendtargets.reopen_max', String(v))),
      deleteDiscovery: () => store.deleteDiscovery(p),
      getDiscovery: () => store.getDiscovery(p),
      listDiscovery: () => store.listDiscovery(),
      discoveryNodes: () => store.discoveryNodes(p),
      putIface: () => store.putIface(defaultIfaceRecord(ifname)),
      updateIface: () => store.updateIface(ifname, (r) => void r.set('iface.mtu', String(v))),
      deleteIface: () => store.deleteIface(ifname),
      getIface: () => store.getIface(ifname),
      listIfaces: () => store.listIfaces(),
    };
    try {
      const res = await call[op as (typeof OPS)[number]]();
      out.push([op, res instanceof Map ? [...res] : res]);
    } catch (e) {
      out.push([op, { error: (e as Error).message }]);
    }
  }
  return out;
}

describe('FileStore and KvStore give the same answers for random operation sequences', () => {
  it('(fast-check)', async () => {
    const opArb = fc.record({ op: fc.constantFrom(...OPS), i: fc.nat(7), j: fc.nat(5), v: fc.nat(11) });
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60, size: 'max' }), async (ops) => {
        const [file, kv] = await Promise.all(FLAVOURS.map(async (f) => runOps(await f.make(), ops)));
        expect(kv).toEqual(file);
      }),
      { numRuns: 60 },
    );
  });
});

describe('KvStore on a shared bucket', () => {
  it("two daemons on two connections see each other's discovery and node records", async () => {
    const bucket = newBucket();
    const a = await KvStore.open(nc1, bucket);
    const b = await KvStore.open(nc2, bucket);
    const p = await a.putDiscovery(defaultDiscoveryRecord('127.0.0.1'));
    const k = await a.putNode(sendTargetsNode(IQN, '127.0.0.1'));
    expect(await b.listDiscovery()).toEqual([p]);
    expect(await b.discoveryNodes(p)).toEqual([k]);
    expect(await b.listNodes()).toEqual([k]);
    await b.updateNode(k, (r) => void r.set('node.startup', 'automatic'));
    expect((await a.getNode(k))!.get('node.startup')).toBe('automatic');
    const s = await b.putNode(defaultNodeRecord(IQN, { address: '::1', port: 3260, tpgt: 1 }), 'static');
    expect(await a.staticNodes()).toEqual([s]);
    expect(await a.deleteNode(k)).toBe(true);
    expect(await b.getNode(k)).toBeUndefined();
    expect(await b.discoveryNodes(p)).toEqual([]);
  });

  /** 50 updates over two connections, each waiting until all have read the record before it writes. */
  async function contend(a: KvStore, b: KvStore, k: NodeKey, p: { address: string; port: number }): Promise<void> {
    const allRead = barrier(100);
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => [
        (i % 2 ? a : b).updateNode(k, async (r) => {
          await allRead();
          r.set(`x.n${i}`, String(i));
        }),
        (i % 2 ? b : a).updateDiscovery(p, async (r) => {
          await allRead();
          r.set(`x.d${i}`, String(i));
        }),
      ]).flat(),
    );
  }

  it('50 concurrent updates spread over two connections lose none', async () => {
    const bucket = newBucket();
    const a = await KvStore.open(nc1, bucket);
    const b = await KvStore.open(nc2, bucket);
    const k = await a.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    const p = await a.putDiscovery(defaultDiscoveryRecord('127.0.0.1'));
    await contend(a, b, k, p);
    const n = (await b.getNode(k))!;
    const d = (await a.getDiscovery(p))!;
    for (let i = 0; i < 50; i++) {
      expect(n.get(`x.n${i}`)).toBe(String(i));
      expect(d.get(`x.d${i}`)).toBe(String(i));
    }
  });

  it('mutation check: the same updates with a revision-blind put lose some', async () => {
    const bucket = newBucket();
    /** The bucket with update() that ignores the revision, as a naive read-modify-put would. */
    const naive = async (nc: NatsConnection): Promise<KvStore> => {
      const real = (await KvStore.open(nc, bucket)).kv;
      const blind = Object.create(real) as KV;
      blind.update = (key, data) => real.put(key, data);
      return new KvStore(blind, bucket);
    };
    const a = await naive(nc1);
    const b = await naive(nc2);
    const k = await a.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    const p = await a.putDiscovery(defaultDiscoveryRecord('127.0.0.1'));
    await contend(a, b, k, p);
    const n = (await b.getNode(k))!;
    const d = (await a.getDiscovery(p))!;
    const kept = (r: Rec, pre: string) => [...r.keys()].filter((key) => key.startsWith(pre)).length;
    expect(kept(n, 'x.n')).toBeLessThan(50);
    expect(kept(d, 'x.d')).toBeLessThan(50);
  });

  it('gives up with StoreConflictError after maxAttempts conflicting writes', async () => {
    const bucket = newBucket();
    const a = await KvStore.open(nc1, bucket, { maxAttempts: 3 });
    const b = await KvStore.open(nc2, bucket);
    const k = await a.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    let calls = 0;
    // Every attempt of a's update is overtaken by a write from b before it commits.
    const err = await a
      .updateNode(k, async (r) => {
        calls++;
        await b.updateNode(k, (o) => void o.set('x.other', String(calls)));
        r.set('x.mine', 'v');
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreConflictError);
    expect(calls).toBe(3);
    expect((err as StoreConflictError).key).toBe(a.where(a.nodeKey(k)));
    expect((await a.getNode(k))!.get('x.mine')).toBeUndefined();
  });

  it('exactly one of two concurrent deleters removes the record', async () => {
    const bucket = newBucket();
    const a = await KvStore.open(nc1, bucket);
    const b = await KvStore.open(nc2, bucket);
    for (let i = 0; i < 10; i++) {
      const k = await a.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: i }));
      const results = await Promise.all([a.deleteNode(k), b.deleteNode(k)]);
      expect(results.filter(Boolean)).toHaveLength(1);
    }
  });

  it('an update does not bring back a record deleted meanwhile', async () => {
    const bucket = newBucket();
    const a = await KvStore.open(nc1, bucket);
    const b = await KvStore.open(nc2, bucket);
    const k = await a.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    const err = await a
      .updateNode(k, async (r) => {
        await b.deleteNode(k);
        r.set('x.late', 'v');
      })
      .catch((e: unknown) => e);
    expect((err as Error).message).toBe(`no node record ${IQN},127.0.0.1,3260,1,default`);
    expect(await b.getNode(k)).toBeUndefined();
  });
});

describe('KvStore keys and values', () => {
  it('keys follow the open-iscsi layout, values are the record text, links point at node keys', async () => {
    const store = await KvStore.open(nc1, newBucket());
    const rec = defaultNodeRecord(IQN, { address: 'fe80::1', port: 3260, tpgt: 1 }, 'iface0');
    const k = await store.putNode(rec, 'static');
    const p = await store.putDiscovery(defaultDiscoveryRecord('fe80::1'));
    await store.putNode(sendTargetsNode(IQN, 'fe80::1'));
    const nodeKey = 'nodes.iqn=2E2026-11=2Etest=3Adisk0.fe80=3A=3A1=2C3260=2C1.iface0';
    expect(store.nodeKey(k)).toBe(nodeKey);
    const keys: string[] = [];
    for await (const key of await store.kv.keys()) keys.push(key);
    expect(keys.sort()).toEqual(
      [
        nodeKey,
        'nodes.iqn=2E2026-11=2Etest=3Adisk0.fe80=3A=3A1=2C3260=2C1.default',
        'send_targets.fe80=3A=3A1=2C3260.st_config',
        'send_targets.fe80=3A=3A1=2C3260.iqn=2E2026-11=2Etest=3Adisk0=2Cfe80=3A=3A1=2C3260=2C1=2Cdefault',
        'static.iqn=2E2026-11=2Etest=3Adisk0=2Cfe80=3A=3A1=2C3260=2C1=2Ciface0',
      ].sort(),
    );
    expect((await store.kv.get(nodeKey))!.string()).toBe(formatRecord(rec, NODE_SCHEMA));
    expect((await store.kv.get(store.discoveryKey(p)))!.string()).toBe(formatRecord(defaultDiscoveryRecord('fe80::1'), DISCOVERY_SCHEMA));
    expect((await store.kv.get('static.iqn=2E2026-11=2Etest=3Adisk0=2Cfe80=3A=3A1=2C3260=2C1=2Ciface0'))!.string()).toBe(nodeKey);
    expect(pathOfKvKey(nodeKey)).toEqual(['nodes', IQN, 'fe80::1,3260,1', 'iface0']);
  });

  it('a corrupt value names its key and line', async () => {
    const store = await KvStore.open(nc1, newBucket());
    const k: NodeKey = { target: IQN, address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' };
    const key = store.nodeKey(k);
    await store.kv.put(key, new TextEncoder().encode('# BEGIN RECORD 2.1.8\nnode.name = x\nnode.tpgt 1\n# END RECORD\n'));
    expect(await store.listNodes()).toEqual([k]);
    const err = await store.getNode(k).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordError);
    expect((err as RecordError).file).toBe(`nats-kv://${store.bucket}/${key}`);
    expect((err as RecordError).line).toBe(3);
    expect((err as Error).message).toBe(`nats-kv://${store.bucket}/${key}:3: expected "=" after key "node.tpgt"`);
    await expect(store.updateNode(k, () => {})).rejects.toBeInstanceOf(RecordError);
  });

  it('importTree writes the fixture record text byte for byte, and top-level files', async () => {
    const store = await KvStore.open(nc1, newBucket());
    const src = mkdtempSync(join(tmp, 'etc-iscsi-'));
    makeTree(src);
    await store.importTree(src);
    const k = { target: IQN, address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' };
    expect((await store.kv.get(store.nodeKey(k)))!.string()).toBe(fixture('node-chap.record'));
    expect((await store.kv.get(store.discoveryKey({ address: '127.0.0.1', port: 3260 })))!.string()).toBe(fixture('st_config.record'));
    expect((await store.kv.get(store.ifaceKey('iface0')))!.string()).toBe(fixture('iface0.record'));
    expect((await store.readFile('initiatorname.iscsi'))!.toString()).toBe('InitiatorName=iqn.2026-11.test:host\n');
    expect(await store.readFile('iscsid.conf')).toBeUndefined();
    for (const nk of await store.listNodes()) {
      const r = (await store.getNode(nk))!;
      expect(nodeKeyOf(r)).toEqual(nk);
      expect([...parseRecord(formatRecord(r, NODE_SCHEMA), { schema: NODE_SCHEMA }).record]).toEqual([...r]);
    }
  });

  it('open() creates a missing bucket with history 5 and opens an existing one', async () => {
    const bucket = newBucket();
    const a = await KvStore.open(nc1, bucket);
    expect((await a.kv.status()).history).toBe(5);
    await a.putIface(defaultIfaceRecord('iface1'));
    const b = await KvStore.open(nc2, bucket, { history: 10 });
    expect((await b.kv.status()).history).toBe(5);
    expect(await b.listIfaces()).toEqual(['default', 'iser', 'iface1']);
    await expect(KvStore.open(nc1, newBucket(), { history: 2 })).rejects.toThrow(/history/);
  });
});

describe('openStore', () => {
  it('a directory gives a FileStore, nats-kv://BUCKET a KvStore whose close() closes the connection', async () => {
    const dir = join(tmp, 'open-store-dir');
    const f = await openStore(dir);
    expect(f.store).toBeInstanceOf(FileStore);
    expect((f.store as FileStore).root).toBe(dir);
    await f.close();

    let nc: NatsConnection | undefined;
    const bucket = newBucket();
    const s = await openStore(`nats-kv://${bucket}`, { nats: async () => (nc = await connect({ servers: server.url })) });
    expect(s.store).toBeInstanceOf(KvStore);
    expect((s.store as KvStore).bucket).toBe(bucket);
    await s.store.putIface(defaultIfaceRecord('iface1'));
    expect(await (await KvStore.open(nc1, bucket)).listIfaces()).toEqual(['default', 'iser', 'iface1']);
    await s.close();
    expect(nc!.isClosed()).toBe(true);
  });

  it('gives clear errors for other schemes, bad buckets and a missing connection', async () => {
    await expect(openStore('http://x/y')).rejects.toThrow(
      'unsupported record store "http://x/y": use a directory path or nats-kv://BUCKET',
    );
    await expect(openStore('nats-kv://b')).rejects.toThrow(/needs a NATS connection/);
    await expect(openStore('nats-kv://a.b', { nats: () => Promise.reject(new Error('not called')) })).rejects.toThrow(
      /invalid record store/,
    );
    await expect(openStore('nats-kv://')).rejects.toThrow(/invalid record store/);
    expect(parseNatsKvSpec('nats-kv://fleet_records/')).toEqual({ bucket: 'fleet_records' });
    expect(parseNatsKvSpec('nats-kv://fleet?replicas=3')).toEqual({ bucket: 'fleet', replicas: 3 });
    expect(() => parseNatsKvSpec('nats-kv://a/b')).toThrow(/invalid record store/);
    expect(() => parseNatsKvSpec('nats-kv://a?replicas=7')).toThrow(
      'invalid record store "nats-kv://a?replicas=7": replicas must be 1 to 5, not "7"',
    );
    expect(() => parseNatsKvSpec('nats-kv://a?copies=3')).toThrow('unknown parameter "copies" (known: replicas)');
  });
});

describe('key token encoding', () => {
  it('round-trips any string into one token of allowed characters', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const t = encodeKeyToken(s);
        expect(t).toMatch(/^[-_=A-Za-z0-9]+$/);
        expect(decodeKeyToken(t)).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips paths as keys', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { minLength: 1, maxLength: 5 }), (parts) => {
        const key = kvKeyOf(...parts);
        expect(key.split('.')).toHaveLength(parts.length);
        expect(pathOfKvKey(key)).toEqual(parts);
      }),
    );
  });

  it('decodes only canonical tokens: whatever it accepts encodes back to the same token', () => {
    const tokenChar = fc.constantFrom(...'=AZaz09_-F3EC8'.split(''), '=2E', '=3A', '=41', '=C3=A9', '=FF', '=e9', '.');
    fc.assert(
      fc.property(
        fc.array(tokenChar, { maxLength: 12 }).map((cs) => cs.join('')),
        (t) => {
          let s: string;
          try {
            s = decodeKeyToken(t);
          } catch {
            return;
          }
          expect(encodeKeyToken(s)).toBe(t);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('spells IQNs and IPv6 portals readably', () => {
    expect(encodeKeyToken('iqn.2026-11.test:disk0')).toBe('iqn=2E2026-11=2Etest=3Adisk0');
    expect(encodeKeyToken('fe80::1%eth0,3260,1')).toBe('fe80=3A=3A1=25eth0=2C3260=2C1');
    expect(encodeKeyToken('')).toBe('=');
    expect(encodeKeyToken('é')).toBe('=C3=A9');
    expect(() => decodeKeyToken('=41')).toThrow(/stands for itself/);
    expect(() => decodeKeyToken('a.b')).toThrow(/not allowed/);
  });
});
