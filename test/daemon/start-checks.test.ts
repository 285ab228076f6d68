/**
 * mpiscsid's start checks against the built daemon: an unusable --db or --state-dir stops it at once with
 * the directory, the reason and iscsiadm's exit code (IDBM 6, ACCESS 13); -d out of range is refused (7).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'mpiscsid-start-'));
const aFile = join(dir, 'a-file');
writeFileSync(aFile, 'not a directory\n');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const daemon = (...args: string[]) =>
  new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, [join(root, 'dist/src/daemon/mpiscsid.js'), '--nats', 'none', ...args], (err, _o, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stderr }),
    ),
  );

describe('mpiscsid start checks', () => {
  it('refuses a --db that is not a directory, naming it, with exit code 6', async () => {
    const r = await daemon('--db', aFile, '--state-dir', join(dir, 'state'));
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(`error: node database (--db / db) ${aFile} is not usable: not a directory`);
    expect(r.stderr).not.toMatch(/ready/);
  });

  it('refuses a --state-dir under a file, naming it, with exit code 13', async () => {
    const r = await daemon('--db', join(dir, 'db'), '--state-dir', join(aFile, 'run'));
    expect(r.code).toBe(13);
    expect(r.stderr).toContain(`error: state directory (--state-dir / state_dir) ${join(aFile, 'run')} is not usable: not a directory`);
  });

  it('refuses -d 9 with exit code 7', async () => {
    const r = await daemon('--db', join(dir, 'db'), '--state-dir', join(dir, 'state'), '-d', '9');
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/-d 9: expected a debug level 0\.\.8/);
  });
});
