import {
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  mkdirSync,
  writeFileSync,
  symlinkSync,
  readlinkSync,
  readdirSync,
  lstatSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/db/file-store.js';
import { RecordError, formatRecord, parseRecord } from '../../src/db/record.js';
import { NODE_SCHEMA, defaultDiscoveryRecord, defaultIfaceRecord, defaultNodeRecord, nodeKeyOf } from '../../src/db/node-record.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const IQN = 'iqn.2026-11.test:disk0';

let tmp: string;
let root: string;
let store: FileStore;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'mpiscsi-db-'));
  root = join(tmp, 'db');
  store = new FileStore(root);
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('FileStore nodes', () => {
  it('writes nodes/<IQN>/<addr>,<port>,<tpgt>/<iface> 0600 in dirs 0700, and reads it back identically', async () => {
    const rec = defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 });
    rec.set('node.session.auth.password', 'pw');
    const k = await store.putNode(rec);
    const path = join(root, 'nodes', IQN, '127.0.0.1,3260,1', 'default');
    expect(readFileSync(path, 'utf8')).toBe(formatRecord(rec, NODE_SCHEMA));
    expect(mode(path)).toBe(0o600);
    for (const d of [root, join(root, 'nodes'), join(root, 'nodes', IQN), join(root, 'nodes', IQN, '127.0.0.1,3260,1')]) {
      expect(mode(d)).toBe(0o700);
    }
    expect([...(await store.getNode(k))!]).toEqual([...rec]);
    expect(await store.listNodes()).toEqual([k]);
    expect(readdirSync(join(root, 'nodes', IQN, '127.0.0.1,3260,1'))).toEqual(['default']); // no temp files left
  });

  it('handles IPv6 portals as written (fe80::1,3260,1) and static links', async () => {
    const rec = defaultNodeRecord(IQN, { address: 'fe80::1', port: 3260, tpgt: 1 }, 'iface0');
    const k = await store.putNode(rec, 'static');
    expect(statSync(join(root, 'nodes', IQN, 'fe80::1,3260,1', 'iface0')).isFile()).toBe(true);
    const link = join(root, 'static', `${IQN},fe80::1,3260,1,iface0`);
    expect(readlinkSync(link)).toBe(join(root, 'nodes', IQN, 'fe80::1,3260,1'));
    expect(await store.staticNodes()).toEqual([k]);
    expect(await store.deleteNode(k)).toBe(true);
    expect(() => lstatSync(link)).toThrow();
    expect(await store.listNodes()).toEqual([]);
    expect(await store.getNode(k)).toBeUndefined();
  });

  it('send_targets records link their nodes', async () => {
    const p = await store.putDiscovery(defaultDiscoveryRecord('127.0.0.1'));
    const rec = defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 });
    rec.set('node.discovery_type', 'send_targets');
    rec.set('node.discovery_address', '127.0.0.1');
    rec.set('node.discovery_port', '3260');
    const k = await store.putNode(rec);
    expect(mode(join(root, 'send_targets', '127.0.0.1,3260', 'st_config'))).toBe(0o600);
    expect(await store.listDiscovery()).toEqual([p]);
    expect(await store.discoveryNodes(p)).toEqual([k]);
    expect(await store.deleteDiscovery(p)).toBe(true);
    expect(await store.listDiscovery()).toEqual([]);
    expect(await store.getNode(k)).toBeDefined();
  });

  it('50 concurrent updates of one record, each setting a distinct key, lose nothing', async () => {
    const k = await store.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        store.updateNode(k, async (r) => {
          await new Promise((res) => setTimeout(res, Math.random() * 3));
          r.set(`x.test.key${i}`, String(i));
        }),
      ),
    );
    const r = (await store.getNode(k))!;
    for (let i = 0; i < 50; i++) expect(r.get(`x.test.key${i}`)).toBe(String(i));
  });

  it('concurrent updates through two FileStores on one root and of a discovery record lose nothing', async () => {
    const other = new FileStore(join(root, '.', ''));
    const k = await store.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    const p = await store.putDiscovery(defaultDiscoveryRecord('127.0.0.1'));
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => [
        (i % 2 ? store : other).updateNode(k, async (r) => {
          await new Promise((res) => setTimeout(res, Math.random() * 2));
          r.set(`x.n${i}`, 'v');
        }),
        (i % 2 ? other : store).updateDiscovery(p, async (r) => {
          await new Promise((res) => setTimeout(res, Math.random() * 2));
          r.set(`x.d${i}`, 'v');
        }),
      ]).flat(),
    );
    const n = (await store.getNode(k))!;
    const d = (await other.getDiscovery(p))!;
    for (let i = 0; i < 40; i++) {
      expect(n.get(`x.n${i}`)).toBe('v');
      expect(d.get(`x.d${i}`)).toBe('v');
    }
  });

  it('update may not change the identity of a record', async () => {
    const k = await store.putNode(defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260, tpgt: 1 }));
    await expect(store.updateNode(k, (r) => void r.set('node.tpgt', '2'))).rejects.toThrow(/may not change/);
  });

  it('a corrupt record names its file and line', async () => {
    const dir = join(root, 'nodes', IQN, '127.0.0.1,3260,1');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'default'), '# BEGIN RECORD 2.1.8\nnode.name = x\nnode.tpgt 1\n# END RECORD\n');
    const err = await store.getNode({ target: IQN, address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' }).catch((e) => e);
    expect(err).toBeInstanceOf(RecordError);
    expect(err.file).toBe(join(dir, 'default'));
    expect(err.line).toBe(3);
  });
});

describe('FileStore ifaces', () => {
  it('lists built-in default and iser, never stores them', async () => {
    expect(await store.listIfaces()).toEqual(['default', 'iser']);
    expect((await store.getIface('iser'))!.get('iface.transport_name')).toBe('iser');
    await expect(store.putIface(defaultIfaceRecord('default'))).rejects.toThrow(/built in/);
    const rec = defaultIfaceRecord('iface0');
    rec.set('iface.net_ifacename', 'eth1');
    rec.set('iface.ipaddress', '192.0.2.10');
    await store.putIface(rec);
    expect(readFileSync(join(root, 'ifaces', 'iface0'), 'utf8')).toBe(fixture('iface0.record'));
    expect(mode(join(root, 'ifaces', 'iface0'))).toBe(0o600);
    expect(await store.listIfaces()).toEqual(['default', 'iser', 'iface0']);
    await store.updateIface('iface0', (r) => void r.set('iface.mtu', '9000'));
    expect((await store.getIface('iface0'))!.get('iface.mtu')).toBe('9000');
    expect(await store.deleteIface('iface0')).toBe(true);
    expect(await store.listIfaces()).toEqual(['default', 'iser']);
  });
});

describe('FileStore.importTree', () => {
  /** An /etc/iscsi-shaped tree with a new-layout node, a legacy node, discovery, static, iface and conf files. */
  function makeTree(src: string): void {
    const st = join(src, 'send_targets', '127.0.0.1,3260');
    mkdirSync(join(src, 'nodes', IQN, '127.0.0.1,3260,1'), { recursive: true });
    writeFileSync(join(src, 'nodes', IQN, '127.0.0.1,3260,1', 'default'), fixture('node-chap.record'));
    // legacy 2.0.8xx layout: nodes/<IQN>/<addr>,<port> is the record file
    const legacyIqn = 'iqn.2009-01.old:lun1';
    mkdirSync(join(src, 'nodes', legacyIqn), { recursive: true });
    writeFileSync(
      join(src, 'nodes', legacyIqn, '10.1.1.1,3260'),
      '# BEGIN RECORD 2.0-871\nnode.name = iqn.2009-01.old:lun1\nnode.tpgt = 2\nnode.startup = manual\n' +
        'iface.iscsi_ifacename = default\nnode.discovery_type = static\nnode.session.auth.password_length = 0\n' +
        'node.session.xmit_thread_priority = -20\nnode.session.vendor_thing = keep me\n' +
        'node.conn[0].address = 10.1.1.1\nnode.conn[0].port = 3260\n# END RECORD\n',
    );
    mkdirSync(st, { recursive: true });
    writeFileSync(join(st, 'st_config'), fixture('st_config.record'));
    symlinkSync(join(src, 'nodes', IQN, '127.0.0.1,3260,1'), join(st, `${IQN},127.0.0.1,3260,1,default`));
    mkdirSync(join(src, 'static'));
    symlinkSync(join(src, 'nodes', legacyIqn), join(src, 'static', `${legacyIqn},10.1.1.1,3260,2,default`));
    mkdirSync(join(src, 'ifaces'));
    writeFileSync(join(src, 'ifaces', 'iface0'), fixture('iface0.record'));
    writeFileSync(join(src, 'initiatorname.iscsi'), 'InitiatorName=iqn.2026-11.test:host\n');
  }

  it('imports a legacy + new-layout tree whole', async () => {
    const src = join(tmp, 'etc-iscsi');
    makeTree(src);
    const res = await store.importTree(src);
    expect(res).toMatchObject({ nodes: 2, discovery: 1, ifaces: 1, links: 2, files: 1 });
    expect(res.warnings.map((w) => w.key)).toEqual(['node.session.vendor_thing']);

    // New-layout record: byte for byte.
    expect(readFileSync(join(root, 'nodes', IQN, '127.0.0.1,3260,1', 'default'), 'utf8')).toBe(fixture('node-chap.record'));
    // Legacy record: rewritten in the new layout, unknown key kept.
    const legacyKey = { target: 'iqn.2009-01.old:lun1', address: '10.1.1.1', port: 3260, tpgt: 2, iface: 'default' };
    const legacy = readFileSync(join(root, 'nodes', legacyKey.target, '10.1.1.1,3260,2', 'default'), 'utf8');
    expect(legacy.startsWith('# BEGIN RECORD 2.1.8\nnode.name = iqn.2009-01.old:lun1\nnode.tpgt = 2\n')).toBe(true);
    expect(legacy).toContain('node.session.vendor_thing = keep me\n# END RECORD\n');
    expect(legacy).not.toContain('_length');
    expect(mode(join(root, 'nodes', legacyKey.target, '10.1.1.1,3260,2', 'default'))).toBe(0o600);

    const nodes = await store.listNodes();
    expect(nodes).toHaveLength(2);
    expect(nodes).toContainEqual(legacyKey);
    expect(readFileSync(join(root, 'send_targets', '127.0.0.1,3260', 'st_config'), 'utf8')).toBe(fixture('st_config.record'));
    expect(readlinkSync(join(root, 'send_targets', '127.0.0.1,3260', `${IQN},127.0.0.1,3260,1,default`))).toBe(
      join(root, 'nodes', IQN, '127.0.0.1,3260,1'),
    );
    expect(await store.staticNodes()).toEqual([legacyKey]);
    expect(readFileSync(join(root, 'ifaces', 'iface0'), 'utf8')).toBe(fixture('iface0.record'));
    expect(readFileSync(join(root, 'initiatorname.iscsi'), 'utf8')).toBe('InitiatorName=iqn.2026-11.test:host\n');
    expect(mode(join(root, 'initiatorname.iscsi'))).toBe(0o600);
  });

  it('reads a legacy file in place and writes the new form on update', async () => {
    const src = join(root, 'nodes', 'iqn.2009-01.old:lun1');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, '10.1.1.1,3260'), 'node.name = iqn.2009-01.old:lun1\nnode.tpgt = 2\nnode.conn[0].address = 10.1.1.1\n');
    const [k] = await store.listNodes();
    expect(k).toEqual({ target: 'iqn.2009-01.old:lun1', address: '10.1.1.1', port: 3260, tpgt: 2, iface: 'default' });
    await store.updateNode(k!, (r) => void r.set('node.startup', 'automatic'));
    expect(readdirSync(src)).toEqual(['10.1.1.1,3260,2']);
    expect((await store.getNode(k!))!.get('node.startup')).toBe('automatic');
  });

  it('a corrupt record in the tree stops the import naming its file and line, writing nothing', async () => {
    const src = join(tmp, 'etc-iscsi');
    makeTree(src);
    const bad = join(src, 'nodes', IQN, '127.0.0.1,3260,1', 'default');
    writeFileSync(bad, fixture('node-chap.record').replace('node.session.scan = auto', 'node.session.scan auto'));
    const err = await store.importTree(src).catch((e) => e);
    expect(err).toBeInstanceOf(RecordError);
    expect(err.file).toBe(bad);
    expect(err.line).toBe(fixture('node-chap.record').split('\n').indexOf('node.session.scan = auto') + 1);
    expect(err.message).toMatch(new RegExp(`${bad.replace(/[.[\]]/g, '\\$&')}:\\d+: `));
    expect(await store.listNodes()).toEqual([]);
  });

  it('parsed records from the tree round-trip through the store', async () => {
    const src = join(tmp, 'etc-iscsi');
    makeTree(src);
    await store.importTree(src);
    for (const k of await store.listNodes()) {
      const r = (await store.getNode(k))!;
      expect(nodeKeyOf(r)).toEqual(k);
      expect([...parseRecord(formatRecord(r, NODE_SCHEMA), { schema: NODE_SCHEMA }).record]).toEqual([...r]);
    }
  });
});
