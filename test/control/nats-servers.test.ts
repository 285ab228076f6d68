/**
 * The NATS server list helpers without the NATS client (src/control/nats-servers.ts): the TCP probe that lets
 * mpiscsiadm's in-use check skip loading NATS when no server listens, against real loopback sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import { anyServerListening, parseServers, redactUrl } from '../../src/control/nats-servers.js';
import { freePort } from '../support/ports.js';

const servers: Server[] = [];

/** A TCP listener on a free loopback port (what the probe must see as a server), or on ::1. */
function listen(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s) => s.destroy());
    servers.push(srv);
    srv.once('error', reject);
    srv.listen({ host, port: 0 }, () => resolve((srv.address() as { port: number }).port));
  });
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('anyServerListening', () => {
  it('is false when every server refuses the connection', async () => {
    const [a, b] = [await freePort(), await freePort()];
    expect(await anyServerListening(parseServers(`nats://127.0.0.1:${a},127.0.0.1:${b}`), 3000)).toBe(false);
  });

  it('is true when one of the servers accepts, whichever', async () => {
    const down = await freePort();
    const up = await listen();
    expect(await anyServerListening(parseServers(`127.0.0.1:${down},nats://127.0.0.1:${up}`), 3000)).toBe(true);
    expect(await anyServerListening(parseServers(`127.0.0.1:${up},127.0.0.1:${down}`), 3000)).toBe(true);
  });

  it('reads credentials, tls:// and a bracketed IPv6 host out of the URL', async () => {
    const up = await listen('::1');
    expect(await anyServerListening([`tls://u:p@[::1]:${up}`], 3000)).toBe(true);
    const down = await freePort('::1');
    expect(await anyServerListening([`nats://u:p@[::1]:${down}`], 3000)).toBe(false);
  });

  it('leaves a URL it cannot read to the NATS client (true: worth trying)', async () => {
    expect(await anyServerListening(['nats://[bad'], 3000)).toBe(true);
  });
});

describe('parseServers and redactUrl', () => {
  it('give bare host:port nats:// and hide user:pass', () => {
    expect(parseServers(' a:1 , tls://b:2')).toEqual(['nats://a:1', 'tls://b:2']);
    expect(parseServers('')).toEqual(['nats://127.0.0.1:4222']);
    expect(redactUrl('nats://user:secret@h:4222')).toBe('nats://***@h:4222');
  });
});
