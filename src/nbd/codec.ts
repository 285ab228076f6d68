/**
 * NBD wire codec (NetworkBlockDevice/nbd doc/proto.md): fixed newstyle handshake, options and option replies,
 * NBD_INFO_* payloads, requests, simple replies and structured reply chunks, for both directions; plus the
 * two stream decoders (client->server and server->client). Pure functions over Buffer: no sockets, timers or
 * logging. Decoders return undefined when they need more bytes; malformed input throws NbdProtocolError.
 *
 * Over 500 lines because each proto.md message has its encoder and decoder side by side, and the two stream
 * decoders reuse the same field checks.
 */
import { ByteQueue } from './byte-queue.js';
import {
  EXPORT_NAME_REPLY_LENGTH,
  EXPORT_NAME_REPLY_ZEROES,
  GREETING_LENGTH,
  IHAVEOPT,
  NBDMAGIC,
  NBD_CMD_WRITE,
  NBD_DEFAULT_MAX_PAYLOAD,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_MAX_STRING_LENGTH,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_ERROR_OFFSET,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REP_MAGIC,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  OPTION_HEADER_LENGTH,
  OPTION_REPLY_HEADER_LENGTH,
  REQUEST_HEADER_LENGTH,
  SIMPLE_REPLY_HEADER_LENGTH,
  STRUCTURED_REPLY_HEADER_LENGTH,
} from './constants.js';
import { NbdProtocolError } from './errors.js';

/** A decoded value and the bytes it took. */
export interface Decoded<T> {
  readonly value: T;
  readonly bytes: number;
}

const EMPTY = Buffer.alloc(0);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A spec string (proto.md "Conventions"): UTF-8, no NUL, at most 4096 bytes. `context`/`offset` locate it
 * for the error message.
 */
export function decodeString(bytes: Buffer, context: string, offset: number): string {
  if (bytes.length > NBD_MAX_STRING_LENGTH)
    throw new NbdProtocolError(context, offset, `string of ${bytes.length} bytes exceeds ${NBD_MAX_STRING_LENGTH}`);
  if (bytes.includes(0)) throw new NbdProtocolError(context, offset + bytes.indexOf(0), 'string contains NUL');
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new NbdProtocolError(context, offset, 'string is not valid UTF-8', { cause });
  }
}

/** UTF-8 bytes of a spec string; throws RangeError for strings the spec forbids (our own bug, not the peer's). */
export function encodeString(s: string, what = 'string'): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length > NBD_MAX_STRING_LENGTH)
    throw new RangeError(`${what} is ${b.length} bytes; NBD strings are at most ${NBD_MAX_STRING_LENGTH}`);
  if (b.includes(0)) throw new RangeError(`${what} contains NUL`);
  return b;
}

// ---------------------------------------------------------------------------------------------------------
// Handshake (proto.md "Fixed newstyle negotiation")

/** S: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.alloc(GREETING_LENGTH);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export function decodeGreeting(buf: Buffer): Decoded<{ handshakeFlags: number }> | undefined {
  if (buf.length < 8) return undefined;
  if (buf.readBigUInt64BE(0) !== NBDMAGIC) throw new NbdProtocolError('greeting', 0, 'not NBDMAGIC');
  if (buf.length < GREETING_LENGTH) return undefined;
  // An oldstyle server sends 0x00420281861253 here instead; only newstyle is spoken.
  if (buf.readBigUInt64BE(8) !== IHAVEOPT) throw new NbdProtocolError('greeting', 8, 'not IHAVEOPT (oldstyle server?)');
  return { value: { handshakeFlags: buf.readUInt16BE(16) }, bytes: GREETING_LENGTH };
}

/** C: 32-bit client flags. */
export function encodeClientFlags(flags: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(flags >>> 0, 0);
  return b;
}

export function decodeClientFlags(buf: Buffer): Decoded<number> | undefined {
  return buf.length < 4 ? undefined : { value: buf.readUInt32BE(0), bytes: 4 };
}

// ---------------------------------------------------------------------------------------------------------
// Options and option replies

export interface OptionHeader {
  readonly option: number;
  /** Length of the option data that follows. */
  readonly length: number;
}

/** C: IHAVEOPT, option, length, data. */
export function encodeOption(option: number, data: Buffer = EMPTY): Buffer {
  const b = Buffer.alloc(OPTION_HEADER_LENGTH + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, OPTION_HEADER_LENGTH);
  return b;
}

export function decodeOptionHeader(buf: Buffer): Decoded<OptionHeader> | undefined {
  if (buf.length < 8) return undefined;
  if (buf.readBigUInt64BE(0) !== IHAVEOPT) throw new NbdProtocolError('option', 0, 'option does not start with IHAVEOPT');
  if (buf.length < OPTION_HEADER_LENGTH) return undefined;
  return { value: { option: buf.readUInt32BE(8), length: buf.readUInt32BE(12) }, bytes: OPTION_HEADER_LENGTH };
}

export interface OptionReply {
  readonly option: number;
  /** NBD_REP_*. */
  readonly replyType: number;
  readonly data: Buffer;
}

/** S: reply magic, option, reply type, length, data. */
export function encodeOptionReply(option: number, type: number, data: Buffer = EMPTY): Buffer {
  const b = Buffer.alloc(OPTION_REPLY_HEADER_LENGTH + data.length);
  b.writeBigUInt64BE(NBD_REP_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, OPTION_REPLY_HEADER_LENGTH);
  return b;
}

/** A whole option reply; `maxLength` bounds the data a client is willing to buffer. */
export function decodeOptionReply(buf: Buffer, maxLength = 1 << 20): Decoded<OptionReply> | undefined {
  if (buf.length < 8) return undefined;
  if (buf.readBigUInt64BE(0) !== NBD_REP_MAGIC) throw new NbdProtocolError('option reply', 0, 'bad option reply magic');
  if (buf.length < OPTION_REPLY_HEADER_LENGTH) return undefined;
  const length = buf.readUInt32BE(16);
  if (length > maxLength) throw new NbdProtocolError('option reply', 16, `length ${length} exceeds ${maxLength}`);
  const bytes = OPTION_REPLY_HEADER_LENGTH + length;
  if (buf.length < bytes) return undefined;
  return {
    value: { option: buf.readUInt32BE(8), replyType: buf.readUInt32BE(12), data: buf.subarray(OPTION_REPLY_HEADER_LENGTH, bytes) },
    bytes,
  };
}

/** NBD_OPT_EXPORT_NAME data: the name, the whole option data. */
export function parseExportName(data: Buffer): string {
  return decodeString(data, 'NBD_OPT_EXPORT_NAME', 0);
}

/** NBD_OPT_INFO / NBD_OPT_GO data: the export name and the info types the client asks for. */
export interface InfoRequest {
  readonly name: string;
  readonly infos: readonly number[];
}

export function encodeInfoRequest(req: InfoRequest): Buffer {
  const name = encodeString(req.name, 'export name');
  const b = Buffer.alloc(4 + name.length + 2 + 2 * req.infos.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  b.writeUInt16BE(req.infos.length, 4 + name.length);
  for (const [i, t] of req.infos.entries()) b.writeUInt16BE(t, 6 + name.length + 2 * i);
  return b;
}

/** Parses NBD_OPT_INFO/GO data; lengths that contradict the option length are NbdProtocolError (answer NBD_REP_ERR_INVALID). */
export function parseInfoRequest(data: Buffer, context = 'NBD_OPT_GO'): InfoRequest {
  if (data.length < 6) throw new NbdProtocolError(context, 0, `option data of ${data.length} bytes is shorter than 6`);
  const nameLength = data.readUInt32BE(0);
  if (nameLength > data.length - 6) throw new NbdProtocolError(context, 0, `name length ${nameLength} runs past the option data`);
  const name = decodeString(data.subarray(4, 4 + nameLength), context, 4);
  const count = data.readUInt16BE(4 + nameLength);
  const rest = data.length - 6 - nameLength;
  if (rest !== 2 * count)
    throw new NbdProtocolError(context, 4 + nameLength, `${count} information requests need ${2 * count} bytes, ${rest} follow`);
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(6 + nameLength + 2 * i));
  return { name, infos };
}

/** NBD_REP_INFO payloads. Sizes are bigints (the field is 64 bits). */
export type NbdInfo =
  | { readonly type: typeof NBD_INFO_EXPORT; readonly size: bigint; readonly transmissionFlags: number }
  | { readonly type: typeof NBD_INFO_NAME; readonly name: string }
  | { readonly type: typeof NBD_INFO_DESCRIPTION; readonly description: string }
  | { readonly type: typeof NBD_INFO_BLOCK_SIZE; readonly minimum: number; readonly preferred: number; readonly maximum: number };

/** An info type this codec does not know, kept raw. */
export interface UnknownInfo {
  readonly type: number;
  readonly unknown: Buffer;
}

export function encodeInfo(info: NbdInfo): Buffer {
  switch (info.type) {
    case NBD_INFO_EXPORT: {
      const b = Buffer.alloc(12);
      b.writeUInt16BE(NBD_INFO_EXPORT, 0);
      b.writeBigUInt64BE(info.size, 2);
      b.writeUInt16BE(info.transmissionFlags, 10);
      return b;
    }
    case NBD_INFO_NAME:
    case NBD_INFO_DESCRIPTION: {
      const s = encodeString(info.type === NBD_INFO_NAME ? info.name : info.description);
      const b = Buffer.alloc(2 + s.length);
      b.writeUInt16BE(info.type, 0);
      s.copy(b, 2);
      return b;
    }
    case NBD_INFO_BLOCK_SIZE: {
      const b = Buffer.alloc(14);
      b.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
      b.writeUInt32BE(info.minimum, 2);
      b.writeUInt32BE(info.preferred, 6);
      b.writeUInt32BE(info.maximum, 10);
      return b;
    }
  }
}

export function parseInfo(data: Buffer): NbdInfo | UnknownInfo {
  const context = 'NBD_REP_INFO';
  if (data.length < 2) throw new NbdProtocolError(context, 0, 'no info type');
  const type = data.readUInt16BE(0);
  const exact = (n: number) => {
    if (data.length !== n) throw new NbdProtocolError(context, 0, `info type ${type} needs ${n} bytes, got ${data.length}`);
  };
  switch (type) {
    case NBD_INFO_EXPORT:
      exact(12);
      return { type, size: data.readBigUInt64BE(2), transmissionFlags: data.readUInt16BE(10) };
    case NBD_INFO_NAME:
      return { type, name: decodeString(data.subarray(2), context, 2) };
    case NBD_INFO_DESCRIPTION:
      return { type, description: decodeString(data.subarray(2), context, 2) };
    case NBD_INFO_BLOCK_SIZE:
      exact(14);
      return { type, minimum: data.readUInt32BE(2), preferred: data.readUInt32BE(6), maximum: data.readUInt32BE(10) };
    default:
      return { type, unknown: data.subarray(2) };
  }
}

/** NBD_REP_SERVER data (NBD_OPT_LIST): name length, name, then a description for humans. */
export function encodeServerEntry(name: string, description = ''): Buffer {
  const n = encodeString(name, 'export name');
  const d = encodeString(description, 'description');
  const b = Buffer.alloc(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return b;
}

export function parseServerEntry(data: Buffer): { name: string; description: string } {
  const context = 'NBD_REP_SERVER';
  if (data.length < 4) throw new NbdProtocolError(context, 0, 'no name length');
  const length = data.readUInt32BE(0);
  if (length > data.length - 4) throw new NbdProtocolError(context, 0, `name length ${length} runs past the reply`);
  return {
    name: decodeString(data.subarray(4, 4 + length), context, 4),
    description: decodeString(data.subarray(4 + length), context, 4 + length),
  };
}

/** S: reply to NBD_OPT_EXPORT_NAME: 64-bit size, transmission flags, 124 zeroes unless NO_ZEROES was agreed. */
export function encodeExportNameReply(size: bigint, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(EXPORT_NAME_REPLY_LENGTH + (noZeroes ? 0 : EXPORT_NAME_REPLY_ZEROES));
  b.writeBigUInt64BE(size, 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

export function decodeExportNameReply(buf: Buffer, noZeroes: boolean): Decoded<{ size: bigint; transmissionFlags: number }> | undefined {
  const bytes = EXPORT_NAME_REPLY_LENGTH + (noZeroes ? 0 : EXPORT_NAME_REPLY_ZEROES);
  if (buf.length < bytes) return undefined;
  return { value: { size: buf.readBigUInt64BE(0), transmissionFlags: buf.readUInt16BE(8) }, bytes };
}

// ---------------------------------------------------------------------------------------------------------
// Transmission (proto.md "Transmission")

export interface RequestHeader {
  /** Command flags (NBD_CMD_FLAG_*). */
  readonly flags: number;
  /** NBD_CMD_*. */
  readonly type: number;
  /** The client's 64-bit handle, echoed in the reply. */
  readonly cookie: bigint;
  readonly offset: bigint;
  readonly length: number;
}

/** C: request header, followed by `data` for NBD_CMD_WRITE. */
export function encodeRequest(h: RequestHeader, data?: Buffer): Buffer {
  const b = Buffer.alloc(REQUEST_HEADER_LENGTH + (data?.length ?? 0));
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(h.flags, 4);
  b.writeUInt16BE(h.type, 6);
  b.writeBigUInt64BE(h.cookie, 8);
  b.writeBigUInt64BE(h.offset, 16);
  b.writeUInt32BE(h.length >>> 0, 24);
  data?.copy(b, REQUEST_HEADER_LENGTH);
  return b;
}

export function decodeRequestHeader(buf: Buffer): Decoded<RequestHeader> | undefined {
  if (buf.length < 4) return undefined;
  // proto.md: a request with the wrong magic cannot be framed; the server hard-disconnects.
  if (buf.readUInt32BE(0) !== NBD_REQUEST_MAGIC) throw new NbdProtocolError('request', 0, 'bad request magic');
  if (buf.length < REQUEST_HEADER_LENGTH) return undefined;
  return {
    value: {
      flags: buf.readUInt16BE(4),
      type: buf.readUInt16BE(6),
      cookie: buf.readBigUInt64BE(8),
      offset: buf.readBigUInt64BE(16),
      length: buf.readUInt32BE(24),
    },
    bytes: REQUEST_HEADER_LENGTH,
  };
}

/** S: simple reply header; a successful NBD_CMD_READ's data follows it. */
export function encodeSimpleReply(error: number, cookie: bigint): Buffer {
  // allocUnsafe: every byte is written below, and small unsafe buffers come from Node's shared slab, so a
  // reply header costs no allocation of its own on the per-I/O path.
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_LENGTH);
  b.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error >>> 0, 4);
  b.writeBigUInt64BE(cookie, 8);
  return b;
}

export interface ChunkHeader {
  readonly flags: number;
  readonly type: number;
  readonly cookie: bigint;
  /** Payload length. */
  readonly length: number;
}

/** S: structured reply chunk header; `length` payload bytes follow. */
export function encodeChunkHeader(h: ChunkHeader): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_LENGTH);
  writeChunkHeader(b, h.flags, h.type, h.cookie, h.length);
  return b;
}

/** Writes a structured reply chunk header at the start of `b` (every one of its 20 bytes). */
function writeChunkHeader(b: Buffer, flags: number, type: number, cookie: bigint, length: number): void {
  b.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(cookie, 8);
  b.writeUInt32BE(length >>> 0, 16);
}

/** S: NBD_REPLY_TYPE_OFFSET_DATA header and offset; `dataLength` bytes of data follow (sent separately, not copied). */
export function encodeOffsetDataHeader(cookie: bigint, offset: bigint, dataLength: number, flags = NBD_REPLY_FLAG_DONE): Buffer {
  // One buffer from the shared slab, written in place: this is the header of every READ reply.
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_LENGTH + 8);
  writeChunkHeader(b, flags, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + dataLength);
  b.writeBigUInt64BE(offset, STRUCTURED_REPLY_HEADER_LENGTH);
  return b;
}

/** S: NBD_REPLY_TYPE_ERROR chunk: error value and a message for humans (truncated to keep it short). */
export function encodeErrorChunk(cookie: bigint, error: number, message = '', flags = NBD_REPLY_FLAG_DONE): Buffer {
  let msg = Buffer.from(message, 'utf8');
  if (msg.length > 1024)
    msg = Buffer.from(
      msg
        .subarray(0, 1024)
        .toString('utf8')
        .replace(/\uFFFD+$/, ''),
      'utf8',
    );
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_LENGTH + 6 + msg.length);
  writeChunkHeader(b, flags, NBD_REPLY_TYPE_ERROR, cookie, 6 + msg.length);
  b.writeUInt32BE(error >>> 0, STRUCTURED_REPLY_HEADER_LENGTH);
  b.writeUInt16BE(msg.length, STRUCTURED_REPLY_HEADER_LENGTH + 4);
  msg.copy(b, STRUCTURED_REPLY_HEADER_LENGTH + 6);
  return b;
}

/** S: NBD_REPLY_TYPE_NONE chunk (always final). */
export function encodeNoneChunk(cookie: bigint): Buffer {
  return encodeChunkHeader({ flags: NBD_REPLY_FLAG_DONE, type: NBD_REPLY_TYPE_NONE, cookie, length: 0 });
}

export type ReplyHeader =
  | { readonly kind: 'simple'; readonly error: number; readonly cookie: bigint }
  | ({ readonly kind: 'structured' } & ChunkHeader);

export function decodeReplyHeader(buf: Buffer): Decoded<ReplyHeader> | undefined {
  if (buf.length < 4) return undefined;
  const magic = buf.readUInt32BE(0);
  if (magic === NBD_SIMPLE_REPLY_MAGIC) {
    if (buf.length < SIMPLE_REPLY_HEADER_LENGTH) return undefined;
    return { value: { kind: 'simple', error: buf.readUInt32BE(4), cookie: buf.readBigUInt64BE(8) }, bytes: SIMPLE_REPLY_HEADER_LENGTH };
  }
  if (magic === NBD_STRUCTURED_REPLY_MAGIC) {
    if (buf.length < STRUCTURED_REPLY_HEADER_LENGTH) return undefined;
    return {
      value: {
        kind: 'structured',
        flags: buf.readUInt16BE(4),
        type: buf.readUInt16BE(6),
        cookie: buf.readBigUInt64BE(8),
        length: buf.readUInt32BE(16),
      },
      bytes: STRUCTURED_REPLY_HEADER_LENGTH,
    };
  }
  throw new NbdProtocolError('reply', 0, `bad reply magic 0x${magic.toString(16)}`);
}

/** Payload of NBD_REPLY_TYPE_OFFSET_DATA: offset and at least one byte of data. */
export function parseOffsetData(payload: Buffer): { offset: bigint; data: Buffer } {
  if (payload.length < 9)
    throw new NbdProtocolError('NBD_REPLY_TYPE_OFFSET_DATA', 0, `payload of ${payload.length} bytes is shorter than 9`);
  return { offset: payload.readBigUInt64BE(0), data: payload.subarray(8) };
}

/** Payload of an error chunk (bit 15 of the type): error, message, and the offset for NBD_REPLY_TYPE_ERROR_OFFSET. */
export function parseErrorChunk(type: number, payload: Buffer): { error: number; message: string; offset?: bigint } {
  const context = 'error chunk';
  if (payload.length < 6) throw new NbdProtocolError(context, 0, `payload of ${payload.length} bytes is shorter than 6`);
  const error = payload.readUInt32BE(0);
  const msgLength = payload.readUInt16BE(4);
  const tail = type === NBD_REPLY_TYPE_ERROR_OFFSET ? 8 : 0;
  if (6 + msgLength + tail > payload.length) throw new NbdProtocolError(context, 4, `message length ${msgLength} runs past the payload`);
  const message = decodeString(payload.subarray(6, 6 + msgLength), context, 6);
  return tail ? { error, message, offset: payload.readBigUInt64BE(6 + msgLength) } : { error, message };
}

// ---------------------------------------------------------------------------------------------------------
// Stream decoders

/** What the server reads from a client, in order. */
export type ClientMessage =
  | { readonly type: 'flags'; readonly flags: number }
  | { readonly type: 'option'; readonly option: number; readonly data: Buffer }
  /** Option data longer than `maxOptionLength`: the data is discarded, the option must be refused. */
  | { readonly type: 'option.oversize'; readonly option: number; readonly length: number }
  /** `pooled`: the payload pool's buffer `data` lives in, for the caller to give back once the write is done. */
  | { readonly type: 'request'; readonly header: RequestHeader; readonly data?: Buffer; readonly pooled?: Buffer }
  /** NBD_CMD_WRITE with a payload over `maxPayload`: the payload is discarded, the request must fail. */
  | { readonly type: 'request.oversize'; readonly header: RequestHeader };

export interface ClientStreamOptions {
  /** Largest option data kept; longer data is discarded as it arrives. Default 65536. */
  maxOptionLength?: number;
  /** Largest NBD_CMD_WRITE payload kept; longer payloads are discarded as they arrive. Default 32 MiB. */
  maxPayload?: number;
  /**
   * Where a write payload that arrived in several socket reads is joined (a BufferPool): a fresh buffer per
   * write is an allocation (an mmap for 128 KiB and more) and a page fault per 4 KiB touched. Default: fresh.
   */
  payloadPool?: { get(length: number): Buffer };
  /**
   * Pushed chunks are views of a receive buffer that is reused once the caller is done with them: option data
   * and write payloads are then always copied, and the caller calls `retain` after its last `next` on a chunk
   * (so what is still queued is copied). Default false: chunks are the caller's to give away.
   */
  volatileChunks?: boolean;
}

/** A WRITE whose header has been read and whose payload is still arriving, into `dest`. */
interface PendingWrite {
  readonly header: RequestHeader;
  readonly dest: Buffer;
  /** `dest` is the payload pool's (to return once the write is done). */
  readonly pooled: Buffer | undefined;
  got: number;
}

/** Smallest write payload joined into a pool buffer (smaller ones come from Node's own slab). */
const POOLED_PAYLOAD_MIN = 4096;

/**
 * Frames the client->server byte stream: client flags, then options, then (after the server accepts
 * NBD_OPT_GO or NBD_OPT_EXPORT_NAME and calls `enterTransmission`) requests with their write payloads.
 * Pull-based: `push` bytes, then call `next` until it returns undefined, so the caller can change phase or
 * stop pulling (backpressure) between messages. Throws NbdProtocolError for a bad magic; the stream is then
 * unusable (the spec's answer is a hard disconnect).
 */
export class ClientStreamDecoder {
  private readonly queue = new ByteQueue();
  private phaseNow: 'flags' | 'options' | 'transmission' = 'flags';
  private discard = 0;
  private readonly maxOptionLength: number;
  private readonly maxPayload: number;
  private readonly payloadPool: { get(length: number): Buffer } | undefined;
  private readonly volatileChunks: boolean;
  private pending: PendingWrite | undefined;

  constructor(options: ClientStreamOptions = {}) {
    this.maxOptionLength = options.maxOptionLength ?? 65536;
    this.maxPayload = options.maxPayload ?? NBD_DEFAULT_MAX_PAYLOAD;
    this.payloadPool = options.payloadPool;
    this.volatileChunks = options.volatileChunks ?? false;
  }

  get phase(): 'flags' | 'options' | 'transmission' {
    return this.phaseNow;
  }

  /** Bytes received and not yet returned as messages (or discarded). */
  get buffered(): number {
    return this.queue.length;
  }

  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  /** With `volatileChunks`: copies the queued bytes that still live in `receiveBuffer` (call before it is reused). */
  retain(receiveBuffer: ArrayBufferLike): void {
    this.queue.own(receiveBuffer);
  }

  /**
   * Where the rest of a WRITE's payload may be read straight into (nothing else is queued before it), or
   * undefined. After reading `n` bytes there, call `directReceived(n)`.
   */
  directTarget(): Buffer | undefined {
    const p = this.pending;
    return p !== undefined && this.queue.length === 0 ? p.dest.subarray(p.got, p.header.length) : undefined;
  }

  /** `n` bytes were read into the buffer directTarget() returned. */
  directReceived(n: number): void {
    const p = this.pending;
    if (p === undefined || p.got + n > p.header.length) throw new RangeError(`directReceived(${n}) with no room for it`);
    p.got += n;
  }

  /** The option phase is over: what follows are requests. */
  enterTransmission(): void {
    this.phaseNow = 'transmission';
  }

  next(): ClientMessage | undefined {
    if (this.discard > 0) {
      this.discard -= this.queue.skip(this.discard);
      if (this.discard > 0) return undefined;
    }
    const q = this.queue;
    switch (this.phaseNow) {
      case 'flags': {
        const d = decodeClientFlags(q.peek(Math.min(q.length, 4)));
        if (!d) return undefined;
        q.skip(d.bytes);
        this.phaseNow = 'options';
        return { type: 'flags', flags: d.value };
      }
      case 'options': {
        const d = decodeOptionHeader(q.peek(Math.min(q.length, OPTION_HEADER_LENGTH)));
        if (!d) return undefined;
        const { option, length } = d.value;
        if (length > this.maxOptionLength) {
          q.skip(d.bytes);
          this.discard = length;
          this.discard -= q.skip(this.discard);
          return { type: 'option.oversize', option, length };
        }
        if (q.length < d.bytes + length) return undefined;
        const all = q.take(d.bytes + length);
        const data = all.subarray(d.bytes);
        return { type: 'option', option, data: this.volatileChunks ? Buffer.from(data) : data };
      }
      case 'transmission': {
        if (this.pending !== undefined) return this.fillPending();
        const d = decodeRequestHeader(q.peek(Math.min(q.length, REQUEST_HEADER_LENGTH)));
        if (!d) return undefined;
        const header = d.value;
        if (header.type !== NBD_CMD_WRITE) {
          q.skip(d.bytes);
          return { type: 'request', header };
        }
        if (header.length > this.maxPayload) {
          q.skip(d.bytes);
          this.discard = header.length;
          this.discard -= q.skip(this.discard);
          return { type: 'request.oversize', header };
        }
        const whole = q.length >= d.bytes + header.length;
        if (whole && !this.volatileChunks && q.contiguous(d.bytes + header.length)) {
          const all = q.take(d.bytes + header.length);
          return { type: 'request', header, data: all.subarray(d.bytes) };
        }
        if (!whole && this.payloadPool === undefined && !this.volatileChunks) return undefined;
        // The payload spans reads (or its chunk is not ours to keep): it is gathered in a buffer of its own as it
        // arrives, and with a receive buffer the rest can be read straight into it (directTarget).
        q.skip(d.bytes);
        const pooled =
          this.payloadPool !== undefined && header.length >= POOLED_PAYLOAD_MIN ? this.payloadPool.get(header.length) : undefined;
        this.pending = { header, dest: pooled ?? Buffer.allocUnsafe(header.length), pooled, got: 0 };
        return this.fillPending();
      }
    }
  }

  /** Moves queued bytes into the pending WRITE's payload; the request once it is complete. */
  private fillPending(): ClientMessage | undefined {
    const p = this.pending!;
    const n = Math.min(p.header.length - p.got, this.queue.length);
    if (n > 0) {
      this.queue.takeInto(n, p.dest.subarray(p.got));
      p.got += n;
    }
    if (p.got < p.header.length) return undefined;
    this.pending = undefined;
    const data = p.dest.length === p.header.length ? p.dest : p.dest.subarray(0, p.header.length);
    return p.pooled !== undefined
      ? { type: 'request', header: p.header, data, pooled: p.pooled }
      : { type: 'request', header: p.header, data };
  }
}

/** What a client reads from the server, in order. */
export type ServerMessage =
  | { readonly type: 'greeting'; readonly handshakeFlags: number }
  | ({ readonly type: 'optionReply' } & OptionReply)
  | { readonly type: 'exportName'; readonly size: bigint; readonly transmissionFlags: number }
  | { readonly type: 'simpleReply'; readonly error: number; readonly cookie: bigint; readonly data?: Buffer }
  | {
      readonly type: 'chunk';
      readonly flags: number;
      /** NBD_REPLY_TYPE_*. */
      readonly chunkType: number;
      readonly cookie: bigint;
      readonly payload: Buffer;
    };

/**
 * Frames the server->client byte stream (for test clients and tools): greeting, option replies, the
 * NBD_OPT_EXPORT_NAME reply when `expectExportNameReply` was called, then replies. A simple reply carries
 * data only for a successful read, which the stream cannot tell by itself: `readLength(cookie)` says how
 * many bytes the request with that cookie reads (undefined: not a read).
 */
export class ServerStreamDecoder {
  private readonly queue = new ByteQueue();
  private phase: 'greeting' | 'options' | 'exportName' | 'transmission' = 'greeting';
  private noZeroes = false;

  constructor(
    private readonly readLength: (cookie: bigint) => number | undefined = () => undefined,
    private readonly maxPayload = NBD_DEFAULT_MAX_PAYLOAD + 1024,
  ) {}

  push(chunk: Buffer): void {
    this.queue.push(chunk);
  }

  /** The client sent NBD_OPT_EXPORT_NAME: the next bytes are its reply (124 zeroes unless `noZeroes`). */
  expectExportNameReply(noZeroes: boolean): void {
    this.phase = 'exportName';
    this.noZeroes = noZeroes;
  }

  /** NBD_OPT_GO succeeded: the next bytes are transmission replies. */
  enterTransmission(): void {
    this.phase = 'transmission';
  }

  next(): ServerMessage | undefined {
    const q = this.queue;
    const all = () => q.peek(q.length);
    switch (this.phase) {
      case 'greeting': {
        const d = decodeGreeting(q.peek(Math.min(q.length, GREETING_LENGTH)));
        if (!d) return undefined;
        q.skip(d.bytes);
        this.phase = 'options';
        return { type: 'greeting', ...d.value };
      }
      case 'options': {
        const d = decodeOptionReply(all());
        if (!d) return undefined;
        q.skip(d.bytes);
        return { type: 'optionReply', ...d.value, data: Buffer.from(d.value.data) };
      }
      case 'exportName': {
        const d = decodeExportNameReply(all(), this.noZeroes);
        if (!d) return undefined;
        q.skip(d.bytes);
        this.phase = 'transmission';
        return { type: 'exportName', ...d.value };
      }
      case 'transmission': {
        const d = decodeReplyHeader(q.peek(Math.min(q.length, STRUCTURED_REPLY_HEADER_LENGTH)));
        if (!d) return undefined;
        const h = d.value;
        if (h.kind === 'simple') {
          const n = h.error === 0 ? (this.readLength(h.cookie) ?? 0) : 0;
          if (q.length < d.bytes + n) return undefined;
          const b = q.take(d.bytes + n);
          return n > 0
            ? { type: 'simpleReply', error: h.error, cookie: h.cookie, data: b.subarray(d.bytes) }
            : { type: 'simpleReply', error: h.error, cookie: h.cookie };
        }
        if (h.length > this.maxPayload)
          throw new NbdProtocolError('structured reply', 16, `payload length ${h.length} exceeds ${this.maxPayload}`);
        if (q.length < d.bytes + h.length) return undefined;
        const b = q.take(d.bytes + h.length);
        return { type: 'chunk', flags: h.flags, chunkType: h.type, cookie: h.cookie, payload: b.subarray(d.bytes) };
      }
    }
  }
}
