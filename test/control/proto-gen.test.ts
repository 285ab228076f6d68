/**
 * The generated code under src/control/gen/ is what proto/ and buf.gen.yaml give today: `buf generate` (the
 * buf and protoc-gen-es of node_modules, no network) into a temporary directory must produce the checked-in
 * files byte for byte. When this fails, run `npm run proto:gen` and commit the result with the proto edit.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUF = join(ROOT, 'node_modules', '.bin', 'buf');
const GEN = 'src/control/gen';

const temps: string[] = [];
afterAll(async () => {
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mpiscsi-proto-gen-'));
  temps.push(d);
  return d;
}

/** Every file under `dir`, as paths relative to it, sorted. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  await walk(dir);
  return out.sort();
}

/** The files that differ between two generated trees: missing on either side, or with other contents. */
async function drift(checkedIn: string, fresh: string): Promise<string[]> {
  const a = await files(checkedIn);
  const b = await files(fresh);
  const out: string[] = [];
  for (const f of new Set([...a, ...b])) {
    if (!a.includes(f)) out.push(`${f}: not checked in`);
    else if (!b.includes(f)) out.push(`${f}: no longer generated`);
    else if (!(await readFile(join(checkedIn, f))).equals(await readFile(join(fresh, f)))) out.push(`${f}: differs`);
  }
  return out.sort();
}

/** `buf generate` of the project in `cwd` (buf.gen.yaml there), written under `outDir`. */
async function generate(cwd: string, outDir: string): Promise<void> {
  await run(BUF, ['generate', '--output', outDir], { cwd, timeout: 60_000 });
}

describe('src/control/gen', () => {
  it('is what npm run proto:gen generates from proto/ (run it and commit when this fails)', async () => {
    const out = await tempDir();
    await generate(ROOT, out);
    const differing = await drift(join(ROOT, GEN), join(out, GEN));
    expect(differing, `src/control/gen/ is stale (run npm run proto:gen): ${differing.join('; ')}`).toEqual([]);
    // One _pb.ts per .proto file: the comparison ran over something.
    const protos = (await files(join(ROOT, 'proto'))).filter((f) => f.endsWith('.proto'));
    expect(await files(join(ROOT, GEN))).toEqual(protos.map((f) => f.replace(/\.proto$/, '_pb.ts')).sort());
  });

  it('the check sees an edit of proto/ that was not regenerated', async () => {
    // A copy of the project whose common.proto has one more field, generated there: its common_pb.ts must differ.
    const copy = await tempDir();
    await cp(join(ROOT, 'proto'), join(copy, 'proto'), { recursive: true });
    for (const f of ['buf.yaml', 'buf.gen.yaml']) await cp(join(ROOT, f), join(copy, f));
    await symlink(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
    const common = join(copy, 'proto/mpiscsi/v1/common.proto');
    const text = await readFile(common, 'utf8');
    const edited = text.replace('  int32 tpgt = 3;\n', '  int32 tpgt = 3;\n  string scope = 4;\n');
    expect(edited).not.toBe(text);
    await writeFile(common, edited);
    const out = await tempDir();
    await generate(copy, out);
    expect(await drift(join(ROOT, GEN), join(out, GEN))).toEqual(['mpiscsi/v1/common_pb.ts: differs']);
  });
});
