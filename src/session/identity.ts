/** The initiator's identity: its IQN (as open-iscsi keeps it in /etc/iscsi/initiatorname.iscsi) and ISIDs. */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

/** InitiatorName from /etc/iscsi/initiatorname.iscsi when present, else one derived from the host name. */
export function defaultInitiatorName(file = '/etc/iscsi/initiatorname.iscsi'): string {
  try {
    const m = /^\s*InitiatorName\s*=\s*(\S+)/m.exec(readFileSync(file, 'utf8'));
    if (m) return m[1];
  } catch {
    // no open-iscsi configuration on this host
  }
  const host =
    hostname()
      .toLowerCase()
      .replace(/[^a-z0-9.-]/g, '-') || 'localhost';
  return `iqn.2026-11.io.mpiscsi:${host}`;
}

/**
 * A new ISID of the "random" format (RFC 7143 §11.12.5, T = 10b): 24 random bits in B and C, and a
 * qualifier D that callers may vary per iface so that each path is its own I_T nexus.
 */
export function randomIsid(qualifier = 0): number {
  const r = randomBytes(3);
  return 0x80 * 2 ** 40 + r[0] * 2 ** 32 + r[1] * 2 ** 24 + r[2] * 2 ** 16 + (qualifier & 0xffff);
}
