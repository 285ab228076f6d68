/**
 * Unit tests of the benchmark plots' SVG writer (well-formed XML, axes, ticks, marker and bar positions) and of
 * the fio output parsers, against fio 3.33 output captured from `mpiscsi serve` (fixtures/README.md).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { barChart, cdfChart, esc, formatTick, linearScale, logScale, niceTicks, timeChart, TIME_LAYOUT } from '../../bench/svg.js';
import { clatPercentile, fioArgs, FioOutputError, longestStall, parseFioJson, parseFioLog, throughputSeries } from '../../bench/fio.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');

// ---------------------------------------------------------------------------------------------- a minimal XML parser

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/**
 * Just enough XML for these tests: a prolog, elements, attributes in double quotes, text, the five
 * predefined entities. Throws on mismatched or unclosed tags, duplicate or unquoted attributes, stray '<'
 * or '&', and anything after the root element.
 */
function parseXml(src: string): XmlElement {
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(`${msg} at offset ${i}: ${JSON.stringify(src.slice(i, i + 40))}`);
  };
  const decode = (s: string): string => {
    if (/&(?!(amp|lt|gt|quot|apos);)/.test(s)) fail(`bad entity in ${JSON.stringify(s)}`);
    if (s.includes('<')) fail('"<" in text or attribute');
    return s
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  };
  const skipSpace = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  if (src.startsWith('<?xml')) {
    const end = src.indexOf('?>');
    if (end < 0) fail('unterminated prolog');
    i = end + 2;
  }
  skipSpace();
  const element = (): XmlElement => {
    if (src[i] !== '<') fail('expected "<"');
    i++;
    const name = /^[A-Za-z_][\w.:-]*/.exec(src.slice(i))?.[0] ?? fail('bad tag name');
    i += name.length;
    const el: XmlElement = { name, attrs: {}, children: [], text: '' };
    for (;;) {
      skipSpace();
      if (src.startsWith('/>', i)) {
        i += 2;
        return el;
      }
      if (src[i] === '>') {
        i++;
        break;
      }
      const m = /^([A-Za-z_][\w.:-]*)="([^"]*)"/.exec(src.slice(i)) ?? fail('bad attribute');
      if (m[1] in el.attrs) fail(`duplicate attribute ${m[1]}`);
      el.attrs[m[1]] = decode(m[2]);
      i += m[0].length;
    }
    for (;;) {
      const lt = src.indexOf('<', i);
      if (lt < 0) fail(`unclosed <${name}>`);
      el.text += decode(src.slice(i, lt));
      i = lt;
      if (src.startsWith('</', i)) {
        const close = `</${name}>`;
        if (!src.startsWith(close, i)) fail(`expected ${close}`);
        i += close.length;
        return el;
      }
      el.children.push(element());
    }
  };
  const root = element();
  skipSpace();
  if (i !== src.length) fail('content after the root element');
  return root;
}

function all(root: XmlElement, pred: (e: XmlElement) => boolean): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (pred(e)) out.push(e);
    e.children.forEach(walk);
  };
  walk(root);
  return out;
}

const byClass = (root: XmlElement, cls: string) => all(root, (e) => (e.attrs.class ?? '').split(' ').join(' ') === cls);
const num = (e: XmlElement, a: string) => Number(e.attrs[a]);

describe('the minimal XML parser used by these tests', () => {
  it('rejects malformed documents', () => {
    expect(() => parseXml('<a><b></a>')).toThrow(/expected <\/b>/);
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow(/duplicate/);
    expect(() => parseXml('<a x=1/>')).toThrow(/bad attribute/);
    expect(() => parseXml('<a>AT&T</a>')).toThrow(/bad entity/);
    expect(() => parseXml('<a/><b/>')).toThrow(/after the root/);
    expect(parseXml('<?xml version="1.0"?>\n<a k="&lt;&amp;">x &gt; y</a>\n')).toMatchObject({
      name: 'a',
      attrs: { k: '<&' },
      text: 'x > y',
    });
  });
});

// ---------------------------------------------------------------------------------------------- scales

describe('scales and ticks', () => {
  it('niceTicks picks 1/2/5 steps covering the domain', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0, 12, 10)).toEqual([0, 2, 4, 6, 8, 10, 12]);
    expect(niceTicks(0, 1, 4)).toEqual([0, 0.5, 1]);
    expect(niceTicks(5, 5)).toEqual([5]);
  });

  it('linear and log scales map the domain onto the range', () => {
    const x = linearScale([0, 10], [100, 200]);
    expect(x(0)).toBe(100);
    expect(x(5)).toBe(150);
    expect(x(10)).toBe(200);
    const y = logScale([15, 900], [300, 0]);
    expect(y.domain).toEqual([10, 1000]);
    expect(y.ticks).toEqual([10, 100, 1000]);
    expect(y(10)).toBe(300);
    expect(y(100)).toBeCloseTo(150, 9);
    expect(y(1000)).toBe(0);
  });

  it('formats ticks briefly', () => {
    expect([0.5, 12, 999, 1000, 1500, 25_000, 2_000_000].map(formatTick)).toEqual(['0.5', '12', '999', '1k', '1.5k', '25k', '2M']);
  });

  it('escapes markup in text and attributes', () => {
    expect(esc(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
  });
});

// ---------------------------------------------------------------------------------------------- time chart

describe('timeChart', () => {
  const svg = timeChart({
    title: 'Throughput <while> a path fails & recovers',
    xLabel: 'seconds',
    yLabel: 'MB/s',
    xMax: 10,
    panels: [
      {
        title: 'read; path 1 reset',
        note: 'stall 300 ms',
        series: [{ label: 'MB/s', points: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((t) => ({ x: t, y: t === 5 ? 0 : 50 })) }],
        markers: [
          { x: 2.5, label: 'reset injected' },
          { x: 2.6, label: 'path failed', dashed: true },
          { x: 7.5, label: 'healed' },
        ],
      },
      {
        title: 'write; path 2 blackholed',
        series: [
          {
            label: 'MB/s',
            points: [
              { x: 0, y: 10 },
              { x: 10, y: 20 },
            ],
          },
        ],
        markers: [{ x: 5, label: 'blackhole' }],
      },
    ],
  });
  const root = parseXml(svg);

  it('is a well-formed SVG document with a title and one group per panel', () => {
    expect(root.name).toBe('svg');
    expect(root.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(Number(root.attrs.width)).toBeGreaterThan(0);
    expect(all(root, (e) => e.name === 'text').some((t) => t.text === 'Throughput <while> a path fails & recovers')).toBe(true);
    expect(byClass(root, 'panel')).toHaveLength(2);
  });

  it('draws both axes in each panel, the x axis below the plot and the y axis at its left', () => {
    for (const panel of byClass(root, 'panel')) {
      const [x] = byClass(panel, 'axis x');
      const [y] = byClass(panel, 'axis y');
      expect(x?.name, 'x axis').toBe('line');
      expect(y?.name, 'y axis').toBe('line');
      expect(num(x, 'y1')).toBe(num(x, 'y2'));
      expect(num(y, 'x1')).toBe(num(y, 'x2'));
      expect(num(y, 'x1')).toBe(TIME_LAYOUT.left);
      expect(num(x, 'x1')).toBe(TIME_LAYOUT.left);
      expect(num(y, 'y2')).toBe(num(x, 'y1')); // the axes meet at the origin
      const ticks = byClass(panel, 'tick x').map((t) => Number(t.attrs['data-value']));
      expect(ticks[0]).toBe(0);
      expect(ticks.at(-1)).toBe(10);
    }
  });

  it('puts each marker where its time falls on the x axis', () => {
    const panel = byClass(root, 'panel')[0];
    const tickX = (v: number) => num(byClass(panel, 'tick x').find((t) => Number(t.attrs['data-value']) === v)!, 'x1');
    const x0 = tickX(0);
    const x10 = tickX(10);
    const markers = byClass(panel, 'marker');
    expect(markers.map((m) => Number(m.attrs['data-x']))).toEqual([2.5, 2.6, 7.5]);
    for (const m of markers) {
      const t = Number(m.attrs['data-x']);
      expect(num(m, 'x1')).toBeCloseTo(x0 + (t / 10) * (x10 - x0), 1);
      expect(num(m, 'x2')).toBe(num(m, 'x1')); // vertical
    }
    expect(markers[1].attrs['stroke-dasharray']).toBeDefined();
    const labels = byClass(panel, 'marker-label');
    expect(labels.map((l) => l.text)).toEqual(['reset injected', 'path failed', 'healed']);
    // The labels of the two close markers are on different rows.
    expect(num(labels[0], 'y')).not.toBe(num(labels[1], 'y'));
  });

  it('draws the series through the plot: the zero at t=5 sits on the x axis', () => {
    const panel = byClass(root, 'panel')[0];
    const [line] = byClass(panel, 'series');
    const pts = line.attrs.points.split(' ').map((p) => p.split(',').map(Number));
    expect(pts).toHaveLength(11);
    const axisY = num(byClass(panel, 'axis x')[0], 'y1');
    expect(pts[5][1]).toBe(axisY);
    expect(pts[4][1]).toBeLessThan(axisY);
  });
});

// ---------------------------------------------------------------------------------------------- bar chart

describe('barChart', () => {
  const svg = barChart({
    title: 'latency',
    yLabel: 'µs',
    seriesLabels: ['p50', 'p99', 'p99.9'],
    groups: [
      {
        label: '4k-randread-qd1',
        clusters: [
          { label: 'a', values: [100, 1000, 10_000] },
          { label: 'b', values: [200, undefined, 2000] },
        ],
      },
      {
        label: '4k-randread-qd32',
        clusters: [
          { label: 'a', values: [10, 100, 1000] },
          { label: 'b', values: [20, 200, 2000] },
        ],
      },
    ],
  });
  const root = parseXml(svg);

  it('is well formed, with a y axis on a log scale of whole decades', () => {
    expect(root.name).toBe('svg');
    expect(byClass(root, 'axis y')).toHaveLength(1);
    expect(byClass(root, 'tick y').map((t) => Number(t.attrs['data-value']))).toEqual([10, 100, 1000, 10_000]);
    expect(byClass(root, 'group').map((g) => g.attrs['data-label'])).toEqual(['4k-randread-qd1', '4k-randread-qd32']);
  });

  it('draws one bar per defined value, its top at the value on the y axis', () => {
    const bars = byClass(root, 'bar');
    expect(bars).toHaveLength(11);
    const tickY = (v: number) => num(byClass(root, 'tick y').find((t) => Number(t.attrs['data-value']) === v)!, 'y1');
    const bottom = num(byClass(root, 'axis x')[0], 'y1');
    for (const b of bars) {
      const v = Number(b.attrs['data-value']);
      const expected = tickY(10) + (Math.log10(v) - 1) * (tickY(100) - tickY(10));
      expect(num(b, 'y')).toBeCloseTo(expected, 1);
      expect(num(b, 'y') + num(b, 'height')).toBeCloseTo(bottom, 1);
    }
    // Inside a cluster the bars go left to right in series order.
    const first = bars.filter((b) => ['100', '1000', '10000'].includes(b.attrs['data-value'])).slice(0, 3);
    expect(first.map((b) => b.attrs['data-series'])).toEqual(['p50', 'p99', 'p99.9']);
    expect(num(first[0], 'x')).toBeLessThan(num(first[1], 'x'));
    expect(num(first[1], 'x')).toBeLessThan(num(first[2], 'x'));
  });
});

// ---------------------------------------------------------------------------------------------- fio

describe('fio output parsing (fio 3.33, nbd engine, captured from mpiscsi serve)', () => {
  it('reads IOPS, bandwidth and clat percentiles of a random-read job, skipping the text before the JSON', () => {
    const r = parseFioJson(fixture('fio-3.33-nbd-randread.json'));
    expect(r.version).toBe('fio-3.33');
    expect(r.jobname).toBe('4k-randread-qd32');
    expect(r.error).toBe(0);
    expect(r.preamble).toBe('fio: connected to NBD server');
    expect(r.read.iops).toBeGreaterThan(1000);
    expect(r.read.ios).toBeGreaterThan(1000);
    expect(r.read.bytes).toBe(r.read.ios * 4096);
    // bw_bytes is bytes/s over the job's runtime (ms).
    expect(r.read.bwBytes).toBeCloseTo(r.read.bytes / (r.read.runtimeMs / 1000), -5);
    expect(r.write.iops).toBe(0);
    const p50 = clatPercentile(r.read, 50)!;
    const p99 = clatPercentile(r.read, 99)!;
    const p999 = clatPercentile(r.read, 99.9)!;
    expect(p50).toBeGreaterThan(0);
    expect(p50).toBeLessThanOrEqual(p99);
    expect(p99).toBeLessThanOrEqual(p999);
    expect(p999).toBeLessThanOrEqual(r.read.clat.maxNs);
    expect(clatPercentile(r.read, 95)).toBeUndefined();
  });

  it('reads a write-with-verify job: verify reads count in the totals but not in the rates', () => {
    const r = parseFioJson(fixture('fio-3.33-nbd-write-verify.json'));
    expect(r.jobname).toBe('write-verify');
    expect(r.error).toBe(0);
    expect(r.write.iops).toBeGreaterThan(100);
    expect(r.read.ios).toBeGreaterThan(0);
    expect(r.read.bytes).toBe(r.read.ios * 4096);
    expect(r.read.iops).toBe(0);
    expect(r.read.runtimeMs).toBe(0);
    expect(clatPercentile(r.write, 99.9)).toBeGreaterThan(0);
  });

  it('refuses output without a JSON document', () => {
    expect(() => parseFioJson('fio: failed to connect\n')).toThrow(FioOutputError);
    expect(() => parseFioJson('{ "jobs": [] }')).toThrow(/no jobs/);
  });

  it('parses a bandwidth log (epoch ms, KiB/s, direction) and turns it into a MB/s series', () => {
    const samples = parseFioLog(fixture('fio-3.33-write-verify_bw.1.log'));
    expect(samples).toHaveLength(6);
    expect(samples[0]).toEqual({ t: 1795473632412, value: 16560, ddir: 1 });
    const series = throughputSeries(samples, 1795473632312);
    expect(series[0].t).toBeCloseTo(0.1, 9);
    expect(series[0].mbps).toBeCloseTo((16560 * 1024) / 1e6, 9);
  });

  it('sums the directions of one interval, fills holes with zeros and finds the longest stall', () => {
    const log = [
      '1000, 1000, 0, 4096, 0',
      '1000, 500, 1, 4096, 0',
      '1100, 1000, 0, 4096, 0',
      '1600, 1000, 0, 4096, 0',
      '1700, 1000, 0, 4096, 0',
      'garbage',
      '',
    ].join('\n');
    const samples = parseFioLog(log);
    expect(samples).toHaveLength(5);
    const raw = throughputSeries(samples, 900);
    expect(raw.map((p) => p.t)).toEqual([0.1, 0.2, 0.7, 0.8]);
    expect(raw[0].mbps).toBeCloseTo((1500 * 1024) / 1e6, 9);
    const filled = throughputSeries(samples, 900, 100);
    expect(filled.map((p) => [Number(p.t.toFixed(3)), p.mbps > 0])).toEqual([
      [0.1, true],
      [0.2, true],
      [0.3, false],
      [0.6, false],
      [0.7, true],
      [0.8, true],
    ]);
    expect(longestStall(filled)).toEqual({ longestMs: 500, fromS: 0.2, toS: 0.7 });
    expect(longestStall(filled, 0.65).longestMs).toBe(100);
    expect(longestStall([])).toEqual({ longestMs: 0 });
  });

  it('builds nbd-engine arguments, with verify and logs when asked', () => {
    const plain = fioArgs({ name: 'x', uri: 'nbd+unix:///a?socket=/s', rw: 'randread', bs: 4096, iodepth: 32, runtimeMs: 1500 });
    expect(plain).toContain('--ioengine=nbd');
    expect(plain).toContain('--uri=nbd+unix:///a?socket=/s');
    expect(plain).toContain('--runtime=1500ms');
    expect(plain).toContain('--norandommap=1');
    expect(plain).toContain('--percentile_list=1:5:10:20:30:40:50:60:70:80:90:95:99:99.5:99.9:99.99');
    expect(plain.some((a) => a.startsWith('--verify'))).toBe(false);
    const verify = fioArgs({
      name: 'v',
      uri: 'u',
      rw: 'randwrite',
      bs: 4096,
      iodepth: 32,
      runtimeMs: 1000,
      verifyBacklog: 64,
      logPrefix: '/tmp/p',
      logAvgMsec: 100,
    });
    expect(verify).toContain('--verify=crc32c');
    expect(verify).toContain('--verify_backlog=64');
    expect(verify).not.toContain('--norandommap=1');
    expect(verify).toContain('--write_bw_log=/tmp/p');
    expect(verify).toContain('--log_unix_epoch=1');
  });
});

describe('cdfChart', () => {
  it('draws one polyline per series and panel, rising left to right on a shared log x axis', () => {
    const cdf = (scale: number) => [1, 50, 99, 99.9].map((p) => ({ x: scale * (1 + p), y: p }));
    const svg = cdfChart({
      title: 'CDF',
      xLabel: 'µs',
      panels: [
        {
          title: 'qd1',
          series: [
            { label: 'a', points: cdf(1) },
            { label: 'b', points: cdf(2) },
          ],
        },
        { title: 'qd32', series: [{ label: 'a', points: cdf(10) }] },
      ],
    });
    const root = parseXml(svg);
    const lines = all(root, (e) => e.name === 'polyline');
    expect(lines.map((l) => l.attrs['data-label'])).toEqual(['a', 'b', 'a']);
    for (const l of lines) {
      const pts = l.attrs.points.split(' ').map((p) => p.split(',').map(Number));
      for (let i = 1; i < pts.length; i++) {
        expect(pts[i][0]).toBeGreaterThan(pts[i - 1][0]); // later percentiles further right
        expect(pts[i][1]).toBeLessThan(pts[i - 1][1]); // and higher up
      }
    }
    // The same colour for a label in every panel.
    expect(lines[0].attrs.stroke).toBe(lines[2].attrs.stroke);
    expect(lines[0].attrs.stroke).not.toBe(lines[1].attrs.stroke);
  });
});
