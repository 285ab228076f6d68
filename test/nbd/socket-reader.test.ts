/**
 * adoptAccepted on this Node: an accepted socket (TCP and unix) is moved onto the shared receive buffer (so the
 * NBD server does not silently fall back to a fresh buffer per read), reads can go straight into a target
 * buffer, a half-close still arrives as 'end' and replies still leave, and server.close() waits for the adopted
 * connection exactly once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RECV_ARRAY_BUFFER, adoptAccepted } from '../../src/nbd/socket-reader.js';
import { readerOf } from '../../src/session/socket-reader.js';

const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function listen(server: Server, where: 'tcp' | 'unix'): Promise<() => Socket> {
  return new Promise((resolve) => {
    if (where === 'unix') {
      const path = join(dir, 's.sock');
      server.listen(path, () => resolve(() => connect(path)));
    } else
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        resolve(() => connect(port, '127.0.0.1'));
      });
  });
}

describe.each(['tcp', 'unix'] as const)('adoptAccepted over %s', (where) => {
  it('reads into the shared buffer and a target, sees the half-close, replies, and lets the server close', async () => {
    const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) & 0xff));
    const received: Buffer[] = [];
    const target = Buffer.alloc(50_000);
    let targetFilled = 0;
    let sharedReads = 0;
    const done = new Promise<{ socket: Socket; reader: boolean }>((resolve) => {
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
        const socket = adoptAccepted(accepted, true);
        const reader = readerOf(socket);
        if (reader) {
          reader.handler = (chunk) => {
            expect(chunk.buffer).toBe(RECV_ARRAY_BUFFER);
            sharedReads++;
            received.push(Buffer.from(chunk));
          };
          // After the first read, the next ones go into `target` until it is full.
          reader.target = () => (sharedReads > 0 && targetFilled < target.length ? target.subarray(targetFilled) : undefined);
          reader.direct = (n) => {
            received.push(Buffer.from(target.subarray(targetFilled, targetFilled + n)));
            targetFilled += n;
          };
        }
        socket.on('end', () => socket.end('bye'));
        socket.on('close', () => server.close(() => resolve({ socket, reader: reader !== undefined })));
      });
      void listen(server, where).then((dial) => {
        const c = dial();
        c.on('connect', () => c.end(payload));
        const back: Buffer[] = [];
        c.on('data', (d: Buffer) => back.push(d));
        c.on('close', () => expect(Buffer.concat(back).toString()).toBe('bye'));
      });
    });
    const { reader } = await done;
    expect(reader).toBe(true);
    expect(targetFilled).toBe(target.length);
    expect(Buffer.concat(received).equals(payload)).toBe(true);
  });
});
