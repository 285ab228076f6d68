#!/usr/bin/env node
/**
 * `mpiscsid`: the daemon (iscsid + multipathd + qemu-nbd in one): node database, sessions, multipath
 * devices, NBD exports, and the NATS control service. Logs in node.startup = automatic records at start,
 * reloads its configuration and the records' timers on SIGHUP, and on SIGTERM answers NBD clients with
 * ESHUTDOWN, logs every session out and exits 0. NATS being down never stops I/O; the connection retries.
 * This file is the option parser and the process (signals, exit code); the daemon is src/daemon/start.ts,
 * imported once the options parsed, so `--version`, `--help` and a bad option start as fast as Node does
 * (issue 17; test/cli/startup.test.ts checks the loaded modules).
 */
import { describeBusyPoll } from '../session/busy-poll.js';
import { Command, Option } from 'commander';
import { ExitCode } from '../control/exit-code-table.js';
import { versionLine } from '../control/version.js';
import { createLog, parseDebugLevel, type DaemonLog } from './log.js';
import type { DaemonFlags, RunningDaemon } from './start.js';

export const PROG = 'mpiscsid';

/** The daemon's log (src/daemon/log.ts); main() sets its debug level from `-d N`. */
let log: DaemonLog = createLog({ prog: PROG });

export function buildProgram(): Command {
  return new Command(PROG)
    .description('mpiscsi daemon: iSCSI sessions, multipath devices, NBD exports, NATS control service')
    .version(versionLine(PROG).trimEnd(), '-V, --version', 'print the version')
    .addOption(new Option('-c, --config <file>', 'configuration file (iscsid.conf style key = value)').env('MPISCSID_CONFIG'))
    .addOption(new Option('--db <dir>', 'node database (directory, or nats-kv://BUCKET)').env('MPISCSI_DB'))
    .option('--state-dir <dir>', 'runtime files (export sockets)')
    .addOption(
      new Option('-d, --debug <level>', 'debug log level 0..8 (like iscsid -d); 0: errors, warnings and events').argParser(parseDebugLevel),
    )
    .addOption(new Option('--host-id <id>', 'host id in NATS subjects (mpiscsi.<id>.*)').env('MPISCSI_HOST_ID'))
    .addOption(new Option('--nats <urls>', 'NATS servers, comma-separated; "none" for no control plane').env('MPISCSI_NATS_URL'))
    .option('--nats-user <user>', 'NATS user (password from --nats-password-file or MPISCSI_NATS_PASSWORD)')
    .option('--nats-password-file <file>', 'file holding the NATS password')
    .option('--nats-token-file <file>', 'file holding the NATS token (or MPISCSI_NATS_TOKEN)')
    .option('--nats-creds <file>', 'NATS credentials file (JWT and nkey seed)')
    .option('--nats-nkey <file>', 'file holding an nkey seed')
    .option('--nats-tls-ca <file>', 'CA certificate for the NATS server')
    .option('--nats-tls-cert <file>', 'client certificate for NATS')
    .option('--nats-tls-key <file>', 'client key for NATS')
    .option('--import <dir>', 'first import an open-iscsi node database (/etc/iscsi or /var/lib/iscsi) whole')
    .option('--trace-file <file>', 'append finished spans as JSON lines to this file (0600) instead of the OTEL_* exporters')
    .option('--metrics <[host:]port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (loopback only; host 127.0.0.1 by default)')
    .option('--initiator-name <iqn>', 'initiator name for ifaces that set none')
    .option(
      '--set <key=value>',
      'a configuration key (repeatable), e.g. multipath.no_path_retry=queue',
      (v: string, p: string[]) => [...p, v],
      [] as string[],
    )
    .option('--allow-remote-exports', 'let NBD exports listen on non-loopback addresses')
    .option('--export-dir <dir>', 'let export sockets be put in this directory too (default: only <state-dir>/nbd)')
    .option('--no-login-automatic', 'do not log in node.startup = automatic records at start')
    .helpOption('-h, --help', 'print help')
    .exitOverride()
    .allowExcessArguments(false);
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let flags: DaemonFlags;
  try {
    program.parse(argv);
    flags = program.opts<DaemonFlags>();
    log = createLog({ prog: PROG, debugLevel: flags.debug ?? 0 });
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string };
    // Commander printed its own errors; an argument parser's (-d 9) is printed here.
    if (e.code === undefined) log.error(e.message ?? String(err));
    return e.code === 'commander.helpDisplayed' || e.exitCode === 0 ? ExitCode.SUCCESS : ExitCode.INVAL;
  }
  // Signals count from the start: one during the automatic logins abandons them, then the daemon stops.
  const starting = new AbortController();
  let stop = (sig: string): void => {
    log(`${sig}: shutting down (abandoning the logins in progress)`);
    starting.abort();
  };
  const onSignal = (sig: string) => () => stop(sig);
  process.on('SIGTERM', onSignal('SIGTERM'));
  process.on('SIGINT', onSignal('SIGINT'));
  // The daemon itself (NATS, OpenTelemetry, XState, the engine) is loaded only now, the options being good.
  const { shownServers, startDaemon, startFailureCode } = await import('./start.js');
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(flags, log, starting.signal);
  } catch (err) {
    log.error((err as Error).message);
    return startFailureCode(err);
  }
  const running = daemon;
  // Up until a signal stops it, whatever else holds the event loop: with `--nats none` and no session, nothing
  // else would (the metrics server is unref'd), and the daemon exited 0 right after "ready".
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1);
  return new Promise<number>((resolve) => {
    let done = false;
    const shutdown = (sig: string | undefined) => {
      if (done) return;
      done = true;
      if (sig) log(`${sig}: shutting down`);
      running
        .shutdown()
        .then(
          () => {
            log('stopped');
            resolve(ExitCode.SUCCESS);
          },
          (err) => {
            log.error(`shutdown: ${(err as Error).message}`);
            resolve(ExitCode.GENERIC);
          },
        )
        .finally(() => clearInterval(keepAlive));
    };
    if (starting.signal.aborted) return shutdown(undefined);
    // Ready: the automatic logins are done; the control service comes up as soon as NATS answers.
    const nats = running.config.nats.servers;
    const control =
      nats === 'none' || nats === ''
        ? 'no control plane'
        : running.natsConnected()
          ? `NATS ${shownServers(nats)}`
          : `waiting for NATS at ${shownServers(nats)}`;
    // What the event loop does (busy-poll.ts), as start applied it.
    log(`ready (host id ${running.config.hostId}, db ${running.config.db}, ${describeBusyPoll()}, ${control})`);
    process.on('SIGHUP', () => void running.reload());
    stop = shutdown;
  });
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/mpiscsid')) {
  main(process.argv).then((code) => process.exit(code));
}
