/** Free loopback TCP ports for test peers (tgtd, nats-server, NBD exports). */
import { createServer } from 'node:net';

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
