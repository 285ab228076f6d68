/**
 * mpiscsid.conf's keys (iscsid.conf's `key = value` form; the same keys as `mpiscsid --set KEY=VALUE`), each
 * with its value type and default. multipath.<key> lines take the multipath settings (multipath.ts). None
 * applies live: the daemon reads them at start.
 */
import type { Setting } from './setting.js';
import { table } from './setting.js';
import { integer, refine, text, yesNo, type ValueType } from './values.js';

/** A host id is one NATS subject token (mpiscsi.<hostId>.*): letters, digits, '-' and '_', no dots or wildcards. */
export const HOST_ID_PATTERN = /^[-\w]+$/;

// "all" is mpiscsiadm's word for every host (--host-id all), so no daemon may be called that.
const hostId: ValueType<string> = refine(text, 'letters, digits, - and _; not "all"', (v) =>
  !HOST_ID_PATTERN.test(v)
    ? 'use letters, digits, - and _'
    : v === 'all'
      ? '"all" names every host in mpiscsiadm --host-id all'
      : undefined,
);
const absolutePath: ValueType<string> = refine(text, 'an absolute directory', (v) =>
  v.startsWith('/') ? undefined : 'expected an absolute directory',
);

/** `busy_poll` (µs; `mpiscsi serve --busy-poll`): its default, and the largest window taken (src/session/busy-poll.ts). */
export const DEFAULT_BUSY_POLL_US = 100;
export const MAX_BUSY_POLL_US = 10_000;

const at = <T>(key: string, type: ValueType<T>, def = ''): Setting<T> => ({ key, type, default: def, live: false });

export const DAEMON_SETTINGS = table([
  // Default: the host name with dots as underscores (computed at start, so no default here).
  at('host_id', hostId),
  at('db', text, '/var/lib/mpiscsi'),
  at('state_dir', text, '/run/mpiscsi'),
  // Default: /etc/iscsi/initiatorname.iscsi, else a generated name.
  at('initiator_name', text),
  at('nats.servers', text, 'nats://127.0.0.1:4222'),
  at('nats.user', text),
  at('nats.password_file', text),
  at('nats.token_file', text),
  at('nats.creds_file', text),
  at('nats.nkey_seed_file', text),
  at('nats.tls.ca_file', text),
  at('nats.tls.cert_file', text),
  at('nats.tls.key_file', text),
  at('export.socket_dir', absolutePath),
  at('export.allow_remote', yesNo, 'No'),
  at('startup.login_automatic', yesNo, 'Yes'),
  // Ours, after Linux's net.core.busy_poll: µs the event loop polls after a read at low queue depth; 0 = off.
  at('busy_poll', integer({ min: 0, max: MAX_BUSY_POLL_US }), String(DEFAULT_BUSY_POLL_US)),
]);

/** The prefix of multipath.conf settings in mpiscsid.conf (`multipath.no_path_retry = queue`). */
export const MULTIPATH_PREFIX = 'multipath.';
