/**
 * mpiscsid's configuration: a file in iscsid.conf's `key = value` form (`#` comments), command-line flags
 * over it, defaults under both. Unknown keys and bad values are errors that name the file and line.
 */
import { readFileSync } from 'node:fs';
import { defaultHostId, HOST_ID_PATTERN } from '../control/endpoints.js';
import type { NatsSettings } from '../control/nats-options.js';
import { MULTIPATH_SETTING_KEYS, multipathSettings, type MultipathConfig } from '../multipath/config.js';

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
}

export class ConfigError extends RangeError {
  override readonly name = 'ConfigError';
}

export function defaultConfig(): DaemonConfig {
  return {
    hostId: defaultHostId(),
    db: '/var/lib/mpiscsi',
    stateDir: '/run/mpiscsi',
    nats: { servers: 'nats://127.0.0.1:4222' },
    multipath: {},
    allowRemoteExports: false,
    loginAutomatic: true,
  };
}

const yesNo = (v: string): boolean | undefined => (/^(yes|true|1)$/i.test(v) ? true : /^(no|false|0)$/i.test(v) ? false : undefined);

type Setter = (c: DaemonConfig, v: string) => string | void;

/** Each key and how it applies; a string returned is the complaint about the value. */
const KEYS: Record<string, Setter> = {
  host_id: (c, v) => {
    if (!HOST_ID_PATTERN.test(v)) return 'use letters, digits, - and _';
    c.hostId = v;
  },
  db: (c, v) => void (c.db = v),
  state_dir: (c, v) => void (c.stateDir = v),
  initiator_name: (c, v) => void (c.initiatorName = v),
  'nats.servers': (c, v) => void (c.nats.servers = v),
  'nats.user': (c, v) => void (c.nats.user = v),
  'nats.password_file': (c, v) => void (c.nats.passwordFile = v),
  'nats.token_file': (c, v) => void (c.nats.tokenFile = v),
  'nats.creds_file': (c, v) => void (c.nats.credsFile = v),
  'nats.nkey_seed_file': (c, v) => void (c.nats.nkeySeedFile = v),
  'nats.tls.ca_file': (c, v) => void (c.nats.tls = { ...c.nats.tls, caFile: v }),
  'nats.tls.cert_file': (c, v) => void (c.nats.tls = { ...c.nats.tls, certFile: v }),
  'nats.tls.key_file': (c, v) => void (c.nats.tls = { ...c.nats.tls, keyFile: v }),
  'export.socket_dir': (c, v) => {
    if (!v.startsWith('/')) return 'expected an absolute directory';
    c.exportDir = v;
  },
  'export.allow_remote': (c, v) => {
    const b = yesNo(v);
    if (b === undefined) return 'expected Yes or No';
    c.allowRemoteExports = b;
  },
  'startup.login_automatic': (c, v) => {
    const b = yesNo(v);
    if (b === undefined) return 'expected Yes or No';
    c.loginAutomatic = b;
  },
};

/** Applies `key = value` settings (from the file or `--set`); `where(i)` names the source for errors. */
export function applySettings(c: DaemonConfig, entries: Array<{ key: string; value: string; where: string }>): DaemonConfig {
  for (const { key, value, where } of entries) {
    if (key.startsWith('multipath.')) {
      const k = key.slice('multipath.'.length);
      if (!(MULTIPATH_SETTING_KEYS as readonly string[]).includes(k))
        throw new ConfigError(`${where}: unknown multipath setting "${k}" (known: ${MULTIPATH_SETTING_KEYS.join(', ')})`);
      try {
        multipathSettings({ [k]: value });
      } catch (err) {
        throw new ConfigError(`${where}: ${key} = ${value}: ${(err as Error).message}`);
      }
      c.multipath[k] = value;
      continue;
    }
    const set = KEYS[key];
    if (!set) throw new ConfigError(`${where}: unknown key "${key}" (known: ${[...Object.keys(KEYS), 'multipath.<setting>'].join(', ')})`);
    const complaint = set(c, value);
    if (complaint) throw new ConfigError(`${where}: ${key} = ${value}: ${complaint}`);
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
