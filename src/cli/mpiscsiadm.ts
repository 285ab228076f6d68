#!/usr/bin/env node
/**
 * `mpiscsiadm`: iscsiadm's command line (same options, output lines and exit codes; reference/open-iscsi.md
 * "iscsiadm surface") on our node database. Record modes (discovery, node, iface) work offline on the
 * database; login, logout and session mode go to mpiscsid over NATS (ISCSID_NOTCONN when it cannot be reached).
 * Start time (issue 17): NATS, the control client (protobuf, OpenTelemetry) and the session code (XState) are
 * imported only by the modes and operations that use them, so `--version`, `--help` and the offline record
 * modes load none of them (test/cli/startup.test.ts checks the loaded modules).
 */
import { exitQuietlyOnEpipe } from './epipe.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { RecordError } from '../db/file-store.js';
import { openStore } from '../db/open-store.js';
import type { RecordStore } from '../db/store.js';
import { ExitCode } from '../control/exit-code-table.js';
import { AdmError, PROG, usage, warn, type AdmOptions } from './adm/common.js';
import { runDiscovery } from './adm/discovery.js';
import { runNode } from './adm/node.js';
import { runIface } from './adm/iface.js';
import { DISCOVERY_TYPES, MODE_NAMES, orList, PRINT_LEVELS, STARTUP_SELECTORS } from './adm/modes.js';
import { ALL_HOSTS } from '../control/endpoints.js';
import { packageVersionOf } from '../control/version.js';

export const VERSION = packageVersionOf();

function printLevel(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !(PRINT_LEVELS as readonly number[]).includes(n))
    throw new InvalidArgumentError(`print level must be ${orList(PRINT_LEVELS.map(String))}`);
  return n;
}

export function buildProgram(): Command {
  return new Command(PROG)
    .description('open-iscsi iscsiadm-compatible administration of the mpiscsi node database')
    .addOption(new Option('--db <dir>', 'node database root').env('MPISCSI_DB').default('/var/lib/mpiscsi'))
    .addOption(new Option('-m, --mode <mode>', orList(MODE_NAMES)).choices(MODE_NAMES))
    .option('-t, --type <type>', `discovery type: ${orList(DISCOVERY_TYPES.supported)} (SendTargets)`)
    .option('-p, --portal <ip[:port][,tpgt]>', 'portal')
    .option('-T, --targetname <iqn>', 'target name')
    .option('-I, --interface <iface>', 'iface name')
    .option(
      '-o, --op <op>',
      "operation on the mode's records (node and iface: new, delete, update, show; discovery also nonpersistent; repeatable for discovery)",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('-n, --name <key>', 'record key for -o update')
    .option('-v, --value <value>', 'value for -o update')
    .option('-P, --print <level>', `print level ${PRINT_LEVELS[0]}..${PRINT_LEVELS.at(-1)} (1: tree)`, printLevel)
    .option('-S, --show', 'show passwords instead of ********')
    .option('-l, --login', 'log in (needs the daemon)')
    .option('-u, --logout', 'log out (needs the daemon)')
    .option('-L, --loginall <which>', `log in ${STARTUP_SELECTORS.join('|')} nodes (needs the daemon)`)
    .option('-U, --logoutall <which>', `log out ${STARTUP_SELECTORS.join('|')} nodes (needs the daemon)`)
    .option('-r, --sid <sid>', 'session id (needs the daemon)')
    .option('-R, --rescan', 'rescan sessions (needs the daemon)')
    .option('-s, --stats', 'session statistics (needs the daemon)')
    .option('-d, --debug <level>', 'debug level (accepted, ignored)')
    .option('--discover', 'discoverydb: run discovery')
    .option('--import <dir>', 'import an open-iscsi node database (/etc/iscsi or /var/lib/iscsi layout) whole')
    .option('--json', 'JSON output')
    .addOption(new Option('--nats <urls>', 'NATS servers of the daemon (default nats://127.0.0.1:4222)').env('MPISCSI_NATS_URL'))
    .addOption(
      new Option('--host-id <id>', "the daemon's host id (default this host's name); all: every host's sessions, mpath and exports").env(
        'MPISCSI_HOST_ID',
      ),
    )
    .option('--nats-user <user>', 'NATS user (password from --nats-password-file or MPISCSI_NATS_PASSWORD)')
    .option('--nats-password-file <file>', 'file holding the NATS password')
    .option('--nats-token-file <file>', 'file holding the NATS token (or MPISCSI_NATS_TOKEN)')
    .option('--nats-creds <file>', 'NATS credentials file')
    .option('--nats-tls-ca <file>', 'CA certificate of the NATS server')
    .option('--device <name>', 'mpath/export modes: multipath device (alias or WWID)')
    .option('--path <path>', 'mpath mode: path name (as the topology shows it, e.g. 1:0:0:1)')
    .option('--group <n>', 'mpath mode: path group number for switch_group', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError('group must be 1 or more');
      return Number(v);
    })
    .option('--export-name <name>', 'export mode: NBD export name (default the device alias)')
    .option('--socket <path>', 'export mode: unix socket to serve on (0600)')
    .option('--tcp <host:port>', 'export mode: loopback TCP address to serve on')
    .option('--timeout <seconds>', 'how long to wait for the daemon to answer (default 120)', (v: string) => {
      const n = Number(v);
      if (!(n > 0)) throw new InvalidArgumentError('timeout must be a positive number of seconds');
      return n;
    })
    .option('-V, --version', 'print the version')
    .helpOption('-h, --help', 'print help')
    .showHelpAfterError(`Try '${PROG} --help' for more information.`)
    .configureOutput({ outputError: (str, write) => write(`${PROG}: ${str.replace(/^error: /, '')}`) })
    .exitOverride()
    .allowExcessArguments(false);
}

export async function run(opts: AdmOptions & { version?: boolean; import?: string }): Promise<void> {
  if (opts.version) {
    process.stdout.write(`${PROG} version ${VERSION}\n`);
    return;
  }
  // The fleet view asks every daemon over NATS and reads no records.
  if (opts.hostId === ALL_HOSTS) return (await import('./adm/fleet.js')).runFleet(opts);
  const opened = await openStore(opts.db, {
    nats: async () => {
      const [{ connect }, { admNatsOptions }] = await Promise.all([import('@nats-io/transport-node'), import('./adm/daemon.js')]);
      return connect(admNatsOptions(opts));
    },
    onBadRecord: (_path, err) => warn(`skipping bad record ${err.message}`),
  });
  try {
    await runWith(opened.store, opts);
  } finally {
    await opened.close();
  }
}

async function runWith(store: RecordStore, opts: AdmOptions & { import?: string }): Promise<void> {
  if (opts.import !== undefined) {
    const r = await store.importTree(opts.import);
    for (const w of r.warnings) warn(`${w.file}:${w.line}: ${w.message}`);
    const summary = `Imported ${r.nodes} node, ${r.discovery} discovery and ${r.ifaces} iface records, ${r.links} links and ${r.files} files from ${opts.import}`;
    if (opts.json) process.stdout.write(`${JSON.stringify({ ...r, from: opts.import }, null, 2)}\n`);
    else process.stdout.write(`${summary}\n`);
    if (opts.mode === undefined) return;
  }
  if (opts.mode === undefined) throw usage('You must specify a mode (-m discovery|discoverydb|node|session|iface)');
  switch (opts.mode) {
    case 'discovery':
    case 'discoverydb':
      return runDiscovery(store, opts);
    case 'node':
      return runNode(store, opts);
    case 'iface':
      return runIface(store, opts);
    case 'session':
      return (await import('./adm/daemon.js')).runSession(opts);
    case 'mpath':
      return (await import('./adm/mpath.js')).runMpath(opts);
    case 'export':
      return (await import('./adm/mpath.js')).runExport(opts);
    default:
      throw new AdmError(ExitCode.OP_NOT_SUPP, `mode ${opts.mode} (offload hardware) is not supported`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    program.parse(argv);
    await run(program.opts<AdmOptions & { version?: boolean }>());
    return ExitCode.SUCCESS;
  } catch (err) {
    if (err instanceof AdmError) {
      for (const l of err.lines) warn(l);
      return err.status;
    }
    const e = err as Error & { code?: unknown; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) return e.exitCode === 0 ? ExitCode.SUCCESS : ExitCode.INVAL;
    if (err instanceof RecordError) {
      warn(err.message);
      return ExitCode.IDBM;
    }
    warn(e.message ?? String(err));
    // A value refused before it is stored (RecordRuleError, IscsiNameError: RangeErrors) is iscsiadm's INVAL.
    return (await import('../control/exit-codes.js')).exitCodeFor(err);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/mpiscsiadm')) {
  exitQuietlyOnEpipe();
  main(process.argv).then((code) => process.exit(code));
}
