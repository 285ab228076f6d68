/**
 * A scripted path for MultipathDevice tests: a PathTransport whose session state, command answers and NOP
 * probe the test controls. Its LU answers INQUIRY, VPD 0x80/0x83, READ CAPACITY and MODE SENSE with the
 * bytes tgtd sent (test/scsi/fixtures.ts); other commands go to `answer` (default: GOOD, zero data). A silent
 * probe times out on the path's clock (give the device's SimulatedClock), and the helpers below drive that
 * clock instead of sleeping.
 */
import { BehaviorSubject } from 'rxjs';
import type { SimulatedClock } from 'xstate';
import { systemClock, type Clock } from '../../src/session/clock.js';
import type { SessionStatus } from '../../machines/session.machine.js';
import { TransportError } from '../../src/iscsi/errors.js';
import type { PathTransport, ProbeTarget } from '../../src/multipath/device.js';
import type { TaskSink } from '../../src/session/task.js';
import type { ScsiCommandRequest, ScsiResult } from '../../src/session/types.js';
import { encodeFixedSense } from '../../src/scsi/sense.js';
import { tgtd } from '../scsi/fixtures.js';

export const good = (data: Buffer = Buffer.alloc(0)): ScsiResult => ({ status: 0, data, residual: 0, underflow: false, overflow: false });
export const checkCondition = (key: number, asc: number, ascq = 0): ScsiResult => ({
  status: 2,
  data: Buffer.alloc(0),
  residual: 0,
  underflow: false,
  overflow: false,
  sense: encodeFixedSense({ key, asc, ascq }),
});

interface Pending {
  req: ScsiCommandRequest;
  resolve(r: ScsiResult): void;
  reject(e: Error): void;
}

class FakeSession implements ProbeTarget {
  closed = false;
  /** 'answer': pings come back at once; 'silent': they time out. */
  pings: 'answer' | 'silent' = 'answer';
  pingCount = 0;
  constructor(
    private readonly onClose: (e: Error) => void,
    private readonly clock: Clock,
  ) {}
  ping(timeoutMs: number): Promise<number> {
    this.pingCount++;
    if (this.closed) return Promise.reject(new TransportError('closed'));
    if (this.pings === 'answer') return Promise.resolve(0.1);
    return new Promise((_, reject) =>
      this.clock.setTimeout(() => reject(new TransportError(`NOP-Out ping timed out after ${timeoutMs} ms`)), timeoutMs),
    );
  }
  close(error: Error = new TransportError('session closed')): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(error);
  }
}

export class FakePath implements PathTransport {
  readonly status$: BehaviorSubject<SessionStatus>;
  live: FakeSession | undefined;
  /** Every command sent, in order (identity reads included). */
  readonly calls: ScsiCommandRequest[] = [];
  /** Commands held by `answer` returning 'hold', until the test settles them or the session closes. */
  readonly pending: Pending[] = [];
  /** How to answer a data command; 'hold' keeps it pending. */
  answer: (req: ScsiCommandRequest) => ScsiResult | 'hold' | Error = () => good();
  /** VPD 0x83 as the LU returns it (change it to simulate another LU behind the path). */
  vpd83: Buffer = tgtd.vpdDeviceIdentification;
  std: Buffer = tgtd.standardInquiry;
  /** When set, REPORT TARGET PORT GROUPS answers with it. */
  rtpg: Buffer | undefined;
  private readonly pendingWaiters: { n: number; resolve(): void }[] = [];

  constructor(
    readonly key: string,
    private readonly clock: Clock = systemClock,
  ) {
    this.status$ = new BehaviorSubject<SessionStatus>(status('loggedIn'));
    this.live = this.newSession();
  }

  get status(): SessionStatus {
    return this.status$.value;
  }
  get gate() {
    return this.status.gate;
  }
  get events$() {
    return this.status$.asObservable();
  }
  get session(): ProbeTarget | undefined {
    return this.live && !this.live.closed ? this.live : undefined;
  }
  get dataCalls(): ScsiCommandRequest[] {
    return this.calls.filter((r) => isData(r));
  }

  execute(req: ScsiCommandRequest): Promise<ScsiResult> {
    this.calls.push(req);
    if (!this.session || this.gate !== 'open') return Promise.reject(new TransportError(`${this.key}: not logged in`));
    const lu = this.luAnswer(req);
    if (lu) return Promise.resolve(lu);
    const a = this.answer(req);
    if (a instanceof Error) return Promise.reject(a);
    if (a === 'hold')
      return new Promise((resolve, reject) => {
        this.pending.push({ req, resolve, reject });
        for (const w of this.pendingWaiters.splice(0))
          if (this.pending.length >= w.n) w.resolve();
          else this.pendingWaiters.push(w);
      });
    return Promise.resolve(a);
  }

  /** As ManagedSession.submit: the promise's outcome, delivered outside the call, to the sink. */
  submit(req: ScsiCommandRequest, sink: TaskSink): void {
    this.execute(req).then(
      (r) => sink.done(r),
      (e: Error) => sink.fail(e),
    );
  }

  /** Resolves once `n` commands are held here (they reached the path), at once if they already are. */
  whenPending(n: number): Promise<void> {
    if (this.pending.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.pendingWaiters.push({ n, resolve }));
  }

  /** The connection fails: held commands fail with TransportError, the session goes recovering. */
  down(code = 'reset'): void {
    this.live?.close(new TransportError(`connection ${code}`));
    this.status$.next(status('recovering', code));
  }

  /**
   * The session gives up: `failed` (identity changed, login refused, reopen_max) or, with state
   * 'recovering', replacement_timeout expired while it keeps relogging in. Either way its gate is failed.
   */
  giveUp(code: string, detail: string, state: 'failed' | 'recovering' = 'failed'): void {
    this.live?.close(new TransportError(`connection ${code}`));
    this.status$.next({ state, gate: 'failed', reason: { code: code as SessionStatus['reason']['code'], detail, at: 0 }, at: 0 });
  }

  /** The session relogs in. */
  up(): void {
    this.live = this.newSession();
    this.status$.next(status('loggedIn', 'relogged-in'));
  }

  /** Answers the held commands. */
  release(result: ScsiResult = good()): void {
    for (const p of this.pending.splice(0)) p.resolve(result);
  }

  private newSession(): FakeSession {
    const s = new FakeSession((e) => {
      for (const p of this.pending.splice(0)) p.reject(e);
    }, this.clock);
    return s;
  }

  private luAnswer(req: ScsiCommandRequest): ScsiResult | undefined {
    const op = req.cdb[0];
    if (op === 0x12) {
      const evpd = (req.cdb[1] & 1) !== 0;
      if (!evpd) return good(this.std);
      if (req.cdb[2] === 0x83) return good(this.vpd83);
      if (req.cdb[2] === 0x80) return good(tgtd.vpdUnitSerial);
      return checkCondition(5, 0x24);
    }
    if (op === 0x9e) return good(tgtd.readCapacity16);
    if (op === 0x1a) return good(tgtd.modeSense6AllPages);
    if (op === 0xa3 && this.rtpg) return good(this.rtpg);
    return undefined;
  }
}

const isData = (r: ScsiCommandRequest): boolean => ![0x12, 0x9e, 0x1a, 0xa3, 0x00].includes(r.cdb[0]);

function status(state: 'loggedIn' | 'recovering', code = 'logged-in'): SessionStatus {
  return {
    state,
    gate: state === 'loggedIn' ? 'open' : 'holding',
    reason: { code: code as SessionStatus['reason']['code'], at: 0 },
    at: 0,
  };
}

/**
 * Lets every promise job that is ready run (a macrotask turn drains the microtask queue): what a device does
 * in reaction to a fake answer or a fired timer is promise chains, done by the time this resolves. Not a sleep:
 * no time passes on the device's clock.
 */
export const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Moves `clock` forward `ms` one millisecond at a time, settling after each step, so that every timer fires
 * at its own due time and sees what the timers before it caused (SimulatedClock.increment(ms) would fire
 * them all at the end time).
 */
export async function advance(clock: SimulatedClock, ms: number): Promise<void> {
  await settle();
  for (let i = 0; i < ms; i++) {
    clock.increment(1);
    await settle();
  }
}

/**
 * Advances `clock` a millisecond at a time until `pred` holds; returns the simulated milliseconds that took.
 * Fails after `limitMs` of simulated time: the condition depends on timers that should have fired by then.
 */
export async function advanceUntil(clock: SimulatedClock, pred: () => boolean, limitMs: number, what = 'condition'): Promise<number> {
  const t0 = clock.now();
  await settle();
  while (!pred()) {
    if (clock.now() - t0 >= limitMs) throw new Error(`${what} not reached within ${limitMs} simulated ms`);
    clock.increment(1);
    await settle();
  }
  return clock.now() - t0;
}

/** Whether `p` has settled yet, and how (read it after settle() or advance()). */
export function track<T>(p: Promise<T>): {
  readonly state: 'pending' | 'resolved' | 'rejected';
  readonly value?: T;
  readonly error?: unknown;
} {
  const t: { state: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { state: 'pending' };
  p.then(
    (v) => {
      t.state = 'resolved';
      t.value = v;
    },
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}
