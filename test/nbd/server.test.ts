/**
 * NbdServer unit tests over a unix socket, with MemoryDevice exports and the raw codec client: handshake and
 * options (proto.md "Option types"), transmission flags from the device, requests in flight answered out of
 * order, simple and structured replies, every refused request answered with its error and the connection still
 * usable, FUA and FLUSH ordering, device errors through nbdErrno, backpressure, DISC, shutdown and removeExport.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import {
  encodeClientFlags,
  encodeExportNameReply,
  encodeInfoRequest,
  encodeOption,
  encodeRequest,
  parseInfo,
  parseServerEntry,
} from '../../src/nbd/codec.js';
import * as C from '../../src/nbd/constants.js';
import { NbdProtocolError } from '../../src/nbd/errors.js';
import { NbdServer, type NbdServerOptions } from '../../src/nbd/server.js';
import { TransportError } from '../../src/iscsi/errors.js';
import { CheckConditionError } from '../../src/scsi/errors.js';
import { encodeFixedSense, parseSense, SenseKey } from '../../src/scsi/sense.js';
import { MemoryDevice, SinkMemoryDevice, type MemoryDeviceOptions } from './memory-device.js';
import { RawClient, type Address } from './raw-client.js';

const MiB = 1024 * 1024;
let dir: string;
let server: NbdServer;
let addr: Address;

async function start(
  devices: Record<string, MemoryDevice>,
  options: NbdServerOptions = {},
  exportOpts: Record<string, { description?: string; fastZero?: boolean }> = {},
) {
  server = new NbdServer({ shutdownGraceMs: 50, ...options });
  for (const [name, dev] of Object.entries(devices)) server.addExport(name, dev, exportOpts[name]);
  const path = join(dir, 'nbd.sock');
  await server.listen({ socketPath: path });
  addr = { path };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-nbd-'));
});

afterEach(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Devices with submitRead/submitWrite (as ScsiBlockDevice) for the second run of the transmission tests. */
let sinkDevices = false;
const dev = (opts: MemoryDeviceOptions = {}, size = 4 * MiB) =>
  sinkDevices ? new SinkMemoryDevice(size, opts) : new MemoryDevice(size, opts);
const pattern = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
const handshake = async (c: RawClient, flags = C.NBD_FLAG_C_FIXED_NEWSTYLE | C.NBD_FLAG_C_NO_ZEROES) => c.send(encodeClientFlags(flags));

/** Resolves once `n` reads are in progress on `d` (checked as each read starts: a call counts from then). */
function whenReading(d: MemoryDevice, n: number): Promise<void> {
  if (d.active >= n) return Promise.resolve();
  const read = d.read.bind(d);
  return new Promise((resolve) => {
    d.read = (offset, length, into) => {
      const p = read(offset, length, into);
      if (d.active >= n) {
        d.read = read;
        resolve();
      }
      return p;
    };
  });
}

/**
 * Resolves once every byte `c` has sent is in the server's socket and the server has had a turn of the event
 * loop to read it: the write callback (the kernel has the bytes; the server is in this process), then two
 * macrotask turns, the first ending in a poll phase that delivers the server's readable event. What the server
 * was going to do with those bytes, it has done; no timer involved.
 */
async function delivered(c: RawClient): Promise<void> {
  await new Promise<void>((resolve, reject) => c.socket.write(Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
}

describe('handshake and options', () => {
  it('greets with FIXED_NEWSTYLE | NO_ZEROES; the unix socket is mode 0600', async () => {
    await start({ disk: dev() });
    const c = await RawClient.connect(addr);
    expect(c.handshakeFlags).toBe(C.NBD_FLAG_FIXED_NEWSTYLE | C.NBD_FLAG_NO_ZEROES);
    expect(statSync((addr as { path: string }).path).mode & 0o777).toBe(0o600);
    c.close();
  });

  it('drops a client that sets an unknown client flag', async () => {
    await start({ disk: dev() });
    const c = await RawClient.connect(addr);
    await handshake(c, 0x5);
    await c.closed;
  });

  it('LIST names every export with its description; LIST with data is NBD_REP_ERR_INVALID', async () => {
    await start({ a: dev(), b: dev({ description: 'bee' }) }, {}, { a: { description: 'first' } });
    const c = await RawClient.connect(addr);
    await handshake(c);
    const replies = await c.option(C.NBD_OPT_LIST);
    expect(replies.map((r) => r.replyType)).toEqual([C.NBD_REP_SERVER, C.NBD_REP_SERVER, C.NBD_REP_ACK]);
    expect(replies.slice(0, 2).map((r) => parseServerEntry(r.data))).toEqual([
      { name: 'a', description: 'first' },
      { name: 'b', description: 'bee' },
    ]);
    const [bad] = await c.option(C.NBD_OPT_LIST, Buffer.from('x'));
    expect(bad.replyType).toBe(C.NBD_REP_ERR_INVALID);
    c.close();
  });

  it('INFO answers EXPORT, NAME, DESCRIPTION and BLOCK_SIZE, and stays in negotiation', async () => {
    const d = dev({ preferredBlockSize: 65536, maxTransfer: MiB, description: 'LU 1' });
    await start({ disk: d });
    const c = await RawClient.connect(addr);
    await handshake(c);
    const replies = await c.option(C.NBD_OPT_INFO, encodeInfoRequest({ name: 'disk', infos: [C.NBD_INFO_NAME, C.NBD_INFO_DESCRIPTION] }));
    expect(replies[replies.length - 1].replyType).toBe(C.NBD_REP_ACK);
    const infos = replies.slice(0, -1).map((r) => parseInfo(r.data));
    expect(infos).toEqual([
      { type: C.NBD_INFO_EXPORT, size: BigInt(4 * MiB), transmissionFlags: expect.any(Number) },
      { type: C.NBD_INFO_NAME, name: 'disk' },
      { type: C.NBD_INFO_DESCRIPTION, description: 'LU 1' },
      { type: C.NBD_INFO_BLOCK_SIZE, minimum: 512, preferred: 65536, maximum: MiB },
    ]);
    // Still negotiating: another option works.
    const [ack] = await c.option(C.NBD_OPT_STRUCTURED_REPLY);
    expect(ack.replyType).toBe(C.NBD_REP_ACK);
    c.close();
  });

  it('unknown export is NBD_REP_ERR_UNKNOWN for INFO and GO; the client may then GO to a real one', async () => {
    await start({ disk: dev() });
    const c = await RawClient.connect(addr);
    await handshake(c);
    for (const opt of [C.NBD_OPT_INFO, C.NBD_OPT_GO]) {
      const [r] = await c.option(opt, encodeInfoRequest({ name: 'nope', infos: [] }));
      expect(r.replyType).toBe(C.NBD_REP_ERR_UNKNOWN);
    }
    const replies = await c.option(C.NBD_OPT_GO, encodeInfoRequest({ name: 'disk', infos: [] }));
    expect(replies[replies.length - 1].replyType).toBe(C.NBD_REP_ACK);
    c.close();
  });

  it('unsupported options get NBD_REP_ERR_UNSUP without dropping the client', async () => {
    await start({ disk: dev() });
    const c = await RawClient.connect(addr);
    await handshake(c);
    for (const opt of [
      C.NBD_OPT_STARTTLS,
      C.NBD_OPT_LIST_META_CONTEXT,
      C.NBD_OPT_SET_META_CONTEXT,
      C.NBD_OPT_EXTENDED_HEADERS,
      4,
      12,
      0xdeadbeef,
    ]) {
      const [r] = await c.option(opt, Buffer.alloc(3));
      expect(r.replyType, C.optionName(opt)).toBe(C.NBD_REP_ERR_UNSUP);
      expect(r.option).toBe(opt);
    }
    const replies = await c.option(C.NBD_OPT_GO, encodeInfoRequest({ name: 'disk', infos: [] }));
    expect(replies[replies.length - 1].replyType).toBe(C.NBD_REP_ACK);
    c.close();
  });

  it('malformed GO data is NBD_REP_ERR_INVALID; oversized option data is NBD_REP_ERR_TOO_BIG; both keep the client', async () => {
    await start({ disk: dev() }, { maxOptionLength: 1024 });
    const c = await RawClient.connect(addr);
    await handshake(c);
    const [invalid] = await c.option(C.NBD_OPT_GO, Buffer.from('0000000964', 'hex'));
    expect(invalid.replyType).toBe(C.NBD_REP_ERR_INVALID);
    const [tooBig] = await c.option(C.NBD_OPT_INFO, Buffer.alloc(5000));
    expect(tooBig.replyType).toBe(C.NBD_REP_ERR_TOO_BIG);
    const [structured] = await c.option(C.NBD_OPT_STRUCTURED_REPLY, Buffer.alloc(1));
    expect(structured.replyType).toBe(C.NBD_REP_ERR_INVALID);
    const replies = await c.option(C.NBD_OPT_GO, encodeInfoRequest({ name: 'disk', infos: [] }));
    expect(replies[replies.length - 1].replyType).toBe(C.NBD_REP_ACK);
    c.close();
  });

  it('EXPORT_NAME: reply with or without the zero padding; an unknown name drops the client', async () => {
    await start({ disk: dev({ readOnly: true }) });
    for (const noZeroes of [true, false]) {
      const c = await RawClient.connect(addr);
      await handshake(c, C.NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? C.NBD_FLAG_C_NO_ZEROES : 0));
      c.expectExportNameReply(noZeroes);
      c.send(encodeOption(C.NBD_OPT_EXPORT_NAME, Buffer.from('disk')));
      const m = await c.next();
      expect(m).toEqual({ type: 'exportName', size: BigInt(4 * MiB), transmissionFlags: expect.any(Number) });
      const flags = (m as { transmissionFlags: number }).transmissionFlags;
      expect(flags & C.NBD_FLAG_READ_ONLY).toBe(C.NBD_FLAG_READ_ONLY);
      expect(encodeExportNameReply(BigInt(4 * MiB), flags, noZeroes).length).toBe(noZeroes ? 10 : 134);
      const r = await c.call({ type: C.NBD_CMD_READ, offset: 0n, length: 512 });
      expect(r.error).toBe(0);
      c.close();
    }
    const bad = await RawClient.connect(addr);
    await handshake(bad);
    bad.send(encodeOption(C.NBD_OPT_EXPORT_NAME, Buffer.from('nope')));
    await bad.closed;
  });

  it('the empty name selects the only export', async () => {
    await start({ only: dev() });
    const c = await RawClient.open(addr, '');
    expect(c.size).toBe(BigInt(4 * MiB));
    c.close();
  });

  it('ABORT is acknowledged and the connection closes', async () => {
    await start({ disk: dev() });
    const c = await RawClient.connect(addr);
    await handshake(c);
    const [r] = await c.option(C.NBD_OPT_ABORT);
    expect(r.replyType).toBe(C.NBD_REP_ACK);
    await c.closed;
  });

  it('a client that never chooses an export is dropped when the handshake timeout expires, not before', async () => {
    const clock = new SimulatedClock();
    await start({ disk: dev() }, { handshakeTimeoutMs: 30_000, clock });
    // The greeting comes after the timer is armed.
    const c = await RawClient.connect(addr);
    await handshake(c);
    clock.increment(29_999);
    const replies = await c.option(C.NBD_OPT_LIST);
    expect(replies.at(-1)?.replyType).toBe(C.NBD_REP_ACK);
    clock.increment(1);
    await c.closed;
  });

  it('transmission flags tell what the device can do', async () => {
    const flagsOf = async (opts: MemoryDeviceOptions, structured = false, fastZero = false) => {
      await start({ d: dev(opts) }, {}, { d: { fastZero } });
      const c = await RawClient.open(addr, 'd', { structured });
      c.close();
      await server.close();
      return c.transmissionFlags;
    };
    const all = await flagsOf({}, true, true);
    expect(all).toBe(
      C.NBD_FLAG_HAS_FLAGS |
        C.NBD_FLAG_SEND_FLUSH |
        C.NBD_FLAG_SEND_FUA |
        C.NBD_FLAG_SEND_TRIM |
        C.NBD_FLAG_SEND_WRITE_ZEROES |
        C.NBD_FLAG_SEND_DF |
        C.NBD_FLAG_CAN_MULTI_CONN |
        C.NBD_FLAG_SEND_CACHE |
        C.NBD_FLAG_SEND_FAST_ZERO,
    );
    const plain = await flagsOf({ canFua: false, canTrim: false, canMultiConn: false });
    expect(plain).toBe(C.NBD_FLAG_HAS_FLAGS | C.NBD_FLAG_SEND_FLUSH | C.NBD_FLAG_SEND_WRITE_ZEROES | C.NBD_FLAG_SEND_CACHE);
    const ro = await flagsOf({ readOnly: true });
    expect(ro).toBe(
      C.NBD_FLAG_HAS_FLAGS | C.NBD_FLAG_READ_ONLY | C.NBD_FLAG_SEND_FLUSH | C.NBD_FLAG_CAN_MULTI_CONN | C.NBD_FLAG_SEND_CACHE,
    );
  });

  it('replaces a stale socket file but refuses a path someone listens on', async () => {
    const path = join(dir, 'stale.sock');
    const other = createServer();
    await new Promise<void>((r) => other.listen(path, r));
    const s1 = new NbdServer();
    await expect(s1.listen({ socketPath: path })).rejects.toThrow();
    await new Promise<void>((r) => other.close(() => r()));
    writeFileSync(join(dir, 'plain-file'), 'x');
    await expect(new NbdServer().listen({ socketPath: join(dir, 'plain-file') })).rejects.toThrow();
    // A socket file with no listener behind it (a crashed server) is replaced.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    expect(statSync(path).isSocket()).toBe(true);
    server = new NbdServer();
    server.addExport('x', dev());
    const bound = await server.listen({ socketPath: path, tcp: { port: 0 } });
    expect(bound.tcp?.host).toBe('127.0.0.1');
    const c = await RawClient.open({ host: '127.0.0.1', port: bound.tcp!.port }, 'x');
    c.close();
    const u = await RawClient.open({ path }, 'x');
    u.close();
  });
  it('close removes only the socket it bound: a file or another socket put in its place stays', async () => {
    const path = join(dir, 'own.sock');
    const s1 = new NbdServer();
    s1.addExport('x', dev());
    await s1.listen({ socketPath: path });
    rmSync(path);
    writeFileSync(path, 'not yours');
    await s1.close();
    expect(readFileSync(path, 'utf8')).toBe('not yours');
    rmSync(path);
    // Another socket under the same name (someone else's server) is not ours either.
    const s2 = new NbdServer();
    await s2.listen({ socketPath: path });
    rmSync(path);
    const other = createServer();
    await new Promise<void>((r) => other.listen(path, r));
    await s2.close();
    expect(statSync(path).isSocket()).toBe(true);
    await new Promise<void>((r) => other.close(() => r()));
    // And its own socket goes.
    server = new NbdServer();
    await server.listen({ socketPath: path });
    await server.close();
    expect(existsSync(path)).toBe(false);
  });
});

// Requests reach a device through its promises (read/write) or, where it has them, its sinks
// (submitRead/submitWrite: the SCSI export's path): every transmission and shutdown test runs over both.
describe.each([
  ['read()/write() promises', false],
  ['submitRead/submitWrite sinks', true],
])('device API: %s', (_api, sinks) => {
  beforeEach(() => {
    sinkDevices = sinks;
  });
  afterEach(() => {
    sinkDevices = false;
  });

  describe('transmission', () => {
    it('writes then reads back; many requests in flight are answered out of order', async () => {
      // The device answers later requests sooner: replies must come back in a different order, each correct.
      const d = dev({ latency: (call) => (call.op === 'read' ? 40 - (call.offset / 4096) * 4 : 0) });
      await start({ disk: d });
      const c = await RawClient.open(addr, 'disk');
      const writes = Array.from({ length: 10 }, (_, i) => c.request({ type: C.NBD_CMD_WRITE, offset: BigInt(i * 4096) }, pattern(4096, i)));
      expect((await c.replies(writes)).every((r) => r.error === 0)).toBe(true);
      const reads = Array.from({ length: 10 }, (_, i) => c.request({ type: C.NBD_CMD_READ, offset: BigInt(i * 4096), length: 4096 }));
      const replies = await c.replies(reads);
      expect(replies.map((r) => r.cookie)).not.toEqual(reads);
      for (const r of replies) expect(r.data!.equals(pattern(4096, reads.indexOf(r.cookie)))).toBe(true);
      expect(d.maxActive).toBeGreaterThan(5);
      c.close();
    });

    it('structured replies: READ gets one OFFSET_DATA chunk with DONE; errors get ERROR chunks with a message', async () => {
      const d = dev();
      d.data.fill(0x5a, 1024, 2048);
      await start({ disk: d });
      const c = await RawClient.open(addr, 'disk', { structured: true });
      const ok = await c.call({ type: C.NBD_CMD_READ, offset: 1024n, length: 1024, flags: C.NBD_CMD_FLAG_DF });
      expect(ok.chunks.map((k) => [k.chunkType, k.flags])).toEqual([[C.NBD_REPLY_TYPE_OFFSET_DATA, C.NBD_REPLY_FLAG_DONE]]);
      expect(ok.chunks[0].payload.readBigUInt64BE(0)).toBe(1024n);
      expect(ok.data!.equals(Buffer.alloc(1024, 0x5a))).toBe(true);
      const bad = await c.call({ type: C.NBD_CMD_READ, offset: BigInt(4 * MiB), length: 512 });
      expect(bad.chunks.map((k) => k.chunkType)).toEqual([C.NBD_REPLY_TYPE_ERROR]);
      expect(bad.error).toBe(C.NBD_EINVAL);
      expect(bad.message).toMatch(/past the end/);
      // Success of a non-read may be a simple reply.
      const w = await c.call({ type: C.NBD_CMD_WRITE, offset: 0n }, Buffer.alloc(512, 1));
      expect(w).toMatchObject({ error: 0, chunks: [] });
      c.close();
    });

    it.each([
      ['read past the end', { type: C.NBD_CMD_READ, offset: BigInt(4 * MiB - 512), length: 1024 }, C.NBD_EINVAL],
      ['read at a huge offset', { type: C.NBD_CMD_READ, offset: (1n << 63n) + 512n, length: 512 }, C.NBD_EINVAL],
      ['write past the end', { type: C.NBD_CMD_WRITE, offset: BigInt(4 * MiB) }, C.NBD_ENOSPC, 512],
      ['write zeroes past the end', { type: C.NBD_CMD_WRITE_ZEROES, offset: BigInt(4 * MiB), length: 512 }, C.NBD_ENOSPC],
      ['trim past the end', { type: C.NBD_CMD_TRIM, offset: BigInt(4 * MiB), length: 512 }, C.NBD_EINVAL],
      ['unaligned offset', { type: C.NBD_CMD_READ, offset: 100n, length: 512 }, C.NBD_EINVAL],
      // Offsets past 2^53 (not exact as numbers): alignment from the exact value, then past the end.
      ['read at 2^60', { type: C.NBD_CMD_READ, offset: 2n ** 60n, length: 512 }, C.NBD_EINVAL],
      ['write at 2^60', { type: C.NBD_CMD_WRITE, offset: 2n ** 60n }, C.NBD_ENOSPC, 512],
      ['write at 2^60 + 1 (unaligned)', { type: C.NBD_CMD_WRITE, offset: 2n ** 60n + 1n }, C.NBD_EINVAL, 512],
      ['unaligned length', { type: C.NBD_CMD_WRITE, offset: 0n }, C.NBD_EINVAL, 100],
      ['length 0', { type: C.NBD_CMD_READ, offset: 0n, length: 0 }, C.NBD_EINVAL],
      ['unknown command', { type: 42, offset: 0n, length: 512 }, C.NBD_EINVAL],
      ['BLOCK_STATUS without a meta context', { type: C.NBD_CMD_BLOCK_STATUS, offset: 0n, length: 512 }, C.NBD_EINVAL],
      ['unknown command flag', { type: C.NBD_CMD_READ, offset: 0n, length: 512, flags: 1 << 9 }, C.NBD_EINVAL],
      ['NO_HOLE on a read', { type: C.NBD_CMD_READ, offset: 0n, length: 512, flags: C.NBD_CMD_FLAG_NO_HOLE }, C.NBD_EINVAL],
      ['DF without structured replies', { type: C.NBD_CMD_READ, offset: 0n, length: 512, flags: C.NBD_CMD_FLAG_DF }, C.NBD_EINVAL],
      ['FLUSH with a length', { type: C.NBD_CMD_FLUSH, offset: 0n, length: 512 }, C.NBD_EINVAL],
      ['READ over the maximum payload', { type: C.NBD_CMD_READ, offset: 0n, length: 32 * MiB + 512 }, C.NBD_EOVERFLOW],
      [
        'FAST_ZERO where zeroing is not cheap',
        { type: C.NBD_CMD_WRITE_ZEROES, offset: 0n, length: 512, flags: C.NBD_CMD_FLAG_FAST_ZERO },
        C.NBD_ENOTSUP,
      ],
    ])('%s: error reply, and the connection stays usable', async (_name, req, errno, dataLength?: number) => {
      await start({ disk: dev() });
      const c = await RawClient.open(addr, 'disk');
      const r = await c.call(req, dataLength === undefined ? undefined : Buffer.alloc(dataLength));
      expect(r.error).toBe(errno);
      expect(r.data).toBeUndefined();
      const after = await c.call({ type: C.NBD_CMD_READ, offset: 0n, length: 512 });
      expect(after.error).toBe(0);
      c.close();
    });

    it('writes, trims and zeroes on a read-only export are EPERM', async () => {
      await start({ disk: dev({ readOnly: true }) });
      const c = await RawClient.open(addr, 'disk');
      expect((await c.call({ type: C.NBD_CMD_WRITE, offset: 0n }, Buffer.alloc(512))).error).toBe(C.NBD_EPERM);
      expect((await c.call({ type: C.NBD_CMD_TRIM, offset: 0n, length: 512 })).error).toBe(C.NBD_EPERM);
      expect((await c.call({ type: C.NBD_CMD_WRITE_ZEROES, offset: 0n, length: 512 })).error).toBe(C.NBD_EPERM);
      expect((await c.call({ type: C.NBD_CMD_READ, offset: 0n, length: 512 })).error).toBe(0);
      c.close();
    });

    it('a write over the maximum payload is EOVERFLOW; its payload is skipped and the stream stays in step', async () => {
      await start({ disk: dev() }, { maxPayload: 64 * 1024 });
      const c = await RawClient.open(addr, 'disk');
      const big = pattern(128 * 1024, 3);
      expect((await c.call({ type: C.NBD_CMD_WRITE, offset: 0n }, big)).error).toBe(C.NBD_EOVERFLOW);
      expect((await c.call({ type: C.NBD_CMD_WRITE, offset: 0n }, pattern(4096, 9))).error).toBe(0);
      expect((await c.call({ type: C.NBD_CMD_READ, offset: 0n, length: 4096 })).data!.equals(pattern(4096, 9))).toBe(true);
      c.close();
    });

    it('FUA: passed to a device that honours it; emulated with a flush otherwise; TRIM/WRITE_ZEROES + FUA flush', async () => {
      const fuaDev = dev();
      const noFuaDev = dev({ canFua: false });
      await start({ fua: fuaDev, nofua: noFuaDev });
      const a = await RawClient.open(addr, 'fua');
      await a.call({ type: C.NBD_CMD_WRITE, offset: 0n, flags: C.NBD_CMD_FLAG_FUA }, Buffer.alloc(512));
      expect(fuaDev.calls.map((k) => [k.op, k.fua])).toEqual([['write', true]]);
      await a.call({ type: C.NBD_CMD_TRIM, offset: 0n, length: 512, flags: C.NBD_CMD_FLAG_FUA });
      await a.call({ type: C.NBD_CMD_WRITE_ZEROES, offset: 0n, length: 512, flags: C.NBD_CMD_FLAG_FUA | C.NBD_CMD_FLAG_NO_HOLE });
      expect(fuaDev.calls.slice(1).map((k) => k.op)).toEqual(['trim', 'flush', 'writeZeroes', 'flush']);
      expect(fuaDev.calls[3].noHole).toBe(true);
      const b = await RawClient.open(addr, 'nofua');
      await b.call({ type: C.NBD_CMD_WRITE, offset: 0n, flags: C.NBD_CMD_FLAG_FUA }, Buffer.alloc(512));
      expect(noFuaDev.calls.map((k) => [k.op, k.fua ?? false])).toEqual([
        ['write', false],
        ['flush', false],
      ]);
      a.close();
      b.close();
    });

    it('FLUSH reaches the device only after the writes that arrived before it completed', async () => {
      let activeAtFlush = -1;
      const d: MemoryDevice = dev({
        latency: (call) => {
          if (call.op === 'flush') activeAtFlush = d.active;
          return call.op === 'write' ? 50 : 0;
        },
      });
      await start({ disk: d });
      const c = await RawClient.open(addr, 'disk');
      const w1 = c.request({ type: C.NBD_CMD_WRITE, offset: 0n }, Buffer.alloc(4096, 1));
      const w2 = c.request({ type: C.NBD_CMD_WRITE, offset: 8192n }, Buffer.alloc(4096, 2));
      const f = c.request({ type: C.NBD_CMD_FLUSH });
      const order = (await c.replies([w1, w2, f])).map((r) => r.cookie);
      expect(order[2]).toBe(f);
      expect(activeAtFlush).toBe(1); // only the flush itself
      c.close();
    });

    it('CACHE and WRITE_ZEROES reach the device; FAST_ZERO works where the export says zeroing is cheap', async () => {
      const d = dev();
      d.data.fill(9);
      await start({ disk: d }, {}, { disk: { fastZero: true } });
      const c = await RawClient.open(addr, 'disk');
      expect((await c.call({ type: C.NBD_CMD_CACHE, offset: 0n, length: 8192 })).error).toBe(0);
      expect((await c.call({ type: C.NBD_CMD_WRITE_ZEROES, offset: 4096n, length: 4096, flags: C.NBD_CMD_FLAG_FAST_ZERO })).error).toBe(0);
      expect(d.data.subarray(4096, 8192).equals(Buffer.alloc(4096))).toBe(true);
      expect(d.data[4095]).toBe(9);
      expect(d.calls.map((k) => [k.op, k.offset, k.length, k.noHole ?? null])).toEqual([
        ['cache', 0, 8192, null],
        ['writeZeroes', 4096, 4096, false],
      ]);
      c.close();
    });

    it('device errors become NBD errors through nbdErrno, and later requests still work', async () => {
      const sense = (key: number, asc: number) => new CheckConditionError(parseSense(encodeFixedSense({ key, asc, ascq: 0 })));
      const d = dev({
        fail: (call) =>
          call.offset === 512
            ? sense(SenseKey.MEDIUM_ERROR, 0x11)
            : call.offset === 1024
              ? sense(SenseKey.DATA_PROTECT, 0x27)
              : call.offset === 1536
                ? new TransportError('reset')
                : undefined,
      });
      await start({ disk: d });
      const c = await RawClient.open(addr, 'disk');
      expect((await c.call({ type: C.NBD_CMD_READ, offset: 512n, length: 512 })).error).toBe(C.NBD_EIO);
      expect((await c.call({ type: C.NBD_CMD_WRITE, offset: 1024n }, Buffer.alloc(512))).error).toBe(C.NBD_EPERM);
      expect((await c.call({ type: C.NBD_CMD_READ, offset: 1536n, length: 512 })).error).toBe(C.NBD_EIO);
      expect((await c.call({ type: C.NBD_CMD_READ, offset: 0n, length: 512 })).error).toBe(0);
      c.close();
    });

    it('a bad request magic drops that connection only (and is reported)', async () => {
      const dropped: unknown[] = [];
      await start({ disk: dev() }, { onClientDropped: (err, name) => dropped.push([err, name]) });
      const bad = await RawClient.open(addr, 'disk');
      const good = await RawClient.open(addr, 'disk');
      bad.send(Buffer.from('deadbeef00000000000000000000000000000000000000000000000000', 'hex'));
      await bad.closed;
      expect((await good.call({ type: C.NBD_CMD_READ, offset: 0n, length: 512 })).error).toBe(0);
      expect(dropped).toEqual([[expect.any(NbdProtocolError), 'disk']]);
      good.close();
    });

    it('backpressure: no more than maxInFlightRequests reach the device; all are answered', async () => {
      const d = dev();
      await start({ disk: d }, { maxInFlightRequests: 4 });
      const c = await RawClient.open(addr, 'disk');
      d.hold();
      const cookies = Array.from({ length: 40 }, (_, i) => c.request({ type: C.NBD_CMD_READ, offset: BigInt((i % 8) * 512), length: 512 }));
      await whenReading(d, 4);
      await delivered(c); // all 40 are at the server: a fifth would have reached the device by now
      expect(d.active).toBe(4);
      d.open();
      const replies = await c.replies(cookies);
      expect(replies.every((r) => r.error === 0)).toBe(true);
      expect(d.maxActive).toBe(4);
      c.close();
    });

    it('backpressure by bytes: a client that does not read its replies stops being read', async () => {
      const d = dev({}, 16 * MiB);
      await start({ disk: d }, { maxInFlightBytes: 4 * MiB });
      const c = await RawClient.open(addr, 'disk');
      c.socket.pause(); // read nothing
      for (let i = 0; i < 64; i++) c.request({ type: C.NBD_CMD_READ, offset: BigInt((i % 16) * MiB), length: MiB });
      await delivered(c); // all 64 are at the server; what it reads of them, it has read
      // Replies pile up in socket buffers, but the server stops taking requests well before all 64 MiB are owed.
      // 1 MiB + overhead each: the fifth request crosses 4 MiB; a few more may be in the read buffer already.
      expect(d.calls.length).toBeLessThanOrEqual(8);
      c.close();
    });

    it('DISC: outstanding requests are answered, then the server closes', async () => {
      const d = dev();
      await start({ disk: d });
      const c = await RawClient.open(addr, 'disk');
      d.hold();
      const r = c.request({ type: C.NBD_CMD_READ, offset: 0n, length: 512 });
      c.request({ type: C.NBD_CMD_DISC });
      await whenReading(d, 1);
      await delivered(c); // the DISC arrives while the read is outstanding
      d.open();
      const [reply] = await c.replies([r]);
      expect(reply.error).toBe(0);
      await c.closed;
    });
  });

  describe('shutdown', () => {
    it('close(): in-flight requests are answered, new ones get ESHUTDOWN, then the connection ends', async () => {
      const d = dev();
      await start({ disk: d });
      const c = await RawClient.open(addr, 'disk');
      d.hold();
      const first = c.request({ type: C.NBD_CMD_READ, offset: 0n, length: 512 });
      await whenReading(d, 1); // in flight when the server closes
      const closing = server.close();
      const second = c.request({ type: C.NBD_CMD_READ, offset: 512n, length: 512 });
      const [r2] = await c.replies([second]);
      expect(r2.error).toBe(C.NBD_ESHUTDOWN);
      d.open();
      const [r1] = await c.replies([first]);
      expect(r1.error).toBe(0);
      await c.closed;
      await closing;
    });

    it('close(): a client still negotiating gets NBD_REP_ERR_SHUTDOWN, ABORT still works', async () => {
      await start({ disk: dev() }, { shutdownGraceMs: 2000 });
      const c = await RawClient.connect(addr);
      await handshake(c);
      const closing = server.close();
      const [r] = await c.option(C.NBD_OPT_GO, encodeInfoRequest({ name: 'disk', infos: [] }));
      expect(r.replyType).toBe(C.NBD_REP_ERR_SHUTDOWN);
      const [ack] = await c.option(C.NBD_OPT_ABORT);
      expect(ack.replyType).toBe(C.NBD_REP_ACK);
      await c.closed;
      await closing;
    });

    it("removeExport shuts down that export's clients only", async () => {
      await start({ a: dev(), b: dev() });
      const a = await RawClient.open(addr, 'a');
      const b = await RawClient.open(addr, 'b');
      const removed = server.removeExport('a');
      expect((await a.call({ type: C.NBD_CMD_READ, offset: 0n, length: 512 })).error).toBe(C.NBD_ESHUTDOWN);
      await removed;
      await a.closed;
      expect((await b.call({ type: C.NBD_CMD_READ, offset: 0n, length: 512 })).error).toBe(0);
      const c = await RawClient.connect(addr);
      await handshake(c);
      const [r] = await c.option(C.NBD_OPT_GO, encodeInfoRequest({ name: 'a', infos: [] }));
      expect(r.replyType).toBe(C.NBD_REP_ERR_UNKNOWN);
      c.close();
      b.close();
    });

    it('requests after the client half-closes are still answered', async () => {
      await start({ disk: dev() });
      const c = await RawClient.open(addr, 'disk');
      const cookie = c.request({ type: C.NBD_CMD_READ, offset: 0n, length: 512 });
      c.socket.end();
      const [r] = await c.replies([cookie]);
      expect(r.error).toBe(0);
      await c.closed;
    });

    it('the raw request encoder and the server agree on a write with FUA (sanity of the test client)', () => {
      expect(encodeRequest({ flags: 1, type: 1, cookie: 1n, offset: 0n, length: 1 }, Buffer.from([7])).length).toBe(29);
    });
  });
});
