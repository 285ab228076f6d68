/**
 * A TCP fault proxy between the initiator and a target, for failure tests: pass, delay, blackhole (bytes
 * stop flowing, sockets stay open; like a network partition nothing is lost: they flow again when the
 * blackhole ends, as TCP retransmission would deliver them), reset (RST) and close (FIN). Listens on
 * loopback; applies a mode to live connections and to new ones.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type FaultMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' } | { kind: 'reset' } | { kind: 'close' };

interface Pair {
  client: Socket;
  upstream: Socket;
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
    for (const p of this.pairs) this.flow(p);
  }

  /** Blackhole: stop reading both sides (bytes wait in the kernel's buffers); otherwise read on. */
  private flow(p: Pair): void {
    if (this.mode.kind === 'blackhole') {
      p.client.pause();
      p.upstream.pause();
    } else {
      p.client.resume();
      p.upstream.resume();
    }
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
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (chunk: Buffer) => {
        const m = this.mode;
        if (m.kind === 'delay') setTimeout(() => to.destroyed || to.write(chunk), m.ms);
        else to.write(chunk);
      });
    forward(client, upstream);
    forward(upstream, client);
    this.flow(pair);
    const done = () => {
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
