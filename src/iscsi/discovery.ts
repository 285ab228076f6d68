/**
 * SendTargets discovery: the request, parsing of TargetName/TargetAddress answers, and portal formatting
 * (RFC 7143 §13.3 SendTargets, §13.8 TargetAddress, Appendix C SendTargets operation).
 */
import { ProtocolError } from './errors.js';
import { iscsiNameProblem } from './names.js';
import { parseTextData, type TextPair } from './text.js';

/** The IANA iSCSI port, used when a TargetAddress has none (§13.8). */
export const ISCSI_PORT = 3260;
/** Portal group tag not given (open-iscsi's `node.tpgt = -1`). */
export const UNKNOWN_TPGT = -1;
/**
 * Value cap for SendTargets answers. The RFC keeps TargetName (223 bytes, §4.2.7.1) and TargetAddress
 * under 255, but arrays send long link-local addresses with zones and vendor keys; failing a whole
 * discovery for one long value helps nobody, and 8192 still bounds memory.
 */
export const SEND_TARGETS_MAX_VALUE_LENGTH = 8192;

export interface Portal {
  host: string;
  port: number;
  /** Target portal group tag, UNKNOWN_TPGT (-1) when the target did not say. */
  tpgt: number;
}

export interface TargetAddress {
  host: string;
  port: number;
  tpgt?: number;
}

export interface DiscoveredTarget {
  targetName: string;
  portals: Portal[];
}

/** Text pairs of a SendTargets request (§13.3): "All" in a discovery session, or one target's name. */
export function sendTargetsRequest(what = 'All'): TextPair[] {
  return [['SendTargets', what]];
}

function parsePort(s: string, value: string): number {
  if (!/^[0-9]{1,5}$/.test(s) || Number(s) < 1 || Number(s) > 65535)
    throw new ProtocolError(`TargetAddress ${JSON.stringify(value)} has a bad port (RFC 7143 §13.8)`);
  return Number(s);
}

/**
 * Parses a TargetAddress value `domainname[:port][,portal-group-tag]` (§13.8). IPv6 addresses come in
 * brackets ("[fe80::1%eth0]:3260,1"; a zone is kept as given); a bare IPv6 address without brackets is
 * taken whole, without port, since its colons cannot be told apart from a port separator.
 */
export function parseTargetAddress(value: string): TargetAddress {
  let rest = value;
  let tpgt: number | undefined;
  const comma = rest.lastIndexOf(',');
  if (comma >= 0) {
    const tag = rest.slice(comma + 1);
    // §13.9: the portal group tag is a 16-bit number.
    if (!/^[0-9]{1,5}$/.test(tag) || Number(tag) > 65535)
      throw new ProtocolError(`TargetAddress ${JSON.stringify(value)} has a bad portal group tag (RFC 7143 §13.8)`);
    tpgt = Number(tag);
    rest = rest.slice(0, comma);
  }
  let host: string;
  let port = ISCSI_PORT;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new ProtocolError(`TargetAddress ${JSON.stringify(value)} has no closing bracket (RFC 7143 §13.8)`);
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw new ProtocolError(`TargetAddress ${JSON.stringify(value)} is malformed (RFC 7143 §13.8)`);
      port = parsePort(after.slice(1), value);
    }
  } else {
    const colons = rest.split(':').length - 1;
    if (colons === 1) {
      const i = rest.indexOf(':');
      host = rest.slice(0, i);
      port = parsePort(rest.slice(i + 1), value);
    } else {
      host = rest;
    }
  }
  if (!usableHost(host))
    throw new ProtocolError(
      `TargetAddress ${JSON.stringify(value)} has no usable host (RFC 7143 §13.8: an IPv4 or IPv6 address or a DNS name)`,
    );
  return tpgt === undefined ? { host, port } : { host, port, tpgt };
}

/** A DNS name (RFC 1123 labels, at most 253 bytes, a trailing dot allowed). */
const DNS_NAME = /^(?=.{1,254}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/**
 * An address a target may send us to (§13.8 domainname): IPv4, IPv6 (with a zone of name characters), or a
 * DNS name. Anything else (control characters, spaces, slashes, a NUL-free but hostile string) is refused
 * before it is stored or connected to.
 */
function usableHost(host: string): boolean {
  if (isIPv4(host) || isIPv6(host)) return true;
  const zone = host.indexOf('%');
  if (zone > 0 && isIPv6(host.slice(0, zone))) return /^[A-Za-z0-9_.-]{1,64}$/.test(host.slice(zone + 1));
  return DNS_NAME.test(host);
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function isIPv4(s: string): boolean {
  return IPV4.test(s);
}

/** RFC 4291 §2.2 text forms: eight groups, one "::" for a run of zero groups, an IPv4 tail for the last two. */
function isIPv6(s: string): boolean {
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groups = (part: string): string[] | undefined => (part === '' ? [] : part.split(':'));
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return false;
  const all = [...head, ...tail];
  let count = all.length;
  const last = all[all.length - 1];
  if (last?.includes('.')) {
    if (!isIPv4(last)) return false;
    all.pop();
    count += 1; // an IPv4 tail stands for two groups
  }
  if (!all.every((g) => /^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

export interface ParseSendTargetsOptions {
  /**
   * Portal for targets listed without any TargetAddress: Appendix C lets a target omit it when it is
   * reached through the portal the discovery session uses. Without this option such targets keep an
   * empty portal list.
   */
  discoveryPortal?: { host: string; port: number };
  /**
   * Called for each part of the answer left out: a TargetName that is not an iSCSI name (its addresses go
   * with it), a TargetAddress that does not parse. A target with only bad addresses is left out too. The
   * rest of the answer is used: one bad target must not hide the good ones.
   */
  onSkip?: (skipped: SkippedTarget) => void;
}

/** One line for a skipped target: the name quoted (it may hold anything a target sent), the address, why. */
export function describeSkipped(s: SkippedTarget): string {
  return `skipped target ${JSON.stringify(s.target)}${s.address !== undefined ? ` address ${JSON.stringify(s.address)}` : ''}: ${s.why}`;
}

/** What parseSendTargets left out of an answer, and why. */
export interface SkippedTarget {
  /** The TargetName (as sent, possibly hostile: print it with JSON.stringify). */
  target: string;
  /** The TargetAddress left out, when only an address was bad. */
  address?: string;
  why: string;
}

/**
 * Turns SendTargets answer pairs into targets with their portals (Appendix C): each TargetName starts a
 * record, the TargetAddress keys after it belong to it. Other keys (TargetAlias, vendor keys) are skipped.
 * A target named twice is merged; a portal listed twice is kept once.
 */
export function parseSendTargets(pairs: readonly TextPair[], options: ParseSendTargetsOptions = {}): DiscoveredTarget[] {
  const targets: DiscoveredTarget[] = [];
  const byName = new Map<string, DiscoveredTarget>();
  let current: DiscoveredTarget | undefined;
  /** Inside a skipped target: its addresses are skipped with it. */
  let skipping = false;
  const hadBadAddress = new Set<DiscoveredTarget>();
  for (const [key, value] of pairs) {
    if (key === 'TargetName') {
      // §13.4 / §4.2.7: a TargetName is an iSCSI name; anything else (a newline, a path) is not stored.
      const why = iscsiNameProblem(value);
      if (why !== undefined) {
        options.onSkip?.({ target: value, why: `TargetName ${why}` });
        current = undefined;
        skipping = true;
        continue;
      }
      skipping = false;
      current = byName.get(value);
      if (!current) {
        current = { targetName: value, portals: [] };
        byName.set(value, current);
        targets.push(current);
      }
    } else if (key === 'TargetAddress') {
      // Appendix C: addresses follow the TargetName they belong to.
      if (skipping) continue;
      if (!current) throw new ProtocolError('SendTargets answer has a TargetAddress before any TargetName (RFC 7143 Appendix C)');
      let a: TargetAddress;
      try {
        a = parseTargetAddress(value);
      } catch (err) {
        options.onSkip?.({ target: current.targetName, address: value, why: (err as Error).message });
        hadBadAddress.add(current);
        continue;
      }
      const portal: Portal = { host: a.host, port: a.port, tpgt: a.tpgt ?? UNKNOWN_TPGT };
      if (!current.portals.some((p) => p.host === portal.host && p.port === portal.port && p.tpgt === portal.tpgt))
        current.portals.push(portal);
    }
  }
  // A target whose every address was bad did say where it is: not at the discovery portal.
  const usable = targets.filter((t) => {
    if (t.portals.length > 0 || !hadBadAddress.has(t)) return true;
    options.onSkip?.({ target: t.targetName, why: 'no usable TargetAddress' });
    return false;
  });
  if (options.discoveryPortal) {
    const { host, port } = options.discoveryPortal;
    for (const t of usable) if (t.portals.length === 0) t.portals.push({ host, port, tpgt: UNKNOWN_TPGT });
  }
  return usable;
}

/** Parses a SendTargets Text Response's joined data segment with the SendTargets value cap. */
export function parseSendTargetsText(data: Buffer, options: ParseSendTargetsOptions = {}): DiscoveredTarget[] {
  return parseSendTargets(parseTextData(data, { maxValueLength: SEND_TARGETS_MAX_VALUE_LENGTH }), options);
}

function isIpv6(host: string): boolean {
  return host.includes(':');
}

/** "127.0.0.1:3260" or "[::1]:3260". */
export function formatHostPort(host: string, port: number): string {
  return isIpv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** iscsiadm's discovery and node listing form: "127.0.0.1:3260,1", "[::1]:3260,1". */
export function formatPortal(portal: Portal): string {
  return `${formatHostPort(portal.host, portal.port)},${portal.tpgt}`;
}

/** A TargetAddress value (§13.8): "host:port,tpgt", the tag left out when unknown. */
export function formatTargetAddress(address: TargetAddress): string {
  const hp = formatHostPort(address.host, address.port);
  return address.tpgt === undefined || address.tpgt < 0 ? hp : `${hp},${address.tpgt}`;
}

/** open-iscsi's node record directory name: "127.0.0.1,3260,1", IPv6 unbracketed ("fe80::1,3260,1"). */
export function formatPortalRecordName(portal: Portal): string {
  return `${portal.host},${portal.port},${portal.tpgt}`;
}
