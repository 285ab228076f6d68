/**
 * Session machine recovering: replacement_timeout, Time2Wait, the reopen loop with backoff, jitter, cap and
 * reopen_max, reinstatement (§6.3.5), the identity check, and final failures.
 */
import { describe, expect, it } from 'vitest';
import { gateOf } from '../../machines/session.machine.js';
import { flush, loggedInSession, loginError, type Harness } from './harness.js';

async function connectionReset(h: Harness): Promise<void> {
  h.watch.send({ type: 'conn.failed', reason: 'reset', error: new Error('ECONNRESET') });
  await flush();
}

describe('recovering: replacement_timeout', () => {
  it('positive: holds commands until it expires, then fails them once while relogin goes on', async () => {
    const h = await loggedInSession({ timers: { replacementTimeoutMs: 10_000, defaultTime2WaitMs: 2_000, loginTimeoutMs: 15_000 } });
    await h.advance(1_000);
    await connectionReset(h);
    expect(h.actor.getSnapshot().context.recoveryStartedAt).toBe(1_000);
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    await h.advance(9_999);
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    expect(h.failHeldCount()).toBe(0);
    await h.advance(1); // t = 11000
    expect(h.state()).toBe('recovering');
    expect(gateOf(h.actor.getSnapshot())).toBe('failed');
    expect(h.failHeldCount()).toBe(1);
    expect(h.emitted.find((e) => e.type === 'session.failHeld')).toEqual({ type: 'session.failHeld', reason: 'reset' });
    expect(h.actor.getSnapshot().context.since).toBe(11_000);
    // Relogin continues (attempt 1 started at 3000 is still pending); success re-opens the gate.
    expect(h.login.count).toBe(2);
    h.login.last.resolve({});
    await flush();
    h.identity.last.resolve(undefined);
    await flush();
    expect(h.state()).toBe('loggedIn');
    expect(gateOf(h.actor.getSnapshot())).toBe('open');
    expect(h.failHeldCount()).toBe(1);
  });

  it('0: fails held commands at once', async () => {
    const h = await loggedInSession({ timers: { replacementTimeoutMs: 0 } });
    await connectionReset(h);
    expect(h.state()).toBe('recovering');
    expect(gateOf(h.actor.getSnapshot())).toBe('failed');
    expect(h.failHeldCount()).toBe(1);
  });

  it('negative: holds forever while relogin keeps trying', async () => {
    const h = await loggedInSession({ timers: { replacementTimeoutMs: -1, backoffCapMs: 30_000 } });
    h.login.auto = () => {
      throw new Error('connection refused');
    };
    await connectionReset(h);
    for (let i = 0; i < 240; i++) await h.advance(15_000); // one hour
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    expect(h.failHeldCount()).toBe(0);
    expect(h.login.count).toBeGreaterThan(100);
  });
});

describe('recovering: reopen loop', () => {
  it('first attempt after DefaultTime2Wait, as a reinstatement (phase reopen)', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 2_000 } });
    await connectionReset(h);
    await h.advance(1_999);
    expect(h.login.count).toBe(1);
    await h.advance(1);
    expect(h.login.count).toBe(2);
    expect(h.login.last.input).toEqual({
      sessionKey: 'sess-1',
      phase: 'reopen',
      attempt: 1,
      loginTimeoutMs: 15_000,
      authTimeoutMs: 45_000,
    });
  });

  it('uses the DefaultTime2Wait the last login negotiated', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 2_000 } });
    // Log in again to negotiate another value: reset, reopen, success.
    await connectionReset(h);
    await h.advance(2_000);
    h.login.last.resolve({ defaultTime2Wait: 5 });
    await flush();
    h.identity.last.resolve(undefined);
    await flush();
    await connectionReset(h);
    await h.advance(4_999);
    expect(h.login.count).toBe(2);
    await h.advance(1);
    expect(h.login.count).toBe(3);
  });

  it('backs off exponentially with jitter between failed attempts, up to the cap', async () => {
    const jitter = [0, 1, 0.5, 0, 0.999];
    let i = 0;
    const h = await loggedInSession({
      timers: { defaultTime2WaitMs: 2_000, backoffBaseMs: 250, backoffCapMs: 1_000, noopOutIntervalMs: 0 },
      random: () => jitter[i++ % jitter.length]!,
    });
    await connectionReset(h);
    await h.advance(2_000);
    const expected = [
      125, // ceiling 250, jitter 0
      500, // ceiling 500, jitter 1
      750, // ceiling 1000, jitter 0.5
      500, // ceiling capped at 1000, jitter 0
      999.5, // ceiling 1000, jitter 0.999
    ];
    for (const [n, delay] of expected.entries()) {
      expect(h.login.count).toBe(n + 2);
      h.login.last.reject(new Error('connection refused'));
      await flush();
      expect(h.actor.getSnapshot().context.backoffMs).toBe(delay);
      await h.advance(delay - 0.5);
      expect(h.login.count).toBe(n + 2);
      await h.advance(0.5);
    }
    expect(h.login.last.input.attempt).toBe(6);
  });

  it('a hung attempt is bounded by login_timeout', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0, loginTimeoutMs: 10_000 }, random: () => 0 });
    await connectionReset(h);
    const attempt = h.login.last;
    expect(attempt.input.phase).toBe('reopen');
    await h.advance(10_000);
    expect(attempt.signal.aborted).toBe(true);
    await h.advance(125);
    expect(h.login.last.input.attempt).toBe(2);
  });

  it('reopen_max attempts, then failed (and held commands fail)', async () => {
    const h = await loggedInSession({ timers: { reopenMax: 3, replacementTimeoutMs: -1, defaultTime2WaitMs: 0 }, random: () => 1 });
    await connectionReset(h);
    h.login.last.reject(new Error('refused'));
    await flush();
    await h.advance(250);
    h.login.last.reject(new Error('refused'));
    await flush();
    await h.advance(500);
    expect(h.state()).toBe('recovering');
    h.login.last.reject(new Error('refused'));
    await flush();
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: 'reopen-exhausted' });
    expect(h.actor.getSnapshot().context.reason.detail).toContain('3 attempts');
    expect(h.failHeldCount()).toBe(1);
    await h.advance(1_000_000);
    expect(h.login.count).toBe(4);
  });

  it('reopen_max 0 retries forever', async () => {
    const h = await loggedInSession({ timers: { reopenMax: 0, defaultTime2WaitMs: 0, backoffCapMs: 1_000 } });
    h.login.auto = () => {
      throw new Error('refused');
    };
    await connectionReset(h);
    for (let k = 0; k < 100; k++) await h.advance(1_000);
    expect(h.state()).toBe('recovering');
    expect(h.login.count).toBeGreaterThan(90);
  });

  it('an authentication failure during reopen fails at once', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0 } });
    await connectionReset(h);
    h.login.last.reject(loginError('authentication failure', 'authentication', true));
    await flush();
    expect(h.state()).toBe('failed');
    expect(h.actor.getSnapshot().context.reason.code).toBe('auth-failed');
    expect(h.failHeldCount()).toBe(1);
    await h.advance(1_000_000);
    expect(h.login.count).toBe(2);
  });
});

describe('recovering: a target that is still coming back', () => {
  it('keeps retrying a reopen the target rejects as "not found" (class 2 but not authentication)', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0, backoffBaseMs: 100, backoffCapMs: 100, reopenMax: 0 } });
    await connectionReset(h);
    h.login.last.reject(loginError('target not found', 'not-found', true));
    await flush();
    expect(h.state()).toBe('recovering');
    expect(gateOf(h.actor.getSnapshot())).toBe('holding');
    await h.advance(100);
    expect(h.login.count).toBe(3);
    h.login.last.resolve({});
    await flush();
    h.identity.last.resolve(undefined);
    await flush();
    expect(h.state()).toBe('loggedIn');
  });
});

describe('recovering: identity check', () => {
  it('same identity: back to loggedIn, held commands re-issued, a new connection watched', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0 } });
    await connectionReset(h);
    h.login.last.resolve({});
    await flush();
    expect(h.actor.getSnapshot().matches({ recovering: { reopen: 'checkingIdentity' } })).toBe(true);
    expect(h.identity.last.input).toEqual({ sessionKey: 'sess-1' });
    expect(h.reissueCount()).toBe(0);
    h.identity.last.resolve(undefined);
    await flush();
    expect(h.state()).toBe('loggedIn');
    expect(h.actor.getSnapshot().context.reason.code).toBe('relogged-in');
    expect(h.reissueCount()).toBe(1);
    expect(h.watch.started).toBe(2);
    expect(h.watch.running).toBe(true);
  });

  it('identity changed: failed with the reason, not used again until an operator acts', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0 } });
    await connectionReset(h);
    h.login.last.resolve({});
    await flush();
    h.identity.last.reject(Object.assign(new Error('WWID changed: naa.1 -> naa.2'), { name: 'IdentityChangedError' }));
    await flush();
    expect(h.state()).toBe('failed');
    expect(gateOf(h.actor.getSnapshot())).toBe('failed');
    expect(h.actor.getSnapshot().context.reason).toMatchObject({ code: 'identity-changed', detail: 'WWID changed: naa.1 -> naa.2' });
    expect(h.failHeldCount()).toBe(1);
    expect(h.reissueCount()).toBe(0);
    await h.advance(1_000_000);
    expect(h.login.count).toBe(2);
    h.actor.send({ type: 'cmd.reset' });
    expect(h.state()).toBe('loggingIn');
    expect(h.login.last.input.phase).toBe('initial');
  });

  it('another error while checking counts as a failed attempt', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0 }, random: () => 0 });
    await connectionReset(h);
    h.login.last.resolve({});
    await flush();
    h.identity.last.reject(new Error('connection reset during INQUIRY'));
    await flush();
    expect(h.actor.getSnapshot().matches({ recovering: { reopen: 'backoff' } })).toBe(true);
    await h.advance(125);
    expect(h.login.last.input.attempt).toBe(2);
  });

  it('a hung identity check is bounded by login_timeout', async () => {
    const h = await loggedInSession({ timers: { defaultTime2WaitMs: 0, loginTimeoutMs: 5_000 } });
    await connectionReset(h);
    h.login.last.resolve({});
    await flush();
    const check = h.identity.last;
    await h.advance(5_000);
    expect(check.signal.aborted).toBe(true);
    expect(h.actor.getSnapshot().matches({ recovering: { reopen: 'backoff' } })).toBe(true);
  });
});
