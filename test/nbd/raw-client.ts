/**
 * A raw NBD client for tests, built on the codec: sends exactly the bytes a test asks for and hands back what the
 * server sends, message by message (ServerStreamDecoder), so tests can check every reply and misbehave on purpose.
 */
import { connect, type Socket } from 'node:net';
import {
  ServerStreamDecoder,
  encodeClientFlags,
  encodeInfoRequest,
  encodeOption,
  encodeRequest,
  type RequestHeader,
  type ServerMessage,
} from '../../src/nbd/codec.js';
import * as C from '../../src/nbd/constants.js';

export type Address = { path: string } | { host: string; port: number };

export interface Reply {
  cookie: bigint;
  error: number;
  data?: Buffer;
  /** Structured chunks received for this cookie (empty for a simple reply). */
  chunks: Extract<ServerMessage, { type: 'chunk' }>[];
  /** Error message of an ERROR chunk. */
  message?: string;
}

export class RawClient {
  private readonly decoder: ServerStreamDecoder;
  private readonly messages: ServerMessage[] = [];
  private waiters: (() => void)[] = [];
  private readonly readLengths = new Map<bigint, number>();
  private nextCookie = 1n;
  error: Error | undefined;
  ended = false;
  handshakeFlags = 0;
  transmissionFlags = 0;
  size = 0n;
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    this.decoder = new ServerStreamDecoder((cookie) => this.readLengths.get(cookie));
    socket.on('data', (chunk: Buffer) => {
      this.decoder.push(chunk);
      try {
        for (let m = this.decoder.next(); m; m = this.decoder.next()) this.messages.push(m);
      } catch (err) {
        this.error = err as Error;
        socket.destroy();
      }
      this.wake();
    });
    socket.on('error', (err) => {
      this.error ??= err;
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.wake();
        resolve();
      }),
    );
  }

  /** Connects and reads the greeting. */
  static async connect(address: Address): Promise<RawClient> {
    const socket = connect(address);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawClient(socket);
    const g = await c.next();
    if (g.type !== 'greeting') throw new Error(`expected greeting, got ${g.type}`);
    c.handshakeFlags = g.handshakeFlags;
    return c;
  }

  /** Connects, sends client flags and NBD_OPT_GO (after NBD_OPT_STRUCTURED_REPLY when asked). */
  static async open(address: Address, name: string, opts: { structured?: boolean } = {}): Promise<RawClient> {
    const c = await RawClient.connect(address);
    c.send(encodeClientFlags(C.NBD_FLAG_C_FIXED_NEWSTYLE | C.NBD_FLAG_C_NO_ZEROES));
    if (opts.structured) {
      const [r] = await c.option(C.NBD_OPT_STRUCTURED_REPLY);
      if (r.replyType !== C.NBD_REP_ACK) throw new Error('structured replies refused');
    }
    const replies = await c.option(C.NBD_OPT_GO, encodeInfoRequest({ name, infos: [C.NBD_INFO_BLOCK_SIZE] }));
    const last = replies[replies.length - 1];
    if (last.replyType !== C.NBD_REP_ACK) throw new Error(`NBD_OPT_GO failed: ${C.replyName(last.replyType)} ${last.data.toString()}`);
    const exp = replies.find((r) => r.replyType === C.NBD_REP_INFO && r.data.readUInt16BE(0) === C.NBD_INFO_EXPORT)!;
    c.size = exp.data.readBigUInt64BE(2);
    c.transmissionFlags = exp.data.readUInt16BE(10);
    c.decoder.enterTransmission();
    return c;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next message from the server; rejects when the connection closes first or after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.shift();
      if (m) return m;
      if (this.ended) throw new Error(`connection closed${this.error ? `: ${this.error.message}` : ''}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for the server');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends an option and collects its replies up to the final one (ACK or error; LIST/INFO send several). */
  async option(option: number, data?: Buffer): Promise<Extract<ServerMessage, { type: 'optionReply' }>[]> {
    this.send(encodeOption(option, data));
    const out: Extract<ServerMessage, { type: 'optionReply' }>[] = [];
    for (;;) {
      const m = await this.next();
      if (m.type !== 'optionReply') throw new Error(`expected an option reply, got ${m.type}`);
      out.push(m);
      if (m.replyType !== C.NBD_REP_SERVER && m.replyType !== C.NBD_REP_INFO) return out;
    }
  }

  /** NBD_OPT_GO succeeded (sent by the test itself): what follows are transmission replies. */
  enterTransmission(): void {
    this.decoder.enterTransmission();
  }

  /** The client sent NBD_OPT_EXPORT_NAME itself: the next bytes are that reply. */
  expectExportNameReply(noZeroes: boolean): void {
    this.decoder.expectExportNameReply(noZeroes);
  }

  /** Sends a request; returns its cookie. READ lengths are remembered to frame simple replies. */
  request(h: Partial<RequestHeader> & { type: number }, data?: Buffer): bigint {
    const cookie = h.cookie ?? this.nextCookie++;
    const header: RequestHeader = {
      flags: h.flags ?? 0,
      type: h.type,
      cookie,
      offset: h.offset ?? 0n,
      length: h.length ?? data?.length ?? 0,
    };
    if (header.type === C.NBD_CMD_READ) this.readLengths.set(cookie, header.length);
    this.send(encodeRequest(header, data));
    return cookie;
  }

  /** Reads replies until every cookie in `cookies` is answered (structured: up to the DONE chunk); in arrival order. */
  async replies(cookies: bigint[], timeoutMs = 10_000): Promise<Reply[]> {
    const want = new Set(cookies);
    const partial = new Map<bigint, Reply>();
    const done: Reply[] = [];
    while (want.size > 0) {
      const m = await this.next(timeoutMs);
      if (m.type === 'simpleReply') {
        if (!want.has(m.cookie)) throw new Error(`unexpected reply for cookie ${m.cookie}`);
        want.delete(m.cookie);
        this.readLengths.delete(m.cookie);
        done.push({ cookie: m.cookie, error: m.error, ...(m.data ? { data: m.data } : {}), chunks: [] });
      } else if (m.type === 'chunk') {
        if (!want.has(m.cookie)) throw new Error(`unexpected chunk for cookie ${m.cookie}`);
        const r = partial.get(m.cookie) ?? { cookie: m.cookie, error: 0, chunks: [] };
        partial.set(m.cookie, r);
        r.chunks.push(m);
        if (m.chunkType === C.NBD_REPLY_TYPE_OFFSET_DATA) r.data = Buffer.concat([r.data ?? Buffer.alloc(0), m.payload.subarray(8)]);
        if ((m.chunkType & 0x8000) !== 0) {
          r.error = m.payload.readUInt32BE(0);
          r.message = m.payload.subarray(6, 6 + m.payload.readUInt16BE(4)).toString('utf8');
        }
        if (m.flags & C.NBD_REPLY_FLAG_DONE) {
          want.delete(m.cookie);
          partial.delete(m.cookie);
          done.push(r);
        }
      } else throw new Error(`unexpected ${m.type} in transmission`);
    }
    return done;
  }

  /** One request and its reply. */
  async call(h: Partial<RequestHeader> & { type: number }, data?: Buffer): Promise<Reply> {
    const cookie = this.request(h, data);
    const [r] = await this.replies([cookie]);
    return r;
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
