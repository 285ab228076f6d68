/**
 * The events the control service publishes (mpiscsi.<hostId>.events.{session,path,mpath}): session status
 * changes and multipath events translated into their messages, each with its reason as text, and a republish of
 * every current state for subscribers that missed changes while NATS was down.
 */
import { describeGate, describeGaveUp, describeNoPath, type MultipathDevice, type MultipathEvent } from '../../multipath/index.js';
import type { ActiveSession } from '../../services/sessions.js';
import { reasonText, type SessionStatus } from '../../../machines/session.machine.js';
import type { HostEvent } from '../api.js';
import { nodeKeyMsg } from './node.js';

export class HostEvents {
  private readonly listeners = new Set<(e: HostEvent) => void>();

  /** `log` gets a line per notable change (path state, gate, gave up, no path). */
  constructor(private readonly log: (line: string) => void) {}

  /** Subscribe; returns the unsubscribe function. */
  onEvent(listener: (e: HostEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: HostEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  /** A session's state or gate changed; the reason goes out as its text ("nop-timeout: no PDU within 5 s"). */
  session(s: ActiveSession, st: SessionStatus): void {
    this.emit({
      kind: 'session',
      event: { sid: s.sid, node: nodeKeyMsg(s.key), state: st.state, gate: st.gate, reason: reasonText(st), atMs: Date.now() },
    });
  }

  multipath(e: MultipathEvent): void {
    const atMs = Date.now();
    switch (e.type) {
      case 'path.state':
        this.log(`${e.device}: path ${e.path} ${e.from} -> ${e.to} (${e.reason}${e.detail ? `: ${e.detail}` : ''})`);
        this.emit({
          kind: 'path',
          event: { device: e.device, path: e.path, from: e.from, to: e.to, reason: e.reason, detail: e.detail ?? '', atMs },
        });
        return;
      case 'path.removed':
        this.emit({
          kind: 'path',
          event: { device: e.device, path: e.path, from: '', to: 'removed', reason: e.reason, detail: e.detail ?? '', atMs },
        });
        return;
      case 'gate':
        this.log(`${e.device}: ${describeGate(e)}`);
        this.emit({ kind: 'mpath', event: { device: e.device, kind: 'gate', from: e.from, to: e.to, reason: '', detail: '', atMs } });
        return;
      case 'group.switched': {
        const event = {
          device: e.device,
          kind: 'group.switched',
          from: String(e.from + 1),
          to: String(e.to + 1),
          reason: e.reason,
          detail: '',
          atMs,
        };
        this.emit({ kind: 'mpath', event });
        return;
      }
      case 'io.failed':
        this.emit({ kind: 'mpath', event: { device: e.device, kind: 'io.failed', from: '', to: '', reason: '', detail: e.error, atMs } });
        return;
      case 'nopath': {
        const line = describeNoPath(e);
        this.log(`${e.device}: ${line}`);
        this.emit({
          kind: 'mpath',
          event: { device: e.device, kind: 'nopath', from: e.from, to: e.to, reason: e.why ?? '', detail: line, atMs },
        });
        return;
      }
      case 'path.gaveUp':
        this.log(`${e.device}: ${describeGaveUp(e)}`);
        this.emit({
          kind: 'path',
          event: { device: e.device, path: e.path, from: 'failed', to: 'gave-up', reason: e.code, detail: e.detail, atMs },
        });
        return;
      default:
        return;
    }
  }

  /** The current state of every session, path and device as events, reason "republish". */
  republish(sessions: readonly ActiveSession[], devices: readonly MultipathDevice[]): void {
    const atMs = Date.now();
    for (const s of sessions) {
      const st = s.managed.status;
      this.emit({
        kind: 'session',
        event: { sid: s.sid, node: nodeKeyMsg(s.key), state: st.state, gate: st.gate, reason: 'republish', atMs },
      });
    }
    for (const d of devices) {
      const st = d.status();
      this.emit({ kind: 'mpath', event: { device: d.name, kind: 'gate', from: '', to: st.gate, reason: 'republish', detail: '', atMs } });
      for (const g of st.groups)
        for (const p of g.paths)
          this.emit({
            kind: 'path',
            event: { device: d.name, path: p.name, from: '', to: p.state, reason: 'republish', detail: '', atMs },
          });
    }
  }
}
