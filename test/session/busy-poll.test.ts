/**
 * Busy polling (src/session/busy-poll.ts): a read on a socket made with userBufferReads starts it, it keeps
 * the loop turning while few commands are outstanding, it stops when more are outstanding than its depth and
 * when its window has passed, and the process-wide settings refuse what they cannot take.
 */
import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  busyPoll,
  commandsOutstanding,
  configureBusyPoll,
  DEFAULT_BUSY_POLL,
  isPolling,
  MAX_BUSY_POLL_US,
  outstandingCommands,
  readHappened,
} from '../../src/session/busy-poll.js';
import { attachReader, readerOf, userBufferReads } from '../../src/session/socket-reader.js';

/** Turns of the event loop until `done()` holds (each turn one setImmediate); fails after `max` turns. */
async function turnsUntil(done: () => boolean, max = 1_000_000): Promise<number> {
  for (let n = 0; n < max; n++) {
    if (done()) return n;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`still not done after ${max} turns`);
}

afterEach(async () => {
  configureBusyPoll({ windowUs: 0, maxDepth: 0 });
  await turnsUntil(() => !isPolling());
  commandsOutstanding(-outstandingCommands());
});

describe('configureBusyPoll', () => {
  it('takes 0..MAX_BUSY_POLL_US µs and a depth of 0 or more, and refuses the rest', () => {
    configureBusyPoll(DEFAULT_BUSY_POLL);
    expect(busyPoll()).toEqual(DEFAULT_BUSY_POLL);
    configureBusyPoll({ windowUs: MAX_BUSY_POLL_US, maxDepth: 0 });
    expect(busyPoll()).toEqual({ windowUs: MAX_BUSY_POLL_US, maxDepth: 0 });
    for (const bad of [-1, 1.5, MAX_BUSY_POLL_US + 1, Number.NaN])
      expect(() => configureBusyPoll({ windowUs: bad, maxDepth: 4 }), String(bad)).toThrow(RangeError);
    expect(() => configureBusyPoll({ windowUs: 10, maxDepth: -1 })).toThrow(/depth/);
  });

  it('is off unless configured: a read does not start it', () => {
    configureBusyPoll({ windowUs: 0, maxDepth: 4 });
    readHappened();
    expect(isPolling()).toBe(false);
  });
});

describe('polling', () => {
  it('goes on while at most maxDepth commands are outstanding and stops when more are', async () => {
    configureBusyPoll({ windowUs: MAX_BUSY_POLL_US, maxDepth: 2 });
    commandsOutstanding(2);
    readHappened();
    expect(isPolling()).toBe(true);
    // Still polling some turns later (the window is far longer than a few turns).
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(isPolling()).toBe(true);
    commandsOutstanding(1);
    await turnsUntil(() => !isPolling(), 3);
    // Above the depth a read does not start it again; back at the depth it does.
    readHappened();
    expect(isPolling()).toBe(false);
    commandsOutstanding(-3);
    readHappened();
    expect(isPolling()).toBe(true);
  });

  it('stops once its window has passed without a read', async () => {
    configureBusyPoll({ windowUs: 1, maxDepth: 4 });
    readHappened();
    expect(isPolling()).toBe(true);
    await turnsUntil(() => !isPolling());
  });

  it('starts on a read of a socket made with userBufferReads', async () => {
    configureBusyPoll({ windowUs: MAX_BUSY_POLL_US, maxDepth: 4 });
    const shared = Buffer.alloc(4096);
    const got = new Promise<{ client: Socket; data: string; polling: boolean }>((resolve) => {
      const server = createServer((s) => s.end('hello'));
      server.listen(0, '127.0.0.1', () => {
        const { reader, onread } = userBufferReads(shared);
        const client = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', onread });
        attachReader(client, reader);
        let data = '';
        readerOf(client)!.handler = (chunk) => {
          data += chunk.toString();
        };
        client.on('end', () => {
          server.close();
          resolve({ client, data, polling: isPolling() });
        });
      });
    });
    const { client, data, polling } = await got;
    client.destroy();
    expect(data).toBe('hello');
    expect(polling).toBe(true);
  });
});
