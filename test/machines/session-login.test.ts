/** Session machine: idle, first login with retries (RFC 7143 §6.3), final failures, failed and restart. */
import { describe, expect, it } from 'vitest';
import { gateOf } from '../../machines/session.machine.js';
import { flush, loginError, startSession } from './harness.js';

describe('idle', () => {
  it('starts idle with the gate closed and waits for cmd.login', async () => {
    const h = startSession();
    expect(h.state()).toBe('idle');
    expect(gateOf(h.actor.getSnapshot())).toBe('closed');
    expect(h.actor.getSnapshot().context.reason).toEqual({ code: 'created', at: 0 });
    await h.advance(1_000_000);
    expect(h.login.count).toBe(0);
    h.actor.send({ type: 'cmd.logout' }); // nothing to log out of
    expect(h.state()).toBe('idle');
  });
});

describe('loggingIn', () => {
  it('logs in: the login actor gets attempt 1 and the timeouts; success opens the gate', async () => {
    const h = startSession({ timers: { loginTimeoutMs: 15_000, authTimeoutMs: 45_000 } });
    await h.advance(100);
    h.actor.send({ type: 'cmd.login' });
    expect(h.state()).toBe('loggingIn');
    expect(gateOf(h.actor.getSnapshot())).toBe('closed');
    expect(h.login.last.input).toEqual({
      sessionKey: 'sess-1',
      phase: 'initial',
      attempt: 1,
      loginTimeoutMs: 15_000,
      authTimeoutMs: 45_000,
    });
    await h.advance(400);
    h.login.last.resolve({ defaultTime2Wait: 2 });
    await flush();
    expect(h.state()).toBe('loggedIn');
    expect(gateOf(h.actor.getSnapshot())).toBe('open');
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: 'logged-in', at: 500 });
    expect(h.actor.getSnapshot().context.since).toBe(500);
    expect(h.watch.running).toBe(true);
    h.actor.send({ type: 'cmd.login' }); // already logged in: ignored (the runtime answers SESS_EXISTS)
    expect(h.login.count).toBe(1);
  });

  it('retries after backoff with jitter until initial_login_retry_max attempts, then fails', async () => {
    const h = startSession({ timers: { initialLoginRetryMax: 3, backoffBaseMs: 250 }, random: () => 0.5 });
    h.actor.send({ type: 'cmd.login' });
    h.login.last.reject(loginError('target error', 'target', false));
    await flush();
    // 1st backoff: ceiling 250, jitter 0.5 -> 187.5 ms
    await h.advance(187);
    expect(h.login.count).toBe(1);
    await h.advance(0.5);
    expect(h.login.count).toBe(2);
    expect(h.login.last.input.attempt).toBe(2);
    h.login.last.reject(loginError('target error', 'target', false));
    await flush();
    // 2nd backoff: ceiling 500 -> 375 ms
    await h.advance(374);
    expect(h.login.count).toBe(2);
    await h.advance(1);
    expect(h.login.count).toBe(3);
    h.login.last.reject(loginError('out of resources', 'target', false));
    await flush();
    expect(h.state()).toBe('failed');
    expect(gateOf(h.actor.getSnapshot())).toBe('failed');
    const reason = h.actor.getSnapshot().context.reason;
    expect(reason.code).toBe('login-retries-exhausted');
    expect(reason.detail).toContain('3 attempts');
    expect(reason.detail).toContain('out of resources');
    await h.advance(1_000_000);
    expect(h.login.count).toBe(3);
  });

  it('initial_login_retry_max 0 still makes one attempt', async () => {
    const h = startSession({ timers: { initialLoginRetryMax: 0 } });
    h.actor.send({ type: 'cmd.login' });
    h.login.last.reject(new Error('connection refused'));
    await flush();
    expect(h.state()).toBe('failed');
    expect(h.login.count).toBe(1);
  });

  it('bounds each attempt by login_timeout: the hung actor is stopped (signal aborted) and retried', async () => {
    const h = startSession({ timers: { loginTimeoutMs: 15_000, initialLoginRetryMax: 2 }, random: () => 0 });
    h.actor.send({ type: 'cmd.login' });
    const first = h.login.last;
    await h.advance(14_999);
    expect(first.signal.aborted).toBe(false);
    await h.advance(1);
    expect(first.signal.aborted).toBe(true);
    expect(h.state()).toBe('loggingIn');
    await h.advance(125); // backoff: ceiling 250, jitter 0 -> 125 ms
    expect(h.login.count).toBe(2);
    await h.advance(15_000);
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().context.reason.detail).toContain('login timed out after 15000 ms');
  });

  it('an authentication failure fails at once, without retrying', async () => {
    const h = startSession({ timers: { initialLoginRetryMax: 8 } });
    h.actor.send({ type: 'cmd.login' });
    await h.advance(10);
    h.login.last.reject(loginError('login failed: authentication failure (status class 2, detail 1)', 'authentication', true));
    await flush();
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: 'auth-failed', at: 10 });
    await h.advance(1_000_000);
    expect(h.login.count).toBe(1);
  });

  it('another status class 2 (target not found) fails at once as login-rejected', async () => {
    const h = startSession();
    h.actor.send({ type: 'cmd.login' });
    h.login.last.reject(loginError('target not found', 'not-found', true));
    await flush();
    expect(h.actor.getSnapshot().context.reason.code).toBe('login-rejected');
    expect(h.login.count).toBe(1);
  });
});

describe('failed', () => {
  it('holds the reason until cmd.login or cmd.reset starts a new login loop', async () => {
    const h = startSession();
    h.actor.send({ type: 'cmd.login' });
    h.login.last.reject(loginError('auth', 'authentication', true));
    await flush();
    expect(h.state()).toBe('failed');
    expect(h.failHeldCount()).toBe(1);
    await h.advance(5_000);
    expect(h.actor.getSnapshot().context.reason.code).toBe('auth-failed');

    h.actor.send({ type: 'cmd.reset' });
    expect(h.state()).toBe('loggingIn');
    expect(h.actor.getSnapshot().context.reason.code).toBe('operator-reset');
    expect(h.login.last.input.attempt).toBe(1);
    h.login.last.reject(loginError('auth', 'authentication', true));
    await flush();

    h.actor.send({ type: 'cmd.login' });
    expect(h.actor.getSnapshot().context.reason.code).toBe('operator-login');
    h.login.last.resolve({});
    await flush();
    expect(h.state()).toBe('loggedIn');
  });
});
