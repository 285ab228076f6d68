/** The connection machine alone: NOP-Out keepalive (RFC 7143 §11.18-19), failures, drops, live timers. */
import { describe, expect, it } from 'vitest';
import { createActor, SimulatedClock } from 'xstate';
import { connectionMachine, type NopTimers } from '../../machines/connection.machine.js';
import { flush, WatchFake } from './harness.js';

function startConnection(timers: NopTimers) {
  const clock = new SimulatedClock();
  const watch = new WatchFake();
  const actor = createActor(connectionMachine.provide({ actors: { connectionWatch: watch.logic } }), {
    clock,
    input: { sessionKey: 's', timers, now: () => clock.now() },
  });
  actor.start();
  return {
    clock,
    watch,
    actor,
    async advance(ms: number) {
      clock.increment(ms);
      await flush();
    },
    done: () => actor.getSnapshot().status === 'done',
    output: () => actor.getSnapshot().output,
  };
}

describe('connection machine: NOP keepalive', () => {
  it('sends a NOP-Out after noop_out_interval of silence and fails after noop_out_timeout', async () => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 3_000 });
    expect(c.watch.running).toBe(true);
    await c.advance(4_999);
    expect(c.watch.nops()).toBe(0);
    await c.advance(1);
    expect(c.watch.nops()).toBe(1);
    expect(c.actor.getSnapshot().matches({ up: 'pinging' })).toBe(true);
    await c.advance(2_999);
    expect(c.done()).toBe(false);
    await c.advance(1);
    expect(c.done()).toBe(true);
    expect(c.output()).toMatchObject({ reason: 'nop-timeout', at: 8_000 });
    // The socket is destroyed before the watch stops.
    expect(c.watch.drops()).toEqual([{ type: 'watch.drop', reason: 'nop-timeout' }]);
    expect(c.watch.running).toBe(false);
  });

  it('counts any received PDU as life: the interval runs from the last one', async () => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 3_000 });
    await c.advance(3_000);
    c.watch.send({ type: 'conn.pduReceived' });
    await c.advance(4_000); // t = 7000: 4 s after the PDU
    expect(c.watch.nops()).toBe(0);
    await c.advance(1_000); // t = 8000
    expect(c.watch.nops()).toBe(1);
  });

  it('a PDU after the NOP-Out (NOP-In or any other) cancels the timeout; the next ping follows the interval', async () => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 3_000 });
    await c.advance(5_000);
    expect(c.watch.nops()).toBe(1);
    await c.advance(2_000);
    c.watch.send({ type: 'conn.pduReceived' }); // t = 7000
    await c.advance(3_000); // t = 10000: past the old timeout
    expect(c.done()).toBe(false);
    expect(c.actor.getSnapshot().matches({ up: 'quiet' })).toBe(true);
    await c.advance(1_999);
    expect(c.watch.nops()).toBe(1);
    await c.advance(1); // t = 12000 = 7000 + 5000
    expect(c.watch.nops()).toBe(2);
  });

  it('noop_out_interval 0 disables pings', async () => {
    const c = startConnection({ noopOutIntervalMs: 0, noopOutTimeoutMs: 5_000 });
    expect(c.actor.getSnapshot().matches({ up: 'disabled' })).toBe(true);
    await c.advance(1_000_000);
    expect(c.watch.nops()).toBe(0);
    expect(c.done()).toBe(false);
  });

  it('noop_out_timeout 0 pings every interval of silence but never fails on it', async () => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 0 });
    for (let i = 1; i <= 4; i++) {
      await c.advance(5_000);
      expect(c.watch.nops()).toBe(i);
    }
    expect(c.done()).toBe(false);
  });
});

describe('connection machine: failures and drops', () => {
  it.each(['reset', 'closed', 'protocol', 'digest'] as const)('conn.failed %s ends the connection with that reason', async (reason) => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 5_000 });
    await c.advance(1_234);
    const error = new Error(`socket ${reason}`);
    c.watch.send({ type: 'conn.failed', reason, error });
    expect(c.done()).toBe(true);
    expect(c.output()).toEqual({ reason, error, detail: `socket ${reason}`, at: 1_234 });
    expect(c.watch.running).toBe(false);
  });

  it('conn.drop from the session destroys the socket and ends with the session reason', async () => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 5_000 });
    c.actor.send({ type: 'conn.drop', reason: 'command-timeout', detail: 'escalation' });
    expect(c.done()).toBe(true);
    expect(c.output()).toMatchObject({ reason: 'command-timeout', detail: 'escalation', at: 0 });
    expect(c.watch.drops()).toEqual([{ type: 'watch.drop', reason: 'command-timeout' }]);
  });
});

describe('connection machine: live timer changes', () => {
  it('a shorter interval set mid-wait fires at the new time, counted from the last PDU', async () => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 5_000 });
    await c.advance(2_000);
    c.actor.send({ type: 'conn.setTimers', timers: { noopOutIntervalMs: 3_000, noopOutTimeoutMs: 5_000 } });
    await c.advance(999);
    expect(c.watch.nops()).toBe(0);
    await c.advance(1); // t = 3000
    expect(c.watch.nops()).toBe(1);
  });

  it('a longer timeout set while pinging counts from the NOP-Out', async () => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 2_000 });
    await c.advance(5_000);
    expect(c.watch.nops()).toBe(1);
    await c.advance(1_000);
    c.actor.send({ type: 'conn.setTimers', timers: { noopOutIntervalMs: 5_000, noopOutTimeoutMs: 4_000 } });
    await c.advance(2_999); // t = 8999
    expect(c.done()).toBe(false);
    expect(c.watch.nops()).toBe(1); // no second NOP-Out for the same silence
    await c.advance(1); // t = 9000 = 5000 + 4000
    expect(c.output()).toMatchObject({ reason: 'nop-timeout', at: 9_000 });
  });

  it('pings can be switched off and on again live', async () => {
    const c = startConnection({ noopOutIntervalMs: 5_000, noopOutTimeoutMs: 5_000 });
    c.actor.send({ type: 'conn.setTimers', timers: { noopOutIntervalMs: 0, noopOutTimeoutMs: 5_000 } });
    await c.advance(60_000);
    expect(c.watch.nops()).toBe(0);
    c.actor.send({ type: 'conn.setTimers', timers: { noopOutIntervalMs: 1_000, noopOutTimeoutMs: 5_000 } });
    await c.advance(0); // silent for 60 s already: the ping goes out now
    expect(c.watch.nops()).toBe(1);
  });
});
