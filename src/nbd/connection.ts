/**
 * One NBD client connection on the server side (proto.md "Fixed newstyle negotiation", "Transmission").
 *
 * States (the protocol state machine, documented before it is coded, as libnbd does):
 * - `handshake`: greeting sent; client flags, then options, each answered at once (the client waits for the
 *   final reply before the next option). Leaves on NBD_OPT_GO / NBD_OPT_EXPORT_NAME for a known export
 *   (-> transmission), NBD_OPT_ABORT (-> ending), or a violation (hard disconnect).
 * - `transmission`: requests are checked, dispatched to the device at once and answered as each finishes, in any
 *   order. Reading stops while the replies owed exceed the in-flight limits (backpressure) and resumes as
 *   they are flushed to the socket.
 * - `ending`: NBD_CMD_DISC, or the client half-closed: nothing more is read; the socket is ended once every
 *   reply owed has been flushed.
 * - `closed`: the socket is gone; late device results are dropped.
 * Server shutdown (`shutdown`) is a flag over these: options get NBD_REP_ERR_SHUTDOWN, new requests ESHUTDOWN,
 * in-flight requests finish, then after a grace period the socket is ended.
 *
 * Events: socket.data / socket.end / socket.close from the socket; request.done from the device; server.shutdown.
 *
 * Over 500 lines because the states above are one object: the handshake's option replies and the
 * transmission phase's backpressure share the socket and its write queue.
 */
import type { Socket } from 'node:net';
import type { BlockDevice, BlockDeviceInfo, BlockSink } from '../session/block-device.js';
import type { Clock } from '../session/clock.js';
import { InFlightList, type InFlightLinks } from '../session/in-flight.js';
import {
  ClientStreamDecoder,
  encodeErrorChunk,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfo,
  encodeOffsetDataHeader,
  encodeOptionReply,
  encodeServerEntry,
  encodeSimpleReply,
  parseExportName,
  parseInfoRequest,
  type ClientMessage,
  type InfoRequest,
  type RequestHeader,
} from './codec.js';
import type { BufferPool } from './buffer-pool.js';
import * as C from './constants.js';
import { NbdProtocolError, NbdRequestError, NbdShutdownError, nbdErrno } from './errors.js';
import { RECV_ARRAY_BUFFER } from './socket-reader.js';
import { readerOf } from '../session/socket-reader.js';

/** An export as the connection sees it. */
export interface ExportEntry {
  readonly name: string;
  readonly device: BlockDevice;
  readonly description: string;
  /** WRITE_ZEROES is cheap on this device: advertise NBD_FLAG_SEND_FAST_ZERO and honour NBD_CMD_FLAG_FAST_ZERO. */
  readonly fastZero: boolean;
}

/** Limits of one connection (see NbdServerOptions for the meaning and defaults). */
export interface ConnectionLimits {
  readonly maxPayload: number;
  readonly maxInFlightBytes: number;
  readonly maxInFlightRequests: number;
  readonly maxOptionLength: number;
  readonly shutdownGraceMs: number;
  readonly handshakeTimeoutMs: number;
}

/** What the connection needs from its server. */
export interface ConnectionHost {
  findExport(name: string): ExportEntry | undefined;
  listExports(): readonly ExportEntry[];
  readonly limits: ConnectionLimits;
  /** Buffers for READ replies (reused once a reply is flushed) and joined WRITE payloads (once written). */
  readonly buffers: BufferPool;
  /** The handshake timeout's and the shutdown grace's timers (systemClock's are unref'd). */
  readonly clock: Clock;
  connectionClosed(conn: NbdConnection): void;
  /** A client was dropped for breaking the protocol (bad magic, unknown flags, unknown EXPORT_NAME...). */
  clientDropped(reason: unknown, exportName: string | undefined): void;
}

/** READ results that live in a pooled buffer, and that buffer (returned to the pool once the reply is flushed). */
const pooled = new WeakMap<Buffer, Buffer>();

/** Bytes charged to a request besides its data, so floods of tiny requests are bounded too. */
const REQUEST_OVERHEAD = 64;

/** A write in flight, as FLUSH sees it: a FLUSH that arrives meanwhile adds a waiter (rare: made on demand). */
interface WriteInFlight extends InFlightLinks<WriteInFlight> {
  flushWaiters?: (() => void)[];
}

/** A write of the promise path, tracked for FLUSH (linked into the list when it starts). */
const trackedWrite = (): WriteInFlight => ({ flightPrev: undefined, flightNext: undefined, flightList: undefined });

/**
 * One READ or WRITE on a device with submitRead/submitWrite (every request of a SCSI export): the device's
 * sink and what the reply needs. The device completes it from the PDU that answers the SCSI command, so a
 * request costs this record, not a promise, an async frame and their closures.
 */
class NbdIo implements BlockSink, WriteInFlight {
  flushWaiters?: (() => void)[] = undefined;
  flightPrev: WriteInFlight | undefined = undefined;
  flightNext: WriteInFlight | undefined = undefined;
  flightList: object | undefined = undefined;

  constructor(
    readonly conn: NbdConnection,
    readonly h: RequestHeader,
    readonly cost: number,
    /** The pooled buffer a READ lands in, or a WRITE's payload was joined in (the decoder's), if any. */
    readonly buf: Buffer | undefined,
  ) {}

  done(data: Buffer | undefined): void {
    this.conn.ioDone(this, 0, data);
  }

  fail(err: Error): void {
    this.conn.ioDone(this, nbdErrno(err), undefined, err.message);
  }
}

/** Resolves once the write is settled (FLUSH waits for those in flight). */
function whenSettled(w: WriteInFlight): Promise<void> {
  return new Promise<void>((resolve) => {
    if (w.flushWaiters === undefined) w.flushWaiters = [];
    w.flushWaiters.push(resolve);
  });
}

/** Throws the NBD error a refused request is answered with. */
function refuse(h: RequestHeader, errno: number, why: string): never {
  throw new NbdRequestError(errno, `${C.commandName(h.type)}: ${why}`);
}

/** Settles a write for FLUSH: its waiters run. */
function settleWrite(w: WriteInFlight): void {
  const waiters = w.flushWaiters;
  if (waiters === undefined) return;
  w.flushWaiters = undefined;
  for (const f of waiters) f();
}

/** The transmission flags an export's device earns (proto.md "Transmission flags"). */
export function transmissionFlags(entry: ExportEntry, structured: boolean): number {
  const i = entry.device.info;
  let f = C.NBD_FLAG_HAS_FLAGS | C.NBD_FLAG_SEND_CACHE;
  if (i.readOnly) f |= C.NBD_FLAG_READ_ONLY;
  if (i.canFlush) f |= C.NBD_FLAG_SEND_FLUSH;
  if (i.canMultiConn) f |= C.NBD_FLAG_CAN_MULTI_CONN;
  if (structured) f |= C.NBD_FLAG_SEND_DF;
  if (!i.readOnly) {
    if (i.canFua) f |= C.NBD_FLAG_SEND_FUA;
    if (i.canTrim) f |= C.NBD_FLAG_SEND_TRIM;
    if (i.canWriteZeroes) {
      f |= C.NBD_FLAG_SEND_WRITE_ZEROES;
      if (entry.fastZero) f |= C.NBD_FLAG_SEND_FAST_ZERO;
    }
  }
  return f;
}

/**
 * NBD_INFO_BLOCK_SIZE values: minimum = the logical block, preferred = a power of 2 between it and the maximum,
 * maximum = the device's largest request capped at the server's payload limit, a multiple of the minimum.
 */
export function blockSizes(info: BlockDeviceInfo, maxPayload: number): { minimum: number; preferred: number; maximum: number } {
  const minimum = info.blockSize;
  const maximum = Math.max(minimum, Math.floor(Math.min(info.maxTransfer, maxPayload) / minimum) * minimum);
  const preferred = Math.min(Math.max(info.preferredBlockSize, minimum), maximum);
  return { minimum, preferred, maximum };
}

const KNOWN_OPTIONS = new Set([
  C.NBD_OPT_EXPORT_NAME,
  C.NBD_OPT_ABORT,
  C.NBD_OPT_LIST,
  C.NBD_OPT_STARTTLS,
  C.NBD_OPT_INFO,
  C.NBD_OPT_GO,
  C.NBD_OPT_STRUCTURED_REPLY,
  C.NBD_OPT_LIST_META_CONTEXT,
  C.NBD_OPT_SET_META_CONTEXT,
  C.NBD_OPT_EXTENDED_HEADERS,
]);

export class NbdConnection {
  private readonly decoder: ClientStreamDecoder;
  private state: 'handshake' | 'transmission' | 'ending' | 'closed' = 'handshake';
  private noZeroes = false;
  private structured = false;
  private entry: ExportEntry | undefined;
  private flags = 0;
  private inflight = 0;
  private inflightBytes = 0;
  /** Writes (WRITE, TRIM, WRITE_ZEROES) in flight: a FLUSH waits for those it finds here (not a Set: src/session/in-flight.ts). */
  private readonly writes = new InFlightList<WriteInFlight>();
  private shuttingDown = false;
  private paused = false;
  private timer: unknown;
  private resolveClosed!: () => void;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void> = new Promise((r) => (this.resolveClosed = r));

  constructor(
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
  ) {
    const l = host.limits;
    const reader = readerOf(socket);
    this.decoder = new ClientStreamDecoder({
      maxOptionLength: l.maxOptionLength,
      maxPayload: l.maxPayload,
      payloadPool: host.buffers,
      volatileChunks: reader !== undefined,
    });
    if (typeof socket.setNoDelay === 'function' && socket.remoteFamily !== undefined) socket.setNoDelay(true);
    if (reader) {
      // Reads land in one shared buffer (src/nbd/socket-reader.ts): what the decoder keeps is copied before the
      // next read, and the rest of a WRITE's payload is read straight into its own buffer.
      reader.handler = (chunk) => {
        if (!this.reading()) return;
        this.decoder.push(chunk);
        this.pump();
        this.decoder.retain(RECV_ARRAY_BUFFER);
      };
      reader.target = () => (this.reading() ? this.decoder.directTarget() : undefined);
      reader.direct = (n) => {
        if (!this.reading()) return;
        try {
          this.decoder.directReceived(n);
        } catch (err) {
          this.hardDisconnect(err);
          return;
        }
        this.pump();
      };
    } else
      socket.on('data', (chunk: Buffer) => {
        if (!this.reading()) return;
        this.decoder.push(chunk);
        this.pump();
      });
    socket.on('end', () => this.onClientEnd());
    socket.on('error', () => {
      /* the 'close' event follows; nothing is owed to a peer that reset */
    });
    socket.on('close', () => this.onClose());
    this.armTimer(l.handshakeTimeoutMs);
    // proto.md: fixed newstyle, and NO_ZEROES so modern clients skip the 124 zero bytes.
    this.send([encodeGreeting(C.NBD_FLAG_FIXED_NEWSTYLE | C.NBD_FLAG_NO_ZEROES)]);
  }

  /** The export chosen by NBD_OPT_GO / NBD_OPT_EXPORT_NAME, once in transmission. */
  get exportName(): string | undefined {
    return this.entry?.name;
  }

  /** Requests received and not yet answered (or answered but not flushed). */
  get inFlight(): number {
    return this.inflight;
  }

  /**
   * Server shutdown (proto.md "Terminating the transmission phase"): in-flight requests are answered, later ones
   * get ESHUTDOWN and options NBD_REP_ERR_SHUTDOWN; once nothing is owed, the socket ends after the grace period.
   */
  shutdown(): Promise<void> {
    if (this.state === 'closed') return this.closed;
    this.shuttingDown = true;
    if (this.inflight === 0) this.armTimer(this.host.limits.shutdownGraceMs);
    return this.closed;
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.socket.destroy();
  }

  // --- input ---------------------------------------------------------------------------------------------

  /** Requests (and options) are still read. */
  private reading(): boolean {
    return this.state === 'handshake' || this.state === 'transmission';
  }

  private pump(): void {
    try {
      while (this.reading()) {
        if (this.state === 'transmission' && this.overLimit()) {
          this.pauseReading();
          return;
        }
        const msg = this.decoder.next();
        if (!msg) return;
        this.handle(msg);
      }
    } catch (err) {
      // A bad magic or a stream that cannot be framed: the spec's answer is a hard disconnect.
      this.hardDisconnect(err);
    }
  }

  private handle(msg: ClientMessage): void {
    switch (msg.type) {
      case 'flags':
        // proto.md "Client flags": the server MUST drop the connection on an unknown flag.
        if ((msg.flags & ~(C.NBD_FLAG_C_FIXED_NEWSTYLE | C.NBD_FLAG_C_NO_ZEROES)) !== 0) {
          this.hardDisconnect(new NbdProtocolError('client flags', 0, `unknown client flags 0x${msg.flags.toString(16)}`));
          return;
        }
        this.noZeroes = (msg.flags & C.NBD_FLAG_C_NO_ZEROES) !== 0;
        return;
      case 'option.oversize':
        if (msg.option === C.NBD_OPT_EXPORT_NAME) {
          this.hardDisconnect(new NbdProtocolError('NBD_OPT_EXPORT_NAME', 12, `name of ${msg.length} bytes`));
          return;
        }
        this.optionReply(
          msg.option,
          KNOWN_OPTIONS.has(msg.option) ? C.NBD_REP_ERR_TOO_BIG : C.NBD_REP_ERR_UNSUP,
          `option data of ${msg.length} bytes is too large`,
        );
        return;
      case 'option':
        this.handleOption(msg.option, msg.data);
        return;
      case 'request':
        this.dispatch(msg.header, msg.data, msg.pooled);
        return;
      case 'request.oversize':
        this.start(msg.header, REQUEST_OVERHEAD, () => {
          throw new NbdRequestError(C.NBD_EOVERFLOW, `write payload of ${msg.header.length} bytes exceeds ${this.host.limits.maxPayload}`);
        });
        return;
    }
  }

  // --- options -------------------------------------------------------------------------------------------

  private handleOption(option: number, data: Buffer): void {
    if (this.shuttingDown) {
      if (option === C.NBD_OPT_ABORT) return this.abort();
      // NBD_OPT_EXPORT_NAME cannot be answered with an error: the spec's answer is to drop the connection.
      if (option === C.NBD_OPT_EXPORT_NAME) return this.hardDisconnect(new NbdShutdownError());
      return this.optionReply(option, C.NBD_REP_ERR_SHUTDOWN, 'server is shutting down');
    }
    switch (option) {
      case C.NBD_OPT_EXPORT_NAME: {
        let name: string;
        try {
          name = parseExportName(data);
        } catch (err) {
          return this.hardDisconnect(err);
        }
        const entry = this.host.findExport(name);
        if (!entry) return this.hardDisconnect(new Error(`unknown export ${JSON.stringify(name)}`));
        this.enterTransmission(entry);
        this.send([encodeExportNameReply(BigInt(entry.device.info.size), this.flags, this.noZeroes)]);
        return;
      }
      case C.NBD_OPT_ABORT:
        return this.abort();
      case C.NBD_OPT_LIST:
        if (data.length !== 0) return this.optionReply(option, C.NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
        for (const e of this.host.listExports())
          this.send([encodeOptionReply(option, C.NBD_REP_SERVER, encodeServerEntry(e.name, e.description))]);
        return this.optionReply(option, C.NBD_REP_ACK);
      case C.NBD_OPT_INFO:
      case C.NBD_OPT_GO:
        return this.infoOrGo(option, data);
      case C.NBD_OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return this.optionReply(option, C.NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
        this.structured = true;
        return this.optionReply(option, C.NBD_REP_ACK);
      default:
        // STARTTLS (this server is NOTLS), meta contexts, extended headers and unknown options: refused, and the
        // client may go on (proto.md: the server MUST NOT drop a client for an option it does not know).
        return this.optionReply(option, C.NBD_REP_ERR_UNSUP, `${C.optionName(option)} is not supported`);
    }
  }

  private infoOrGo(option: number, data: Buffer): void {
    let req: InfoRequest;
    try {
      req = parseInfoRequest(data, C.optionName(option));
    } catch (err) {
      return this.optionReply(option, C.NBD_REP_ERR_INVALID, (err as Error).message);
    }
    const entry = this.host.findExport(req.name);
    if (!entry) return this.optionReply(option, C.NBD_REP_ERR_UNKNOWN, `no export named ${JSON.stringify(req.name)}`);
    const info = entry.device.info;
    const flags = transmissionFlags(entry, this.structured);
    const infos: Buffer[] = [];
    // INFO_EXPORT is mandatory; BLOCK_SIZE is sent unasked (the spec allows it) so no client guesses 1-byte I/O.
    infos.push(encodeInfo({ type: C.NBD_INFO_EXPORT, size: BigInt(info.size), transmissionFlags: flags }));
    if (req.infos.includes(C.NBD_INFO_NAME)) infos.push(encodeInfo({ type: C.NBD_INFO_NAME, name: entry.name }));
    if (req.infos.includes(C.NBD_INFO_DESCRIPTION) && entry.description !== '')
      infos.push(encodeInfo({ type: C.NBD_INFO_DESCRIPTION, description: entry.description }));
    infos.push(encodeInfo({ type: C.NBD_INFO_BLOCK_SIZE, ...blockSizes(info, this.host.limits.maxPayload) }));
    this.send(infos.map((i) => encodeOptionReply(option, C.NBD_REP_INFO, i)));
    this.optionReply(option, C.NBD_REP_ACK);
    if (option === C.NBD_OPT_GO) this.enterTransmission(entry);
  }

  private enterTransmission(entry: ExportEntry): void {
    this.entry = entry;
    this.flags = transmissionFlags(entry, this.structured);
    this.state = 'transmission';
    this.decoder.enterTransmission();
    this.clearTimer();
  }

  private abort(): void {
    this.optionReply(C.NBD_OPT_ABORT, C.NBD_REP_ACK);
    this.state = 'ending';
    this.flushBatch();
    this.socket.end();
  }

  private optionReply(option: number, type: number, message?: string): void {
    this.send([encodeOptionReply(option, type, message ? Buffer.from(message, 'utf8') : undefined)]);
  }

  // --- requests ------------------------------------------------------------------------------------------

  private dispatch(h: RequestHeader, data: Buffer | undefined, pooled?: Buffer): void {
    if (h.type === C.NBD_CMD_DISC) {
      // proto.md: handle all outstanding requests, then close; the client sends nothing more.
      this.state = 'ending';
      this.maybeEnd();
      return;
    }
    const dataBytes = h.type === C.NBD_CMD_READ || h.type === C.NBD_CMD_WRITE ? Math.min(h.length, this.host.limits.maxPayload) : 0;
    const dev = this.entry!.device;
    if (h.type === C.NBD_CMD_READ ? dev.submitRead !== undefined : h.type === C.NBD_CMD_WRITE && dev.submitWrite !== undefined && data)
      return this.submit(h, data, REQUEST_OVERHEAD + dataBytes, dev, pooled);
    this.start(
      h,
      REQUEST_OVERHEAD + dataBytes,
      () => {
        this.check(h);
        return this.execute(h, data);
      },
      pooled,
    );
  }

  /**
   * A READ or WRITE through the device's submitRead/submitWrite: checked, then handed to the device with an
   * NbdIo as its sink; the reply goes out from ioDone. A WRITE with FUA on a device that flushes instead of
   * FUA takes start() (write, then flush).
   */
  private submit(h: RequestHeader, data: Buffer | undefined, cost: number, dev: BlockDevice, pooled: Buffer | undefined): void {
    const info = dev.info;
    const fua = (h.flags & C.NBD_CMD_FLAG_FUA) !== 0;
    if (h.type === C.NBD_CMD_WRITE && fua && info.canFlush && !info.canFua) {
      this.start(
        h,
        cost,
        () => {
          this.check(h);
          return this.execute(h, data);
        },
        pooled,
      );
      return;
    }
    this.inflight++;
    this.inflightBytes += cost;
    try {
      this.check(h);
    } catch (err) {
      if (pooled) this.host.buffers.put(pooled);
      this.reply(h, nbdErrno(err), undefined, cost, undefined, (err as Error).message);
      return;
    }
    if (h.type === C.NBD_CMD_READ) {
      const buf = this.host.buffers.get(h.length);
      dev.submitRead!(Number(h.offset), h.length, buf, new NbdIo(this, h, cost, buf));
    } else {
      const io = new NbdIo(this, h, cost, pooled);
      // Tracked before it is handed on: the device may complete it before submitWrite returns.
      this.writes.push(io);
      dev.submitWrite!(Number(h.offset), data!, fua && info.canFua, io);
    }
  }

  /** NbdIo.done/fail: the device finished the request. */
  ioDone(io: NbdIo, errno: number, data: Buffer | undefined, message?: string): void {
    if (io.h.type === C.NBD_CMD_READ) {
      if (errno !== 0) this.host.buffers.put(io.buf!);
      this.reply(io.h, errno, data, io.cost, errno === 0 ? io.buf : undefined, message);
      return;
    }
    this.writes.remove(io);
    settleWrite(io);
    // The device is done with the payload: the target answered, so it has every byte it will take (Data-Out
    // still queued for a command the target ended early carries that command's tag and is discarded).
    if (io.buf) this.host.buffers.put(io.buf);
    this.reply(io.h, errno, undefined, io.cost, undefined, message);
  }

  /** Runs one request and sends its reply; `cost` bytes count against the in-flight limit until it is flushed. */
  private start(h: RequestHeader, cost: number, work: () => Promise<Buffer | undefined>, payload?: Buffer): void {
    this.inflight++;
    this.inflightBytes += cost;
    let p: Promise<Buffer | undefined>;
    try {
      p = work();
    } catch (err) {
      p = Promise.reject(err);
    }
    const writes = h.type === C.NBD_CMD_WRITE || h.type === C.NBD_CMD_TRIM || h.type === C.NBD_CMD_WRITE_ZEROES;
    const tracked: WriteInFlight | undefined = writes ? trackedWrite() : undefined;
    if (tracked) this.writes.push(tracked);
    const settle = () => {
      if (payload) this.host.buffers.put(payload);
      if (tracked === undefined) return;
      this.writes.remove(tracked);
      settleWrite(tracked);
    };
    p.then(
      (result) => {
        settle();
        this.reply(h, 0, result ?? undefined, cost, result ? pooled.get(result) : undefined);
      },
      (err: unknown) => {
        settle();
        this.reply(h, nbdErrno(err), undefined, cost, undefined, err instanceof Error ? err.message : String(err));
      },
    );
  }

  /** The server's own checks, before the device sees the request (proto.md "Request types", "Error values"). */
  private check(h: RequestHeader): void {
    if (this.shuttingDown) throw new NbdShutdownError();
    const entry = this.entry!;
    const info = entry.device.info;
    switch (h.type) {
      case C.NBD_CMD_READ:
      case C.NBD_CMD_WRITE:
      case C.NBD_CMD_FLUSH:
      case C.NBD_CMD_TRIM:
      case C.NBD_CMD_CACHE:
      case C.NBD_CMD_WRITE_ZEROES:
        break;
      case C.NBD_CMD_BLOCK_STATUS:
        refuse(h, C.NBD_EINVAL, 'no metadata context was negotiated');
        break;
      default:
        refuse(h, C.NBD_EINVAL, 'unknown command');
    }
    // FUA is valid on every command; the others only where the spec documents them.
    let allowed = C.NBD_CMD_FLAG_FUA;
    if (h.type === C.NBD_CMD_WRITE_ZEROES) allowed |= C.NBD_CMD_FLAG_NO_HOLE | C.NBD_CMD_FLAG_FAST_ZERO;
    if (h.type === C.NBD_CMD_READ && this.structured) allowed |= C.NBD_CMD_FLAG_DF;
    if ((h.flags & ~allowed) !== 0) refuse(h, C.NBD_EINVAL, `command flags 0x${h.flags.toString(16)} not valid here`);
    if (h.type === C.NBD_CMD_FLUSH) {
      if (!info.canFlush) refuse(h, C.NBD_EINVAL, 'NBD_FLAG_SEND_FLUSH was not advertised');
      if (h.offset !== 0n || h.length !== 0) refuse(h, C.NBD_EINVAL, 'offset and length must be zero');
      return;
    }
    if (h.type === C.NBD_CMD_TRIM && (this.flags & C.NBD_FLAG_SEND_TRIM) === 0 && !info.readOnly)
      refuse(h, C.NBD_EINVAL, 'NBD_FLAG_SEND_TRIM was not advertised');
    if (h.type === C.NBD_CMD_WRITE_ZEROES && (this.flags & C.NBD_FLAG_SEND_WRITE_ZEROES) === 0 && !info.readOnly)
      refuse(h, C.NBD_EINVAL, 'NBD_FLAG_SEND_WRITE_ZEROES was not advertised');
    const writes = h.type === C.NBD_CMD_WRITE || h.type === C.NBD_CMD_TRIM || h.type === C.NBD_CMD_WRITE_ZEROES;
    if (writes && info.readOnly) refuse(h, C.NBD_EPERM, 'the export is read-only');
    if (h.length === 0) refuse(h, C.NBD_EINVAL, 'length is zero');
    if ((h.type === C.NBD_CMD_READ || h.type === C.NBD_CMD_WRITE) && h.length > this.host.limits.maxPayload)
      refuse(h, C.NBD_EOVERFLOW, `length ${h.length} exceeds the maximum payload ${this.host.limits.maxPayload}`);
    // In numbers (BigInt arithmetic on every request cost more than the rest of the check): an offset past
    // 2^53 is past the end of any export, and is reported exactly, from the BigInt.
    const bs = info.blockSize;
    const offset = Number(h.offset);
    const huge = offset > Number.MAX_SAFE_INTEGER;
    if ((huge ? h.offset % BigInt(bs) !== 0n : offset % bs !== 0) || h.length % bs !== 0)
      refuse(h, C.NBD_EINVAL, `offset ${h.offset} and length ${h.length} must be multiples of the minimum block size ${info.blockSize}`);
    if (huge || offset + h.length > info.size) {
      const past = `[${h.offset}, ${h.offset + BigInt(h.length)}) runs past the end of the export (${info.size} bytes)`;
      refuse(h, h.type === C.NBD_CMD_WRITE || h.type === C.NBD_CMD_WRITE_ZEROES ? C.NBD_ENOSPC : C.NBD_EINVAL, past);
    }
    if ((h.flags & C.NBD_CMD_FLAG_FAST_ZERO) !== 0 && !entry.fastZero) refuse(h, C.NBD_ENOTSUP, 'zeroing is not fast on this export');
  }

  private async execute(h: RequestHeader, data: Buffer | undefined): Promise<Buffer | undefined> {
    const dev = this.entry!.device;
    const info = dev.info;
    const offset = Number(h.offset);
    const fua = (h.flags & C.NBD_CMD_FLAG_FUA) !== 0;
    // FUA on TRIM/WRITE_ZEROES (and on WRITE when the device cannot FUA): make the result durable with a flush.
    const flushAfter = fua && info.canFlush;
    switch (h.type) {
      case C.NBD_CMD_READ: {
        const buf = this.host.buffers.get(h.length);
        try {
          const data = await dev.read(offset, h.length, buf);
          pooled.set(data, buf);
          return data;
        } catch (err) {
          this.host.buffers.put(buf);
          throw err;
        }
      }
      case C.NBD_CMD_WRITE:
        await dev.write(offset, data!, fua && info.canFua);
        if (flushAfter && !info.canFua) await dev.flush();
        return;
      case C.NBD_CMD_FLUSH:
        // proto.md: writes replied to before the FLUSH must be durable. Waiting also for the writes still in
        // flight costs little (a flush is rare) and covers clients that pipeline a FLUSH behind their writes.
        await Promise.all(this.writes.toArray().map(whenSettled));
        await dev.flush();
        return;
      case C.NBD_CMD_TRIM:
        await dev.trim(offset, h.length);
        if (flushAfter) await dev.flush();
        return;
      case C.NBD_CMD_WRITE_ZEROES:
        await dev.writeZeroes(offset, h.length, (h.flags & C.NBD_CMD_FLAG_NO_HOLE) !== 0);
        if (flushAfter) await dev.flush();
        return;
      case C.NBD_CMD_CACHE:
        await dev.cache(offset, h.length);
        return;
    }
  }

  /**
   * Sends one request's reply. `backing` (the pooled buffer a READ's data lives in) goes back to the pool, and
   * `cost` off the in-flight limit, once the batch the reply leaves in is flushed (see flushBatch).
   */
  private reply(
    h: RequestHeader,
    errno: number,
    data: Buffer | undefined,
    cost: number,
    backing: Buffer | undefined,
    message?: string,
  ): void {
    if (this.state === 'closed' || this.socket.destroyed || !this.socket.writable) {
      if (backing) this.host.buffers.put(backing);
      this.release(cost);
      return;
    }
    this.batchCosts.push(cost);
    if (backing) this.batchBuffers.push(backing);
    if (this.structured && (h.type === C.NBD_CMD_READ || errno !== 0)) {
      // Structured replies negotiated: a READ MUST get chunks; errors go in ERROR chunks with their message.
      if (errno !== 0) this.queue(encodeErrorChunk(h.cookie, errno, message ?? ''));
      else {
        this.queue(encodeOffsetDataHeader(h.cookie, h.offset, data!.length));
        this.queue(data!);
      }
      return;
    }
    this.queue(encodeSimpleReply(errno, h.cookie));
    if (errno === 0 && h.type === C.NBD_CMD_READ) this.queue(data!);
  }

  private release(cost: number): void {
    this.inflight--;
    this.inflightBytes -= cost;
    if (this.paused && !this.overLimit() && this.state === 'transmission') {
      this.paused = false;
      this.socket.resume();
      this.pump();
    }
    if (this.inflight === 0) {
      if (this.state === 'ending') this.maybeEnd();
      else if (this.shuttingDown && this.timer === undefined) this.armTimer(this.host.limits.shutdownGraceMs);
    }
  }

  private overLimit(): boolean {
    const l = this.host.limits;
    return this.inflight >= l.maxInFlightRequests || this.inflightBytes >= l.maxInFlightBytes;
  }

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  // --- output and teardown -------------------------------------------------------------------------------

  /** Queues buffers (handshake replies): they leave with the current batch. */
  private send(buffers: Buffer[]): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    for (const b of buffers) this.queue(b);
  }

  /**
   * Adds a buffer to the batch. The batch is written at the end of the current turn of the event loop
   * (process.nextTick runs after the callbacks and promise jobs queued with it), corked, so every reply
   * completed by one iSCSI read leaves in one writev instead of one syscall each.
   */
  private queue(b: Buffer): void {
    if (this.batch.length === 0) process.nextTick(this.flushBatch);
    this.batch.push(b);
  }

  private batch: Buffer[] = [];
  /** In-flight costs and pooled buffers of the replies in the batch: released once it is flushed. */
  private batchCosts: number[] = [];
  private batchBuffers: Buffer[] = [];

  /** Writes the batch under one cork, with one callback for all of it (the last write's: writes complete in order). */
  private readonly flushBatch = (): void => {
    const batch = this.batch;
    if (batch.length === 0) return; // flushed early (abort, end)
    const costs = this.batchCosts;
    const buffers = this.batchBuffers;
    this.batch = [];
    this.batchCosts = [];
    this.batchBuffers = [];
    const released = () => {
      const pool = this.host.buffers;
      for (let i = 0; i < buffers.length; i++) pool.put(buffers[i]);
      for (let i = 0; i < costs.length; i++) this.release(costs[i]);
    };
    if (this.socket.destroyed || !this.socket.writable) return released();
    const last = batch.length - 1;
    if (last > 0) this.socket.cork();
    for (let i = 0; i < last; i++) this.socket.write(batch[i]);
    this.socket.write(batch[last], costs.length > 0 ? released : undefined);
    if (last > 0) this.socket.uncork();
  };

  private onClientEnd(): void {
    // The client will send nothing more; answer what is owed, then end our side too.
    if (this.state === 'closed') return;
    this.state = 'ending';
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (this.inflight > 0 || this.state === 'closed') return;
    this.flushBatch();
    this.socket.end();
    // A client that never closes its side must not keep the socket forever.
    this.armTimer(Math.max(this.host.limits.shutdownGraceMs, 1000));
  }

  private hardDisconnect(reason: unknown): void {
    this.state = 'ending';
    this.socket.destroy();
    this.host.clientDropped(reason, this.entry?.name);
  }

  private armTimer(ms: number): void {
    this.clearTimer();
    this.timer = this.host.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.state === 'closed') return;
      if (this.shuttingDown && this.inflight === 0 && this.state !== 'ending') {
        this.state = 'ending';
        this.socket.end();
        this.armTimer(1000);
        return;
      }
      this.socket.destroy();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.host.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer();
    this.host.connectionClosed(this);
    this.resolveClosed();
  }
}
