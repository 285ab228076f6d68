/**
 * The mpiscsi tools as a user runs them (child processes of the built CLI) against a real tgtd:
 * ls, inq, readcap, dd in both directions with sha256 checks, dd's progress (forced on a pipe, nbdcopy's
 * N/100 lines on a descriptor, silenced on a terminal), perf, and their error exits, among them a peer that
 * is not an iSCSI target. (inq/readcap/ls beside libiscsi's tools: scsi-tools.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { once } from 'node:events';
import { join } from 'node:path';
import { Tgtd } from '../support/tgtd.js';
import { runCli } from '../support/cli.js';

const SIZE = 16 * 1024 * 1024;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let tgtd: Tgtd;
let dir: string;
let srcFile: string;
let dstLunFile: string;
let url: (iqn: string, lun?: number) => string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-cli-'));
  tgtd = await Tgtd.start();
  url = (iqn, lun = 1) => `iscsi://${tgtd.host}:${tgtd.port}/${iqn}/${lun}`;
  let tid = await tgtd.addTarget('iqn.2026-11.test:src');
  srcFile = await tgtd.addLun(tid, 1, { size: SIZE, random: true });
  tid = await tgtd.addTarget('iqn.2026-11.test:dst');
  dstLunFile = await tgtd.addLun(tid, 1, { size: SIZE });
  await tgtd.addAccount(tid, 'carol', 'carol-secret-77');
  await tgtd.setTargetParam(tid, 'HeaderDigest', 'CRC32C');
  await tgtd.setTargetParam(tid, 'DataDigest', 'CRC32C');
  tid = await tgtd.addTarget('iqn.2026-11.test:ro');
  await tgtd.addLun(tid, 1, { size: 1024 * 1024, readonly: true });
  tid = await tgtd.addTarget('iqn.2026-11.test:null');
  await tgtd.addLun(tid, 1, { bstype: 'null', size: 0 });
});

afterAll(async () => {
  await tgtd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mpiscsi ls', () => {
  it('lists targets like iscsi-ls, and LUNs with -s', async () => {
    const r = await runCli('mpiscsi', ['ls', `iscsi://${tgtd.host}:${tgtd.port}`]);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(
      ['dst', 'null', 'ro', 'src'].map((t) => `Target:iqn.2026-11.test:${t} Portal:127.0.0.1:${tgtd.port},1`),
    );
    const s = await runCli('mpiscsi', ['ls', '-s', `iscsi://${tgtd.host}:${tgtd.port}`]);
    expect(s.stdout).toContain('Lun:0    Type:STORAGE_ARRAY_CONTROLLER');
    expect(s.stdout).toContain('Lun:1    Type:DIRECT_ACCESS (Size:15M)');
    expect(s.stdout).toContain('Lun:1    Type:DIRECT_ACCESS (Size:1023G)');
    // The CHAP-protected target cannot be listed without credentials: said on stderr, exit 24, others listed.
    expect(s.stderr).toMatch(/iqn.2026-11.test:dst: login failed: authentication failure/);
    expect(s.code).toBe(24);
  });
});

describe('mpiscsi inq and readcap', () => {
  it('prints standard INQUIRY data and VPD pages', async () => {
    const r = await runCli('mpiscsi', ['inq', url('iqn.2026-11.test:src')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Vendor:IET     \n');
    expect(r.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS\n');
    const v = await runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x83', '--json', url('iqn.2026-11.test:src')]);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).wwid).toMatch(/^3[0-9a-f]{32}$/);
    const sn = await runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x80', url('iqn.2026-11.test:src')]);
    expect(sn.stdout).toMatch(/^Unit Serial Number:\[ +beaf11\]$/m);
  });

  it('-v and -vv: debug lines on stderr only (the login steps, then every state change), stdout unchanged; -q -v refused', async () => {
    const u = url('iqn.2026-11.test:src');
    const plain = await runCli('mpiscsi', ['readcap', u]);
    const v = await runCli('mpiscsi', ['readcap', '-v', u]);
    const vv = await runCli('mpiscsi', ['readcap', '-vv', u]);
    expect([plain.code, v.code, vv.code], v.stderr + vv.stderr).toEqual([0, 0, 0]);
    expect(plain.stderr).toBe('');
    expect(v.stdout).toBe(plain.stdout);
    expect(vv.stdout).toBe(plain.stdout);
    expect(v.stderr).toMatch(
      /^mpiscsi: debug1: iqn\.2026-11\.test:src,127\.0\.0\.1:\d+: login attempt 1 \(initial\): TCP connected to 127\.0\.0\.1:\d+ from 127\.0\.0\.1:\d+$/m,
    );
    expect(v.stderr).toMatch(
      /^mpiscsi: debug1: .*: logged in \(TSIH \d+, AuthMethod None, HeaderDigest None, DataDigest None, MaxRecvDataSegmentLength \d+/m,
    );
    expect(
      v.stderr
        .split('\n')
        .filter(Boolean)
        .every((l) => l.startsWith('mpiscsi: debug1: ')),
    ).toBe(true);
    expect(vv.stderr).toMatch(/^mpiscsi: debug2: .*: state loggedIn, gate open/m);
    expect(vv.stderr).toMatch(/^mpiscsi: debug1: .*: logged in \(TSIH \d+\); negotiated \{"headerDigest":false/m);
    const ls = await runCli('mpiscsi', ['ls', '-v', `iscsi://${tgtd.host}:${tgtd.port}`]);
    expect(ls.stderr).toMatch(/^mpiscsi: debug1: SendTargets answered 4 targets$/m);
    const both = await runCli('mpiscsi', ['readcap', '-q', '-v', u]);
    expect(both.code).toBe(7);
    expect(both.stderr).toMatch(/option '-v, --verbose' cannot be used with option '-q, --quiet'/);
  });

  it('exits quietly when the reader of stdout goes away (| head): no stack trace, status 141 as a SIGPIPE death', async () => {
    const child = spawn(process.execPath, [join(process.cwd(), 'dist/src/cli/mpiscsi.js'), 'inq', url('iqn.2026-11.test:src')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.destroy(); // the reader is gone before the first line
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(141);
  });

  it('prints READ CAPACITY(16) like iscsi-readcapacity16', async () => {
    const r = await runCli('mpiscsi', ['readcap', url('iqn.2026-11.test:src')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`RETURNED LOGICAL BLOCK ADDRESS:${SIZE / 512 - 1}`);
    expect(r.stdout).toContain('LOGICAL BLOCK LENGTH IN BYTES:512');
    expect(r.stdout).toContain(`Total size:${SIZE}`);
  });
});

describe('mpiscsi dd', () => {
  it("reads a LUN to a file with the backing file's sha256", async () => {
    const out = join(dir, 'copy.img');
    const r = await runCli('mpiscsi', ['dd', '-s', url('iqn.2026-11.test:src'), '-d', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(readFileSync(srcFile)));
    expect(statSync(out).mode & 0o777).toBe(0o600);
  });

  it('--quiet: the same copy with nothing on stderr (no bar, no summary, even forced with --progress); errors still said', async () => {
    const out = join(dir, 'quiet.img');
    const r = await runCli('mpiscsi', ['dd', '--quiet', '--progress', '-s', url('iqn.2026-11.test:src'), '-d', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(sha256(readFileSync(out))).toBe(sha256(readFileSync(srcFile)));
    const loud = await runCli('mpiscsi', ['dd', '-s', url('iqn.2026-11.test:src'), '-d', out]);
    expect(loud.stderr).toMatch(/^\d+ bytes copied in /m); // the summary --quiet took away
    const bad = await runCli('mpiscsi', ['dd', '-q', '-s', url('iqn.2026-11.test:src', 5), '-d', out]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('mpiscsi: LUN 5 is not available (peripheral qualifier 3)\n');
  });

  it('writes a file to a CHAP-protected LUN with digests, secret from the environment', async () => {
    const input = join(dir, 'input.img');
    const data = randomBytes(SIZE - 512 * 64);
    writeFileSync(input, data);
    const r = await runCli(
      'mpiscsi',
      ['dd', '-s', input, '-d', `iscsi://carol@${tgtd.host}:${tgtd.port}/iqn.2026-11.test:dst/1?header_digest=crc32c&data_digest=crc32c`],
      { MPISCSI_CHAP_PASSWORD: 'carol-secret-77' },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(readFileSync(dstLunFile).subarray(0, data.length))).toBe(sha256(data));
  });

  it('refuses a source that is not a whole number of blocks', async () => {
    const input = join(dir, 'odd.img');
    writeFileSync(input, randomBytes(1000));
    const r = await runCli('mpiscsi', ['dd', '-s', input, '-d', url('iqn.2026-11.test:src')]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/not a multiple of the 512-byte block size/);
  });

  it('refuses a multipath setting in --set with a usage error: dd runs one session', async () => {
    const r = await runCli('mpiscsi', [
      'dd',
      '--set',
      'no_path_retry=queue',
      '-s',
      url('iqn.2026-11.test:src'),
      '-d',
      join(dir, 'never.img'),
    ]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/no_path_retry is a multipath setting; mpiscsi dd runs one session/);
  });

  it("exits 10 on a CHECK CONDITION (a read-only LU), as libiscsi's tools exit on a SCSI failure, naming the sense", async () => {
    const input = join(dir, 'ro-input.img');
    writeFileSync(input, randomBytes(64 * 1024));
    const r = await runCli('mpiscsi', ['dd', '-s', input, '-d', url('iqn.2026-11.test:ro')]);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toMatch(/mpiscsi: dd stopped at byte 0: CHECK CONDITION: DATA PROTECT, WRITE PROTECTED \(0x27\/0x00\)/);
  });

  it('to or from a LUN with no logical unit: exit 1 with the LUN named, at once (no copy, no identity-check trace)', async () => {
    const out = join(dir, 'nolu.bin');
    const from = await runCli('mpiscsi', ['dd', '-s', url('iqn.2026-11.test:src', 5), '-d', out]);
    expect(from.code).toBe(1);
    expect(from.stderr).toBe('mpiscsi: LUN 5 is not available (peripheral qualifier 3)\n');
    writeFileSync(out, Buffer.alloc(4096));
    const to = await runCli('mpiscsi', ['dd', '-s', out, '-d', url('iqn.2026-11.test:src', 5)]);
    expect(to.code).toBe(1);
    expect(to.stderr).toBe('mpiscsi: LUN 5 is not available (peripheral qualifier 3)\n');
  });

  it('exits 24 on a wrong CHAP secret and never prints it', async () => {
    const r = await runCli('mpiscsi', [
      'dd',
      '-s',
      join(dir, 'copy.img'),
      '-d',
      `iscsi://carol%not-it-123@${tgtd.host}:${tgtd.port}/iqn.2026-11.test:dst/1`,
    ]);
    expect(r.code).toBe(24);
    expect(r.stderr).toMatch(/authentication failure/);
    expect(r.stderr + r.stdout).not.toContain('not-it-123');
  });
});

describe('mpiscsi dd progress', () => {
  const progressLine = /^\[[#.]{30}\] +\d+\.\d% .* MB\/s ETA /;
  const summary = /^16777216 bytes copied in [\d.]+ s \([\d.]+ MB\/s\)$/;

  it('--progress forces progress lines onto a piped stderr; without it a pipe gets the summary alone', async () => {
    const forced = await runCli('mpiscsi', ['dd', '--progress', '-s', url('iqn.2026-11.test:src'), '-d', join(dir, 'p1.img')]);
    expect(forced.code, forced.stderr).toBe(0);
    const lines = forced.stderr.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(
      lines.slice(0, -1).every((l) => progressLine.test(l)),
      forced.stderr,
    ).toBe(true);
    expect(lines.at(-2)).toMatch(/\] 100\.0% 16\.0 MiB \/ 16\.0 MiB/);
    expect(lines.at(-1)).toMatch(summary);
    const plain = await runCli('mpiscsi', ['dd', '-s', url('iqn.2026-11.test:src'), '-d', join(dir, 'p2.img')]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr.trimEnd()).toMatch(summary);
  });

  it("--progress=FD writes nbdcopy's N/100 lines to that descriptor, from 0/100 to 100/100, and no bar on stderr", async () => {
    const child = spawn(
      process.execPath,
      [join(process.cwd(), 'dist/src/cli/mpiscsi.js'), 'dd', '--progress=3', '-s', url('iqn.2026-11.test:src'), '-d', join(dir, 'p3.img')],
      {
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      },
    );
    let fd3 = '';
    let stderr = '';
    (child.stdio[3] as Readable).setEncoding('utf8').on('data', (d: string) => (fd3 += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code] = (await once(child, 'close')) as [number];
    expect(code, stderr).toBe(0);
    const lines = fd3.split('\n');
    expect(lines.pop()).toBe('');
    expect(
      lines.every((l) => /^\d{1,3}\/100$/.test(l)),
      fd3,
    ).toBe(true);
    const percents = lines.map((l) => Number(l.split('/')[0]));
    expect(percents[0]).toBe(0);
    expect(percents.at(-1)).toBe(100);
    expect(percents.every((p, i) => i === 0 || p > percents[i - 1])).toBe(true);
    expect(stderr.trimEnd()).toMatch(summary);
  });

  it('--progress=FD with a descriptor open only for reading is a usage error, before any login', async () => {
    const readOnly = openSync('/dev/null', 'r');
    const child = spawn(
      process.execPath,
      [join(process.cwd(), 'dist/src/cli/mpiscsi.js'), 'dd', '--progress=3', '-s', url('iqn.2026-11.test:src'), '-d', join(dir, 'p4.img')],
      {
        stdio: ['ignore', 'pipe', 'pipe', readOnly],
      },
    );
    closeSync(readOnly);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [code] = (await once(child, 'close')) as [number];
    expect(code).toBe(7);
    expect(stderr).toBe(
      'mpiscsi: --progress=3: cannot write to file descriptor 3 (EBADF); open it for writing in the shell: 3>/tmp/progress\n',
    );
  });

  it('on a terminal: a bar by default, none with --no-progress; the summary either way', async () => {
    // script(1) gives the command a pseudo-terminal for stdout and stderr.
    const onTty = (args: string[]) =>
      new Promise<string>((resolve, reject) => {
        const cmd = [process.execPath, join(process.cwd(), 'dist/src/cli/mpiscsi.js'), ...args].map((a) => `'${a}'`).join(' ');
        execFile('script', ['-qec', cmd, '/dev/null'], (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
    const bar = await onTty(['dd', '-s', url('iqn.2026-11.test:src'), '-d', join(dir, 'p5.img')]);
    expect(bar).toMatch(/\r\[#{30}\] 100\.0%/);
    expect(bar).toMatch(/16777216 bytes copied/);
    const quiet = await onTty(['dd', '--no-progress', '-s', url('iqn.2026-11.test:src'), '-d', join(dir, 'p6.img')]);
    expect(quiet).not.toMatch(/\[[#.]{30}\]/);
    expect(quiet.trim()).toMatch(summary);
  });
});

describe('a peer that is not an iSCSI target', () => {
  it('says so with what it sent, exit 4 (connection failure), for a LUN tool and for ls', async () => {
    const http = createServer((_req, res) => res.end('not iSCSI'));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    try {
      for (const args of [
        ['inq', `iscsi://127.0.0.1:${port}/iqn.2026-11.test:src/1`],
        ['ls', `iscsi://127.0.0.1:${port}`],
      ]) {
        const r = await runCli('mpiscsi', args);
        expect(r.code, r.stderr).toBe(4);
        expect(r.stderr).toBe(
          `mpiscsi: no iSCSI target at 127.0.0.1:${port}: it sent "HTTP/1.1 400 Bad Request", not an iSCSI Login Response\n`,
        );
      }
    } finally {
      http.close();
    }
  });
});

describe('mpiscsi perf', () => {
  it('runs a short random read load and reports IOPS', async () => {
    const r = await runCli('mpiscsi', ['perf', '-m', '8', '-b', '8', '-r', '-t', '1', '--json', url('iqn.2026-11.test:null')]);
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    expect(res.ios).toBeGreaterThan(0);
    expect(res.errors).toBe(0);
  });

  it('rejects a malformed URL with a usage error', async () => {
    const r = await runCli('mpiscsi', ['perf', 'http://example/']);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/not an iSCSI URL/);
  });
});

describe('--version', () => {
  it('each of the three programs prints "PROG version X" from package.json and exits 0', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    for (const prog of ['mpiscsi', 'mpiscsiadm'] as const) {
      const r = await runCli(prog, ['--version']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${prog} version ${version}\n`);
    }
    const d = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'dist', 'src', 'daemon', 'mpiscsid.js'), '--version'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    d.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const [code] = (await once(d, 'exit')) as [number];
    expect(code).toBe(0);
    expect(out).toBe(`mpiscsid version ${version}\n`);
  });
});
