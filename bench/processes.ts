/**
 * The child processes of a benchmark run: each one started through here is SIGKILLed when the run ends,
 * fails or is interrupted (SIGINT/SIGTERM/SIGHUP), together with the bench's own cleanup (tgtd's socket
 * files, work directories); and commands run to completion with their output collected.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
  const text = (r.stderr.trim() || r.stdout.trim())
    .split(/[\r\n]+/)
    .slice(-3)
    .join(' | ');
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

/** Clock ticks per second of /proc/PID/stat's utime and stime (sysconf(_SC_CLK_TCK), 100 on Linux). */
let clockTicks: number | undefined;

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/PID/stat; undefined if gone. */
export async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  clockTicks ??= Number((await execText('getconf', ['CLK_TCK']).catch(() => '100')).trim()) || 100;
  try {
    // Fields after "(comm) ": state is field 3, utime 14 and stime 15 (proc(5)).
    const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(rest[11]) + Number(rest[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

/**
 * The scheduler's view of a process, summed over its threads (/proc/PID/task/TID/schedstat, `schedstat` in
 * proc(5)): nanoseconds on a CPU, nanoseconds runnable but waiting on a run queue, and timeslices run.
 * Undefined if the process is gone or the kernel has no schedstats.
 */
export function schedStat(pid: number | undefined): { runNs: number; waitNs: number; slices: number } | undefined {
  if (pid === undefined) return undefined;
  try {
    const total = { runNs: 0, waitNs: 0, slices: 0 };
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const [run, wait, slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(' ').map(Number);
      total.runNs += run;
      total.waitNs += wait;
      total.slices += slices;
    }
    return total;
  } catch {
    return undefined;
  }
}

/** What `strace -c` counted while attached: calls in all, and the busiest syscalls. */
export interface SyscallCount {
  calls: number;
  top: Array<{ name: string; calls: number }>;
}

/**
 * Attaches `strace -c -f` to a running process (all its threads) until `during` settles, then detaches
 * and returns the counts. strace slows the traced process down, so throughput under it is not reported.
 */
export async function countSyscalls<T>(pid: number, file: string, during: () => Promise<T>): Promise<{ result: T; count: SyscallCount }> {
  const st = track(spawn('strace', ['-c', '-f', '-p', String(pid), '-o', file], { stdio: ['ignore', 'ignore', 'pipe'] }));
  let err = '';
  st.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  // strace says "Process N attached" (per thread) on stderr once it is in.
  for (let i = 0; i < 200 && !/attached/.test(err); i++) {
    if (st.exitCode !== null) throw new Error(`strace exited: ${err.trim()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  const result = await during();
  st.kill('SIGINT');
  await new Promise((r) => (st.exitCode !== null ? r(undefined) : st.once('exit', r)));
  if (!existsSync(file)) throw new Error(`strace wrote no summary: ${err.trim()}`);
  const rows = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim().split(/\s+/));
  // Rows: % time, seconds, usecs/call, calls, [errors], syscall; the last is "total".
  const parsed = rows
    .filter((r) => r.length >= 5 && /^\d/.test(r[0]) && /^\d+$/.test(r[3]))
    .map((r) => ({ name: r[r.length - 1], calls: Number(r[3]) }));
  const total = parsed.find((r) => r.name === 'total');
  const top = parsed
    .filter((r) => r.name !== 'total')
    .sort((a, b) => b.calls - a.calls)
    .slice(0, 6);
  return { result, count: { calls: total?.calls ?? top.reduce((s, r) => s + r.calls, 0), top } };
}
