/**
 * mpiscsid's configuration: a file in iscsid.conf's `key = value` form (`#` comments), command-line flags
 * over it, defaults under both. The keys, their types and defaults are the settings table's
 * (src/settings/daemon.ts, multipath.<key> from src/settings/multipath.ts); this module maps each key to its
 * DaemonConfig field. Unknown keys and bad values are errors that name the file and line, key, value and rule.
 */
import { readFileSync } from 'node:fs';
import { defaultHostId } from '../control/endpoints.js';
import type { NatsSettings } from '../control/nats-options.js';
import { MULTIPATH_SETTING_KEYS, multipathSettings, type MultipathConfig } from '../multipath/config.js';
import { isLoopbackHost, parseHostPort } from '../services/exports.js';
import { DAEMON_SETTINGS, MULTIPATH_PREFIX, MULTIPATH_SETTINGS, readSetting } from '../settings/index.js';

export interface DaemonConfig {
  /** Subject token of this host: mpiscsi.<hostId>.*. Default the host name with dots as underscores. */
  hostId: string;
  /** Node database: a directory (open-iscsi layout) or nats-kv://BUCKET. */
  db: string;
  /** Runtime files (default export sockets). */
  stateDir: string;
  /** Initiator name for ifaces that set none; default /etc/iscsi/initiatorname.iscsi or a generated one. */
  initiatorName?: string;
  /** How to reach NATS (servers 'none': no control plane). Secrets from files or environment variables only. */
  nats: NatsSettings & { servers: string };
  /** multipath.conf defaults for every device (multipath.<key> in the file). */
  multipath: Record<string, string>;
  /** Exports may listen on non-loopback addresses. */
  allowRemoteExports: boolean;
  /** A directory export sockets may be put in besides <stateDir>/nbd. */
  exportDir?: string;
  /** Log in node.startup = automatic records at start (default true). */
  loginAutomatic: boolean;
  /** µs the event loop keeps polling after a read at low queue depth (src/session/busy-poll.ts); 0 = off. */
  busyPollUs: number;
}

export class ConfigError extends RangeError {
  override readonly name = 'ConfigError';
}

/** Host of `--metrics :PORT` and `--metrics PORT`. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/**
 * `--metrics` as host and port: HOST:PORT, [V6]:PORT, :PORT or PORT (host 127.0.0.1). Loopback only (the
 * scrape endpoint has no authentication): another host, a bad form or port is a ConfigError naming the option.
 */
export function metricsAddress(spec: string): { host: string; port: number } {
  const hp = parseHostPort(spec.startsWith(':') ? spec.slice(1) : spec, true);
  if (!hp || hp.port < 1 || hp.port > 65535)
    throw new ConfigError(`--metrics "${spec}": expected HOST:PORT, [V6]:PORT or PORT (port 1..65535), e.g. 127.0.0.1:9464`);
  const host = hp.host ?? DEFAULT_METRICS_HOST;
  if (!isLoopbackHost(host))
    throw new ConfigError(
      `--metrics "${spec}": ${host} is not a loopback address; the metrics endpoint listens on loopback only (127.0.0.1, ::1)`,
    );
  return { host, port: hp.port };
}

/** The table's default of a daemon key, read as the file's value would be. */
const dflt = <T>(key: string): T => readSetting(DAEMON_SETTINGS.get(key)!, DAEMON_SETTINGS.get(key)!.default) as T;

export function defaultConfig(): DaemonConfig {
  return {
    // Computed, not in the table: the host name with dots as underscores.
    hostId: defaultHostId(),
    db: dflt('db'),
    stateDir: dflt('state_dir'),
    nats: { servers: dflt('nats.servers') },
    multipath: {},
    allowRemoteExports: dflt('export.allow_remote'),
    loginAutomatic: dflt('startup.login_automatic'),
    busyPollUs: dflt('busy_poll'),
  };
}

/** Where each key's value (already read by its setting) goes. */
const APPLY: Record<string, (c: DaemonConfig, v: never) => void> = {
  host_id: (c, v: string) => {
    c.hostId = v;
  },
  db: (c, v: string) => {
    c.db = v;
  },
  state_dir: (c, v: string) => {
    c.stateDir = v;
  },
  initiator_name: (c, v: string) => {
    c.initiatorName = v;
  },
  'nats.servers': (c, v: string) => {
    c.nats.servers = v;
  },
  'nats.user': (c, v: string) => {
    c.nats.user = v;
  },
  'nats.password_file': (c, v: string) => {
    c.nats.passwordFile = v;
  },
  'nats.token_file': (c, v: string) => {
    c.nats.tokenFile = v;
  },
  'nats.creds_file': (c, v: string) => {
    c.nats.credsFile = v;
  },
  'nats.nkey_seed_file': (c, v: string) => {
    c.nats.nkeySeedFile = v;
  },
  'nats.tls.ca_file': (c, v: string) => {
    c.nats.tls = { ...c.nats.tls, caFile: v };
  },
  'nats.tls.cert_file': (c, v: string) => {
    c.nats.tls = { ...c.nats.tls, certFile: v };
  },
  'nats.tls.key_file': (c, v: string) => {
    c.nats.tls = { ...c.nats.tls, keyFile: v };
  },
  'export.socket_dir': (c, v: string) => {
    c.exportDir = v;
  },
  'export.allow_remote': (c, v: boolean) => {
    c.allowRemoteExports = v;
  },
  'startup.login_automatic': (c, v: boolean) => {
    c.loginAutomatic = v;
  },
  busy_poll: (c, v: number) => {
    c.busyPollUs = v;
  },
};

/** Applies `key = value` settings (from the file or `--set`); `where` names the source for errors. */
export function applySettings(c: DaemonConfig, entries: Array<{ key: string; value: string; where: string }>): DaemonConfig {
  for (const { key, value, where } of entries) {
    if (key.startsWith(MULTIPATH_PREFIX)) {
      const k = key.slice(MULTIPATH_PREFIX.length);
      const setting = MULTIPATH_SETTINGS.get(k);
      if (!setting) throw new ConfigError(`${where}: unknown multipath setting "${k}" (known: ${MULTIPATH_SETTING_KEYS.join(', ')})`);
      const r = setting.type.read(value);
      if (!r.ok) throw new ConfigError(`${where}: ${key} = ${value}: ${r.problem} (${setting.type.rule})`);
      c.multipath[k] = value;
      continue;
    }
    const setting = DAEMON_SETTINGS.get(key);
    const apply = APPLY[key];
    if (!setting || !apply)
      throw new ConfigError(
        `${where}: unknown key "${key}" (known: ${[...DAEMON_SETTINGS.keys(), `${MULTIPATH_PREFIX}<setting>`].join(', ')})`,
      );
    const r = setting.type.read(value);
    if (!r.ok) throw new ConfigError(`${where}: ${key} = ${value}: ${r.problem}`);
    apply(c, r.value as never);
  }
  return c;
}

/** Parses the file's lines: blank and `#` lines skipped, `key = value` (spaces optional). */
export function parseConfigText(text: string, file: string): Array<{ key: string; value: string; where: string }> {
  const out: Array<{ key: string; value: string; where: string }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ConfigError(`${file}:${i + 1}: expected "key = value", got "${line}"`);
    out.push({ key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), where: `${file}:${i + 1}` });
  });
  return out;
}

/** Defaults, then the file (when given), then the flags' `key=value` overrides. */
export function loadConfig(file: string | undefined, overrides: Array<{ key: string; value: string }> = []): DaemonConfig {
  const c = defaultConfig();
  if (file) applySettings(c, parseConfigText(readFileSync(file, 'utf8'), file));
  applySettings(
    c,
    overrides.map((o) => ({ ...o, where: `--${o.key}` })),
  );
  return c;
}

export function multipathConfigOf(c: DaemonConfig): Partial<MultipathConfig> {
  return multipathSettings(c.multipath);
}
