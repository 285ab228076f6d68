/**
 * What `mpiscsi`'s commands do (mpiscsi.ts parses their command lines and loads this file only when one runs):
 * tools on libiscsi-style URLs (`iscsi://[user[%pass]@]host[:port]/IQN/LUN`): ls, inq, readcap, dd, perf, serve —
 * the counterparts of libiscsi's iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-dd, iscsi-perf and qemu-nbd.
 * Each runs its LUN on one supervised session (supervised.ts), so a target restart costs a stall.
 */
import { writeSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { parseLunUrl, redact, formatPortal, type IscsiUrl, type LunUrl } from '../session/url.js';
import { Lun, inquiryData, listLuns, executeScsi } from '../session/lun.js';
import { discoverUrl, type CommonOptions } from './connect.js';
import { ToolSession, ToolUsageError, withManagedSession, type ToolOptions } from './supervised.js';
import { exitCodeFor } from '../control/exit-codes.js';
import { runDd, DdStoppedError, type Endpoint } from './dd.js';
import { runPerf } from './perf.js';
import { Progress, type ProgressMode } from './progress.js';
import { startServe } from './serve.js';
import { configureBusyPoll, describeBusyPoll } from '../session/busy-poll.js';
import { debugLog } from './verbose.js';
import { ForkedServeExitError, forkServe, readyPipe } from './fork.js';
import {
  parseStandardInquiry,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  parseDeviceIdentification,
  parseBlockLimits,
  parseBlockDeviceCharacteristics,
  parseLogicalBlockProvisioning,
  wwid,
  PeripheralDeviceType,
  PeripheralQualifier,
  type StandardInquiry,
} from '../scsi/inquiry.js';
import { readCapacity16, testUnitReady } from '../scsi/cdb.js';
import { parseReadCapacity16 } from '../scsi/capacity.js';
import { CheckConditionError, ScsiStatusError } from '../scsi/errors.js';
import { SenseKey } from '../scsi/sense.js';
import {
  blockDeviceCharacteristicsLines,
  blockLimitsLines,
  deviceIdentificationLines,
  deviceTypeName,
  logicalBlockProvisioningLines,
  lsLunLine,
  lsSize,
  qualifierName,
  readCapacityLines,
  senseText,
  standardInquiryLines,
  supportedPagesLines,
  toJson,
  unitSerialLines,
} from './scsi-print.js';
import type { ScsiExecutor } from '../session/lun.js';

const out = (line: string) => process.stdout.write(`${line}\n`);

/**
 * A SCSI command of a tool ended without GOOD status, or the LUN has no logical unit: reported with the sense
 * in libiscsi's words, and the exit code libiscsi's tools use for every failure (10).
 */
class ScsiToolError extends Error {
  override readonly name = 'ScsiToolError';
}

/** The exit code of a SCSI failure, as iscsi-inq, iscsi-readcapacity16 and iscsi-ls exit (10). */
export const SCSI_FAILURE_EXIT = 10;

/** A CHECK CONDITION or other status as a ScsiToolError naming the command; other errors as they are. */
function scsiFailure(what: string, err: unknown): unknown {
  if (err instanceof CheckConditionError) return new ScsiToolError(`${what} failed: ${senseText(err.sense)}`, { cause: err });
  if (err instanceof ScsiStatusError) return new ScsiToolError(`${what} failed: ${err.message}`, { cause: err });
  return err;
}

/** Runs one command of a tool, its SCSI failure reported as scsiFailure says. */
async function scsiStep<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw scsiFailure(what, err);
  }
}

/**
 * Refuses a LUN with no logical unit behind it (PERIPHERAL QUALIFIER 3; tgtd answers INQUIRY so for an
 * unmapped LUN). The reason comes from the target: TEST UNIT READY, which libiscsi's login sends too, gets
 * its sense (tgtd: ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED).
 */
async function requireLogicalUnit(s: ScsiExecutor, lun: number, inq: StandardInquiry): Promise<void> {
  if (inq.peripheralQualifier !== PeripheralQualifier.NOT_SUPPORTED) return;
  const what = `no logical unit at LUN ${lun} (Peripheral Qualifier:${qualifierName(inq.peripheralQualifier)})`;
  try {
    await executeScsi(s, lun, testUnitReady());
  } catch (err) {
    if (err instanceof CheckConditionError) throw new ScsiToolError(`${what}: ${senseText(err.sense)}`, { cause: err });
    throw scsiFailure(`${what}; TEST UNIT READY`, err);
  }
  throw new ScsiToolError(`${what}; TEST UNIT READY returned GOOD`);
}

type LsLun = { lun: number; type: string; size?: string; noMedia?: boolean };

export async function cmdLs(url: IscsiUrl, opts: ToolOptions & { showLuns?: boolean; json?: boolean }): Promise<void> {
  const debug = debugLog(opts.verbose ?? 0);
  debug(1, `SendTargets discovery at ${formatPortal(url.host, url.port)}`);
  const targets = await discoverUrl(url, opts);
  debug(1, `SendTargets answered ${targets.length} target${targets.length === 1 ? '' : 's'}`);
  let failure: unknown;
  const report: Array<{ target: string; portals: string[]; luns?: LsLun[] }> = [];
  // Text in iscsi-ls's order, the last target (and portal) of the SendTargets answer first, as libiscsi
  // builds its lists by prepending; JSON in the answer's order.
  for (const t of [...targets].reverse()) {
    const entry: (typeof report)[number] = {
      target: t.targetName,
      portals: t.portals.map((p) => `${formatPortal(p.host, p.port)},${p.tpgt}`),
    };
    report.unshift(entry);
    if (!opts.json) for (const p of [...entry.portals].reverse()) out(`Target:${t.targetName} Portal:${p}`);
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

/**
 * iscsi-ls -s for one target: per reported LUN, TEST UNIT READY (NOT READY, MEDIUM NOT PRESENT is "No media
 * loaded", not an error), INQUIRY, and for a direct-access LU its size. The size comes from READ CAPACITY(16)
 * where iscsi-ls uses (10): the same number below 2 TiB, and the right one above.
 */
async function describeLuns(s: ScsiExecutor, print: boolean): Promise<LsLun[]> {
  const luns: LsLun[] = [];
  for (const lun of await listLuns(s)) {
    let noMedia = false;
    try {
      await executeScsi(s, lun, testUnitReady());
    } catch (err) {
      // ASC 0x3A: MEDIUM NOT PRESENT (any ASCQ: tray open, closed, loadable...).
      if (!(err instanceof CheckConditionError && err.sense.key === SenseKey.NOT_READY && err.sense.asc === 0x3a))
        throw scsiFailure(`TEST UNIT READY of LUN ${lun}`, err);
      noMedia = true;
    }
    const inq = parseStandardInquiry(await scsiStep(`INQUIRY of LUN ${lun}`, () => inquiryData(s, lun)));
    let size: string | undefined;
    if (inq.peripheralDeviceType === PeripheralDeviceType.DIRECT_ACCESS_BLOCK && !noMedia) {
      const rc = parseReadCapacity16((await scsiStep(`READ CAPACITY(16) of LUN ${lun}`, () => executeScsi(s, lun, readCapacity16()))).data);
      size = lsSize(rc.lastLba * BigInt(rc.blockLength));
    }
    luns.push({ lun, type: deviceTypeName(inq.peripheralDeviceType), size: size?.trim(), ...(noMedia ? { noMedia } : {}) });
    if (print) out(lsLunLine(lun, inq.peripheralDeviceType, size, noMedia));
  }
  return luns;
}

/** An error already printed; only its exit code is left to report. */
export class ReportedError extends Error {
  constructor(readonly original: unknown) {
    super('reported');
  }
}

/**
 * The exit code of a tool's failure: 10 for a SCSI failure (a command's status or sense, a LUN with no LU),
 * as libiscsi's tools exit; iscsiadm's codes for the rest (usage, login, transport).
 */
export function toolExitCode(err: unknown): number {
  if (err instanceof ForkedServeExitError) return err.code;
  if (err instanceof ScsiToolError || err instanceof CheckConditionError || err instanceof ScsiStatusError) return SCSI_FAILURE_EXIT;
  return exitCodeFor(err);
}

/** VPD pages the text output decodes, each with its parser and iscsi-inq's lines. */
const VPD_PAGES: ReadonlyMap<number, (data: Buffer) => { parsed: object; lines: string[] }> = new Map([
  [0x00, (d: Buffer) => withLines(parseSupportedVpdPages(d), supportedPagesLines)],
  [0x80, (d: Buffer) => withLines(parseUnitSerialNumber(d), unitSerialLines)],
  [
    0x83,
    (d: Buffer) => {
      const di = parseDeviceIdentification(d);
      return { parsed: { ...di, wwid: wwid(di.designators) }, lines: deviceIdentificationLines(di) };
    },
  ],
  [0xb0, (d: Buffer) => withLines(parseBlockLimits(d), blockLimitsLines)],
  [0xb1, (d: Buffer) => withLines(parseBlockDeviceCharacteristics(d), blockDeviceCharacteristicsLines)],
  [0xb2, (d: Buffer) => withLines(parseLogicalBlockProvisioning(d), logicalBlockProvisioningLines)],
]);

function withLines<T extends object>(parsed: T, lines: (p: T) => string[]): { parsed: object; lines: string[] } {
  return { parsed, lines: lines(parsed) };
}

/**
 * inq, as iscsi-inq: standard INQUIRY data, or with `-e 1` the VPD page `-c` (default 0x00). Standard data
 * comes first either way: a LUN without a logical unit (qualifier 3) is refused with the target's sense.
 */
export async function cmdInq(url: LunUrl, opts: ToolOptions & { evpd?: number; page?: number; json?: boolean }): Promise<void> {
  const { lun } = url;
  if (opts.evpd !== undefined && opts.evpd > 1) throw new ToolUsageError(`--evpd ${opts.evpd}: expected 0 or 1`);
  if (opts.page !== undefined && opts.page > 0xff) throw new ToolUsageError(`--page ${opts.page}: a VPD page code is 0 to 255 (0x00-0xff)`);
  if (opts.page !== undefined && !opts.evpd) throw new ToolUsageError('--page needs --evpd 1: standard INQUIRY data has no page code');
  await withManagedSession(
    url,
    opts,
    'inq',
    async (s) => {
      const inq = parseStandardInquiry(await scsiStep(`INQUIRY of LUN ${lun}`, () => inquiryData(s, lun)));
      await requireLogicalUnit(s, lun, inq);
      if (!opts.evpd) {
        if (opts.json) return out(toJson(inq));
        for (const line of standardInquiryLines(inq)) out(line);
        return;
      }
      const page = opts.page ?? 0;
      const data = await scsiStep(`INQUIRY (VPD page 0x${page.toString(16).padStart(2, '0')}) of LUN ${lun}`, () =>
        inquiryData(s, lun, page),
      );
      const decode = VPD_PAGES.get(page);
      if (!decode) {
        // A page the target has and we do not decode: its bytes, as iscsi-inq has nothing better either.
        if (opts.json) return out(toJson({ pageCode: page, data }));
        process.stderr.write(`mpiscsi: no decoding for VPD page 0x${page.toString(16).padStart(2, '0')}; its bytes follow\n`);
        return out(`Data:${data.toString('hex')}`);
      }
      const { parsed, lines } = decode(data);
      if (opts.json) return out(toJson(parsed));
      for (const line of lines) out(line);
      // No LU identity to keep: INQUIRY is how one looks at what is behind a LUN, also one that is not there
      // (peripheral qualifier 3), which the identity read at login would refuse; and one command cannot mix two LUs.
    },
    [],
  );
}

/**
 * readcap, as iscsi-readcapacity16 (`-s`: the size in bytes only). One command: no LU identity to keep across
 * relogins, and a LUN without a logical unit gets the target's own CHECK CONDITION rather than the identity read's.
 */
export async function cmdReadcap(url: LunUrl, opts: ToolOptions & { json?: boolean; size?: boolean }): Promise<void> {
  const { lun } = url;
  await withManagedSession(
    url,
    opts,
    'readcap',
    async (s) => {
      const rc = parseReadCapacity16((await scsiStep(`READ CAPACITY(16) of LUN ${lun}`, () => executeScsi(s, lun, readCapacity16()))).data);
      const blocks = rc.lastLba + 1n;
      const sizeBytes = blocks * BigInt(rc.blockLength);
      if (opts.json) return out(toJson({ ...rc, blocks, sizeBytes }));
      if (opts.size) return out(String(sizeBytes));
      for (const line of readCapacityLines(rc)) out(line);
    },
    [],
  );
}

/** `--progress[=FD]` / `--no-progress` as commander hands them over: undefined, true, false or the FD's text. */
function progressMode(value: boolean | string | undefined): ProgressMode {
  if (value === undefined) return 'auto';
  if (value === true) return 'on';
  if (value === false) return 'off';
  if (!/^\d+$/.test(value)) throw new ToolUsageError(`--progress=${value}: expected a file descriptor number (--progress=3 with 3>file)`);
  const fd = Number(value);
  try {
    // A write of nothing: refused (EBADF) by a descriptor that is closed or open only for reading, before
    // any session is opened rather than at the first percent.
    writeSync(fd, Buffer.alloc(0));
  } catch (err) {
    throw new ToolUsageError(
      `--progress=${value}: cannot write to file descriptor ${fd} (${(err as NodeJS.ErrnoException).code}); open it for writing in the shell: ${fd}>/tmp/progress`,
    );
  }
  return fd;
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
    const url = parseLunUrl(spec);
    const lun = url.lun;
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
 * dd: progress as nbdcopy (progress.ts: a bar on a TTY, forced with --progress, N/100 lines with
 * --progress=FD, none with --no-progress), a summary line either way, and when the copy stops, why on
 * the last line: a session that gave up (changed LU identity, replacement_timeout, refused relogin) is
 * named for what it is, not for the TransportError its held commands got, and sets the exit code.
 */
export async function cmdDd(
  opts: ToolOptions & { src: string; dst: string; bs: number; maxInFlight: number; progress?: boolean | string },
): Promise<void> {
  let mode = progressMode(opts.progress);
  // --quiet silences the bar (dd status=none); progress=FD was asked for by descriptor and stays.
  if (opts.quiet && (mode === 'auto' || mode === 'on')) mode = 'off';
  const cleanups: Array<() => Promise<unknown>> = [];
  const sessions: ToolSession[] = [];
  let progress: Progress | undefined;
  // The sessions' lines (connection lost, back) go below the progress line, not into it.
  const log = (line: string) => {
    if (opts.quiet) return;
    progress?.finish();
    process.stderr.write(`mpiscsi: ${line}\n`);
  };
  try {
    const src = await openEndpoint(opts.src, opts, false, cleanups, sessions, log);
    const dst = await openEndpoint(opts.dst, opts, true, cleanups, sessions, log);
    const total = src.kind === 'lun' ? src.lun.sizeBytes : src.size;
    const bar = new Progress(total, mode, process.stderr);
    progress = bar;
    const t0 = performance.now();
    let copied = 0;
    const summary = () => {
      if (opts.quiet) return;
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

export async function cmdPerf(
  url: LunUrl,
  opts: ToolOptions & {
    maxRequests: number;
    blocks: number;
    timeout: number;
    random?: boolean;
    write?: boolean;
    json?: boolean;
    /** --busy-poll (commander gives its default). */
    busyPoll: number;
  },
): Promise<void> {
  configureBusyPoll({ windowUs: opts.busyPoll });
  await withManagedSession(
    url,
    opts,
    'perf',
    async (s) => {
      const lun = await Lun.open(s, url.lun);
      if (!opts.json)
        out(
          `mpiscsi perf: ${redact(url.host)} ${opts.random ? 'random' : 'sequential'} ${opts.write ? 'writes' : 'reads'} of ${opts.blocks} blocks, ${opts.maxRequests} in flight, ${opts.timeout} s`,
        );
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
      else
        out(
          `finished: ${res.ios} I/Os in ${res.seconds.toFixed(2)} s, ${Math.round(res.iops)} IOPS, ${res.mbps.toFixed(1)} MB/s, ${res.errors} errors`,
        );
    },
    [url.lun],
  );
}

export async function cmdServe(
  urls: string[],
  opts: CommonOptions & {
    socket?: string;
    tcp?: string;
    name?: string;
    set: string[];
    pidFile?: string;
    fork?: boolean;
    /** --busy-poll (commander gives its default). */
    busyPoll: number;
  },
): Promise<void> {
  if (opts.fork) {
    try {
      await forkServe(process.argv, out);
    } catch (err) {
      // The child said why on the stderr it shares with us; its exit code is ours.
      throw err instanceof ForkedServeExitError ? new ReportedError(err) : err;
    }
    return;
  }
  configureBusyPoll({ windowUs: opts.busyPoll });
  if (!opts.quiet) debugLog(opts.verbose ?? 0)(1, describeBusyPoll());
  const ready = readyPipe();
  const running = await startServe({
    out: ready?.out,
    urls,
    socket: opts.socket,
    tcp: opts.tcp,
    name: opts.name,
    set: opts.set,
    initiatorName: opts.initiatorName,
    chapAlgs: opts.chapAlgs,
    pidFile: opts.pidFile,
    verbose: opts.quiet ? 0 : opts.verbose,
    // Log lines stay on stderr when the URIs go to the ready pipe (startServe's log defaults to its out).
    log: opts.quiet ? () => {} : ready ? (line: string) => void process.stderr.write(`${line}\n`) : undefined,
  });
  ready?.done();
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
