/**
 * Builds @nats-io/transport-node connection options from mpiscsi's NATS settings (servers, one of
 * user/password, token, nkey seed or creds file, TLS files, client name) with reconnect-forever defaults;
 * secrets come from files or environment variables so they stay out of `ps`, and only a redacted summary is
 * ever meant for logs.
 */
import { readFileSync } from 'node:fs';
import {
  credsAuthenticator,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
  type Authenticator,
  type NodeConnectionOptions,
} from '@nats-io/transport-node';
import { ExitCode } from './exit-codes.js';
import { ControlError } from './api.js';
import { DEFAULT_NATS_SERVER, parseServers, redactUrl } from './nats-servers.js';

// The URL helpers live in nats-servers.ts (no NATS client import, for mpiscsiadm's offline modes); exported here too.
export { DEFAULT_NATS_SERVER, parseServers, redactUrl };

/** Environment variables read for secrets not given otherwise. */
export const NATS_ENV = {
  PASSWORD: 'MPISCSI_NATS_PASSWORD',
  TOKEN: 'MPISCSI_NATS_TOKEN',
} as const;

/** Milliseconds between reconnect attempts (nats.js default 2000): the control plane should come back fast. */
export const DEFAULT_RECONNECT_WAIT_MS = 250;

export interface NatsSettings {
  /** nats://host:port, a comma-separated list, or an array; default nats://127.0.0.1:4222. */
  servers?: string | string[];
  /** User name; the password comes from password, passwordFile or $MPISCSI_NATS_PASSWORD. */
  user?: string;
  /** Prefer passwordFile or the environment: a password on a command line shows in `ps`. */
  password?: string;
  passwordFile?: string;
  /** Token; else tokenFile, else $MPISCSI_NATS_TOKEN (used only when no other auth is set). */
  token?: string;
  tokenFile?: string;
  /** File holding a user nkey seed (SU...). */
  nkeySeedFile?: string;
  /** A .creds file (user JWT and nkey seed), read again on every (re)connect. */
  credsFile?: string;
  tls?: {
    caFile?: string;
    certFile?: string;
    keyFile?: string;
    /** Refuse a plain connection; default: on when any TLS file is given or a server URL is tls://. */
    required?: boolean;
  };
  /** Client name the server shows (e.g. mpiscsid@host). */
  name?: string;
  /** Default 250 ms. */
  reconnectWaitMs?: number;
  /** -1 (default): reconnect forever. */
  maxReconnectAttempts?: number;
  /** Keep trying when the first connect fails (a daemon starting before NATS); default false. */
  waitOnFirstConnect?: boolean;
  /** Connect timeout in ms; default nats.js' 20000. */
  connectTimeoutMs?: number;
}

function readSecret(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    // The path is not secret; the content never appears in messages.
    throw new ControlError(
      ExitCode.INVAL,
      `cannot read NATS ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      [],
      {
        cause: err,
      },
    );
  }
}

function readBytes(file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (err) {
    throw new ControlError(
      ExitCode.INVAL,
      `cannot read NATS ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      [],
      {
        cause: err,
      },
    );
  }
}

/**
 * The connection options for `settings`. Secrets go into authenticators (closures), never into fields, so
 * the returned object can be inspected or logged without leaking them. At most one auth method may be set.
 */
export function natsConnectionOptions(settings: NatsSettings = {}, env: NodeJS.ProcessEnv = process.env): NodeConnectionOptions {
  const servers = parseServers(settings.servers);
  const methods: string[] = [];
  if (settings.user !== undefined) methods.push('user');
  if (settings.token !== undefined || settings.tokenFile !== undefined) methods.push('token');
  if (settings.nkeySeedFile !== undefined) methods.push('nkey');
  if (settings.credsFile !== undefined) methods.push('creds');
  if (methods.length > 1) throw new ControlError(ExitCode.INVAL, `NATS: choose one authentication method, not ${methods.join(' and ')}`);

  let authenticator: Authenticator | undefined;
  if (settings.user !== undefined) {
    const pass =
      settings.password ?? (settings.passwordFile !== undefined ? readSecret(settings.passwordFile, 'password') : env[NATS_ENV.PASSWORD]);
    if (pass === undefined) {
      throw new ControlError(ExitCode.INVAL, `NATS user ${settings.user} needs a password (password file or $${NATS_ENV.PASSWORD})`);
    }
    authenticator = usernamePasswordAuthenticator(settings.user, pass);
  } else if (settings.token !== undefined || settings.tokenFile !== undefined) {
    authenticator = tokenAuthenticator(settings.token ?? readSecret(settings.tokenFile!, 'token'));
  } else if (settings.nkeySeedFile !== undefined) {
    const seed = new TextEncoder().encode(readSecret(settings.nkeySeedFile, 'nkey seed'));
    authenticator = nkeyAuthenticator(seed);
  } else if (settings.credsFile !== undefined) {
    const file = settings.credsFile;
    readBytes(file, 'creds'); // fail now on a missing file, not on the first connect
    authenticator = credsAuthenticator(() => readBytes(file, 'creds'));
  } else if (env[NATS_ENV.TOKEN]) {
    authenticator = tokenAuthenticator(env[NATS_ENV.TOKEN]!);
  }

  const opts: NodeConnectionOptions = {
    servers,
    maxReconnectAttempts: settings.maxReconnectAttempts ?? -1,
    reconnectTimeWait: settings.reconnectWaitMs ?? DEFAULT_RECONNECT_WAIT_MS,
    reconnectJitter: 100,
    reconnectJitterTLS: 250,
  };
  if (authenticator) opts.authenticator = authenticator;
  if (settings.name !== undefined) opts.name = settings.name;
  if (settings.waitOnFirstConnect) opts.waitOnFirstConnect = true;
  if (settings.connectTimeoutMs !== undefined) opts.timeout = settings.connectTimeoutMs;

  const t = settings.tls ?? {};
  const tlsUrl = servers.some((s) => s.toLowerCase().startsWith('tls://'));
  const anyFile = t.caFile !== undefined || t.certFile !== undefined || t.keyFile !== undefined;
  if ((t.certFile === undefined) !== (t.keyFile === undefined)) {
    throw new ControlError(ExitCode.INVAL, 'NATS TLS: a client certificate needs both the cert file and the key file');
  }
  if (t.required ?? (anyFile || tlsUrl)) {
    opts.tls = {};
    if (t.caFile !== undefined) opts.tls.caFile = t.caFile;
    if (t.certFile !== undefined) opts.tls.certFile = t.certFile;
    if (t.keyFile !== undefined) opts.tls.keyFile = t.keyFile;
  }
  return opts;
}

/** A one-line description of the settings for logs: which auth method and files, never a secret. */
export function describeNatsSettings(settings: NatsSettings = {}, env: NodeJS.ProcessEnv = process.env): string {
  const parts = [`servers=${parseServers(settings.servers).map(redactUrl).join(',')}`];
  if (settings.user !== undefined) parts.push(`auth=user(${settings.user})`);
  else if (settings.token !== undefined || settings.tokenFile !== undefined) parts.push('auth=token');
  else if (settings.nkeySeedFile !== undefined) parts.push(`auth=nkey(${settings.nkeySeedFile})`);
  else if (settings.credsFile !== undefined) parts.push(`auth=creds(${settings.credsFile})`);
  else if (env[NATS_ENV.TOKEN]) parts.push(`auth=token($${NATS_ENV.TOKEN})`);
  else parts.push('auth=none');
  if (settings.tls && (settings.tls.required || settings.tls.caFile || settings.tls.certFile)) parts.push('tls');
  if (settings.name) parts.push(`name=${settings.name}`);
  return parts.join(' ');
}
