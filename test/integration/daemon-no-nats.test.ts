/**
 * `mpiscsid --nats none` (no control plane) and no node record to log in: nothing but the daemon itself holds
 * the event loop, and it must still stay up after "ready" until SIGTERM, serving its metrics and reloading on
 * SIGHUP (it used to exit 0 right after "ready"). The built daemon, scraped with fetch().
 */
import { afterAll, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonProcess } from '../support/daemon.js';
import { freePort } from '../support/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-no-nats-'));
let daemon: DaemonProcess | undefined;

afterAll(async () => {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The first line matching `re`, or a rejection naming the exit code and the log if the daemon exits first. */
const lineOrExit = (d: DaemonProcess, re: RegExp): Promise<string> =>
  Promise.race([d.waitFor(re), d.exited.then((c) => Promise.reject(new Error(`mpiscsid exited ${c}:\n${d.lines.join('\n')}`)))]);

it('--nats none with no session: stays up after ready, scraped, reloads on SIGHUP, stops on SIGTERM with exit 0', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/metrics`;
  const d = DaemonProcess.launch({
    db: join(dir, 'db'),
    dir,
    nats: 'none',
    hostId: 'lonely',
    extra: ['--metrics', `127.0.0.1:${port}`, '--set', 'busy_poll=25'],
  });
  daemon = d;
  expect(await lineOrExit(d, / ready \(/)).toMatch(
    /ready \(host id lonely, .*, busy poll 25 µs while at most 4 commands are outstanding, no control plane\)$/,
  );

  const first = await fetch(url);
  expect(first.status).toBe(200);
  expect(await first.text()).toMatch(/^target_info\{.*host_id="lonely"/m);

  expect(d.child.kill('SIGHUP')).toBe(true);
  await lineOrExit(d, /configuration and node records reloaded$/);
  expect(d.child.exitCode).toBeNull();
  expect((await fetch(url)).status).toBe(200);

  expect(d.child.kill('SIGTERM')).toBe(true);
  expect(await d.exited).toBe(0);
  expect(d.lines.join('\n')).toMatch(/SIGTERM: shutting down\n.*stopped$/);
});
