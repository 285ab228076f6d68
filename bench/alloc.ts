/**
 * Bytes allocated and syscalls made per I/O by `mpiscsi serve` (`npm run bench:alloc`): one tgtd null LUN, the
 * export preloaded with bench/heap-sampler.js, fio's nbd engine doing a fixed number of I/Os. The heap
 * profile covers exactly the measured fio run (started and stopped over IPC), collected objects included;
 * `strace -c -f` counts the export's syscalls over a second run of the same size. Counts, not timings: the
 * numbers hold on a busy machine.
 *
 *   node dist/bench/alloc.js [--ios N] [--rw randread|randwrite] [--bs BYTES] [--iodepth N] [--top N]
 *                            [--interval BYTES] [--no-strace] [--json FILE] [--profile FILE]
 *
 * Loopback only; every process it starts is killed at the end, on errors and on SIGINT/SIGTERM/SIGHUP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Tgtd } from '../test/support/tgtd.js';
import { cleanUpOnExit, countSyscalls, describeFailure, killChildren, killTgtdNow, run, track } from './processes.js';
import { parseFioJson } from './fio.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
const MPISCSI = join(ROOT, 'dist', 'src', 'cli', 'mpiscsi.js');
const SAMPLER = join(ROOT, 'dist', 'bench', 'heap-sampler.js');
const IQN = 'iqn.2026-11.io.mpiscsi:bench-alloc';

// ------------------------------------------------------------------------------------ the heap profile

/** The parts of V8's SamplingHeapProfile this reads. */
interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

export interface AllocSite {
  /** "function file:line:column" of the allocating frame (line and column 1-based). */
  site: string;
  /** The frame that called it, same format. */
  caller: string;
  bytes: number;
}

const frame = (n: ProfileNode): string => {
  const f = n.callFrame;
  const file = f.url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
  return `${f.functionName || '(anonymous)'} ${file || '(native)'}:${f.lineNumber + 1}:${f.columnNumber + 1}`;
};

/**
 * Total bytes in the profile and the sites by self size, keyed by allocating frame and its caller.
 * selfSize is V8's estimate of all bytes allocated at the node (samples scaled by the sampling interval).
 */
export function summarise(head: ProfileNode): { total: number; sites: AllocSite[] } {
  const bySite = new Map<string, AllocSite>();
  let total = 0;
  const walk = (n: ProfileNode, parent: ProfileNode | undefined) => {
    total += n.selfSize;
    if (n.selfSize > 0) {
      const site = frame(n);
      const caller = parent ? frame(parent) : '';
      const key = `${site}\n${caller}`;
      const s = bySite.get(key);
      if (s) s.bytes += n.selfSize;
      else bySite.set(key, { site, caller, bytes: n.selfSize });
    }
    for (const c of n.children) walk(c, n);
  };
  walk(head, undefined);
  return { total, sites: [...bySite.values()].sort((a, b) => b.bytes - a.bytes) };
}

// ------------------------------------------------------------------------------------ processes

interface Opts {
  ios: number;
  rw: 'randread' | 'randwrite';
  bs: number;
  iodepth: number;
  top: number;
  interval: number;
  strace: boolean;
  json?: string;
  profile?: string;
}

function fioArgs(uri: string, o: Opts, ios: number): string[] {
  return [
    '--name=alloc',
    '--ioengine=nbd',
    `--uri=${uri}`,
    `--rw=${o.rw}`,
    `--bs=${o.bs}`,
    `--iodepth=${o.iodepth}`,
    '--iodepth_batch_complete_min=1',
    `--number_ios=${ios}`,
    // The null LUN is 1 TiB; 1 GiB of it is plenty of random offsets and keeps fio's setup short.
    '--size=1G',
    '--randrepeat=0',
    '--norandommap=1',
    '--output-format=json',
  ];
}

async function fio(uri: string, o: Opts, ios: number): Promise<number> {
  const r = await run('fio', fioArgs(uri, o, ios), 600_000);
  if (r.code !== 0) throw new Error(`fio failed: ${describeFailure(r)}`);
  const res = parseFioJson(r.stdout);
  if (res.error !== 0) throw new Error(`fio job error ${res.error}: ${res.preamble}`);
  return res.read.ios + res.write.ios;
}

/** Starts the export with the sampler preloaded and an IPC channel; resolves with its URI. */
async function startServe(socket: string, url: string): Promise<{ child: ChildProcess; uri: string }> {
  const args = ['--import', SAMPLER, MPISCSI, 'serve', '--socket', socket, '--name', 'alloc', '-i', 'iqn.2026-11.io.mpiscsi:alloc'];
  args.push('--set', 'node.session.iscsi.DefaultTime2Wait=0', url);
  const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-4000)));
  const uri = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve printed no URI in 30 s: ${err}`)), 30_000);
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const line = out.split('\n').find((l) => l.startsWith('nbd+unix://') && out.includes(`${l}\n`));
      if (line === undefined) return;
      clearTimeout(timer);
      resolvePromise(line.trim());
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? sig}): ${err.trim()}`));
    });
  });
  return { child, uri };
}

/** Sends one message to the sampler and waits for its answer. */
function ask(child: ChildProcess, msg: object, want: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const onMessage = (m: { heap?: string; message?: string }) => {
      if (m?.heap === want) {
        child.off('message', onMessage);
        resolvePromise();
      } else if (m?.heap === 'error') {
        child.off('message', onMessage);
        reject(new Error(`heap sampler: ${m.message}`));
      }
    };
    child.on('message', onMessage);
    child.send(msg);
  });
}

function parseOpts(argv: string[]): Opts {
  const { values } = parseArgs({
    args: argv,
    options: {
      ios: { type: 'string', default: '100000' },
      rw: { type: 'string', default: 'randread' },
      bs: { type: 'string', default: '4096' },
      iodepth: { type: 'string', default: '32' },
      top: { type: 'string', default: '15' },
      interval: { type: 'string', default: '4096' },
      'no-strace': { type: 'boolean', default: false },
      json: { type: 'string' },
      profile: { type: 'string' },
    },
  });
  const int = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  if (values.rw !== 'randread' && values.rw !== 'randwrite') throw new RangeError(`--rw must be randread or randwrite, got '${values.rw}'`);
  return {
    ios: int('ios', values.ios, 1000),
    rw: values.rw,
    bs: int('bs', values.bs, 512),
    iodepth: int('iodepth', values.iodepth, 1),
    top: int('top', values.top, 1),
    interval: int('interval', values.interval, 64),
    strace: !values['no-strace'],
    json: values.json,
    profile: values.profile,
  };
}

async function main(): Promise<void> {
  const o = parseOpts(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-alloc-'));
  let tgtd: Tgtd | undefined;
  cleanUpOnExit('bench/alloc', () => {
    killChildren();
    if (tgtd) killTgtdNow(tgtd);
    rmSync(dir, { recursive: true, force: true });
  });
  tgtd = await Tgtd.start();
  const tid = await tgtd.addTarget(IQN);
  // The null backing store ignores the path: 1 TiB, reads return zeroes, writes are dropped.
  await tgtd.addLun(tid, 1, { bstype: 'null', path: '/dev/null' });
  const { child, uri } = await startServe(join(dir, 'alloc.sock'), `iscsi://${tgtd.host}:${tgtd.port}/${IQN}/1`);

  // A warm-up run first, so that compilation and the first-use allocations stay out of the window.
  await fio(uri, o, Math.min(20_000, o.ios));
  const profileFile = o.profile ?? join(dir, 'heap.json');
  await ask(child, { heap: 'start', intervalBytes: o.interval }, 'started');
  const ios = await fio(uri, o, o.ios);
  await ask(child, { heap: 'stop', file: profileFile }, 'stopped');
  const { total, sites } = summarise((JSON.parse(readFileSync(profileFile, 'utf8')) as { head: ProfileNode }).head);

  let syscalls: { calls: number; ios: number; top: Array<{ name: string; calls: number }> } | undefined;
  if (o.strace) {
    const { result, count } = await countSyscalls(child.pid!, join(dir, 'strace.txt'), () => fio(uri, o, o.ios));
    syscalls = { calls: count.calls, ios: result, top: count.top };
  }

  const perIo = (n: number) => n / ios;
  const kb = (n: number) => (n / 1024).toFixed(2);
  const lines = [
    `mpiscsi serve, tgtd null LUN, fio ${o.rw} bs=${o.bs} iodepth=${o.iodepth}, ${ios} I/Os measured (heap sampling every ${o.interval} B)`,
    `allocated: ${kb(total)} KiB in all, ${perIo(total).toFixed(0)} B per I/O (collected objects included)`,
    '',
    `top ${o.top} allocation sites, bytes per I/O (allocating frame <- caller):`,
    ...sites.slice(0, o.top).map((s) => `${perIo(s.bytes).toFixed(0).padStart(7)}  ${s.site}  <- ${s.caller}`),
  ];
  if (syscalls) {
    lines.push('', `syscalls (strace -c -f, ${syscalls.ios} I/Os): ${(syscalls.calls / syscalls.ios).toFixed(2)} per I/O`);
    for (const t of syscalls.top) lines.push(`${(t.calls / syscalls.ios).toFixed(2).padStart(7)}  ${t.name}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (o.json !== undefined) {
    const json = {
      workload: { rw: o.rw, bs: o.bs, iodepth: o.iodepth, ios, intervalBytes: o.interval },
      bytesPerIo: perIo(total),
      sites: sites.slice(0, o.top).map((s) => ({ ...s, bytesPerIo: perIo(s.bytes) })),
      syscalls: syscalls ? { perIo: syscalls.calls / syscalls.ios, ios: syscalls.ios, top: syscalls.top } : null,
    };
    writeFileSync(o.json, `${JSON.stringify(json, null, 2)}\n`);
  }
  child.kill('SIGTERM');
  await new Promise((r) => (child.exitCode !== null ? r(undefined) : child.once('exit', r)));
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    process.stderr.write(`bench/alloc: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
