/**
 * Issue 16: a hostile target's SendTargets answer and hostile record values, against the built mpiscsiadm.
 * A TargetName with a newline (that would write `iface.initiatorname = ...` into the record and forge a
 * listing line), one over 223 bytes, one that walks out of the database, a bad TargetAddress: each skipped
 * and named on stderr, every good target of the same answer stored, nothing outside the DB. A value with a
 * newline set with `-o update` is refused with exit 7 naming the key; the record is unchanged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { FakeTarget } from '../support/fake-target.js';
import { runCli } from '../support/cli.js';

const GOOD = ['iqn.2026-12.test:good0', 'eui.0123456789abcdef'];
const EVIL = 'iqn.2026-12.test:x\niface.initiatorname = iqn.2026-12.evil:me\nnode.session.auth.username = evil';

let fake: FakeTarget;
let dir: string;
let db: string;

const adm = (...args: string[]) => runCli('mpiscsiadm', ['--db', db, ...args]);

function filesUnder(root: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (e.isDirectory()) out.push(p, ...filesUnder(p));
    else out.push(p);
  }
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-hostile-'));
  db = join(dir, 'db');
  // The addresses are only stored (nothing logs in to them here).
  const here = '127.0.0.1:3260,1';
  fake = await FakeTarget.start({
    targetName: GOOD[0],
    sendTargets: [
      ['TargetName', GOOD[0]],
      ['TargetAddress', here],
      ['TargetName', EVIL],
      ['TargetAddress', here],
      ['TargetName', `iqn.2026-12.test:${'n'.repeat(250)}`],
      ['TargetAddress', here],
      ['TargetName', '../../../../tmp/escaped'],
      ['TargetAddress', here],
      ['TargetName', 'iqn.2026-12.test:badaddr'],
      ['TargetAddress', '127.0.0.1:99999'],
      ['TargetName', GOOD[1]],
      ['TargetAddress', here],
    ],
  });
});

afterAll(async () => {
  await fake?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a hostile SendTargets answer', () => {
  it('stores every good target, skips and names each bad one, writes nothing outside the DB and forges no line', async () => {
    const r = await adm('-m', 'discovery', '-t', 'st', '-p', `127.0.0.1:${fake.port}`);
    expect(r.code, r.stderr).toBe(0);
    const printed = r.stdout.split('\n').filter((l) => l !== '');
    expect(printed.map((l) => l.split(' ')[1])).toEqual(GOOD);
    const err = r.stderr.split('\n').filter((l) => l !== '');
    expect(err).toHaveLength(5);
    expect(err[0]).toContain(JSON.stringify(EVIL));
    expect(err[0]).toMatch(/TargetName has a character iSCSI names do not allow \("\\n"/);
    expect(err[1]).toMatch(/TargetName is longer than 223 bytes/);
    expect(err[2]).toMatch(/"\.\.\/\.\.\/\.\.\/\.\.\/tmp\/escaped": TargetName has a character/);
    expect(err[3]).toMatch(/"iqn.2026-12.test:badaddr" address "127.0.0.1:99999": TargetAddress .* has a bad port/);
    expect(err[4]).toMatch(/"iqn.2026-12.test:badaddr": no usable TargetAddress/);

    const files = filesUnder(db);
    for (const f of files) expect(relative(db, f).startsWith('..')).toBe(false);
    expect(() => statSync('/tmp/escaped')).toThrow();
    for (const f of files.filter((p) => statSync(p).isFile())) expect(readFileSync(f, 'utf8')).not.toMatch(/evil/);
    const nodes = await adm('-m', 'node');
    expect(nodes.code).toBe(0);
    expect(
      nodes.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split(' ')[1])
        .sort(),
    ).toEqual([...GOOD].sort());
    expect(nodes.stdout).not.toMatch(/evil|initiatorname/);
  });

  // (A NUL cannot come through argv; the record rules refuse it as well: test/db/record-rules.test.ts.)
  it('refuses a record value with a newline or CR (exit 7, naming the key) and leaves the record as it was', async () => {
    const show = (await adm('-m', 'node', '-T', GOOD[0], '-o', 'show')).stdout;
    for (const bad of ['x\nnode.startup = automatic', 'x\rnode.startup = automatic']) {
      const r = await adm('-m', 'node', '-T', GOOD[0], '-o', 'update', '-n', 'node.session.auth.password', '-v', bad);
      expect(r.code).toBe(7);
      expect(r.stderr).toMatch(/node\.session\.auth\.password.*control character/);
    }
    expect((await adm('-m', 'node', '-T', GOOD[0], '-o', 'show')).stdout).toBe(show);
    expect(show).toMatch(/node\.startup = manual/);
    const name = await adm('-m', 'node', '-T', 'iqn.2026-12.test:a/../../b', '-p', '127.0.0.1:3260', '-o', 'new');
    expect(name.code).toBe(7);
    expect(name.stderr).toMatch(/node\.name = .*iSCSI names do not allow/);
  });
});
