#!/usr/bin/env node
/**
 * `mpiscsiadm`: iscsiadm's command line (same options, output lines and exit codes; reference/open-iscsi.md
 * "iscsiadm surface") on our node database. Record modes (discovery, node, iface) work offline on the
 * database; login, logout and session modes need the daemon and fail with ISCSID_NOTCONN until it exists.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { FileStore, RecordError } from '../db/file-store.js';
import { ExitCode } from '../control/exit-codes.js';
import { AdmError, PROG, usage, warn, type AdmOptions } from './adm/common.js';
import { runDiscovery } from './adm/discovery.js';
import { runNode } from './adm/node.js';
import { runIface } from './adm/iface.js';
import { daemonError } from './adm/daemon.js';

export const VERSION = '0.1.0';
const MODES = ['discovery', 'discoverydb', 'node', 'session', 'iface', 'fw', 'host'] as const;

function printLevel(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 3) throw new InvalidArgumentError('print level must be 0, 1, 2 or 3');
  return n;
}

export function buildProgram(): Command {
  return new Command(PROG)
    .description('open-iscsi iscsiadm-compatible administration of the mpiscsi node database')
    .addOption(new Option('--db <dir>', 'node database root').env('MPISCSI_DB').default('/var/lib/mpiscsi'))
    .addOption(new Option('-m, --mode <mode>', 'discovery, discoverydb, node, session or iface').choices(MODES))
    .option('-t, --type <type>', 'discovery type (st, sendtargets)')
    .option('-p, --portal <ip[:port][,tpgt]>', 'portal')
    .option('-T, --targetname <iqn>', 'target name')
    .option('-I, --interface <iface>', 'iface name')
    .option('-o, --op <op>', 'new, delete, update, show or nonpersistent (repeatable for discoverydb)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('-n, --name <key>', 'record key for -o update')
    .option('-v, --value <value>', 'value for -o update')
    .option('-P, --print <level>', 'print level (1: tree)', printLevel)
    .option('-S, --show', 'show passwords instead of ********')
    .option('-l, --login', 'log in (needs the daemon)')
    .option('-u, --logout', 'log out (needs the daemon)')
    .option('-L, --loginall <which>', 'log in all|manual|automatic|onboot nodes (needs the daemon)')
    .option('-U, --logoutall <which>', 'log out all|manual|automatic nodes (needs the daemon)')
    .option('-r, --sid <sid>', 'session id (needs the daemon)')
    .option('-R, --rescan', 'rescan sessions (needs the daemon)')
    .option('-s, --stats', 'session statistics (needs the daemon)')
    .option('-d, --debug <level>', 'debug level (accepted, ignored)')
    .option('--discover', 'discoverydb: run discovery')
    .option('--json', 'JSON output')
    .option('-V, --version', 'print the version')
    .helpOption('-h, --help', 'print help')
    .showHelpAfterError(`Try '${PROG} --help' for more information.`)
    .configureOutput({ outputError: (str, write) => write(`${PROG}: ${str.replace(/^error: /, '')}`) })
    .exitOverride()
    .allowExcessArguments(false);
}

export async function run(opts: AdmOptions & { version?: boolean }): Promise<void> {
  if (opts.version) {
    process.stdout.write(`${PROG} version ${VERSION}\n`);
    return;
  }
  if (opts.mode === undefined) throw usage('You must specify a mode (-m discovery|discoverydb|node|session|iface)');
  const store = new FileStore(opts.db);
  switch (opts.mode) {
    case 'discovery':
    case 'discoverydb':
      return runDiscovery(store, opts);
    case 'node':
      return runNode(store, opts);
    case 'iface':
      return runIface(store, opts);
    case 'session':
      throw daemonError();
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
    return ExitCode.GENERIC;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/mpiscsiadm')) {
  main(process.argv).then((code) => process.exit(code));
}
