/**
 * The NATS server list as mpiscsi's settings and flags write it (a comma list, a bare host:port taking nats://),
 * its redacted form for log lines, and a TCP probe of it. No NATS client import here: the daemon's entry and
 * mpiscsiadm's offline record modes use these before (or instead of) loading @nats-io (issue 17, start time).
 */
import { connect } from 'node:net';

export const DEFAULT_NATS_SERVER = 'nats://127.0.0.1:4222';
/** The port of a nats:// or tls:// URL that names none (nats-server's client port). */
const DEFAULT_NATS_PORT = 4222;

/** Server URLs from a comma list; a bare host:port gets nats://. */
export function parseServers(servers: string | string[] | undefined): string[] {
  const list = (Array.isArray(servers) ? servers : (servers ?? '').split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (list.length === 0) return [DEFAULT_NATS_SERVER];
  return list.map((s) => (/^[a-z]+:\/\//i.test(s) ? s : `nats://${s}`));
}

/** nats://user:pass@host -> nats://***@host. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@]*@/, '//***@');
}

/** One server's TCP probe: true when something accepts a connection within timeoutMs. */
function listening(url: string, timeoutMs: number): Promise<boolean> {
  let host: string;
  let port: number;
  try {
    const u = new URL(url);
    host = u.hostname.replace(/^\[(.*)\]$/, '$1'); // [::1] -> ::1
    port = u.port === '' ? DEFAULT_NATS_PORT : Number(u.port);
  } catch {
    return Promise.resolve(true); // not ours to judge: the NATS client says what is wrong with the URL
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (up: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(up);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Whether any of `servers` accepts a TCP connection within timeoutMs (give the NATS connect timeout: a server
 * that does not accept within it cannot answer the client either). False means no NATS request can succeed, so
 * a caller whose question has a default answer without the daemon (mpiscsiadm's in-use check: no daemon, no
 * session) need not load the NATS client at all; true means only that a request is worth trying.
 */
export async function anyServerListening(servers: readonly string[], timeoutMs: number): Promise<boolean> {
  const probes = servers.map((s) => listening(s, timeoutMs));
  return new Promise((resolve) => {
    let left = probes.length;
    if (left === 0) resolve(false);
    for (const p of probes)
      void p.then((up) => {
        left--;
        if (up) resolve(true);
        else if (left === 0) resolve(false);
      });
  });
}
