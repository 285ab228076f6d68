/**
 * Test helper that runs a real Debian nats-server with JetStream (`-js`) on a free loopback port with a
 * temporary store directory, restarts it on the same port (to test reconnects), and kills it afterwards.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { freePort } from './ports.js';

const NATS_SERVER = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';

export interface NatsServerOptions {
  /** Port to listen on; default a free one. */
  port?: number;
  /** Require this user/password (written to a config file, not the command line). */
  user?: { name: string; password: string };
  /** Users with nats-server permissions (the `authorization { users = [...] }` block). */
  users?: NatsUser[];
  /** Require this token. */
  token?: string;
  /** JetStream on (default true). */
  jetstream?: boolean;
  /** Require a user authenticating with this nkey (the public key, U...). */
  nkey?: string;
  /** Serve TLS only: server cert and key; with caFile and verify, client certificates are required. */
  tls?: { certFile: string; keyFile: string; caFile?: string; verify?: boolean };
}

export interface NatsUser {
  user: string;
  password: string;
  permissions?: { publish?: string[]; subscribe?: string[] };
}

/** The `authorization` block for `users`, in nats-server's configuration syntax (JSON values are valid in it). */
export function authorizationBlock(users: readonly NatsUser[]): string {
  return `authorization {\n  users = [\n${users.map((u) => `    ${JSON.stringify(u)}`).join(',\n')}\n  ]\n}`;
}

export class NatsServer {
  private child: ChildProcess | undefined;
  private readonly stderr: string[] = [];

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly opts: NatsServerOptions,
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async start(opts: NatsServerOptions = {}): Promise<NatsServer> {
    const port = opts.port ?? (await freePort());
    const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-nats-'));
    const s = new NatsServer(port, dir, opts);
    await s.spawn();
    return s;
  }

  private async spawn(): Promise<void> {
    const conf = join(this.dir, 'nats.conf');
    const lines = [`listen: "127.0.0.1:${this.port}"`];
    if (this.opts.jetstream !== false) lines.push(`jetstream { store_dir: "${join(this.dir, 'js')}" }`);
    if (this.opts.users) lines.push(authorizationBlock(this.opts.users));
    else if (this.opts.user) lines.push(`authorization { user: "${this.opts.user.name}", password: "${this.opts.user.password}" }`);
    else if (this.opts.token) lines.push(`authorization { token: "${this.opts.token}" }`);
    else if (this.opts.nkey) lines.push(`authorization { users = [ { nkey: "${this.opts.nkey}" } ] }`);
    if (this.opts.tls) {
      const t = this.opts.tls;
      const tls = [`cert_file: "${t.certFile}"`, `key_file: "${t.keyFile}"`];
      if (t.caFile) tls.push(`ca_file: "${t.caFile}"`);
      if (t.verify) tls.push('verify: true');
      lines.push(`tls { ${tls.join(', ')} }`);
    }
    writeFileSync(conf, `${lines.join('\n')}\n`, { mode: 0o600 });
    const child = spawn(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.stderr.push(s);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, sig) => reject(new Error(`nats-server exited (${code ?? sig}): ${this.stderr.join('')}`))),
    );
    exited.catch(() => {});
    await Promise.race([this.waitReady(), exited]);
  }

  /** Ready when the server logs that it is ready and its port accepts connections. */
  private async waitReady(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const ready = this.stderr.join('').includes('Server is ready');
      if (ready && (await this.accepts())) return;
      if (attempt > 300) throw new Error(`nats-server did not become ready: ${this.stderr.join('')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private accepts(): Promise<boolean> {
    return new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port: this.port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  }

  /** Kills the server (SIGKILL: clients see the connection drop), keeping its store. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
    this.stderr.length = 0;
  }

  /** Starts it again on the same port with the same store. */
  async restart(): Promise<void> {
    await this.kill();
    await this.spawn();
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
