/**
 * A login that reaches something other than an iSCSI target (src/session/open.ts): NoIscsiTargetError with
 * what the peer sent, against loopback servers that speak first, answer garbage, or start a Login Response.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { describeBytes, NoIscsiTargetError, openSession } from '../../src/session/open.js';
import { TransportError } from '../../src/iscsi/errors.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A loopback server that greets each connection with `greeting` and then (optionally) hangs up. */
async function peer(greeting: Buffer | string, hangUp: boolean): Promise<number> {
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {});
    socket.write(greeting);
    if (hangUp) socket.end();
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

const login = (port: number) =>
  openSession({ host: '127.0.0.1', port, targetName: 'iqn.2026-12.test:t', initiatorName: 'iqn.2026-12.test:i', loginTimeoutMs: 5000 });

describe('describeBytes', () => {
  it('quotes the first line of text, cut at 60 characters', () => {
    expect(describeBytes(Buffer.from('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'))).toBe(
      'it sent "HTTP/1.1 400 Bad Request", not an iSCSI Login Response',
    );
    expect(describeBytes(Buffer.from(`INFO ${'x'.repeat(70)}`))).toBe(`it sent "INFO ${'x'.repeat(55)}...", not an iSCSI Login Response`);
  });

  it('shows binary bytes in hex, with + when more came than were kept', () => {
    expect(describeBytes(Buffer.from([0x16, 0x03, 0x01, 0x00]))).toBe('it sent 4 bytes starting 16 03 01 00, not an iSCSI Login Response');
    expect(describeBytes(Buffer.alloc(64, 0xff))).toBe(`it sent 64+ bytes starting ${'ff '.repeat(15)}ff, not an iSCSI Login Response`);
  });
});

describe('openSession against a peer that is not an iSCSI target', () => {
  it("a banner longer than a header (NATS INFO): named, the framer's complaint kept as the cause", async () => {
    const port = await peer(`INFO {"server_id":"N1","version":"2.10.0","proto":1,"max_payload":1048576}\r\n`, false);
    const err = await login(port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoIscsiTargetError);
    expect(err).toBeInstanceOf(TransportError);
    expect((err as Error).message).toBe(
      `no iSCSI target at 127.0.0.1:${port}: it sent "INFO {"server_id":"N1","version":"2.10.0","proto":1,"max_pay...", not an iSCSI Login Response`,
    );
    expect(((err as Error).cause as Error).message).toMatch(/DataSegmentLength \d+ exceeds MaxRecvDataSegmentLength/);
  });

  it('fewer bytes than a header, then a close (an SSH banner)', async () => {
    const port = await peer('SSH-2.0-OpenSSH_9.2\r\n', true);
    await expect(login(port)).rejects.toThrow(
      `no iSCSI target at 127.0.0.1:${port}: it sent "SSH-2.0-OpenSSH_9.2", not an iSCSI Login Response`,
    );
  });

  it('the start of a Login Response cut short is a target that dropped us, not "no iSCSI target"', async () => {
    const port = await peer(Buffer.from([0x23, 0x87, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]), true);
    const err = await login(port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(NoIscsiTargetError);
  });

  it('a peer that says nothing and hangs up keeps the error it gave', async () => {
    const port = await peer('', true);
    const err = await login(port).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(NoIscsiTargetError);
    expect((err as Error).message).toMatch(/connection closed/);
  });
});
