/**
 * `mpiscsi dd` through a target restart, as a user runs it (the built CLI as a child process) against a real
 * tgtd, default settings: tgtd killed (-9) mid-copy and restarted on the same port 1.5 s later with the same
 * backing file, LUN to file and file to LUN (exit 0, sha256 equal); and restarted with another LU behind the
 * same IQN and LUN (dd stops: exit 19, both WWIDs and serials on its last line, no byte of the other LU in
 * the output); not restarted within replacement_timeout (exit 8, said on the last line, not before it); and
 * restarted refusing the relogin (exit 24).
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tgtd } from '../support/tgtd.js';
import { sha256File } from '../support/nbd-clients.js';
import { runCli, spawnCli, type RunningCli } from '../support/cli.js';

const IQN = 'iqn.2026-11.test:dd-restart';
const SIZE = 256 * 1024 * 1024;
/** How long tgtd stays down: the outage of the report. */
const DOWN_MS = 1500;

let dir: string;
/** The LU dd reads (random bytes): tgtd's backing file, kept across its restarts. */
let realLu: string;
let tgtd: Tgtd;
const started: Tgtd[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-dd-restart-'));
  realLu = join(dir, 'lu-real.img');
  writeFileSync(realLu, randomBytes(SIZE));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const t of started.splice(0)) await t.stop();
});

/** tgtd with our IQN's LUN 1 on `backing`; with `decoy`, a target created first gives ours tid 2, hence another WWID and serial. */
async function startTarget(backing: string, port?: number, decoy = false): Promise<Tgtd> {
  const t = await Tgtd.withFileLun(IQN, backing, { port, decoy });
  started.push(t);
  return t;
}

const url = () => `iscsi://${tgtd.host}:${tgtd.port}/${IQN}/1`;

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Waits for a progress line saying at least `bytes` are copied (dd --progress prints one at most every 100 ms). */
function copiedAtLeast(dd: RunningCli, bytes: number): Promise<string> {
  return dd.stderrLine((line) => {
    const m = /%\s+([\d.]+) (B|KiB|MiB|GiB) \//.exec(line);
    return m !== null && Number(m[1]) * UNITS[m[2]] >= bytes;
  });
}

/** Kills tgtd mid-copy and brings `next` up on the same port DOWN_MS later. */
async function restart(next: (port: number) => Promise<Tgtd>): Promise<void> {
  tgtd = await tgtd.restartAfter(DOWN_MS, next);
}

/** The connection was lost while the copy was under way: before the progress line at 100%. */
function lostBeforeTheEnd(stderr: string): boolean {
  const lines = stderr.split('\n');
  const lost = lines.findIndex((l) => / connection lost /.test(l));
  const end = lines.findIndex((l) => /\] 100\.0% /.test(l));
  return lost >= 0 && end > lost;
}

async function identity(): Promise<{ wwid: string; serial: string }> {
  const w = await runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x83', '--json', url()]);
  const s = await runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x80', '--json', url()]);
  expect(w.code, w.stderr).toBe(0);
  expect(s.code, s.stderr).toBe(0);
  return { wwid: JSON.parse(w.stdout).wwid, serial: JSON.parse(s.stdout).serialNumber };
}

describe('mpiscsi dd through a tgtd restart', () => {
  it('copies a LUN to a file while tgtd is killed and restarted: exit 0, sha256 equal', async () => {
    const backing = realLu;
    tgtd = await startTarget(backing);
    const out = join(dir, 'out-read.img');
    const t0 = performance.now();
    const dd = spawnCli('mpiscsi', ['dd', '--progress', '-s', url(), '-d', out]);
    await copiedAtLeast(dd, 16 << 20);
    await restart((port) => startTarget(backing, port));
    const r = await dd.done;
    const secs = (performance.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    // The kill landed mid-copy: the session saw it and came back, and the copy resumed.
    expect(r.stderr).toMatch(/connection lost \((closed|reset)/);
    expect(r.stderr).toMatch(/logged in again after [\d.]+ s, LU identity unchanged; I\/O resumed/);
    expect(lostBeforeTheEnd(r.stderr)).toBe(true);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^${SIZE} bytes copied in [\\d.]+ s \\([\\d.]+ MB/s\\)$`));
    expect(await sha256File(out)).toBe(await sha256File(backing));
    console.log(`LUN -> file through a restart: ${secs.toFixed(1)} s`);
  });

  it('copies a file to the LUN while tgtd is killed and restarted: exit 0, sha256 equal', async () => {
    const backing = join(dir, 'lu-write.img');
    tgtd = await Tgtd.start();
    started.push(tgtd);
    const tid = await tgtd.addTarget(IQN);
    await tgtd.addLun(tid, 1, { path: backing, size: SIZE });
    const input = join(dir, 'input.img');
    writeFileSync(input, randomBytes(SIZE));
    const t0 = performance.now();
    const dd = spawnCli('mpiscsi', ['dd', '--progress', '-s', input, '-d', url()]);
    await copiedAtLeast(dd, 16 << 20);
    await restart((port) => startTarget(backing, port));
    const r = await dd.done;
    const secs = (performance.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/logged in again after [\d.]+ s, LU identity unchanged; I\/O resumed/);
    expect(lostBeforeTheEnd(r.stderr)).toBe(true);
    expect(await sha256File(backing)).toBe(await sha256File(input));
    console.log(`file -> LUN through a restart: ${secs.toFixed(1)} s`);
  });

  it('stops with the identity reason when another LU comes back behind the same IQN and LUN, and copies none of it', async () => {
    const backing = realLu;
    // The other LU is all 0xAB: a block of it in the output would be a 4 KiB block of 0xAB.
    const other = join(dir, 'lu-other.img');
    writeFileSync(other, Buffer.alloc(SIZE, 0xab));
    tgtd = await startTarget(backing);
    const before = await identity();
    const out = join(dir, 'out-swap.img');
    const dd = spawnCli('mpiscsi', ['dd', '--progress', '-s', url(), '-d', out]);
    await copiedAtLeast(dd, 16 << 20);
    await restart((port) => startTarget(other, port, true));
    const r = await dd.done;
    const after = await identity();
    expect(after.wwid).not.toBe(before.wwid);
    expect(after.serial).not.toBe(before.serial);

    // Exit code: FATAL_LOGIN (19), as exitCodeFor maps IdentityChangedError; the reason is the last line.
    expect(r.code, r.stderr).toBe(19);
    const lines = r.stderr.trimEnd().split('\n');
    const last = lines.at(-1)!;
    const m = /^mpiscsi: dd stopped at byte (\d+): LUN 1 behind \S+ changed identity: /.exec(last);
    expect(m, last).not.toBeNull();
    expect(last).toContain(`WWID ${before.wwid} -> ${after.wwid}`);
    expect(last).toContain(`serial ${before.serial} -> ${after.serial}`);
    expect(lines.at(-2)).toMatch(/^\d+ bytes copied in [\d.]+ s \([\d.]+ MB\/s\)$/);

    // Everything below the byte dd names is the real LU's; no 4 KiB block anywhere is the other LU's.
    const at = Number(m![1]);
    const copy = readFileSync(out);
    const real = readFileSync(backing);
    expect(at).toBeGreaterThan(0);
    expect(copy.length).toBeGreaterThanOrEqual(at);
    expect(copy.subarray(0, at).equals(real.subarray(0, at))).toBe(true);
    const fill = Buffer.alloc(4096, 0xab);
    let foreign = 0;
    for (let off = 0; off + 4096 <= copy.length; off += 4096) if (copy.subarray(off, off + 4096).equals(fill)) foreign++;
    expect(foreign).toBe(0);
  });

  it('stops when tgtd is not back within replacement_timeout (--set): exit 8, the reason last, not before it', async () => {
    tgtd = await startTarget(realLu);
    const out = join(dir, 'out-gone.img');
    const dd = spawnCli('mpiscsi', ['dd', '--progress', '--set', 'node.session.timeo.replacement_timeout=1', '-s', url(), '-d', out]);
    await copiedAtLeast(dd, 16 << 20);
    const lost = performance.now(); // dd cannot see the connection go before this
    await tgtd.kill();
    const r = await dd.done;
    const heldMs = performance.now() - lost;
    expect(r.code, r.stderr).toBe(8); // TRANS_TIMEOUT, as exitCodeFor maps ReplacementTimeoutError
    expect(r.stderr).toMatch(/connection lost .*; holding I\/O while relogging in \(replacement_timeout 1 s\)/);
    expect(r.stderr).toMatch(/replacement_timeout 1 s expired; held I\/O failed/);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(
      /^mpiscsi: dd stopped at byte \d+: iqn\S+: connection lost \((closed|reset)[^)]*\) and not back within node\.session\.timeo\.replacement_timeout \(1 s\)/,
    );
    expect(lines.at(-2)).toMatch(/^\d+ bytes copied in /);
    // Held, not failed, until the timer: the kill was seen at once, the timer is a tick (100 ms) late at most.
    expect(heldMs).toBeGreaterThanOrEqual(1000);
    expect(heldMs).toBeLessThan(4000);
  });

  it('stops when the restarted target refuses the relogin (CHAP now required): exit 24, the reason last', async () => {
    tgtd = await startTarget(realLu);
    const dd = spawnCli('mpiscsi', ['dd', '--progress', '-s', url(), '-d', join(dir, 'out-refused.img')]);
    await copiedAtLeast(dd, 16 << 20);
    await restart(async (port) => {
      const t = await Tgtd.start({ port });
      started.push(t);
      const tid = await t.addTarget(IQN);
      // The account before the LU: no relogin can get through to the LU without CHAP.
      await t.addAccount(tid, 'dave', 'dave-secret-4242');
      await t.addLun(tid, 1, { path: realLu });
      return t;
    });
    const r = await dd.done;
    expect(r.code, r.stderr).toBe(24); // LOGIN_AUTH_FAILED
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(
      /^mpiscsi: dd stopped at byte \d+: relogin to iqn\S+ refused: login failed: authentication failure/,
    );
  });
});
