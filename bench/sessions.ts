/**
 * Many supervised sessions in one process (issue 3's bench): by default 256 ManagedSessions, 64 tgtd targets x 4
 * loopback portals (127.0.0.1..127.0.0.4, one port), NOP-Out every 1 s of silence, logins spread by one shared
 * LoginPacer. Measures the time until every session is logged in (and per-session login latency), then idles
 * and measures this process's CPU (process.cpuUsage / wall), tgtd's CPU (/proc/PID/stat), RSS and heap per
 * session, then logs every session out.
 *
 *   npx tsc -p tsconfig.json && node --expose-gc dist/bench/sessions.js [--sessions 256] [--idle 10]
 *     [--settle 0] [--portals 4] [--in-flight 16] [--rate 200] [--burst 1] [--nop-ms 1000] [--no-warmup] [--json F] [--md F]
 *
 * Goals (issue 3): all logged in within 5 s, idle CPU under 5% of a core, under 200 KiB per session.
 * Writes bench/results/sessions.{json,md} unless --json/--md name other files. Loopback only.
 */
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { ManagedSession } from '../src/session/managed-session.js';
import { LoginPacer, type LoginSlotRelease } from '../src/session/login-pacer.js';
import { connectOnce } from '../test/support/ports.js';

const TGTD = existsSync('/usr/sbin/tgtd') ? '/usr/sbin/tgtd' : 'tgtd';
const TGTADM = existsSync('/usr/sbin/tgtadm') ? '/usr/sbin/tgtadm' : 'tgtadm';
const IQN_PREFIX = 'iqn.2025-01.io.mpiscsi:bench-sessions';
const INITIATOR = 'iqn.2025-01.io.mpiscsi:bench-initiator';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const GOALS = { loginAllMs: 5000, idleCpuPct: 5, kibPerSession: 200 };

interface Options {
  sessions: number;
  portals: number;
  idleS: number;
  settleS: number;
  inFlight: number;
  rate: number;
  burst: number;
  nopMs: number;
  warmup: boolean;
  json: string;
  md: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    sessions: 256,
    portals: 4,
    idleS: 10,
    settleS: 0,
    inFlight: 16,
    rate: 200,
    burst: 1,
    nopMs: 1000,
    warmup: true,
    json: join(ROOT, 'bench', 'results', 'sessions.json'),
    md: join(ROOT, 'bench', 'results', 'sessions.md'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (min: number) => {
      const n = Number(value());
      if (!Number.isFinite(n) || n < min) throw new Error(`${a} must be a number >= ${min}`);
      return n;
    };
    if (a === '--sessions') o.sessions = Math.floor(num(1));
    else if (a === '--portals') o.portals = Math.floor(num(1));
    else if (a === '--idle') o.idleS = num(0.1);
    else if (a === '--settle') o.settleS = num(0);
    else if (a === '--in-flight') o.inFlight = Math.floor(num(1));
    else if (a === '--rate') o.rate = num(0);
    else if (a === '--burst') o.burst = Math.floor(num(1));
    else if (a === '--nop-ms') o.nopMs = Math.floor(num(0));
    else if (a === '--no-warmup') o.warmup = false;
    else if (a === '--json') o.json = resolve(value());
    else if (a === '--md') o.md = resolve(value());
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: node --expose-gc dist/bench/sessions.js [--sessions N] [--idle S] [--settle S] [--portals P] [--in-flight K] [--rate R] [--burst B] [--nop-ms MS] [--no-warmup] [--json F] [--md F]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.portals > 254) throw new Error('--portals at most 254 (127.0.0.1..127.0.0.254)');
  return o;
}

// ---------------------------------------------------------------------------------------------- tgtd

let tgtd: ChildProcess | undefined;
let controlSocket: number | undefined;

function killTgtd(): void {
  if (tgtd && tgtd.exitCode === null && tgtd.signalCode === null) tgtd.kill('SIGKILL'); // tgtd ignores SIGTERM
  if (controlSocket !== undefined)
    for (const f of [`/var/run/tgtd/socket.${controlSocket}`, `/var/run/tgtd/socket.${controlSocket}.lock`]) rmSync(f, { force: true });
}
process.on('exit', killTgtd);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => {
    killTgtd();
    process.stderr.write(`sessions: ${sig}, stopped\n`);
    process.exit(130);
  });

function tgtadm(args: string[]): Promise<string> {
  return new Promise((res, rej) =>
    execFile(TGTADM, ['-C', String(controlSocket), '--lld', 'iscsi', ...args], { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? rej(new Error(`tgtadm ${args.join(' ')}: ${stderr || err.message}`)) : res(stdout),
    ),
  );
}

/** A port free on every portal address. */
async function freePort(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(hosts[0], 0);
    try {
      for (const h of hosts.slice(1)) await listenOnce(h, port);
      return port;
    } catch {
      // taken on another address: try another
    }
  }
  throw new Error('no port free on every portal address');
}

function listenOnce(host: string, port: number): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen({ host, port, exclusive: true }, () => {
      const a = srv.address();
      const p = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => res(p));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startTgtd(hosts: string[], targets: number): Promise<{ port: number; pid: number }> {
  const port = await freePort(hosts);
  do controlSocket = 1000 + Math.floor(Math.random() * 29000);
  while (existsSync(`/var/run/tgtd/socket.${controlSocket}`));
  const portals = hosts.map((h) => `portal=${h}:${port}`).join(',');
  const child = spawn(TGTD, ['-f', '-C', String(controlSocket), '--iscsi', portals], { stdio: ['ignore', 'ignore', 'pipe'] });
  tgtd = child;
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  let exited: string | undefined;
  child.once('exit', (code, sig) => (exited = `tgtd exited (${code ?? sig}): ${stderr.trim()}`));
  for (let attempt = 0; ; attempt++) {
    if (exited) throw new Error(exited);
    try {
      await tgtadm(['--op', 'show', '--mode', 'sys']);
      for (const h of hosts) await connectOnce(h, port);
      break;
    } catch (err) {
      if (attempt > 200) throw new Error(`tgtd did not become ready: ${(err as Error).message}; ${stderr}`);
      await sleep(25);
    }
  }
  for (let tid = 1; tid <= targets; tid++) {
    await tgtadm(['--op', 'new', '--mode', 'target', '--tid', String(tid), '-T', `${IQN_PREFIX}-${tid}`]);
    // The null backing store ignores the path: 1 TiB of zeroes, no disk.
    await tgtadm(['--op', 'new', '--mode', 'logicalunit', '--tid', String(tid), '--lun', '1', '--bstype', 'null', '-b', '/dev/null']);
    await tgtadm(['--op', 'bind', '--mode', 'target', '--tid', String(tid), '-I', 'ALL']);
  }
  return { port, pid: child.pid! };
}

// ---------------------------------------------------------------------------------------------- measures

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process in ms (fields 14 and 15 of /proc/PID/stat, after the command name). */
function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** CPU ms per thread name of this process (main thread is "node"; V8 workers, libuv pool, ...). */
function threadCpuMs(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat
        .slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        .replace(/\d+$/, '')
        .trim();
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK);
    }
  } catch {
    // not Linux
  }
  return out;
}

function procRssKiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

const gc = (globalThis as { gc?: () => void }).gc;
async function settleMemory() {
  if (gc) {
    for (let i = 0; i < 3; i++) {
      gc();
      await sleep(20);
    }
  }
  const m = process.memoryUsage();
  const spaces: Record<string, { sizeKiB: number; usedKiB: number }> = {};
  for (const sp of getHeapSpaceStatistics())
    spaces[sp.space_name] = { sizeKiB: Math.round(sp.space_size / 1024), usedKiB: Math.round(sp.space_used_size / 1024) };
  return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers, spaces };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A LoginPacer that also records how long each slot was held (connect + login conversation). */
class TimedPacer extends LoginPacer {
  readonly heldMs: number[] = [];
  override async acquire(signal?: AbortSignal): Promise<LoginSlotRelease> {
    const release = await super.acquire(signal);
    const t = performance.now();
    return () => {
      this.heldMs.push(performance.now() - t);
      release();
    };
  }
}

// ---------------------------------------------------------------------------------------------- run

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const load0 = loadavg();
  const hosts = Array.from({ length: o.portals }, (_, i) => `127.0.0.${i + 1}`);
  const targets = Math.ceil(o.sessions / o.portals);
  const timers = { noopOutIntervalMs: o.nopMs, noopOutTimeoutMs: o.nopMs };
  const log = (s: string) => process.stderr.write(`sessions: ${s}\n`);
  if (!gc) log('run with --expose-gc for stable memory numbers');

  log(`starting tgtd: ${targets} targets x ${o.portals} portals`);
  const { port, pid } = await startTgtd(hosts, targets);
  const make = (i: number, pacer?: LoginPacer) =>
    new ManagedSession({
      host: hosts[i % o.portals],
      port,
      targetName: `${IQN_PREFIX}-${Math.floor(i / o.portals) + 1}`,
      initiatorName: INITIATOR,
      timers,
      luns: [1],
      pacer,
    });

  // One session in and out first, so that code loaded and compiled once is not charged to every session.
  if (o.warmup) {
    const w = make(0);
    await w.login();
    await w.logout();
    w.stop();
  }

  const before = await settleMemory();
  const pacer = new TimedPacer({ maxInFlight: o.inFlight, ratePerSecond: o.rate, burst: o.burst });
  const sessions = Array.from({ length: o.sessions }, (_, i) => make(i, pacer));
  const tgtdCpu0 = procCpuMs(pid);

  log(`logging in ${o.sessions} sessions`);
  const t0 = performance.now();
  const latencies: number[] = [];
  const failures: string[] = [];
  await Promise.all(
    sessions.map((s) =>
      s.login().then(
        () => latencies.push(performance.now() - t0),
        (err: Error) => failures.push(`${s.key}: ${err.message}`),
      ),
    ),
  );
  const loginAllMs = performance.now() - t0;
  const tgtdLoginCpuMs = diff(procCpuMs(pid), tgtdCpu0);
  latencies.sort((a, b) => a - b);
  const held = [...pacer.heldMs].sort((a, b) => a - b);
  log(
    `logged in ${latencies.length}/${o.sessions} in ${loginAllMs.toFixed(0)} ms${failures.length ? `; failures: ${failures.slice(0, 3).join('; ')}` : ''}`,
  );

  const afterLogin = await settleMemory();
  const enteredAt = sessions.map((s) => s.status.at);

  if (o.settleS > 0) {
    log(`settling ${o.settleS} s (JIT warm-up) before measuring`);
    await sleep(o.settleS * 1000);
  }
  log(`idling ${o.idleS} s`);
  const threads0 = threadCpuMs();
  const cpu0 = process.cpuUsage();
  const tgtdIdle0 = procCpuMs(pid);
  const elu0 = performance.eventLoopUtilization();
  const w0 = performance.now();
  // CPU per window of the idle period, to tell JIT warm-up (TurboFan still compiling) from steady state.
  const windows: number[] = [];
  const windowMs = Math.min(5000, o.idleS * 1000);
  for (let done = 0; done < o.idleS * 1000 - 1; ) {
    const step = Math.min(windowMs, o.idleS * 1000 - done);
    const c = process.cpuUsage();
    const t = performance.now();
    await sleep(step);
    const d = process.cpuUsage(c);
    windows.push(((d.user + d.system) / 1000 / (performance.now() - t)) * 100);
    done += step;
  }
  const idleWallMs = performance.now() - w0;
  const cpu = process.cpuUsage(cpu0);
  const elu = performance.eventLoopUtilization(elu0);
  const tgtdIdleCpuMs = diff(procCpuMs(pid), tgtdIdle0);
  const threadCpu: Record<string, number> = {};
  for (const [name, ms] of threadCpuMs()) threadCpu[name] = Math.round(ms - (threads0.get(name) ?? 0));
  const afterIdle = await settleMemory();
  const stillIn = sessions.filter((s, i) => s.status.state === 'loggedIn' && s.status.at === enteredAt[i]).length;
  const tgtdRssKiB = procRssKiB(pid);

  log('logging out');
  const l0 = performance.now();
  const logoutFailures: string[] = [];
  await Promise.all(sessions.map((s) => s.logout().catch((err: Error) => logoutFailures.push(`${s.key}: ${err.message}`))));
  const logoutAllMs = performance.now() - l0;
  for (const s of sessions) s.stop();
  killTgtd();

  const n = o.sessions;
  const kib = (b: number) => b / 1024;
  const idleCpuPct = ((cpu.user + cpu.system) / 1000 / idleWallMs) * 100;
  const result = {
    date: new Date().toISOString(),
    host: {
      cpus: cpus().length,
      model: cpus()[0]?.model,
      kernel: release(),
      node: process.version,
      exposeGc: !!gc,
      loadavgBefore: load0,
      loadavgAfter: loadavg(),
    },
    config: { ...o, json: undefined, md: undefined, targets, hosts, timers },
    login: {
      loggedIn: latencies.length,
      failures,
      allMs: loginAllMs,
      latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies[latencies.length - 1] },
      slotHeldMs: { p50: quantile(held, 0.5), p99: quantile(held, 0.99), max: held[held.length - 1] },
      pacerMaxWaitMs: pacer.stats.maxWaitMs,
      tgtdCpuMs: tgtdLoginCpuMs,
    },
    idle: {
      wallMs: idleWallMs,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      cpuPctOfCore: idleCpuPct,
      /** CPU % of a core per consecutive window (5 s) of the idle period. */
      cpuPctWindows: windows,
      eventLoopUtilization: elu.utilization,
      /** CPU ms by thread name over the idle period (clock-tick resolution). */
      threadCpuMs: threadCpu,
      tgtdCpuPctOfCore: tgtdIdleCpuMs === undefined ? undefined : (tgtdIdleCpuMs / idleWallMs) * 100,
      sessionsUndisturbed: stillIn,
    },
    memory: {
      before,
      afterLogin,
      afterIdle,
      rssKiBPerSession: kib(afterLogin.rss - before.rss) / n,
      rssKiBPerSessionAfterIdle: kib(afterIdle.rss - before.rss) / n,
      heapKiBPerSession: kib(afterLogin.heapUsed - before.heapUsed) / n,
      /** V8 heap reserved (used or not): includes young-generation growth, which is not per session. */
      heapTotalKiBPerSession: kib(afterLogin.heapTotal - before.heapTotal) / n,
      externalKiBPerSession: kib(afterLogin.external - before.external) / n,
      tgtdRssKiB,
    },
    logout: { allMs: logoutAllMs, failures: logoutFailures },
  };

  const pass = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const f = (x: number | undefined, d = 1) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
  const allIn = latencies.length === n;
  const md = [
    `# ${n} sessions: login spread, idle cost (bench/sessions.ts)`,
    '',
    `${targets} tgtd targets (LUN 1, \`--bstype null\`) x ${o.portals} portals (${hosts[0]}..${hosts[hosts.length - 1]}:${port}), one process; ` +
      `NOP-Out interval/timeout ${o.nopMs}/${o.nopMs} ms; LoginPacer ${o.inFlight} in flight, ${o.rate}/s, burst ${o.burst}; ` +
      `${result.host.cpus} CPUs shared with tgtd; node ${process.version}${gc ? ', --expose-gc' : ''}; ` +
      `load average ${load0.map((l) => l.toFixed(2)).join(' ')} before, ${result.host.loadavgAfter.map((l) => l.toFixed(2)).join(' ')} after; ` +
      `idle measured ${o.settleS} s after the last login; ${result.date}.`,
    '',
    '| measure | value | goal | result |',
    '|---|---|---|---|',
    `| all ${n} logged in | ${f(loginAllMs, 0)} ms (${latencies.length}/${n}) | < ${GOALS.loginAllMs} ms | ${pass(allIn && loginAllMs < GOALS.loginAllMs)} |`,
    `| idle CPU, this process (${f(idleWallMs / 1000, 1)} s) | ${f(idleCpuPct, 2)} % of a core | < ${GOALS.idleCpuPct} % | ${pass(idleCpuPct < GOALS.idleCpuPct)} |`,
    `| idle CPU per ${f(windowMs / 1000, 0)} s window | ${windows.map((w) => f(w, 2)).join(', ')} % | | |`,
    `| RSS per session (after login) | ${f(result.memory.rssKiBPerSession)} KiB | < ${GOALS.kibPerSession} KiB | ${pass(result.memory.rssKiBPerSession < GOALS.kibPerSession)} |`,
    `| per-session login latency p50 / p99 / max (incl. pacer wait) | ${f(result.login.latencyMs.p50, 0)} / ${f(result.login.latencyMs.p99, 0)} / ${f(result.login.latencyMs.max, 0)} ms | | |`,
    `| login slot held (connect + login) p50 / p99 | ${f(result.login.slotHeldMs.p50)} / ${f(result.login.slotHeldMs.p99)} ms | | |`,
    `| RSS per session after idle | ${f(result.memory.rssKiBPerSessionAfterIdle)} KiB | | |`,
    `| JS heap used / heap reserved / external per session | ${f(result.memory.heapKiBPerSession)} / ${f(result.memory.heapTotalKiBPerSession)} / ${f(result.memory.externalKiBPerSession)} KiB | | |`,
    `| idle CPU user / system | ${f(result.idle.cpuUserMs, 0)} / ${f(result.idle.cpuSystemMs, 0)} ms; event loop utilization ${f(elu.utilization * 100, 2)} %; by thread (ms): ${Object.entries(
      threadCpu,
    )
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} | | |`,
    `| sessions undisturbed through idle | ${stillIn}/${n} | ${n} | ${pass(stillIn === n)} |`,
    `| tgtd CPU at idle / during login | ${f(result.idle.tgtdCpuPctOfCore, 2)} % of a core / ${f(tgtdLoginCpuMs, 0)} ms | | |`,
    `| tgtd RSS | ${f(tgtdRssKiB === undefined ? undefined : tgtdRssKiB / 1024)} MiB | | |`,
    `| all logged out | ${f(logoutAllMs, 0)} ms (${n - logoutFailures.length}/${n}) | | |`,
    '',
  ].join('\n');
  process.stdout.write(`${md}\n`);
  for (const file of [o.json, o.md]) mkdirSync(dirname(file), { recursive: true });
  writeFileSync(o.json, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(o.md, md);
  log(`wrote ${o.json} and ${o.md}`);
  if (!allIn || failures.length) process.exitCode = 1;
}

function diff(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}

main().catch((err: unknown) => {
  killTgtd();
  process.stderr.write(`sessions: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
