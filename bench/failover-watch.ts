/**
 * Watches one multipath device of a running mpiscsid over NATS while something copies through its export:
 * polls `mpath.show` every interval for each path's completed I/Os, listens to the path events, and on
 * SIGTERM/SIGINT writes completions per second per path over time, with a marker at each path state
 * change, as SVG (bench/svg.ts) and JSON. Used by `npm run demo` to draw the failover it provokes.
 *
 *   node dist/bench/failover-watch.js --nats URL --host-id ID --device mpatha --out DIR [--interval-ms 100]
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ControlClient } from '../src/control/client.js';
import { natsConnectionOptions } from '../src/control/nats-options.js';
import { PALETTE, timeChart, type Marker, type Series } from './svg.js';

interface Sample {
  t: number;
  completed: Record<string, number>;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nats: { type: 'string', default: 'nats://127.0.0.1:4222' },
      'host-id': { type: 'string' },
      device: { type: 'string', default: 'mpatha' },
      out: { type: 'string', default: '.' },
      'interval-ms': { type: 'string', default: '100' },
    },
  });
  const hostId = values['host-id'];
  if (!hostId) throw new Error('--host-id is required');
  const interval = Number(values['interval-ms']);
  const client = await ControlClient.connect(natsConnectionOptions({ servers: values.nats, name: 'failover-watch' }), {
    hostId,
    timeoutMs: 5000,
  });
  const t0 = Date.now();
  const samples: Sample[] = [];
  const markers: Array<{ t: number; path: string; to: string; reason: string }> = [];
  const sub = client.subscribeEvents(hostId, 'path', (e) => {
    if (e.kind !== 'path' || e.event.device !== values.device) return;
    markers.push({ t: (Number(e.event.atMs) - t0) / 1000, path: e.event.path, to: e.event.to, reason: e.event.reason });
  });
  let stopping = false;
  const poll = async () => {
    while (!stopping) {
      const started = Date.now();
      try {
        const [d] = (await client.call('mpathShow', { device: values.device })).devices;
        const completed: Record<string, number> = {};
        for (const p of d.paths) completed[p.name] = p.completed;
        samples.push({ t: (Date.now() - t0) / 1000, completed });
      } catch {
        // the daemon busy or gone for a moment: the gap shows in the plot
      }
      await new Promise((r) => setTimeout(r, Math.max(0, interval - (Date.now() - started))));
    }
  };
  const polling = poll();
  process.stdout.write(`watching ${values.device} on host ${hostId}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  stopping = true;
  await polling;
  sub.unsubscribe();
  await client.close();

  // Completions per second per path between consecutive samples.
  const paths = [...new Set(samples.flatMap((s) => Object.keys(s.completed)))].sort();
  const series: Series[] = paths.map((p, i) => ({
    label: `path ${p}`,
    color: PALETTE[i % PALETTE.length],
    points: samples.slice(1).map((s, k) => {
      const prev = samples[k];
      const dt = s.t - prev.t;
      const d = (s.completed[p] ?? 0) - (prev.completed[p] ?? 0);
      return { x: s.t, y: dt > 0 && d > 0 ? d / dt : 0 };
    }),
  }));
  const marks: Marker[] = markers
    .filter((m) => m.to === 'failed' || m.to === 'active')
    .map((m) => ({ x: m.t, label: `${m.path} ${m.to}`, color: m.to === 'failed' ? '#D55E00' : '#009E73', dashed: m.to === 'active' }));
  const svg = timeChart({
    title: `${values.device}: completed I/Os per second per path`,
    subtitle: 'sampled over NATS (mpath.show) while the demo copies through the NBD export; markers: path state changes',
    xLabel: 'seconds',
    yLabel: 'I/Os per second',
    panels: [{ title: values.device!, series, markers: marks }],
  });
  mkdirSync(values.out!, { recursive: true });
  const svgPath = join(values.out!, 'demo-failover.svg');
  writeFileSync(svgPath, svg);
  writeFileSync(join(values.out!, 'demo-failover.json'), JSON.stringify({ device: values.device, samples, markers }, null, 2));
  process.stdout.write(`plot: ${svgPath}\n`);
}

main().catch((err) => {
  process.stderr.write(`failover-watch: ${(err as Error).message}\n`);
  process.exit(1);
});
