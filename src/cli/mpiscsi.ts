#!/usr/bin/env node
/**
 * `mpiscsi`: tools on libiscsi-style URLs (`iscsi://[user[%pass]@]host[:port]/IQN/LUN`): ls, inq, readcap,
 * dd, perf, serve — the counterparts of libiscsi's iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-dd,
 * iscsi-perf and qemu-nbd. This file is the command line only; what a command does is in tools.ts, loaded
 * when one runs, so that `--version` and `--help` load no session, XState or OpenTelemetry code (issue 17:
 * start time; test/cli/startup.test.ts holds it to that).
 */
import { exitQuietlyOnEpipe } from './epipe.js';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseIscsiUrl, parseLunUrl, type IscsiUrl, type LunUrl } from '../session/url.js';
import { versionLine } from '../control/version.js';
import { DEFAULT_BUSY_POLL, MAX_BUSY_POLL_US } from '../session/busy-poll.js';

const tools = () => import('./tools.js');

function urlArg(value: string): IscsiUrl {
  try {
    return parseIscsiUrl(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** A URL for one LU (inq, readcap, perf): target and LUN required, as libiscsi's tools require them. */
function lunUrlArg(value: string): LunUrl {
  try {
    return parseLunUrl(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  return n;
}

/** `--busy-poll <µs>`: 0..MAX_BUSY_POLL_US. */
function busyPollArg(value: string): number {
  const n = intArg(value);
  if (n > MAX_BUSY_POLL_US) throw new InvalidArgumentError(`"${value}" is more than ${MAX_BUSY_POLL_US} µs`);
  return n;
}
const BUSY_POLL_HELP = `µs the event loop keeps polling after a read while at most ${DEFAULT_BUSY_POLL.maxDepth} commands are outstanding, instead of sleeping (0 = off; costs CPU at low queue depth)`;

/** commander's counter for a repeatable `-v`: `-v` is 1, `-vv` or `-v -v` 2 (verbose.ts reads the level). */
const countVerbose = (_value: string | undefined, previous: number): number => previous + 1;

function common(cmd: Command): Command {
  return cmd
    .option('-i, --initiator-name <iqn>', 'initiator name (default: /etc/iscsi/initiatorname.iscsi or one from the host name)')
    .option('--chap-algs <list>', 'CHAP algorithms to offer, in order (SHA3-256,SHA256,SHA1,MD5)', 'MD5')
    .option('--login-timeout <seconds>', 'login timeout', Number, 15)
    .option('-q, --quiet', 'no log lines, progress bar or summary on stderr (errors still; results stay on stdout)')
    .addOption(
      new Option('-v, --verbose', 'debug lines on stderr: -v each login step and the negotiated keys, -vv also every session state change')
        .argParser(countVerbose)
        .default(0)
        .conflicts('quiet'),
    );
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** `--set` for the tools that run a session of their own (serve has its own, with multipath settings). */
function settable(cmd: Command): Command {
  return cmd
    .option(
      '--set <key=value>',
      'node record key: a timer (node.session.timeo.replacement_timeout=30, open-iscsi defaults otherwise) or an iSCSI key (node.conn[0].iscsi.HeaderDigest=CRC32C); repeatable',
      collect,
      [] as string[],
    )
    .option(
      '--command-timeout <seconds>',
      'a command outstanding this long is aborted (ABORT TASK, LU RESET, TARGET WARM RESET, new connection) and issued again',
      Number,
      30,
    )
    .option(
      '--command-retries <n>',
      'times a command is issued again before it fails (it also fails after (n+1) x the command timeout)',
      intArg,
      5,
    );
}

export function buildProgram(): Command {
  const program = new Command('mpiscsi')
    .description('iSCSI tools on iscsi://[user[%password]@]host[:port]/TARGET/LUN URLs (CHAP secrets may come from MPISCSI_CHAP_PASSWORD)')
    .version(versionLine('mpiscsi').trimEnd(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();
  settable(common(program.command('ls').description('discover targets with SendTargets (like iscsi-ls)')))
    .argument('<url>', 'iscsi://[user[%password]@]host[:port] (a portal URL, as iscsi-ls takes)', urlArg)
    .option('-s, --show-luns', 'log in to each target and list its LUNs')
    .option('--json', 'JSON output')
    .action(async (url, opts) => (await tools()).cmdLs(url, opts));
  settable(common(program.command('inq').description('INQUIRY: standard data or a VPD page (like iscsi-inq)')))
    .argument('<url>', 'iscsi://[user[%password]@]host[:port]/target/lun', lunUrlArg)
    .option('-e, --evpd <0|1>', 'ask for a VPD page', intArg)
    .option('-c, --page <code>', 'VPD page code, decimal or 0x hex (0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2 decoded; default 0x00)', (v) =>
      intArg(String(Number(v))),
    )
    .option('--json', 'JSON output (the parsed fields, camelCase)')
    .action(async (url, opts) => (await tools()).cmdInq(url, opts));
  settable(common(program.command('readcap').description('READ CAPACITY(16) (like iscsi-readcapacity16)')))
    .argument('<url>', 'iscsi://[user[%password]@]host[:port]/target/lun', lunUrlArg)
    .option('-s, --size', 'print the size in bytes only')
    .option('--json', 'JSON output (the parsed fields, camelCase)')
    .action(async (url, opts) => (await tools()).cmdReadcap(url, opts));
  settable(
    common(
      program
        .command('dd')
        .description('copy a LUN to a file, a file to a LUN, or a LUN to a LUN (like iscsi-dd); rides through target restarts'),
    ),
  )
    .requiredOption('-s, --src <url|file>', 'source')
    .requiredOption('-d, --dst <url|file>', 'destination')
    .option('--bs <bytes>', 'bytes per command', intArg, 1 << 20)
    .option('-m, --max-in-flight <n>', 'commands in flight', intArg, 8)
    .option(
      '-p, --progress [fd]',
      'progress on stderr also when it is not a terminal; with =FD, nbdcopy\'s "N/100" lines on file descriptor FD instead',
    )
    .option('--no-progress', 'no progress, also on a terminal (the summary line stays)')
    .action(async (opts) => (await tools()).cmdDd(opts));
  settable(common(program.command('perf').description('sequential or random read load (like iscsi-perf)')))
    .argument('<url>', 'iscsi://[user[%password]@]host[:port]/target/lun', lunUrlArg)
    .option('-m, --max-requests <n>', 'commands in flight', intArg, 32)
    .option('-b, --blocks <n>', 'blocks per command', intArg, 256)
    .option('-t, --timeout <seconds>', 'run time', intArg, 10)
    .option('-r, --random', 'random offsets')
    .option('-w, --write', 'write instead of read (destroys data)')
    .option('--json', 'print the result as JSON')
    .option('--busy-poll <us>', BUSY_POLL_HELP, busyPollArg, DEFAULT_BUSY_POLL.windowUs)
    .action(async (url, opts) => (await tools()).cmdPerf(url, opts));
  common(program.command('serve').description('serve one multipath device over NBD in the foreground (like qemu-nbd)'))
    .argument('<url...>', 'one iscsi://[user[%password]@]host[:port]/target/lun[?iface=SOURCE] URL per path')
    .option('--socket <path>', 'export on this unix socket (mode 0600)')
    .option('--tcp <host:port>', 'export on TCP (host defaults to 127.0.0.1)')
    .option('--name <name>', 'export name (default: the device alias, mpatha)')
    .option('--pid-file <path>', 'write the process id to this file once the export accepts connections (removed on exit)')
    .option('--fork', 'once the export accepts connections, print its URI and exit, leaving it running in the background (qemu-nbd --fork)')
    .option(
      '--set <key=value>',
      'node record key (node.conn[0].timeo.noop_out_interval=0.5) or multipath setting (no_path_retry=queue); repeatable',
      collect,
      [] as string[],
    )
    .option('--busy-poll <us>', BUSY_POLL_HELP, busyPollArg, DEFAULT_BUSY_POLL.windowUs)
    .action(async (urls: string[], opts) => (await tools()).cmdServe(urls, opts));
  program
    .command('trace-summary')
    .description('print the failover traces of a JSON-lines span file (mpiscsid --trace-file) as timelines')
    .argument('<file>', 'span file')
    .option('--all', 'every trace, not only failovers')
    .action(async (file: string, opts: { all?: boolean }) => {
      const { traceSummary } = await import('./trace-summary.js');
      for (const line of traceSummary(file, opts.all ? /./ : undefined)) process.stdout.write(`${line}\n`);
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) return e.exitCode === 0 ? 0 : 7; // usage errors: iscsiadm's INVAL
    const { ReportedError, toolExitCode } = await tools();
    if (err instanceof ReportedError) return toolExitCode(err.original);
    process.stderr.write(`mpiscsi: ${e.message}\n`);
    return toolExitCode(err);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/mpiscsi')) {
  exitQuietlyOnEpipe();
  main(process.argv).then((code) => process.exit(code));
}
