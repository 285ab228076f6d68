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
import { systemClock, type Clock } from './clock.js';

/** How long a BUSY or TASK SET FULL answer is given before the command is sent again (SAM-5 §5.3). */
const RETRY_PAUSE_MS = 50;

/** Anything that runs SCSI commands: a plain Session, or a ManagedSession that survives reconnects. */
export interface ScsiExecutor {
  execute(req: ScsiCommandRequest): Promise<ScsiResult>;
}

export interface ExecuteOptions {
  dataOut?: Buffer;
  readInto?: Buffer;
  /** Retries for UNIT ATTENTION / BUSY / TASK SET FULL answers. Default 5. */
  retries?: number;
  /** The clock of the pause before retrying BUSY / TASK SET FULL. Default systemClock. */
  clock?: Clock;
}

const NO_OPTIONS: ExecuteOptions = {};

/**
 * Runs one SCSI command on `lun`, throwing CheckConditionError/ScsiStatusError for non-GOOD status. Not an
 * async function: a GOOD answer (every I/O) costs one `.then` on the executor's promise, and only a non-GOOD
 * status takes the async retry path (an async frame per command was the largest allocation per 4 KiB I/O).
 */
export function executeScsi(session: ScsiExecutor, lun: number, cmd: ScsiCommand, opts: ExecuteOptions = NO_OPTIONS): Promise<ScsiResult> {
  const dataOut = opts.dataOut ?? cmd.dataOut;
  if (cmd.direction === 'write' && (!dataOut || dataOut.length !== cmd.transferLength))
    return Promise.reject(new RangeError(`command writes ${cmd.transferLength} bytes but ${dataOut?.length ?? 0} were given`));
  return attempt(session, lun, cmd, opts, dataOut, opts.retries ?? 5);
}

function attempt(
  session: ScsiExecutor,
  lun: number,
  cmd: ScsiCommand,
  opts: ExecuteOptions,
  dataOut: Buffer | undefined,
  retries: number,
): Promise<ScsiResult> {
  const req = {
    lun,
    cdb: cmd.cdb,
    dataIn: cmd.direction === 'read' ? cmd.transferLength : 0,
    dataOut: cmd.direction === 'write' ? dataOut : undefined,
    readInto: opts.readInto,
  };
  return session.execute(req).then((result) => {
    const err = errorForStatus(result.status, result.sense);
    return err === undefined ? result : retryOrThrow(session, lun, cmd, opts, dataOut, retries, result, err);
  });
}

/** A non-GOOD answer: UNIT ATTENTION, BUSY and TASK SET FULL are retried (BUSY after a pause); the rest throws. */
async function retryOrThrow(
  session: ScsiExecutor,
  lun: number,
  cmd: ScsiCommand,
  opts: ExecuteOptions,
  dataOut: Buffer | undefined,
  retries: number,
  result: ScsiResult,
  err: Error,
): Promise<ScsiResult> {
  // errorForStatus parsed the sense data once; sense it could not read counts as the target's answer.
  const cls =
    err instanceof ScsiStatusError && err.cause !== undefined
      ? 'target-answer'
      : classifyStatus(result.status, err instanceof CheckConditionError ? err.sense : undefined);
  if ((cls === 'retry' || cls === 'retry-after-pause') && retries > 0) {
    if (cls === 'retry-after-pause') await new Promise((r) => (opts.clock ?? systemClock).setTimeout(r, RETRY_PAUSE_MS));
    return attempt(session, lun, cmd, opts, dataOut, retries - 1);
  }
  throw err;
}

export class Lun {
  private constructor(
    readonly session: ScsiExecutor,
    readonly lun: number,
    readonly capacity: Capacity,
  ) {}

  /** Opens the LU: TEST UNIT READY (clears a pending UNIT ATTENTION), then READ CAPACITY(16), or (10) as fallback. */
  static async open(session: ScsiExecutor, lun: number): Promise<Lun> {
    await executeScsi(session, lun, testUnitReady());
    return new Lun(session, lun, await readCapacity(session, lun));
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

export async function readCapacity(session: ScsiExecutor, lun: number): Promise<Capacity> {
  try {
    const res = await executeScsi(session, lun, readCapacity16());
    return capacity(parseReadCapacity16(res.data));
  } catch (err) {
    // Targets without SERVICE ACTION IN(16) answer ILLEGAL REQUEST: READ CAPACITY(10) then.
    if ((err as Error).name !== 'CheckConditionError') throw err;
    const res = await executeScsi(session, lun, readCapacity10());
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
