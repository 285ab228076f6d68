/**
 * A foreign target (issue 16): the built CLIs against a real istgt (Debian 0.4~20111008, the FreeBSD target),
 * as a user runs them: SendTargets discovery, INQUIRY and READ CAPACITY on LUN 0, one-way and mutual CHAP
 * with right and wrong secrets, CRC32C digests, dd and serve (nbdcopy) round trips compared by sha256 with
 * istgt's backing files, istgt killed and restarted mid-copy, and an LU that requires digests while the URL
 * offers none (the login fails at once, naming the key and the value to set).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Istgt } from '../support/istgt.js';
import { runCli, spawnCli, type RunningCli } from '../support/cli.js';
import { freePort } from '../support/ports.js';
import { nbdcopy, sha256File } from '../support/nbd-clients.js';

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
/** CHAP accounts (istgt's sample keeps secrets 12 to 16 characters long). */
const ALICE = { user: 'alice', secret: 'alice-secret-12' };
const BOB = { user: 'bob', secret: 'bob-secret-3456', mutualUser: 'istgt-target', mutualSecret: 'target-secret-7' };

let istgt: Istgt;
/** The istgt the restart test kills and restarts (its own, so that no other test sees the outage). */
let restarted: Istgt | undefined;
let dir: string;
/** A loopback port nothing listens on: mpiscsiadm finds no daemon and works on its --db alone. */
let noDaemon: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-istgt-test-'));
  noDaemon = `nats://127.0.0.1:${await freePort()}`;
  istgt = await Istgt.start({
    // NOP-Ins every second, and -t iscsi so that istgt logs each one it sends (the serve test waits for them).
    nopInInterval: 1,
    trace: 'iscsi',
    lus: [
      { name: 'disk', size: SIZE, random: true },
      { name: 'dst', size: SIZE },
      { name: 'chap', size: 1 * MiB, auth: 'CHAP', users: [ALICE] },
      { name: 'mutual', size: 1 * MiB, auth: 'CHAP Mutual', users: [BOB] },
      { name: 'digest', size: SIZE, digest: 'Header Data' },
      { name: 'serve', size: 32 * MiB },
    ],
  });
});

afterAll(async () => {
  // Side by side: istgt takes about 3.5 s to act on SIGTERM.
  await Promise.all([istgt?.stop(), restarted?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

function writeInput(name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(size));
  return path;
}

describe('discovery', () => {
  it('SendTargets lists every istgt target with its portal and stores the node records', async () => {
    const db = mkdtempSync(join(tmpdir(), 'mpiscsiadm-db-'));
    try {
      const adm = (...args: string[]) => runCli('mpiscsiadm', ['--db', db, ...args], { MPISCSI_NATS_URL: noDaemon });
      const r = await adm('-m', 'discovery', '-t', 'st', '-p', istgt.portal);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      const want = ['disk', 'dst', 'chap', 'mutual', 'digest', 'serve'].map((lu) => `${istgt.portal},1 ${istgt.targetName(lu)}`).sort();
      expect(lines(r.stdout).sort()).toEqual(want);
      const nodes = await adm('-m', 'node');
      expect(nodes.code, nodes.stderr).toBe(0);
      expect(lines(nodes.stdout).sort()).toEqual(want);
      expect(existsSync(join(db, 'nodes', istgt.targetName('disk'), `127.0.0.1,${istgt.port},1`, 'default'))).toBe(true);
      const show = await adm('-m', 'node', '-T', istgt.targetName('disk'), '-p', istgt.portal);
      expect(show.stdout).toContain('node.discovery_type = send_targets\n');
      expect(show.stdout).toContain(`node.discovery_port = ${istgt.port}\n`);
    } finally {
      rmSync(db, { recursive: true, force: true });
    }
  });
});

describe('login and SCSI on LUN 0', () => {
  it("inq prints istgt's INQUIRY data and unit serial number", async () => {
    // Side by side, though istgt queues them: each leading login sleeps 1 s holding istgt's global
    // connection lock (istgt_iscsi_drop_old_conns), so logins to one istgt take a second each, in turn.
    const [r, sn] = await Promise.all([
      runCli('mpiscsi', ['inq', istgt.url('disk')]),
      runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x80', istgt.url('disk')]),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Peripheral Device Type:DIRECT_ACCESS\n');
    expect(r.stdout).toMatch(/^Vendor:FreeBSD +$/m);
    expect(r.stdout).toMatch(/^Product:iSCSI DISK +$/m);
    expect(sn.code, sn.stderr).toBe(0);
    // istgt numbers serials from 10000001 by LogicalUnit section: "disk" is LogicalUnit1.
    expect(sn.stdout).toMatch(/^Unit Serial Number:\[ *10000001 *\]$/m);
  });

  it('readcap prints the size of the backing file; LUN 1 does not exist', async () => {
    const [r, lun1] = await Promise.all([
      runCli('mpiscsi', ['readcap', istgt.url('disk')]),
      runCli('mpiscsi', ['readcap', istgt.url('disk').replace(/\/0$/, '/1')]),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`RETURNED LOGICAL BLOCK ADDRESS:${SIZE / 512 - 1}`);
    expect(r.stdout).toContain('LOGICAL BLOCK LENGTH IN BYTES:512');
    expect(r.stdout).toContain(`Total size:${SIZE}`);
    // The target's own answer to READ CAPACITY, in libiscsi's words, and libiscsi's exit code for it.
    expect(lun1.code).toBe(10);
    expect(lun1.stderr).toBe(
      'mpiscsi: READ CAPACITY(16) of LUN 1 failed: SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:LOGICAL_UNIT_NOT_SUPPORTED(0x2500)\n',
    );
  });
});

describe('CHAP', () => {
  it('one-way: the right secret logs in; a wrong secret or none exits 24 and never prints the secret', async () => {
    const [ok, wrong, none] = await Promise.all([
      runCli('mpiscsi', ['readcap', istgt.url('chap', ALICE)]),
      runCli('mpiscsi', ['readcap', istgt.url('chap', { user: ALICE.user, secret: 'not-it-secret-9' })]),
      runCli('mpiscsi', ['readcap', istgt.url('chap')]),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`Total size:${1 * MiB}`);

    expect(wrong.code, wrong.stderr).toBe(24); // LOGIN_AUTH_FAILED
    expect(wrong.stderr).toMatch(/login failed: authentication failure \(status class 2, detail 1\)/);
    expect(wrong.stderr + wrong.stdout).not.toContain('not-it-secret-9');
    await istgt.logLine(/auth failed \(user alice\)/);

    expect(none.code, none.stderr).toBe(24);
    expect(none.stderr).toMatch(/authentication failure .*no CHAP credentials are configured/);
  });

  it('mutual: the right target secret logs in; a wrong one, or no mutual CHAP at all, exits 24', async () => {
    const mutual = (targetSecret: string) =>
      istgt.url('mutual', { ...BOB, query: `target_user=${BOB.mutualUser}&target_password=${targetSecret}` });
    const [ok, wrong, oneWay] = await Promise.all([
      runCli('mpiscsi', ['readcap', mutual(BOB.mutualSecret)]),
      runCli('mpiscsi', ['readcap', mutual('wrong-target-88')]),
      runCli('mpiscsi', ['readcap', istgt.url('mutual', BOB)]),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`Total size:${1 * MiB}`);

    // istgt proves itself with CHAP_N = the account's MutualUser and a CHAP_R from the MutualSecret: ours differs.
    expect(wrong.code, wrong.stderr).toBe(24);
    expect(wrong.stderr).toMatch(/CHAP authentication failed: target CHAP_R does not match the mutual CHAP secret/);
    expect(wrong.stderr + wrong.stdout).not.toContain('wrong-target-88');

    // `AuthMethod CHAP Mutual` refuses a one-way CHAP login with status 0201.
    expect(oneWay.code, oneWay.stderr).toBe(24);
    expect(oneWay.stderr).toMatch(/login failed: authentication failure \(status class 2, detail 1\)/);
    await istgt.logLine(/required mutual CHAP/);
  });
});

describe('digests', () => {
  it('CRC32C header and data digests on an LU that requires them: dd writes and reads back the same bytes', async () => {
    const input = writeInput('digest-in.img', SIZE);
    const url = istgt.url('digest', { query: 'header_digest=CRC32C&data_digest=CRC32C' });
    const logged = istgt.log.length;
    const w = await runCli('mpiscsi', ['dd', '-s', input, '-d', url]);
    expect(w.code, w.stderr).toBe(0);
    // istgt's own word that both digests were on for our session.
    await istgt.logLine(
      (l) =>
        l.startsWith('Login from ') && l.includes(` on ${istgt.targetName('digest')} `) && l.endsWith('HeaderDigest=on, DataDigest=on'),
      logged,
    );
    const out = join(dir, 'digest-out.img');
    const r = await runCli('mpiscsi', ['dd', '-s', url, '-d', out]);
    expect(r.code, r.stderr).toBe(0);
    const want = await sha256File(input);
    expect(await sha256File(out)).toBe(want);
    expect(await sha256File(istgt.lunPath('digest'))).toBe(want);
  });

  // istgt answers HeaderDigest=Reject (and DataDigest=Reject) to an offer of None, then completes the login
  // and runs the connection with digests on. The login must fail at once: --login-timeout 60 is well beyond
  // this test's 20 s, so a login left to time out fails the test.
  it('an LU that requires digests, with none offered: the login fails at once, naming the key and value to set', {
    timeout: 20_000,
  }, async () => {
    const [none, headerOnly] = await Promise.all([
      runCli('mpiscsi', ['readcap', '--login-timeout', '60', istgt.url('digest')]),
      runCli('mpiscsi', ['readcap', '--login-timeout', '60', istgt.url('digest', { query: 'header_digest=CRC32C' })]),
    ]);
    expect(none.code).toBe(5); // LOGIN
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain(
      'target rejected HeaderDigest=None (it accepts none of the values we offered, RFC 7143 §6.2.1): ' +
        'set node.conn[0].iscsi.HeaderDigest = CRC32C (header_digest=CRC32C in an iscsi:// URL)',
    );
    // With the header digest given, the data digest is the one named.
    expect(headerOnly.code).toBe(5);
    expect(headerOnly.stderr).toContain(
      'target rejected DataDigest=None (it accepts none of the values we offered, RFC 7143 §6.2.1): ' +
        'set node.conn[0].iscsi.DataDigest = CRC32C (data_digest=CRC32C in an iscsi:// URL)',
    );
    expect(headerOnly.stderr).not.toMatch(/HeaderDigest/);
  });
});

describe('mpiscsi dd', () => {
  it("writes a file to an LU and reads it back: sha256 equal to the source and to istgt's backing file", async () => {
    const input = writeInput('dd-in.img', SIZE - 64 * 512);
    const w = await runCli('mpiscsi', ['dd', '-s', input, '-d', istgt.url('dst')]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stderr.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^${SIZE - 64 * 512} bytes copied in `));
    const out = join(dir, 'dd-out.img');
    const r = await runCli('mpiscsi', ['dd', '-s', istgt.url('dst'), '-d', out]);
    expect(r.code, r.stderr).toBe(0);
    const data = readFileSync(input);
    const back = readFileSync(out);
    expect(back.length).toBe(SIZE);
    const want = await sha256File(input);
    expect(sha256(back.subarray(0, data.length))).toBe(want);
    expect(back.subarray(data.length).equals(Buffer.alloc(64 * 512))).toBe(true); // the rest of the LU, never written
    expect(sha256(readFileSync(istgt.lunPath('dst')).subarray(0, data.length))).toBe(want);
  });

  it("reads an LU to a file with the backing file's sha256", async () => {
    const out = join(dir, 'disk-out.img');
    const r = await runCli('mpiscsi', ['dd', '-s', istgt.url('disk'), '-d', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(istgt.lunPath('disk')));
  });
});

describe('mpiscsi serve', () => {
  it("serves an istgt LU over NBD through istgt's NOP-Ins: nbdcopy in and out, sha256 equal", async () => {
    const sock = join(dir, 'serve.sock');
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'mpiscsi.js'), 'serve', '--socket', sock, istgt.url('serve')],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const uri = `nbd+unix:///mpatha?socket=${sock}`;
      await new Promise<void>((resolve, reject) => {
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          if (out.includes(uri)) resolve();
        });
        exited.then((code) => reject(new Error(`serve exited ${code}: ${out}${err}`)));
      });
      // istgt NOP-Ins a quiet connection every NopInInterval (1 s here), wanting no answer (ITT and TTT
      // 0xffffffff): two of them on the served session before any NBD I/O, and the path stays up.
      const since = istgt.log.length;
      const nopIn = (l: string) => l.includes('istgt_iscsi_send_nopin');
      await istgt.logLine(nopIn, since);
      await istgt.logLine(nopIn, istgt.log.findIndex((l, i) => i >= since && nopIn(l)) + 1);

      const input = writeInput('serve-in.img', 32 * MiB);
      await nbdcopy(input, uri);
      const back = join(dir, 'serve-out.img');
      await nbdcopy(uri, back);
      const want = await sha256File(input);
      expect(await sha256File(back)).toBe(want);
      expect(await sha256File(istgt.lunPath('serve'))).toBe(want);
      // Path events are log lines: on stderr (stdout carries only the URI).
      expect(out.split('\n')[0]).toBe(uri);
      expect(err).toMatch(/mpatha: path 127\.0\.0\.1:\d+\/default none -> active \(added\)/);
      expect(err).not.toMatch(/-> failed/);
      child.kill('SIGTERM');
      expect(await exited, err).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});

describe('mpiscsi dd through an istgt restart', () => {
  const BIG = 256 * MiB;

  /** Waits for a progress line saying at least `bytes` are copied (dd --progress prints one at most every 100 ms). */
  function copiedAtLeast(dd: RunningCli, bytes: number): Promise<string> {
    const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB, GiB: 1024 * MiB };
    return dd.stderrLine((line) => {
      const m = /%\s+([\d.]+) (B|KiB|MiB|GiB) \//.exec(line);
      return m !== null && Number(m[1]) * UNITS[m[2]] >= bytes;
    });
  }

  it('copies a file to the LU while istgt is killed and restarted on the same port: exit 0, sha256 equal', async () => {
    const target = await Istgt.start({ lus: [{ name: 'restart', size: BIG }] });
    restarted = target;
    const input = writeInput('restart-in.img', BIG);
    const dd = spawnCli('mpiscsi', ['dd', '--progress', '-s', input, '-d', target.url('restart')]);
    await copiedAtLeast(dd, 16 * MiB);
    await target.restartAfter(1000);
    const r = await dd.done;
    expect(r.code, r.stderr).toBe(0);
    const errLines = r.stderr.split('\n');
    const lost = errLines.findIndex((l) => /connection lost \((closed|reset)/.test(l));
    const end = errLines.findIndex((l) => /\] 100\.0% /.test(l));
    expect(lost, r.stderr).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(lost); // the kill landed mid-copy
    expect(r.stderr).toMatch(/logged in again after [\d.]+ s, LU identity unchanged; I\/O resumed/);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^${BIG} bytes copied in `));
    expect(await sha256File(target.lunPath('restart'))).toBe(await sha256File(input));
  });
});
