/**
 * Test helper that runs a real Debian tgtd (tgt 1.0.85) on free loopback ports with its own control socket,
 * creates targets, LUNs and CHAP accounts with tgtadm, and kills it afterwards (tgtd ignores SIGTERM).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, connectOnce } from './ports.js';

const TGTD = existsSync('/usr/sbin/tgtd') ? '/usr/sbin/tgtd' : 'tgtd';
const TGTADM = existsSync('/usr/sbin/tgtadm') ? '/usr/sbin/tgtadm' : 'tgtadm';

export interface TgtdOptions {
  /** Loopback addresses to listen on (each gets the same port). Default ['127.0.0.1']. */
  hosts?: string[];
  /** Port to listen on (a restarted tgtd takes its predecessor's); default a free one. */
  port?: number;
}

export interface LunSpec {
  /** Backing file; created with `size` bytes when given (random contents with `random: true`). */
  path?: string;
  size?: number;
  random?: boolean;
  /** 'rdwr' (default, a file) or 'null' (no backing store, 1 TiB, for throughput). */
  bstype?: 'rdwr' | 'null';
  blockSize?: number;
  readonly?: boolean;
}

export class Tgtd {
  private constructor(
    readonly process: ChildProcess,
    readonly controlPort: number,
    readonly port: number,
    readonly hosts: string[],
    readonly dir: string,
    private stderr: string[],
  ) {}

  private nextTid = 1;

  get host(): string {
    return this.hosts[0];
  }

  get portal(): string {
    return `${this.host}:${this.port}`;
  }

  static async start(options: TgtdOptions = {}): Promise<Tgtd> {
    const hosts = options.hosts ?? ['127.0.0.1'];
    const port = options.port ?? (await freePort(hosts[0]));
    const controlPort = pickControlPort();
    const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-tgtd-'));
    const portals = hosts.map((h) => `portal=${h.includes(':') ? `[${h}]` : h}:${port}`).join(',');
    const child = spawn(TGTD, ['-f', '-C', String(controlPort), '--iscsi', portals], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: string[] = [];
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      stderr.push(s);
      if (stderr.length > 200) stderr.shift();
    });
    const t = new Tgtd(child, controlPort, port, hosts, dir, stderr);
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, sig) => reject(new Error(`tgtd exited (${code ?? sig}): ${stderr.join('')}`))),
    );
    exited.catch(() => {});
    // Ready when the management socket answers and every portal accepts connections.
    await Promise.race([t.waitReady(), exited]);
    return t;
  }

  private async waitReady(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.tgtadm(['--op', 'show', '--mode', 'sys']);
        for (const h of this.hosts) await connectOnce(h, this.port);
        return;
      } catch (err) {
        if (attempt > 200) throw new Error(`tgtd did not become ready: ${String(err)}; ${this.stderr.join('')}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  /**
   * A tgtd serving `iqn` LUN 1 from the existing file `backing`. With `decoy`, a target created first gives
   * ours another tid, hence another VPD 0x83 WWID and 0x80 serial (tgtd derives both from tid and LUN): the
   * same IQN and LUN with another LU behind them.
   */
  static async withFileLun(iqn: string, backing: string, opts: { port?: number; decoy?: boolean } = {}): Promise<Tgtd> {
    const t = await Tgtd.start({ port: opts.port });
    if (opts.decoy) await t.addTarget('iqn.2026-11.test:decoy');
    const tid = await t.addTarget(iqn);
    await t.addLun(tid, 1, { path: backing });
    return t;
  }

  /**
   * A target crash and restart: kills this tgtd (-9), keeps it dead `outageMs` (the fault's length, not a
   * wait for anything), removes its files, and starts its successor on the same port with `next`.
   */
  async restartAfter(outageMs: number, next: (port: number) => Promise<Tgtd>): Promise<Tgtd> {
    await this.kill();
    await new Promise((r) => setTimeout(r, outageMs));
    await this.stop();
    return next(this.port);
  }

  tgtadm(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(TGTADM, ['-C', String(this.controlPort), '--lld', 'iscsi', ...args], (err, stdout, stderr) => {
        if (err) reject(new Error(`tgtadm ${args.join(' ')}: ${stderr || err.message}`));
        else resolve(stdout);
      });
    });
  }

  /** Creates a target bound to all initiators; returns its tid. */
  async addTarget(iqn: string, luns: LunSpec[] = []): Promise<number> {
    const tid = this.nextTid++;
    await this.tgtadm(['--op', 'new', '--mode', 'target', '--tid', String(tid), '-T', iqn]);
    let lun = 1;
    for (const spec of luns) await this.addLun(tid, lun++, spec);
    await this.tgtadm(['--op', 'bind', '--mode', 'target', '--tid', String(tid), '-I', 'ALL']);
    return tid;
  }

  /** Adds a LUN; returns the backing file's path (a new file in the helper's temp dir unless given). */
  async addLun(tid: number, lun: number, spec: LunSpec = {}): Promise<string> {
    const bstype = spec.bstype ?? 'rdwr';
    const path = spec.path ?? join(this.dir, `t${tid}-l${lun}.img`);
    if (!existsSync(path) || spec.size !== undefined) {
      const size = spec.size ?? 64 * 1024 * 1024;
      if (spec.random) writeFileSync(path, randomBytes(size), { mode: 0o600 });
      else {
        const fd = openSync(path, 'w', 0o600);
        ftruncateSync(fd, size);
        closeSync(fd);
      }
    }
    const args = ['--op', 'new', '--mode', 'logicalunit', '--tid', String(tid), '--lun', String(lun), '-b', path];
    if (bstype !== 'rdwr') args.push('--bstype', bstype);
    if (spec.blockSize) args.push('--blocksize', String(spec.blockSize));
    await this.tgtadm(args);
    if (spec.readonly)
      await this.tgtadm(['--op', 'update', '--mode', 'logicalunit', '--tid', String(tid), '--lun', String(lun), '--params', 'readonly=1']);
    return path;
  }

  /** Sets a target's iSCSI parameter, e.g. HeaderDigest=CRC32C,None (tgtd offers only None by default). */
  async setTargetParam(tid: number, name: string, value: string): Promise<void> {
    await this.tgtadm(['--op', 'update', '--mode', 'target', '--tid', String(tid), '-n', name, '-v', value]);
  }

  /** Adds a CHAP account and binds it to a target; `outgoing` makes it the target's mutual-CHAP identity. */
  async addAccount(tid: number, user: string, password: string, outgoing = false): Promise<void> {
    await this.tgtadm(['--op', 'new', '--mode', 'account', '--user', user, '--password', password]);
    const args = ['--op', 'bind', '--mode', 'account', '--tid', String(tid), '--user', user];
    if (outgoing) args.push('--outgoing');
    await this.tgtadm(args);
  }

  /** Kills tgtd (SIGKILL: it ignores SIGTERM) and removes its files. */
  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
    // A killed tgtd leaves its control socket and lock file behind.
    for (const f of [`/var/run/tgtd/socket.${this.controlPort}`, `/var/run/tgtd/socket.${this.controlPort}.lock`])
      rmSync(f, { force: true });
  }

  /** Kills tgtd but keeps the backing files, as a target crash would. */
  async kill(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      const gone = new Promise<void>((r) => this.process.once('exit', () => r()));
      this.process.kill('SIGKILL');
      await gone;
    }
  }
}

function pickControlPort(): number {
  // tgtd's control "port" names a unix socket /var/run/tgtd/socket.N; choose an unused N.
  for (;;) {
    const n = 1000 + Math.floor(Math.random() * 29000); // tgtd rejects large values (38523 seen)
    if (!existsSync(`/var/run/tgtd/socket.${n}`)) return n;
  }
}
