#!/usr/bin/env node
/**
 * `mpiscsid`: the daemon (iscsid + multipathd + qemu-nbd in one): node database, sessions, multipath
 * devices, NBD exports, and the NATS control service. Logs in node.startup = automatic records at start,
 * reloads its configuration and the records' timers on SIGHUP, and on SIGTERM answers NBD clients with
 * ESHUTDOWN, logs every session out and exits 0. NATS being down never stops I/O; the connection retries.
 */
import { Command, Option } from 'commander';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { openStore } from '../db/open-store.js';
import { RecordError } from '../db/record.js';
import { defaultInitiatorName } from '../session/identity.js';
import { activeRequestContext, startControlService, type RunningControlService } from '../control/service.js';
import { ExitCode, exitCodeFor } from '../control/exit-codes.js';
import { nodeText } from '../services/nodes.js';
import { natsConnectionOptions, parseServers, redactUrl } from '../control/nats-options.js';
import { DaemonEngine } from './engine.js';
import { startTelemetry, instrumentSession, instrumentDevice, expectFailover } from '../telemetry/index.js';
import { JsonLinesSpanExporter } from '../telemetry/jsonl-exporter.js';
import { ConfigError, loadConfig, metricsAddress, multipathConfigOf, type DaemonConfig } from './config.js';
import { versionLine } from '../control/version.js';
import { createLog, parseDebugLevel, type DaemonLog } from './log.js';
import { checkStartDirs, StartDirError } from './start-checks.js';

/** The NATS servers as log lines show them: nats://user:pass@host becomes nats://***@host (no secret in a log). */
const shownServers = (servers: string): string =>
  servers === 'none' || servers === '' ? servers : parseServers(servers).map(redactUrl).join(',');

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

interface Flags {
  config?: string;
  db?: string;
  stateDir?: string;
  hostId?: string;
  nats?: string;
  natsUser?: string;
  natsPasswordFile?: string;
  natsTokenFile?: string;
  natsCreds?: string;
  natsNkey?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  initiatorName?: string;
  import?: string;
  traceFile?: string;
  metrics?: string;
  set: string[];
  allowRemoteExports?: boolean;
  exportDir?: string;
  loginAutomatic?: boolean;
  debug?: number;
}

/** Flags as configuration keys, so that flags and the file go through one validation. */
function overridesOf(f: Flags): Array<{ key: string; value: string }> {
  const o: Array<{ key: string; value: string }> = [];
  const add = (key: string, v: string | undefined) => v !== undefined && o.push({ key, value: v });
  add('db', f.db);
  add('state_dir', f.stateDir);
  add('host_id', f.hostId);
  add('nats.servers', f.nats);
  add('nats.user', f.natsUser);
  add('nats.password_file', f.natsPasswordFile);
  add('nats.token_file', f.natsTokenFile);
  add('nats.creds_file', f.natsCreds);
  add('nats.nkey_seed_file', f.natsNkey);
  add('nats.tls.ca_file', f.natsTlsCa);
  add('nats.tls.cert_file', f.natsTlsCert);
  add('nats.tls.key_file', f.natsTlsKey);
  add('initiator_name', f.initiatorName);
  if (f.allowRemoteExports) add('export.allow_remote', 'Yes');
  add('export.socket_dir', f.exportDir);
  if (f.loginAutomatic === false) add('startup.login_automatic', 'No');
  for (const s of f.set) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set "${s}": expected KEY=VALUE`);
    add(s.slice(0, eq).trim(), s.slice(eq + 1).trim());
  }
  return o;
}

export interface RunningDaemon {
  host: DaemonEngine;
  config: DaemonConfig;
  /** Resolves when the NATS service is up (never, while NATS cannot be reached). */
  control: Promise<RunningControlService | undefined>;
  reload(): Promise<void>;
  shutdown(): Promise<void>;
  /** The control service is up on NATS. */
  natsConnected(): boolean;
}

/**
 * Starts the daemon: records, telemetry, the control service (as soon as NATS answers), then the automatic
 * logins. `signal` aborting during the start abandons the logins in progress, so a SIGTERM at start is not
 * held by a target that does not answer; the caller then shuts the returned daemon down.
 */
export async function startDaemon(flags: Flags, signal?: AbortSignal): Promise<RunningDaemon> {
  let config = loadConfig(flags.config, overridesOf(flags));
  const prometheus = flags.metrics === undefined ? undefined : metricsAddress(flags.metrics);
  log.debug(
    1,
    `configuration: host id ${config.hostId}, db ${config.db}, state dir ${config.stateDir}, NATS ${shownServers(config.nats.servers)}`,
  );
  // An unusable --db or --state-dir is found now, with the reason, not at the first login or export.
  checkStartDirs(config);
  // A nats-kv:// store gets a connection of its own, so that the records and the control plane fail apart.
  const opened = await openStore(config.db, {
    // One line per bad record file (path and line where the parser knows it); the file is skipped.
    onBadRecord: (_path, err) => log.warn(`skipping bad record ${err.message}`),
    nats: () => connect(natsConnectionOptions({ ...config.nats, name: `mpiscsid@${config.hostId} records`, maxReconnectAttempts: -1 })),
  });
  const store = opened.store;
  if (flags.import) {
    const r = await store.importTree(flags.import);
    log(`imported ${r.nodes} node, ${r.discovery} discovery and ${r.ifaces} iface records from ${flags.import}`);
  }
  const deviceInstrumentation: Array<{ stop(): void }> = [];
  // Traces and metrics per the OTEL_* variables (off when unset), or spans to --trace-file; --metrics adds
  // the Prometheus endpoint.
  const telemetry = startTelemetry({
    serviceName: 'mpiscsid',
    resourceAttributes: { 'host.id': config.hostId },
    onExportProblem: (line) => log.warn(line),
    spanExporters: flags.traceFile ? [new JsonLinesSpanExporter(flags.traceFile)] : undefined,
    prometheus,
  });
  if (telemetry.prometheusUrl) {
    try {
      log(`metrics on ${await telemetry.prometheusUrl}`);
    } catch (err) {
      await telemetry.shutdown().catch(() => {});
      await opened.close().catch(() => {});
      throw err;
    }
  }
  const host = new DaemonEngine({
    store,
    initiatorName: config.initiatorName ?? defaultInitiatorName(),
    stateDir: config.stateDir,
    multipath: multipathConfigOf(config),
    allowRemoteExports: config.allowRemoteExports,
    exportDir: config.exportDir,
    log,
    onSession: (s) => instrumentSession(s.managed, telemetry, { iface: s.key.iface }),
    onDevice: (d) => void deviceInstrumentation.push(instrumentDevice(d, telemetry)),
    // The control request that takes a path down (fail_path, logout) and the failover it causes: one trace.
    onPathDown: (device, path) => expectFailover(telemetry, device, path, activeRequestContext()),
  });

  let nc: NatsConnection | undefined;
  let service: RunningControlService | undefined;
  let stopping = false;
  const control = (async () => {
    if (config.nats.servers === 'none' || config.nats.servers === '') return undefined;
    log(`waiting for NATS at ${shownServers(config.nats.servers)}`);
    nc = await connect(
      natsConnectionOptions({ ...config.nats, name: `mpiscsid@${config.hostId}`, waitOnFirstConnect: true, maxReconnectAttempts: -1 }),
    );
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') log.warn(`NATS connection lost; I/O goes on, reconnecting`);
        else if (s.type === 'reconnect') {
          log(`NATS reconnected`);
          host.republish();
        }
      }
    })().catch(() => {});
    if (stopping) return undefined;
    service = await startControlService(nc, host, {
      hostId: config.hostId,
      tracer: telemetry.tracer,
      onError: (err) => log.error(`control: ${err.message}`),
    });
    log(`control service on NATS ${shownServers(config.nats.servers)} as mpiscsi.${config.hostId}.*`);
    return service;
  })();
  control.catch((err) => log.error(`NATS: ${(err as Error).message}`));
  // -d 3: every session, path and device event, as published on mpiscsi.<hostId>.events.*.
  const stopEventLog = log.debugLevel >= 3 ? host.onEvent((e) => log.debug(3, `event ${e.kind} ${JSON.stringify(e.event)}`)) : () => {};

  const onAbort = () => void host.abandonLogins();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (config.loginAutomatic && !signal?.aborted) {
    for (const r of await host.loginAutomatic()) {
      const where = nodeText(r.key);
      if (r.error === undefined) log(`Login to ${where} successful (sid ${r.sid}).`);
      else log.error(`Could not login to ${where}: ${(r.error as Error).message} (${exitCodeFor(r.error)})`);
    }
  }
  signal?.removeEventListener('abort', onAbort);

  const reload = async () => {
    try {
      config = loadConfig(flags.config, overridesOf(flags));
    } catch (err) {
      log.error(`reload: ${(err as Error).message}; keeping the running configuration`);
      return;
    }
    const mp = multipathConfigOf(config);
    for (const d of host.manager.devices) d.configure(mp);
    await host.reloadRecords();
    if (config.loginAutomatic) await host.loginAutomatic();
    host.republish();
    log('configuration and node records reloaded');
  };

  const shutdown = async () => {
    stopping = true;
    stopEventLog();
    // Abandoned logins are answered while the control service still can; then it stops taking requests.
    await host.abandonLogins();
    await service?.stop().catch(() => {});
    await host.close();
    for (const i of deviceInstrumentation) i.stop();
    await telemetry.shutdown().catch(() => {});
    await nc?.drain().catch(() => {});
    await opened.close().catch(() => {});
  };
  return { host, config, control, reload, shutdown, natsConnected: () => service !== undefined };
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  let flags: Flags;
  try {
    program.parse(argv);
    flags = program.opts<Flags>();
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
  let daemon: RunningDaemon;
  try {
    daemon = await startDaemon(flags, starting.signal);
  } catch (err) {
    log.error((err as Error).message);
    if (err instanceof StartDirError) return err.exitCode;
    if (err instanceof RecordError) return ExitCode.IDBM;
    return err instanceof ConfigError || err instanceof RangeError ? ExitCode.INVAL : ExitCode.GENERIC;
  }
  const running = daemon;
  return new Promise<number>((resolve) => {
    let done = false;
    const shutdown = (sig: string | undefined) => {
      if (done) return;
      done = true;
      if (sig) log(`${sig}: shutting down`);
      running.shutdown().then(
        () => {
          log('stopped');
          resolve(ExitCode.SUCCESS);
        },
        (err) => {
          log.error(`shutdown: ${(err as Error).message}`);
          resolve(ExitCode.GENERIC);
        },
      );
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
    log(`ready (host id ${running.config.hostId}, db ${running.config.db}, ${control})`);
    process.on('SIGHUP', () => void running.reload());
    stop = shutdown;
  });
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/mpiscsid')) {
  main(process.argv).then((code) => process.exit(code));
}
