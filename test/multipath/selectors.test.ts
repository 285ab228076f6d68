/** Path selectors (round-robin with rr_min_io_rq, queue-length, service-time), the latency window, settings parsing, topology format. */
import { describe, expect, it } from 'vitest';
import {
  createSelector,
  QueueLengthSelector,
  RoundRobinSelector,
  ServiceTimeSelector,
  type SelectablePath,
} from '../../src/multipath/selectors.js';
import { LatencyWindow } from '../../src/multipath/latency.js';
import { DEFAULT_MULTIPATH_CONFIG, multipathSettings, mergeMultipathConfig } from '../../src/multipath/config.js';
import { formatSize } from '../../src/multipath/topology.js';
import { aliasSuffix } from '../../src/multipath/manager.js';
import { aluaPriority, serialWwid } from '../../src/multipath/identity.js';
import { AsymmetricAccessState } from '../../src/scsi/rtpg.js';

interface P extends SelectablePath {
  name: string;
  inFlight: number;
  inFlightBytes: number;
  relativeThroughput: number;
}
const path = (name: string, inFlight = 0, inFlightBytes = 0, relativeThroughput = 1): P => ({
  name,
  inFlight,
  inFlightBytes,
  relativeThroughput,
});
const names = (sel: { select(p: readonly P[], b: number): P | undefined }, paths: P[], n: number, bytes = 4096) =>
  Array.from({ length: n }, () => sel.select(paths, bytes)!.name).join('');

describe('round-robin', () => {
  it('rr_min_io_rq 1: one I/O per path in group order', () => {
    const paths = [path('a'), path('b'), path('c')];
    expect(names(new RoundRobinSelector(), paths, 7)).toBe('abcabca');
  });

  it('rr_min_io_rq 3: three I/Os on a path before the next', () => {
    const paths = [path('a'), path('b')];
    expect(names(new RoundRobinSelector(3), paths, 8)).toBe('aaabbbaa');
  });

  it('goes on after the current path when the usable set changes', () => {
    const a = path('a');
    const b = path('b');
    const c = path('c');
    const sel = new RoundRobinSelector(2);
    expect(names(sel, [a, b, c], 3)).toBe('aab');
    expect(names(sel, [a, c], 3)).toBe('aac'); // b gone: restart at the first
    expect(sel.select([], 0)).toBeUndefined();
    expect(() => new RoundRobinSelector(0)).toThrow(RangeError);
  });
});

describe('queue-length', () => {
  it('picks the path with the fewest I/Os in flight', () => {
    expect(new QueueLengthSelector().select([path('a', 3), path('b', 1), path('c', 2)], 0)!.name).toBe('b');
  });

  it('equal paths take turns', () => {
    expect(names(new QueueLengthSelector(), [path('a', 1), path('b', 1), path('c', 1)], 6)).toBe('abcabc');
  });
});

describe('service-time', () => {
  it('picks the smallest (bytes in flight + this I/O) / relative throughput', () => {
    const sel = new ServiceTimeSelector();
    expect(sel.select([path('a', 1, 65536), path('b', 4, 16384)], 4096)!.name).toBe('b');
    // b is twice as fast: 40960 / 2 < 32768 / 1.
    expect(sel.select([path('a', 1, 28672), path('b', 2, 36864, 2)], 4096)!.name).toBe('b');
    expect(sel.select([path('a', 1, 28672), path('b', 2, 36864, 1)], 4096)!.name).toBe('a');
  });

  it('equal paths take turns; the policy reads as multipath prints it', () => {
    const sel = createSelector('service-time');
    expect(names(sel, [path('a'), path('b')], 4)).toBe('abab');
    expect(sel.policy).toBe('service-time 0');
    expect(createSelector('round-robin').policy).toBe('round-robin 0');
    expect(createSelector('queue-length').policy).toBe('queue-length 0');
  });
});

describe('latency window', () => {
  it('p99 of the last N completions (nearest rank)', () => {
    const w = new LatencyWindow(100);
    expect(w.quantile(0.99)).toBeUndefined();
    for (let i = 1; i <= 100; i++) w.record(i);
    expect(w.quantile(0.99)).toBe(99);
    expect(w.quantile(0.5)).toBe(50);
    for (let i = 0; i < 100; i++) w.record(1); // old samples roll out
    expect(w.quantile(0.99)).toBe(1);
    expect(w.length).toBe(100);
  });
});

describe('settings (multipath.conf names)', () => {
  it('parses selectors, policies, failback, no_path_retry and durations in seconds', () => {
    expect(
      multipathSettings({
        path_selector: 'round-robin 0',
        path_grouping_policy: 'multibus',
        failback: '2.5',
        no_path_retry: '12',
        polling_interval: '0.5',
        rr_min_io_rq: '4',
        checker_timeout: '3',
      }),
    ).toEqual({
      pathSelector: 'round-robin',
      pathGroupingPolicy: 'multibus',
      failback: 2500,
      noPathRetry: 12,
      pollingIntervalMs: 500,
      rrMinIoRq: 4,
      checkerTimeoutMs: 3000,
    });
    expect(multipathSettings({ failback: 'followover', no_path_retry: 'queue' })).toEqual({ failback: 'followover', noPathRetry: 'queue' });
  });

  it('refuses unknown keys and bad values', () => {
    expect(() => multipathSettings({ path_checker: 'tur' })).toThrow(/unknown multipath setting/);
    expect(() => multipathSettings({ path_selector: 'historical-service-time 0' })).toThrow(/path_selector/);
    expect(() => multipathSettings({ no_path_retry: '0' })).toThrow(/no_path_retry/);
    expect(() => multipathSettings({ polling_interval: '-1' })).toThrow(/polling_interval/);
    // Number() would take these (16, 1000, Infinity, 0); a setting is a decimal number.
    for (const v of ['0x10', '1e3', 'Infinity', ' ']) {
      expect(() => multipathSettings({ polling_interval: v }), v).toThrow(/polling_interval/);
      expect(() => multipathSettings({ no_path_retry: v }), v).toThrow(/no_path_retry/);
      expect(() => multipathSettings({ rr_min_io_rq: v }), v).toThrow(/rr_min_io_rq/);
      expect(() => multipathSettings({ fast_io_fail_tmo: v }), v).toThrow(/fast_io_fail_tmo/);
    }
    expect(multipathSettings({ polling_interval: '0.5', fast_io_fail_tmo: '0' })).toEqual({ pollingIntervalMs: 500, fastIoFailTmoMs: 0 });
    expect(() => mergeMultipathConfig(DEFAULT_MULTIPATH_CONFIG, { probeTimeoutMs: 0 })).toThrow(/probe timeout/);
  });
});

describe('names and numbers shown', () => {
  it('sizes as multipath prints them', () => {
    expect(formatSize(64 * 1024 * 1024)).toBe('64M');
    expect(formatSize(1024 ** 3)).toBe('1.0G');
    expect(formatSize(20 * 1024 ** 3)).toBe('20G');
    expect(formatSize(512 * 1024)).toBe('512K');
  });

  it('aliases mpatha..mpathz, mpathaa', () => {
    expect([0, 1, 25, 26, 27, 701, 702].map(aliasSuffix)).toEqual(['a', 'b', 'z', 'aa', 'ab', 'zz', 'aaa']);
  });

  it('ALUA priorities and the serial WWID', () => {
    expect(aluaPriority(AsymmetricAccessState.ACTIVE_OPTIMIZED)).toBe(50);
    expect(aluaPriority(AsymmetricAccessState.ACTIVE_NON_OPTIMIZED, true)).toBe(11);
    expect(aluaPriority(AsymmetricAccessState.STANDBY)).toBe(1);
    expect(aluaPriority(AsymmetricAccessState.UNAVAILABLE, true)).toBe(0);
    expect(serialWwid('IET', 'VIRTUAL-DISK', 'beaf11')).toBe('SIET_VIRTUAL-DISK_beaf11');
  });
});
