/**
 * The records in a JetStream KV bucket with three replicas on a real three-member nats-server cluster
 * (test/support/nats-cluster.ts): the bucket is made R3 from `nats-kv://BUCKET?replicas=3`, a bucket with
 * another count is refused, and with the member the store's connection is on killed the store reconnects to
 * another member and every record reads back whole and can still be changed (two of three is a quorum).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsCluster } from '../support/nats-cluster.js';
import { openStore, type OpenedStore } from '../../src/db/open-store.js';
import { KvStore } from '../../src/db/kv-store.js';
import { defaultNodeRecord, nodeKeyOf, type NodeKey } from '../../src/db/node-record.js';
import { natsConnectionOptions } from '../../src/control/nats-options.js';

let cluster: NatsCluster;
let opened: OpenedStore;
let nc: NatsConnection;

const key = (i: number): NodeKey => ({ target: `iqn.2026-12.test:fleet${i}`, address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' });

beforeAll(async () => {
  cluster = await NatsCluster.start();
  opened = await openStore('nats-kv://fleet_records?replicas=3', {
    nats: async () => {
      nc = await connect(natsConnectionOptions({ servers: cluster.urls, maxReconnectAttempts: -1 }));
      return nc;
    },
  });
});

afterAll(async () => {
  await opened?.close().catch(() => {});
  await cluster?.stop();
});

describe('KV bucket R3 on a three-member cluster', () => {
  it('is created with three replicas, placed on three members', async () => {
    const kv = (opened.store as KvStore).kv;
    const st = await kv.status();
    expect(st.replicas).toBe(3);
    const cl = st.streamInfo.cluster!;
    expect([cl.leader, ...(cl.replicas ?? []).map((r) => r.name)].sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('refuses to run a fleet asking for 3 on a bucket made with 1', async () => {
    const c = await connect(natsConnectionOptions({ servers: cluster.urls }));
    try {
      await KvStore.open(c, 'single', { replicas: 1 });
      await expect(KvStore.open(c, 'single', { replicas: 3 })).rejects.toThrow(
        'KV bucket single exists with 1 replica, not the 3 asked for',
      );
      await expect(KvStore.open(c, 'single', { replicas: 6 })).rejects.toThrow('replicas must be an integer 1..5, not 6');
    } finally {
      await c.close();
    }
  });

  it('keeps every record through the loss of the member the store is connected to', async () => {
    const store = opened.store;
    for (let i = 0; i < 20; i++) {
      const rec = defaultNodeRecord(key(i).target, { address: '127.0.0.1', port: 3260, tpgt: 1 });
      rec.set('node.session.timeo.replacement_timeout', String(100 + i));
      await store.putNode(rec, 'static');
    }
    const port = Number(nc.getServer().split(':').pop());
    const victim = cluster.servers.findIndex((m) => m.port === port);
    expect(victim).toBeGreaterThanOrEqual(0);
    const reconnected = (async () => {
      for await (const s of nc.status()) if (s.type === 'reconnect') return;
    })();
    const killedAt = performance.now();
    await cluster.kill(victim);
    await reconnected;
    expect(nc.getServer()).not.toBe(`127.0.0.1:${port}`);
    await cluster.formed();
    const leader = await cluster.streamLeader('KV_fleet_records', cluster.servers[victim]!.name);
    console.log(
      `kv-cluster: ${cluster.servers[victim]!.name} killed; reconnected to ${nc.getServer()}, stream leader ${leader} after ${((performance.now() - killedAt) / 1000).toFixed(1)} s`,
    );

    const keys = await store.listNodes();
    expect(keys).toHaveLength(20);
    for (let i = 0; i < 20; i++) {
      const rec = (await store.getNode(key(i)))!;
      expect(nodeKeyOf(rec)).toEqual(key(i));
      expect(rec.get('node.session.timeo.replacement_timeout')).toBe(String(100 + i));
    }
    // Two members are a quorum of three: writes go on.
    await store.updateNode(key(0), (r) => void r.set('node.session.timeo.replacement_timeout', '7'));
    expect((await store.getNode(key(0)))!.get('node.session.timeo.replacement_timeout')).toBe('7');
    await cluster.restart(victim);
  });
});
