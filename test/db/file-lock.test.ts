/**
 * Two processes changing one node record at once (a daemon and an mpiscsiadm): with the store's lock files
 * every change survives; the same read-modify-write without them loses changes (the check that the test can
 * fail). Stale locks of dead processes are broken.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileStore } from '../../src/db/file-store.js';
import { defaultNodeRecord, type NodeKey } from '../../src/db/node-record.js';
import { withFileLock } from '../../src/db/file-lock.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const K: NodeKey = { target: 'iqn.2026-11.test:locked', address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' };

/** A child process that makes `n` changes to the record, each setting its own key, locked or naive. */
function writer(db: string, tag: string, n: number, mode: 'store' | 'naive', startAt: number): Promise<void> {
  const script = `
    import { FileStore } from ${JSON.stringify(join(root, 'dist/src/db/file-store.js'))};
    import { parseRecord, formatRecord } from ${JSON.stringify(join(root, 'dist/src/db/record.js'))};
    import { NODE_SCHEMA } from ${JSON.stringify(join(root, 'dist/src/db/node-record.js'))};
    import { readFile } from 'node:fs/promises';
    const store = new FileStore(${JSON.stringify(db)});
    const k = ${JSON.stringify(K)};
    // Both writers start together, however long each process took to start.
    await new Promise((res) => setTimeout(res, Math.max(0, ${startAt} - Date.now())));
    for (let i = 0; i < ${n}; i++) {
      const key = 'test.${tag}.k' + i;
      if (${JSON.stringify(mode)} === 'store') await store.updateNode(k, (r) => { r.set(key, '1'); });
      else {
        const path = store.nodePath(k);
        const r = parseRecord(await readFile(path, 'utf8'), { schema: NODE_SCHEMA }).record;
        await new Promise((res) => setTimeout(res, 3)); // a read-modify-write window another process can land in
        r.set(key, '1');
        await store.writeAtomic(path, formatRecord(r, NODE_SCHEMA));
      }
    }`;
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--input-type=module', '-e', script], (err, _o, stderr) =>
      err ? reject(new Error(stderr || err.message)) : resolve(),
    ),
  );
}

async function run(mode: 'store' | 'naive'): Promise<number> {
  const db = mkdtempSync(join(tmpdir(), 'file-lock-'));
  try {
    const store = new FileStore(db);
    await store.putNode(defaultNodeRecord(K.target, K, 'default'));
    const startAt = Date.now() + 2000;
    await Promise.all([writer(db, 'a', 40, mode, startAt), writer(db, 'b', 40, mode, startAt)]);
    const rec = (await store.getNode(K))!;
    return [...rec.keys()].filter((k) => k.startsWith('test.')).length;
  } finally {
    rmSync(db, { recursive: true, force: true });
  }
}

describe('record locks between processes', () => {
  it('two processes making 40 changes each to one record: all 80 survive', async () => {
    expect(await run('store')).toBe(80);
  });

  it('the same without the locks loses changes (so the test above can fail)', async () => {
    expect(await run('naive')).toBeLessThan(80);
  });

  it("a lock left by a process that died is broken; a live one's is waited for", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'file-lock-stale-'));
    try {
      const lockDir = join(dir, '.lock');
      // Find the lock file's name by holding the lock once, then leave a dead pid in it.
      let name = '';
      await withFileLock(lockDir, 'rec', async () => {
        const { readdirSync } = await import('node:fs');
        name = readdirSync(lockDir)[0]!;
      });
      mkdirSync(lockDir, { recursive: true });
      writeFileSync(join(lockDir, name), '999999999');
      expect(await withFileLock(lockDir, 'rec', async () => 'got it', { timeoutMs: 2000 })).toBe('got it');
      // Held by this (live) process: a second taker times out.
      writeFileSync(join(lockDir, name), String(process.pid));
      await expect(withFileLock(lockDir, 'rec', async () => 'no', { timeoutMs: 100 })).rejects.toThrow(/locked by another process/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
