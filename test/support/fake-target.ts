/**
 * A scripted iSCSI target over TCP on 127.0.0.1 for the faults tgtd cannot produce (RFC 7143): Async
 * Messages (§11.9.1), Reject (§11.17), login redirects and refusals (§11.13.5), commands that never complete
 * and task management answered, refused or ignored (§11.5-11.6). It serves one LUN backed by a Buffer (an
 * SPC-4/SBC-3 subset), delivers non-immediate commands in CmdSN order as a real target must (§3.2.2.1, so
 * a CmdSN gap stalls it), and records every PDU it receives. Login runs through ScriptedTarget
 * (chap-target.ts); every PDU goes through our own codecs. Tests steer it with `script` hooks and one-shot
 * helpers, and await its events (`nextPdu`, `nextLogin`, `nextClose`) instead of sleeping.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  AsyncEvent,
  BHS_LENGTH,
  DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH,
  Opcode,
  RESERVED_TAG,
  ScsiResponseCode,
  Stage,
  TmfFunction,
  TmfResponse,
} from '../../src/iscsi/constants.js';
import { framePdu, PduFramer } from '../../src/iscsi/framer.js';
import {
  encodeBhs,
  type DataOut,
  type InitiatorPdu,
  type LoginRequest,
  type LogoutRequest,
  type Pdu,
  type ScsiCommandPdu,
  type TaskMgmtRequest,
} from '../../src/iscsi/pdu.js';
import { serialAdd, serialGte, serialLt, serialLte } from '../../src/iscsi/serial.js';
import { encodeTextData, parseTextData } from '../../src/iscsi/text.js';
import { ScriptedTarget, type ScriptedTargetOptions } from './chap-target.js';

export interface FakeTargetOptions {
  /** Default 'iqn.2026-11.test:fake'. */
  targetName?: string;
  /** The one LUN served. Default 0. */
  lun?: number;
  /** LU contents; shared between two fakes (redirects) by passing the same Buffer. Default 1 MiB of random bytes. */
  backing?: Buffer;
  /** Default 512. */
  blockSize?: number;
  /** VPD 0x80 unit serial number. Default random. */
  serial?: string;
  /** VPD 0x83 NAA designator in hex (16 digits for NAA 5, 32 for NAA 6). Default a random NAA 6. */
  naa?: string;
  /** The target's DefaultTime2Wait in seconds (the result is the max of both offers, §13.15). Default 2. */
  defaultTime2Wait?: number;
  /** The target's DefaultTime2Retain in seconds (min of both, §13.16). Default 0. */
  defaultTime2Retain?: number;
  /** MaxRecvDataSegmentLength the target declares (§13.12). Default 65536. */
  maxRecvDataSegmentLength?: number;
  /** CmdSN window granted: MaxCmdSN = ExpCmdSN + window - 1. Default 32. */
  cmdWindow?: number;
  /** Login behaviour (authentication, other key values): see ScriptedTargetOptions. */
  login?: ScriptedTargetOptions;
  /** The SendTargets answer (key, value pairs as sent, hostile ones included). Default: an empty answer. */
  sendTargets?: Array<[string, string]>;
}

/** What the fake knows of one TCP connection. Times are performance.now(). */
export interface FakeConnection {
  /** 1-based, in accept order. */
  readonly id: number;
  readonly connectedAt: number;
  /** When the Login Final-Response went out (full-feature phase). */
  loggedInAt?: number;
  closedAt?: number;
  /** From the first Login Request. */
  isid?: number;
  /** The TSIH the login ended with. */
  tsih?: number;
  /** Every PDU received is recorded and then dropped: no answers at all (a hung target). */
  silent: boolean;
}

/** One PDU the fake received, on which connection and when. */
export interface Received<P extends InitiatorPdu = InitiatorPdu> {
  conn: FakeConnection;
  pdu: P;
  at: number;
}

type PduOf<O extends number> = Extract<InitiatorPdu, { opcode: O }>;

/** Answer to the first Login Request of a connection instead of running the login. */
export type LoginVerdict = { refuse: { statusClass: number; statusDetail: number } } | { redirect: { host: string; port: number } };
/** 'swallow': the command is received (its CmdSN counts) but never answered. reject: a Reject PDU with that reason. */
export type CommandVerdict = 'swallow' | { reject: number };
/** A task management response code (§11.6.1), or 'ignore' for no answer at all. */
export type TmfVerdict = number | 'ignore';
export type LogoutVerdict = { response?: number; time2Wait?: number; time2Retain?: number } | 'ignore';

/** Hooks a test sets; each returns undefined for the default behaviour. */
export interface FakeScript {
  login?(req: LoginRequest, conn: FakeConnection): LoginVerdict | undefined;
  /** Every SCSI Command as it arrives, before CmdSN ordering. */
  command?(cmd: ScsiCommandPdu, conn: FakeConnection): CommandVerdict | undefined;
  /** Default: FUNCTION COMPLETE with the function's effect, or TASK DOES NOT EXIST (§11.5.1). */
  tmf?(req: TaskMgmtRequest, conn: FakeConnection): TmfVerdict | undefined;
  /** Default: response 0, Time2Wait 0, Time2Retain 0, then the connection is closed. */
  logout?(req: LogoutRequest, conn: FakeConnection): LogoutVerdict | undefined;
}

type FakeEvent =
  | { type: 'pdu'; received: Received }
  | { type: 'loggedIn'; conn: FakeConnection }
  | { type: 'closed'; conn: FakeConnection };

/** A command outstanding at the target: never to be answered, or waiting for its Data-Out. */
interface Task {
  cmd: ScsiCommandPdu;
  swallowed: boolean;
  /** Write data gathered so far (immediate, unsolicited, solicited). */
  buf?: Buffer;
  /** Bytes of `buf` received or asked for, in order; the next R2T starts here. */
  offset: number;
  /** Unsolicited Data-Out still to come (F=0 on the command, §11.3.1.1). */
  unsolicited: boolean;
  r2t?: { ttt: number; end: number };
  r2tSN: number;
}

interface Conn extends FakeConnection {
  readonly socket: Socket;
  readonly framer: PduFramer;
  phase: 'login' | 'full' | 'closed';
  readonly login: ScriptedTarget;
  statSN: number;
  expCmdSN: number;
  /** Non-immediate commands received ahead of ExpCmdSN, and CmdSNs a TMF plugged ('plugged'). */
  readonly queue: Map<number, { pdu: InitiatorPdu; verdict?: CommandVerdict } | 'plugged'>;
  readonly tasks: Map<number, Task>;
  /** Operational values of the login that matter to the data path. */
  params: { maxSendSegment: number; maxBurst: number };
}

interface ScsiAnswer {
  status: number;
  data?: Buffer;
  sense?: Buffer;
}

const NO_DIGESTS = { headerDigest: false, dataDigest: false };
const GOOD = 0x00;
const CHECK_CONDITION = 0x02;
const ILLEGAL_REQUEST = 0x05;

/** SCSI operation codes the LU serves (SPC-4, SBC-3). */
const Cdb = {
  TEST_UNIT_READY: 0x00,
  INQUIRY: 0x12,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  SYNCHRONIZE_CACHE_10: 0x35,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  SYNCHRONIZE_CACHE_16: 0x91,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
} as const;

export const isRead = (cmd: ScsiCommandPdu): boolean => cmd.cdb[0] === Cdb.READ_10 || cmd.cdb[0] === Cdb.READ_16;
export const isWrite = (cmd: ScsiCommandPdu): boolean => cmd.cdb[0] === Cdb.WRITE_10 || cmd.cdb[0] === Cdb.WRITE_16;

export class FakeTarget {
  readonly targetName: string;
  readonly lun: number;
  readonly backing: Buffer;
  readonly blockSize: number;
  readonly serial: string;
  readonly naa: string;
  /** Hooks; replace them at any time. */
  script: FakeScript = {};
  /** Every connection accepted, in order. */
  readonly connections: FakeConnection[] = [];
  /** Every PDU received (login included), in order. */
  readonly received: Received[] = [];
  /** Logins with TSIH 0 and the ISID of an earlier session: reinstatements (§6.3.5). */
  reinstatements = 0;

  private readonly conns = new Map<FakeConnection, Conn>();
  private readonly waiters = new Set<{ match(e: FakeEvent): boolean; resolve(e: FakeEvent): void }>();
  private readonly onceCommands: Array<{ match(cmd: ScsiCommandPdu): boolean; verdict: CommandVerdict }> = [];
  private readonly sessions = new Set<number>();
  private nextTsih = 0x100;
  private nextTtt = 1;

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
    private readonly o: FakeTargetOptions,
  ) {
    this.targetName = o.targetName ?? 'iqn.2026-11.test:fake';
    this.lun = o.lun ?? 0;
    this.backing = o.backing ?? randomBytes(1 << 20);
    this.blockSize = o.blockSize ?? 512;
    this.serial = o.serial ?? `FAKE${randomBytes(6).toString('hex')}`;
    this.naa = o.naa ?? `6${randomBytes(16).toString('hex').slice(1)}`;
  }

  /** Listens on a port the kernel picks. */
  static async start(options: FakeTargetOptions = {}): Promise<FakeTarget> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    const addr = server.address();
    const fake = new FakeTarget(server, '127.0.0.1', typeof addr === 'object' && addr ? addr.port : 0, options);
    server.on('connection', (socket) => fake.accept(socket));
    return fake;
  }

  async stop(): Promise<void> {
    for (const c of this.conns.values()) c.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---------------------------------------------------------------------------------------------------------
  // What tests read and await

  /** The newest connection in full-feature phase (the one async messages go to by default). */
  get current(): FakeConnection | undefined {
    return [...this.conns.values()].reverse().find((c) => c.phase === 'full');
  }

  /** Received PDUs of one opcode, optionally on one connection. */
  pdus<O extends InitiatorPdu['opcode']>(opcode: O, conn?: FakeConnection): Received<PduOf<O>>[] {
    return this.received.filter((r) => r.pdu.opcode === opcode && (!conn || r.conn === conn)) as Received<PduOf<O>>[];
  }

  /** The next PDU of `opcode` (matching `match`) received after this call. */
  nextPdu<O extends InitiatorPdu['opcode']>(
    opcode: O,
    match?: (pdu: PduOf<O>, conn: FakeConnection) => boolean,
  ): Promise<Received<PduOf<O>>> {
    return this.when(
      (e) => e.type === 'pdu' && e.received.pdu.opcode === opcode && (!match || match(e.received.pdu as PduOf<O>, e.received.conn)),
    ).then((e) => (e as Extract<FakeEvent, { type: 'pdu' }>).received as Received<PduOf<O>>);
  }

  /** The next connection to reach full-feature phase. */
  nextLogin(): Promise<FakeConnection> {
    return this.when((e) => e.type === 'loggedIn').then((e) => (e as { conn: FakeConnection }).conn);
  }

  /** The next connection (or `conn`) to close. */
  nextClose(conn?: FakeConnection): Promise<FakeConnection> {
    if (conn?.closedAt !== undefined) return Promise.resolve(conn);
    return this.when((e) => e.type === 'closed' && (!conn || e.conn === conn)).then((e) => (e as { conn: FakeConnection }).conn);
  }

  // ---------------------------------------------------------------------------------------------------------
  // What tests make the target do

  /** The next SCSI Command matching `match` (default: a READ) is received but never answered. */
  swallowNextCommand(match: (cmd: ScsiCommandPdu) => boolean = isRead): void {
    this.onceCommands.push({ match, verdict: 'swallow' });
  }

  /** The next SCSI Command matching `match` gets a Reject with `reason` (default 0x09, invalid PDU field). */
  rejectNextCommand(reason = 0x09, match: (cmd: ScsiCommandPdu) => boolean = () => true): void {
    this.onceCommands.push({ match, verdict: { reject: reason } });
  }

  /** Stops answering anything on `conn` (default: the current connection); PDUs are still recorded. */
  silence(conn = this.current): void {
    if (conn) conn.silent = true;
  }

  /** AsyncEvent 1 (§11.9.1): log out within Parameter3 seconds. */
  requestLogout(within = 5, conn = this.current): void {
    this.sendAsync(this.conn(conn), AsyncEvent.LOGOUT_REQUEST, 0, 0, within);
  }

  /** AsyncEvent 2: this connection is dropped (Parameter1 CID, Parameter2 Time2Wait, Parameter3 Time2Retain), then closed. */
  dropConnection(t: { time2Wait: number; time2Retain: number }, conn = this.current): void {
    const c = this.conn(conn);
    this.sendAsync(c, AsyncEvent.CONNECTION_DROP, 0, t.time2Wait, t.time2Retain);
    this.close(c);
  }

  /** AsyncEvent 3: every connection of the session is dropped (Parameter2 Time2Wait, Parameter3 Time2Retain), then closed. */
  dropSession(t: { time2Wait: number; time2Retain: number }, conn = this.current): void {
    const isid = this.conn(conn).isid;
    for (const c of this.conns.values()) {
      if (c.phase !== 'full' || c.isid !== isid) continue;
      this.sendAsync(c, AsyncEvent.SESSION_DROP, 0, t.time2Wait, t.time2Retain);
      this.close(c);
    }
  }

  /** Closes the TCP connection (FIN after what was written). */
  closeConnection(conn = this.current): void {
    this.close(this.conn(conn));
  }

  // ---------------------------------------------------------------------------------------------------------
  // Connections and login

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    const c: Conn = {
      id: this.connections.length + 1,
      connectedAt: performance.now(),
      silent: false,
      socket,
      framer: new PduFramer({ maxRecvDataSegmentLength: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH }),
      phase: 'login',
      login: new ScriptedTarget({
        targetName: this.targetName,
        tsih: this.nextTsih++,
        maxRecvDataSegmentLength: this.o.maxRecvDataSegmentLength ?? 65536,
        ...this.o.login,
        values: {
          DefaultTime2Wait: String(this.o.defaultTime2Wait ?? 2),
          DefaultTime2Retain: String(this.o.defaultTime2Retain ?? 0),
          ...this.o.login?.values,
        },
      }),
      statSN: 0,
      expCmdSN: 0,
      queue: new Map(),
      tasks: new Map(),
      params: { maxSendSegment: DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH, maxBurst: 262144 },
    };
    this.connections.push(c);
    this.conns.set(c, c);
    socket.on('data', (chunk: Buffer) => {
      try {
        c.framer.push(chunk, (pdu) => this.onPdu(c, pdu));
      } catch {
        // A malformed PDU or a login the ScriptedTarget refuses: the connection ends (§6.7 at ERL 0).
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      c.phase = 'closed';
      c.closedAt = performance.now();
      this.emit({ type: 'closed', conn: c });
    });
  }

  private onPdu(c: Conn, p: Pdu): void {
    if (c.phase === 'closed') return;
    const pdu = p as InitiatorPdu;
    const received: Received = { conn: c, pdu, at: performance.now() };
    this.received.push(received);
    this.emit({ type: 'pdu', received });
    if (c.silent) return;
    if (c.phase === 'login') return this.onLogin(c, pdu);
    switch (pdu.opcode) {
      case Opcode.SCSI_COMMAND: {
        const verdict = this.commandVerdict(c, pdu);
        // §7.3: a rejected command's CmdSN is not considered received; later commands wait for the gap.
        if (verdict && verdict !== 'swallow') return this.sendReject(c, pdu, verdict.reject);
        return this.ordered(c, pdu, verdict);
      }
      case Opcode.SCSI_DATA_OUT:
        return this.onDataOut(c, pdu);
      case Opcode.NOP_OUT:
      case Opcode.TASK_MGMT_REQUEST:
      case Opcode.LOGOUT_REQUEST:
      case Opcode.TEXT_REQUEST:
        return this.ordered(c, pdu);
      default:
        return; // SNACK: nothing to retransmit at ERL 0
    }
  }

  private onLogin(c: Conn, req: InitiatorPdu): void {
    if (req.opcode !== Opcode.LOGIN_REQUEST) return this.close(c); // §6: only Login Requests before full-feature phase
    if (c.isid === undefined) {
      c.isid = req.isid;
      const verdict = this.script.login?.(req, c);
      if (verdict) {
        const [statusClass, statusDetail, data] =
          'redirect' in verdict
            ? [1, 1, encodeTextData([['TargetAddress', `${verdict.redirect.host}:${verdict.redirect.port},1`]])]
            : [verdict.refuse.statusClass, verdict.refuse.statusDetail, undefined];
        this.send(c, {
          opcode: Opcode.LOGIN_RESPONSE,
          transit: false,
          cont: false,
          csg: req.csg,
          nsg: req.csg,
          versionMax: 0,
          versionActive: 0,
          isid: req.isid,
          tsih: 0,
          itt: req.itt,
          statSN: 0,
          expCmdSN: req.cmdSN,
          maxCmdSN: req.cmdSN,
          statusClass,
          statusDetail,
          data,
        });
        return this.close(c); // §11.13.5: the target closes after a non-zero status
      }
    }
    const resp = c.login.handle(req);
    this.send(c, resp);
    if (resp.statusClass !== 0) return this.close(c);
    if (!resp.transit || resp.nsg !== Stage.FULL_FEATURE_PHASE) return;
    // Login Final-Response: full-feature phase from the next PDU on.
    c.phase = 'full';
    c.tsih = resp.tsih;
    c.statSN = serialAdd(resp.statSN, 1);
    c.expCmdSN = resp.expCmdSN;
    c.loggedInAt = performance.now();
    c.framer.setOptions({ maxRecvDataSegmentLength: this.o.maxRecvDataSegmentLength ?? 65536 });
    const offered = new Map(parseTextData(Buffer.concat(c.login.log.map((e) => e.req.data ?? Buffer.alloc(0)))));
    const answered = new Map(parseTextData(Buffer.concat(c.login.log.map((e) => e.resp.data ?? Buffer.alloc(0)))));
    c.params = {
      maxSendSegment: Number(offered.get('MaxRecvDataSegmentLength') ?? DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH),
      maxBurst: Number(answered.get('MaxBurstLength') ?? 262144),
    };
    // §6.3.5: TSIH 0 with the ISID of an existing session reinstates it; the old connections go.
    if (req.tsih === 0 && this.sessions.has(req.isid)) {
      this.reinstatements++;
      for (const old of this.conns.values()) if (old !== c && old.isid === req.isid && old.phase === 'full') this.close(old);
    }
    this.sessions.add(req.isid);
    this.emit({ type: 'loggedIn', conn: c });
  }

  // ---------------------------------------------------------------------------------------------------------
  // Full-feature phase

  private commandVerdict(c: Conn, cmd: ScsiCommandPdu): CommandVerdict | undefined {
    const i = this.onceCommands.findIndex((r) => r.match(cmd));
    if (i >= 0) return this.onceCommands.splice(i, 1)[0].verdict;
    return this.script.command?.(cmd, c);
  }

  /**
   * §3.2.2.1: immediate commands are delivered at once; the others in CmdSN order, so a missing CmdSN holds
   * every later one until a command with it arrives or a TMF plugs it. Outside the window: dropped (§4.2.2.1).
   */
  private ordered(c: Conn, pdu: InitiatorPdu, verdict?: CommandVerdict): void {
    if (!('cmdSN' in pdu) || ('immediate' in pdu && pdu.immediate)) return this.execute(c, pdu, verdict);
    if (!serialGte(pdu.cmdSN, c.expCmdSN) || !serialLte(pdu.cmdSN, this.maxCmdSN(c))) return;
    c.queue.set(pdu.cmdSN, { pdu, verdict });
    this.deliver(c);
  }

  private deliver(c: Conn): void {
    for (let next = c.queue.get(c.expCmdSN); next !== undefined; next = c.queue.get(c.expCmdSN)) {
      c.queue.delete(c.expCmdSN);
      c.expCmdSN = serialAdd(c.expCmdSN, 1);
      if (next !== 'plugged') this.execute(c, next.pdu, next.verdict);
    }
  }

  private execute(c: Conn, pdu: InitiatorPdu, verdict?: CommandVerdict): void {
    switch (pdu.opcode) {
      case Opcode.NOP_OUT:
        // §11.18: a NOP-Out with a real ITT is a ping; one with ITT 0xffffffff answers ours.
        if (pdu.itt !== RESERVED_TAG)
          this.send(c, { opcode: Opcode.NOP_IN, itt: pdu.itt, lun: pdu.lun, ttt: RESERVED_TAG, ...this.status(c, true), data: pdu.data });
        return;
      case Opcode.SCSI_COMMAND:
        return this.onCommand(c, pdu, verdict);
      case Opcode.TASK_MGMT_REQUEST:
        return this.onTmf(c, pdu);
      case Opcode.LOGOUT_REQUEST:
        return this.onLogout(c, pdu);
      case Opcode.TEXT_REQUEST:
        // The scripted SendTargets answer, or an empty final answer (§11.11).
        this.send(c, {
          opcode: Opcode.TEXT_RESPONSE,
          final: true,
          cont: false,
          itt: pdu.itt,
          lun: 0,
          ttt: RESERVED_TAG,
          ...this.status(c, true),
          // Raw key=value\0 pairs: a hostile answer is sent as it is, unchecked by our encoder.
          ...(this.o.sendTargets ? { data: Buffer.from(this.o.sendTargets.map(([k, v]) => `${k}=${v}\0`).join('')) } : {}),
        });
        return;
    }
  }

  private onCommand(c: Conn, cmd: ScsiCommandPdu, verdict?: CommandVerdict): void {
    if (verdict === 'swallow') {
      c.tasks.set(cmd.itt, { cmd, swallowed: true, offset: 0, unsolicited: false, r2tSN: 0 });
      return;
    }
    if (!cmd.write) return this.answer(c, cmd, this.scsi(cmd));
    // §11.3.1.1 / §13.13-14: immediate data in the command, unsolicited Data-Out until F, the rest on R2T.
    const buf = Buffer.alloc(cmd.expectedDataTransferLength);
    const immediate = cmd.data?.copy(buf, 0) ?? 0;
    const task: Task = { cmd, swallowed: false, buf, offset: immediate, unsolicited: !cmd.final, r2tSN: 0 };
    c.tasks.set(cmd.itt, task);
    if (!task.unsolicited) this.continueWrite(c, task);
  }

  private onDataOut(c: Conn, d: DataOut): void {
    const task = c.tasks.get(d.itt);
    if (!task?.buf) return; // aborted meanwhile
    d.data?.copy(task.buf, d.bufferOffset);
    const end = d.bufferOffset + (d.data?.length ?? 0);
    if (d.ttt === RESERVED_TAG) {
      task.offset = Math.max(task.offset, end);
      if (d.final) {
        task.unsolicited = false;
        this.continueWrite(c, task);
      }
    } else if (task.r2t && d.ttt === task.r2t.ttt && d.final) {
      task.offset = task.r2t.end;
      task.r2t = undefined;
      this.continueWrite(c, task);
    }
  }

  /** One R2T at a time (MaxOutstandingR2T=1) of at most MaxBurstLength (§11.8); the status when all arrived. */
  private continueWrite(c: Conn, task: Task): void {
    const total = task.buf!.length;
    if (task.offset >= total) {
      c.tasks.delete(task.cmd.itt);
      return this.answer(c, task.cmd, this.scsi(task.cmd, task.buf));
    }
    const length = Math.min(c.params.maxBurst, total - task.offset);
    task.r2t = { ttt: this.nextTtt++, end: task.offset + length };
    const { statSN, expCmdSN, maxCmdSN } = this.status(c, false);
    this.send(c, {
      opcode: Opcode.R2T,
      itt: task.cmd.itt,
      lun: task.cmd.lun,
      ttt: task.r2t.ttt,
      statSN,
      expCmdSN,
      maxCmdSN,
      r2tSN: task.r2tSN++,
      bufferOffset: task.offset,
      desiredDataTransferLength: length,
    });
  }

  /** Data-In with the status in the last PDU for GOOD reads (§11.7.4), else a SCSI Response with sense. */
  private answer(c: Conn, cmd: ScsiCommandPdu, a: ScsiAnswer): void {
    const want = cmd.expectedDataTransferLength;
    const data = a.data && cmd.read ? a.data.subarray(0, want) : undefined;
    const residual = a.data && cmd.read ? Math.abs(want - a.data.length) : 0;
    const underflow = !!data && a.data!.length < want;
    const overflow = !!data && a.data!.length > want;
    if (data && data.length > 0 && a.status === GOOD) {
      const max = c.params.maxSendSegment;
      for (let off = 0, dataSN = 0; off < data.length; off += max, dataSN++) {
        const last = off + max >= data.length;
        const s = this.status(c, last);
        this.send(c, {
          opcode: Opcode.SCSI_DATA_IN,
          final: last,
          ack: false,
          overflow: last && overflow,
          underflow: last && underflow,
          statusPresent: last,
          status: GOOD,
          itt: cmd.itt,
          lun: cmd.lun,
          ttt: RESERVED_TAG,
          ...s,
          dataSN,
          bufferOffset: off,
          residualCount: last ? residual : 0,
          data: data.subarray(off, off + max),
        });
      }
      return;
    }
    let senseData: Buffer | undefined;
    if (a.sense) {
      senseData = Buffer.alloc(2 + a.sense.length);
      senseData.writeUInt16BE(a.sense.length, 0);
      a.sense.copy(senseData, 2);
    }
    this.send(c, {
      opcode: Opcode.SCSI_RESPONSE,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: false,
      underflow: cmd.read && want > 0 && a.status === GOOD,
      response: ScsiResponseCode.COMMAND_COMPLETED,
      status: a.status,
      itt: cmd.itt,
      snackTag: 0,
      ...this.status(c, true),
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: cmd.read && a.status === GOOD ? want : 0,
      data: senseData,
    });
  }

  /**
   * §11.5.1: ABORT TASK ends the referenced task; when it does not exist but RefCmdSN lies in the window
   * below the TMF's CmdSN, that CmdSN counts as received (a gap left by a Reject is plugged this way).
   * LOGICAL UNIT RESET, ABORT/CLEAR TASK SET end the LU's tasks; TARGET WARM RESET ends them all.
   */
  private onTmf(c: Conn, req: TaskMgmtRequest): void {
    const verdict = this.script.tmf?.(req, c);
    if (verdict === 'ignore') return;
    let response: number = TmfResponse.FUNCTION_COMPLETE;
    const dropTasks = (match: (t: ScsiCommandPdu) => boolean) => {
      for (const [itt, t] of c.tasks) if (match(t.cmd)) c.tasks.delete(itt);
      for (const [sn, q] of c.queue)
        if (q !== 'plugged' && q.pdu.opcode === Opcode.SCSI_COMMAND && match(q.pdu)) c.queue.set(sn, 'plugged');
    };
    if (verdict === undefined || verdict === TmfResponse.FUNCTION_COMPLETE) {
      switch (req.function) {
        case TmfFunction.ABORT_TASK: {
          const queued = [...c.queue].find(([, q]) => q !== 'plugged' && q.pdu.itt === req.referencedTaskTag);
          if (c.tasks.delete(req.referencedTaskTag)) break;
          if (queued) c.queue.set(queued[0], 'plugged');
          else if (serialGte(req.refCmdSN, c.expCmdSN) && serialLt(req.refCmdSN, req.cmdSN) && serialLte(req.refCmdSN, this.maxCmdSN(c)))
            c.queue.set(req.refCmdSN, 'plugged');
          else response = TmfResponse.TASK_DOES_NOT_EXIST;
          break;
        }
        case TmfFunction.ABORT_TASK_SET:
        case TmfFunction.CLEAR_TASK_SET:
        case TmfFunction.LOGICAL_UNIT_RESET:
          dropTasks((t) => t.lun === req.lun);
          break;
        case TmfFunction.TARGET_WARM_RESET:
          dropTasks(() => true);
          break;
        default:
          response = TmfResponse.FUNCTION_NOT_SUPPORTED;
      }
    }
    if (verdict !== undefined) response = verdict;
    this.send(c, { opcode: Opcode.TASK_MGMT_RESPONSE, itt: req.itt, response, ...this.status(c, true) });
    this.deliver(c);
  }

  /** §11.14-15: answer, end every task (the session or connection is closed), close the connection. */
  private onLogout(c: Conn, req: LogoutRequest): void {
    const verdict = this.script.logout?.(req, c);
    if (verdict === 'ignore') return;
    this.send(c, {
      opcode: Opcode.LOGOUT_RESPONSE,
      itt: req.itt,
      response: verdict?.response ?? 0,
      ...this.status(c, true),
      time2Wait: verdict?.time2Wait ?? 0,
      time2Retain: verdict?.time2Retain ?? 0,
    });
    c.tasks.clear();
    this.close(c);
  }

  /** §11.17: reason and the rejected PDU's BHS as data. */
  private sendReject(c: Conn, pdu: InitiatorPdu, reason: number): void {
    this.send(c, {
      opcode: Opcode.REJECT,
      itt: RESERVED_TAG,
      reason,
      ...this.status(c, true),
      dataSN: 0,
      data: encodeBhs(pdu).subarray(0, BHS_LENGTH),
    });
  }

  private sendAsync(c: Conn, asyncEvent: number, parameter1: number, parameter2: number, parameter3: number): void {
    this.send(c, {
      opcode: Opcode.ASYNC_MESSAGE,
      itt: RESERVED_TAG,
      lun: 0,
      ...this.status(c, true),
      asyncEvent,
      asyncVCode: 0,
      parameter1,
      parameter2,
      parameter3,
    });
  }

  // ---------------------------------------------------------------------------------------------------------
  // The LU (SPC-4, SBC-3 subset)

  private scsi(cmd: ScsiCommandPdu, dataOut?: Buffer): ScsiAnswer {
    const cdb = cmd.cdb;
    const op = cdb[0];
    if (cmd.lun !== this.lun && op !== Cdb.INQUIRY && op !== Cdb.REPORT_LUNS) return check(0x25, 0x00); // LOGICAL UNIT NOT SUPPORTED
    const bs = this.blockSize;
    const blocks = this.backing.length / bs;
    const range = (lba: number, n: number) => (lba + n > blocks ? undefined : ([lba * bs, (lba + n) * bs] as const));
    switch (op) {
      case Cdb.TEST_UNIT_READY:
      case Cdb.SYNCHRONIZE_CACHE_10:
      case Cdb.SYNCHRONIZE_CACHE_16:
        return { status: GOOD };
      case Cdb.INQUIRY:
        return this.inquiry(cmd.lun, (cdb[1] & 1) === 1, cdb[2]);
      case Cdb.READ_CAPACITY_10: {
        const data = Buffer.alloc(8);
        data.writeUInt32BE(Math.min(blocks - 1, 0xffffffff), 0);
        data.writeUInt32BE(bs, 4);
        return { status: GOOD, data };
      }
      case Cdb.SERVICE_ACTION_IN_16: {
        if ((cdb[1] & 0x1f) !== 0x10) return check(0x24, 0x00); // only READ CAPACITY(16)
        const data = Buffer.alloc(32);
        data.writeBigUInt64BE(BigInt(blocks - 1), 0);
        data.writeUInt32BE(bs, 8);
        return { status: GOOD, data };
      }
      case Cdb.REPORT_LUNS: {
        const data = Buffer.alloc(16);
        data.writeUInt32BE(8, 0);
        // Single-level LUN (SAM-5): peripheral device addressing below 256, flat space above.
        if (this.lun < 256) data[9] = this.lun;
        else data.writeUInt16BE(0x4000 | this.lun, 8);
        return { status: GOOD, data };
      }
      case Cdb.READ_10:
      case Cdb.READ_16: {
        const r =
          op === Cdb.READ_10
            ? range(cdb.readUInt32BE(2), cdb.readUInt16BE(7))
            : range(Number(cdb.readBigUInt64BE(2)), cdb.readUInt32BE(10));
        if (!r) return check(0x21, 0x00); // LOGICAL BLOCK ADDRESS OUT OF RANGE
        return { status: GOOD, data: Buffer.from(this.backing.subarray(r[0], r[1])) };
      }
      case Cdb.WRITE_10:
      case Cdb.WRITE_16: {
        const r =
          op === Cdb.WRITE_10
            ? range(cdb.readUInt32BE(2), cdb.readUInt16BE(7))
            : range(Number(cdb.readBigUInt64BE(2)), cdb.readUInt32BE(10));
        if (!r) return check(0x21, 0x00);
        dataOut?.copy(this.backing, r[0], 0, r[1] - r[0]);
        return { status: GOOD };
      }
      default:
        return check(0x20, 0x00); // INVALID COMMAND OPERATION CODE
    }
  }

  private inquiry(lun: number, evpd: boolean, page: number): ScsiAnswer {
    if (!evpd) {
      if (page !== 0) return check(0x24, 0x00);
      const data = Buffer.alloc(36, 0x20);
      // Direct access block device (qualifier 3 = no LU here), SPC-4, response data format 2, CmdQue.
      data.set([lun === this.lun ? 0x00 : 0x7f, 0x00, 0x06, 0x02, 31, 0x00, 0x00, 0x02], 0);
      data.write('MPISCSI', 8, 'ascii');
      data.write('FAKE TARGET', 16, 'ascii');
      data.write('0001', 32, 'ascii');
      return { status: GOOD, data };
    }
    if (lun !== this.lun) return check(0x25, 0x00);
    const vpd = (code: number, body: Buffer) => {
      const head = Buffer.from([0x00, code, 0, 0]);
      head.writeUInt16BE(body.length, 2);
      return { status: GOOD, data: Buffer.concat([head, body]) };
    };
    switch (page) {
      case 0x00:
        return vpd(0x00, Buffer.from([0x00, 0x80, 0x83]));
      case 0x80:
        return vpd(0x80, Buffer.from(this.serial, 'ascii'));
      case 0x83: {
        // One designation descriptor: binary code set, association LU, type NAA (SPC-4).
        const naa = Buffer.from(this.naa, 'hex');
        return vpd(0x83, Buffer.concat([Buffer.from([0x01, 0x03, 0x00, naa.length]), naa]));
      }
      default:
        return check(0x24, 0x00); // INVALID FIELD IN CDB
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // Plumbing

  /** StatSN (advanced when the PDU carries status), ExpCmdSN and MaxCmdSN for an outgoing PDU (§4.2.2). */
  private status(c: Conn, advance: boolean): { statSN: number; expCmdSN: number; maxCmdSN: number } {
    const statSN = c.statSN;
    if (advance) c.statSN = serialAdd(c.statSN, 1);
    return { statSN, expCmdSN: c.expCmdSN, maxCmdSN: this.maxCmdSN(c) };
  }

  private maxCmdSN(c: Conn): number {
    return serialAdd(c.expCmdSN, (this.o.cmdWindow ?? 32) - 1);
  }

  private send(c: Conn, pdu: Pdu): void {
    if (c.phase === 'closed' || c.socket.destroyed || c.socket.writableEnded) return;
    for (const b of framePdu(pdu, NO_DIGESTS)) c.socket.write(b);
  }

  private close(c: Conn): void {
    c.socket.end();
  }

  private conn(conn: FakeConnection | undefined): Conn {
    const c = conn && this.conns.get(conn);
    if (c?.phase !== 'full') throw new Error('fake target: no connection in full-feature phase');
    return c;
  }

  private when(match: (e: FakeEvent) => boolean): Promise<FakeEvent> {
    return new Promise((resolve) => this.waiters.add({ match, resolve }));
  }

  private emit(e: FakeEvent): void {
    for (const w of [...this.waiters])
      if (w.match(e)) {
        this.waiters.delete(w);
        w.resolve(e);
      }
  }
}

/** CHECK CONDITION, ILLEGAL REQUEST with fixed-format sense (SPC-4 §4.5.3). */
function check(asc: number, ascq: number): ScsiAnswer {
  const sense = Buffer.alloc(18);
  sense[0] = 0x70;
  sense[2] = ILLEGAL_REQUEST;
  sense[7] = 10;
  sense[12] = asc;
  sense[13] = ascq;
  return { status: CHECK_CONDITION, sense };
}
