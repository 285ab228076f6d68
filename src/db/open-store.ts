/**
 * Opens the record store a `--db` value names (DESIGN.md "Storage of records"): a directory gives a
 * FileStore in open-iscsi's layout, `nats-kv://BUCKET[?replicas=N]` a KvStore on a NATS JetStream KV bucket.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { FileStore } from './file-store.js';
import type { KvStoreOptions } from './kv-store.js';
import type { RecordStore } from './store.js';

export const NATS_KV_SCHEME = 'nats-kv:';

export interface OpenStoreOptions {
  /**
   * Makes the NATS connection for a `nats-kv://` store (the caller picks servers and credentials). The
   * store owns the connection it returns: close() closes it. Required for `nats-kv://`; not called otherwise.
   */
  nats?: () => Promise<NatsConnection>;
  /** KvStore options (bucket history when created, update attempts); defaults as in KvStoreOptions. */
  kv?: KvStoreOptions;
  /** A directory store: called once per bad record file a listing skips (FileStoreOptions.onBadRecord). */
  onBadRecord?: (path: string, err: Error) => void;
}

export interface OpenedStore {
  readonly store: RecordStore;
  /** Releases what openStore took: nothing for a directory, the NATS connection for `nats-kv://`. */
  close(): Promise<void>;
}

export interface NatsKvSpec {
  bucket: string;
  /** `?replicas=N`: the bucket's copies in a JetStream cluster (KvStoreOptions.replicas). */
  replicas?: number;
}

/**
 * A `nats-kv://BUCKET[?replicas=N]` spec (a trailing `/` is allowed); throws for anything else. The replica
 * count rides in the spec so that every daemon and mpiscsiadm of a fleet, given the same --db, asks for the same.
 */
export function parseNatsKvSpec(spec: string): NatsKvSpec {
  const m = /^nats-kv:\/\/([^/?#]*)\/?(?:\?([^#]*))?$/i.exec(spec);
  const bucket = m?.[1] ?? '';
  if (!/^[-\w]+$/.test(bucket)) {
    throw new Error(`invalid record store "${spec}": expected nats-kv://BUCKET with a bucket name of letters, digits, "-" and "_"`);
  }
  const out: NatsKvSpec = { bucket };
  for (const [k, v] of new URLSearchParams(m?.[2] ?? '')) {
    if (k !== 'replicas') throw new Error(`invalid record store "${spec}": unknown parameter "${k}" (known: replicas)`);
    if (!/^[1-5]$/.test(v)) throw new Error(`invalid record store "${spec}": replicas must be 1 to 5, not "${v}"`);
    out.replicas = Number(v);
  }
  return out;
}

/** Opens `spec`: a directory path (FileStore) or `nats-kv://BUCKET` (KvStore, bucket created if missing). */
export async function openStore(spec: string, opts: OpenStoreOptions = {}): Promise<OpenedStore> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(spec)?.[1];
  if (scheme === undefined) {
    if (spec === '') throw new Error('record store: empty --db');
    return { store: new FileStore(spec, { onBadRecord: opts.onBadRecord }), close: async () => {} };
  }
  if (`${scheme.toLowerCase()}:` !== NATS_KV_SCHEME) {
    throw new Error(`unsupported record store "${spec}": use a directory path or nats-kv://BUCKET`);
  }
  const { bucket, replicas } = parseNatsKvSpec(spec);
  if (!opts.nats) throw new Error(`record store "${spec}" needs a NATS connection, and none was configured`);
  const nc = await opts.nats();
  try {
    // Imported here: a directory store (every offline mpiscsiadm call) loads no JetStream code (issue 17).
    const { KvStore } = await import('./kv-store.js');
    const store = await KvStore.open(nc, bucket, replicas === undefined ? opts.kv : { ...opts.kv, replicas });
    return { store, close: () => nc.close() };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}
