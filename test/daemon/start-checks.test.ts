/**
 * mpiscsid's start checks against the built daemon: an unusable --db or --state-dir stops it at once with
 * the directory, the reason and iscsiadm's exit code (IDBM 6, ACCESS 13); -d out of range is refused (7).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/ports.js';

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

  it('logs the NATS URL with its password redacted while it waits for NATS (and in its configuration line)', async () => {
    const url = `nats://admin:s3cret-pw@127.0.0.1:${await freePort()}`;
    const child = spawn(
      process.execPath,
      [join(root, 'dist/src/daemon/mpiscsid.js'), '--nats', url, '-d', '1', '--db', join(dir, 'db'), '--state-dir', join(dir, 'state')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    const waiting = new Promise<void>((resolve) =>
      child.stderr.setEncoding('utf8').on('data', (s: string) => {
        stderr += s;
        if (stderr.includes('waiting for NATS at')) resolve();
      }),
    );
    await waiting;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
    expect(stderr).toContain(`waiting for NATS at nats://***@127.0.0.1:${new URL(url).port}`);
    expect(stderr).toContain(`NATS nats://***@127.0.0.1:${new URL(url).port}`);
    expect(stderr).not.toContain('s3cret-pw');
  });
});
