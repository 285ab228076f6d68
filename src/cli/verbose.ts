/**
 * `-v` / `-vv` of mpiscsi's tools (nbdcopy -v, libiscsi's iscsi-* -d): debug lines on stderr, tagged with their
 * level as mpiscsid's `-d N` lines are (`mpiscsi: debug1: ...`), never on stdout, so a result piped on is the
 * same with or without them. Level 1: each login's steps (TCP connected, stages, redirects, the outcome with the
 * negotiated keys that shape I/O); level 2 adds every session state and gate change and the whole negotiated set.
 */
import type { Subscription } from 'rxjs';
import { reasonText } from '../../machines/session.machine.js';
import type { ManagedSession, SessionLoginEvent } from '../session/managed-session.js';

/** Writes a debug line of `level` when the verbosity reaches it. */
export type DebugLog = (level: number, line: string) => void;

/** The debug log of a tool run at `verbosity` (0: none); lines go to `write` (default stderr). */
export function debugLog(verbosity: number, write: (s: string) => void = (s) => void process.stderr.write(s)): DebugLog {
  return (level, line) => {
    if (level <= verbosity) write(`mpiscsi: debug${level}: ${line}\n`);
  };
}

const yesNo = (b: boolean): string => (b ? 'Yes' : 'No');

function loginLine(key: string, e: SessionLoginEvent, verbosity: number): string | undefined {
  const attempt = `${key}: login attempt ${e.attempt} (${e.phase})`;
  switch (e.type) {
    case 'login.started':
      return `${attempt}: connecting to ${e.host}:${e.port}`;
    case 'login.progress': {
      const p = e.progress;
      if (p.type === 'connected')
        return `${attempt}: TCP connected to ${p.host}:${p.port}${p.localAddress ? ` from ${p.localAddress}:${p.localPort}` : ''}`;
      if (p.type === 'redirected') return `${attempt}: redirected to ${p.host}:${p.port}`;
      return `${attempt}: ${p.stage} stage`;
    }
    case 'login.succeeded': {
      const { params, authMethod, chapAlgorithm, tsih } = e.login;
      if (verbosity >= 2) return `${attempt}: logged in (TSIH ${tsih}); negotiated ${JSON.stringify(params)}`;
      return (
        `${attempt}: logged in (TSIH ${tsih}, AuthMethod ${authMethod}${chapAlgorithm ? ` ${chapAlgorithm}` : ''}, ` +
        `HeaderDigest ${params.headerDigest ? 'CRC32C' : 'None'}, DataDigest ${params.dataDigest ? 'CRC32C' : 'None'}, ` +
        `MaxRecvDataSegmentLength ${params.maxRecvDataSegmentLength}, MaxXmitDataSegmentLength ${params.maxXmitDataSegmentLength}, ` +
        `MaxBurstLength ${params.maxBurstLength}, FirstBurstLength ${params.firstBurstLength}, ` +
        `InitialR2T ${yesNo(params.initialR2T)}, ImmediateData ${yesNo(params.immediateData)})`
      );
    }
    case 'login.failed':
      return `${attempt}: failed: ${e.error.message}`;
  }
}

/**
 * Debug lines of one session: its logins from level 1, its state and gate changes from level 2. Subscribe before
 * login() so that the first attempt is seen; unsubscribe when the session is closed.
 */
export function watchSession(ms: ManagedSession, verbosity: number, debug: DebugLog): Subscription | undefined {
  if (verbosity < 1) return undefined;
  const logins = ms.loginEvents$.subscribe((e) => {
    const line = loginLine(ms.key, e, verbosity);
    if (line) debug(1, line);
  });
  if (verbosity >= 2)
    logins.add(ms.events$.subscribe((st) => debug(2, `${ms.key}: state ${st.state}, gate ${st.gate} (${reasonText(st)})`)));
  return logins;
}
