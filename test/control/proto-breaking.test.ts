/**
 * proto/ stays wire- and JSON-compatible with the published API: `buf breaking` (FILE rules, buf.yaml) against
 * the checked-in baseline image proto/baseline.json passes, and in a temporary copy of proto/ an incompatible
 * edit (a renumbered field, a changed type, a deleted field) is caught while a compatible one (a new field) is
 * not. The baseline is the API as last released; refresh it at a release with
 * `npx buf build --exclude-source-info -o proto/baseline.json`.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUF = join(ROOT, 'node_modules', '.bin', 'buf');
const BASELINE = join(ROOT, 'proto', 'baseline.json');

/** `buf breaking` of the project in `cwd` against the baseline: exit code and what buf printed. */
async function breaking(cwd: string): Promise<{ code: number; out: string }> {
  try {
    const r = await run(BUF, ['breaking', '--against', BASELINE], { cwd, timeout: 60_000 });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

let copy: string;
beforeAll(async () => {
  copy = await mkdtemp(join(tmpdir(), 'mpiscsi-proto-breaking-'));
});
afterAll(async () => {
  if (copy) await rm(copy, { recursive: true, force: true });
});

/** A fresh copy of buf.yaml and proto/ in its own directory, with `from` replaced by `to` in `file`. */
async function editedCopy(name: string, file: string, from: string, to: string): Promise<string> {
  const dir = join(copy, name);
  await cp(join(ROOT, 'proto'), join(dir, 'proto'), { recursive: true });
  await cp(join(ROOT, 'buf.yaml'), join(dir, 'buf.yaml'));
  const path = join(dir, 'proto/mpiscsi/v1', file);
  const text = await readFile(path, 'utf8');
  expect(text, `${file} no longer has ${JSON.stringify(from)}`).toContain(from);
  await writeFile(path, text.replace(from, to));
  return dir;
}

describe('buf breaking against proto/baseline.json', () => {
  it('proto/ as checked in is compatible with the baseline', async () => {
    const r = await breaking(ROOT);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('proto/ passes buf lint (the default rules)', async () => {
    const r = await run(BUF, ['lint'], { cwd: ROOT, timeout: 60_000 });
    expect(r.stdout + r.stderr).toBe('');
  });

  it('catches a renumbered field', async () => {
    const r = await breaking(await editedCopy('renumbered', 'common.proto', 'uint32 port = 2;', 'uint32 port = 4;'));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/Portal/);
    expect(r.out).toMatch(/field.*"2".*deleted|Previously present field "2"/i);
  });

  it('catches a changed type', async () => {
    const r = await breaking(await editedCopy('retyped', 'node.proto', '  string startup = 2;', '  uint32 startup = 2;'));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/NodeLoginRequest/);
    expect(r.out).toMatch(/type/i);
  });

  it('catches a 64-bit field narrowed to 32 bits', async () => {
    const r = await breaking(await editedCopy('narrowed', 'mpath.proto', 'uint64 size_bytes = 5;', 'uint32 size_bytes = 5;'));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/size_bytes/);
  });

  it('catches a deleted field', async () => {
    const r = await breaking(await editedCopy('deleted', 'session.proto', '  string isid = 13;\n', ''));
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/SessionInfo/);
  });

  it('lets a new field through (what a newer client may send an older daemon)', async () => {
    const r = await breaking(
      await editedCopy(
        'added',
        'node.proto',
        '  bool all = 3;\n}\n\nmessage NodeLoginResponse',
        '  bool all = 3;\n  string note = 4;\n}\n\nmessage NodeLoginResponse',
      ),
    );
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });
});
