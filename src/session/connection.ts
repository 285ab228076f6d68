/**
 * One iSCSI TCP connection (RFC 7143 §4.1, §6): socket, PDU framing, batched writes and the per-connection
 * counters iscsiadm `--stats` shows. It knows nothing of tasks or sessions; it hands PDUs to one handler.
 */
import { connect, type Socket } from 'node:net';
import { framePdu, PduFramer, type DigestOptions } from '../iscsi/framer.js';
import type { Pdu } from '../iscsi/pdu.js';
import { Opcode, DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH } from '../iscsi/constants.js';
import { TransportError } from '../iscsi/errors.js';
import { systemClock, type Clock } from './clock.js';
import { attachReader, readerOf, userBufferReads } from './socket-reader.js';

export interface ConnectOptions {
  host: string;
  port: number;
  /** Source address to bind (iface.ipaddress). */
  localAddress?: string;
  /** Gives up connecting after this long (ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The clock the timeout runs on. Default systemClock. */
  clock?: Clock;
}

/** Counters as in iscsiadm `-m session --stats` (iSCSI SNMP MIB names). */
export interface ConnectionStats {
  txdata_octets: number;
  rxdata_octets: number;
  noptx_pdus: number;
  scsicmd_pdus: number;
  tmfcmd_pdus: number;
  login_pdus: number;
  text_pdus: number;
  dataout_pdus: number;
  logout_pdus: number;
  snack_pdus: number;
  noprx_pdus: number;
  scsirsp_pdus: number;
  tmfrsp_pdus: number;
  textrsp_pdus: number;
  datain_pdus: number;
  logoutrsp_pdus: number;
  r2t_pdus: number;
  async_pdus: number;
  rjt_pdus: number;
  digest_err: number;
  timeout_err: number;
}

const TX_COUNTER: Partial<Record<number, keyof ConnectionStats>> = {
  [Opcode.NOP_OUT]: 'noptx_pdus',
  [Opcode.SCSI_COMMAND]: 'scsicmd_pdus',
  [Opcode.TASK_MGMT_REQUEST]: 'tmfcmd_pdus',
  [Opcode.LOGIN_REQUEST]: 'login_pdus',
  [Opcode.TEXT_REQUEST]: 'text_pdus',
  [Opcode.SCSI_DATA_OUT]: 'dataout_pdus',
  [Opcode.LOGOUT_REQUEST]: 'logout_pdus',
  [Opcode.SNACK_REQUEST]: 'snack_pdus',
};
const RX_COUNTER: Partial<Record<number, keyof ConnectionStats>> = {
  [Opcode.NOP_IN]: 'noprx_pdus',
  [Opcode.SCSI_RESPONSE]: 'scsirsp_pdus',
  [Opcode.TASK_MGMT_RESPONSE]: 'tmfrsp_pdus',
  [Opcode.TEXT_RESPONSE]: 'textrsp_pdus',
  [Opcode.SCSI_DATA_IN]: 'datain_pdus',
  [Opcode.LOGOUT_RESPONSE]: 'logoutrsp_pdus',
  [Opcode.R2T]: 'r2t_pdus',
  [Opcode.ASYNC_MESSAGE]: 'async_pdus',
  [Opcode.REJECT]: 'rjt_pdus',
};

export function emptyStats(): ConnectionStats {
  return {
    txdata_octets: 0,
    rxdata_octets: 0,
    noptx_pdus: 0,
    scsicmd_pdus: 0,
    tmfcmd_pdus: 0,
    login_pdus: 0,
    text_pdus: 0,
    dataout_pdus: 0,
    logout_pdus: 0,
    snack_pdus: 0,
    noprx_pdus: 0,
    scsirsp_pdus: 0,
    tmfrsp_pdus: 0,
    textrsp_pdus: 0,
    datain_pdus: 0,
    logoutrsp_pdus: 0,
    r2t_pdus: 0,
    async_pdus: 0,
    rjt_pdus: 0,
    digest_err: 0,
    timeout_err: 0,
  };
}

/**
 * One receive buffer shared by every connection: Node reads sockets on one thread and the framer consumes
 * (or copies) each read before the next, so no read allocates (DESIGN.md: the data path avoids copies and
 * garbage; a 128 KiB Data-In is copied once, into its task's buffer).
 */
const RECV_BUFFER = Buffer.allocUnsafeSlow(512 * 1024);
/** Batches up to this many bytes are copied into one buffer and written with one socket.write. */
const SMALL_BATCH = 16 * 1024;

export interface ConnectionHandler {
  pdu(pdu: Pdu): void;
  /** The connection is gone: remote close, socket error, or a malformed PDU (the error says which). */
  closed(error: Error): void;
}

/** Opens a TCP connection for iSCSI. Rejects with TransportError. */
export function connectTcp(opts: ConnectOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const { reader, onread } = userBufferReads(RECV_BUFFER);
    const socket = connect({
      host: opts.host,
      port: opts.port,
      localAddress: opts.localAddress,
      noDelay: true,
      onread,
    });
    attachReader(socket, reader);
    const clock = opts.clock ?? systemClock;
    let timer: unknown;
    const fail = (err: Error) => {
      cleanup();
      socket.destroy();
      reject(
        err instanceof TransportError
          ? err
          : new TransportError(`connect to ${opts.host}:${opts.port} failed: ${err.message}`, { cause: err }),
      );
    };
    const onAbort = () => fail(new TransportError(`connect to ${opts.host}:${opts.port} aborted`));
    const cleanup = () => {
      if (timer !== undefined) clock.clearTimeout(timer);
      socket.off('error', fail);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    if (opts.timeoutMs !== undefined)
      timer = clock.setTimeout(
        () => fail(new TransportError(`connect to ${opts.host}:${opts.port} timed out after ${opts.timeoutMs} ms`)),
        opts.timeoutMs,
      );
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', fail);
    socket.once('connect', () => {
      cleanup();
      socket.setKeepAlive(true, 10_000);
      resolve(socket);
    });
  });
}

/** Bytes kept of what the peer sent first (Connection.firstBytes): enough for a banner or a status line. */
const FIRST_BYTES = 64;

export class Connection {
  readonly stats: ConnectionStats = emptyStats();
  private readonly framer = new PduFramer({ maxRecvDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH });
  private digests: DigestOptions = { headerDigest: false, dataDigest: false };
  private handler: ConnectionHandler | undefined;
  private closedWith: Error | undefined;
  /**
   * The first bytes the peer sent (up to FIRST_BYTES): what a peer that is not an iSCSI target said, for the
   * login's error (open.ts). Direct reads only start after a parsed header, so these all pass through onData.
   */
  firstBytes: Buffer = Buffer.alloc(0);

  constructor(
    readonly socket: Socket,
    readonly cid = 0,
  ) {
    const reader = readerOf(socket);
    if (reader) {
      reader.handler = (chunk) => this.onData(chunk, true);
      reader.target = () => (this.closedWith ? undefined : this.framer.directTarget());
      reader.direct = (n) => this.onDirect(n);
    } else socket.on('data', (chunk: Buffer) => this.onData(chunk, false));
    socket.on('error', (err) => this.fail(new TransportError(`connection error: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new TransportError('connection closed by peer')));
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  setHandler(handler: ConnectionHandler): void {
    this.handler = handler;
    if (this.closedWith) handler.closed(this.closedWith);
  }

  /** Applies negotiated digests and our MaxRecvDataSegmentLength (from the first full-feature PDU on). */
  enterFullFeature(digests: DigestOptions, maxRecvDataSegmentLength: number): void {
    this.digests = { ...digests };
    this.framer.setOptions({ ...digests, maxRecvDataSegmentLength });
  }

  /**
   * Queues a PDU; the PDUs queued by one piece of synchronous code and the microtasks after it go out
   * together, small ones (commands, NOP-Outs) joined into one buffer and so one write() of the socket.
   */
  send(pdu: Pdu): void {
    if (this.closedWith) throw this.closedWith;
    const bufs = framePdu(pdu, this.digests);
    for (let i = 0; i < bufs.length; i++) {
      this.out.push(bufs[i]);
      this.outBytes += bufs[i].length;
    }
    if (!this.flushQueued) {
      this.flushQueued = true;
      // A microtask, not a tick: the commands issued by the promise reactions of one socket read (each
      // completion starts the next I/O) all queue before it runs, and Node needs no extra entry into
      // processTicksAndRejections per read.
      queueMicrotask(this.flush);
    }
    // The per-I/O PDUs count through fixed properties (a keyed increment is a megamorphic access per PDU).
    if (pdu.opcode === Opcode.SCSI_COMMAND) this.stats.scsicmd_pdus++;
    else {
      const c = TX_COUNTER[pdu.opcode];
      if (c) this.stats[c]++;
    }
    if (pdu.data && (pdu.opcode === Opcode.SCSI_DATA_OUT || pdu.opcode === Opcode.SCSI_COMMAND))
      this.stats.txdata_octets += pdu.data.length;
  }

  /** Buffers queued by send() since the last flush, and their length. */
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushQueued = false;

  /**
   * Writes what send() queued. Node's Writable path adds a cost per call comparable to the write() itself
   * (cork/uncork, writev bookkeeping), and on a small machine shared with the target the initiator's CPU
   * time per I/O slows the target down; so: one buffer, one socket.write, whenever the batch is small;
   * cork + writev only for batches that carry data.
   */
  private readonly flush = (): void => {
    this.flushQueued = false;
    const out = this.out;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (this.closedWith || out.length === 0) return;
    if (out.length === 1) this.socket.write(out[0]);
    else if (bytes <= SMALL_BATCH) this.socket.write(Buffer.concat(out, bytes));
    else {
      this.socket.cork();
      for (let i = 0; i < out.length; i++) this.socket.write(out[i]);
      this.socket.uncork();
    }
  };

  /** Drops the connection (no logout). Idempotent. */
  destroy(reason: Error = new TransportError('connection dropped')): void {
    this.fail(reason);
  }

  /**
   * Lets Data-In data segments that span socket reads go straight into the buffer `sink` names (the task's
   * destination): the kernel then copies them into place (framer.ts directTarget).
   */
  setDataSink(sink: ((header: Buffer, dataSegmentLength: number) => Buffer | undefined) | undefined): void {
    this.framer.setOptions({ dataSink: sink });
  }

  private readonly emitPdu = (pdu: Pdu): void => {
    if (pdu.opcode === Opcode.SCSI_DATA_IN) this.stats.datain_pdus++;
    else if (pdu.opcode === Opcode.SCSI_RESPONSE) this.stats.scsirsp_pdus++;
    else {
      const c = RX_COUNTER[pdu.opcode];
      if (c) this.stats[c]++;
    }
    if (pdu.opcode === Opcode.SCSI_DATA_IN) {
      // Data-In payloads are copied by the session straight into their task's buffer (or are there already).
      if (pdu.data) this.stats.rxdata_octets += pdu.data.length;
    } else if (this.volatileRead && pdu.data) pdu.data = Buffer.from(pdu.data);
    this.handler?.pdu(pdu);
  };
  private volatileRead = false;

  private onDirect(n: number): void {
    if (this.closedWith) return;
    try {
      this.framer.directReceived(n, this.emitPdu);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private onData(chunk: Buffer, volatile: boolean): void {
    if (this.closedWith) return;
    this.volatileRead = volatile;
    if (this.firstBytes.length < FIRST_BYTES)
      this.firstBytes = Buffer.concat([this.firstBytes, chunk.subarray(0, FIRST_BYTES - this.firstBytes.length)]);
    try {
      this.framer.push(chunk, this.emitPdu, volatile);
    } catch (err) {
      if ((err as Error).name === 'DigestError') this.stats.digest_err++;
      // A malformed PDU drops this connection, never the process (RFC 7143 §6.7 at ERL 0).
      this.fail(err as Error);
    }
  }

  private fail(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    this.socket.destroy();
    this.handler?.closed(err);
  }
}
