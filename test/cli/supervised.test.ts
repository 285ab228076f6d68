/**
 * The one-shot tools' session settings (`--set` over open-iscsi's defaults, one first-login attempt unless
 * set, multipath settings refused) and the exit codes of a session that gave up (iscsiadm's codes).
 */
import { describe, expect, it } from 'vitest';
import { toolSettings, ToolUsageError } from '../../src/cli/supervised.js';
import { DEFAULT_SESSION_TIMERS } from '../../machines/timers.js';
import { IdentityChangedError } from '../../machines/session.machine.js';
import { ReplacementTimeoutError, TransportError } from '../../src/iscsi/errors.js';
import { ExitCode, exitCodeFor } from '../../src/control/exit-codes.js';

describe('toolSettings', () => {
  it("takes open-iscsi's timers, but one first-login attempt and --login-timeout", () => {
    const s = toolSettings({ loginTimeout: 3 }, 'dd');
    expect(s.timers).toEqual({ ...DEFAULT_SESSION_TIMERS, initialLoginRetryMax: 1, loginTimeoutMs: 3000 });
    expect(s.timers.replacementTimeoutMs).toBe(120_000);
  });

  it('lets --set win: timers, initial_login_retry_max, login_timeout over --login-timeout, iSCSI keys, cmds_max', () => {
    const s = toolSettings(
      {
        loginTimeout: 15,
        set: [
          'node.session.timeo.replacement_timeout=0.5',
          'node.session.initial_login_retry_max=8',
          'node.conn[0].timeo.login_timeout=2',
          'node.conn[0].iscsi.HeaderDigest=CRC32C',
          'node.session.cmds_max=64',
        ],
      },
      'dd',
    );
    expect(s.timers.replacementTimeoutMs).toBe(500);
    expect(s.timers.initialLoginRetryMax).toBe(8);
    expect(s.timers.loginTimeoutMs).toBe(2000);
    expect(s.wishes.headerDigest).toEqual(['CRC32C']);
    expect(s.cmdsMax).toBe(64);
  });

  it('refuses multipath settings and bad values as usage errors (exit 7)', () => {
    expect(() => toolSettings({ set: ['no_path_retry=queue'] }, 'dd')).toThrow(
      /no_path_retry is a multipath setting; mpiscsi dd runs one session/,
    );
    for (const set of [['fast_io_fail_tmo=5'], ['node.session.timeo.replacement_timeout=soon'], ['node.nope=1'], ['novalue']]) {
      let err: unknown;
      try {
        toolSettings({ set }, 'perf');
      } catch (e) {
        err = e;
      }
      expect(err, set[0]).toBeInstanceOf(RangeError);
      expect(exitCodeFor(err)).toBe(ExitCode.INVAL);
    }
    expect(() => toolSettings({ loginTimeout: Number.NaN }, 'inq')).toThrow(ToolUsageError);
  });
});

describe('exit codes of a session that gave up', () => {
  it('maps a changed LU identity to FATAL_LOGIN and an expired replacement_timeout to TRANS_TIMEOUT', () => {
    expect(exitCodeFor(new IdentityChangedError('LUN 1 changed identity'))).toBe(ExitCode.FATAL_LOGIN);
    expect(exitCodeFor(new ReplacementTimeoutError('replacement_timeout expired'))).toBe(ExitCode.TRANS_TIMEOUT);
    expect(exitCodeFor(new TransportError('connection closed by peer'))).toBe(ExitCode.TRANS);
  });
});
