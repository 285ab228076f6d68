/**
 * The failover tracer over scripted paths (test/multipath/fake-path.ts), for what tgtd cannot show on cue: a
 * stall probe as the failure reason (the failover starts at the stalled I/O's issue), a path that stays down
 * past restoreWithinMs (the failover ends unrestored; the later return is a linked `mpath.path.restored`),
 * and I/O failed upward with no usable path (error status, mpath.failed.count).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Subject, filter, firstValueFrom, timeout } from 'rxjs';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { readBlocks } from '../../src/scsi/cdb.js';
import { executeScsi } from '../../src/session/lun.js';
import { MultipathDevice, type MultipathEvent } from '../../src/multipath/device.js';
import type { MultipathConfig } from '../../src/multipath/config.js';
import { instrumentDevice, startTelemetry, type Instrumentation } from '../../src/telemetry/index.js';
import { SimulatedClock } from 'xstate';
import { FakePath, advanceUntil, good } from '../multipath/fake-path.js';

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

/** A device over two scripted paths, instrumented; with `clock` the device, its paths and the telemetry run on it. */
function rig(config: Partial<MultipathConfig>, restoreWithinMs?: number, clock?: SimulatedClock) {
  const exporter = new InMemorySpanExporter();
  const ended = new Subject<ReadableSpan>();
  const processor = new SimpleSpanProcessor(exporter);
  const onEnd = processor.onEnd.bind(processor);
  processor.onEnd = (span) => {
    onEnd(span);
    ended.next(span);
  };
  const telemetry = startTelemetry({ env: {}, spanProcessors: [processor], ...(clock ? { clock } : {}) });
  const dev = new MultipathDevice({
    name: 'mpatha',
    wwid: '360000000000000000e00000000010001',
    config: { pollingIntervalMs: 60_000, ...config },
    ...(clock ? { clock } : {}),
  });
  const inst: Instrumentation = instrumentDevice(dev, telemetry, restoreWithinMs === undefined ? {} : { restoreWithinMs });
  const paths = [new FakePath('p0', clock), new FakePath('p1', clock)];
  for (const [i, p] of paths.entries()) dev.addPath(p, { name: `p${i}`, lun: 1 });
  cleanup.push(() => {
    inst.stop();
    dev.close();
  });
  const spanEnded = (name: string) =>
    firstValueFrom(
      ended.pipe(
        filter((s) => s.name === name),
        timeout(5_000),
      ),
    );
  const event = <T extends MultipathEvent['type']>(type: T, pred: (e: Extract<MultipathEvent, { type: T }>) => boolean = () => true) =>
    firstValueFrom(
      dev.events$.pipe(
        filter((e): e is Extract<MultipathEvent, { type: T }> => e.type === type && pred(e as never)),
        timeout(5_000),
      ),
    );
  return { dev, paths, exporter, spanEnded, event };
}

const read = (dev: MultipathDevice, lba = 0) => executeScsi(dev, 1, readBlocks({ lba, blocks: 8, blockSize: 512 }));

describe('failover spans over scripted paths', () => {
  it('names a failed stall probe as the reason, starts at the stalled I/O, and links a return after restoreWithinMs', async () => {
    // Simulated time: the stall floor, the probe timeout and restoreWithinMs fire exactly when due.
    const clock = new SimulatedClock();
    const { dev, paths, exporter, spanEnded, event } = rig(
      {
        pathGroupingPolicy: 'multibus',
        pathSelector: 'round-robin',
        stallFloorMs: 30,
        probeTimeoutMs: 40,
        stallSweepMs: 5,
        pollingIntervalMs: 100,
      },
      100,
      clock,
    );
    paths[0].answer = () => 'hold';
    paths[0].live!.pings = 'silent';
    const seen = <T>(p: Promise<T>) => {
      const box: { value?: T } = {};
      void p.then((v) => (box.value = v));
      return box;
    };
    const probed = seen(event('probe', (e) => e.path === 'p0' && !e.ok));
    const rootEnded = seen(spanEnded('mpath.failover'));
    const ios = [read(dev, 0), read(dev, 1)]; // round-robin: one held on p0, one answered by p1
    // The I/O is 30 ms old at the sweep of t=30, the probe's NOP-In wait ends at t=70 and closes p0's
    // connection: its I/O goes to p1.
    expect(await advanceUntil(clock, () => probed.value !== undefined, 1000, 'the failed probe')).toBe(70);
    await Promise.all(ios);
    paths[0].down('closed'); // the session notices
    // restoreWithinMs (100) after the failover began to be traced at t=70, with p0 still down.
    expect(await advanceUntil(clock, () => rootEnded.value !== undefined, 1000, 'the failover span')).toBe(100);
    const root = rootEnded.value!;
    expect(root.attributes).toMatchObject({
      'mpath.path': 'p0',
      'mpath.failover.reason': 'probe',
      'mpath.failover.restored': false,
      'mpath.requeued.count': 1,
      'mpath.path.new': 'p1',
    });
    const detect = exporter.getFinishedSpans().find((s) => s.name === 'mpath.failover.detect')!;
    expect(detect.attributes['mpath.probe.stalled_ms']).toBe(30);
    // The failover began when the stalled I/O was issued (t=0), before the probe detected it (t=30) and
    // failed (t=70); the root ended 100 ms after that.
    const ms = (s: ReadableSpan) => Math.round(s.duration[0] * 1e3 + s.duration[1] / 1e6);
    expect(ms(detect)).toBe(70);
    expect(ms(root)).toBe(170);

    const restored = seen(spanEnded('mpath.path.restored'));
    paths[0].answer = () => good(); // the checker's TEST UNIT READY passes
    paths[0].up();
    await advanceUntil(clock, () => restored.value !== undefined, 1000, 'the restored span');
    const late = restored.value!;
    expect(late.parentSpanContext).toBeUndefined();
    expect(late.links.map((l) => l.context.spanId)).toEqual([root.spanContext().spanId]);
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'mpath.failover')).toHaveLength(1);
  });

  it('marks a failover that failed I/O upward (no usable path, no_path_retry fail) as an error', async () => {
    const { dev, paths, spanEnded } = rig({
      pathGroupingPolicy: 'failover',
      noPathRetry: 'fail',
      pollingIntervalMs: 100,
      fastIoFailTmoMs: 0,
    });
    paths[0].answer = () => 'hold';
    const io = read(dev).catch((e: Error) => e);
    const rootEnded = spanEnded('mpath.failover');
    paths[1].down('reset');
    paths[0].down('nop-timeout');
    expect(await io).toBeInstanceOf(Error);
    paths[0].answer = () => good();
    paths[0].up();
    const root = await rootEnded;
    expect(root.attributes).toMatchObject({ 'mpath.path': 'p0', 'mpath.failover.reason': 'nop-timeout', 'mpath.failover.restored': true });
    expect(root.attributes['mpath.failed.count']).toBeGreaterThan(0);
    expect(root.status.code).toBe(2); // SpanStatusCode.ERROR
    expect(root.events.map((e) => e.name)).toContain('mpath.io.failed');
  });

  it('a held outage (no other path): hold start, the path back, the first completion after it, no error', async () => {
    const { dev, paths, exporter, spanEnded, event } = rig({ pathGroupingPolicy: 'failover', pollingIntervalMs: 60_000 });
    dev.removePath('p1');
    paths[0].answer = () => 'hold';
    const io = read(dev);
    const rootEnded = spanEnded('mpath.failover');
    const holding = event('nopath', (e) => e.to === 'holding');
    paths[0].down('reset');
    expect(await holding).toMatchObject({ paths: ['p0'], detail: 'fast_io_fail_tmo 5 s' });
    paths[0].answer = () => good();
    const back = event('nopath', (e) => e.to === 'serving');
    paths[0].up();
    await back;
    expect(await io).toMatchObject({ status: 0 });
    const root = await rootEnded;
    expect(root.status.code).not.toBe(2);
    const names = root.events.map((e) => e.name);
    const first = names.indexOf('mpath.nopath');
    expect(first).toBeGreaterThanOrEqual(0);
    expect(root.events[first].attributes).toMatchObject({ to: 'holding', 'mpath.hold.paths': 'p0' });
    // The first completion after the hold is on the requeue span, which ends inside the root.
    const requeue = exporter
      .getFinishedSpans()
      .find((s) => s.name === 'mpath.requeue' && s.parentSpanContext?.spanId === root.spanContext().spanId)!;
    const firstCompletion = requeue.events.find((e) => e.name === 'mpath.io.first_completion')!;
    const t = (h: [number, number]) => h[0] * 1e3 + h[1] / 1e6;
    expect(t(firstCompletion.time)).toBeGreaterThanOrEqual(t(root.events[first].time));
    expect(t(root.endTime)).toBeGreaterThanOrEqual(t(firstCompletion.time));
    expect(root.attributes).toMatchObject({ 'mpath.failover.restored': true, 'mpath.path.new': 'p0' });
  });

  it('a path that gives up (identity changed) ends the hold: span event, error status, the path detail and EIO', async () => {
    const { dev, paths, spanEnded, event } = rig({ pathGroupingPolicy: 'failover', pollingIntervalMs: 60_000 }, 200);
    dev.removePath('p1');
    paths[0].answer = () => 'hold';
    const io = read(dev).catch((e: Error) => e);
    const rootEnded = spanEnded('mpath.failover');
    const gaveUp = event('path.gaveUp');
    const failing = event('nopath', (e) => e.to === 'failing');
    paths[0].down('reset');
    const why = 'LUN 1 behind t changed identity: WWID 36a -> 36b, serial s1 -> s2';
    paths[0].giveUp('identity-changed', why);
    expect(await gaveUp).toMatchObject({
      path: 'p0',
      code: 'identity-changed',
      detail: `identity-changed: ${why}; session failed, no more relogins`,
    });
    expect(await failing).toMatchObject({ why: 'no-path-can-return' });
    expect(String(await io)).toMatch(/no path can come back; no_path_retry fail/);
    expect(dev.status().groups[0].paths[0].detail).toContain('WWID 36a -> 36b, serial s1 -> s2');
    const root = await rootEnded;
    expect(root.status.code).toBe(2);
    const ev = root.events.find((e) => e.name === 'mpath.path.gave_up');
    expect(ev?.attributes).toMatchObject({ reason: 'identity-changed' });
    expect(String(ev?.attributes?.detail)).toContain('WWID 36a -> 36b');
  });

  it('replacement_timeout expired is said as the path giving up, while the session keeps relogging in', async () => {
    const { dev, paths, event } = rig({ pathGroupingPolicy: 'failover', fastIoFailTmoMs: 'off', pollingIntervalMs: 60_000 });
    dev.removePath('p1');
    const failing = event('nopath', (e) => e.to === 'failing');
    const gaveUp = event('path.gaveUp');
    paths[0].down('reset');
    expect(dev.status().groups[0].paths[0].detail).toBe('reset; relogging in');
    paths[0].giveUp('reset', 'connection reset by peer', 'recovering');
    expect(await gaveUp).toMatchObject({
      code: 'replacement-timeout',
      detail: expect.stringMatching(/^replacement_timeout expired while relogging in \(after reset: connection reset by peer\)/),
    });
    expect(await failing).toMatchObject({ why: 'no-path-can-return' });
  });
});
