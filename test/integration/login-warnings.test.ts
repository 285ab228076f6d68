/**
 * Issue 16: every negotiation warning reaches the user. A target that answers MaxBurstLength=Reject and adds
 * a key of its own whose value holds a newline to its final response: `mpiscsi readcap` prints both warnings
 * on stderr, mpiscsid logs them and its login span carries them as iscsi.login.warning events. The target's
 * newline is escaped everywhere: it never starts a line of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeTarget } from '../support/fake-target.js';
import { runCli } from '../support/cli.js';
import { DaemonProcess } from '../support/daemon.js';
import { NatsServer } from '../support/nats-server.js';
import { parseSpanLines } from '../../src/cli/trace-summary.js';

const IQN = 'iqn.2026-12.test:warnings';
const INITIATOR = 'iqn.2026-12.test:initiator';
const FORGED = 'mpiscsi: forged line';
const REJECTED = 'target answered MaxBurstLength=Reject; using the default MaxBurstLength=262144';
const ESCAPED = `X-com.example.extra=v\\n${FORGED}`;

let fake: FakeTarget;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-warnings-'));
  fake = await FakeTarget.start({
    targetName: IQN,
    defaultTime2Wait: 0,
    login: { answerOverrides: { MaxBurstLength: 'Reject' }, finalExtra: [['X-com.example.extra', `v\n${FORGED}`]] },
  });
});

afterAll(async () => {
  await fake?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const noForgedLine = (text: string) => expect(text.split('\n').some((l) => l.startsWith(FORGED))).toBe(false);

describe('login warnings', () => {
  it('a tool prints each on stderr, once, as one line', async () => {
    const r = await runCli('mpiscsi', ['readcap', '-i', INITIATOR, `iscsi://127.0.0.1:${fake.port}/${IQN}/0`]);
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('login warning: '));
    // The extra key gives two: it is unknown, and it came in the final response (ignored).
    expect(warnings, r.stderr).toHaveLength(3);
    expect(warnings.some((l) => l.endsWith(REJECTED))).toBe(true);
    expect(warnings.some((l) => l.includes(ESCAPED))).toBe(true);
    noForgedLine(r.stderr);
  });

  it('mpiscsid logs them and its login span carries them as events', async () => {
    const nats = await NatsServer.start({ jetstream: false });
    const db = join(dir, 'db');
    const env = { MPISCSI_NATS_URL: nats.url, MPISCSI_HOST_ID: 'warnhost' };
    try {
      let r = await runCli('mpiscsiadm', ['--db', db, '-m', 'node', '-o', 'new', '-T', IQN, '-p', `127.0.0.1:${fake.port}`], env);
      expect(r.code, r.stderr).toBe(0);
      r = await runCli('mpiscsiadm', ['--db', db, '-m', 'node', '-T', IQN, '-o', 'update', '-n', 'node.startup', '-v', 'automatic'], env);
      expect(r.code, r.stderr).toBe(0);
      const d = await DaemonProcess.start({ db, dir, nats: nats.url, hostId: 'warnhost', extra: ['--initiator-name', INITIATOR] });
      expect(await d.stop()).toBe(0);
      const logged = d.lines.filter((l) => /sid \d+: login to .*: warning: /.test(l));
      expect(
        logged.some((l) => l.endsWith(REJECTED)),
        d.lines.join('\n'),
      ).toBe(true);
      expect(logged.some((l) => l.includes(ESCAPED))).toBe(true);
      noForgedLine(d.lines.join('\n'));

      const logins = parseSpanLines(readFileSync(d.traceFile, 'utf8')).filter((s) => s.name === 'iscsi.login');
      expect(logins.length).toBeGreaterThan(0);
      const events = logins.flatMap((s) => s.events.filter((e) => e.name === 'iscsi.login.warning'));
      expect(events.map((e) => e.attributes['iscsi.login.warning.message'])).toContain(REJECTED);
      expect(events.some((e) => String(e.attributes['iscsi.login.warning.message']).includes(ESCAPED))).toBe(true);
    } finally {
      await nats.stop();
    }
  });
});
