/**
 * The full-feature data path of one iSCSI session on one connection (RFC 7143 §3.2, §4.2, §10): ITT
 * allocation, the CmdSN window, immediate/unsolicited/R2T-driven Data-Out, Data-In and status, NOP-In
 * answers and pings, Text, task management and logout. Plain code: one call per I/O, no statechart here.
 *
 * Over 500 lines because each RFC 7143 exchange (command, Data-Out/R2T, Data-In, NOP, TMF, Text,
 * Logout) updates the same CmdSN window and ITT table; it is kept as one class so those stay private to it.
 */
import {
  RESERVED_TAG,
  Opcode,
  TaskAttr,
  AsyncEvent,
  RejectReason,
  LogoutReason,
  ScsiResponseCode,
  TmfFunction,
} from '../iscsi/constants.js';
import { ProtocolError, TransportError, TaskAbortedError } from '../iscsi/errors.js';
import { getBufferOffset, getCmdSN, getImmediate, getItt, getLun, getOpcode } from '../iscsi/bhs.js';
import type {
  Pdu,
  DataIn,
  ScsiResponse,
  R2T,
  NopIn,
  AsyncMessage,
  Reject,
  TextResponse,
  TaskMgmtResponse,
  LogoutResponse,
} from '../iscsi/pdu.js';
import { serialAdd, serialGt, serialGte, serialLte } from '../iscsi/serial.js';
import type { NegotiatedParams } from '../iscsi/negotiation.js';
import type { Connection, ConnectionStats } from './connection.js';
import { TagTable } from './in-flight.js';
import type { Task, TaskSink } from './task.js';
import type { ScsiCommandRequest, ScsiResult } from './types.js';
import { systemClock, type Clock } from './clock.js';
import { commandsOutstanding } from './busy-poll.js';

/** What a finished login hands to the full-feature session. */
export interface SessionSetup {
  targetName: string;
  initiatorName: string;
  isid: number;
  tsih: number;
  cid: number;
  /** StatSN of the final login response. */
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  /** The CmdSN the login used; full-feature commands continue from it (§3.2.2.1). */
  cmdSN: number;
  /** The negotiated parameters the data path obeys (§13). */
  params: Pick<
    NegotiatedParams,
    | 'headerDigest'
    | 'dataDigest'
    | 'maxRecvDataSegmentLength'
    | 'maxXmitDataSegmentLength'
    | 'maxBurstLength'
    | 'firstBurstLength'
    | 'initialR2T'
    | 'immediateData'
    | 'maxOutstandingR2T'
  >;
  /** Most commands we keep outstanding (node.session.cmds_max). Default 128. */
  cmdsMax?: number;
  /**
   * Log out on our own when the target asks (AsyncEvent 1). Default true; a supervised session (the
   * statechart in machines/) turns it off and lets the machine run the logout and the relogin.
   */
  logoutOnRequest?: boolean;
  /** The clock of the session's waits (NOP-Out ping, task management, logout). Default systemClock. */
  clock?: Clock;
}

/** Filled in by `execute` so the caller can refer to the task (command timeouts, ABORT TASK). */
export interface TaskHandle {
  itt: number;
  lun: number;
}

export type SessionWireEvent =
  | { type: 'async'; message: AsyncMessage }
  | { type: 'reject'; reason: number; itt: number }
  | { type: 'closed'; error: Error };

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: Error): void;
  timer?: unknown;
}

/** The first ITT of the session's own requests (allocItt); SCSI tasks take theirs from the task table. */
const WAITER_ITT_BASE = 0x80000000;

export class Session {
  readonly targetName: string;
  readonly isid: number;
  readonly tsih: number;
  readonly params: SessionSetup['params'];
  /** By ITT: 1..0x7fffffff, chosen by the table (src/session/in-flight.ts says why not a Map). */
  private readonly tasks = new TagTable<Task>();
  private readonly pending: Task[] = [];
  private readonly waiters = new Map<number, Waiter<Pdu>>();
  private readonly listeners = new Set<(e: SessionWireEvent) => void>();
  private nextItt = WAITER_ITT_BASE;
  /** Commands sent to the target and not yet completed. */
  private issued = 0;
  private cmdSN: number;
  private expCmdSN: number;
  private maxCmdSN: number;
  private expStatSN: number;
  private readonly cmdsMax: number;
  private closedWith: Error | undefined;
  private readonly logoutOnRequest: boolean;
  private readonly clock: Clock;
  /**
   * Liveness hook: called for each PDU received while it is set. Its owner (ManagedSession's connection
   * watch) unsets it between the reports it needs, so a busy connection pays one check per PDU.
   */
  private lifeHook: (() => void) | undefined;

  constructor(
    readonly conn: Connection,
    setup: SessionSetup,
  ) {
    this.targetName = setup.targetName;
    this.isid = setup.isid;
    this.tsih = setup.tsih;
    this.params = setup.params;
    this.cmdSN = setup.cmdSN;
    this.expCmdSN = setup.expCmdSN;
    this.maxCmdSN = setup.maxCmdSN;
    this.expStatSN = serialAdd(setup.statSN, 1);
    this.cmdsMax = setup.cmdsMax ?? 128;
    this.logoutOnRequest = setup.logoutOnRequest ?? true;
    this.clock = setup.clock ?? systemClock;
    conn.enterFullFeature(
      { headerDigest: setup.params.headerDigest, dataDigest: setup.params.dataDigest },
      setup.params.maxRecvDataSegmentLength,
    );
    conn.setHandler({ pdu: (p) => this.onPdu(p), closed: (e) => this.onClosed(e) });
    conn.setDataSink((header, dsl) => this.dataSink(header, dsl));
  }

  get stats(): ConnectionStats {
    return this.conn.stats;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Commands sent and not yet answered, plus those waiting for the CmdSN window. */
  get outstanding(): number {
    return this.tasks.size + this.pending.length;
  }

  /** The window the target grants: MaxCmdSN - ExpCmdSN + 1 (§4.2.2.1). */
  get window(): number {
    return (this.maxCmdSN - this.expCmdSN + 1) | 0;
  }

  on(listener: (e: SessionWireEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs one SCSI command. Resolves with the status and data whatever the SCSI status is (callers turn
   * CHECK CONDITION into a typed error); rejects with TransportError when the connection fails under it.
   */
  execute(req: ScsiCommandRequest, handle?: TaskHandle): Promise<ScsiResult> {
    return new Promise<ScsiResult>((resolve, reject) => this.submit(req, { done: resolve, fail: reject }, handle));
  }

  /**
   * execute() without the promise: the outcome goes to `sink`, synchronously from the PDU that completes the
   * task or the failure that ends it (a request refused here fails at once, before submit returns).
   */
  submit(req: ScsiCommandRequest, sink: TaskSink, handle?: TaskHandle): void {
    if (this.closedWith) return sink.fail(this.closedWith);
    const dataIn = req.dataIn ?? 0;
    const dataOut = req.dataOut?.length ?? 0;
    if (dataIn > 0 && dataOut > 0) return sink.fail(new RangeError('bidirectional commands are not supported'));
    if (req.readInto && req.readInto.length < dataIn)
      return sink.fail(new RangeError(`readInto holds ${req.readInto.length} bytes, the command reads ${dataIn}`));
    const task: Task = {
      itt: 0,
      cmdSN: 0,
      req,
      sink,
      dest: req.readInto,
      inBytes: 0,
      inEnd: 0,
      expDataSN: 0,
      outSent: 0,
    };
    task.itt = this.tasks.add(task);
    commandsOutstanding(1);
    if (handle) {
      handle.itt = task.itt;
      handle.lun = req.lun;
    }
    if (this.canIssue()) this.issue(task);
    else this.pending.push(task);
  }

  /** NOP-Out ping (§11.18) answered by a NOP-In; resolves with the round trip in ms. */
  async ping(timeoutMs = 5000, data?: Buffer): Promise<number> {
    const itt = this.allocItt();
    const t0 = this.clock.now();
    const reply = this.waitFor(itt, timeoutMs, 'NOP-Out ping');
    this.sendPing(itt, data);
    await reply;
    return this.clock.now() - t0;
  }

  /**
   * Sends a NOP-Out that asks for an answer (§11.18) without waiting for it: the keepalive of the
   * connection statechart, which only needs to see that something arrives.
   */
  sendNop(): void {
    if (this.closedWith) return;
    this.sendPing(this.allocItt());
  }

  /** §11.18: an initiator ping wants a NOP-In back (real ITT, TTT 0xffffffff), immediate so CmdSN stays. */
  private sendPing(itt: number, data?: Buffer): void {
    this.send({
      opcode: Opcode.NOP_OUT,
      immediate: true,
      itt,
      lun: 0,
      ttt: RESERVED_TAG,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
      data,
    });
  }

  /** Registers the liveness hook (one per session). */
  onLife(hook: (() => void) | undefined): void {
    this.lifeHook = hook;
  }

  /**
   * Forgets tasks the target no longer holds (after ABORT TASK, LOGICAL UNIT RESET or TARGET WARM RESET
   * completed, §11.5.1) and fails them with `error`, so the caller can re-issue them.
   */
  abortTasks(match: (t: TaskHandle) => boolean, error: Error): number {
    let n = 0;
    for (const task of this.tasks.values()) {
      if (!match({ itt: task.itt, lun: task.req.lun })) continue;
      this.forget(task);
      task.sink.fail(error);
      n++;
    }
    this.drain();
    return n;
  }

  /**
   * A Text request/response exchange in full-feature phase (§11.10), following continuations (F=0 with a
   * TTT) until the target's final response. Returns the concatenated text data.
   */
  async text(data: Buffer, timeoutMs = 30_000): Promise<Buffer> {
    const itt = this.allocItt();
    const parts: Buffer[] = [];
    let ttt = RESERVED_TAG;
    let request: Buffer | undefined = data;
    for (let round = 0; round < 1024; round++) {
      const reply = this.waitFor(itt, timeoutMs, 'Text request');
      const cmdSN = this.cmdSN;
      this.cmdSN = serialAdd(this.cmdSN, 1);
      this.send({
        opcode: Opcode.TEXT_REQUEST,
        immediate: false,
        final: true,
        cont: false,
        itt,
        lun: 0,
        ttt,
        cmdSN,
        expStatSN: this.expStatSN,
        data: request,
      });
      request = undefined;
      const resp = (await reply) as TextResponse;
      if (resp.data) parts.push(resp.data);
      if (resp.final) return Buffer.concat(parts);
      ttt = resp.ttt;
      if (ttt === RESERVED_TAG) throw new ProtocolError('Text Response with F=0 and no Target Transfer Tag', Opcode.TEXT_RESPONSE, 20);
    }
    throw new ProtocolError('Text exchange did not finish after 1024 responses', Opcode.TEXT_RESPONSE);
  }

  /**
   * Sends a task management function (§11.5) as an immediate command; resolves with the response code.
   * `refCmdSN` is for a task this session no longer holds (a rejected command, see onReject).
   */
  async taskManagement(fn: number, lun: number, referencedItt = RESERVED_TAG, timeoutMs = 30_000, refCmdSN?: number): Promise<number> {
    const itt = this.allocItt();
    const ref = referencedItt !== RESERVED_TAG ? this.tasks.get(referencedItt) : undefined;
    const reply = this.waitFor(itt, timeoutMs, 'task management request');
    this.send({
      opcode: Opcode.TASK_MGMT_REQUEST,
      immediate: true,
      function: fn,
      itt,
      lun,
      referencedTaskTag: referencedItt,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
      refCmdSN: refCmdSN ?? (ref ? ref.cmdSN : this.cmdSN),
      expDataSN: ref ? ref.expDataSN : 0,
    });
    return ((await reply) as TaskMgmtResponse).response;
  }

  /**
   * Logs out (§11.14, reason "close the session") and closes the connection. Outstanding tasks fail with
   * TaskAbortedError, or with `closeError` when given (a logout for recovery, whose tasks are re-issued).
   * Falls back to dropping the connection when the target does not answer in time.
   */
  async logout(timeoutMs = 15_000, closeError?: Error): Promise<LogoutResponse | undefined> {
    if (this.closedWith) return undefined;
    const itt = this.allocItt();
    const reply = this.waitFor(itt, timeoutMs, 'Logout request');
    this.send({
      opcode: Opcode.LOGOUT_REQUEST,
      immediate: true,
      reasonCode: LogoutReason.CLOSE_SESSION,
      itt,
      cid: 0,
      cmdSN: this.cmdSN,
      expStatSN: this.expStatSN,
    });
    try {
      const resp = (await reply) as LogoutResponse;
      this.close(closeError ?? new TaskAbortedError('session logged out'));
      return resp;
    } catch (err) {
      this.close(closeError ?? new TaskAbortedError('session logged out (target did not answer the logout)', { cause: err }));
      return undefined;
    }
  }

  /** Drops the connection at once; every outstanding task fails with `error`. */
  close(error: Error = new TransportError('session closed')): void {
    this.conn.destroy(error);
  }

  // -------------------------------------------------------------------------------------------------------

  /**
   * The ITT of a ping, text exchange, task management request or logout: 0x80000000..0xfffffffe, above every
   * SCSI task's (the task table's tags have no high bit), so the two never meet.
   */
  private allocItt(): number {
    for (;;) {
      const itt = this.nextItt;
      this.nextItt = this.nextItt >= 0xfffffffe ? WAITER_ITT_BASE : this.nextItt + 1;
      if (!this.waiters.has(itt)) return itt;
    }
  }

  /** §4.2.2.1: a non-immediate command may go out only while CmdSN <= MaxCmdSN. */
  private canIssue(): boolean {
    return serialLte(this.cmdSN, this.maxCmdSN) && this.issued < this.cmdsMax;
  }

  private send(pdu: Pdu): void {
    try {
      this.conn.send(pdu);
    } catch (err) {
      this.onClosed(err as Error);
    }
  }

  private waitFor(itt: number, timeoutMs: number, what: string): Promise<Pdu> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    return new Promise<Pdu>((resolve, reject) => {
      const w: Waiter<Pdu> = { resolve, reject };
      w.timer = this.clock.setTimeout(() => {
        this.waiters.delete(itt);
        this.conn.stats.timeout_err++;
        reject(new TransportError(`${what} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(itt, w);
    });
  }

  private issue(task: Task): void {
    const req = task.req;
    const out = req.dataOut;
    const outLen = out?.length ?? 0;
    const p = this.params;
    task.cmdSN = this.cmdSN;
    this.cmdSN = serialAdd(this.cmdSN, 1);
    this.issued++;
    // §11.3.1.1 / §13.13-13.14: immediate data up to FirstBurstLength and one PDU; unsolicited Data-Out up
    // to FirstBurstLength when InitialR2T=No; the rest on R2T.
    let immediate = 0;
    let unsolicited = 0;
    if (outLen > 0) {
      const firstBurst = Math.min(outLen, p.firstBurstLength);
      if (p.immediateData) immediate = Math.min(firstBurst, p.maxXmitDataSegmentLength);
      if (!p.initialR2T) unsolicited = firstBurst - immediate;
    }
    this.send({
      opcode: Opcode.SCSI_COMMAND,
      immediate: false,
      final: unsolicited === 0,
      read: (req.dataIn ?? 0) > 0,
      write: outLen > 0,
      attr: req.attr ?? TaskAttr.SIMPLE,
      itt: task.itt,
      lun: req.lun,
      expectedDataTransferLength: outLen > 0 ? outLen : (req.dataIn ?? 0),
      cmdSN: task.cmdSN,
      expStatSN: this.expStatSN,
      cdb: req.cdb,
      data: immediate > 0 ? out!.subarray(0, immediate) : undefined,
    });
    task.outSent = immediate;
    if (unsolicited > 0) this.sendDataOut(task, RESERVED_TAG, immediate, unsolicited);
  }

  /** A Data-Out sequence (§11.7) of [offset, offset+length) in PDUs of at most MaxXmitDataSegmentLength. */
  private sendDataOut(task: Task, ttt: number, offset: number, length: number): void {
    const out = task.req.dataOut!;
    const max = this.params.maxXmitDataSegmentLength;
    const end = offset + length;
    let dataSN = 0;
    for (let off = offset; off < end; off += max) {
      const n = Math.min(max, end - off);
      this.send({
        opcode: Opcode.SCSI_DATA_OUT,
        final: off + n >= end,
        itt: task.itt,
        lun: task.req.lun,
        ttt,
        expStatSN: this.expStatSN,
        dataSN: dataSN++,
        bufferOffset: off,
        data: out.subarray(off, off + n),
      });
    }
    task.outSent += length;
  }

  private onPdu(pdu: Pdu): void {
    if (this.lifeHook !== undefined) this.lifeHook();
    switch (pdu.opcode) {
      case Opcode.SCSI_DATA_IN:
        this.onDataIn(pdu);
        break;
      case Opcode.SCSI_RESPONSE:
        this.onResponse(pdu);
        break;
      case Opcode.R2T:
        this.onR2T(pdu);
        break;
      case Opcode.NOP_IN:
        this.onNopIn(pdu);
        break;
      case Opcode.TEXT_RESPONSE:
      case Opcode.TASK_MGMT_RESPONSE:
      case Opcode.LOGOUT_RESPONSE:
        this.updateStatus(pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN, true);
        this.settle(pdu.itt, pdu);
        break;
      case Opcode.ASYNC_MESSAGE:
        this.onAsync(pdu);
        break;
      case Opcode.REJECT:
        this.onReject(pdu);
        break;
      default:
        // §6.2 / §11: only target PDUs may arrive here; anything else breaks the protocol.
        throw new ProtocolError('unexpected PDU in full-feature phase', pdu.opcode, 0);
    }
    this.drain();
  }

  private settle(itt: number, pdu: Pdu): void {
    const w = this.waiters.get(itt);
    if (!w) return;
    this.waiters.delete(itt);
    this.clock.clearTimeout(w.timer);
    w.resolve(pdu);
  }

  /**
   * §4.2.2.1: take ExpCmdSN/MaxCmdSN only when newer, and ignore a MaxCmdSN below ExpCmdSN - 1;
   * ExpStatSN acknowledges every StatSN we have seen (§4.2.2.2).
   */
  private updateStatus(statSN: number, expCmdSN: number, maxCmdSN: number, advancesStatSN: boolean): void {
    if (serialGte(maxCmdSN, serialAdd(expCmdSN, -1))) {
      if (serialGt(expCmdSN, this.expCmdSN)) this.expCmdSN = expCmdSN;
      if (serialGt(maxCmdSN, this.maxCmdSN)) this.maxCmdSN = maxCmdSN;
    }
    const next = advancesStatSN ? serialAdd(statSN, 1) : statSN;
    if (serialGt(next, this.expStatSN)) this.expStatSN = next;
  }

  /**
   * The destination of a Data-In data segment that is still arriving: the task's buffer at Buffer Offset
   * (§11.7.4). Anything that does not fit is left to onDataIn, which reports it as a protocol error.
   */
  private dataSink(header: Buffer, dsl: number): Buffer | undefined {
    const task = this.tasks.get(getItt(header));
    if (!task) return undefined;
    const want = task.req.dataIn ?? 0;
    const offset = getBufferOffset(header);
    if (offset + dsl > want) return undefined;
    task.dest ??= Buffer.allocUnsafe(want);
    return task.dest.subarray(offset, offset + dsl);
  }

  private onDataIn(pdu: DataIn): void {
    this.updateStatus(pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN, pdu.statusPresent);
    const task = this.tasks.get(pdu.itt);
    if (!task) return; // a task we already gave up on (aborted); nothing to deliver
    // §11.7.5: DataSN counts Data-In PDUs of the task from 0; at ERL 0 a gap is a connection failure.
    if (pdu.dataSN !== task.expDataSN) throw new ProtocolError(`Data-In DataSN ${pdu.dataSN}, expected ${task.expDataSN}`, pdu.opcode, 36);
    task.expDataSN++;
    const data = pdu.data;
    if (data) {
      const want = task.req.dataIn ?? 0;
      if (pdu.bufferOffset + data.length > want)
        throw new ProtocolError(`Data-In [${pdu.bufferOffset}, +${data.length}) beyond the expected ${want} bytes`, pdu.opcode, 40);
      // The one copy of read data: from the receive buffer into the task's (§11.7.4 Buffer Offset).
      task.dest ??= Buffer.allocUnsafe(want);
      // Already in place when the framer wrote it through dataSink.
      if (data.buffer !== task.dest.buffer || data.byteOffset !== task.dest.byteOffset + pdu.bufferOffset)
        data.copy(task.dest, pdu.bufferOffset);
      task.inBytes += data.length;
      task.inEnd = Math.max(task.inEnd, pdu.bufferOffset + data.length);
    }
    if (pdu.statusPresent)
      this.complete(task, {
        status: pdu.status,
        data: EMPTY,
        residual: pdu.residualCount,
        underflow: pdu.underflow,
        overflow: pdu.overflow,
      });
  }

  private onResponse(pdu: ScsiResponse): void {
    this.updateStatus(pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN, true);
    const task = this.tasks.get(pdu.itt);
    if (!task) return;
    if (pdu.response !== ScsiResponseCode.COMMAND_COMPLETED) {
      this.forget(task);
      task.sink.fail(
        new TransportError(`target failure (iSCSI response 0x${pdu.response.toString(16)}) for task 0x${task.itt.toString(16)}`),
      );
      return;
    }
    let sense: Buffer | undefined;
    if (pdu.data && pdu.data.length >= 2) {
      const len = pdu.data.readUInt16BE(0);
      if (len > 0) sense = pdu.data.subarray(2, 2 + len);
    }
    this.complete(task, {
      status: pdu.status,
      data: EMPTY,
      residual: pdu.residualCount,
      underflow: pdu.underflow,
      overflow: pdu.overflow,
      sense,
    });
  }

  private complete(task: Task, result: ScsiResult): void {
    this.forget(task);
    const want = task.req.dataIn ?? 0;
    if (want > 0 && task.dest) result.data = task.dest.subarray(0, task.inEnd);
    task.sink.done(result);
  }

  private onR2T(pdu: R2T): void {
    this.updateStatus(pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN, false);
    const task = this.tasks.get(pdu.itt);
    if (!task) return;
    const outLen = task.req.dataOut?.length ?? 0;
    // §11.8.3-4: the requested range must lie within the command's data.
    if (pdu.bufferOffset + pdu.desiredDataTransferLength > outLen)
      throw new ProtocolError(
        `R2T asks for [${pdu.bufferOffset}, +${pdu.desiredDataTransferLength}) of a ${outLen}-byte write`,
        pdu.opcode,
        40,
      );
    if (pdu.desiredDataTransferLength > this.params.maxBurstLength)
      throw new ProtocolError(`R2T of ${pdu.desiredDataTransferLength} bytes exceeds MaxBurstLength`, pdu.opcode, 44);
    this.sendDataOut(task, pdu.ttt, pdu.bufferOffset, pdu.desiredDataTransferLength);
  }

  private onNopIn(pdu: NopIn): void {
    const answer = pdu.itt !== RESERVED_TAG;
    // §11.19: a NOP-In with ITT 0xffffffff carries the next StatSN without advancing it.
    this.updateStatus(pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN, answer);
    if (answer) this.settle(pdu.itt, pdu);
    if (pdu.ttt !== RESERVED_TAG) {
      // §11.18: the target pings us; answer with an immediate NOP-Out echoing TTT, LUN and data.
      this.send({
        opcode: Opcode.NOP_OUT,
        immediate: true,
        itt: RESERVED_TAG,
        lun: pdu.lun,
        ttt: pdu.ttt,
        cmdSN: this.cmdSN,
        expStatSN: this.expStatSN,
        data: pdu.data,
      });
    }
  }

  private onAsync(pdu: AsyncMessage): void {
    this.updateStatus(pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN, true);
    this.emit({ type: 'async', message: pdu });
    // §11.9.1: the target asks us to log out; do it (the session is ours to tear down cleanly).
    if (pdu.asyncEvent === AsyncEvent.LOGOUT_REQUEST && this.logoutOnRequest) void this.logout();
  }

  private onReject(pdu: Reject): void {
    this.updateStatus(pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN, true);
    // §11.17: the data segment is the rejected PDU's header; its ITT tells which task it was.
    const itt = getItt(pdu.data!);
    this.emit({ type: 'reject', reason: pdu.reason, itt });
    const err =
      pdu.reason === RejectReason.DATA_DIGEST_ERROR
        ? new TransportError('target rejected a PDU with a data digest error')
        : new ProtocolError(`target rejected the PDU (reason 0x${pdu.reason.toString(16)})`, getOpcode(pdu.data!));
    const task = this.tasks.get(itt);
    if (task) {
      this.forget(task);
      task.sink.fail(err);
    }
    const w = this.waiters.get(itt);
    if (w) {
      this.waiters.delete(itt);
      this.clock.clearTimeout(w.timer);
      w.reject(err);
    }
    // §7.3: the CmdSN of a rejected non-immediate command is not considered received, and the target holds
    // every later command until the gap is plugged. Plug it by aborting the task: ABORT TASK with its
    // RefCmdSN makes the target count that CmdSN as received (§11.5.1). The answer needs no handling.
    const header = pdu.data!;
    const rejected = getOpcode(header);
    const immediate = getImmediate(header);
    if (!immediate && CMDSN_OPCODES.has(rejected) && !this.closedWith)
      void this.taskManagement(TmfFunction.ABORT_TASK, getLun(header), itt, 30_000, getCmdSN(header)).catch(() => {});
  }

  /** Takes a task out of the table, and out of `pending` if it was never sent (else off the issued count). */
  private forget(task: Task): void {
    if (!this.tasks.delete(task.itt)) return;
    commandsOutstanding(-1);
    const wasPending = this.pending.length > 0 ? this.pending.indexOf(task) : -1;
    if (wasPending >= 0) this.pending.splice(wasPending, 1);
    else this.issued--;
  }

  private drain(): void {
    while (this.pending.length > 0 && this.canIssue()) this.issue(this.pending.shift()!);
  }

  private onClosed(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    const err =
      error instanceof TransportError || error instanceof TaskAbortedError ? error : new TransportError(error.message, { cause: error });
    const tasks = this.tasks.values();
    this.tasks.clear();
    this.pending.length = 0;
    commandsOutstanding(-tasks.length);
    this.issued = 0;
    for (const t of tasks) t.sink.fail(err);
    for (const [, w] of this.waiters) {
      this.clock.clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters.clear();
    this.emit({ type: 'closed', error });
  }

  private emit(e: SessionWireEvent): void {
    for (const l of this.listeners) l(e);
  }
}

const EMPTY = Buffer.alloc(0);

/** Initiator PDUs that carry a CmdSN (§3.2.2.1); Data-Out and SNACK do not. */
const CMDSN_OPCODES: ReadonlySet<number> = new Set([
  Opcode.NOP_OUT,
  Opcode.SCSI_COMMAND,
  Opcode.TASK_MGMT_REQUEST,
  Opcode.TEXT_REQUEST,
  Opcode.LOGOUT_REQUEST,
]);
