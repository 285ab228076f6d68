/**
 * A lock between processes on one record of a file-backed node database (open-iscsi's idbm_lock does the
 * same for iscsiadm and iscsid): a lock file created exclusively (O_CREAT|O_EXCL) under `<root>/.lock/`,
 * holding the owner's pid; a lock whose owner is gone is broken. So a daemon and an `mpiscsiadm` changing
 * one record at the same time do not lose each other's change (open-iscsi issues #108, #453).
 */
import { promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export interface FileLockOptions {
  /** Give up after this long (ms). Default 30 s. */
  timeoutMs?: number;
  /** A lock file without a readable pid older than this (ms) is stale (its owner died while creating it). Default 10 s. */
  staleMs?: number;
}

export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * What became of the lock at `file`: 'gone' (released meanwhile: try again at once), 'stale' (a dead pid, or no
 * pid for longer than staleMs: break it) or 'held'.
 */
async function lockState(file: string, staleMs: number): Promise<'gone' | 'stale' | 'held'> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(file, 'utf8'), fsp.stat(file)]);
    const pid = Number(text.trim());
    if (Number.isInteger(pid) && pid > 0) return pid !== process.pid && !alive(pid) ? 'stale' : 'held';
    return Date.now() - st.mtimeMs > staleMs ? 'stale' : 'held';
  } catch (err) {
    // Released between our attempt and this look. Never unlink here: the file may already be a new owner's.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
}

/**
 * Removes a stale lock, once: under a guard file, and only if it is still stale when looked at again under
 * the guard, so that two processes breaking one dead owner's lock cannot delete each other's fresh lock.
 * False when another process holds the guard (it is breaking the lock; wait).
 */
async function breakStale(file: string, staleMs: number): Promise<boolean> {
  const guard = `${file}.break`;
  try {
    await (await fsp.open(guard, 'wx', 0o600)).close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // A guard older than staleMs was left by a breaker that died.
    const st = await fsp.stat(guard).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > staleMs) await fsp.unlink(guard).catch(() => {});
    return false;
  }
  try {
    if ((await lockState(file, staleMs)) === 'stale') await fsp.unlink(file).catch(() => {});
    return true;
  } finally {
    await fsp.unlink(guard).catch(() => {});
  }
}

/** Runs `fn` holding the lock named `key` under `lockDir`. Callers in one process serialise themselves first. */
export async function withFileLock<T>(lockDir: string, key: string, fn: () => Promise<T>, opts: FileLockOptions = {}): Promise<T> {
  const file = join(lockDir, createHash('sha256').update(key).digest('hex').slice(0, 40));
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  await fsp.mkdir(lockDir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await fsp.open(file, 'wx', 0o600);
      try {
        await fh.writeFile(String(process.pid));
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const state = await lockState(file, opts.staleMs ?? 10_000);
      if (state === 'gone') continue;
      if (state === 'stale' && (await breakStale(file, opts.staleMs ?? 10_000))) continue;
      if (Date.now() > deadline) throw new LockTimeoutError(`record ${key} is locked by another process (lock file ${file})`);
      // Waiting for another process: a short, growing pause (1, 2, 4 ... 20 ms).
      await new Promise((r) => setTimeout(r, Math.min(20, 1 << Math.min(attempt, 5))));
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.unlink(file).catch(() => {});
  }
}
