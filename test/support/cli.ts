/** Runs the built CLI programs (dist/) as child processes, as a user would. */
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(program: 'mpiscsi' | 'mpiscsiadm', args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const script = join(root, 'dist', 'src', 'cli', `${program}.js`);
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

/** A CLI program still running: its stderr lines as they come, and its result when it exits. */
export interface RunningCli {
  /** Resolves with the first stderr line (seen so far or to come) that `match` accepts; rejects if the program exits first. */
  stderrLine(match: RegExp | ((line: string) => boolean)): Promise<string>;
  done: Promise<CliResult>;
}

/** Starts a CLI program without waiting for it, so a test can act on what it prints (progress, state lines). */
export function spawnCli(program: 'mpiscsi' | 'mpiscsiadm', args: string[], env: Record<string, string> = {}): RunningCli {
  const script = join(root, 'dist', 'src', 'cli', `${program}.js`);
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const lines: string[] = [];
  const waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    const parts = (partial + s).split(/\r|\n/);
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      for (const w of waiters)
        if (w.test(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
    }
  });
  const done = new Promise<CliResult>((resolve) =>
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })),
  );
  return {
    done,
    stderrLine(match) {
      const test = typeof match === 'function' ? match : (line: string) => match.test(line);
      const seen = lines.find(test);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        waiters.add({ test, resolve });
        done.then((r) => reject(new Error(`${program} exited (${r.code}) before printing a matching line; stderr:\n${r.stderr}`)));
      });
    },
  };
}
