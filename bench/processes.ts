/**
 * The child processes of a benchmark run: each one started through here is SIGKILLed when the run ends,
 * fails or is interrupted (SIGINT/SIGTERM/SIGHUP), together with the bench's own cleanup (tgtd's socket
 * files, work directories); and commands run to completion with their output collected.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Tgtd } from '../test/support/tgtd.js';

export interface RunOutput {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** Remembers `child` until it exits, so that killChildren() reaches it. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Synchronous (it also runs from the 'exit' handler): SIGKILL every tracked child still running. */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

/**
 * Runs `cleanup` (which should call killChildren) when the process exits, and on SIGINT/SIGTERM/SIGHUP
 * before exiting 130 with a line naming the bench.
 */
export function cleanUpOnExit(name: string, cleanup: () => void): void {
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(sig, () => {
      cleanup();
      process.stderr.write(`${name}: ${sig}, stopped\n`);
      process.exit(130);
    });
}

/** Runs a command to completion (SIGKILLed after `timeoutMs`), collecting its output. */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<RunOutput> {
  return new Promise((resolvePromise, reject) => {
    const child = track(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** A command's output (stdout then stderr, trimmed), or '' when it fails: for version strings. */
export function execText(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolvePromise) => {
    execFile(cmd, args, { timeout: 5000 }, (err, stdout, stderr) => resolvePromise(err ? '' : `${stdout}${stderr}`.trim()));
  });
}

/** The last lines of a failed command's output, for an error message. */
export function describeFailure(r: RunOutput): string {
  const text = (r.stderr.trim() || r.stdout.trim()).split(/[\r\n]+/).slice(-3).join(' | ');
  return `exit ${r.code ?? r.signal}${text ? `: ${text}` : ''}`;
}

/**
 * Synchronous (for the 'exit' handler): SIGKILLs a tgtd started with the test helper and removes what a
 * killed tgtd leaves behind (its control socket and lock file) and the helper's backing files.
 */
export function killTgtdNow(t: Tgtd): void {
  if (t.process.exitCode === null && t.process.signalCode === null) t.process.kill('SIGKILL');
  for (const f of [`/var/run/tgtd/socket.${t.controlPort}`, `/var/run/tgtd/socket.${t.controlPort}.lock`]) rmSync(f, { force: true });
  rmSync(t.dir, { recursive: true, force: true });
}
