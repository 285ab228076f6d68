/**
 * Two-way compatibility with the real iscsiadm 2.1.8 (Debian open-iscsi, offline in a private mount and network
 * namespace: test/support/iscsiadm.ts): a tree written by iscsiadm and read by mpiscsiadm, and a tree written by
 * mpiscsiadm and read by iscsiadm, give the same output and exit code for `-m node`, `-m node -P 1`, `-o show`,
 * `-m iface`, `-m iface -I`, `-m discovery -P 1` and the discovery record's `-o show`.
 * iscsiadm lists a discovery section in readdir order, so the discovery tree holds one record per section.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { iscsiadm } from '../support/iscsiadm.js';

const T0 = 'iqn.2026-11.test:compat0';
const T1 = 'iqn.2026-11.test:compat1';

type Writer = 'iscsiadm' | 'mpiscsiadm';

const trees: string[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) rmSync(t, { recursive: true, force: true });
});

async function run(who: Writer, tree: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return who === 'iscsiadm'
    ? iscsiadm(tree, args)
    : runCli('mpiscsiadm', ['--db', tree, ...args], { MPISCSI_NATS_URL: 'nats://127.0.0.1:1' });
}

/** A tree written by `who` with `commands`, each of which must succeed. */
async function tree(who: Writer, commands: readonly (readonly string[])[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `compat-${who}-`));
  trees.push(dir);
  for (const c of commands) {
    const r = await run(who, dir, c);
    expect(r.code, `${who} ${c.join(' ')}: ${r.stderr}`).toBe(0);
  }
  return dir;
}

const NODES: readonly (readonly string[])[] = [
  ['-m', 'iface', '-I', 'if1', '-o', 'new'],
  ['-m', 'iface', '-I', 'ipv6if', '-o', 'new'],
  ['-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1'],
  ['-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1', '-I', 'if1'],
  ['-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.2:3261,2'],
  ['-m', 'node', '-o', 'new', '-T', T1, '-p', '[::1]:3260,1', '-I', 'ipv6if'],
  ['-m', 'discoverydb', '-t', 'st', '-p', '127.0.0.1:3260', '-o', 'new'],
];

const READS: readonly (readonly string[])[] = [
  ['-m', 'node'],
  ['-m', 'node', '-P', '1'],
  ['-m', 'node', '-T', T0, '-p', '127.0.0.1:3260', '-I', 'if1', '-o', 'show'],
  ['-m', 'node', '-T', T1, '-o', 'show'],
  ['-m', 'node', '-T', T0, '-p', '127.0.0.2:3261', '-o', 'show', '-S'],
  ['-m', 'node', '-T', 'iqn.2026-11.test:none'],
  ['-m', 'iface'],
  ['-m', 'iface', '-I', 'if1'],
  ['-m', 'iface', '-I', 'ipv6if'],
  ['-m', 'iface', '-I', 'default'],
  ['-m', 'discoverydb', '-t', 'st', '-p', '127.0.0.1:3260', '-o', 'show'],
];

/** One record per section: STATIC (made by -o new) and the SendTargets portal. */
const DISCOVERY: readonly (readonly string[])[] = [
  ['-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1'],
  ['-m', 'discoverydb', '-t', 'st', '-p', '127.0.0.1:3260', '-o', 'new'],
];

describe.each(['iscsiadm', 'mpiscsiadm'] as const)('a tree written by %s', (writer) => {
  it('reads the same through iscsiadm 2.1.8 and mpiscsiadm: node, -P 1, -o show, iface', async () => {
    const dir = await tree(writer, NODES);
    for (const args of READS) {
      const theirs = await iscsiadm(dir, args);
      const ours = await run('mpiscsiadm', dir, args);
      expect({ code: ours.code, stdout: ours.stdout }, args.join(' ')).toEqual({ code: theirs.code, stdout: theirs.stdout });
    }
  });

  it('reads the same `-m discovery -P 1` through both', async () => {
    const empty = await tree(writer, []);
    const dir = await tree(writer, DISCOVERY);
    for (const d of [empty, dir]) {
      const theirs = await iscsiadm(d, ['-m', 'discovery', '-P', '1']);
      const ours = await run('mpiscsiadm', d, ['-m', 'discovery', '-P', '1']);
      expect({ code: ours.code, stdout: ours.stdout }).toEqual({ code: theirs.code, stdout: theirs.stdout });
    }
  });
});
