/**
 * The warnings of a login (a key the target answered Reject, Irrelevant or not at all and the default we
 * used instead, a key it declared that we ignored, a CHAP secret shorter than RFC 7143 §12.1.3 asks) reach
 * the user: each tool prints them on stderr, serve and mpiscsid log them, the login span carries them as
 * events (src/telemetry/session.ts). A warning quotes what the target sent, so it is made one printable line
 * first: a target must not be able to write lines of its own into a log.
 */
import type { Subscription } from 'rxjs';
import type { ManagedSession } from './managed-session.js';

/** Longest warning said; a hostile target's 8 KiB value is cut, with the count of what was left out. */
const MAX_WARNING = 400;

/** Control characters as \xNN (\n, \r, \t as such), cut at MAX_WARNING characters. */
export function oneLine(text: string): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
  return escaped.length <= MAX_WARNING ? escaped : `${escaped.slice(0, MAX_WARNING)}... (${escaped.length - MAX_WARNING} more characters)`;
}

/**
 * Calls `say` with each warning of each successful login of `session`, as one printable line. A warning is
 * said once per session: a relogin that meets the same target answers says nothing new.
 */
export function sayLoginWarnings(session: ManagedSession, say: (warning: string) => void): Subscription {
  const said = new Set<string>();
  return session.loginEvents$.subscribe((e) => {
    if (e.type !== 'login.succeeded') return;
    for (const w of e.login.warnings) {
      const line = oneLine(w);
      if (said.has(line)) continue;
      said.add(line);
      say(line);
    }
  });
}
