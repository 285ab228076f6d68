/**
 * ManagedSession's command timeouts on a SimulatedClock, over real sockets to the scripted fake target: each
 * issue of a command has one deadline, commandTimeoutMs after it, and one timer on the session's clock
 * serves every command in flight (none is armed per command). Time passes only when a test moves the clock;
 * every other wait is on a PDU the fake target received.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { FakeTarget } from '../support/fake-target.js';
import { ManagedSession, type ManagedSessionOptions } from '../../src/session/managed-session.js';
import type { Clock } from '../../src/session/clock.js';
import { executeScsi } from '../../src/session/lun.js';
import { readBlocks } from '../../src/scsi/cdb.js';
import { Opcode, TmfFunction } from '../../src/iscsi/constants.js';

const IQN = 'iqn.2026-11.test:fake';

const fakes: FakeTarget[] = [];
const sessions: ManagedSession[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) s.stop();
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

async function start(extra: Partial<ManagedSessionOptions>): Promise<{ fake: FakeTarget; s: ManagedSession }> {
  const fake = await FakeTarget.start({ targetName: IQN, defaultTime2Wait: 0 });
  fakes.push(fake);
  const s = new ManagedSession({
    host: fake.host,
    port: fake.port,
    targetName: IQN,
    initiatorName: 'iqn.2026-11.test:initiator',
    // No NOP timers: the only timers that matter here are the command deadlines.
    timers: { noopOutIntervalMs: 0, noopOutTimeoutMs: 0, defaultTime2WaitMs: 0 },
    wishes: { defaultTime2Wait: 0 },
    luns: [0],
    ...extra,
  });
  sessions.push(s);
  await s.login();
  return { fake, s };
}

const read = async (s: ManagedSession, offset: number, length: number) =>
  (await executeScsi(s, 0, readBlocks({ lba: offset / 512, blocks: length / 512, blockSize: 512 }))).data;

/** The delays asked of `clock` through the returned Clock, in order. */
function recording(clock: SimulatedClock): { clock: Clock; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    clock: {
      now: () => clock.now(),
      setTimeout: (fn, ms) => {
        delays.push(ms);
        return clock.setTimeout(fn, ms);
      },
      clearTimeout: (id) => clock.clearTimeout(id as number),
    },
  };
}

describe('command timeouts', () => {
  it('a command the target never answers is aborted exactly commandTimeoutMs after its issue, then re-issued', async () => {
    const clock = new SimulatedClock();
    // A minute of simulated time: a real timer of that length would time the test out.
    const { fake, s } = await start({ commandTimeoutMs: 60_000, clock });
    fake.swallowNextCommand();
    const swallowed = fake.nextPdu(Opcode.SCSI_COMMAND);
    const pending = read(s, 0, 4096);
    const { pdu: cmd } = await swallowed;
    clock.increment(30_000);
    // Commands issued meanwhile complete; their own deadlines are later.
    expect(Buffer.compare(await read(s, 4096, 4096), fake.backing.subarray(4096, 8192))).toBe(0);
    clock.increment(29_999);
    // A TMF sent by now would reach the target before this read (one connection, in order).
    await read(s, 8192, 512);
    expect(fake.pdus(Opcode.TASK_MGMT_REQUEST)).toEqual([]);
    const abort = fake.nextPdu(Opcode.TASK_MGMT_REQUEST);
    clock.increment(1);
    const { pdu: tmf } = await abort;
    expect(tmf).toMatchObject({ function: TmfFunction.ABORT_TASK, referencedTaskTag: cmd.itt, refCmdSN: cmd.cmdSN, lun: 0 });
    // FUNCTION COMPLETE: the target holds nothing for it; the session issues it again and it completes.
    expect(Buffer.compare(await pending, fake.backing.subarray(0, 4096))).toBe(0);
    const reads = fake.pdus(Opcode.SCSI_COMMAND).filter((r) => r.pdu.cdb[0] === 0x28);
    // READ(10) LBAs: the swallowed one, the two issued meanwhile, the swallowed one again under a new ITT.
    expect(reads.map((r) => r.pdu.cdb.readUInt32BE(2))).toEqual([0, 8, 16, 0]);
    expect(reads[0].pdu.itt).toBe(cmd.itt);
    expect(reads[3].pdu.itt).not.toBe(cmd.itt);
    expect(fake.pdus(Opcode.TASK_MGMT_REQUEST)).toHaveLength(1);
  });

  it('one timer serves every command in flight: 256 commands arm one command deadline, not 256', async () => {
    const sim = new SimulatedClock();
    const { clock, delays } = recording(sim);
    const { fake, s } = await start({ commandTimeoutMs: 7_777, clock });
    delays.length = 0;
    const all = Array.from({ length: 256 }, (_, i) => read(s, (i % 64) * 4096, 4096));
    const data = await Promise.all(all);
    expect(data.every((d, i) => Buffer.compare(d, fake.backing.subarray((i % 64) * 4096, ((i % 64) + 1) * 4096)) === 0)).toBe(true);
    // The first command's deadline; the rest are later and found by that timer when it fires. (100 ms timers
    // are the liveness throttle, which does not depend on the commands.)
    expect(delays.filter((ms) => ms !== 100)).toEqual([7_777]);
    // Nothing is due: moving past every deadline aborts nothing.
    sim.increment(8_000);
    await read(s, 0, 512);
    expect(fake.pdus(Opcode.TASK_MGMT_REQUEST)).toEqual([]);
  });
});
