/**
 * `mpiscsi serve --fork`, as qemu-nbd --fork: the export runs on in a detached child, and this process prints
 * the child's URI lines and exits once the export accepts connections. So a script can take the URI from a
 * command substitution (`uri=$(mpiscsi serve --fork --pid-file P URL | head -1)`), which waits for every process
 * of its pipeline and for the end of its output: the child holds neither (its stdout is /dev/null; the URIs come
 * over a pipe of their own, fd 3, closed once they are written). Its stderr stays the caller's, for its log lines.
 * Stop it with its pid (--pid-file) and SIGTERM, as the foreground serve.
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

/** The child learns where its URIs go from this variable (the fd number). */
export const READY_FD_ENV = 'MPISCSI_SERVE_READY_FD';

/** The child exited before its export accepted connections; it said why on stderr. */
export class ForkedServeExitError extends Error {
  override readonly name = 'ForkedServeExitError';

  constructor(readonly code: number) {
    super(`serve exited with ${code} before it accepted connections`);
  }
}

/**
 * Starts the child (this command line without --fork), writes each URI line it reports to `out`, and resolves
 * once it closes its ready pipe; rejects with ForkedServeExitError when it exits first.
 */
export function forkServe(argv: readonly string[], out: (line: string) => void): Promise<void> {
  const args = argv.slice(1).filter((a) => a !== '--fork');
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    env: { ...process.env, [READY_FD_ENV]: '3' },
  });
  const ready = child.stdio[3] as Readable;
  // Interrupted before the export is up: the child goes too (it is in a process group of its own).
  const interrupt = () => child.kill('SIGTERM');
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const settled = () => {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  };
  return new Promise<void>((resolve, reject) => {
    let text = '';
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      settled();
      reject(new ForkedServeExitError(code ?? (signal ? 128 : 1)));
    };
    child.once('exit', onExit);
    child.once('error', (err) => {
      settled();
      reject(err);
    });
    ready.setEncoding('utf8').on('data', (s: string) => {
      text += s;
    });
    ready.once('end', () => {
      if (text === '') return; // closed without a URI: the child is exiting, its exit decides
      child.off('exit', onExit);
      settled();
      for (const line of text.split('\n')) if (line !== '') out(line);
      child.unref();
      resolve();
    });
  });
}

/** In the forked child: where the URI lines go (the ready pipe), and `done()` to close it once all are out. */
export function readyPipe(): { out: (line: string) => void; done: () => void } | undefined {
  const fd = Number(process.env[READY_FD_ENV]);
  if (!Number.isInteger(fd) || fd < 3) return undefined;
  delete process.env[READY_FD_ENV];
  return {
    out: (line) => void writeSync(fd, `${line}\n`),
    done: () => closeSync(fd),
  };
}
