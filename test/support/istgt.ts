/**
 * Test helper that runs a real Debian istgt (0.4~20111008, the FreeBSD iSCSI target) in the foreground on a free
 * loopback port: it writes istgt.conf and auth.conf into its own temp dir (LUs backed by files there), waits
 * until the portal accepts connections, keeps istgt's log lines, restarts it on the same port with the same
 * files, and stops it (SIGTERM, which istgt takes about 3.5 s to act on, then SIGKILL) and removes the dir.
 *
 * istgt facts the options below rely on (seen against this version; the report of issue 16 has the detail):
 * - every LU is LUN 0 of its target, and the target name is NodeBase + ':' + TargetName;
 * - `AuthMethod CHAP Mutual` refuses an initiator that does not ask for mutual CHAP (login status 0201);
 *   the target answers mutual CHAP with the entry's MutualUser as CHAP_N;
 * - `UseDigest Header Data` answers HeaderDigest=Reject / DataDigest=Reject to an offer of None, yet
 *   completes the login and runs the connection with both digests on;
 * - idle connections get an unsolicited NOP-In (ITT and TTT 0xffffffff, no answer wanted) every NopInInterval.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, connectOnce } from './ports.js';

const ISTGT = existsSync('/usr/sbin/istgt') ? '/usr/sbin/istgt' : 'istgt';

/** One CHAP account of an LU's auth group (auth.conf `Auth "user" "secret" ["muser" "msecret"]`). */
export interface IstgtUser {
  user: string;
  /** istgt's sample advises 12 to 16 characters (for the Microsoft initiator). */
  secret: string;
  /** Mutual CHAP: the name and secret the target answers with (CHAP_N / CHAP_R of its response). */
  mutualUser?: string;
  mutualSecret?: string;
}

export interface IstgtLuSpec {
  /** TargetName without NodeBase: the target is `${nodeBase}:${name}`. */
  name: string;
  /** Backing file size in bytes (default 16 MiB); the file is created in the helper's dir. */
  size?: number;
  /** Random contents instead of zeros. */
  random?: boolean;
  /** istgt's AuthMethod: None (default), Auto (CHAP if the initiator offers it), CHAP, or 'CHAP Mutual'. */
  auth?: 'None' | 'Auto' | 'CHAP' | 'CHAP Mutual';
  /** Accounts of the LU's AuthGroup (needed with CHAP). */
  users?: IstgtUser[];
  /** istgt's UseDigest: Auto (default, the initiator chooses) or the digests the target requires. */
  digest?: 'Auto' | 'Header' | 'Data' | 'Header Data';
}

export interface IstgtOptions {
  lus: IstgtLuSpec[];
  /** Port to listen on; default a free one. */
  port?: number;
  /** NodeBase, the target names' prefix. Default iqn.2026-11.test.istgt. */
  nodeBase?: string;
  /** Seconds of quiet on a connection before istgt sends a NOP-In. Default 20 (istgt's sample). */
  nopInInterval?: number;
  /** Socket I/O timeout in seconds. Default 30 (istgt's sample). */
  timeout?: number;
  /** istgt -t: trace flags written to its stderr (kept in `log`). 'iscsi' logs each NOP-In it sends. */
  trace?: 'all' | 'net' | 'iscsi' | 'scsi' | 'lu';
}

/** How long stop() waits for istgt to act on SIGTERM (it takes about 3.5 s) before SIGKILL. */
const STOP_GRACE_MS = 6000;
/** Connection attempts to the portal, 25 ms apart, before start() gives up. */
const READY_ATTEMPTS = 200;

export class Istgt {
  private child!: ChildProcess;
  private exited!: Promise<void>;
  private readonly lines: string[] = [];
  private readonly waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();

  private constructor(
    readonly port: number,
    readonly dir: string,
    readonly nodeBase: string,
    private readonly options: IstgtOptions,
  ) {}

  get host(): string {
    return '127.0.0.1';
  }

  get portal(): string {
    return `${this.host}:${this.port}`;
  }

  get pidFile(): string {
    return join(this.dir, 'istgt.pid');
  }

  get conf(): string {
    return join(this.dir, 'istgt.conf');
  }

  /** istgt's stdout and stderr lines so far (the log: logins, logouts, errors, and traces with `trace`). */
  get log(): readonly string[] {
    return this.lines;
  }

  static async start(options: IstgtOptions): Promise<Istgt> {
    if (options.lus.length === 0) throw new Error('istgt needs at least one LogicalUnit');
    const port = options.port ?? (await freePort('127.0.0.1'));
    const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-istgt-'));
    const t = new Istgt(port, dir, options.nodeBase ?? 'iqn.2026-11.test.istgt', options);
    try {
      for (const lu of options.lus) t.createBacking(lu);
      writeFileSync(t.conf, t.istgtConf(), { mode: 0o600 });
      writeFileSync(join(dir, 'auth.conf'), t.authConf(), { mode: 0o600 });
      await t.spawn();
    } catch (err) {
      await t.stop();
      throw err;
    }
    return t;
  }

  /** The target name of the LU named `lu` (NodeBase + ':' + TargetName). */
  targetName(lu: string): string {
    this.spec(lu);
    return `${this.nodeBase}:${lu}`;
  }

  /** The LU's backing file. */
  lunPath(lu: string): string {
    this.spec(lu);
    return join(this.dir, `${lu}.img`);
  }

  /** An iscsi:// URL of the LU (always LUN 0: istgt numbers each target's LUs from LUN0). */
  url(lu: string, opts: { user?: string; secret?: string; query?: string } = {}): string {
    const cred =
      opts.user !== undefined
        ? `${encodeURIComponent(opts.user)}${opts.secret !== undefined ? `%${encodeURIComponent(opts.secret)}` : ''}@`
        : '';
    return `iscsi://${cred}${this.portal}/${this.targetName(lu)}/0${opts.query ? `?${opts.query}` : ''}`;
  }

  /** Resolves with the first log line (seen so far or to come) that `match` accepts; rejects if istgt exits first. */
  logLine(match: RegExp | ((line: string) => boolean), after = 0): Promise<string> {
    const test = typeof match === 'function' ? match : (line: string) => match.test(line);
    const seen = this.lines.slice(after).find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const w = { test, resolve };
      this.waiters.add(w);
      this.exited.then(() => {
        if (!this.waiters.delete(w)) return;
        reject(new Error(`istgt exited before logging a matching line; its log:\n${this.tail()}`));
      });
    });
  }

  /**
   * A target crash and restart: kills istgt (-9), keeps it dead `outageMs` (the fault's length, not a wait for
   * anything) and starts it again on the same port with the same configuration and backing files.
   */
  async restartAfter(outageMs: number): Promise<void> {
    await this.kill();
    await new Promise((r) => setTimeout(r, outageMs));
    await this.spawn();
  }

  /** Kills istgt (SIGKILL), as a target crash would; the files stay. */
  async kill(): Promise<void> {
    if (!this.running()) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, SIGKILL if istgt is still there after STOP_GRACE_MS; then removes the dir. */
  async stop(): Promise<void> {
    if (this.child && this.running()) {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), STOP_GRACE_MS)));
      if ((await Promise.race([this.exited, late])) === 'late') await this.kill();
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private spec(lu: string): IstgtLuSpec {
    const s = this.options.lus.find((l) => l.name === lu);
    if (!s) throw new Error(`no LogicalUnit "${lu}" in this istgt (${this.options.lus.map((l) => l.name).join(', ')})`);
    return s;
  }

  private createBacking(lu: IstgtLuSpec): void {
    const path = this.lunPath(lu.name);
    const size = lu.size ?? 16 * 1024 * 1024;
    if (lu.random) writeFileSync(path, randomBytes(size), { mode: 0o600 });
    else {
      const fd = openSync(path, 'w', 0o600);
      ftruncateSync(fd, size);
      closeSync(fd);
    }
  }

  /** istgt.conf, after the sample in /usr/share/doc/istgt/examples (no UnitControl portal: one port per istgt). */
  private istgtConf(): string {
    const o = this.options;
    const global = [
      '[Global]',
      `  NodeBase "${this.nodeBase}"`,
      `  PidFile ${this.pidFile}`,
      `  AuthFile ${join(this.dir, 'auth.conf')}`,
      `  MediaDirectory ${this.dir}`,
      '  LogFacility "local7"',
      `  Timeout ${o.timeout ?? 30}`,
      `  NopInInterval ${o.nopInInterval ?? 20}`,
      '  DiscoveryAuthMethod Auto',
      '  MaxSessions 16',
      '  MaxConnections 4',
      '  MaxR2T 32',
      '  MaxOutstandingR2T 16',
      '  DefaultTime2Wait 2',
      '  DefaultTime2Retain 60',
      '  FirstBurstLength 262144',
      '  MaxBurstLength 1048576',
      '  MaxRecvDataSegmentLength 262144',
      '  InitialR2T Yes',
      '  ImmediateData Yes',
      '  DataPDUInOrder Yes',
      '  DataSequenceInOrder Yes',
      '  ErrorRecoveryLevel 0',
      '',
      '[UnitControl]',
      '  AuthMethod None',
      '',
      '[PortalGroup1]',
      `  Portal DA1 ${this.portal}`,
      '',
      '[InitiatorGroup1]',
      '  InitiatorName "ALL"',
      '  Netmask 127.0.0.0/8',
      '',
    ];
    const lus = o.lus.flatMap((lu, i) => [
      `[LogicalUnit${i + 1}]`,
      `  TargetName ${lu.name}`,
      '  Mapping PortalGroup1 InitiatorGroup1',
      `  AuthMethod ${lu.auth ?? 'None'}`,
      ...(lu.users?.length ? [`  AuthGroup AuthGroup${i + 1}`] : []),
      `  UseDigest ${lu.digest ?? 'Auto'}`,
      '  UnitType Disk',
      `  LUN0 Storage ${this.lunPath(lu.name)} Auto`,
      '',
    ]);
    return [...global, ...lus].join('\n');
  }

  private authConf(): string {
    const q = (s: string) => {
      if (/["\\\s]/.test(s)) throw new Error(`istgt auth.conf value ${JSON.stringify(s)}: no quotes, backslashes or spaces`);
      return `"${s}"`;
    };
    return this.options.lus
      .flatMap((lu, i) =>
        lu.users?.length
          ? [
              `[AuthGroup${i + 1}]`,
              ...lu.users.map((u) => {
                const mutual = u.mutualUser !== undefined ? ` ${q(u.mutualUser)} ${q(u.mutualSecret ?? '')}` : '';
                return `  Auth ${q(u.user)} ${q(u.secret)}${mutual}`;
              }),
              '',
            ]
          : [],
      )
      .join('\n');
  }

  private async spawn(): Promise<void> {
    const args = ['-c', this.conf, '-D'];
    if (this.options.trace) args.push('-t', this.options.trace);
    const child = spawn(ISTGT, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // 'close', not 'exit': the log is complete when it fires.
    this.exited = new Promise<void>((r) => child.once('close', () => r()));
    // stdout (block-buffered by istgt: LU summaries, "drop old connections") and stderr (logins, errors, traces).
    for (const stream of [child.stdout!, child.stderr!]) {
      const partial = { text: '' };
      stream.setEncoding('utf8').on('data', (s: string) => this.take(partial, s));
      stream.on('end', () => partial.text && this.take(partial, '\n'));
    }
    const died = this.exited.then(() => {
      throw new Error(`istgt exited (${child.exitCode ?? child.signalCode}) before listening on ${this.portal}:\n${this.tail()}`);
    });
    died.catch(() => {});
    for (let attempt = 1; ; attempt++) {
      try {
        // istgt writes its PidFile once every portal listens: our child's pid there first, so that a
        // connection to the port is known to reach this istgt and not whatever else took the port.
        if (readPid(this.pidFile) !== child.pid) throw new Error(`no pid ${child.pid} in ${this.pidFile} yet`);
        await Promise.race([connectOnce(this.host, this.port), died]);
        return;
      } catch (err) {
        if (!this.running()) throw await died.catch((e: unknown) => e);
        if (attempt >= READY_ATTEMPTS) {
          await this.kill();
          throw new Error(`istgt did not listen on ${this.portal} after ${attempt} attempts (${String(err)}):\n${this.tail()}`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  }

  /** Log lines; istgt pads some stderr output with runs of spaces, which are cut. */
  private take(partial: { text: string }, s: string): void {
    const parts = (partial.text + s).split('\n');
    partial.text = parts.pop()!;
    for (const raw of parts) {
      const line = raw.replace(/ {8,}/g, ' ').trimEnd();
      this.lines.push(line);
      for (const w of this.waiters)
        if (w.test(line)) {
          this.waiters.delete(w);
          w.resolve(line);
        }
    }
  }

  private tail(): string {
    return this.lines.slice(-40).join('\n');
  }
}

function readPid(path: string): number | undefined {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return undefined;
  }
}
