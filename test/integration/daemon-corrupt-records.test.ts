/**
 * Issue 16 "Corrupt records": the built mpiscsid starts beside six kinds of bad record files (garbage,
 * truncated, a directory where a file should be, a symlink out of the DB, an unreadable file, a huge file
 * with 100k unknown keys), logs each once with its path, skips it, and logs the good automatic record in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { Tgtd } from '../support/tgtd.js';
import { NatsServer } from '../support/nats-server.js';

const GOOD = 'iqn.2026-12.test:corrupt-good';
const HOST = 'corrupthost';

let tgtd: Tgtd;
let nats: NatsServer;
let dir: string;
let db: string;
let daemon: DaemonProcess | undefined;
/** Each bad file, by kind. */
const bad: Record<string, string> = {};

const adm = (...args: string[]): Promise<CliResult> =>
  runCli('mpiscsiadm', ['--db', db, ...args], { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: HOST });

/** A node record file path in the new layout for a target that does not exist. */
const nodeFile = (name: string, iface = 'default'): string => {
  const d = join(db, 'nodes', `iqn.2026-12.test:${name}`, '127.0.0.1,3260,1');
  mkdirSync(d, { recursive: true });
  return join(d, iface);
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsid-corrupt-'));
  db = join(dir, 'db');
  [tgtd, nats] = await Promise.all([Tgtd.start(), NatsServer.start()]);
  await tgtd.addTarget(GOOD, [{ size: 4 << 20 }]);

  // The good record, made offline as a user would.
  let r = await adm('-m', 'discovery', '-t', 'st', '-p', `127.0.0.1:${tgtd.port}`);
  expect(r.code, r.stderr).toBe(0);
  r = await adm('-m', 'node', '-T', GOOD, '-o', 'update', '-n', 'node.startup', '-v', 'automatic');
  expect(r.code, r.stderr).toBe(0);

  // 1. garbage: binary junk and a line without "=".
  bad.garbage = nodeFile('garbage');
  writeFileSync(bad.garbage, '# BEGIN RECORD 2.1.8\nnode.name = x\n\u0001\u0002 garbage ### !!\n\u00ff\u00fe');
  // 2. truncated: cut inside a key.
  bad.truncated = nodeFile('truncated');
  writeFileSync(
    bad.truncated,
    '# BEGIN RECORD 2.1.8\nnode.name = iqn.2026-12.test:truncated\nnode.tpgt = 1\nnode.startup = automatic\nnode.sess',
  );
  // 3. a directory where the record file should be.
  bad.directory = nodeFile('directory');
  mkdirSync(join(bad.directory, 'inner'), { recursive: true });
  // 4. a symlink out of the DB (to a record-looking file outside it).
  const outside = join(dir, 'outside-record');
  writeFileSync(outside, `# BEGIN RECORD 2.1.8\nnode.name = iqn.2026-12.test:symlink\nnode.startup = automatic\n# END RECORD\n`);
  bad.symlink = nodeFile('symlink');
  symlinkSync(outside, bad.symlink);
  // 5. unreadable: the tests run as root, so mode 000 would still read; a FIFO is what a read would hang on.
  bad.unreadable = nodeFile('unreadable');
  execFileSync('mkfifo', ['-m', '000', bad.unreadable]);
  // 6. huge: 100k unknown keys.
  bad.huge = nodeFile('huge');
  const lines = ['# BEGIN RECORD 2.1.8', 'node.name = iqn.2026-12.test:huge', 'node.startup = automatic'];
  for (let i = 0; i < 100_000; i++) lines.push(`node.unknown.key${i} = value${i}`);
  writeFileSync(bad.huge, `${lines.join('\n')}\n# END RECORD\n`);
  // And the same kinds beside discovery and iface records.
  mkdirSync(join(db, 'send_targets', '127.0.0.9,3260'), { recursive: true });
  bad.stConfig = join(db, 'send_targets', '127.0.0.9,3260', 'st_config');
  writeFileSync(bad.stConfig, 'discovery.sendtargets.address\n');
  mkdirSync(join(db, 'ifaces'), { recursive: true });
  bad.iface = join(db, 'ifaces', 'badiface');
  symlinkSync('/etc/passwd', bad.iface);
});

afterAll(async () => {
  await daemon?.stop();
  await Promise.all([tgtd?.stop(), nats?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('mpiscsid beside corrupt records', () => {
  it('mpiscsiadm -m node lists the good record and warns about each bad one', async () => {
    const r = await adm('-m', 'node');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([`127.0.0.1:${tgtd.port},1 ${GOOD}`]);
    for (const kind of ['garbage', 'truncated', 'directory', 'symlink', 'unreadable', 'huge']) {
      const hits = r.stderr.split('\n').filter((l) => l.includes(bad[kind]!));
      expect(hits, `${kind}: ${r.stderr}`).toHaveLength(1);
    }
    // The parser knows the line of a garbage and a truncated record.
    expect(r.stderr).toContain(`${bad.garbage}:3:`);
    expect(r.stderr).toContain(`${bad.truncated}:5:`);
  });

  it('starts, names each bad file once, and logs the good automatic record in', async () => {
    daemon = await DaemonProcess.start({ db, dir, nats: nats.url, hostId: HOST });
    for (const kind of ['garbage', 'truncated', 'directory', 'symlink', 'unreadable', 'huge']) {
      const hits = daemon.lines.filter((l) => l.includes(bad[kind]!));
      expect(hits, `${kind}:\n${daemon.lines.join('\n')}`).toHaveLength(1);
      expect(hits[0]).toMatch(/skipp/);
    }
    expect(
      daemon.lines.some((l) => l.includes(`Login to [iface: default, target: ${GOOD}, portal: 127.0.0.1,${tgtd.port}] successful`)),
    ).toBe(true);
    const s = await adm('-m', 'session');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toContain(`127.0.0.1:${tgtd.port},1 ${GOOD}`);
    // tgtd sees the initiator's connection.
    expect(daemon.child.exitCode).toBeNull();
  });
});
