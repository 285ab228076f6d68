/**
 * The session's own waits run on the injected clock (issue 12, "one clock"): the login deadline
 * (node.conn[0].timeo.login_timeout), and a Session's task management and logout waits. Simulated time over
 * real sockets: a ten-minute wait (longer than any test may run) costs nothing, and each expires exactly when the clock says, not before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { SimulatedClock } from 'xstate';
import { openSession } from '../../src/session/open.js';
import type { Session } from '../../src/session/session.js';
import { LoginError, TransportError } from '../../src/iscsi/errors.js';
import { Opcode, TmfFunction } from '../../src/iscsi/constants.js';
import { FakeTarget } from '../support/fake-target.js';
import { executeScsi, type ScsiExecutor } from '../../src/session/lun.js';
import { testUnitReady } from '../../src/scsi/cdb.js';
import { ScsiStatus } from '../../src/scsi/status.js';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Settles of `p` seen so far; a turn of the event loop lets a rejection that is due arrive. */
function watch<T>(p: Promise<T>): { settled: () => boolean; result: Promise<T> } {
  let done = false;
  const result = p.finally(() => {
    done = true;
  });
  result.catch(() => {});
  return { settled: () => done, result };
}
const turn = () => new Promise<void>((r) => setImmediate(r));

/** A TCP server that accepts, reads the Login Request and never answers. */
async function silentServer(): Promise<{ port: number; firstBytes: Promise<void> }> {
  const sockets: Socket[] = [];
  let gotBytes!: () => void;
  const firstBytes = new Promise<void>((r) => {
    gotBytes = r;
  });
  const server: Server = createServer((s) => {
    sockets.push(s);
    s.once('data', () => gotBytes());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(async () => {
    for (const s of sockets) s.destroy();
    server.close();
    await once(server, 'close');
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return { port: addr.port, firstBytes };
}

async function loggedIn(clock: SimulatedClock): Promise<{ fake: FakeTarget; session: Session }> {
  const fake = await FakeTarget.start();
  cleanup.push(() => fake.stop());
  const { session } = await openSession({ host: '127.0.0.1', port: fake.port, targetName: fake.targetName, clock });
  cleanup.push(() => session.close());
  return { fake, session };
}

describe('the login deadline', () => {
  it('a target that never answers the Login Request fails the login exactly loginTimeoutMs later on the clock', async () => {
    const clock = new SimulatedClock();
    const peer = await silentServer();
    const login = watch(
      openSession({ host: '127.0.0.1', port: peer.port, targetName: 'iqn.2026-12.test:silent', loginTimeoutMs: 600_000, clock }),
    );
    await peer.firstBytes;
    clock.increment(599_999);
    await turn();
    expect(login.settled()).toBe(false);
    clock.increment(1);
    await expect(login.result).rejects.toSatisfy((e) => e instanceof LoginError && e.kind === 'timeout');
  });
});

describe("a Session's waits", () => {
  it('an unanswered LOGICAL UNIT RESET times out exactly after its timeout on the clock', async () => {
    const clock = new SimulatedClock();
    const { fake, session } = await loggedIn(clock);
    fake.script.tmf = () => 'ignore';
    const sent = fake.nextPdu(Opcode.TASK_MGMT_REQUEST);
    const tmf = watch(session.taskManagement(TmfFunction.LOGICAL_UNIT_RESET, 0, undefined, 600_000));
    await sent;
    clock.increment(599_999);
    await turn();
    expect(tmf.settled()).toBe(false);
    clock.increment(1);
    await expect(tmf.result).rejects.toSatisfy(
      (e) => e instanceof TransportError && e.message === 'task management request timed out after 600000 ms',
    );
  });

  it('an unanswered Logout gives up after its timeout on the clock and closes the session', async () => {
    const clock = new SimulatedClock();
    const { fake, session } = await loggedIn(clock);
    fake.script.logout = () => 'ignore';
    const sent = fake.nextPdu(Opcode.LOGOUT_REQUEST);
    const closed = new Promise<Error>((r) => session.on((e) => e.type === 'closed' && r(e.error)));
    const logout = watch(session.logout(600_000));
    await sent;
    clock.increment(599_999);
    await turn();
    expect(logout.settled()).toBe(false);
    clock.increment(1);
    expect(await logout.result).toBeUndefined();
    expect((await closed).message).toBe('session logged out (target did not answer the logout)');
  });
});

describe('the BUSY retry pause runs on the injected clock', () => {
  it('a BUSY, then a TASK SET FULL answer is sent again 50 simulated ms later each, not before; then GOOD resolves', async () => {
    const clock = new SimulatedClock();
    const statuses = [ScsiStatus.BUSY, ScsiStatus.TASK_SET_FULL, ScsiStatus.GOOD];
    const sentAt: number[] = [];
    const exec: ScsiExecutor = {
      execute: async () => {
        sentAt.push(clock.now());
        return { status: statuses[sentAt.length - 1], data: Buffer.alloc(0), residual: 0, underflow: false, overflow: false };
      },
    };
    const w = watch(executeScsi(exec, 0, testUnitReady(), { clock }));
    await turn();
    expect(sentAt).toEqual([0]);
    clock.increment(49);
    await turn();
    expect(sentAt).toEqual([0]);
    clock.increment(1);
    await turn();
    expect(sentAt).toEqual([0, 50]);
    clock.increment(50);
    await turn();
    expect(sentAt).toEqual([0, 50, 100]);
    expect((await w.result).status).toBe(ScsiStatus.GOOD);
  });
});
