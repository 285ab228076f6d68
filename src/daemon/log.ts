/**
 * mpiscsid's log: one line per event on stderr, with a level. Under systemd (stderr is the journal stream
 * named by $JOURNAL_STREAM) each line carries the sd-daemon(3) priority prefix `<N>` and no timestamp (the
 * journal stamps it); otherwise `ISO-TIME mpiscsid: LEVEL: text` (info lines without LEVEL), with the level
 * coloured only when stderr is a TTY and NO_COLOR is unset. `-d N` (0..8, like iscsid's) lets debug lines of
 * level <= N through; 0 logs errors, warnings and the events (logins, path changes, NATS state).
 */
import { fstatSync } from 'node:fs';

export type Level = 'error' | 'warning' | 'info' | 'debug';

export interface DaemonLog {
  /** An event (logins, paths, NATS state): always logged. */
  (line: string): void;
  error(line: string): void;
  warn(line: string): void;
  /** A debug line shown from `-d level` up (1..8). */
  debug(level: number, line: string): void;
  readonly debugLevel: number;
}

const PRIORITY: Record<Level, number> = { error: 3, warning: 4, info: 6, debug: 7 };
const COLOUR: Record<Level, string> = { error: '\x1b[31m', warning: '\x1b[33m', info: '', debug: '\x1b[2m' };

/** Whether fd 2 is the journal stream systemd connected (JOURNAL_STREAM is "DEV:INODE" of it). */
export function stderrIsJournal(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  try {
    const st = fstatSync(2);
    return js === `${st.dev}:${st.ino}`;
  } catch {
    return false;
  }
}

/** Parses `-d N`: an integer 0..8. */
export function parseDebugLevel(v: string): number {
  const n = Number(v);
  if (!/^\d$/.test(v.trim()) || n > 8) throw new RangeError(`-d ${v}: expected a debug level 0..8`);
  return n;
}

export interface LogOptions {
  prog: string;
  debugLevel?: number;
  write?: (s: string) => void;
  journal?: boolean;
  colour?: boolean;
  now?: () => Date;
}

export function createLog(o: LogOptions): DaemonLog {
  const write = o.write ?? ((s: string) => void process.stderr.write(s));
  const journal = o.journal ?? stderrIsJournal();
  const colour = !journal && (o.colour ?? (process.stderr.isTTY === true && !process.env.NO_COLOR));
  const now = o.now ?? (() => new Date());
  const debugLevel = o.debugLevel ?? 0;
  const emit = (level: Level, text: string, tag: string = level) => {
    // One event, one line: embedded newlines (a multi-line error message) become spaces.
    const one = text.replace(/\r?\n/g, ' ');
    if (journal) return write(`<${PRIORITY[level]}>${level === 'info' ? '' : `${tag}: `}${one}\n`);
    const label = level === 'info' ? '' : colour ? `${COLOUR[level]}${tag}\x1b[0m: ` : `${tag}: `;
    write(`${now().toISOString()} ${o.prog}: ${label}${one}\n`);
  };
  const log = ((line: string) => emit('info', line)) as DaemonLog;
  log.error = (line) => emit('error', line);
  log.warn = (line) => emit('warning', line);
  log.debug = (level, line) => {
    if (level <= debugLevel) emit('debug', line, `debug${level}`);
  };
  Object.defineProperty(log, 'debugLevel', { value: debugLevel });
  return log;
}
