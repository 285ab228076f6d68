/**
 * Multipath failover under load against tgtd: four paths (two portals x two ifaces, each through a fault
 * proxy) grouped into one device by WWID; a verifying read/write load while one path is reset, another
 * blackholed, then restored: no I/O error, every read-back matches, and the longest completion gap is
 * reported (console, not asserted: loopback timing varies).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { formatTopology } from '../../src/multipath/topology.js';
import { pathState, read, startRig, until, verifyingLoad, type Rig } from '../multipath/rig.js';

let rig: Rig;

beforeAll(async () => {
  rig = await startRig({
    config: { pathGroupingPolicy: 'multibus', pathSelector: 'service-time', noPathRetry: 'queue', pollingIntervalMs: 200 },
  });
});

afterAll(async () => {
  await rig?.stop();
});

describe('multipath over tgtd with two portals and two ifaces', () => {
  it('groups the four paths into one device by WWID', () => {
    expect(rig.manager.devices).toHaveLength(1);
    const st = rig.device.status();
    expect(st.wwid).toMatch(/^3600000000000000/);
    expect(st.groups).toHaveLength(1);
    expect(st.groups[0].paths.map((p) => [p.name, p.state])).toEqual(rig.paths.map((p) => [p.name, 'active']));
    const lines = rig.manager.topology();
    console.log(lines.join('\n'));
    expect(lines[0]).toBe(`mpatha (${st.wwid}) IET,VIRTUAL-DISK`);
    expect(lines[1]).toBe("size=16M features='1 queue_if_no_path' hwhandler='0' wp=rw");
    expect(lines[2]).toBe("`-+- policy='service-time 0' prio=1 status=active");
    expect(lines.slice(3)).toHaveLength(4);
    for (const l of lines.slice(3)) expect(l).toMatch(/^ {2}[|`]- \d+:0:0:1 127\.0\.0\.[12]:\d+\/iface[01] lun 1 active ready running$/);
  });

  it('keeps a verifying load error-free while one path is reset, another blackholed, then restored', async () => {
    const dev = rig.device;
    const [p0, p1] = rig.paths;
    const load = verifyingLoad(dev, 8, 256 * 1024);
    await load.progress(100, 5_000, 'load before the faults');

    // Reset: the connection dies at once (RST); its I/O goes to the other paths; it comes back.
    p0.proxy.set({ kind: 'reset' });
    await until(() => pathState(dev, p0.name) === 'failed', 2_000, 'reset path failed');
    p0.proxy.set({ kind: 'pass' });
    await until(() => pathState(dev, p0.name) === 'active', 5_000, 'reset path reinstated');
    await load.progress(50, 5_000, 'load after the reset path came back');

    // Blackhole: bytes stop, the socket stays open; fast detection (or the NOP timers) must notice.
    const t0 = performance.now();
    p1.proxy.set({ kind: 'blackhole' });
    const detectMs = await until(() => pathState(dev, p1.name) === 'failed', 3_000, 'blackholed path failed');
    await load.progress(50, 5_000, 'load while the blackholed path is failed');
    p1.proxy.set({ kind: 'pass' });
    await until(() => rig.device.status().groups[0].paths.every((p) => p.state === 'active'), 6_000, 'all paths active');
    await load.progress(50, 5_000, 'load with every path back');
    const report = await load.stop();

    const probes = rig.events.filter((e) => e.type === 'probe');
    console.log(
      `multipath failover: ${report.ops} I/Os, longest completion gap ${report.maxGapMs.toFixed(0)} ms, longest I/O ${report.maxLatencyMs.toFixed(0)} ms, ` +
        `blackhole detected in ${detectMs.toFixed(0)} ms (${Math.round(performance.now() - t0)} ms to restore), ` +
        `${rig.events.filter((e) => e.type === 'io.reissued').length} I/Os re-issued, probes ${JSON.stringify(probes.map((p) => p.type === 'probe' && p.ok))}`,
    );
    console.log(formatTopology(dev.status()).join('\n'));
    expect(report.errors).toEqual([]);
    expect(report.verifyFailures).toEqual([]);
    expect(report.ops).toBeGreaterThan(100);

    // What the LU holds is what each worker last wrote: through the device, and in tgtd's backing file.
    const file = readFileSync(rig.backing);
    for (const [w, model] of report.model.entries()) {
      const base = w * report.regionBytes;
      expect((await read(dev, base, report.regionBytes)).equals(model)).toBe(true);
      expect(file.subarray(base, base + report.regionBytes).equals(model)).toBe(true);
    }
    // Every path carried I/O, and the two faulted ones sent some elsewhere.
    const stats = dev.status().groups[0].paths;
    for (const p of stats) expect(p.stats.issued).toBeGreaterThan(0);
    expect(rig.events.some((e) => e.type === 'path.state' && e.path === p0.name && e.to === 'failed')).toBe(true);
    expect(rig.events.some((e) => e.type === 'path.state' && e.path === p1.name && e.to === 'failed')).toBe(true);
  });
});
