/**
 * Test helper: a three-member nats-server cluster with JetStream on loopback (Debian nats-server). Each member
 * has its own client, route and monitoring port (free ports) and its own store directory; every member lists
 * the other two as routes. start() resolves when the monitoring endpoints say the cluster has formed: every
 * member routed to the other two and one JetStream meta leader agreed by all, so an R3 stream can be made.
 * kill(i) and restart(i) take one member away and bring it back on its ports with its store.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

const NATS_SERVER = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server';
const CLUSTER_NAME = 'mpiscsi-test';

export interface ClusterMember {
  readonly name: string;
  readonly port: number;
  readonly routePort: number;
  readonly httpPort: number;
  readonly url: string;
}

interface Member extends ClusterMember {
  child?: ChildProcess;
  /** Killed on purpose (kill()), so formed() does not wait for it. */
  killed?: boolean;
  stderr: string[];
}

/** GET a monitoring endpoint as JSON; undefined while the member does not answer. */
async function monitor(m: ClusterMember, path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await fetch(`http://127.0.0.1:${m.httpPort}${path}`);
    return r.ok ? ((await r.json()) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class NatsCluster {
  private constructor(
    readonly dir: string,
    private readonly members: Member[],
  ) {}

  /** Every member, in order n1, n2, n3. */
  get servers(): readonly ClusterMember[] {
    return this.members;
  }

  /** The client URLs, comma-separated (the daemon's --nats). */
  get urls(): string {
    return this.members.map((m) => m.url).join(',');
  }

  static async start(size = 3): Promise<NatsCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-natscluster-'));
    const members: Member[] = [];
    for (let i = 1; i <= size; i++) {
      const [port, routePort, httpPort] = [await freePort(), await freePort(), await freePort()];
      members.push({ name: `n${i}`, port, routePort, httpPort, url: `nats://127.0.0.1:${port}`, stderr: [] });
    }
    const c = new NatsCluster(dir, members);
    try {
      for (const m of members) c.spawn(m);
      await c.formed();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  private spawn(m: Member): void {
    const conf = join(this.dir, `${m.name}.conf`);
    const routes = this.members.filter((o) => o !== m).map((o) => `"nats-route://127.0.0.1:${o.routePort}"`);
    writeFileSync(
      conf,
      [
        `server_name: "${m.name}"`,
        `listen: "127.0.0.1:${m.port}"`,
        `http: "127.0.0.1:${m.httpPort}"`,
        `jetstream { store_dir: "${join(this.dir, m.name)}" }`,
        `cluster { name: "${CLUSTER_NAME}", listen: "127.0.0.1:${m.routePort}", routes: [${routes.join(', ')}] }`,
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const child = spawn(NATS_SERVER, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    m.child = child;
    m.killed = false;
    m.stderr.length = 0;
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      m.stderr.push(s);
      if (m.stderr.length > 200) m.stderr.shift();
    });
  }

  private running(): Member[] {
    return this.members.filter((m) => m.child && m.child.exitCode === null && m.child.signalCode === null);
  }

  /**
   * Waits until each running member has routes to every other running member and all of them name the same
   * running member as JetStream meta leader (after a kill: the survivors elected another) (monitoring endpoints /routez and /jsz, asked every 50 ms: nats-server has no push).
   */
  async formed(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const up = this.running();
      const died = this.members.find((m) => !m.killed && !up.includes(m));
      if (died) throw new Error(`nats-server ${died.name} exited: ${died.stderr.join('')}`);
      const views = await Promise.all(up.map(async (m) => ({ routez: await monitor(m, '/routez'), jsz: await monitor(m, '/jsz') })));
      const leaders = views.map((v) => (v.jsz?.meta_cluster as { leader?: string } | undefined)?.leader ?? '');
      const routed = views.every((v) => Number(v.routez?.num_routes ?? 0) >= up.length - 1);
      const alive = up.some((m) => m.name === leaders[0]);
      if (routed && alive && leaders.every((l) => l === leaders[0])) return;
      if (attempt > 600) {
        throw new Error(`nats cluster did not form: ${up.map((m) => `${m.name}: ${m.stderr.join('').slice(-500)}`).join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Waits until the running members agree on a leader of `stream` other than `not` (a stream whose leader was
   * killed elects another among its replicas), and returns its name. /jsz?streams=true, asked every 50 ms.
   */
  async streamLeader(stream: string, not?: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const views = await Promise.all(this.running().map((m) => monitor(m, '/jsz?streams=true')));
      const leaders = views.map((v) => {
        const accounts = (v?.account_details ?? []) as Array<{ stream_detail?: Array<{ name: string; cluster?: { leader?: string } }> }>;
        for (const a of accounts) for (const s of a.stream_detail ?? []) if (s.name === stream) return s.cluster?.leader ?? '';
        return '';
      });
      const l = leaders.find((x) => x !== '' && x !== not);
      if (l && leaders.every((x) => x === '' || x === l)) return l;
      if (attempt > 600) throw new Error(`stream ${stream} has no leader: ${JSON.stringify(leaders)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The index of the running member a client connection named `name` is on (/connz), or -1. */
  async memberWithClient(name: string): Promise<number> {
    for (const m of this.running()) {
      const connz = await monitor(m, '/connz?limit=1024');
      const conns = (connz?.connections ?? []) as Array<{ name?: string }>;
      if (conns.some((c) => c.name === name)) return this.members.indexOf(m);
    }
    return -1;
  }

  /** SIGKILL member `i` (clients on it see the connection drop); its store stays. */
  async kill(i: number): Promise<void> {
    const m = this.members[i]!;
    const child = m.child;
    m.killed = true;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  /** Starts member `i` again on its ports and store, and waits for the cluster to form again. */
  async restart(i: number): Promise<void> {
    await this.kill(i);
    this.spawn(this.members[i]!);
    await this.formed();
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
