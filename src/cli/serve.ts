/**
 * `mpiscsi serve`: one multipath device over NBD in the foreground, as qemu-nbd serves one image, with no
 * daemon or NATS: each path an iscsi:// URL (with `?iface=SOURCE_ADDRESS`), node-record and multipath
 * settings by their open-iscsi / multipath.conf names (`--set`), the export on a 0600 unix socket and/or
 * loopback TCP. Prints the NBD URI when ready (the first line on stdout; logs go to stderr), a line per path
 * state change, and the topology on SIGUSR1. URLs are libiscsi's, LUN required (parseLunUrl).
 */
import { timersFromNodeRecord, TIMER_RECORD_KEYS } from '../../machines/timers.js';
import type { SessionWishes } from '../iscsi/negotiation.js';
import { ManagedSession } from '../session/managed-session.js';
import { sayLoginWarnings } from '../session/login-warnings.js';
import { debugLog, watchSession } from './verbose.js';
import { WISH_KEYS } from '../session/node-session.js';
import { NODE_SETTINGS, readSetting } from '../settings/index.js';
import { LoginPacer } from '../session/login-pacer.js';
import { writeFileSync, rmSync } from 'node:fs';
import { parseLunUrl, type LunUrl } from '../session/url.js';
import { defaultInitiatorName } from '../session/identity.js';
import {
  PathManager,
  multipathSettings,
  describeGate,
  describeGaveUp,
  describeNoPath,
  MULTIPATH_SETTING_KEYS,
  type MultipathDevice,
  type MultipathEvent,
} from '../multipath/index.js';
import { exportDevice, parseHostPort } from '../services/exports.js';
import { attachPaths } from '../services/sessions.js';
import { packageVersionOf } from '../control/version.js';
import { urlSessionOptions, wishesFromUrl } from './connect.js';
import { instrumentPathManager, instrumentSession, startTelemetry, type Instrumentation, type Telemetry } from '../telemetry/index.js';

export interface ServeOptions {
  urls: string[];
  socket?: string;
  tcp?: string;
  name?: string;
  set: string[];
  initiatorName?: string;
  chapAlgs?: string;
  /** Written with the process id once the export accepts connections, removed by close() (qemu-nbd --pid-file). */
  pidFile?: string;
  /** Results: the NBD URIs, once listening (default stdout, so `uri=$(mpiscsi serve ... | head -1)` works). */
  out?: (line: string) => void;
  /** Log lines: path and device events, login warnings and failures (default stderr; `out` when only it is given). */
  log?: (line: string) => void;
  /** `-v` / `-vv`: each path's login steps (and state changes) as debug lines on stderr (verbose.ts). */
  verbose?: number;
  /**
   * Traces and metrics. Default: startTelemetry() from the OTEL_* environment (off without an OTLP
   * endpoint), shut down (flushed) by close(); a given one is flushed by close() and left running.
   */
  telemetry?: Telemetry;
}

/** Keys whose value the session takes as it is. */
const SESSION_KEYS = ['node.session.cmds_max'];

/** A usage error: maps to iscsiadm's INVAL exit code (7) like other RangeErrors. */
export class ServeUsageError extends RangeError {
  override readonly name = 'ServeUsageError';
}

/**
 * The keys `--set` takes: node record keys (the session timers, the iSCSI keys we offer, cmds_max) and multipath
 * settings. parseSettings names them when it refuses a key; the completion generator offers them.
 */
export function settableKeys(): { record: string[]; multipath: readonly string[] } {
  return { record: [...Object.values(TIMER_RECORD_KEYS), ...Object.keys(WISH_KEYS), ...SESSION_KEYS], multipath: MULTIPATH_SETTING_KEYS };
}

/** Splits `--set KEY=VALUE` into node-record keys (timers, wishes) and multipath settings; unknown keys throw. */
export function parseSettings(sets: string[]): {
  record: Record<string, string>;
  wishes: Partial<SessionWishes>;
  multipath: Record<string, string>;
  cmdsMax?: number;
} {
  const record: Record<string, string> = {};
  const wishes: Partial<SessionWishes> = {};
  const multipath: Record<string, string> = {};
  let cmdsMax: number | undefined;
  const timerKeys = new Set<string>(Object.values(TIMER_RECORD_KEYS));
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ServeUsageError(`--set "${s}": expected KEY=VALUE`);
    const key = s.slice(0, eq).trim();
    const value = s.slice(eq + 1).trim();
    try {
      if (timerKeys.has(key)) record[key] = value;
      else if (key in WISH_KEYS) WISH_KEYS[key](wishes, value, key);
      else if (SESSION_KEYS.includes(key))
        cmdsMax = readSetting(NODE_SETTINGS.get(key)!, value) as number; // the record's rule
      else if ((MULTIPATH_SETTING_KEYS as readonly string[]).includes(key)) multipath[key] = value;
      else
        throw new ServeUsageError(
          `unknown setting; use a node record key (${settableKeys().record.join(', ')}) or a multipath setting (${MULTIPATH_SETTING_KEYS.join(', ')})`,
        );
    } catch (err) {
      throw new ServeUsageError(`--set ${key}=${value}: ${(err as Error).message}`);
    }
  }
  // Validate now, with the key names in the message, rather than at the first login.
  timersFromNodeRecord(record);
  multipathSettings(multipath);
  return { record, wishes, multipath, cmdsMax };
}

function parseTcp(spec: string): { host: string; port: number } {
  const hp = parseHostPort(spec, true);
  if (!hp) throw new ServeUsageError(`--tcp "${spec}": expected HOST:PORT or PORT`);
  if (hp.port > 65535) throw new ServeUsageError(`--tcp "${spec}": bad port`);
  return { host: hp.host ?? '127.0.0.1', port: hp.port };
}

/**
 * One line per path state change, group switch, gate change, probe and failure (multipathd's log lines,
 * roughly); per-I/O re-issues are summarised by the path change that caused them, and passing checks are quiet.
 */
export function describeEvent(e: MultipathEvent): string | undefined {
  const at = new Date().toISOString();
  switch (e.type) {
    case 'path.state':
      return `${at} ${e.device}: path ${e.path} ${e.from} -> ${e.to} (${e.reason}${e.detail ? `: ${e.detail}` : ''})`;
    case 'path.removed':
      return `${at} ${e.device}: path ${e.path} removed (${e.reason}${e.detail ? `: ${e.detail}` : ''})`;
    case 'group.switched':
      return `${at} ${e.device}: switched from path group ${e.from + 1} to ${e.to + 1} (${e.reason})`;
    case 'gate':
      return `${at} ${e.device}: ${describeGate(e)}`;
    case 'probe':
      return e.ok
        ? undefined
        : `${at} ${e.device}: path ${e.path} stalled ${Math.round(e.stalledMs)} ms and did not answer a NOP-Out probe`;
    case 'checker':
      return e.ok ? undefined : `${at} ${e.device}: path ${e.path} checker failed${e.detail ? `: ${e.detail}` : ''}`;
    case 'io.failed':
      return `${at} ${e.device}: I/O failed: ${e.error}`;
    case 'path.gaveUp':
      return `${at} ${e.device}: ${describeGaveUp(e)}`;
    case 'nopath':
      return `${at} ${e.device}: ${describeNoPath(e)}`;
    default:
      return undefined;
  }
}

export interface RunningServe {
  device: MultipathDevice;
  uris: string[];
  topology(): string[];
  close(): Promise<void>;
}

/** Logs in every path, groups them, and exports the device. Resolves once the export is listening. */
export async function startServe(opts: ServeOptions): Promise<RunningServe> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const log = opts.log ?? opts.out ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (opts.urls.length === 0) throw new ServeUsageError('no paths: give one or more iscsi://host[:port]/TARGET/LUN URLs');
  if (!opts.socket && !opts.tcp) throw new ServeUsageError('no export address: give --socket PATH and/or --tcp HOST:PORT');
  // libiscsi's form, the LUN required (a URL without one is refused with the form shown, as inq/readcap do).
  const urls: LunUrl[] = opts.urls.map((u) => parseLunUrl(u));
  const lun = urls[0].lun;
  if (urls.some((u) => u.lun !== lun)) throw new ServeUsageError('every path must name the same LUN');
  const settings = parseSettings(opts.set);
  const timers = timersFromNodeRecord(settings.record);
  const initiatorName = opts.initiatorName ?? defaultInitiatorName();
  const pacer = new LoginPacer();
  // service.version as --version prints it (package.json), as mpiscsid's: the OTLP resource's, the scope's.
  const telemetry = opts.telemetry ?? startTelemetry({ serviceVersion: packageVersionOf() });
  const instrumented: Instrumentation[] = [];
  const manager = new PathManager({
    config: multipathSettings(settings.multipath),
    onEvent: (e) => {
      const line = describeEvent(e);
      if (line) log(line);
    },
  });
  const paths = urls.map(
    (u, i) =>
      new ManagedSession({
        ...urlSessionOptions(u, { initiatorName, chapAlgs: opts.chapAlgs }),
        targetName: u.targetName,
        wishes: { ...wishesFromUrl(u), ...settings.wishes },
        cmdsMax: settings.cmdsMax,
        timers,
        luns: [lun],
        pacer,
        failFast: true,
        sessionKey: `${u.host}:${u.port}/${u.iface ?? 'default'}#${i}`,
      }),
  );
  const warned = paths.map((p) => sayLoginWarnings(p, (w) => log(`${p.key}: login warning: ${w}`)));
  const debug = debugLog(opts.verbose ?? 0);
  for (const p of paths) {
    const watching = watchSession(p, opts.verbose ?? 0, debug);
    if (watching) warned.push(watching);
  }
  instrumented.push(instrumentPathManager(manager, telemetry));
  for (const [i, p] of paths.entries()) instrumented.push(instrumentSession(p, telemetry, { iface: urls[i].iface ?? 'default' }));
  const cleanup = async () => {
    manager.close();
    await Promise.all(paths.map((p) => p.logout().catch(() => {})));
    for (const p of paths) p.stop();
    for (const w of warned) w.unsubscribe();
    for (const i of instrumented.splice(0)) i.stop();
    await (opts.telemetry ? telemetry.forceFlush() : telemetry.shutdown()).catch(() => {});
  };
  try {
    const logins = await Promise.allSettled(paths.map((p) => p.login()));
    const named = paths.map((managed, i) => ({ managed, name: managed.key.replace(/#\d+$/, ''), login: logins[i]! }));
    const device = await attachPaths(manager, named, lun, log);
    const tcp = opts.tcp ? parseTcp(opts.tcp) : undefined;
    const { server, uris } = await exportDevice(device, { name: opts.name ?? device.name, socketPath: opts.socket, tcp, lun });
    const pidFile = opts.pidFile;
    if (pidFile !== undefined) {
      try {
        writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o644 });
      } catch (err) {
        await server.close();
        throw new ServeUsageError(`--pid-file ${pidFile}: ${(err as Error).message}`);
      }
    }
    for (const uri of uris) out(uri);
    return {
      device,
      uris,
      topology: () => manager.topology(),
      close: async () => {
        if (pidFile !== undefined) rmSync(pidFile, { force: true });
        await server.close();
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
