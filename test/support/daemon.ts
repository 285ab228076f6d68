/**
 * Test helper: the built mpiscsid as a child process (dist/, `npm run build` first: test/support/build.ts),
 * its stderr log lines collected; `waitFor` resolves at the first line matching, from now on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface DaemonOptions {
  /** --db (a directory or nats-kv://BUCKET; `extra` may override it). */
  db: string;
  /** Scratch directory: the state directory (state-HOSTID) and the trace file (trace-HOSTID.jsonl) go here. */
  dir: string;
  /** nats-server URL. */
  nats: string;
  hostId: string;
  extra?: string[];
  env?: Record<string, string>;
  /** Pass --trace-file (spans to `traceFile` instead of the OTEL_* exporters). Default true. */
  traceFile?: boolean;
}

export class DaemonProcess {
  readonly lines: string[] = [];
  private waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  readonly exited: Promise<number | null>;
  private constructor(
    readonly child: ChildProcess,
    /** The --trace-file the daemon writes its spans to (JSON lines), unless started with traceFile: false. */
    readonly traceFile: string,
  ) {
    let buf = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.lines.push(line);
        this.waiters = this.waiters.filter((w) => {
          if (!w.re.test(line)) return true;
          w.resolve(line);
          return false;
        });
      }
    });
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  /** Spawns mpiscsid without waiting for anything (to signal it while it starts). */
  static launch(o: DaemonOptions): DaemonProcess {
    const traceFile = join(o.dir, `trace-${o.hostId}.jsonl`);
    const child = spawn(
      process.execPath,
      [
        join(root, 'dist/src/daemon/mpiscsid.js'),
        '--db',
        o.db,
        '--state-dir',
        join(o.dir, `state-${o.hostId}`),
        '--host-id',
        o.hostId,
        '--nats',
        o.nats,
        ...(o.traceFile === false ? [] : ['--trace-file', traceFile]),
        ...(o.extra ?? []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...o.env } },
    );
    return new DaemonProcess(child, traceFile);
  }

  /** Starts mpiscsid; resolves once automatic logins are done ("ready") and the control service is subscribed. */
  static async start(o: DaemonOptions): Promise<DaemonProcess> {
    const d = DaemonProcess.launch(o);
    const ready = Promise.all([d.waitFor(/control service on NATS/), d.waitFor(/ ready \(/)]);
    await Promise.race([ready, d.exited.then((c) => Promise.reject(new Error(`mpiscsid exited ${c}: ${d.lines.join('\n')}`)))]);
    return d;
  }

  waitFor(re: RegExp): Promise<string> {
    return new Promise((resolve) => this.waiters.push({ re, resolve }));
  }

  /** SIGTERM, then the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }
}
