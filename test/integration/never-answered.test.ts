/**
 * Issue 16: a target that takes READs and never answers them (it answers logins, NOP-Outs and INQUIRY).
 * `mpiscsi dd` goes the statechart's way for each issue of the READ (command timeout, ABORT TASK, and when
 * the abort goes unanswered abort_timeout drops the connection and a relogin follows) and, after
 * --command-retries re-issues or (retries + 1) x the command timeout, exits with the command, how often it timed out and the limits in the message
 * (exit 8, iscsiadm's "connection timed out"). The fake target counts the issues; no wall-clock bound here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeTarget, isRead } from '../support/fake-target.js';
import { runCli } from '../support/cli.js';
import { Opcode, TmfFunction } from '../../src/iscsi/constants.js';

const IQN = 'iqn.2026-12.test:silent';
const fakes: FakeTarget[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function silentOnReads(tmf: 'answered' | 'ignored'): Promise<FakeTarget> {
  const fake = await FakeTarget.start({ targetName: IQN, defaultTime2Wait: 0 });
  fakes.push(fake);
  fake.script.command = (cmd) => (isRead(cmd) ? 'swallow' : undefined);
  if (tmf === 'ignored') fake.script.tmf = () => 'ignore';
  return fake;
}

function dd(fake: FakeTarget, commandTimeout: string, ...extra: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-silent-'));
  dirs.push(dir);
  return runCli('mpiscsi', [
    'dd',
    '-s',
    `iscsi://127.0.0.1:${fake.port}/${IQN}/0`,
    '-d',
    join(dir, 'out'),
    '--bs',
    '65536',
    '-m',
    '1',
    '-i',
    'iqn.2026-12.test:initiator',
    '--command-timeout',
    commandTimeout,
    '--command-retries',
    '2',
    ...extra,
  ]);
}

describe('a READ the target never answers', () => {
  it('is aborted and issued again, then mpiscsi dd fails with a message naming the command and the limits', async () => {
    const fake = await silentOnReads('answered');
    const r = await dd(fake, '0.3');
    expect(r.code, r.stderr).toBe(8);
    // Three issues (retries 2), or two when a slow machine's abort round trips reach the 0.9 s run-time limit first.
    const m =
      /READ\(10\) LBA 0, 128 blocks on LUN 0 of .* never completed: it timed out (\d) times \(command timeout 0\.3 s\) and was issued (\d) times in [\d.]+ s; giving up \(retries 2, run-time limit 0\.9 s\)/.exec(
        r.stderr,
      );
    expect(m, r.stderr).not.toBeNull();
    const issued = Number(m![2]);
    expect(Number(m![1])).toBe(issued);
    expect([2, 3]).toContain(issued);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    const reads = fake.pdus(Opcode.SCSI_COMMAND).filter((p) => isRead(p.pdu));
    expect(reads).toHaveLength(issued);
    const aborts = fake.pdus(Opcode.TASK_MGMT_REQUEST).filter((p) => p.pdu.function === TmfFunction.ABORT_TASK);
    expect(aborts.map((a) => a.pdu.referencedTaskTag)).toEqual(reads.map((p) => p.pdu.itt));
  });

  it('with the aborts unanswered too: abort_timeout drops the connection, each relogin issues it again, then dd fails', async () => {
    const fake = await silentOnReads('ignored');
    const r = await dd(fake, '0.5', '--set', 'node.session.err_timeo.abort_timeout=0.3');
    expect(r.code, r.stderr).toBe(8);
    // The first issue fails after ~0.8 s (0.5 + abort_timeout 0.3), inside the run-time limit (3 x 0.5 s); the
    // relogin waits DefaultTime2Wait (2 s), so the limit ends it at the second issue's failure.
    expect(r.stderr).toMatch(
      /READ\(10\) LBA 0, 128 blocks on LUN 0 .* never completed: it timed out 2 times .*; last: connection dropped: tmf-timeout/,
    );
    expect(r.stderr).toMatch(/connection lost \(tmf-timeout: abortTask got no response within 300 ms\)/);
    expect(fake.connections).toHaveLength(2);
    expect(fake.pdus(Opcode.SCSI_COMMAND).filter((p) => isRead(p.pdu))).toHaveLength(2);
  });
});
