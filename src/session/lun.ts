/**
 * A logical unit reached through one session: SCSI commands with status turned into typed errors, UNIT
 * ATTENTION and BUSY retried, and block I/O checked against the LU's capacity (SBC-3 READ/WRITE semantics).
 */
import {
  inquiry,
  readCapacity16,
  readCapacity10,
  readBlocks,
  writeBlocks,
  synchronizeCache16,
  testUnitReady,
  reportLuns,
  type ScsiCommand,
} from '../scsi/cdb.js';
import { errorForStatus, classifyStatus } from '../scsi/classify.js';
import { parseReadCapacity16, parseReadCapacity10, capacity, type Capacity } from '../scsi/capacity.js';
import { parseReportLuns } from '../scsi/report-luns.js';
import { CheckConditionError, ScsiStatusError } from '../scsi/errors.js';
import type { ScsiCommandRequest, ScsiResult } from './types.js';
import type { TaskSink } from './task.js';
import { systemClock, type Clock } from './clock.js';

/** How long a BUSY or TASK SET FULL answer is given before the command is sent again (SAM-5 §5.3). */
const RETRY_PAUSE_MS = 50;

/** Anything that runs SCSI commands: a plain Session, or a ManagedSession that survives reconnects. */
export interface ScsiExecutor {
  execute(req: ScsiCommandRequest): Promise<ScsiResult>;
  /**
   * execute() without the promise, where the executor has it (Session, ManagedSession, MultipathDevice): the
   * outcome goes to `sink`, once. submitTo() falls back to execute() for executors without it.
   */
  submit?(req: ScsiCommandRequest, sink: TaskSink): void;
}

/** Runs `req` on `exec`, the outcome to `sink`: through its submit() when it has one, else its promise. */
export function submitTo(exec: ScsiExecutor, req: ScsiCommandRequest, sink: TaskSink): void {
  if (exec.submit !== undefined) exec.submit(req, sink);
  else
    exec.execute(req).then(
      (r) => sink.done(r),
      (e: unknown) => sink.fail(e instanceof Error ? e : new Error(String(e))),
    );
}

export interface ExecuteOptions {
  dataOut?: Buffer;
  readInto?: Buffer;
  /** Retries for UNIT ATTENTION / BUSY / TASK SET FULL answers. Default 5. */
  retries?: number;
  /** The clock of the pause before a BUSY / TASK SET FULL retry. Default systemClock; a SimulatedClock in tests. */
  clock?: Clock;
}

const NO_OPTIONS: ExecuteOptions = {};

/** What a command with no data of its own takes of ExecuteOptions (Lun.open's TEST UNIT READY, READ CAPACITY). */
export type CommandOptions = Pick<ExecuteOptions, 'retries' | 'clock'>;

/** Runs one SCSI command on `lun`, rejecting with CheckConditionError/ScsiStatusError for non-GOOD status. */
export function executeScsi(session: ScsiExecutor, lun: number, cmd: ScsiCommand, opts: ExecuteOptions = NO_OPTIONS): Promise<ScsiResult> {
  return new Promise((resolve, reject) => submitScsi(session, lun, cmd, opts, { done: resolve, fail: reject }));
}

/**
 * executeScsi() without the promise: the GOOD result, or the typed error of any other status (after the
 * UNIT ATTENTION / BUSY / TASK SET FULL retries), goes to `sink`. The per-I/O path (ScsiBlockDevice's reads
 * and writes) comes through here: one ScsiAttempt object is all it costs between the device and the executor.
 */
export function submitScsi(session: ScsiExecutor, lun: number, cmd: ScsiCommand, opts: ExecuteOptions, sink: TaskSink): void {
  const dataOut = opts.dataOut ?? cmd.dataOut;
  if (cmd.direction === 'write' && (!dataOut || dataOut.length !== cmd.transferLength))
    return sink.fail(new RangeError(`command writes ${cmd.transferLength} bytes but ${dataOut?.length ?? 0} were given`));
  new ScsiAttempt(session, lun, cmd, opts, dataOut, opts.retries ?? 5, sink).send();
}

/** One issue of a command, and the sink of its outcome on the executor. */
class ScsiAttempt implements TaskSink {
  constructor(
    readonly session: ScsiExecutor,
    readonly lun: number,
    readonly cmd: ScsiCommand,
    readonly opts: ExecuteOptions,
    readonly dataOut: Buffer | undefined,
    readonly retries: number,
    readonly sink: TaskSink,
  ) {}

  send(): void {
    const cmd = this.cmd;
    const read = cmd.direction === 'read';
    submitTo(
      this.session,
      {
        lun: this.lun,
        cdb: cmd.cdb,
        dataIn: read ? cmd.transferLength : 0,
        dataOut: cmd.direction === 'write' ? this.dataOut : undefined,
        readInto: this.opts.readInto,
      },
      this,
    );
  }

  done(result: ScsiResult): void {
    const err = errorForStatus(result.status, result.sense);
    if (err === undefined) return this.sink.done(result);
    // A non-GOOD answer: UNIT ATTENTION, BUSY and TASK SET FULL are retried (BUSY after a pause); the rest fails.
    // errorForStatus parsed the sense data once; sense it could not read counts as the target's answer.
    const cls =
      err instanceof ScsiStatusError && err.cause !== undefined
        ? 'target-answer'
        : classifyStatus(result.status, err instanceof CheckConditionError ? err.sense : undefined);
    if ((cls === 'retry' || cls === 'retry-after-pause') && this.retries > 0) {
      const again = new ScsiAttempt(this.session, this.lun, this.cmd, this.opts, this.dataOut, this.retries - 1, this.sink);
      // Sent again outside the executor's completion (a microtask, or the pause), as a new command.
      if (cls === 'retry-after-pause') (this.opts.clock ?? systemClock).setTimeout(() => again.send(), RETRY_PAUSE_MS);
      else queueMicrotask(() => again.send());
      return;
    }
    this.sink.fail(err);
  }

  fail(err: Error): void {
    this.sink.fail(err);
  }
}

export class Lun {
  private constructor(
    readonly session: ScsiExecutor,
    readonly lun: number,
    readonly capacity: Capacity,
  ) {}

  /** Opens the LU: TEST UNIT READY (clears a pending UNIT ATTENTION), then READ CAPACITY(16), or (10) as fallback. */
  static async open(session: ScsiExecutor, lun: number, opts: CommandOptions = NO_OPTIONS): Promise<Lun> {
    await executeScsi(session, lun, testUnitReady(), opts);
    return new Lun(session, lun, await readCapacity(session, lun, opts));
  }

  get blockSize(): number {
    return this.capacity.blockSize;
  }

  /** Size in bytes (exact while below 2^53). */
  get sizeBytes(): number {
    return Number(this.capacity.sizeBytes);
  }

  execute(cmd: ScsiCommand, opts: ExecuteOptions = {}): Promise<ScsiResult> {
    return executeScsi(this.session, this.lun, cmd, opts);
  }

  /** Reads `length` bytes at byte `offset`; both must be multiples of the block size and inside the LU. */
  async read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const { lba, blocks } = this.range('read', offset, length);
    const res = await this.execute(readBlocks({ lba, blocks, blockSize: this.blockSize }), { readInto: into });
    if (res.data.length !== length)
      throw new RangeError(`read of ${length} bytes at ${offset} returned ${res.data.length} bytes (residual ${res.residual})`);
    return res.data;
  }

  /** Writes `data` at byte `offset` (block-aligned, inside the LU); `fua` makes it durable before completion. */
  async write(offset: number, data: Buffer, fua = false): Promise<void> {
    const { lba, blocks } = this.range('write', offset, data.length);
    await this.execute(writeBlocks({ lba, blocks, blockSize: this.blockSize, fua }), { dataOut: data });
  }

  /** SYNCHRONIZE CACHE(16) over the whole LU. */
  async flush(): Promise<void> {
    await this.execute(synchronizeCache16());
  }

  private range(what: string, offset: number, length: number): { lba: number; blocks: number } {
    const bs = this.blockSize;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`${what}: bad offset ${offset}`);
    if (!Number.isSafeInteger(length) || length <= 0)
      throw new RangeError(`${what}: length must be a positive number of bytes, got ${length}`);
    if (offset % bs !== 0 || length % bs !== 0)
      throw new RangeError(`${what}: offset ${offset} and length ${length} must be multiples of the ${bs}-byte block size`);
    if (offset + length > this.sizeBytes)
      throw new RangeError(`${what}: [${offset}, ${offset + length}) runs past the end of the LU (${this.sizeBytes} bytes)`);
    return { lba: offset / bs, blocks: length / bs };
  }
}

export async function readCapacity(session: ScsiExecutor, lun: number, opts: CommandOptions = NO_OPTIONS): Promise<Capacity> {
  try {
    const res = await executeScsi(session, lun, readCapacity16(), opts);
    return capacity(parseReadCapacity16(res.data));
  } catch (err) {
    // Targets without SERVICE ACTION IN(16) answer ILLEGAL REQUEST: READ CAPACITY(10) then.
    if ((err as Error).name !== 'CheckConditionError') throw err;
    const res = await executeScsi(session, lun, readCapacity10(), opts);
    return capacity(parseReadCapacity10(res.data));
  }
}

/** Standard INQUIRY data or a VPD page, raw (parse with src/scsi/inquiry.ts). */
export async function inquiryData(session: ScsiExecutor, lun: number, page?: number): Promise<Buffer> {
  const res = await executeScsi(session, lun, inquiry(page === undefined ? {} : { page }));
  return res.data;
}

export async function listLuns(session: ScsiExecutor): Promise<readonly number[]> {
  const res = await executeScsi(session, 0, reportLuns());
  return parseReportLuns(res.data).luns;
}
