/** Turns a parsed iscsi:// URL and CLI options into session options and discovery (shared by the mpiscsi tools). */
import type { AuthConfig } from '../iscsi/login.js';
import { parseChapAlgs, DEFAULT_CHAP_ALGORITHMS } from '../iscsi/chap.js';
import type { SessionWishes } from '../iscsi/negotiation.js';
import { discoverTargets, type OpenSessionOptions } from '../session/open.js';
import type { IscsiUrl } from '../session/url.js';
import type { DiscoveredTarget } from '../iscsi/discovery.js';
import { ifaceSourceAddress } from '../session/iface.js';

export interface CommonOptions {
  initiatorName?: string;
  chapAlgs?: string;
  loginTimeout?: number;
  /** `--quiet`: no log lines, progress bar or summary on stderr; errors and stdout results stay. */
  quiet?: boolean;
  /** `-v` / `-vv`: debug lines on stderr (verbose.ts), 0 when not given. */
  verbose?: number;
}

export function authFromUrl(url: IscsiUrl, chapAlgs?: string): AuthConfig {
  if (url.username === undefined) return { method: 'None' };
  const algorithms = chapAlgs ? parseChapAlgs(chapAlgs) : [...DEFAULT_CHAP_ALGORITHMS];
  return {
    method: 'CHAP',
    username: url.username,
    password: url.password ?? '',
    ...(url.targetUsername !== undefined ? { usernameIn: url.targetUsername, passwordIn: url.targetPassword ?? '' } : {}),
    algorithms,
  };
}

export function wishesFromUrl(url: IscsiUrl): Partial<SessionWishes> {
  const w: Partial<SessionWishes> = {};
  if (url.headerDigest) w.headerDigest = url.headerDigest;
  if (url.dataDigest) w.dataDigest = url.dataDigest;
  return w;
}

/** What a URL and the common flags say about a session: portal, identity, CHAP, digests, source address, deadline. */
export function urlSessionOptions(url: IscsiUrl, opts: CommonOptions): Omit<OpenSessionOptions, 'targetName'> {
  return {
    host: url.host,
    port: url.port,
    initiatorName: opts.initiatorName,
    auth: authFromUrl(url, opts.chapAlgs),
    wishes: wishesFromUrl(url),
    localAddress: url.iface === undefined ? undefined : ifaceSourceAddress(url.iface),
    loginTimeoutMs: opts.loginTimeout !== undefined ? opts.loginTimeout * 1000 : undefined,
  };
}

export function discoverUrl(url: IscsiUrl, opts: CommonOptions): Promise<DiscoveredTarget[]> {
  return discoverTargets(urlSessionOptions(url, opts));
}
