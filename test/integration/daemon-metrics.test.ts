/**
 * Issue 14, the Prometheus endpoint: the built mpiscsid with `--metrics 127.0.0.1:PORT`, nats-server, one tgtd
 * LU reached through two fault proxies (two node records, one multipath device with two paths), scraped with
 * fetch() before and after a failover (one proxy resets every connection until the path has failed, then
 * passes again): the names, units and labels by the OpenTelemetry -> Prometheus compatibility rules (unit
 * words in the names, `_total` after them), target_info with the resource, and the failover counter moved by
 * one on the path that failed. Then what is refused: a non-loopback --metrics host (exit 7, the option named)
 * and a port already taken.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { DaemonProcess } from '../support/daemon.js';
import { freePort } from '../support/ports.js';
import { startTwoPathRig, type TwoPathRig } from '../support/two-path-rig.js';

const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
const IQN = 'iqn.2026-12.test:daemon-metrics';
const HOST = 'metricshost';

let rig: TwoPathRig;
let url: string;

async function scrape(): Promise<string> {
  const r = await fetch(url);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
  return r.text();
}

/** Every sample line of `name` (exactly that name, any labels) as its labels and value. */
function samples(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** The TYPE line of each metric family in the scrape. */
const families = (text: string): Map<string, string> => new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));

const failovers = (text: string, path: string): number =>
  samples(text, 'mpath_failovers_total')
    .filter((s) => s.labels.mpath_path === path)
    .reduce((n, s) => n + s.value, 0);

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}/metrics`;
  rig = await startTwoPathRig({ iqn: IQN, hostId: HOST, daemon: { extra: ['--metrics', `127.0.0.1:${port}`] } });
  // The metrics line comes before the daemon is ready.
  expect(rig.daemon.lines).toContainEqual(expect.stringMatching(new RegExp(`mpiscsid: metrics on ${url.replaceAll('.', '\\.')}$`)));
});

afterAll(async () => {
  await rig?.stop();
});

describe('mpiscsid --metrics: a Prometheus scrape before and after a failover', () => {
  let paths: string[];

  it('before: Prometheus names and units (unit words, _total, # UNIT lines), device, path and scope labels, target_info', async () => {
    const text = await scrape();
    const types = families(text);
    // OTel names with dots as underscores, the UCUM unit as its Prometheus word appended (s -> _seconds,
    // By -> _bytes; {operation} and the like dropped), monotonic sums ending in _total after the unit; the
    // unit word on a `# UNIT` line.
    expect(types.get('mpath_path_operations_total')).toBe('counter');
    expect(types.get('mpath_path_io_bytes_total')).toBe('counter');
    expect(types.get('mpath_path_reissued_total')).toBe('counter');
    expect(types.get('mpath_path_outstanding')).toBe('gauge');
    expect(types.get('mpath_path_state')).toBe('gauge');
    expect(types.get('mpath_held')).toBe('gauge');
    expect(types.get('iscsi_session_state')).toBe('gauge');
    expect(types.get('iscsi_connection_data_bytes_total')).toBe('counter');
    expect(types.get('iscsi_connection_pdus_total')).toBe('counter');
    expect(types.get('iscsi_connection_errors_total')).toBe('counter');
    expect(types.get('iscsi_login_duration_seconds')).toBe('histogram');
    expect(types.get('target_info')).toBe('gauge');
    // A counter's UNIT line names its family, the sample name without _total (OpenMetrics metadata).
    expect(text).toMatch(/^# UNIT mpath_path_io_bytes bytes$/m);
    expect(text).toMatch(/^# UNIT iscsi_connection_data_bytes bytes$/m);
    expect(text).not.toMatch(/^# UNIT \S+_total /m);
    expect(text).toMatch(/^# UNIT iscsi_login_duration_seconds seconds$/m);
    // Annotation units ({operation}, {path}, {pdu}) are no unit: no word, no # UNIT line. No UCUM unit anywhere.
    expect(text).not.toMatch(/^# UNIT (mpath_path_operations|mpath_path_state|iscsi_connection_pdus)(_total)? /m);
    expect(text).not.toMatch(/^# UNIT \S+ (By|s|\{.*\})$/m);
    // Not the OTel names with only dots replaced.
    for (const old of ['mpath_path_io_total', 'iscsi_connection_data_total', 'iscsi_login_duration', 'mpath_path_operation_duration'])
      expect(types.has(old)).toBe(false);
    expect(text).toMatch(/^# HELP iscsi_connection_pdus_total iSCSI PDUs by kind \(iscsiadm --stats\)$/m);
    expect(samples(text, 'iscsi_login_duration_seconds_bucket').some((s) => s.labels.le === '+Inf')).toBe(true);
    // The resource as target_info's labels.
    const [target] = samples(text, 'target_info');
    // service.version is package.json's, as `mpiscsid --version` prints it.
    expect(target.labels).toMatchObject({ service_name: 'mpiscsid', service_version: VERSION, host_id: HOST });
    expect(target.value).toBe(1);
    // Two paths of one device, each with its labels; both active.
    const active = samples(text, 'mpath_path_state').filter((s) => s.labels.mpath_path_state === 'active' && s.value === 1);
    expect(active).toHaveLength(2);
    for (const s of active) expect(s.labels).toMatchObject({ mpath_device: 'mpatha', mpath_wwid: expect.stringMatching(/^\S+$/) });
    paths = active.map((s) => s.labels.mpath_path).sort();
    expect(new Set(paths).size).toBe(2);
    // Every sample carries the instrumentation scope.
    for (const s of active) expect(s.labels.otel_scope_name).toBe('mpiscsi');
    // The sessions behind them, one per proxy, with their portal.
    const sessions = samples(text, 'iscsi_session_state').filter((s) => s.value === 1);
    expect(sessions.map((s) => Number(s.labels.server_port)).sort()).toEqual(rig.proxies.map((p) => p.port).sort());
    // No failover yet: the counter family may be absent or zero.
    for (const p of paths) expect(failovers(text, p)).toBe(0);
    // A bad path is the exporter's 404, not the metrics.
    expect((await fetch(url.replace(/\/metrics$/, '/other'))).status).toBe(404);
  });

  it('after one path is reset until it fails and then returns: mpath_failovers_total moved by one on that path', async () => {
    const { path } = (await rig.failPath(0)).event;
    expect(paths).toContain(path);
    const during = await scrape();
    expect(
      samples(during, 'mpath_path_state').find((s) => s.labels.mpath_path === path && s.labels.mpath_path_state === 'failed')?.value,
    ).toBe(1);
    await rig.restorePath(0, path);
    // The failover's count is taken when its trace ends (path active again, and the first I/O on it if some
    // were held): scrape until it shows, the test's timeout bounding the wait.
    let text = await scrape();
    while (failovers(text, path) === 0) text = await scrape();
    expect(failovers(text, path)).toBe(1);
    const other = paths.find((p) => p !== path)!;
    expect(failovers(text, other)).toBe(0);
    expect(families(text).get('mpath_failovers_total')).toBe('counter');
    const [sample] = samples(text, 'mpath_failovers_total').filter((s) => s.labels.mpath_path === path);
    expect(sample.labels).toMatchObject({ mpath_device: 'mpatha', mpath_failover_reason: expect.stringMatching(/^[a-z-]+$/) });
    // The session behind the path relogged in: its login histogram counts more than the two first logins.
    const logins = samples(text, 'iscsi_login_duration_seconds_count').reduce((n, s) => n + s.value, 0);
    expect(logins).toBeGreaterThan(2);
  });
});

describe('mpiscsid --metrics refusals', () => {
  it('a non-loopback host: exit 7 and a line naming --metrics, before anything else starts', async () => {
    const d = DaemonProcess.launch({
      db: join(rig.dir, 'db-remote'),
      dir: rig.dir,
      nats: rig.nats.url,
      hostId: 'remote',
      extra: ['--metrics', '192.0.2.1:9464'],
    });
    expect(await d.exited).toBe(7);
    expect(d.lines.join('\n')).toMatch(/error: --metrics "192\.0\.2\.1:9464": 192\.0\.2\.1 is not a loopback address/);
    expect(d.lines.join('\n')).not.toMatch(/control service|ready/);
  });

  it('a port already in use: a line naming the address and the reason, exit 7', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const port = (taken.address() as { port: number }).port;
    try {
      const d = DaemonProcess.launch({
        db: join(rig.dir, 'db-taken'),
        dir: rig.dir,
        nats: rig.nats.url,
        hostId: 'taken',
        extra: ['--metrics', `:${port}`],
      });
      expect(await d.exited).toBe(7);
      expect(d.lines.join('\n')).toMatch(
        new RegExp(`error: cannot serve metrics on http://127\\.0\\.0\\.1:${port}/metrics: address already in use`),
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
