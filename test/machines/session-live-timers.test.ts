/** cmd.setTimers: new values apply to the running timers at once, without a relogin (open-iscsi #393). */
import { describe, expect, it } from 'vitest';
import { gateOf } from '../../machines/session.machine.js';
import { flush, loggedInSession, startSession } from './harness.js';

describe('live timer changes', () => {
  it('NOP interval shortened mid-wait fires at the new time; no relogin', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 5_000 } });
    await h.advance(2_000);
    h.actor.send({ type: 'cmd.setTimers', timers: { noopOutIntervalMs: 3_000 } });
    await h.advance(999);
    expect(h.watch.nops()).toBe(0);
    await h.advance(1);
    expect(h.watch.nops()).toBe(1);
    expect(h.login.count).toBe(1);
    expect(h.watch.started).toBe(1);
    expect(h.actor.getSnapshot().context.timers.noopOutIntervalMs).toBe(3_000);
  });

  it('NOP interval lengthened mid-wait postpones the ping', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 5_000 } });
    await h.advance(2_000);
    h.actor.send({ type: 'cmd.setTimers', timers: { noopOutIntervalMs: 8_000 } });
    await h.advance(5_999);
    expect(h.watch.nops()).toBe(0);
    await h.advance(1);
    expect(h.watch.nops()).toBe(1);
  });

  it('replacement_timeout lengthened while holding counts from the connection failure', async () => {
    const h = await loggedInSession({ timers: { replacementTimeoutMs: 10_000 } });
    h.watch.send({ type: 'conn.failed', reason: 'reset' });
    await flush();
    await h.advance(5_000);
    h.actor.send({ type: 'cmd.setTimers', timers: { replacementTimeoutMs: 20_000 } });
    await h.advance(5_000); // old expiry
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    await h.advance(9_999);
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    await h.advance(1); // 20 s after the failure
    expect(gateOf(h.actor.getSnapshot())).toBe('failed');
    expect(h.failHeldCount()).toBe(1);
  });

  it('replacement_timeout shortened below the time already held fails the held commands at once', async () => {
    const h = await loggedInSession({ timers: { replacementTimeoutMs: 60_000 } });
    h.watch.send({ type: 'conn.failed', reason: 'reset' });
    await flush();
    await h.advance(10_000);
    h.actor.send({ type: 'cmd.setTimers', timers: { replacementTimeoutMs: 5_000 } });
    expect(gateOf(h.actor.getSnapshot())).toBe('failed');
    expect(h.failHeldCount()).toBe(1);
  });

  it('replacement_timeout made negative while holding holds forever; made positive again it counts from the failure', async () => {
    const h = await loggedInSession({ timers: { replacementTimeoutMs: 10_000 } });
    h.watch.send({ type: 'conn.failed', reason: 'reset' });
    await flush();
    h.actor.send({ type: 'cmd.setTimers', timers: { replacementTimeoutMs: -1 } });
    await h.advance(60_000);
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    h.actor.send({ type: 'cmd.setTimers', timers: { replacementTimeoutMs: 90_000 } });
    await h.advance(29_999);
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    await h.advance(1);
    expect(gateOf(h.actor.getSnapshot())).toBe('failed');
  });

  it('abort_timeout changed during an ABORT TASK counts from when it was sent', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 0, abortTimeoutMs: 15_000 } });
    h.actor.send({ type: 'task.timedOut', itt: 7, lun: 0 });
    await h.advance(4_000);
    h.actor.send({ type: 'cmd.setTimers', timers: { abortTimeoutMs: 6_000 } });
    expect(h.tmf.count).toBe(1); // the TMF itself is not re-sent
    await h.advance(1_999);
    expect(h.state()).toBe('loggedIn');
    await h.advance(1);
    expect(h.state()).toBe('recovering');
    expect(h.actor.getSnapshot().context.reason.code).toBe('tmf-timeout');
  });

  it('login_timeout changed during a relogin attempt applies to that attempt', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0, loginTimeoutMs: 15_000 } });
    h.watch.send({ type: 'conn.failed', reason: 'reset' });
    await flush();
    const attempt = h.login.last;
    await h.advance(1_000);
    h.actor.send({ type: 'cmd.setTimers', timers: { loginTimeoutMs: 3_000 } });
    await h.advance(1_999);
    expect(attempt.signal.aborted).toBe(false);
    await h.advance(1);
    expect(attempt.signal.aborted).toBe(true);
  });

  it('an invalid change is refused with a reason and changes nothing', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 5_000 } });
    h.actor.send({ type: 'cmd.setTimers', timers: { noopOutIntervalMs: -5, loginTimeoutMs: 1 } });
    expect(h.emitted.at(-1)).toEqual({
      type: 'session.timersRejected',
      error: 'noopOutIntervalMs = -5: must be at least 0 ms',
    });
    expect(h.actor.getSnapshot().context.timers.noopOutIntervalMs).toBe(5_000);
    expect(h.actor.getSnapshot().context.timers.loginTimeoutMs).toBe(15_000);
    await h.advance(5_000);
    expect(h.watch.nops()).toBe(1);
  });

  it('changes made while idle are used by the next login', async () => {
    const h = startSession();
    h.actor.send({ type: 'cmd.setTimers', timers: { loginTimeoutMs: 2_500 } });
    h.actor.send({ type: 'cmd.login' });
    expect(h.login.last.input.loginTimeoutMs).toBe(2_500);
  });
});
