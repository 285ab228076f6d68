/**
 * No usable path against tgtd (four paths through fault proxies): with no_path_retry N, held I/O fails with
 * TransportError (EIO upstream) after N checker intervals; a path back before the deadline means no error
 * at all, and the data written through the outage is there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { TransportError } from '../../src/iscsi/errors.js';
import { pathState, read, startRig, until, write, type Rig } from '../multipath/rig.js';

let rig: Rig;
const POLL = 150;

beforeAll(async () => {
  // fast_io_fail_tmo 0: no hold for the recovering paths, so that no_path_retry alone is the subject here.
  rig = await startRig({ config: { pathGroupingPolicy: 'multibus', noPathRetry: 4, pollingIntervalMs: POLL, fastIoFailTmoMs: 0 } });
});

afterAll(async () => {
  await rig?.stop();
});

const allActive = () => rig.device.status().groups.every((g) => g.paths.every((p) => p.state === 'active'));

describe('no_path_retry N', () => {
  it('fails held I/O with TransportError after N checker intervals, then serves again when a path returns', async () => {
    for (const p of rig.paths) p.proxy.set({ kind: 'reset' });
    await until(() => rig.device.gate !== 'open', 2_000, 'no usable path');
    const t0 = performance.now();
    const ios = [read(rig.device, 0, 4096), write(rig.device, 8192, randomBytes(4096))];
    const outcomes = await Promise.allSettled(ios);
    const waited = performance.now() - t0;
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(TransportError);
    }
    console.log(`no_path_retry 4 x ${POLL} ms: held I/O failed after ${waited.toFixed(0)} ms`);
    expect(waited).toBeGreaterThanOrEqual(4 * POLL - 50); // the deadline runs from the loss of the last path
    expect(waited).toBeLessThan(4 * POLL + 1_000);
    expect(rig.device.gate).toBe('failed');
    await expect(read(rig.device, 0, 4096)).rejects.toBeInstanceOf(TransportError);

    for (const p of rig.paths) p.proxy.set({ kind: 'pass' });
    await until(allActive, 6_000, 'paths back');
    expect((await read(rig.device, 0, 4096)).length).toBe(4096);
  });

  it('a path back before the deadline: held I/O completes without any error, data intact', async () => {
    rig.device.configure({ noPathRetry: 20 }); // 3 s
    for (const p of rig.paths) p.proxy.set({ kind: 'reset' });
    await until(() => rig.device.gate === 'queueing', 2_000, 'queueing');
    const data = Array.from({ length: 8 }, () => randomBytes(16384));
    const writes = data.map((d, i) => write(rig.device, 1_048_576 + i * 16384, d));
    await until(() => rig.device.heldCount === writes.length, 1_000, 'writes held');
    const back = rig.paths[2];
    back.proxy.set({ kind: 'pass' });
    const t0 = performance.now();
    await Promise.all(writes);
    console.log(`held writes completed ${(performance.now() - t0).toFixed(0)} ms after one path came back`);
    expect(pathState(rig.device, back.name)).toBe('active');
    for (const [i, d] of data.entries()) expect((await read(rig.device, 1_048_576 + i * 16384, 16384)).equals(d)).toBe(true);
    for (const p of rig.paths) p.proxy.set({ kind: 'pass' });
    await until(allActive, 6_000, 'paths back');
  });
});
