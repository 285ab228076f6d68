/**
 * `multipath -ll`-style topology lines for a device. There are no dm or sd devices here: the map line drops
 * `dm-N` and each path line shows a host:channel:target:lun tuple, the path's name (portal/iface) and its LUN
 * where multipath shows `H:C:T:L sdX major:minor`; the three states are the path's (dm: active/failed), the
 * checker's (ready/faulty/i/o pending) and the session's (running when logged in, else its state).
 */
import type { MultipathStatus } from './device.js';

/** Size as multipath prints it: K/M/G/T/P in 1024 steps, one decimal below 10 ('64M', '1.0G'). */
export function formatSize(bytes: number): string {
  const units = ['K', 'M', 'G', 'T', 'P'];
  let v = bytes / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v).toString()}${units[u]}`;
}

const CHECKER: Record<string, string> = { active: 'ready', failed: 'faulty', checking: 'i/o pending' };

/** The lines of `multipath -ll` for one device. */
export function formatTopology(st: MultipathStatus): string[] {
  const id = st.identity;
  const lines: string[] = [];
  lines.push(`${st.name} (${st.wwid})${id ? ` ${id.vendor},${id.product}` : ''}`);
  const queueing = st.config.noPathRetry !== 'fail' && st.gate !== 'failed';
  const features = queueing ? "'1 queue_if_no_path'" : "'0'";
  const hw = id && id.tpgs !== 0 ? "'1 alua'" : "'0'";
  const size = id?.sizeBytes !== undefined ? formatSize(id.sizeBytes) : '?';
  lines.push(`size=${size} features=${features} hwhandler=${hw} wp=${id?.writeProtected ? 'ro' : 'rw'}`);
  st.groups.forEach((g, gi) => {
    const lastGroup = gi === st.groups.length - 1;
    lines.push(`${lastGroup ? '`' : '|'}-+- policy='${st.policy}' prio=${g.prio} status=${g.status}`);
    g.paths.forEach((p, pi) => {
      const lastPath = pi === g.paths.length - 1;
      const dm = p.state === 'active' ? 'active' : 'failed';
      const dev = p.session.state === 'loggedIn' ? 'running' : p.session.state;
      lines.push(`${lastGroup ? ' ' : '|'} ${lastPath ? '`' : '|'}- ${p.hctl} ${p.name} lun ${p.lun} ${dm} ${CHECKER[p.state]} ${dev}`);
      // Not in multipath -ll: why a path is not in use, on a line of its own below it (scripts that parse
      // path lines by their H:C:T:L field skip it).
      if (p.state !== 'active' && p.detail) lines.push(`${lastGroup ? ' ' : '|'} ${lastPath ? ' ' : '|'}    reason: ${p.detail}`);
    });
  });
  return lines;
}
