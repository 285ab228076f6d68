/** Free loopback TCP ports for test peers (tgtd, nats-server, NBD exports). */
import { connect, createServer } from 'node:net';

/** Asks the kernel for a free port on `host`, then releases it for the peer to bind. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ host, port: 0, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once a TCP connection to host:port is accepted (then closes it); rejects with the connect error. */
export function connectOnce(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}
