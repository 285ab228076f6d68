/**
 * Test helpers that run the real NBD clients as child processes against an export: nbdinfo and nbdcopy (Debian
 * libnbd-bin), qemu-img and qemu-io (qemu-utils), fio with its nbd engine. Always asynchronous: the server under
 * test usually runs in the same process, so a synchronous spawn would deadlock it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Exit codes that are not an error (default [0]). */
  okCodes?: number[];
}

/** Runs a program; rejects (with its stderr) on a timeout or an exit code outside `okCodes`. */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const { timeoutMs = 60_000, okCodes = [0] } = options;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      const result = { code, stdout, stderr, ms: performance.now() - t0 };
      if (okCodes.includes(code)) resolve(result);
      else
        reject(
          new Error(
            `${cmd} ${args.join(' ')} exited ${code}${(err as { killed?: boolean } | null)?.killed ? ' (timed out)' : ''}: ${stderr || stdout}`,
          ),
        );
    });
  });
}

/** One export as `nbdinfo --json` describes it (libnbd 1.14 field names). */
export interface NbdinfoExport {
  'export-name': string;
  description?: string;
  'export-size': number;
  content?: string;
  is_rotational: boolean;
  is_read_only: boolean;
  can_cache: boolean;
  can_df: boolean;
  can_fast_zero: boolean;
  can_flush: boolean;
  can_fua: boolean;
  can_multi_conn: boolean;
  can_trim: boolean;
  can_zero: boolean;
  block_size_minimum?: number;
  block_size_preferred?: number;
  block_size_maximum?: number;
}

export interface NbdinfoResult {
  protocol: string;
  TLS: boolean;
  structured: boolean;
  exports: NbdinfoExport[];
}

/** `nbdinfo --json URI`. */
export async function nbdinfo(uri: string, extra: string[] = []): Promise<NbdinfoResult> {
  const r = await run('nbdinfo', ['--json', ...extra, uri]);
  return JSON.parse(r.stdout) as NbdinfoResult;
}

export interface NbdcopyOptions {
  /** --connections (default nbdcopy's own: 4 when the server allows multi-conn). */
  connections?: number;
  /** --requests in flight per connection. */
  requests?: number;
  /** --flush the destination at the end. Default true. */
  flush?: boolean;
  timeoutMs?: number;
}

/** `nbdcopy SRC DST`: either side a file path or an NBD URI. */
export function nbdcopy(src: string, dst: string, options: NbdcopyOptions = {}): Promise<RunResult> {
  const args: string[] = [];
  if (options.connections !== undefined) args.push(`--connections=${options.connections}`);
  if (options.requests !== undefined) args.push(`--requests=${options.requests}`);
  if (options.flush ?? true) args.push('--flush');
  return run('nbdcopy', [...args, '--', src, dst], { timeoutMs: options.timeoutMs ?? 120_000 });
}

/** `qemu-img compare -f raw -F raw A B`: exit 0 identical, 1 different (anything else is an error). */
export async function qemuImgCompare(a: string, b: string): Promise<{ identical: boolean; output: string }> {
  const r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', a, b], { okCodes: [0, 1], timeoutMs: 120_000 });
  return { identical: r.code === 0, output: (r.stdout + r.stderr).trim() };
}

/** `qemu-io -f raw URI -c CMD...` (write -P/-z/-f, read -P, discard, flush); resolves with its output. */
export async function qemuIo(uri: string, commands: string[]): Promise<string> {
  const r = await run('qemu-io', ['-f', 'raw', uri, ...commands.flatMap((c) => ['-c', c])]);
  return r.stdout + r.stderr;
}

export interface FioOptions {
  /** NBD URI for the nbd engine (`nbd+unix:///NAME?socket=...` or `nbd://HOST:PORT/NAME`). */
  uri: string;
  rw: 'read' | 'write' | 'randread' | 'randwrite' | 'randrw' | 'rw';
  bs: string;
  iodepth: number;
  /** Bytes of the export the job covers, e.g. '16M'. */
  size: string;
  /** Checksum verification of what was written (verify=crc32c etc.), fatal on the first mismatch. */
  verify?: string;
  /** Seconds, time_based. */
  runtime?: number;
  /** Issue a FLUSH every N writes. */
  fsync?: number;
  extra?: string[];
  timeoutMs?: number;
}

/** The parts of a fio JSON job result the tests look at. */
export interface FioJob {
  error: number;
  read: { io_bytes: number; total_ios: number; iops: number; clat_ns: { max: number } };
  write: { io_bytes: number; total_ios: number; iops: number; clat_ns: { max: number } };
}

/** Runs one fio job with `ioengine=nbd` and `--output-format=json`; rejects when fio fails (I/O or verify error). */
export async function fio(o: FioOptions): Promise<{ job: FioJob; ms: number; raw: unknown }> {
  const args = [
    '--name=nbd',
    '--ioengine=nbd',
    `--uri=${o.uri}`,
    `--rw=${o.rw}`,
    `--bs=${o.bs}`,
    `--iodepth=${o.iodepth}`,
    `--size=${o.size}`,
    '--output-format=json',
  ];
  // verify_state_save=0: fio would otherwise leave a *-verify.state file in the working directory.
  if (o.verify) args.push(`--verify=${o.verify}`, '--verify_fatal=1', '--do_verify=1', '--verify_state_save=0');
  if (o.runtime !== undefined) args.push('--time_based', `--runtime=${o.runtime}`);
  if (o.fsync !== undefined) args.push(`--fsync=${o.fsync}`);
  args.push(...(o.extra ?? []));
  const r = await run('fio', args, { timeoutMs: o.timeoutMs ?? 120_000 });
  // fio prints notes before the JSON on some versions.
  const raw = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: FioJob[] };
  return { job: raw.jobs[0], ms: r.ms, raw };
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
