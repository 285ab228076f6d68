/**
 * SendTargets discovery into the node database (RFC 7143 Appendix C; iscsiadm -m discovery -t st): asks the
 * portal for its targets through an iface, stores the discovery record and one node record per target
 * portal (an existing record keeps its settings, as iscsiadm's discovery -o update; records the portal no
 * longer reports are deleted, as -o delete), unless nonpersistent. Shared by mpiscsiadm and the daemon.
 */
import type { RecordStore, PortalKey } from '../db/store.js';
import { defaultDiscoveryRecord, defaultNodeRecord, type NodeKey } from '../db/node-record.js';
import type { Rec } from '../db/record.js';
import { DEFAULT_CHAP_ALGORITHMS, parseChapAlgs } from '../iscsi/chap.js';
import type { AuthConfig } from '../iscsi/login.js';
import { discoverTargets } from '../session/open.js';
import { formatTargetAddress, type SkippedTarget } from '../iscsi/discovery.js';
import { nodeLinkProblem, RecordRuleError } from '../db/record-rules.js';
import { sourceAddressFromRecord } from '../session/node-session.js';
import { NotFoundError } from '../services/errors.js';

type Store = Pick<RecordStore, 'getDiscovery' | 'getIface' | 'getNode' | 'putDiscovery' | 'discoveryNodes' | 'deleteNode' | 'putNode'>;

/** discovery.sendtargets.auth.*: None or CHAP (mutual with username_in). */
export function discoveryAuth(rec: ReadonlyMap<string, string>): AuthConfig {
  if (rec.get('discovery.sendtargets.auth.authmethod') !== 'CHAP') return { method: 'None' };
  const usernameIn = rec.get('discovery.sendtargets.auth.username_in') ?? '';
  return {
    method: 'CHAP',
    username: rec.get('discovery.sendtargets.auth.username') ?? '',
    password: rec.get('discovery.sendtargets.auth.password') ?? '',
    ...(usernameIn ? { usernameIn, passwordIn: rec.get('discovery.sendtargets.auth.password_in') ?? '' } : {}),
    algorithms: rec.get('discovery.sendtargets.auth.chap_algs')
      ? parseChapAlgs(rec.get('discovery.sendtargets.auth.chap_algs')!)
      : [...DEFAULT_CHAP_ALGORITHMS],
  };
}

export interface DiscoverOptions {
  /** Iface to discover through (default 'default'). */
  iface?: string;
  /** Do not store anything (iscsiadm -o nonpersistent). */
  nonpersistent?: boolean;
  /** Changes to the discovery record applied before discovering (and stored with it). */
  settings?: ReadonlyArray<{ key: string; value: string }>;
  /** The initiator name when the iface sets none. */
  initiatorName?: string;
  /** Each target of the answer not stored, and why (not an iSCSI name, a bad address): for stderr, logs, events. */
  onSkip?: (skipped: SkippedTarget) => void;
}

/** Runs SendTargets against `portal`; returns the node keys found (deduplicated). Login and transport errors pass through. */
export async function discoverAndStore(store: Store, portal: PortalKey, opts: DiscoverOptions = {}): Promise<NodeKey[]> {
  const drec = (await store.getDiscovery(portal)) ?? defaultDiscoveryRecord(portal.address, portal.port);
  for (const s of opts.settings ?? []) drec.set(s.key, s.value);
  const ifaceName = opts.iface ?? 'default';
  const iface = await store.getIface(ifaceName);
  if (!iface) throw new NotFoundError(`Could not read iface info for ${ifaceName}.`);
  const loginTimeout = Number(drec.get('discovery.sendtargets.timeo.login_timeout') ?? 15);
  const targets = await discoverTargets({
    host: portal.address,
    port: portal.port,
    auth: discoveryAuth(drec),
    initiatorName: iface.get('iface.initiatorname') || opts.initiatorName,
    localAddress: sourceAddressFromRecord(iface),
    loginTimeoutMs: (loginTimeout > 0 ? loginTimeout : 15) * 1000,
    onSkip: opts.onSkip,
  });
  const found: NodeKey[] = [];
  const recs: Rec[] = [];
  const same = (a: NodeKey, b: NodeKey) => a.target === b.target && a.address === b.address && a.port === b.port && a.tpgt === b.tpgt;
  for (const t of targets) {
    for (const p of t.portals) {
      const k: NodeKey = { target: t.targetName, address: p.host, port: p.port, tpgt: p.tpgt, iface: ifaceName };
      if (found.some((f) => same(f, k))) continue;
      // A target the DB cannot hold (an address or a whole key over the file system's limits) is skipped and
      // said, before anything is written; the rest of the answer is stored.
      let rec: Rec;
      try {
        const tooLong = nodeLinkProblem(k);
        if (tooLong) throw new RecordRuleError('node.name', k.target, tooLong);
        rec = (await store.getNode(k)) ?? defaultNodeRecord(k.target, { address: k.address, port: k.port, tpgt: k.tpgt }, iface);
      } catch (err) {
        if (!(err instanceof RecordRuleError)) throw err;
        opts.onSkip?.({
          target: t.targetName,
          address: formatTargetAddress({ host: p.host, port: p.port, tpgt: p.tpgt }),
          why: err.message,
        });
        continue;
      }
      found.push(k);
      rec.set('node.discovery_address', portal.address);
      rec.set('node.discovery_port', String(portal.port));
      rec.set('node.discovery_type', 'send_targets');
      recs.push(rec);
    }
  }
  if (!opts.nonpersistent) {
    await store.putDiscovery(drec);
    for (const old of await store.discoveryNodes(portal)) {
      if (old.iface === ifaceName && !found.some((k) => same(k, old))) await store.deleteNode(old);
    }
    for (const r of recs) await store.putNode(r, portal);
  }
  return found;
}
