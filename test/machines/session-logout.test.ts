/** Session machine: Logout (§11.14) from every state, bounded by logout_timeout; it always works (#513, #228). */
import { describe, expect, it } from 'vitest';
import { gateOf } from '../../machines/session.machine.js';
import { flush, loggedInSession, loginError, startSession } from './harness.js';

describe('loggingOut / loggedOut', () => {
  it('from loggedIn: Logout exchange, then loggedOut with held commands failed', async () => {
    const h = await loggedInSession({ timers: { logoutTimeoutMs: 15_000 } });
    h.actor.send({ type: 'cmd.logout' });
    expect(h.state()).toBe('loggingOut');
    expect(gateOf(h.actor.getSnapshot())).toBe('closed');
    expect(h.watch.running).toBe(false); // unsubscribed; the logout actor uses the connection
    expect(h.watch.drops()).toEqual([]);
    expect(h.logout.last.input).toEqual({ sessionKey: 'sess-1', purpose: 'close-session', timeoutMs: 15_000 });
    await h.advance(300);
    h.logout.last.resolve({});
    await flush();
    expect(h.state()).toBe('loggedOut');
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: 'operator-logout', at: 0 });
    expect(h.actor.getSnapshot().context.since).toBe(300);
    expect(h.failHeldCount()).toBe(1);
    h.actor.send({ type: 'cmd.logout' });
    expect(h.state()).toBe('loggedOut');
    h.actor.send({ type: 'cmd.login' });
    expect(h.state()).toBe('loggingIn');
  });

  it('a Logout without answer is given up after logout_timeout; the session is logged out anyway', async () => {
    const h = await loggedInSession({ timers: { logoutTimeoutMs: 15_000 } });
    h.actor.send({ type: 'cmd.logout' });
    const logout = h.logout.last;
    h.actor.send({ type: 'cmd.logout' }); // a second request while logging out changes nothing
    expect(h.logout.count).toBe(1);
    await h.advance(14_999);
    expect(h.state()).toBe('loggingOut');
    await h.advance(1);
    expect(h.state()).toBe('loggedOut');
    expect(logout.signal.aborted).toBe(true);
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: 'logout-failed', detail: 'logout timed out' });
  });

  it('a failed Logout still ends logged out', async () => {
    const h = await loggedInSession();
    h.actor.send({ type: 'cmd.logout' });
    h.logout.last.reject(new Error('connection reset'));
    await flush();
    expect(h.state()).toBe('loggedOut');
    expect(h.actor.getSnapshot().context.reason.code).toBe('logout-failed');
  });

  it('during recovery (waiting for Time2Wait or backoff): returns at once, stops the loop, fails held commands', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 2_000, replacementTimeoutMs: 120_000 } });
    h.watch.send({ type: 'conn.failed', reason: 'closed' });
    await flush();
    await h.advance(500);
    h.actor.send({ type: 'cmd.logout' });
    expect(h.state()).toBe('loggedOut');
    expect(h.logout.count).toBe(0); // no connection to log out on
    expect(h.failHeldCount()).toBe(1);
    await h.advance(1_000_000);
    expect(h.login.count).toBe(1);
    expect(h.failHeldCount()).toBe(1);
  });

  it('during a relogin attempt: the attempt is stopped (its connection closed by the runtime)', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0 } });
    h.watch.send({ type: 'conn.failed', reason: 'reset' });
    await flush();
    const attempt = h.login.last;
    h.actor.send({ type: 'cmd.logout' });
    expect(h.state()).toBe('loggedOut');
    expect(attempt.signal.aborted).toBe(true);
    expect(h.failHeldCount()).toBe(1);
  });

  it('during the identity check (a live connection): logs out on it', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0 } });
    h.watch.send({ type: 'conn.failed', reason: 'reset' });
    await flush();
    h.login.last.resolve({});
    await flush();
    h.actor.send({ type: 'cmd.logout' });
    expect(h.state()).toBe('loggingOut');
    expect(h.failHeldCount()).toBe(1);
    h.logout.last.resolve({});
    await flush();
    expect(h.state()).toBe('loggedOut');
  });

  it('during the first login: the attempt is stopped', async () => {
    const h = startSession();
    h.actor.send({ type: 'cmd.login' });
    const attempt = h.login.last;
    h.actor.send({ type: 'cmd.logout' });
    expect(h.state()).toBe('loggedOut');
    expect(attempt.signal.aborted).toBe(true);
    await h.advance(1_000_000);
    expect(h.login.count).toBe(1);
  });

  it('from failed: loggedOut', async () => {
    const h = startSession();
    h.actor.send({ type: 'cmd.login' });
    h.login.last.reject(loginError('auth', 'authentication', true));
    await flush();
    h.actor.send({ type: 'cmd.logout' });
    expect(h.state()).toBe('loggedOut');
  });
});
