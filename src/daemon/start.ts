/**
 * The running daemon behind `mpiscsid` (src/daemon/mpiscsid.ts): configuration from the file and the flags, the
 * node database, telemetry, the engine (sessions, multipath devices, NBD exports), the NATS control service and
 * the automatic logins, with reload (SIGHUP) and shutdown. mpiscsid.ts imports this file only after its options
 * parsed, so that `--version`, `--help` and a bad option load none of NATS, OpenTelemetry or XState (issue 17).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { openStore } from '../db/open-store.js';
import { RecordError } from '../db/record.js';
import { defaultInitiatorName } from '../session/identity.js';
import { activeRequestContext, startControlService, type RunningControlService } from '../control/service.js';
import { ExitCode, exitCodeFor } from '../control/exit-codes.js';
import { packageVersionOf } from '../control/version.js';
import { nodeText } from '../services/nodes.js';
import { natsConnectionOptions, parseServers, redactUrl } from '../control/nats-options.js';
import { DaemonEngine } from './engine.js';
import { startTelemetry, instrumentSession, instrumentDevice, expectFailover } from '../telemetry/index.js';
import { JsonLinesSpanExporter } from '../telemetry/jsonl-exporter.js';
import { ConfigError, loadConfig, metricsAddress, multipathConfigOf, type DaemonConfig } from './config.js';
import type { DaemonLog } from './log.js';
import { checkStartDirs, StartDirError } from './start-checks.js';
import { configureBusyPoll } from '../session/busy-poll.js';

/** The NATS servers as log lines show them: nats://user:pass@host becomes nats://***@host (no secret in a log). */
export const shownServers = (servers: string): string =>
  servers === 'none' || servers === '' ? servers : parseServers(servers).map(redactUrl).join(',');

/** mpiscsid's parsed options (buildProgram in mpiscsid.ts defines them). */
export interface DaemonFlags {
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
function overridesOf(f: DaemonFlags): Array<{ key: string; value: string }> {
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
export async function startDaemon(flags: DaemonFlags, log: DaemonLog, signal?: AbortSignal): Promise<RunningDaemon> {
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
    // service.version as --version prints it (package.json): target_info's service_version, OTLP's resource.
    serviceVersion: packageVersionOf(),
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
  configureBusyPoll({ windowUs: config.busyPollUs });
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

/** The exit code of a start that failed: a directory check's own, a bad record store IDBM, bad configuration INVAL. */
export function startFailureCode(err: unknown): number {
  if (err instanceof StartDirError) return err.exitCode;
  if (err instanceof RecordError) return ExitCode.IDBM;
  return err instanceof ConfigError || err instanceof RangeError ? ExitCode.INVAL : ExitCode.GENERIC;
}
