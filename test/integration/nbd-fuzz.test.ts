/**
 * The NBD server under a fuzzed client (fast-check): raw clients send random client flags, options (valid, random
 * codes, malformed, oversized), then random requests (any command, flags, offsets, lengths) and garbage, to export
 * "fuzz" (a tgtd LUN through ScsiBlockDevice). Every option and every well-framed request must get its answer,
 * errors only of the kinds the spec names, and malformed framing only a dropped connection. Meanwhile fio with
 * crc32c verification runs on export "steady" (another LUN, same session and server) and must see no error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeClientFlags, encodeInfoRequest, encodeOption } from '../../src/nbd/codec.js';
import * as C from '../../src/nbd/constants.js';
import { NbdServer, type ListeningAddresses } from '../../src/nbd/server.js';
import { openSession } from '../../src/session/open.js';
import { ScsiBlockDevice } from '../../src/session/scsi-block-device.js';
import type { Session } from '../../src/session/session.js';
import { RawClient, type Reply } from '../nbd/raw-client.js';
import { fio, nbdinfo } from '../support/nbd-clients.js';
import { Tgtd } from '../support/tgtd.js';

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
const IQN = 'iqn.2026-11.test:nbd-fuzz';

let tgtd: Tgtd;
let session: Session;
let server: NbdServer;
let addrs: ListeningAddresses;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-nbd-fuzz-'));
  tgtd = await Tgtd.start();
  const tid = await tgtd.addTarget(IQN, [{ size: SIZE }, { size: SIZE }]);
  await tgtd.tgtadm(['--op', 'update', '--mode', 'logicalunit', '--tid', String(tid), '--lun', '1', '--params', 'thin_provisioning=1']);
  ({ session } = await openSession({ host: tgtd.host, port: tgtd.port, targetName: IQN, initiatorName: 'iqn.2026-11.test:nbd-fuzzer' }));
  server = new NbdServer({ shutdownGraceMs: 50, handshakeTimeoutMs: 5000 });
  server.addExport('fuzz', await ScsiBlockDevice.open(session, 1));
  server.addExport('steady', await ScsiBlockDevice.open(session, 2));
  addrs = await server.listen({ socketPath: join(dir, 'nbd.sock') });
});

afterAll(async () => {
  await server?.close();
  await session?.logout().catch(() => {});
  await tgtd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type FuzzOption =
  | { kind: 'go' | 'info'; name: string; infos: number[] }
  | { kind: 'exportName'; name: string }
  | { kind: 'list' | 'structured' | 'abort' }
  | { kind: 'random'; option: number; data: Uint8Array }
  | { kind: 'oversize'; option: number }
  | { kind: 'garbage'; bytes: Uint8Array };

type FuzzRequest =
  | { kind: 'request'; type: number; flags: number; offset: bigint; length: number }
  | { kind: 'write'; flags: number; offset: bigint; length: number }
  | { kind: 'disc' }
  | { kind: 'garbage'; bytes: Uint8Array };

interface Scenario {
  clientFlags: number;
  options: FuzzOption[];
  requests: FuzzRequest[];
}

const name = fc.oneof(
  fc.constantFrom('fuzz', 'fuzz', 'fuzz', 'steady-not', ''),
  fc.string({ maxLength: 8 }).filter((s) => !s.includes('\0')),
);
const optionArb: fc.Arbitrary<FuzzOption> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant('go' as const), name, infos: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('info' as const), name, infos: fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 4 }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('exportName' as const), name }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('list' as const, 'structured' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('random' as const),
      option: fc
        .oneof(fc.integer({ min: 0, max: 14 }), fc.nat())
        .filter((o) => ![C.NBD_OPT_EXPORT_NAME, C.NBD_OPT_ABORT, C.NBD_OPT_GO].includes(o)),
      data: fc.uint8Array({ maxLength: 64 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('oversize' as const), option: fc.constantFrom(C.NBD_OPT_INFO, C.NBD_OPT_LIST, 99) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }) },
);

const offsetArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: SIZE / 512 - 1 }).map((b) => BigInt(b * 512)) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
  { weight: 1, arbitrary: fc.integer({ min: SIZE - 4096, max: SIZE + 4096 }).map(BigInt) },
);
const lengthArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 256 }).map((k) => k * 512) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 511, 33 * MiB, 0xffffffff) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 70000 }) },
);
const flagsArb = fc.oneof(
  { weight: 10, arbitrary: fc.constant(0) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      C.NBD_CMD_FLAG_FUA,
      C.NBD_CMD_FLAG_NO_HOLE,
      C.NBD_CMD_FLAG_DF,
      C.NBD_CMD_FLAG_FAST_ZERO,
      C.NBD_CMD_FLAG_REQ_ONE,
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);
const requestArb: fc.Arbitrary<FuzzRequest> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('request' as const),
      type: fc.oneof(
        {
          weight: 8,
          arbitrary: fc.constantFrom(
            C.NBD_CMD_READ,
            C.NBD_CMD_FLUSH,
            C.NBD_CMD_TRIM,
            C.NBD_CMD_CACHE,
            C.NBD_CMD_WRITE_ZEROES,
            C.NBD_CMD_BLOCK_STATUS,
          ),
        },
        { weight: 1, arbitrary: fc.integer({ min: 8, max: 0xffff }) },
      ),
      flags: flagsArb,
      offset: offsetArb,
      length: lengthArb,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      flags: flagsArb,
      offset: offsetArb,
      length: fc.oneof(
        fc.integer({ min: 1, max: 128 }).map((k) => k * 512),
        fc.integer({ min: 0, max: 9000 }),
      ),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('disc' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }) },
);
const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  clientFlags: fc.oneof({ weight: 10, arbitrary: fc.constantFrom(1, 3) }, { weight: 1, arbitrary: fc.nat() }),
  options: fc.array(optionArb, { minLength: 1, maxLength: 6 }),
  requests: fc.array(requestArb, { maxLength: 30 }),
});

/** Errors the spec names for what a fuzzer can send to a healthy export (EIO would mean the LU failed). */
const ALLOWED = new Set([0, C.NBD_EPERM, C.NBD_EINVAL, C.NBD_ENOSPC, C.NBD_EOVERFLOW, C.NBD_ENOTSUP]);
const stats = { connections: 0, requests: 0, errors: new Map<number, number>(), transmission: 0, dropped: 0 };

async function closedWithin(c: RawClient, ms = 3000): Promise<void> {
  await Promise.race([c.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('server did not drop the connection')), ms))]);
}

/** The option code and data a scenario option sends. */
function optionBytes(o: Exclude<FuzzOption, { kind: 'garbage' | 'exportName' }>): [number, Buffer | undefined] {
  switch (o.kind) {
    case 'go':
    case 'info':
      return [o.kind === 'go' ? C.NBD_OPT_GO : C.NBD_OPT_INFO, encodeInfoRequest(o)];
    case 'list':
      return [C.NBD_OPT_LIST, undefined];
    case 'structured':
      return [C.NBD_OPT_STRUCTURED_REPLY, undefined];
    case 'abort':
      return [C.NBD_OPT_ABORT, undefined];
    case 'oversize':
      return [o.option, Buffer.alloc(70_000, 1)];
    case 'random':
      return [o.option, Buffer.from(o.data)];
  }
}

/** Plays one scenario; throws when the server misbehaves. */
async function play(s: Scenario): Promise<void> {
  stats.connections++;
  const c = await RawClient.connect({ path: addrs.socketPath! });
  try {
    c.send(encodeClientFlags(s.clientFlags));
    if ((s.clientFlags & ~3) !== 0) {
      stats.dropped++;
      return await closedWithin(c); // proto.md: unknown client flags MUST drop the connection
    }
    let transmission = false;
    let structured = false;
    for (const o of s.options) {
      if (o.kind === 'garbage') {
        c.send(Buffer.from(o.bytes));
        c.send(encodeOption(C.NBD_OPT_LIST)); // whatever the garbage was, the stream is now out of step
        stats.dropped++;
        return await closedWithin(c);
      }
      if (o.kind === 'exportName') {
        c.expectExportNameReply((s.clientFlags & 2) !== 0);
        c.send(encodeOption(C.NBD_OPT_EXPORT_NAME, Buffer.from(o.name)));
        if (o.name !== 'fuzz') {
          stats.dropped++;
          return await closedWithin(c); // cannot be answered with an error
        }
        const m = await c.next();
        expect(m.type).toBe('exportName');
        transmission = true;
        break;
      }
      const [option, data] = optionBytes(o);
      const replies = await c.option(option, data);
      const final = replies[replies.length - 1];
      expect(final.option).toBe(option);
      if (o.kind === 'abort') {
        expect(final.replyType).toBe(C.NBD_REP_ACK);
        return await closedWithin(c);
      }
      if (o.kind === 'structured' && final.replyType === C.NBD_REP_ACK) structured = true;
      if ((o.kind === 'go' || o.kind === 'info') && !['fuzz'].includes(o.name)) expect(final.replyType).toBe(C.NBD_REP_ERR_UNKNOWN);
      if (o.kind === 'oversize') expect(final.replyType).toBe(option === 99 ? C.NBD_REP_ERR_UNSUP : C.NBD_REP_ERR_TOO_BIG);
      if (o.kind === 'go' && final.replyType === C.NBD_REP_ACK) {
        c.enterTransmission();
        transmission = true;
        break;
      }
    }
    if (!transmission) return;
    stats.transmission++;
    const cookies: bigint[] = [];
    let ending: 'open' | 'disc' | 'garbage' = 'open';
    for (const r of s.requests) {
      if (r.kind === 'garbage') {
        c.send(Buffer.from(r.bytes));
        c.send(Buffer.alloc(28)); // make sure a whole (bad) header arrives
        ending = 'garbage';
        break;
      }
      if (r.kind === 'disc') {
        c.request({ type: C.NBD_CMD_DISC });
        ending = 'disc';
        break;
      }
      if (r.kind === 'write')
        cookies.push(c.request({ type: C.NBD_CMD_WRITE, flags: r.flags, offset: r.offset }, Buffer.alloc(r.length, 0x3c)));
      else cookies.push(c.request({ type: r.type, flags: r.flags, offset: r.offset, length: r.length }));
    }
    stats.requests += cookies.length;
    if (ending === 'garbage') {
      stats.dropped++;
      return await closedWithin(c); // a request with a bad magic cannot be framed: hard disconnect
    }
    // Every well-framed request is answered (before the close that DISC asks for), with an allowed error.
    const replies: Reply[] = await c.replies(cookies, 20_000);
    for (const r of replies) {
      expect(ALLOWED.has(r.error), `error ${r.error}: ${r.message ?? ''}`).toBe(true);
      stats.errors.set(r.error, (stats.errors.get(r.error) ?? 0) + 1);
      if (structured && r.error !== 0) expect(r.chunks.map((k) => k.chunkType)).toEqual([C.NBD_REPLY_TYPE_ERROR]);
    }
    if (ending === 'disc') await closedWithin(c);
  } finally {
    c.close();
  }
}

describe('NBD server under a fuzzed client', () => {
  it('answers every option and request with a spec error or drops only that client; fio on another export is unaffected', async () => {
    const uri = `nbd+unix:///steady?socket=${addrs.socketPath}`;
    let fioDone = false;
    const steady = fio({ uri, rw: 'randwrite', bs: '4k', iodepth: 32, size: '16M', verify: 'crc32c', fsync: 256 }).finally(() => {
      fioDone = true;
    });
    let runs = 0;
    // At least 150 scenarios, and keep going while fio is still running (bounded by the test timeout).
    while (runs < 150 || (!fioDone && runs < 2000)) {
      await fc.assert(fc.asyncProperty(scenarioArb, play), { numRuns: 25, endOnFailure: true });
      runs += 25;
    }
    const { job } = await steady;
    expect(job.error).toBe(0);
    expect(job.read.io_bytes).toBe(16 * MiB); // the whole verify pass
    // The fuzzed export still serves a well-behaved client.
    const info = await nbdinfo(`nbd+unix:///fuzz?socket=${addrs.socketPath}`);
    expect(info.exports[0]['export-size']).toBe(SIZE);
    console.log(
      `fuzz: ${stats.connections} connections (${stats.transmission} reached transmission, ${stats.dropped} dropped as the spec requires), ` +
        `${stats.requests} requests; replies by error: ${JSON.stringify(Object.fromEntries(stats.errors))}`,
    );
    expect(stats.transmission).toBeGreaterThan(20);
    // Every fuzz connection is gone (none leaked half-open).
    for (let i = 0; i < 100 && server.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.connectionCount).toBe(0);
    expect(stats.errors.get(0) ?? 0).toBeGreaterThan(50);
  });
});
