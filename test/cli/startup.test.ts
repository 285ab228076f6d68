/**
 * Start time (issue 17): the command lines load only what their mode uses. `--version`, `--help` and the
 * offline record modes of mpiscsiadm must not load NATS, OpenTelemetry, XState, RxJS, protobuf or the CRC
 * addon (they are what made every call cost 0.3 s); each built program is run with a preload that lists the
 * modules the process loaded (test/support/loaded-modules.mjs), ES and CommonJS alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const preload = join(root, 'test', 'support', 'loaded-modules.mjs');
const HEAVY = /node_modules\/(@nats-io|@opentelemetry|xstate|rxjs|@bufbuild|@node-rs)\//;

let dir: string;
let db: string;
let n = 0;

/** Runs a built program with the preload; its exit code and the modules it loaded (paths or file: URLs). */
function loaded(program: string, args: string[]): Promise<{ code: number; stderr: string; modules: string[] }> {
  const list = join(dir, `modules-${n++}.txt`);
  const script = join(root, 'dist', 'src', program === 'mpiscsid' ? 'daemon' : 'cli', `${program}.js`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', preload, script, ...args],
      { env: { ...process.env, MPISCSI_LOADED_MODULES: list, MPISCSI_NATS_URL: 'nats://127.0.0.1:1' } },
      (err, _stdout, stderr) => {
        const modules = readFileSync(list, 'utf8').split('\n').filter(Boolean);
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr, modules });
      },
    );
  });
}

const adm = (...a: string[]) => loaded('mpiscsiadm', ['--db', db, ...a]);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-startup-'));
  db = join(dir, 'db');
  expect((await adm('-m', 'node', '-o', 'new', '-T', 'iqn.2026-12.test:a', '-p', '127.0.0.1:3260,1')).code).toBe(0);
  expect((await adm('-m', 'discoverydb', '-t', 'st', '-p', '127.0.0.1:3260', '-o', 'new')).code).toBe(0);
  expect((await adm('-m', 'iface', '-I', 'eth9', '-o', 'new')).code).toBe(0);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fast paths load no NATS, OpenTelemetry, XState or protobuf code', () => {
  const cases: [string, () => ReturnType<typeof loaded>][] = [
    ['mpiscsiadm --version', () => adm('--version')],
    ['mpiscsiadm --help', () => adm('--help')],
    ['mpiscsiadm -m node', () => adm('-m', 'node')],
    ['mpiscsiadm -m node -P 1', () => adm('-m', 'node', '-P', '1')],
    ['mpiscsiadm -m node -T -p (show)', () => adm('-m', 'node', '-T', 'iqn.2026-12.test:a', '-p', '127.0.0.1:3260')],
    ['mpiscsiadm -m iface', () => adm('-m', 'iface')],
    [
      'mpiscsiadm -m iface -I eth9 -o update',
      () => adm('-m', 'iface', '-I', 'eth9', '-o', 'update', '-n', 'iface.ipaddress', '-v', '127.0.0.9'),
    ],
    ['mpiscsiadm -m discovery', () => adm('-m', 'discovery')],
    ['mpiscsiadm -m discovery -P 1', () => adm('-m', 'discovery', '-P', '1')],
    [
      'mpiscsiadm -m discoverydb -o update',
      () =>
        adm(
          '-m',
          'discoverydb',
          '-t',
          'st',
          '-p',
          '127.0.0.1:3260',
          '-o',
          'update',
          '-n',
          'discovery.sendtargets.auth.authmethod',
          '-v',
          'None',
        ),
    ],
    ['mpiscsi --version', () => loaded('mpiscsi', ['--version'])],
    ['mpiscsi --help', () => loaded('mpiscsi', ['--help'])],
    ['mpiscsi dd --help', () => loaded('mpiscsi', ['dd', '--help'])],
  ];
  for (const [name, run] of cases)
    it(name, async () => {
      const r = await run();
      expect(r.code, r.stderr).toBe(0);
      expect(r.modules.some((m) => m.includes('/dist/src/'))).toBe(true); // the list is the program's
      expect(r.modules.filter((m) => HEAVY.test(m))).toEqual([]);
    });

  it('the check sees them where they are used: -m session, which asks the daemon, loads NATS', async () => {
    const r = await adm('-m', 'session');
    expect(r.code).not.toBe(0); // no daemon at nats://127.0.0.1:1
    expect(r.modules.some((m) => m.includes('node_modules/@nats-io/'))).toBe(true);
  });
});
