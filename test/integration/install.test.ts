/**
 * The package as a user installs it (issue 14): `npm pack` of this checkout (dist/ is built by the global
 * setup, so --ignore-scripts), `npm install -g --prefix <tmp>` of the tarball, then the man pages (man -M PREFIX/share/man
 * -w finds each) and completion scripts in it, and the three bins from the prefix's bin/ run from another directory: `--version`, `mpiscsiadm -m iface` on a scratch database, and
 * `mpiscsi serve` of a tgtd LU read with nbdinfo; then systemd/mpiscsid.service verified with
 * `systemd-analyze verify` against the installed bin and its ExecStart line run as systemd would expand it,
 * the daemon's log lines under -d 0 and -d 3. Packed and installed once per run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tgtd } from '../support/tgtd.js';
import { nbdinfo } from '../support/nbd-clients.js';
import { NatsServer } from '../support/nats-server.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const IQN = 'iqn.2026-12.test:install';

let dir: string;
let tgz: string;
let bin: string;
let elsewhere: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-install-'));
  tgz = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })
    .trim()
    .split('\n')
    .pop()!;
  const prefix = join(dir, 'prefix');
  execFileSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, tgz)], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  bin = join(prefix, 'bin');
  elsewhere = mkdtempSync(join(dir, 'cwd-'));
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One installed bin, run from `elsewhere` (not the checkout); resolves with its exit code and output. */
const runBin = (name: string, args: string[], env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(join(bin, name), args, { cwd: elsewhere, env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });

describe('npm pack + npm install -g of the tarball', () => {
  it('puts the three bins on the prefix PATH, and --version of each prints the package.json version', async () => {
    for (const name of ['mpiscsi', 'mpiscsiadm', 'mpiscsid']) {
      expect(existsSync(join(bin, name))).toBe(true);
      const r = await runBin(name, ['--version']);
      expect({ name, code: r.code, out: r.stdout }).toEqual({ name, code: 0, out: `${name} version ${pkg.version}\n` });
    }
  });

  it('ships proto/ and the systemd unit beside dist/, and no tests', () => {
    const installed = join(dir, 'prefix', 'lib', 'node_modules', 'mpiscsi');
    expect(existsSync(join(installed, 'proto', 'mpiscsi', 'v1', 'session.proto'))).toBe(true);
    expect(existsSync(join(installed, 'systemd', 'mpiscsid.service'))).toBe(true);
    expect(existsSync(join(installed, 'dist', 'src', 'daemon', 'mpiscsid.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist', 'test'))).toBe(false);
  });

  it('packs the man pages and completion scripts, and installs the man pages under PREFIX/share/man where man -M finds them', async () => {
    const listing = execFileSync('tar', ['-tzf', join(dir, tgz)], { encoding: 'utf8' }).split('\n');
    for (const f of [
      'man/mpiscsi.1',
      'man/mpiscsiadm.8',
      'man/mpiscsid.8',
      'completion/mpiscsi',
      'completion/mpiscsiadm',
      'completion/mpiscsid',
    ])
      expect(listing).toContain(`package/${f}`);
    const manDir = join(dir, 'prefix', 'share', 'man');
    for (const [page, section] of [
      ['mpiscsi', 1],
      ['mpiscsiadm', 8],
      ['mpiscsid', 8],
    ] as const) {
      // npm links PREFIX/share/man/manN/PAGE.N to the package's man/PAGE.N.
      expect(readFileSync(join(manDir, `man${section}`, `${page}.${section}`), 'utf8')).toBe(
        readFileSync(join(root, 'man', `${page}.${section}`), 'utf8'),
      );
      const where = await new Promise<{ code: number; out: string }>((resolve) =>
        execFile('man', ['-M', manDir, '-w', page], (err, stdout) => resolve({ code: err ? 1 : 0, out: stdout.trim() })),
      );
      // man -w prints the page the link leads to, in the installed package.
      expect(where.code).toBe(0);
      expect(realpathSync(where.out)).toBe(realpathSync(join(manDir, `man${section}`, `${page}.${section}`)));
    }
    // The completion script sourced from the installed package completes the installed command.
    const installed = join(dir, 'prefix', 'lib', 'node_modules', 'mpiscsi', 'completion', 'mpiscsiadm');
    const offered = execFileSync('bash', ['--norc', '-c', `source ${installed}; complete -p mpiscsiadm`], { encoding: 'utf8' });
    expect(offered.trim()).toBe('complete -F _mpiscsiadm mpiscsiadm');
  });

  it('mpiscsiadm -m iface lists the built-in ifaces of a scratch database, from another directory', async () => {
    const r = await runBin('mpiscsiadm', ['-m', 'iface'], { MPISCSI_DB: join(dir, 'db') });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^default tcp,/m);
    expect(r.stdout).toMatch(/^iser iser,/m);
  });

  it('mpiscsi serve of a tgtd LU answers nbdinfo with the LU size', async () => {
    const tgtd = await Tgtd.start();
    let child: ChildProcess | undefined;
    try {
      const tid = await tgtd.addTarget(IQN);
      await tgtd.addLun(tid, 1, { size: 8 * 1024 * 1024 });
      const socket = join(dir, 'serve.sock');
      child = spawn(join(bin, 'mpiscsi'), ['serve', `iscsi://${tgtd.portal}/${IQN}/1`, '--socket', socket], {
        cwd: elsewhere,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const proc = child;
      const output: string[] = [];
      // The URI line, on whichever stream this version prints it.
      const uri = await new Promise<string>((resolve, reject) => {
        const scan = (s: Buffer) => {
          output.push(s.toString());
          const m = /nbd\+unix:\/\/\/\S+/.exec(output.join(''));
          if (m) resolve(m[0]);
        };
        proc.stdout!.on('data', scan);
        proc.stderr!.on('data', scan);
        proc.once('exit', (code) => reject(new Error(`mpiscsi serve exited ${code}: ${output.join('')}`)));
      });
      expect(uri).toBe(`nbd+unix:///mpatha?socket=${socket}`);
      const info = await nbdinfo(uri);
      expect(info.exports[0]['export-size']).toBe(8 * 1024 * 1024);
    } finally {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child!.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await tgtd.stop();
    }
  });
});

/** The unit's ExecStart words with systemd's expansion of ${VAR} (one word) and $VAR (split at whitespace). */
function execStartOf(unit: string, env: Record<string, string>): string[] {
  const line = unit.split('\n').find((l) => l.startsWith('ExecStart='))!;
  return line
    .slice('ExecStart='.length)
    .trim()
    .split(/\s+/)
    .flatMap((w) => {
      const braced = /^\$\{(\w+)\}$/.exec(w);
      if (braced) return [env[braced[1]] ?? ''];
      const bare = /^\$(\w+)$/.exec(w);
      if (bare) return (env[bare[1]] ?? '').split(/\s+/).filter(Boolean);
      return [w];
    });
}

describe('systemd/mpiscsid.service', () => {
  const unitText = () => readFileSync(join(root, 'systemd', 'mpiscsid.service'), 'utf8');
  const installedUnit = () => unitText().replaceAll('/usr/local/bin/mpiscsid', join(bin, 'mpiscsid'));

  it('has the restart policy, directories and hardening a storage daemon takes', () => {
    const keys = new Map(
      unitText()
        .split('\n')
        .filter((l) => /^[A-Za-z]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    expect(keys.get('Restart')).toBe('on-failure');
    expect(keys.get('StateDirectory')).toBe('mpiscsi');
    expect(keys.get('RuntimeDirectory')).toBe('mpiscsi');
    expect(keys.get('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    for (const k of ['NoNewPrivileges', 'ProtectHome', 'PrivateTmp', 'PrivateDevices', 'ProtectKernelModules', 'RestrictSUIDSGID'])
      expect({ k, v: keys.get(k) }).toEqual({ k, v: 'yes' });
    expect(keys.get('ProtectSystem')).toBe('strict');
    expect(keys.get('RestrictAddressFamilies')).toBe('AF_UNIX AF_INET AF_INET6');
  });

  it('passes systemd-analyze verify with ExecStart pointing at the installed bin', async () => {
    const file = join(dir, 'mpiscsid.service');
    writeFileSync(file, installedUnit());
    const r = await new Promise<{ code: number; out: string }>((resolve) =>
      execFile('systemd-analyze', ['verify', file], (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr }),
      ),
    );
    expect(r).toEqual({ code: 0, out: '' });
    // The check is real: a unit whose ExecStart names no executable fails it.
    writeFileSync(file, unitText().replaceAll('/usr/local/bin/mpiscsid', join(dir, 'no-such-bin')));
    const bad = await new Promise<number>((resolve) => execFile('systemd-analyze', ['verify', file], (err) => resolve(err ? 1 : 0)));
    expect(bad).toBe(1);
  });

  describe.each([0, 3])('its ExecStart command line with -d %i', (level) => {
    let tgtd: Tgtd;
    let nats: NatsServer;
    const iqn = `iqn.2026-12.test:service${level}`;
    beforeAll(async () => {
      [tgtd, nats] = await Promise.all([Tgtd.start(), NatsServer.start()]);
      await tgtd.addTarget(iqn, [{ size: 4 << 20 }]);
    });
    afterAll(async () => {
      await Promise.all([tgtd?.stop(), nats?.stop()]);
    });

    it('logs one line per event with levels, no colour and no debug lines below the level, and stops on SIGTERM', async () => {
      const base = join(dir, `svc${level}`);
      const env = {
        STATE_DIRECTORY: join(base, 'var-lib-mpiscsi'),
        RUNTIME_DIRECTORY: join(base, 'run-mpiscsi'),
        MPISCSID_ARGS: `--host-id svc${level} --nats ${nats.url} -d ${level}`,
      };
      mkdirSync(env.STATE_DIRECTORY, { recursive: true, mode: 0o700 });
      mkdirSync(env.RUNTIME_DIRECTORY, { recursive: true, mode: 0o700 });
      const [cmd, ...args] = execStartOf(installedUnit(), env);
      expect(cmd).toBe(join(bin, 'mpiscsid'));
      expect(args).toEqual(['--db', env.STATE_DIRECTORY, '--state-dir', env.RUNTIME_DIRECTORY, ...env.MPISCSID_ARGS.split(' ')]);
      const child = spawn(cmd, args, { cwd: elsewhere, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '' } });
      const lines: string[] = [];
      const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
      let buf = '';
      child.stderr!.setEncoding('utf8').on('data', (s: string) => {
        buf += s;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          lines.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          for (const w of waiters.splice(0)) (lines.some((l) => w.re.test(l)) ? w.resolve : () => waiters.push(w))();
        }
      });
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const waitFor = (re: RegExp) =>
        Promise.race([
          new Promise<void>((resolve) => (lines.some((l) => re.test(l)) ? resolve() : waiters.push({ re, resolve }))),
          exited.then((c) => Promise.reject(new Error(`mpiscsid exited ${c}: ${lines.join('\n')}`))),
        ]);
      await waitFor(/control service on NATS/);
      await waitFor(/ ready \(/);
      const adm = (...a: string[]) =>
        new Promise<number>((resolve) =>
          execFile(
            join(bin, 'mpiscsiadm'),
            ['--db', env.STATE_DIRECTORY, ...a],
            { cwd: elsewhere, env: { ...process.env, MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: `svc${level}` } },
            (err) => resolve(err ? Number((err as { code?: number }).code ?? -1) : 0),
          ),
        );
      expect(await adm('-m', 'discovery', '-t', 'st', '-p', tgtd.portal)).toBe(0);
      expect(await adm('-m', 'node', '-T', iqn, '-l')).toBe(0);
      if (level >= 3) await waitFor(/debug3: event session /);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);

      const text = lines.join('\n');
      expect(text).not.toMatch(/\x1b\[/);
      for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z mpiscsid: \S/);
      const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
      expect(at(new RegExp(`mpiscsid: waiting for NATS at ${nats.url}$`))).toBeGreaterThanOrEqual(0);
      expect(at(/waiting for NATS at/)).toBeLessThan(at(/control service on NATS/));
      expect(at(/SIGTERM: shutting down/)).toBeGreaterThan(at(/ ready \(/));
      expect(lines.at(-1)).toMatch(/mpiscsid: stopped$/);
      const debug = lines.filter((l) => / debug\d: /.test(l));
      if (level === 0) expect(debug).toEqual([]);
      else {
        expect(debug.some((l) => l.includes(`debug1: configuration: host id svc3, db ${env.STATE_DIRECTORY}`))).toBe(true);
        expect(debug.some((l) => l.includes('debug3: event session '))).toBe(true);
        expect(debug.every((l) => /debug[1-3]: /.test(l))).toBe(true);
      }
    });
  });
});
