/**
 * One supervised session per iscsi:// URL for the one-shot tools (dd, perf, inq, readcap, ls -s): the
 * ManagedSession the daemon runs (machines/session.machine.ts), so that a target restart or a connection
 * reset costs a stall, not an error or a wrong byte. Commands are held while it relogs in (up to
 * replacement_timeout), the LU identity (VPD 0x83 WWID, VPD 0x80 serial) is checked after every relogin, and
 * only then are they re-issued. Timers and iSCSI keys: open-iscsi's defaults, `--set KEY=VALUE` as serve.
 */
import type { Subscription } from 'rxjs';
import { IdentityChangedError, reasonText } from '../../machines/session.machine.js';
import { TIMER_RECORD_KEYS, TimerConfigError, timersFromNodeRecord, type SessionTimers } from '../../machines/timers.js';
import { LoginError, ReplacementTimeoutError, TransportError } from '../iscsi/errors.js';
import type { SessionWishes } from '../iscsi/negotiation.js';
import { ManagedSession } from '../session/managed-session.js';
import { sayLoginWarnings } from '../session/login-warnings.js';
import type { IscsiUrl } from '../session/url.js';
import { MULTIPATH_SETTING_KEYS } from '../multipath/index.js';
import { urlSessionOptions, type CommonOptions } from './connect.js';
import { parseSettings } from './serve.js';
import { debugLog, watchSession } from './verbose.js';

export interface ToolOptions extends CommonOptions {
  /** `--set KEY=VALUE`: node record keys (timers, iSCSI keys, node.session.cmds_max), as `mpiscsi serve` takes them. */
  set?: string[];
  /** `--command-timeout`: seconds a command may be outstanding before the abort/reset escalation (default 30). */
  commandTimeout?: number;
  /** `--command-retries`: times a command that did not complete is issued again (default 5). */
  commandRetries?: number;
}

/** A bad `--set` or flag value: iscsiadm's INVAL exit code (7), like other RangeErrors. */
export class ToolUsageError extends RangeError {
  override readonly name = 'ToolUsageError';
}

export interface ToolSettings {
  timers: SessionTimers;
  commandTimeoutMs: number;
  maxRetries: number;
  wishes: Partial<SessionWishes>;
  cmdsMax?: number;
}

/**
 * The session settings of a one-shot tool: `--set` node record keys over open-iscsi's defaults, and
 * `--login-timeout` unless login_timeout is --set. Multipath settings are refused: the tool runs one session.
 * initial_login_retry_max is 1 unless --set: a tool whose first login fails says so at once (open-iscsi's 8
 * attempts suit a daemon logging in at boot, not a command a user waits on).
 */
export function toolSettings(opts: ToolOptions, tool: string): ToolSettings {
  const sets = opts.set ?? [];
  for (const s of sets) {
    const key = s.slice(0, Math.max(0, s.indexOf('='))).trim();
    if ((MULTIPATH_SETTING_KEYS as readonly string[]).includes(key))
      throw new ToolUsageError(
        `--set ${s}: ${key} is a multipath setting; mpiscsi ${tool} runs one session, not a multipath device (mpiscsi serve takes it)`,
      );
  }
  if (opts.loginTimeout !== undefined && !Number.isFinite(opts.loginTimeout))
    throw new ToolUsageError('--login-timeout: expected a number of seconds');
  if (opts.commandTimeout !== undefined && !(Number.isFinite(opts.commandTimeout) && opts.commandTimeout > 0))
    throw new ToolUsageError('--command-timeout: expected a positive number of seconds');
  if (
    opts.commandRetries !== undefined &&
    !(Number.isInteger(opts.commandRetries) && opts.commandRetries >= 0 && opts.commandRetries <= 100)
  )
    throw new ToolUsageError('--command-retries: expected an integer from 0 to 100');
  try {
    const parsed = parseSettings(sets);
    const record = { ...parsed.record };
    if (opts.loginTimeout !== undefined) record[TIMER_RECORD_KEYS.loginTimeoutMs] ??= String(opts.loginTimeout);
    const once = record[TIMER_RECORD_KEYS.initialLoginRetryMax] === undefined ? { initialLoginRetryMax: 1 } : {};
    return {
      timers: timersFromNodeRecord(record, once),
      wishes: parsed.wishes,
      cmdsMax: parsed.cmdsMax,
      commandTimeoutMs: (opts.commandTimeout ?? 30) * 1000,
      maxRetries: opts.commandRetries ?? 5,
    };
  } catch (err) {
    // A timer value parseSettings let through to its own check (TimerConfigError names the key): a usage error too.
    if (err instanceof TimerConfigError) throw new ToolUsageError(`--set ${err.message}`);
    throw err;
  }
}

const seconds = (ms: number): string => (ms < 0 ? 'forever' : `${+(ms / 1000).toFixed(3)} s`);

/** A logged-in supervised session of one tool run; close() logs out and stops it. */
export class ToolSession {
  private report: Subscription | undefined;
  private warnings: Subscription | undefined;
  private debug: Subscription | undefined;
  /**
   * The session's timers run on the shared TickClock, whose timers do not keep the process alive (the
   * daemon has its sockets for that). A tool waiting out Time2Wait or a backoff with its connection gone
   * has nothing else, and Node would exit with 0 in the middle of a copy: this handle keeps it alive.
   */
  private readonly alive = setInterval(() => {}, 1 << 30);

  private constructor(
    readonly ms: ManagedSession,
    readonly timers: SessionTimers,
  ) {}

  /**
   * Logs in to the URL's target; `luns` are checked after every relogin (default: every LUN it reports).
   * Rejects as the first login failed (LoginError, TransportError...), with nothing left running.
   */
  static async open(
    url: IscsiUrl,
    opts: ToolOptions,
    how: { tool: string; luns?: number[]; log?: (line: string) => void },
  ): Promise<ToolSession> {
    if (!url.targetName) throw new RangeError('the URL names no target: iscsi://host[:port]/TARGET_IQN/LUN');
    const settings = toolSettings(opts, how.tool);
    const { loginTimeoutMs: _fromTimers, ...base } = urlSessionOptions(url, opts);
    const ms = new ManagedSession({
      ...base,
      targetName: url.targetName,
      wishes: { ...base.wishes, ...settings.wishes },
      cmdsMax: settings.cmdsMax,
      timers: settings.timers,
      commandTimeoutMs: settings.commandTimeoutMs,
      maxRetries: settings.maxRetries,
      luns: how.luns,
    });
    const s = new ToolSession(ms, settings.timers);
    const log = how.log ?? ((line: string) => process.stderr.write(`mpiscsi: ${line}\n`));
    s.warnings = sayLoginWarnings(ms, (w) => log(`${ms.key}: login warning: ${w}`));
    s.debug = watchSession(ms, opts.verbose ?? 0, debugLog(opts.verbose ?? 0));
    try {
      await ms.login();
    } catch (err) {
      s.warnings.unsubscribe();
      s.debug?.unsubscribe();
      ms.stop();
      clearInterval(s.alive);
      throw err;
    }
    s.report = reportRecovery(ms, settings.timers, log);
    return s;
  }

  /**
   * Why the session stopped carrying commands, if it did, as the error to report (its class gives the exit
   * code): the LU changed identity, a relogin was refused, reopen_max was reached, or replacement_timeout
   * expired while relogging in. Undefined while the session works or holds commands.
   */
  stopReason(): Error | undefined {
    const st = this.ms.status;
    const key = this.ms.key;
    const error = st.reason.error;
    if (st.state === 'failed') {
      switch (st.reason.code) {
        case 'identity-changed':
          return error instanceof Error ? error : new IdentityChangedError(`${key}: ${reasonText(st)}`);
        case 'auth-failed':
        case 'login-rejected':
          if (error instanceof LoginError)
            return new LoginError(`relogin to ${key} refused: ${error.message}`, error.kind, error.statusClass, error.statusDetail, {
              cause: error,
            });
          break;
        case 'reopen-exhausted':
          return new TransportError(
            `session ${key} stopped relogging in (node.session.reopen_max ${this.timers.reopenMax}): ${reasonText(st)}`,
            { cause: error },
          );
      }
      return new TransportError(`session ${key} failed (${reasonText(st)})`, { cause: error });
    }
    if (st.state === 'recovering' && st.gate === 'failed') {
      const last = this.ms.actor.getSnapshot().context.lastError;
      return new ReplacementTimeoutError(
        `${key}: connection lost (${reasonText(st)}) and not back within node.session.timeo.replacement_timeout ` +
          `(${seconds(this.timers.replacementTimeoutMs)})${last instanceof Error ? `; last relogin attempt: ${last.message}` : ''}`,
        { cause: error },
      );
    }
    return undefined;
  }

  /** Logs out (from any state) and stops the session. */
  async close(): Promise<void> {
    this.report?.unsubscribe();
    this.warnings?.unsubscribe();
    await this.ms.logout().catch(() => {});
    this.debug?.unsubscribe();
    this.ms.stop();
    clearInterval(this.alive);
  }
}

/**
 * Runs `fn` on a supervised session of the URL, then logs out. A failure while the session had stopped for
 * good is reported as why it stopped (the identity change, the expired timer) rather than as the
 * TransportError each held command got; so is a run that ended while it had.
 */
export async function withManagedSession<T>(
  url: IscsiUrl,
  opts: ToolOptions,
  tool: string,
  fn: (ms: ManagedSession) => Promise<T>,
  luns?: number[],
): Promise<T> {
  const s = await ToolSession.open(url, opts, { tool, luns });
  try {
    const result = await fn(s.ms);
    const stopped = s.stopReason();
    if (stopped) throw stopped;
    return result;
  } catch (err) {
    throw s.stopReason() ?? err;
  } finally {
    await s.close();
  }
}

/** A line on each outage: connection lost (I/O held), back (identity checked, I/O resumed), given up. */
function reportRecovery(ms: ManagedSession, timers: SessionTimers, log: (line: string) => void): Subscription {
  let prev = ms.status;
  let downAt = prev.at;
  return ms.events$.subscribe((st) => {
    if (st.state === 'recovering' && prev.state !== 'recovering') {
      downAt = st.at;
      log(
        `${ms.key}: connection lost (${reasonText(st)}); holding I/O while relogging in (replacement_timeout ${seconds(timers.replacementTimeoutMs)})`,
      );
    }
    if (st.state === 'recovering' && st.gate === 'failed' && prev.gate !== 'failed')
      log(`${ms.key}: replacement_timeout ${seconds(timers.replacementTimeoutMs)} expired; held I/O failed`);
    if (st.state === 'loggedIn' && prev.state === 'recovering')
      log(`${ms.key}: logged in again after ${((st.at - downAt) / 1000).toFixed(1)} s, LU identity unchanged; I/O resumed`);
    if (st.state === 'failed' && prev.state !== 'failed') log(`${ms.key}: session failed (${reasonText(st)})`);
    prev = st;
  });
}
