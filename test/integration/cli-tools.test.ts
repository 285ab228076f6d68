/**
 * The mpiscsi tools as a user runs them (child processes of the built CLI) against a real tgtd:
 * ls, inq, readcap, dd in both directions with sha256 checks, perf, and their error exits.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
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
      ['dst', 'null', 'src'].map((t) => `Target:iqn.2026-11.test:${t} Portal:127.0.0.1:${tgtd.port},1`),
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
    expect(r.stdout).toContain('vendor:IET');
    expect(r.stdout).toContain('peripheralDeviceType:DIRECT_ACCESS');
    const v = await runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x83', '--json', url('iqn.2026-11.test:src')]);
    expect(v.code, v.stderr).toBe(0);
    expect(JSON.parse(v.stdout).wwid).toMatch(/^3[0-9a-f]{32}$/);
    const sn = await runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x80', url('iqn.2026-11.test:src')]);
    expect(sn.stdout).toMatch(/serialNumber:beaf11/);
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
  it('reads a LUN to a file with the backing file\'s sha256', async () => {
    const out = join(dir, 'copy.img');
    const r = await runCli('mpiscsi', ['dd', '-s', url('iqn.2026-11.test:src'), '-d', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(sha256(readFileSync(out))).toBe(sha256(readFileSync(srcFile)));
    expect(statSync(out).mode & 0o777).toBe(0o600);
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
    const r = await runCli('mpiscsi', ['dd', '--set', 'no_path_retry=queue', '-s', url('iqn.2026-11.test:src'), '-d', join(dir, 'never.img')]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/no_path_retry is a multipath setting; mpiscsi dd runs one session/);
  });

  it('exits 24 on a wrong CHAP secret and never prints it', async () => {
    const r = await runCli('mpiscsi', ['dd', '-s', join(dir, 'copy.img'), '-d', `iscsi://carol%not-it-123@${tgtd.host}:${tgtd.port}/iqn.2026-11.test:dst/1`]);
    expect(r.code).toBe(24);
    expect(r.stderr).toMatch(/authentication failure/);
    expect(r.stderr + r.stdout).not.toContain('not-it-123');
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
    const d = spawn(process.execPath, [join(import.meta.dirname, '..', '..', 'dist', 'src', 'daemon', 'mpiscsid.js'), '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    d.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    const [code] = (await once(d, 'exit')) as [number];
    expect(code).toBe(0);
    expect(out).toBe(`mpiscsid version ${version}\n`);
  });
});
