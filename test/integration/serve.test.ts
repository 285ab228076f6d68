/**
 * `mpiscsi serve` end to end (issue 4): one tgtd LU reached over four paths (two portals, 127.0.0.1 and
 * 127.0.0.2, times two source addresses), each path through its own fault proxy, grouped into one multipath
 * device and served over NBD to the real clients: nbdinfo, nbdcopy, qemu-img and fio (with verify) while
 * paths are reset, blackholed and restored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tgtd } from '../support/tgtd.js';
import { FAST_FAILOVER_SET, FaultProxy } from '../support/fault-proxy.js';
import { fio, nbdinfo, type FioJob } from '../support/nbd-clients.js';
import { startServe, type RunningServe } from '../../src/cli/serve.js';

const IQN = 'iqn.2026-11.test:mpath';
const SIZE = 256 * 1024 * 1024; // the 256 MiB nbdcopy round trip
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let tgtd: Tgtd;
let backing: string;
let dir: string;
let proxies: FaultProxy[] = [];
let served: RunningServe;
let uri: string;
const lines: string[] = [];

/** The built CLI (npm run build). */
const MPISCSI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'mpiscsi.js');

/** `mpiscsi ARGS...` to completion. */
const mpiscsi = (...args: string[]) => run(process.execPath, [MPISCSI, ...args]);

function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-serve-'));
  tgtd = await Tgtd.start({ hosts: ['127.0.0.1', '127.0.0.2'] });
  const tid = await tgtd.addTarget(IQN);
  backing = await tgtd.addLun(tid, 1, { size: SIZE, random: true });
  // Path i: portal (i % 2) through proxy i; paths 2 and 3 bind source address 127.0.0.3 (a second iface).
  for (let i = 0; i < 4; i++) proxies.push(await FaultProxy.start({ host: tgtd.hosts[i % 2], port: tgtd.port }));
  const urls = proxies.map((p, i) => `iscsi://${p.host}:${p.port}/${IQN}/1${i >= 2 ? '?iface=127.0.0.3' : ''}`);
  served = await startServe({
    urls,
    socket: join(dir, 'mpatha.sock'),
    set: [...FAST_FAILOVER_SET],
    initiatorName: 'iqn.2026-11.test:serve',
    out: (l) => lines.push(l),
  });
  uri = served.uris[0];
});

afterAll(async () => {
  await served?.close();
  for (const p of proxies) await p.stop();
  proxies = [];
  await tgtd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mpiscsi serve', () => {
  it('groups the four paths into one device and exports it on a 0600 unix socket', () => {
    expect(uri).toBe(`nbd+unix:///mpatha?socket=${join(dir, 'mpatha.sock')}`);
    expect(statSync(join(dir, 'mpatha.sock')).mode & 0o777).toBe(0o600);
    const topology = served.topology().join('\n');
    expect(topology).toMatch(/^mpatha \(3[0-9a-f]+\) IET,VIRTUAL-DISK/);
    expect(topology.match(/active ready running/g)).toHaveLength(4);
  });

  it('nbdinfo shows the size, block sizes and flags of the LU', async () => {
    const r = await run('nbdinfo', ['--json', uri]);
    expect(r.code, r.stderr).toBe(0);
    const exp = JSON.parse(r.stdout).exports[0];
    expect(exp['export-size']).toBe(SIZE);
    expect(exp.block_size_minimum).toBe(512);
    expect(exp.block_size_preferred).toBeGreaterThanOrEqual(512);
    expect(exp.is_read_only).toBe(false);
    expect(exp.can_flush).toBe(true);
    expect(exp.can_fua).toBe(true);
    expect(exp.can_multi_conn).toBe(true);
  });

  it('nbdcopy writes random data and reads it back with the same sha256; qemu-img compare agrees', async () => {
    const input = join(dir, 'input.img');
    const data = randomBytes(SIZE);
    writeFileSync(input, data);
    let r = await run('nbdcopy', [input, uri]);
    expect(r.code, r.stderr).toBe(0);
    const out = join(dir, 'out.img');
    r = await run('nbdcopy', [uri, out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(data));
    expect(sha256(readFileSync(backing))).toBe(sha256(data));
    r = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', input, uri]);
    expect(r.stdout, r.stderr).toMatch(/Images are identical/);
  });

  it('multi-conn (NBD_FLAG_CAN_MULTI_CONN): nbdcopy over 4 connections and 4 fio jobs with verify on one export', async () => {
    const info = await nbdinfo(uri);
    expect(info.exports[0].can_multi_conn).toBe(true);
    const input = join(dir, 'multi.img');
    const data = randomBytes(SIZE);
    writeFileSync(input, data);
    let r = await run('nbdcopy', ['--connections=4', '--requests=16', input, uri]);
    expect(r.code, r.stderr).toBe(0);
    const out = join(dir, 'multi-out.img');
    r = await run('nbdcopy', ['--connections=4', uri, out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(data));
    expect(sha256(readFileSync(backing))).toBe(sha256(data));
    // Four jobs, four NBD connections, each writing 8 MiB of its own quarter and verifying it.
    const quarter = SIZE / 4;
    const each = 8 * 1024 * 1024;
    const { raw } = await fio({
      uri,
      rw: 'randwrite',
      bs: '4k',
      iodepth: 8,
      size: String(each),
      verify: 'crc32c',
      fsync: 64,
      extra: ['--numjobs=4', `--offset_increment=${quarter}`],
    });
    const jobs = (raw as { jobs: FioJob[] }).jobs;
    expect(jobs).toHaveLength(4);
    for (const j of jobs) {
      expect(j.error).toBe(0);
      expect(j.write.io_bytes).toBe(each);
    }
  });

  it('fio with verify sees no error while one path is reset, another blackholed, then both restored', async () => {
    const fio = spawn('fio', [
      '--name=failover',
      '--ioengine=nbd',
      `--uri=${uri}`,
      '--rw=randwrite',
      '--bs=4k',
      '--iodepth=32',
      '--size=24M',
      '--verify=crc32c',
      '--verify_fatal=1',
      '--verify_state_save=0',
      '--output-format=json',
    ]);
    let stdout = '';
    let stderr = '';
    fio.stdout.on('data', (d) => (stdout += d));
    fio.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number>((resolve) => fio.on('exit', (code) => resolve(code ?? 1)));
    // Faults at fixed points of the run, once fio's I/O is under way (each waits for completions to grow).
    const completions = () =>
      served.device
        .status()
        .groups.flatMap((g) => g.paths)
        .reduce((n, p) => n + p.stats.completed, 0);
    const afterCompletions = async (grow: number) => {
      const start = completions();
      while (completions() < start + grow) await new Promise((r) => setTimeout(r, 5));
    };
    await afterCompletions(500);
    proxies[0].set({ kind: 'reset' });
    await afterCompletions(1000);
    proxies[1].set({ kind: 'blackhole' });
    await afterCompletions(1000);
    proxies[0].set({ kind: 'pass' });
    proxies[1].set({ kind: 'pass' });
    const code = await exited;
    expect(code, stderr).toBe(0);
    const job = JSON.parse(stdout.slice(stdout.indexOf('{'))).jobs[0];
    if (stdout.indexOf('{') > 0) console.log(`fio said: ${stdout.slice(0, stdout.indexOf('{')).trim()}`);
    expect(job.error).toBe(0);
    expect(job.write.io_bytes).toBe(24 * 1024 * 1024);
    expect(lines.some((l) => /path 127\.0\.0\.1:\d+\/default active -> failed/.test(l))).toBe(true);
    // The stall (longest gap between completions) is reported, not asserted (timings belong in bench/).
    console.log(
      `fio: ${job.write.iops.toFixed(0)} write IOPS, ${job.read.iops.toFixed(0)} verify-read IOPS, max completion latency ${(Math.max(job.write.clat_ns.max, job.read.clat_ns.max) / 1e6).toFixed(0)} ms`,
    );
    console.log(lines.join('\n'));
  });
});

describe('mpiscsi serve with no usable path (no_path_retry 15 x polling_interval 0.2 s)', () => {
  let s2: RunningServe;
  let p2: FaultProxy[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) p2.push(await FaultProxy.start({ host: tgtd.hosts[i], port: tgtd.port }));
    s2 = await startServe({
      urls: p2.map((p) => `iscsi://${p.host}:${p.port}/${IQN}/1`),
      socket: join(dir, 'nopath.sock'),
      name: 'nopath',
      set: [
        'node.conn[0].timeo.noop_out_interval=0.5',
        'node.conn[0].timeo.noop_out_timeout=0.5',
        'node.session.iscsi.DefaultTime2Wait=0',
        'no_path_retry=15',
        'polling_interval=0.2',
      ],
      initiatorName: 'iqn.2026-11.test:serve-nopath',
      out: () => {},
    });
  });
  afterAll(async () => {
    await s2?.close();
    for (const p of p2) await p.stop();
    p2 = [];
  });

  const qemuRead = (uriOf: string) => run('qemu-io', ['-f', 'raw', '-c', 'read -v 0 512', uriOf]);
  const gate = async (want: string) => {
    while (s2.device.status().gate !== want) await new Promise((r) => setTimeout(r, 5));
  };

  it('answers EIO once the deadline passes with every path down', async () => {
    for (const p of p2) p.set({ kind: 'reset' });
    const r = await qemuRead(s2.uris[0]);
    expect(r.stdout + r.stderr).toMatch(/Input\/output error/);
    for (const p of p2) p.set({ kind: 'pass' });
  });

  it('completes the held read without an error when a path comes back before the deadline', async () => {
    await gate('open'); // the checker reinstated the paths after the previous test
    for (const p of p2) p.set({ kind: 'reset' });
    const pending = qemuRead(s2.uris[0]);
    // Bring one path back once the device has noticed that no path works (it is queueing I/O).
    await gate('queueing');
    p2[0].set({ kind: 'pass' });
    const r = await pending;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/read 512\/512 bytes/);
    expect(r.stdout + r.stderr).not.toMatch(/error/i);
    p2[1].set({ kind: 'pass' });
  });
});

describe('mpiscsi serve as a program', () => {
  it('prints the NBD URI as its first stdout line when ready (logs and -v debug lines on stderr), writes its pid file, the topology on SIGUSR1, and exits 0 on SIGTERM', async () => {
    const sock = join(dir, 'cli.sock');
    const pidFile = join(dir, 'serve.pid');
    const child = spawn(process.execPath, [
      MPISCSI,
      'serve',
      '-v',
      '--pid-file',
      pidFile,
      '--socket',
      sock,
      '--name',
      'disk',
      `iscsi://127.0.0.1:${tgtd.port}/${IQN}/1`,
      `iscsi://127.0.0.2:${tgtd.port}/${IQN}/1`,
    ]);
    try {
      // Results on stdout (the URI first, the topology on SIGUSR1), log lines on stderr.
      let out = '';
      let stdout = '';
      const watchers = new Set<() => void>();
      child.stdout.on('data', (d) => {
        out += d;
        stdout += d;
        for (const w of watchers) w();
      });
      child.stderr.on('data', (d) => {
        out += d;
        for (const w of watchers) w();
      });
      const waitFor = (re: RegExp) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (!re.test(out)) return;
            watchers.delete(check);
            resolve();
          };
          watchers.add(check);
          child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
          check();
        });
      await waitFor(new RegExp(`nbd\\+unix:///disk\\?socket=${sock.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
      // `uri=$(mpiscsi serve ... | head -1)`: the first stdout line is the URI, every log line went to stderr.
      expect(stdout.split('\n')[0]).toBe(`nbd+unix:///disk?socket=${sock}`);
      // Written before the URI is printed (once the export accepts connections).
      expect(readFileSync(pidFile, 'utf8')).toBe(`${child.pid}\n`);
      expect(out).toMatch(/mpatha: path 127\.0\.0\.1:\d+\/default none -> active \(added\)/);
      expect(out).toMatch(/mpatha: path 127\.0\.0\.2:\d+\/default none -> active \(added\)/);
      // -v: each path's login steps as debug lines, on stderr only.
      expect(out).toMatch(/^mpiscsi: debug1: 127\.0\.0\.2:\d+\/default#1: login attempt 1 \(initial\): logged in \(TSIH /m);
      expect(stdout).not.toMatch(/debug1/);
      expect(out).toMatch(/^mpiscsi: debug1: busy poll 100 µs while at most 4 commands are outstanding$/m);
      const info = await run('nbdinfo', ['--size', `nbd+unix:///disk?socket=${sock}`]);
      expect(info.stdout.trim()).toBe(String(SIZE));
      child.kill('SIGUSR1');
      // The topology arrives line by line: wait for both path lines, not only the header.
      await waitFor(/size=256M features='0' hwhandler='0' wp=rw[\s\S]*active ready running[\s\S]*active ready running/);
      expect(out.match(/active ready running/g)).toHaveLength(2);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('uri=$(mpiscsi serve ... | head -1) gets the URI, and nbdinfo "$uri" reads the export', async () => {
    const sock = join(dir, 'head.sock');
    const pidFile = join(dir, 'head.pid');
    // serve runs in the background of the substitution's pipeline (so $(...) ends when head has its line) and
    // keeps running after head exits; the pid file is how the script stops it.
    const sh = [
      `uri=$( { "${process.execPath}" "${MPISCSI}" serve --pid-file "${pidFile}" --socket "${sock}" iscsi://127.0.0.1:${tgtd.port}/${IQN}/1 2>/dev/null & } | head -1)`,
      'echo "uri=$uri"',
      'nbdinfo --size "$uri"; rc=$?',
      `kill "$(cat "${pidFile}")"`,
      'exit $rc',
    ].join('\n');
    const r = await run('bash', ['-c', sh]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`uri=nbd+unix:///mpatha?socket=${sock}\n${SIZE}\n`);
  });

  it('serve --fork: uri=$(mpiscsi serve --fork ... | head -1) returns once the export accepts, and nbdinfo "$uri" reads it', async () => {
    const sock = join(dir, 'fork.sock');
    const pidFile = join(dir, 'fork.pid');
    // The literal form: the substitution waits for serve itself, which exits once the export is up (qemu-nbd --fork).
    const sh = [
      `uri=$("${process.execPath}" "${MPISCSI}" serve --fork --pid-file "${pidFile}" --socket "${sock}" iscsi://127.0.0.1:${tgtd.port}/${IQN}/1 2>/dev/null | head -1)`,
      'echo "uri=$uri"',
      'nbdinfo --size "$uri"; rc=$?',
      `pid=$(cat "${pidFile}")`,
      'kill "$pid"',
      // The export's process (not the one that forked it) ends on SIGTERM and removes its pid file.
      'while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done',
      `test -e "${pidFile}" && echo "pid file left"`,
      'exit $rc',
    ].join('\n');
    const r = await run('bash', ['-c', sh]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`uri=nbd+unix:///mpatha?socket=${sock}\n${SIZE}\n`);
  });

  it("serve --fork whose export cannot start exits with the export's code and message", async () => {
    const r = await mpiscsi('serve', '--fork', '--socket', join(dir, 'forknolun.sock'), `iscsi://127.0.0.1:${tgtd.port}/${IQN}`);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('names no LUN');
  });

  it('refuses a URL without a LUN with the form shown, exit 7, before any login', async () => {
    const r = await mpiscsi('serve', '--socket', join(dir, 'nolun.sock'), `iscsi://127.0.0.1:${tgtd.port}/${IQN}`);
    expect(r.code).toBe(7);
    expect(r.stderr).toBe(
      `mpiscsi: the iSCSI URL "iscsi://127.0.0.1:${tgtd.port}/${IQN}" names no LUN: it must be of the form iscsi://[<username>[%<password>]@]<host>[:<port>]/<target-iqn>/<lun>\n`,
    );
  });

  it('refuses a bad setting with a clear message and exit code 7', async () => {
    const r = await mpiscsi(
      'serve',
      '--socket',
      join(dir, 'x.sock'),
      '--set',
      'node.session.timeo.replacement_timout=5',
      `iscsi://127.0.0.1:${tgtd.port}/${IQN}/1`,
    );
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/--set node.session.timeo.replacement_timout=5: unknown setting/);
  });

  it('refuses a --busy-poll window above 10000 µs with exit code 7, before any login', async () => {
    const r = await mpiscsi('serve', '--socket', join(dir, 'bp.sock'), '--busy-poll', '20000', `iscsi://127.0.0.1:${tgtd.port}/${IQN}/1`);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('"20000" is more than 10000 µs');
  });
});
