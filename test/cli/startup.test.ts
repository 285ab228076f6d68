/**
 * Start time (issue 17): the command lines load only what their mode uses. `--version`, `--help`, a bad option
 * and the offline record modes of mpiscsiadm must not load NATS, OpenTelemetry, XState, RxJS, protobuf or the
 * CRC addon (they are what made every call cost 0.3 s). The commands are bench/startup-cases.ts, the table
 * bench/startup.ts times; each built program is run with a preload that lists the modules the process loaded
 * (test/support/loaded-modules.mjs), ES and CommonJS alike. The round trips to a running mpiscsid (the table's
 * DAEMON_CASES, against nats-server and the built daemon) load the NATS client and protobuf, and no more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DAEMON_CASES,
  STARTUP_CASES,
  STARTUP_HOST_ID,
  STARTUP_NATS_URL,
  STARTUP_RECORDS,
  startupArgv,
  type StartupProgram,
} from '../../bench/startup-cases.js';
import { DaemonProcess } from '../support/daemon.js';
import { NatsServer } from '../support/nats-server.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const distSrc = join(root, 'dist', 'src');
const preload = join(root, 'test', 'support', 'loaded-modules.mjs');
const HEAVY = /node_modules\/(@nats-io|@opentelemetry|xstate|rxjs|@bufbuild|@node-rs)\//;

let dir: string;
let db: string;
let n = 0;

interface Loaded {
  code: number;
  stderr: string;
  modules: string[];
}

/** Runs a built program with the preload; its exit code and the modules it loaded (paths or file: URLs). */
function loaded(program: StartupProgram, args: readonly string[], natsUrl = STARTUP_NATS_URL, hostId = STARTUP_HOST_ID): Promise<Loaded> {
  const list = join(dir, `modules-${n++}.txt`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', preload, ...startupArgv(distSrc, { program, args }, db)],
      { env: { ...process.env, MPISCSI_LOADED_MODULES: list, MPISCSI_NATS_URL: natsUrl, MPISCSI_HOST_ID: hostId } },
      (err, _stdout, stderr) => {
        const modules = readFileSync(list, 'utf8').split('\n').filter(Boolean);
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr, modules });
      },
    );
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-startup-'));
  db = join(dir, 'db');
  for (const r of STARTUP_RECORDS) expect((await loaded('mpiscsiadm', r)).code).toBe(0);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fast paths load no NATS, OpenTelemetry, XState or protobuf code', () => {
  // In table order: an -o new case makes the record the -o delete case after it removes.
  for (const c of STARTUP_CASES)
    it(c.name, async () => {
      const r = await loaded(c.program, c.args);
      expect(r.code, r.stderr).toBe(c.code ?? 0);
      expect(r.modules.some((m) => m.includes('/dist/src/'))).toBe(true); // the list is the program's
      expect(r.modules.filter((m) => HEAVY.test(m))).toEqual([]);
    });
});

/** What a round trip to the daemon may not load: statecharts, OpenTelemetry (API or SDK), the services framework. */
const NOT_IN_A_ROUND_TRIP = /node_modules\/(xstate|rxjs|@opentelemetry|@nats-io\/services|@node-rs)\//;
/** What a protobuf request of the client does not need from @bufbuild/protobuf (src/control/proto-binary.ts). */
const NOT_IN_A_PROTOBUF_REQUEST =
  /node_modules\/@bufbuild\/protobuf\/dist\/esm\/(index|to-json|from-json|equals|merge|extensions|wkt\/index|wkt\/google\/protobuf\/(?!descriptor_pb)\w+)\.js$/;

describe('a daemon round trip loads the NATS client and protobuf, and nothing else heavy', () => {
  let nats: NatsServer;
  let daemon: DaemonProcess;

  beforeAll(async () => {
    nats = await NatsServer.start({ jetstream: false });
    // Its own empty database: no records, so no automatic logins and no sessions.
    mkdirSync(join(dir, 'daemon-db'));
    daemon = await DaemonProcess.start({ db: join(dir, 'daemon-db'), dir, nats: nats.url, hostId: STARTUP_HOST_ID });
  });
  afterAll(async () => {
    await daemon?.stop();
    await nats?.stop();
  });

  for (const c of DAEMON_CASES)
    it(c.name, async () => {
      const r = await loaded(c.program, c.args, nats.url);
      expect(r.code, r.stderr).toBe(c.code ?? 0);
      if (c.args[1] === 'session') expect(r.stderr).toContain('No active sessions.'); // the daemon's answer, not "can not connect"
      expect(r.modules.some((m) => m.includes('node_modules/@nats-io/transport-node/'))).toBe(true);
      expect(r.modules.some((m) => m.includes('node_modules/@bufbuild/protobuf/'))).toBe(true);
      expect(r.modules.filter((m) => NOT_IN_A_ROUND_TRIP.test(m))).toEqual([]);
      // Protobuf binary over the library's wire entry point: not its index, with its JSON code and the
      // well-known types' descriptors (only descriptor.proto's, which the generated files boot from).
      expect(r.modules.filter((m) => NOT_IN_A_PROTOBUF_REQUEST.test(m))).toEqual([]);
      // Both ask session.list: session.proto and what it imports, not the other files of the API.
      const files = r.modules.map((m) => /\/gen\/mpiscsi\/v1\/(\w+)_pb\.js$/.exec(m)?.[1]).filter((f) => f !== undefined);
      expect(files.sort()).toEqual(['common', 'discovery', 'session']);
    });
});

describe('the check sees them where they are used', () => {
  it('-m session, which asks the daemon, loads NATS', async () => {
    const r = await loaded('mpiscsiadm', ['-m', 'session']);
    expect(r.code).not.toBe(0); // no daemon at STARTUP_NATS_URL
    expect(r.modules.some((m) => m.includes('node_modules/@nats-io/'))).toBe(true);
  });

  it('-m node -o update with a NATS server listening asks it (loads NATS), and no daemon answering it goes ahead', async () => {
    const nats = await NatsServer.start({ jetstream: false });
    try {
      const update = ['-m', 'node', '-T', 'iqn.2026-12.startup:b', '-o', 'update', '-n', 'node.startup', '-v', 'manual'];
      const r = await loaded('mpiscsiadm', update, nats.url);
      expect(r.code, r.stderr).toBe(0);
      expect(r.modules.some((m) => m.includes('node_modules/@nats-io/'))).toBe(true);
      // The round trip needs no statecharts: exitCodeFor's error classes no longer pull XState in.
      expect(r.modules.filter((m) => /node_modules\/(xstate|rxjs)\//.test(m))).toEqual([]);
    } finally {
      await nats.stop();
    }
  });

  it('mpiscsid past its options loads the daemon (NATS, OpenTelemetry, XState)', async () => {
    // An unusable --db: the daemon module is loaded, then the start checks refuse the directory (exit 6).
    const r = await loaded('mpiscsid', ['--nats', 'none', '--db', '/dev/null', '--state-dir', join(dir, 'state')]);
    expect(r.code, r.stderr).toBe(6);
    for (const pkg of ['@nats-io', '@opentelemetry', 'xstate'])
      expect(r.modules.some((m) => m.includes(`node_modules/${pkg}/`))).toBe(true);
  });
});
