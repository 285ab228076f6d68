/**
 * What mpiscsid checks before it opens anything: the node database directory and the state directory exist
 * (created 0700 when missing, as StateDirectory= would) and are directories this process can read, write and
 * enter. A failure names the directory, the flag or key that set it and the reason, with iscsiadm's exit code
 * (IDBM for the database, ACCESS for the state directory), so a bad --db is found at start, not at a login.
 */
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { ExitCode } from '../control/exit-codes.js';

export class StartDirError extends Error {
  override readonly name = 'StartDirError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function usableDir(dir: string, what: string, exitCode: number): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why =
      e.code === 'ENOTDIR' || e.code === 'EEXIST'
        ? 'not a directory'
        : e.code === 'EACCES' || e.code === 'EPERM'
          ? 'permission denied'
          : e.code === 'EROFS'
            ? 'read-only file system'
            : e.message;
    throw new StartDirError(`${what} ${dir} is not usable: ${why} (${e.code ?? 'error'})`, exitCode);
  }
}

/** Checks (and creates when missing) the database directory (unless nats-kv://) and the state directory. */
export function checkStartDirs(c: { db: string; stateDir: string }): void {
  if (!c.db.startsWith('nats-kv://')) usableDir(c.db, 'node database (--db / db)', ExitCode.IDBM);
  usableDir(c.stateDir, 'state directory (--state-dir / state_dir)', ExitCode.ACCESS);
}
