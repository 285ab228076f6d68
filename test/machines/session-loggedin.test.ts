/**
 * Session machine in full-feature phase: NOP keepalive through the connection child (§11.18-19),
 * command-timeout escalation through task management (§11.5), Async Messages (§11.9.1).
 */
import { describe, expect, it } from 'vitest';
import { gateOf } from '../../machines/session.machine.js';
import { flush, loggedInSession } from './harness.js';

describe('loggedIn: NOP keepalive', () => {
  it('pings after noop_out_interval; no PDU within noop_out_timeout drops the connection into recovery', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 5_000, noopOutTimeoutMs: 5_000 } });
    await h.advance(2_000);
    h.watch.send({ type: 'conn.pduReceived' });
    await h.advance(4_999);
    expect(h.watch.nops()).toBe(0);
    await h.advance(1); // 5 s after the PDU at 2000
    expect(h.watch.nops()).toBe(1);
    await h.advance(4_999);
    expect(h.state()).toBe('loggedIn');
    await h.advance(1); // t = 12000: declared dead within interval + timeout of the last PDU
    expect(h.state()).toBe('recovering');
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: 'nop-timeout', at: 12_000 });
    expect(h.watch.drops()).toEqual([{ type: 'watch.drop', reason: 'nop-timeout' }]);
    expect(h.watch.running).toBe(false);
  });

  it('0 disables the ping', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 0 } });
    await h.advance(3_600_000);
    expect(h.watch.nops()).toBe(0);
    expect(h.state()).toBe('loggedIn');
  });

  it.each(['reset', 'closed', 'protocol', 'digest'] as const)('conn.failed %s starts recovery at once', async (reason) => {
    const h = await loggedInSession();
    await h.advance(700);
    h.watch.send({ type: 'conn.failed', reason, error: new Error(reason) });
    await flush();
    expect(h.state()).toBe('recovering');
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: reason, detail: reason, at: 700 });
  });
});

describe('loggedIn: command timeout escalation', () => {
  it('ABORT TASK that completes clears the timed-out task; nothing else happens', async () => {
    const h = await loggedInSession();
    h.actor.send({ type: 'task.timedOut', itt: 0x10, lun: 1 });
    expect(h.tmf.count).toBe(1);
    expect(h.tmf.last.input).toEqual({ sessionKey: 'sess-1', fn: 'abortTask', itt: 0x10, lun: 1 });
    expect(h.actor.getSnapshot().matches({ loggedIn: { tmf: 'aborting' } })).toBe(true);
    h.tmf.last.resolve(undefined);
    await flush();
    expect(h.actor.getSnapshot().matches({ loggedIn: { tmf: 'ready' } })).toBe(true);
    await h.advance(100_000);
    expect(h.tmf.count).toBe(1);
    expect(h.state()).toBe('loggedIn');
  });

  it('escalates ABORT TASK -> LU RESET -> TARGET WARM RESET -> drop when each TMF is rejected', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 0 } });
    h.actor.send({ type: 'task.timedOut', itt: 0x22, lun: 3 });
    h.tmf.last.reject(new Error('function rejected'));
    await flush();
    expect(h.tmf.last.input).toEqual({ sessionKey: 'sess-1', fn: 'luReset', lun: 3 });
    h.tmf.last.reject(new Error('function rejected'));
    await flush();
    expect(h.tmf.last.input).toEqual({ sessionKey: 'sess-1', fn: 'targetWarmReset' });
    expect(h.state()).toBe('loggedIn');
    h.tmf.last.reject(new Error('function rejected'));
    await flush();
    expect(h.watch.drops()).toEqual([{ type: 'watch.drop', reason: 'command-timeout' }]);
    expect(h.state()).toBe('recovering');
    expect(h.actor.getSnapshot().context.reason.code).toBe('command-timeout');
    expect(h.tmf.count).toBe(3);
  });

  it('each TMF is bounded by its own timeout; a TMF that times out drops the connection', async () => {
    const h = await loggedInSession({
      timers: { noopOutIntervalMs: 0, abortTimeoutMs: 15_000, luResetTimeoutMs: 30_000 },
    });
    h.actor.send({ type: 'task.timedOut', itt: 1, lun: 0 });
    await h.advance(14_999);
    h.tmf.last.reject(new Error('task still allegiant')); // answered just in time: escalate
    await flush();
    const luReset = h.tmf.last;
    expect(luReset.input.fn).toBe('luReset');
    await h.advance(29_999);
    expect(h.state()).toBe('loggedIn');
    await h.advance(1); // lu_reset_timeout without an answer
    expect(luReset.signal.aborted).toBe(true);
    expect(h.watch.drops()).toEqual([{ type: 'watch.drop', reason: 'tmf-timeout' }]);
    expect(h.state()).toBe('recovering');
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: 'tmf-timeout', at: 44_999 });
    expect(h.actor.getSnapshot().context.reason.detail).toContain('luReset');
  });

  it('ABORT TASK that times out drops the connection (no escalation)', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 0, abortTimeoutMs: 15_000 } });
    h.actor.send({ type: 'task.timedOut', itt: 1, lun: 0 });
    await h.advance(15_000);
    expect(h.tmf.count).toBe(1);
    expect(h.state()).toBe('recovering');
    expect(h.actor.getSnapshot().context.reason.code).toBe('tmf-timeout');
  });

  it('TARGET WARM RESET that times out drops the connection after tgt_reset_timeout', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 0, tgtResetTimeoutMs: 30_000 } });
    h.actor.send({ type: 'task.timedOut', itt: 1, lun: 0 });
    h.tmf.last.reject(new Error('no'));
    await flush();
    h.tmf.last.reject(new Error('no'));
    await flush();
    expect(h.tmf.last.input.fn).toBe('targetWarmReset');
    await h.advance(29_999);
    expect(h.state()).toBe('loggedIn');
    await h.advance(1);
    expect(h.state()).toBe('recovering');
    expect(h.actor.getSnapshot().context.reason.code).toBe('tmf-timeout');
  });

  it('one TMF outstanding per session: later timeouts queue, duplicates coalesce, completed tasks leave the queue', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 0 } });
    h.actor.send({ type: 'task.timedOut', itt: 1, lun: 0 });
    h.actor.send({ type: 'task.timedOut', itt: 2, lun: 0 });
    h.actor.send({ type: 'task.timedOut', itt: 1, lun: 0 }); // the one being aborted: coalesced
    h.actor.send({ type: 'task.timedOut', itt: 2, lun: 0 }); // already queued: coalesced
    h.actor.send({ type: 'task.timedOut', itt: 3, lun: 0 });
    h.actor.send({ type: 'task.done', itt: 3 }); // completed after all
    expect(h.tmf.count).toBe(1);
    expect(h.actor.getSnapshot().context.tmfQueue).toEqual([{ itt: 2, lun: 0 }]);
    h.tmf.last.resolve(undefined);
    await flush();
    expect(h.tmf.count).toBe(2);
    expect(h.tmf.last.input).toMatchObject({ fn: 'abortTask', itt: 2 });
    h.tmf.last.resolve(undefined);
    await flush();
    expect(h.tmf.count).toBe(2);
  });

  it('a successful LU RESET clears the queued tasks of that LU; other LUs still get their ABORT TASK', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 0 } });
    h.actor.send({ type: 'task.timedOut', itt: 1, lun: 1 });
    h.actor.send({ type: 'task.timedOut', itt: 2, lun: 1 });
    h.actor.send({ type: 'task.timedOut', itt: 3, lun: 2 });
    h.tmf.last.reject(new Error('rejected'));
    await flush();
    expect(h.tmf.last.input).toMatchObject({ fn: 'luReset', lun: 1 });
    h.tmf.last.resolve(undefined);
    await flush();
    expect(h.tmf.last.input).toMatchObject({ fn: 'abortTask', itt: 3, lun: 2 });
    expect(h.tmf.count).toBe(3);
  });

  it('a successful TARGET WARM RESET clears the whole queue', async () => {
    const h = await loggedInSession({ timers: { noopOutIntervalMs: 0 } });
    h.actor.send({ type: 'task.timedOut', itt: 1, lun: 1 });
    h.actor.send({ type: 'task.timedOut', itt: 2, lun: 2 });
    h.tmf.last.reject(new Error('rejected'));
    await flush();
    h.tmf.last.reject(new Error('rejected'));
    await flush();
    h.tmf.last.resolve(undefined);
    await flush();
    expect(h.tmf.count).toBe(3);
    expect(h.actor.getSnapshot().context.tmfQueue).toEqual([]);
    expect(h.actor.getSnapshot().matches({ loggedIn: { tmf: 'ready' } })).toBe(true);
  });
});

describe('loggedIn: Async Messages (§11.9.1)', () => {
  it('AsyncEvent 1: logs out within Parameter3, then relogs in after the Logout Response Time2Wait', async () => {
    const h = await loggedInSession({ timers: { logoutTimeoutMs: 15_000 } });
    h.watch.send({ type: 'conn.asyncLogout', within: 3 });
    await flush();
    expect(h.state()).toBe('recovering');
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    expect(h.actor.getSnapshot().context.reason.code).toBe('async-logout');
    expect(h.watch.drops()).toEqual([]); // the Logout needs the connection
    expect(h.logout.last.input).toEqual({ sessionKey: 'sess-1', purpose: 'recovery', timeoutMs: 3_000 });
    await h.advance(1_000);
    h.logout.last.resolve({ time2Wait: 4, time2Retain: 20 });
    await flush();
    await h.advance(3_999);
    expect(h.login.count).toBe(1);
    await h.advance(1);
    expect(h.login.count).toBe(2);
    expect(h.login.last.input).toMatchObject({ phase: 'reopen', attempt: 1 });
  });

  it('AsyncEvent 1: a Logout that gets no answer is given up after min(logout_timeout, Parameter3)', async () => {
    const h = await loggedInSession({ timers: { logoutTimeoutMs: 15_000, defaultTime2WaitMs: 2_000 } });
    h.watch.send({ type: 'conn.asyncLogout', within: 60 });
    await flush();
    const logout = h.logout.last;
    await h.advance(15_000);
    expect(logout.signal.aborted).toBe(true);
    await h.advance(1_999);
    expect(h.login.count).toBe(1);
    await h.advance(1);
    expect(h.login.count).toBe(2);
  });

  it('AsyncEvent 2: drops the connection and relogs in no sooner than Time2Wait', async () => {
    const h = await loggedInSession();
    h.watch.send({ type: 'conn.asyncDrop', time2Wait: 7, time2Retain: 20 });
    await flush();
    expect(h.watch.drops()).toEqual([{ type: 'watch.drop', reason: 'async-drop' }]);
    expect(h.state()).toBe('recovering');
    expect(h.actor.getSnapshot().context.reason.code).toBe('async-drop');
    expect(h.actor.getSnapshot().context.time2RetainMs).toBe(20_000);
    await h.advance(6_999);
    expect(h.login.count).toBe(1);
    await h.advance(1);
    expect(h.login.count).toBe(2);
  });

  it('AsyncEvent 3 with Time2Wait 0: relogin at once', async () => {
    const h = await loggedInSession();
    h.watch.send({ type: 'conn.asyncDrop', time2Wait: 0, time2Retain: 0 });
    await flush();
    expect(h.login.count).toBe(2);
  });

  it('AsyncEvent 4: parameter negotiation is done by dropping and relogging in after DefaultTime2Wait', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 2_000 } });
    h.watch.send({ type: 'conn.renegotiate' });
    await flush();
    expect(h.watch.drops()).toEqual([{ type: 'watch.drop', reason: 'renegotiate' }]);
    expect(h.actor.getSnapshot().context.reason.code).toBe('renegotiate');
    await h.advance(2_000);
    expect(h.login.count).toBe(2);
  });
});
