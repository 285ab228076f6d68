/**
 * The NBD server (NetworkBlockDevice/nbd doc/proto.md, fixed newstyle only): named exports of BlockDevices,
 * listening on a unix socket (mode 0600) and/or loopback TCP, one NbdConnection per client.
 */
import { chmodSync, linkSync, lstatSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { BlockDevice } from '../session/block-device.js';
import { type Clock, systemClock } from '../session/clock.js';
import { BufferPool } from './buffer-pool.js';
import { NbdConnection, type ConnectionHost, type ConnectionLimits, type ExportEntry } from './connection.js';
import { NBD_DEFAULT_MAX_PAYLOAD, NBD_MAX_STRING_LENGTH } from './constants.js';
import { adoptAccepted } from './socket-reader.js';

export interface NbdServerOptions {
  /** Largest READ/WRITE payload accepted; larger requests get EOVERFLOW. Default 32 MiB (the spec's default). */
  maxPayload?: number;
  /** Per connection: stop reading requests while replies owed exceed this many bytes. Default 64 MiB. */
  maxInFlightBytes?: number;
  /** Per connection: stop reading requests while this many are in flight. Default 512. */
  maxInFlightRequests?: number;
  /** Option data kept (export names are at most 4 KiB); longer options are discarded and refused. Default 64 KiB. */
  maxOptionLength?: number;
  /** After shutdown has answered everything owed, how long a client may still send requests (answered ESHUTDOWN) before the socket ends. Default 500 ms. */
  shutdownGraceMs?: number;
  /** A client that has not chosen an export within this time is dropped. Default 30 s. */
  handshakeTimeoutMs?: number;
  /** Called when a client is dropped for breaking the protocol (for logs); the server carries on. Default: ignore. */
  onClientDropped?: (reason: unknown, exportName: string | undefined) => void;
  /** The handshake timeout's and the shutdown grace's timers. Default systemClock; a SimulatedClock in tests. */
  clock?: Clock;
}

export interface ExportOptions {
  /** NBD_INFO_DESCRIPTION and NBD_OPT_LIST text. Default the device's `info.description`. */
  description?: string;
  /** Zeroing is cheap on this device (advertise NBD_FLAG_SEND_FAST_ZERO). Default false: FAST_ZERO gets ENOTSUP. */
  fastZero?: boolean;
}

export interface ListenOptions {
  /** Unix socket path; created with mode 0600 (a stale socket file nobody listens on is replaced). */
  socketPath?: string;
  /** TCP listener; `host` defaults to 127.0.0.1 (loopback), `port` 0 picks a free one. */
  tcp?: { host?: string; port: number };
}

export interface ListeningAddresses {
  socketPath?: string;
  tcp?: { host: string; port: number };
}

/** Connects to a unix socket path: true when something accepts. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function listenOn(server: Server, opts: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(opts, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Unlinks `path` only if it is still the socket this server bound (same device and inode): a file or socket
 * someone put there since (after removing ours) stays. There is a window between the check and the unlink, as
 * in every path-based removal; the socket's directory (0700, the daemon's) is what keeps others out of it.
 */
function removeOwnSocket(path: string, own: { dev: number; ino: number } | undefined): void {
  try {
    const st = lstatSync(path);
    if (!own || !st.isSocket() || st.dev !== own.dev || st.ino !== own.ino) return;
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

export class NbdServer {
  private readonly exportsByName = new Map<string, ExportEntry>();
  private readonly conns = new Set<NbdConnection>();
  private readonly servers: Server[] = [];
  private socketPath: string | undefined;
  /** The socket file this server made (device and inode): close() removes that file and never one that replaced it. */
  private socketIdentity: { dev: number; ino: number } | undefined;
  /** The 0700 directory the socket was bound in before it was linked to its public name. */
  private privateDir: string | undefined;
  private closing: Promise<void> | undefined;
  private readonly host: ConnectionHost;
  readonly limits: ConnectionLimits;

  constructor(options: NbdServerOptions = {}) {
    this.limits = {
      maxPayload: options.maxPayload ?? NBD_DEFAULT_MAX_PAYLOAD,
      maxInFlightBytes: options.maxInFlightBytes ?? 64 * 1024 * 1024,
      maxInFlightRequests: options.maxInFlightRequests ?? 512,
      maxOptionLength: options.maxOptionLength ?? 65536,
      shutdownGraceMs: options.shutdownGraceMs ?? 500,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 30_000,
    };
    this.host = {
      findExport: (name) => this.findExport(name),
      listExports: () => [...this.exportsByName.values()],
      limits: this.limits,
      buffers: new BufferPool(),
      clock: options.clock ?? systemClock,
      connectionClosed: (c) => this.conns.delete(c),
      clientDropped: (reason, exportName) => {
        try {
          options.onClientDropped?.(reason, exportName);
        } catch {
          /* a logging hook must not take the server down */
        }
      },
    };
  }

  /** Serves `device` as export `name` (UTF-8, at most 4096 bytes, no NUL). */
  addExport(name: string, device: BlockDevice, options: ExportOptions = {}): void {
    const bytes = Buffer.byteLength(name, 'utf8');
    if (bytes > NBD_MAX_STRING_LENGTH || name.includes('\0'))
      throw new RangeError(`export name ${JSON.stringify(name)} is not a valid NBD string`);
    if (this.exportsByName.has(name)) throw new Error(`export ${JSON.stringify(name)} already exists`);
    this.exportsByName.set(name, {
      name,
      device,
      description: options.description ?? device.info.description,
      fastZero: options.fastZero ?? false,
    });
  }

  /**
   * Stops serving `name`: new clients no longer find it; its connected clients are shut down as on `close`
   * (in-flight requests answered, then ESHUTDOWN). Resolves when they are gone.
   */
  async removeExport(name: string): Promise<void> {
    if (!this.exportsByName.delete(name)) return;
    await Promise.all([...this.conns].filter((c) => c.exportName === name).map((c) => c.shutdown()));
  }

  /** Export names, in the order they were added. */
  exportNames(): string[] {
    return [...this.exportsByName.keys()];
  }

  /** Connected clients (in any phase). */
  get connectionCount(): number {
    return this.conns.size;
  }

  /** Starts listening; resolves with the addresses actually bound (the TCP port when 0 was asked). */
  async listen(options: ListenOptions): Promise<ListeningAddresses> {
    if (this.closing) throw new Error('NBD server is closed');
    if (!options.socketPath && !options.tcp) throw new Error('listen: give socketPath and/or tcp');
    const out: ListeningAddresses = {};
    if (options.socketPath) {
      const path = options.socketPath;
      if (this.socketPath) throw new Error(`already listening on ${this.socketPath}`);
      try {
        if (lstatSync(path).isSocket() && !(await socketInUse(path))) unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      // Bind in a private directory (0700, beside `path`, so on the same file system), make the socket 0600,
      // then publish it with link(2): the name appears atomically, already 0600, and never replaces a file that
      // appeared meanwhile (EEXIST). libuv unlinks the name it bound when the server closes; that is the private
      // one, so the public name is ours to remove, and removeOwnSocket only removes it while it is our inode.
      const privateDir = mkdtempSync(join(dirname(path), '.nbd'));
      const bound = join(privateDir, 's');
      const server = this.newServer();
      try {
        await listenOn(server, { path: bound });
        chmodSync(bound, 0o600);
        linkSync(bound, path);
      } catch (err) {
        await new Promise<void>((r) => server.close(() => r()));
        rmSync(privateDir, { recursive: true, force: true });
        throw err;
      }
      const st = lstatSync(path);
      this.socketIdentity = { dev: st.dev, ino: st.ino };
      this.privateDir = privateDir;
      this.servers.push(server);
      this.socketPath = path;
      out.socketPath = path;
    }
    if (options.tcp) {
      const host = options.tcp.host ?? '127.0.0.1';
      const server = this.newServer();
      await listenOn(server, { host, port: options.tcp.port });
      this.servers.push(server);
      const addr = server.address();
      out.tcp = { host, port: typeof addr === 'object' && addr ? addr.port : options.tcp.port };
    }
    return out;
  }

  /**
   * Stops listening and shuts every connection down (proto.md "Terminating the transmission phase"): in-flight
   * requests are answered, later requests get ESHUTDOWN and options NBD_REP_ERR_SHUTDOWN; sockets end once nothing
   * is owed (after `shutdownGraceMs`). Resolves when all are closed.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const stopped = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      await Promise.all([...this.conns].map((c) => c.shutdown()));
      await stopped;
      if (this.socketPath) removeOwnSocket(this.socketPath, this.socketIdentity);
      if (this.privateDir) rmSync(this.privateDir, { recursive: true, force: true });
    })();
    return this.closing;
  }

  /** `nbd+unix:///NAME?socket=PATH` and/or `nbd://HOST:PORT/NAME` (the URIs libnbd, qemu and fio take). */
  uris(name: string, addresses: ListeningAddresses): string[] {
    const out: string[] = [];
    const enc = encodeURIComponent(name);
    if (addresses.socketPath) out.push(`nbd+unix:///${enc}?socket=${addresses.socketPath}`);
    if (addresses.tcp)
      out.push(`nbd://${addresses.tcp.host.includes(':') ? `[${addresses.tcp.host}]` : addresses.tcp.host}:${addresses.tcp.port}/${enc}`);
    return out;
  }

  private newServer(): Server {
    // allowHalfOpen: a client that half-closes after NBD_CMD_DISC still gets the replies it is owed.
    // pauseOnConnect: nothing is read before adoptAccepted has moved the socket onto a reused receive buffer.
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted: Socket) => {
      if (this.closing) {
        accepted.destroy();
        return;
      }
      this.conns.add(new NbdConnection(adoptAccepted(accepted, true), this.host));
    });
    server.on('error', () => {
      /* accept errors (EMFILE...) must not crash the process; the listener stays up */
    });
    return server;
  }

  /** The empty name is the default export: the one named "", else the only export when there is one. */
  private findExport(name: string): ExportEntry | undefined {
    const e = this.exportsByName.get(name);
    if (e || name !== '') return e;
    return this.exportsByName.size === 1 ? this.exportsByName.values().next().value : undefined;
  }
}
