/**
 * A TCP fault proxy between the initiator and a target, for failure tests: pass, delay, blackhole (bytes
 * stop flowing, sockets stay open; like a network partition, bytes of a connection that lives on flow again
 * when the blackhole ends, as TCP retransmission would deliver them, and bytes of a connection whose end
 * closed meanwhile are never delivered, as its kernel would not retransmit them), reset (RST) and close (FIN).
 * Listens on loopback; applies a mode to live connections and to new ones.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * The `--set` list of a multibus export whose paths run through FaultProxies and fail fast: a NOP-Out after
 * 0.5 s of silence with 0.5 s to answer, relogin with no Time2Wait, checker every 0.5 s, I/O queued while no
 * path is left (replacement_timeout 30 s keeps the session trying). test/integration/serve.test.ts checks
 * failover under it; bench/matrix.ts measures its stalls.
 */
export const FAST_FAILOVER_SET: readonly string[] = Object.freeze([
  'node.conn[0].timeo.noop_out_interval=0.5',
  'node.conn[0].timeo.noop_out_timeout=0.5',
  'node.session.timeo.replacement_timeout=30',
  'node.session.iscsi.DefaultTime2Wait=0',
  'path_grouping_policy=multibus',
  'polling_interval=0.5',
  'no_path_retry=queue',
]);

export type FaultMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' } | { kind: 'reset' } | { kind: 'close' };

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Bytes held by a blackhole, per direction, delivered when it ends (dropped if the pair closes first). */
  held: Array<{ to: Socket; chunk: Buffer }>;
}

export class FaultProxy {
  private mode: FaultMode = { kind: 'pass' };
  private readonly pairs = new Set<Pair>();
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  static async start(target: { host: string; port: number }, listenHost = '127.0.0.1'): Promise<FaultProxy> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: listenHost, port: 0 }, () => resolve());
    });
    const addr = server.address();
    const proxy = new FaultProxy(server, listenHost, typeof addr === 'object' && addr ? addr.port : 0, target);
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Changes the mode; reset and close act on live connections at once, blackhole/delay on every byte after. */
  set(mode: FaultMode): void {
    this.mode = mode;
    if (mode.kind === 'reset' || mode.kind === 'close') for (const p of [...this.pairs]) this.kill(p, mode.kind);
    if (mode.kind !== 'blackhole') for (const p of this.pairs) for (const { to, chunk } of p.held.splice(0)) this.deliver(to, chunk);
  }

  private deliver(to: Socket, chunk: Buffer): void {
    const m = this.mode;
    if (m.kind === 'delay') setTimeout(() => to.destroyed || to.write(chunk), m.ms);
    else if (!to.destroyed) to.write(chunk);
  }

  async stop(): Promise<void> {
    for (const p of [...this.pairs]) this.kill(p, 'reset');
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(client: Socket): void {
    this.accepted++;
    if (this.mode.kind === 'reset' || this.mode.kind === 'close') {
      if (this.mode.kind === 'reset') client.resetAndDestroy();
      else client.end();
      return;
    }
    const upstream = connect({ host: this.target.host, port: this.target.port });
    const pair: Pair = { client, upstream, held: [] };
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        if (this.mode.kind === 'blackhole') pair.held.push({ to, chunk });
        else this.deliver(to, chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    const done = () => {
      pair.held.length = 0;
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
  }

  private kill(p: Pair, how: 'reset' | 'close'): void {
    this.pairs.delete(p);
    if (how === 'reset') {
      p.client.resetAndDestroy();
      p.upstream.resetAndDestroy();
    } else {
      p.client.end();
      p.upstream.end();
    }
  }
}
