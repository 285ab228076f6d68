#!/usr/bin/env node
/**
 * `mpiscsi`: tools on libiscsi-style URLs (`iscsi://[user[%pass]@]host[:port]/IQN/LUN`): ls, inq, readcap,
 * dd, perf — the counterparts of libiscsi's iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-dd, iscsi-perf.
 * Each runs its LUN on one supervised session (supervised.ts), so a target restart costs a stall.
 */
import { exitQuietlyOnEpipe } from './epipe.js';
import { Command, InvalidArgumentError } from 'commander';
import { open, stat } from 'node:fs/promises';
import { parseIscsiUrl, redact, formatPortal, type IscsiUrl } from '../session/url.js';
import { Lun, inquiryData, listLuns, readCapacity, executeScsi } from '../session/lun.js';
import { discoverUrl, type CommonOptions } from './connect.js';
import { ToolSession, withManagedSession, type ToolOptions } from './supervised.js';
import { exitCodeFor } from '../control/exit-codes.js';
import { traceSummary } from './trace-summary.js';
import { runDd, DdStoppedError, type Endpoint } from './dd.js';
import { runPerf } from './perf.js';
import { Progress } from './progress.js';
import { startServe } from './serve.js';
import {
  parseStandardInquiry,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  parseDeviceIdentification,
  parseBlockLimits,
  parseLogicalBlockProvisioning,
  wwid,
  PeripheralDeviceType,
} from '../scsi/inquiry.js';
import { readCapacity16 } from '../scsi/cdb.js';
import { parseReadCapacity16 } from '../scsi/capacity.js';
import type { ScsiExecutor } from '../session/lun.js';
import { versionLine } from '../control/version.js';

const out = (line: string) => process.stdout.write(line + '\n');

function urlArg(value: string): IscsiUrl {
  try {
    return parseIscsiUrl(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function intArg(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${value}" is not a non-negative integer`);
  return n;
}

function common(cmd: Command): Command {
  return cmd
    .option('-i, --initiator-name <iqn>', 'initiator name (default: /etc/iscsi/initiatorname.iscsi or one from the host name)')
    .option('--chap-algs <list>', 'CHAP algorithms to offer, in order (SHA3-256,SHA256,SHA1,MD5)', 'MD5')
    .option('--login-timeout <seconds>', 'login timeout', Number, 15);
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** `--set` for the tools that run a session of their own (serve has its own, with multipath settings). */
function settable(cmd: Command): Command {
  return cmd.option(
    '--set <key=value>',
    'node record key: a timer (node.session.timeo.replacement_timeout=30, open-iscsi defaults otherwise) or an iSCSI key (node.conn[0].iscsi.HeaderDigest=CRC32C); repeatable',
    collect,
    [] as string[],
  )
    .option('--command-timeout <seconds>', 'a command outstanding this long is aborted (ABORT TASK, LU RESET, TARGET WARM RESET, new connection) and issued again', Number, 30)
    .option('--command-retries <n>', 'times a command is issued again before it fails (it also fails after (n+1) x the command timeout)', intArg, 5);
}

/** Device type names as iscsi-ls and iscsi-inq print them (DIRECT_ACCESS rather than SPC's longer name). */
function deviceTypeName(t: number): string {
  if (t === PeripheralDeviceType.DIRECT_ACCESS_BLOCK) return 'DIRECT_ACCESS';
  const entry = Object.entries(PeripheralDeviceType).find(([, v]) => v === t);
  return entry ? entry[0] : `0x${t.toString(16)}`;
}

/** iscsi-ls prints sizes from the last LBA, in whole K/M/G/T. */
function lsSize(bytes: bigint): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = Number(bytes);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Math.floor(v)}${units[u]}`;
}

async function cmdLs(url: IscsiUrl, opts: ToolOptions & { showLuns?: boolean; json?: boolean }): Promise<void> {
  const targets = await discoverUrl(url, opts);
  let failure: unknown;
  const report: Array<{ target: string; portals: string[]; luns?: Array<{ lun: number; type: string; size?: string }> }> = [];
  for (const t of targets) {
    const entry: (typeof report)[number] = {
      target: t.targetName,
      portals: t.portals.map((p) => `${formatPortal(p.host, p.port)},${p.tpgt}`),
    };
    report.push(entry);
    if (!opts.json) for (const p of entry.portals) out(`Target:${t.targetName} Portal:${p}`);
    if (!opts.showLuns) continue;
    const portal = t.portals[0] ?? { host: url.host, port: url.port };
    try {
      entry.luns = await withManagedSession({ ...url, host: portal.host, port: portal.port, targetName: t.targetName }, opts, 'ls', (s) =>
        describeLuns(s, !opts.json),
      );
    } catch (err) {
      // One target we cannot log in to (CHAP, ACL) must not hide the others: report it and go on.
      failure ??= err;
      process.stderr.write(`mpiscsi: ${t.targetName}: ${(err as Error).message}\n`);
    }
  }
  if (opts.json) out(JSON.stringify(report, null, 2));
  if (failure) throw new ReportedError(failure);
}

async function describeLuns(s: ScsiExecutor, print: boolean): Promise<Array<{ lun: number; type: string; size?: string }>> {
  const luns = [];
  for (const lun of await listLuns(s)) {
    const inq = parseStandardInquiry(await inquiryData(s, lun));
    const type = deviceTypeName(inq.peripheralDeviceType);
    let size: string | undefined;
    if (inq.peripheralDeviceType === PeripheralDeviceType.DIRECT_ACCESS_BLOCK) {
      const rc = parseReadCapacity16((await executeScsi(s, lun, readCapacity16())).data);
      size = lsSize(rc.lastLba * BigInt(rc.blockLength));
    }
    luns.push({ lun, type, size });
    if (print) out(`Lun:${lun}    Type:${type}${size ? ` (Size:${size})` : ''}`);
  }
  return luns;
}

/** An error already printed; only its exit code is left to report. */
class ReportedError extends Error {
  constructor(readonly original: unknown) {
    super('reported');
  }
}

function printFields(obj: object): void {
  for (const [k, v] of Object.entries(obj)) {
    if (v === undefined || k === 'truncated' || k === 'availableLength') continue;
    if (Buffer.isBuffer(v)) out(`${k}:${v.toString('hex')}`);
    else if (Array.isArray(v)) for (const item of v) out(`${k}:${typeof item === 'object' ? JSON.stringify(item, jsonReplacer) : item}`);
    else out(`${k}:${typeof v === 'bigint' ? v.toString() : typeof v === 'boolean' ? Number(v) : v}`);
  }
}

function jsonReplacer(_k: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') return Buffer.from((v as { data: number[] }).data).toString('hex');
  return v;
}

async function cmdInq(url: IscsiUrl, opts: ToolOptions & { evpd?: number; page?: number; json?: boolean }): Promise<void> {
  const lun = url.lun ?? 0;
  await withManagedSession(url, opts, 'inq', async (s) => {
    if (!opts.evpd) {
      const inq = parseStandardInquiry(await inquiryData(s, lun));
      if (opts.json) return out(JSON.stringify(inq, jsonReplacer, 2));
      return printFields({ ...inq, peripheralDeviceType: deviceTypeName(inq.peripheralDeviceType), versionDescriptors: inq.versionDescriptors.map((d) => d.toString(16).padStart(4, '0')) });
    }
    const page = opts.page ?? 0;
    const data = await inquiryData(s, lun, page);
    let parsed: object;
    switch (page) {
      case 0x00:
        parsed = parseSupportedVpdPages(data);
        break;
      case 0x80:
        parsed = parseUnitSerialNumber(data);
        break;
      case 0x83: {
        const di = parseDeviceIdentification(data);
        parsed = { ...di, wwid: wwid(di.designators) };
        break;
      }
      case 0xb0:
        parsed = parseBlockLimits(data);
        break;
      case 0xb2:
        parsed = parseLogicalBlockProvisioning(data);
        break;
      default:
        parsed = { page: `0x${page.toString(16)}`, data };
    }
    if (opts.json) out(JSON.stringify(parsed, jsonReplacer, 2));
    else printFields(parsed);
    // No LU identity to keep: INQUIRY is how one looks at what is behind a LUN, also one that is not there
    // (peripheral qualifier 3), which the identity read at login would refuse; and one command cannot mix two LUs.
  }, []);
}

async function cmdReadcap(url: IscsiUrl, opts: ToolOptions & { json?: boolean }): Promise<void> {
  const lun = url.lun ?? 0;
  await withManagedSession(url, opts, 'readcap', async (s) => {
    const rc = parseReadCapacity16((await executeScsi(s, lun, readCapacity16())).data);
    const cap = await readCapacity(s, lun);
    if (opts.json) return out(JSON.stringify({ ...rc, blocks: cap.blocks, sizeBytes: cap.sizeBytes }, jsonReplacer, 2));
    out(`RETURNED LOGICAL BLOCK ADDRESS:${rc.lastLba}`);
    out(`LOGICAL BLOCK LENGTH IN BYTES:${rc.blockLength}`);
    out(`P_TYPE:${rc.pType} PROT_EN:${Number(rc.protectionEnabled)}`);
    out(`P_I_EXPONENT:${rc.pIExponent} LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT:${rc.logicalBlocksPerPhysicalBlockExponent}`);
    out(`LBPME:${Number(rc.lbpme)} LBPRZ:${Number(rc.lbprz)}`);
    out(`LOWEST ALIGNED LOGICAL BLOCK ADDRESS:${rc.lowestAlignedLba}`);
    out(`Total size:${cap.sizeBytes}`);
  }, [lun]);
}

async function openEndpoint(
  spec: string,
  opts: ToolOptions,
  forWrite: boolean,
  cleanups: Array<() => Promise<unknown>>,
  sessions: ToolSession[],
  log: (line: string) => void,
): Promise<Endpoint> {
  if (spec.startsWith('iscsi://')) {
    const url = parseIscsiUrl(spec);
    const lun = url.lun ?? 0;
    const s = await ToolSession.open(url, opts, { tool: 'dd', luns: [lun], log });
    sessions.push(s);
    cleanups.push(() => s.close());
    return { kind: 'lun', lun: await Lun.open(s.ms, lun) };
  }
  const file = await open(spec, forWrite ? 'w' : 'r', 0o600);
  cleanups.push(() => file.close());
  return { kind: 'file', file, size: forWrite ? 0 : (await stat(spec)).size, path: spec };
}

/**
 * dd: progress on a TTY (or with --progress), a summary line either way, and when the copy stops, why on
 * the last line: a session that gave up (changed LU identity, replacement_timeout, refused relogin) is
 * named for what it is, not for the TransportError its held commands got, and sets the exit code.
 */
async function cmdDd(opts: ToolOptions & { src: string; dst: string; bs: number; maxInFlight: number; progress?: boolean }): Promise<void> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const sessions: ToolSession[] = [];
  let progress: Progress | undefined;
  // The sessions' lines (connection lost, back) go below the progress line, not into it.
  const log = (line: string) => {
    progress?.finish();
    process.stderr.write(`mpiscsi: ${line}\n`);
  };
  try {
    const src = await openEndpoint(opts.src, opts, false, cleanups, sessions, log);
    const dst = await openEndpoint(opts.dst, opts, true, cleanups, sessions, log);
    const total = src.kind === 'lun' ? src.lun.sizeBytes : src.size;
    const bar = new Progress(total, process.stderr, opts.progress);
    progress = bar;
    const t0 = performance.now();
    let copied = 0;
    const summary = () => {
      const secs = (performance.now() - t0) / 1000;
      process.stderr.write(`${copied} bytes copied in ${secs.toFixed(2)} s (${(copied / secs / 1e6).toFixed(1)} MB/s)\n`);
    };
    try {
      copied = await runDd({
        src,
        dst,
        chunk: opts.bs,
        inFlight: opts.maxInFlight,
        onProgress: (d) => {
          copied = d;
          bar.update(d);
        },
      });
    } catch (err) {
      const stopped = sessions.map((s) => s.stopReason()).find((e) => e !== undefined);
      if (!(err instanceof DdStoppedError) && !stopped) throw err; // refused before copying (sizes, blocks)
      bar.finish();
      summary();
      const reason = stopped ?? (err as DdStoppedError).cause;
      const at = err instanceof DdStoppedError ? `dd stopped at byte ${err.at}: ` : '';
      process.stderr.write(`mpiscsi: ${at}${reason instanceof Error ? reason.message : String(reason)}\n`);
      throw new ReportedError(reason);
    }
    bar.finish();
    summary();
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

async function cmdPerf(url: IscsiUrl, opts: ToolOptions & { maxRequests: number; blocks: number; timeout: number; random?: boolean; write?: boolean; json?: boolean }): Promise<void> {
  await withManagedSession(url, opts, 'perf', async (s) => {
    const lun = await Lun.open(s, url.lun ?? 0);
    if (!opts.json) out(`mpiscsi perf: ${redact(url.host)} ${opts.random ? 'random' : 'sequential'} ${opts.write ? 'writes' : 'reads'} of ${opts.blocks} blocks, ${opts.maxRequests} in flight, ${opts.timeout} s`);
    const res = await runPerf({
      lun,
      inFlight: opts.maxRequests,
      blocks: opts.blocks,
      seconds: opts.timeout,
      random: opts.random,
      write: opts.write,
      onTick: opts.json
        ? undefined
        : (t) =>
            out(
              `${new Date(t.elapsed * 1000).toISOString().slice(11, 19)} - lba ${t.lba}, iops current ${Math.round(t.iopsCurrent)} (${Math.round(t.mbpsCurrent)} MB/s), iops average ${Math.round(t.iopsAverage)} (${Math.round(t.mbpsAverage)} MB/s), in_flight ${t.inFlight}`,
            ),
    });
    if (opts.json) out(JSON.stringify(res));
    else out(`finished: ${res.ios} I/Os in ${res.seconds.toFixed(2)} s, ${Math.round(res.iops)} IOPS, ${res.mbps.toFixed(1)} MB/s, ${res.errors} errors`);
  }, [url.lun ?? 0]);
}

async function cmdServe(urls: string[], opts: CommonOptions & { socket?: string; tcp?: string; name?: string; set: string[] }): Promise<void> {
  const running = await startServe({ urls, socket: opts.socket, tcp: opts.tcp, name: opts.name, set: opts.set, initiatorName: opts.initiatorName, chapAlgs: opts.chapAlgs });
  process.on('SIGUSR1', () => {
    for (const line of running.topology()) out(line);
  });
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      running.close().finally(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function buildProgram(): Command {
  const program = new Command('mpiscsi')
    .description('iSCSI tools on iscsi://[user[%password]@]host[:port]/TARGET/LUN URLs (CHAP secrets may come from MPISCSI_CHAP_PASSWORD)')
    .version(versionLine('mpiscsi').trimEnd(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();
  settable(common(program.command('ls').description('discover targets with SendTargets (like iscsi-ls)')))
    .argument('<url>', 'iscsi://host[:port]', urlArg)
    .option('-s, --show-luns', 'log in to each target and list its LUNs')
    .option('--json', 'JSON output')
    .action((url, opts) => cmdLs(url, opts));
  settable(common(program.command('inq').description('INQUIRY: standard data or a VPD page (like iscsi-inq)')))
    .argument('<url>', 'iscsi://host[:port]/target/lun', urlArg)
    .option('-e, --evpd <0|1>', 'ask for a VPD page', intArg)
    .option('-c, --page <code>', 'VPD page code (0x00, 0x80, 0x83, 0xb0, 0xb2...)', (v) => intArg(String(Number(v))))
    .option('--json', 'JSON output')
    .action((url, opts) => cmdInq(url, opts));
  settable(common(program.command('readcap').description('READ CAPACITY(16) (like iscsi-readcapacity16)')))
    .argument('<url>', 'iscsi://host[:port]/target/lun', urlArg)
    .option('--json', 'JSON output')
    .action((url, opts) => cmdReadcap(url, opts));
  settable(common(program.command('dd').description('copy a LUN to a file, a file to a LUN, or a LUN to a LUN (like iscsi-dd); rides through target restarts')))
    .requiredOption('-s, --src <url|file>', 'source')
    .requiredOption('-d, --dst <url|file>', 'destination')
    .option('--bs <bytes>', 'bytes per command', intArg, 1 << 20)
    .option('-m, --max-in-flight <n>', 'commands in flight', intArg, 8)
    .option('--progress', 'progress lines on stderr also when it is not a terminal')
    .action((opts) => cmdDd(opts));
  settable(common(program.command('perf').description('sequential or random read load (like iscsi-perf)')))
    .argument('<url>', 'iscsi://host[:port]/target/lun', urlArg)
    .option('-m, --max-requests <n>', 'commands in flight', intArg, 32)
    .option('-b, --blocks <n>', 'blocks per command', intArg, 256)
    .option('-t, --timeout <seconds>', 'run time', intArg, 10)
    .option('-r, --random', 'random offsets')
    .option('-w, --write', 'write instead of read (destroys data)')
    .option('--json', 'print the result as JSON')
    .action((url, opts) => cmdPerf(url, opts));
  common(program.command('serve').description('serve one multipath device over NBD in the foreground (like qemu-nbd)'))
    .argument('<url...>', 'one iscsi://host[:port]/target/lun[?iface=SOURCE] URL per path')
    .option('--socket <path>', 'export on this unix socket (mode 0600)')
    .option('--tcp <host:port>', 'export on TCP (host defaults to 127.0.0.1)')
    .option('--name <name>', 'export name (default: the device alias, mpatha)')
    .option('--set <key=value>', 'node record key (node.conn[0].timeo.noop_out_interval=0.5) or multipath setting (no_path_retry=queue); repeatable', collect, [] as string[])
    .action((urls: string[], opts) => cmdServe(urls, opts));
  program
    .command('trace-summary')
    .description('print the failover traces of a JSON-lines span file (mpiscsid --trace-file) as timelines')
    .argument('<file>', 'span file')
    .option('--all', 'every trace, not only failovers')
    .action((file: string, opts: { all?: boolean }) => {
      for (const line of traceSummary(file, opts.all ? /./ : undefined)) process.stdout.write(line + '\n');
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) return e.exitCode === 0 ? 0 : 7; // usage errors: iscsiadm's INVAL
    if (err instanceof ReportedError) return exitCodeFor(err.original);
    process.stderr.write(`mpiscsi: ${e.message}\n`);
    return exitCodeFor(err);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/mpiscsi')) {
  exitQuietlyOnEpipe();
  main(process.argv).then((code) => process.exit(code));
}
