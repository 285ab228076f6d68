/**
 * The commands whose start time issue 17 bounds (`--version`, `--help`, a bad option and every offline record
 * mode, within 2x of `node -e ''`): one table for bench/startup.ts, which times them, and
 * test/cli/startup.test.ts, which checks that each loads no NATS, OpenTelemetry, XState, RxJS, protobuf or
 * CRC code. A command added here is both measured and checked. DAEMON_CASES are the round trips to a running
 * mpiscsid, which may load the NATS client and protobuf but nothing else heavy.
 *
 * Both run the cases in table order, each run of the table after the records of STARTUP_RECORDS exist: the
 * `-o new` cases make a record that the `-o delete` case after them removes, so every round starts from the
 * same database.
 */

export type StartupProgram = 'mpiscsiadm' | 'mpiscsi' | 'mpiscsid';

export interface StartupCase {
  name: string;
  program: StartupProgram;
  /** mpiscsiadm's get `--db DB` in front. */
  args: readonly string[];
  /** The exit code the command must give (a fast failure is not a start time); default 0. */
  code?: number;
}

/** The built entry point of each program, relative to dist/src. */
export const STARTUP_SCRIPTS: Readonly<Record<StartupProgram, string>> = {
  mpiscsiadm: 'cli/mpiscsiadm.js',
  mpiscsi: 'cli/mpiscsi.js',
  mpiscsid: 'daemon/mpiscsid.js',
};

/**
 * The NATS URL every case runs with: a port nothing listens on, so the modes that ask the daemon whether a
 * session uses a record (node update, delete) find none at once, as on a host where mpiscsid is not running.
 */
export const STARTUP_NATS_URL = 'nats://127.0.0.1:1';

const A = 'iqn.2026-12.startup:a';
const B = 'iqn.2026-12.startup:b';
const C = 'iqn.2026-12.startup:c';

/** mpiscsiadm argument lists that make the records the cases list, show and update. */
export const STARTUP_RECORDS: readonly (readonly string[])[] = [
  ['-m', 'node', '-o', 'new', '-T', A, '-p', '127.0.0.1:3260,1'],
  ['-m', 'node', '-o', 'new', '-T', B, '-p', '127.0.0.2:3260,1'],
  ['-m', 'discoverydb', '-t', 'st', '-p', '127.0.0.1:3260', '-o', 'new'],
  ['-m', 'iface', '-I', 'eth9', '-o', 'new'],
];

const adm = (name: string, args: string[], code?: number): StartupCase => ({
  name: `mpiscsiadm ${name}`,
  program: 'mpiscsiadm',
  args,
  code,
});

export const STARTUP_CASES: readonly StartupCase[] = [
  adm('--version', ['--version']),
  adm('--help', ['--help']),
  adm('--bogus (exit 7)', ['--bogus'], 7),
  adm('-m node', ['-m', 'node']),
  adm('-m node -P 1', ['-m', 'node', '-P', '1']),
  adm('-m node -T T -p P (show)', ['-m', 'node', '-T', A, '-p', '127.0.0.1:3260']),
  // An update asks the daemon whether a session uses the record: no NATS server listening, so none does.
  adm('-m node -o update', ['-m', 'node', '-T', A, '-o', 'update', '-n', 'node.startup', '-v', 'manual']),
  // A refused value: the error goes through the exit-code mapping (control/exit-codes.ts).
  adm('-m node -o update (bad value, exit 7)', ['-m', 'node', '-T', A, '-o', 'update', '-n', 'node.startup', '-v', 'bogus'], 7),
  adm('-m node -o new', ['-m', 'node', '-o', 'new', '-T', C, '-p', '127.0.0.3:3260,1']),
  adm('-m node -o delete', ['-m', 'node', '-o', 'delete', '-T', C, '-p', '127.0.0.3:3260']),
  adm('-m iface', ['-m', 'iface']),
  adm('-m iface -I default -o show', ['-m', 'iface', '-I', 'default', '-o', 'show']),
  adm('-m iface -o update', ['-m', 'iface', '-I', 'eth9', '-o', 'update', '-n', 'iface.ipaddress', '-v', '127.0.0.9']),
  adm('-m iface -o new', ['-m', 'iface', '-I', 'eth8', '-o', 'new']),
  adm('-m iface -o delete', ['-m', 'iface', '-I', 'eth8', '-o', 'delete']),
  adm('-m discovery', ['-m', 'discovery']),
  adm('-m discovery -P 1', ['-m', 'discovery', '-P', '1']),
  adm('-m discoverydb -o update', [
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
  ]),
  adm('-m discoverydb -o new', ['-m', 'discoverydb', '-t', 'st', '-p', '127.0.0.3:3260', '-o', 'new']),
  adm('-m discoverydb -o delete', ['-m', 'discoverydb', '-t', 'st', '-p', '127.0.0.3:3260', '-o', 'delete']),
  { name: 'mpiscsi --version', program: 'mpiscsi', args: ['--version'] },
  { name: 'mpiscsi --help', program: 'mpiscsi', args: ['--help'] },
  { name: 'mpiscsi dd --help', program: 'mpiscsi', args: ['dd', '--help'] },
  { name: 'mpiscsid --version', program: 'mpiscsid', args: ['--version'] },
  { name: 'mpiscsid --help', program: 'mpiscsid', args: ['--help'] },
  { name: 'mpiscsid --bogus (exit 7)', program: 'mpiscsid', args: ['--bogus'], code: 7 },
];

/**
 * Commands that talk to a running mpiscsid (a nats-server and the built daemon with no records, so no sessions):
 * each must add only its request to the start time. bench/startup.ts times them beside `mpiscsiadm --version` and
 * the NATS request alone; test/cli/startup.test.ts checks that they load the NATS client and protobuf, but no
 * XState, RxJS, OpenTelemetry or the NATS services framework (which only the daemon and the fleet view use).
 * Run with MPISCSI_NATS_URL and MPISCSI_HOST_ID naming that daemon.
 */
export const DAEMON_CASES: readonly StartupCase[] = [
  // One session.list request; no sessions is iscsiadm's 21 (No active sessions.).
  adm('-m session (daemon, exit 21)', ['-m', 'session'], 21),
  // The in-use question before an update, answered by the daemon (session.list).
  adm('-m node -o update (daemon)', ['-m', 'node', '-T', A, '-o', 'update', '-n', 'node.startup', '-v', 'manual']),
];

/** The host id the daemon of DAEMON_CASES runs with. */
export const STARTUP_HOST_ID = 'startup';

/** The argument list (after `node`) of a case: its program's entry under `distSrc` (the built dist/src). */
export function startupArgv(distSrc: string, c: Pick<StartupCase, 'program' | 'args'>, db: string): string[] {
  const script = `${distSrc}/${STARTUP_SCRIPTS[c.program]}`;
  return c.program === 'mpiscsiadm' ? [script, '--db', db, ...c.args] : [script, ...c.args];
}
