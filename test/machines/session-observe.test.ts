/** Reading a session: gateOf, sessionStatus and the sessionEvents$ Observable of state changes. */
import { describe, expect, it } from 'vitest';
import { toArray } from 'rxjs';
import { createActor } from 'xstate';
import { gateOf, sessionEvents$, sessionMachine, sessionStatus, type SessionStatus } from '../../machines/session.machine.js';
import { flush, startSession } from './harness.js';

describe('sessionEvents$', () => {
  it('emits the current status, then each change of state or gate with its reason and time', async () => {
    const h = startSession({ timers: { replacementTimeoutMs: 10_000, defaultTime2WaitMs: 2_000 } });
    const seen: SessionStatus[] = [];
    let completed = false;
    const sub = sessionEvents$(h.actor).subscribe({ next: (s) => seen.push(s), complete: () => (completed = true) });
    await h.advance(100);
    h.actor.send({ type: 'cmd.login' });
    await h.advance(100);
    h.login.last.resolve({});
    await flush();
    await h.advance(1_000);
    h.watch.send({ type: 'conn.pduReceived' }); // no state change: nothing emitted
    h.watch.send({ type: 'conn.failed', reason: 'reset', error: new Error('ECONNRESET') });
    await flush();
    await h.advance(10_000);
    h.actor.send({ type: 'cmd.logout' });
    h.actor.stop();
    expect(completed).toBe(true);
    sub.unsubscribe();
    expect(seen.map((s) => [s.state, s.gate, s.reason.code, s.at])).toEqual([
      ['idle', 'closed', 'created', 0],
      ['loggingIn', 'closed', 'operator-login', 100],
      ['loggedIn', 'open', 'logged-in', 200],
      ['recovering', 'holding', 'reset', 1_200],
      ['recovering', 'failed', 'reset', 11_200],
      ['loggedOut', 'closed', 'operator-logout', 11_200],
    ]);
    expect(seen[3]!.reason.detail).toBe('ECONNRESET');
  });

  it('completes with the actor (rxjs operators see the whole history)', async () => {
    const h = startSession();
    const all = new Promise<SessionStatus[]>((resolve) => sessionEvents$(h.actor).pipe(toArray()).subscribe(resolve));
    h.actor.send({ type: 'cmd.login' });
    h.actor.stop();
    expect((await all).map((s) => s.state)).toEqual(['idle', 'loggingIn']);
  });
});

describe('gateOf / sessionStatus', () => {
  it('can be asked at any time', async () => {
    const h = startSession();
    expect(sessionStatus(h.actor.getSnapshot())).toEqual({
      state: 'idle',
      gate: 'closed',
      reason: { code: 'created', at: 0 },
      at: 0,
    });
    h.actor.send({ type: 'cmd.login' });
    h.login.last.resolve({});
    await flush();
    expect(gateOf(h.actor.getSnapshot())).toBe('open');
  });

  it('default actors are stubs that fail clearly when not provided', async () => {
    const actor = createActor(sessionMachine, { input: { sessionKey: 'x' } });
    actor.start();
    actor.send({ type: 'cmd.login' });
    await flush();
    // The stub login rejects ("not provided"): a retryable failure, so the loop goes on to its backoff.
    expect(actor.getSnapshot().context.lastError).toBeInstanceOf(Error);
    expect(String(actor.getSnapshot().context.lastError)).toContain("actor 'login' not provided");
    actor.stop();
  });
});
