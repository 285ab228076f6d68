/**
 * A ManagedSession (and openSession) over real sockets against the scripted fake target, for what tgtd
 * cannot do (RFC 7143): Async Messages (§11.9.1), Reject (§11.17, §7.3), login redirects and refusals
 * (§11.13.5), commands that never complete escalated through real TMF exchanges (§11.5), live NOP timer
 * changes, and reinstatement with the same ISID and TSIH 0 (§6.3.5). Real time with small timers; every
 * wait is on an event of the session or of the fake target.
 */
import { outstandingCommands } from '../../src/session/busy-poll.js';
import { afterEach, describe, expect, it } from 'vitest';
import { filter, firstValueFrom } from 'rxjs';
import { randomBytes } from 'node:crypto';
import { FakeTarget, isRead, type FakeTargetOptions } from '../support/fake-target.js';
import { openSession } from '../../src/session/open.js';
import { executeScsi, Lun, type ScsiExecutor } from '../../src/session/lun.js';
import { ManagedSession, readIdentity, type ManagedSessionOptions } from '../../src/session/managed-session.js';
import { readBlocks } from '../../src/scsi/cdb.js';
import { LogoutReason, LogoutResponseCode, Opcode, RejectReason, TmfFunction, TmfResponse } from '../../src/iscsi/constants.js';
import { LoginError, ProtocolError } from '../../src/iscsi/errors.js';
import type { SessionStatus } from '../../machines/session.machine.js';
import type { SessionTimers } from '../../machines/timers.js';

const IQN = 'iqn.2026-11.test:fake';
const INITIATOR = 'iqn.2026-11.test:initiator';

const fakes: FakeTarget[] = [];
const sessions: ManagedSession[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) s.stop();
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

async function target(options: FakeTargetOptions = {}): Promise<FakeTarget> {
  // DefaultTime2Wait 0 unless a test wants otherwise: relogins are then paced by what the test scripts.
  const fake = await FakeTarget.start({ targetName: IQN, defaultTime2Wait: 0, ...options });
  fakes.push(fake);
  return fake;
}

const FAST: Partial<SessionTimers> = {
  noopOutIntervalMs: 0,
  noopOutTimeoutMs: 0,
  replacementTimeoutMs: 30_000,
  defaultTime2WaitMs: 0,
  backoffBaseMs: 50,
  backoffCapMs: 250,
  loginTimeoutMs: 5_000,
};

function managed(fake: FakeTarget, timers: Partial<SessionTimers> = {}, extra: Partial<ManagedSessionOptions> = {}): ManagedSession {
  const s = new ManagedSession({
    host: fake.host,
    port: fake.port,
    targetName: IQN,
    initiatorName: INITIATOR,
    timers: { ...FAST, ...timers },
    wishes: { defaultTime2Wait: 0 },
    luns: [0],
    commandTimeoutMs: 0,
    ...extra,
  });
  sessions.push(s);
  return s;
}

const until = (s: ManagedSession, pred: (st: SessionStatus) => boolean) => firstValueFrom(s.events$.pipe(filter(pred)));
const reloggedIn = (s: ManagedSession) => until(s, (st) => st.state === 'loggedIn' && st.reason.code === 'relogged-in');

/** Every state the session passes through from now on. */
function statesOf(s: ManagedSession): string[] {
  const states: string[] = [];
  s.events$.subscribe((st) => states.push(st.state));
  return states;
}

/** Byte-for-byte equality; vitest's deep equality is slow on large buffers. */
const expectBytes = (actual: Buffer, expected: Buffer) => expect(Buffer.compare(actual, expected)).toBe(0);

const read = async (s: ScsiExecutor, offset: number, length: number) =>
  (await executeScsi(s, 0, readBlocks({ lba: offset / 512, blocks: length / 512, blockSize: 512 }))).data;

describe('the fake LU', () => {
  it('serves capacity, identity, R2T-driven writes, reads and cache flushes through our own initiator', async () => {
    const fake = await target({ serial: 'FAKE0001', naa: '600140512345678900000000000000aa' });
    const { session } = await openSession({ host: fake.host, port: fake.port, targetName: IQN, initiatorName: INITIATOR });
    try {
      const lun = await Lun.open(session, 0);
      expect([lun.blockSize, lun.sizeBytes]).toEqual([512, fake.backing.length]);
      expect(await readIdentity(session)).toEqual({ 0: { wwid: '3600140512345678900000000000000aa', serial: 'FAKE0001' } });
      // 256 KiB: one PDU of immediate data (FirstBurstLength 65536, InitialR2T=Yes), the rest on R2T.
      const data = randomBytes(256 * 1024);
      await lun.write(65536, data);
      expectBytes(fake.backing.subarray(65536, 65536 + data.length), data);
      expect(fake.pdus(Opcode.SCSI_DATA_OUT).every((r) => r.pdu.ttt !== 0xffffffff)).toBe(true);
      expect(fake.pdus(Opcode.SCSI_DATA_OUT).length).toBeGreaterThan(0);
      expectBytes(await lun.read(65536, data.length), data);
      await lun.flush();
      // Past the end: CHECK CONDITION, ILLEGAL REQUEST, LBA out of range (21/00).
      await expect(read(session, fake.backing.length, 512)).rejects.toMatchObject({ name: 'CheckConditionError' });
    } finally {
      await session.logout(2_000);
    }
  });
});

describe('async messages (§11.9.1)', () => {
  it('AsyncEvent 1: logs out, relogs in, and completes the I/O in flight and the I/O issued meanwhile', async () => {
    const fake = await target();
    const s = managed(fake);
    await s.login();
    const first = fake.current!;
    // A READ the target holds is in flight when the request comes.
    fake.swallowNextCommand();
    const held = fake.nextPdu(Opcode.SCSI_COMMAND);
    const inFlight = read(s, 0, 4096);
    await held;
    const logoutRequest = fake.nextPdu(Opcode.LOGOUT_REQUEST);
    const relogin = fake.nextLogin();
    // Time2Wait of a successful Logout Response "is to be ignored" at ERL < 2 (§11.15.3).
    fake.script.logout = () => ({ time2Wait: 3, time2Retain: 0 });
    fake.requestLogout(5);
    const down = await until(s, (st) => st.state === 'recovering');
    expect(down.reason.code).toBe('async-logout');
    const during = read(s, 4096, 4096);
    const logout = await logoutRequest;
    expect(logout.conn).toBe(first);
    // §11.9.1: "close the connection" or "close the session"; ours closes the session (one connection).
    expect(logout.pdu.reasonCode).toBe(LogoutReason.CLOSE_SESSION);
    const second = await relogin;
    expect(second.connectedAt - logout.at).toBeLessThan(1500);
    expectBytes(await inFlight, fake.backing.subarray(0, 4096));
    expectBytes(await during, fake.backing.subarray(4096, 8192));
    expect(s.status).toMatchObject({ state: 'loggedIn', reason: { code: 'relogged-in' } });
    // The READ the logout terminated went out again on the new connection, with the one issued meanwhile.
    expect(fake.pdus(Opcode.SCSI_COMMAND, second).filter((r) => isRead(r.pdu))).toHaveLength(2);
  });

  it('AsyncEvent 1: honours the Logout Response Time2Wait when cleanup failed (response 3) before relogging in', async () => {
    const fake = await target();
    const s = managed(fake);
    await s.login();
    const logoutRequest = fake.nextPdu(Opcode.LOGOUT_REQUEST);
    const relogin = fake.nextLogin();
    // §11.15.3: with response 2 or 3, Time2Wait is the wait before a new implicit logout (our reinstating login).
    fake.script.logout = () => ({ response: LogoutResponseCode.CLEANUP_FAILED, time2Wait: 1, time2Retain: 5 });
    fake.requestLogout(5);
    const { at } = await logoutRequest;
    const second = await relogin;
    expect(second.connectedAt - at).toBeGreaterThanOrEqual(990);
    await reloggedIn(s);
  });

  it('AsyncEvent 2: waits Time2Wait (1 s) before relogging in, then completes the held I/O', async () => {
    const fake = await target();
    const s = managed(fake);
    await s.login();
    const relogin = fake.nextLogin();
    const droppedAt = performance.now();
    fake.dropConnection({ time2Wait: 1, time2Retain: 20 });
    const down = await until(s, (st) => st.state === 'recovering');
    expect(down.reason.code).toBe('async-drop');
    const pending = read(s, 0, 4096);
    expect(s.heldCount).toBe(1);
    const second = await relogin;
    // No connection attempt before Time2Wait: the second connection is the relogin, opened after 1 s.
    expect(second.id).toBe(2);
    expect(second.connectedAt - droppedAt).toBeGreaterThanOrEqual(990);
    expectBytes(await pending, fake.backing.subarray(0, 4096));
    expect(s.status.state).toBe('loggedIn');
  });

  it('AsyncEvent 3: reinstates the session with the same ISID and TSIH 0 (§6.3.5)', async () => {
    const fake = await target();
    const s = managed(fake);
    await s.login();
    const relogin = fake.nextLogin();
    fake.dropSession({ time2Wait: 0, time2Retain: 0 });
    const second = await relogin;
    await reloggedIn(s);
    const logins = fake.pdus(Opcode.LOGIN_REQUEST);
    expect(new Set(logins.map((r) => r.conn.id))).toEqual(new Set([1, 2]));
    for (const { pdu } of logins) {
      expect(pdu.isid).toBe(s.isid);
      expect(pdu.tsih).toBe(0);
    }
    expect(fake.reinstatements).toBe(1);
    expect(second.tsih).not.toBe(fake.connections[0].tsih);
    expectBytes(await read(s, 0, 4096), fake.backing.subarray(0, 4096));
  });
});

describe('Reject (§11.17)', () => {
  it('fails a SCSI command rejected with reason 0x09, plugs its CmdSN gap with ABORT TASK, and keeps the session', async () => {
    // 0x09 (invalid PDU field) may not be resent (§11.17.1), so the command fails with a ProtocolError. Its
    // CmdSN does not count as received (§7.3): the target holds every later command until the initiator
    // plugs the gap, here by ABORT TASK with the rejected command's RefCmdSN (§11.5.1).
    const fake = await target();
    const s = managed(fake);
    await s.login();
    const states = statesOf(s);
    fake.rejectNextCommand(RejectReason.INVALID_PDU_FIELD);
    const rejectedCmd = fake.nextPdu(Opcode.SCSI_COMMAND);
    const abort = fake.nextPdu(Opcode.TASK_MGMT_REQUEST);
    const a = read(s, 0, 4096);
    const b = read(s, 4096, 4096); // sent right behind A: the target holds it behind the gap
    await expect(a).rejects.toThrow(ProtocolError);
    await expect(a).rejects.toThrow(/rejected the PDU \(reason 0x9\)/);
    const { pdu: cmd } = await rejectedCmd;
    const { pdu: tmf } = await abort;
    expect(tmf).toMatchObject({ function: TmfFunction.ABORT_TASK, referencedTaskTag: cmd.itt, refCmdSN: cmd.cmdSN, immediate: true });
    expectBytes(await b, fake.backing.subarray(4096, 8192));
    expectBytes(await read(s, 8192, 4096), fake.backing.subarray(8192, 12288));
    // Not resent, and the session never left full-feature phase.
    expect(fake.pdus(Opcode.SCSI_COMMAND).filter((r) => isRead(r.pdu) && r.pdu.cdb.readUInt32BE(2) === 0)).toHaveLength(1);
    expect(states).not.toContain('recovering');
    expect(fake.connections).toHaveLength(1);
    // The rejected command left the session's count (busy-poll.ts): nothing is outstanding.
    expect(outstandingCommands()).toBe(0);
  });
});

describe('login', () => {
  it('follows a redirect (status 1/1) to another portal and works there', async () => {
    const there = await target();
    const here = await target({ backing: there.backing });
    here.script.login = () => ({ redirect: { host: there.host, port: there.port } });
    const opened = await openSession({ host: here.host, port: here.port, targetName: IQN, initiatorName: INITIATOR });
    expect([opened.host, opened.port]).toEqual([there.host, there.port]);
    expect(here.pdus(Opcode.LOGIN_REQUEST)).toHaveLength(1);
    await here.nextClose(here.connections[0]);
    expectBytes(await read(opened.session, 0, 4096), there.backing.subarray(0, 4096));
    expect(there.pdus(Opcode.SCSI_COMMAND)).toHaveLength(1);
    await opened.session.logout(2_000);
  });

  it('retries a login refused with status class 3 and stops at once on class 2', async () => {
    const busy = await target();
    busy.script.login = (_req, conn) => (conn.id === 1 ? { refuse: { statusClass: 3, statusDetail: 1 } } : undefined);
    const s = managed(busy);
    await s.login();
    expect(busy.connections).toHaveLength(2);

    const gone = await target();
    gone.script.login = () => ({ refuse: { statusClass: 2, statusDetail: 4 } });
    const t = managed(gone);
    await expect(t.login()).rejects.toBeInstanceOf(LoginError);
    expect(t.status).toMatchObject({ state: 'failed', reason: { code: 'login-rejected' } });
    expect(gone.connections).toHaveLength(1);
  });
});

describe('a command that never completes: TMF escalation (§11.5)', () => {
  const ESCALATION: Partial<SessionTimers> = { abortTimeoutMs: 300, luResetTimeoutMs: 300, tgtResetTimeoutMs: 300 };

  it('ABORT TASK with the right Referenced Task Tag, FUNCTION COMPLETE, then the command is re-issued', async () => {
    const fake = await target();
    const s = managed(fake, ESCALATION, { commandTimeoutMs: 200 });
    await s.login();
    const states = statesOf(s);
    fake.swallowNextCommand();
    const swallowed = fake.nextPdu(Opcode.SCSI_COMMAND);
    const abort = fake.nextPdu(Opcode.TASK_MGMT_REQUEST);
    const pending = read(s, 0, 4096);
    const { pdu: cmd } = await swallowed;
    const { pdu: tmf } = await abort;
    expect(tmf).toMatchObject({ function: TmfFunction.ABORT_TASK, referencedTaskTag: cmd.itt, refCmdSN: cmd.cmdSN, lun: 0 });
    expectBytes(await pending, fake.backing.subarray(0, 4096));
    const reads = fake.pdus(Opcode.SCSI_COMMAND).filter((r) => isRead(r.pdu));
    expect(reads).toHaveLength(2);
    expect(reads[1].pdu.itt).not.toBe(cmd.itt);
    expect(states).not.toContain('recovering');
    // The aborted command and its re-issue are both accounted.
    expect(outstandingCommands()).toBe(0);
  });

  it('an unanswered ABORT TASK drops the connection after abort_timeout (tmf-timeout); the command completes after relogin', async () => {
    const fake = await target();
    const s = managed(fake, ESCALATION, { commandTimeoutMs: 200 });
    await s.login();
    fake.script.tmf = () => 'ignore';
    fake.swallowNextCommand();
    const abort = fake.nextPdu(Opcode.TASK_MGMT_REQUEST);
    const down = until(s, (st) => st.state === 'recovering');
    const relogin = fake.nextLogin();
    const pending = read(s, 0, 4096);
    await abort;
    const failure = await down;
    // The abort's own timer fired (not the NOP or the command timeout): the reason names it. No wall-clock bound
    // here: the timer's length is checked on a simulated clock in test/machines/session-loggedin.test.ts.
    expect(failure.reason.code).toBe('tmf-timeout');
    expect(failure.reason.at).toBeGreaterThan(0);
    const second = await relogin;
    expectBytes(await pending, fake.backing.subarray(0, 4096));
    expect(fake.pdus(Opcode.SCSI_COMMAND, second).filter((r) => isRead(r.pdu))).toHaveLength(1);
  });

  it('ABORT TASK refused (response 5) escalates to LOGICAL UNIT RESET; FUNCTION COMPLETE, then the command is re-issued', async () => {
    const fake = await target();
    const s = managed(fake, ESCALATION, { commandTimeoutMs: 200 });
    await s.login();
    const states = statesOf(s);
    fake.script.tmf = (req) => (req.function === TmfFunction.ABORT_TASK ? TmfResponse.FUNCTION_NOT_SUPPORTED : undefined);
    fake.swallowNextCommand();
    const swallowed = fake.nextPdu(Opcode.SCSI_COMMAND);
    const abort = fake.nextPdu(Opcode.TASK_MGMT_REQUEST, (p) => p.function === TmfFunction.ABORT_TASK);
    const reset = fake.nextPdu(Opcode.TASK_MGMT_REQUEST, (p) => p.function === TmfFunction.LOGICAL_UNIT_RESET);
    const pending = read(s, 0, 4096);
    const { pdu: cmd } = await swallowed;
    expect((await abort).pdu.referencedTaskTag).toBe(cmd.itt);
    expect((await reset).pdu.lun).toBe(0);
    expectBytes(await pending, fake.backing.subarray(0, 4096));
    expect(fake.pdus(Opcode.TASK_MGMT_REQUEST).map((r) => r.pdu.function)).toEqual([
      TmfFunction.ABORT_TASK,
      TmfFunction.LOGICAL_UNIT_RESET,
    ]);
    expect(states).not.toContain('recovering');
  });
});

describe('timers changed at run time (open-iscsi #393)', () => {
  it('a shorter NOP interval applies to the running connection: a silent target is detected well before 10 s', async () => {
    const fake = await target();
    const s = managed(fake, { noopOutIntervalMs: 10_000, noopOutTimeoutMs: 10_000 });
    await s.login();
    const ping = fake.nextPdu(Opcode.NOP_OUT);
    const changedAt = performance.now();
    s.setTimers({ noopOutIntervalMs: 200, noopOutTimeoutMs: 200 });
    await ping; // answered: the link is fine
    expect(performance.now() - changedAt).toBeLessThan(1_000);
    fake.silence();
    const silentAt = performance.now();
    const down = await until(s, (st) => st.state === 'recovering');
    expect(down.reason.code).toBe('nop-timeout');
    expect(performance.now() - silentAt).toBeLessThan(200 + 200 + 1_000);
  });
});
