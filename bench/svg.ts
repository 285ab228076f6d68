/**
 * A small SVG writer for the benchmark plots (no plotting library): escaped elements, linear and log scales
 * with round tick values, line charts over time in stacked panels with labelled vertical markers, and grouped
 * bar charts. Output is plain SVG 1.1 text that browsers and GitHub render as an image.
 */

export type Attrs = Record<string, string | number | undefined>;

/** Escapes text and attribute values for XML. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Rounds coordinates to 0.01 px so the files stay small and stable. */
export function px(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** One element; attributes with undefined values are left out; children are already-serialised SVG. */
export function el(tag: string, attrs: Attrs = {}, children: string | string[] = []): string {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${esc(typeof v === 'number' ? px(v) : v!)}"`)
    .join('');
  const body = Array.isArray(children) ? children.join('') : children;
  return body === '' ? `<${tag}${a}/>` : `<${tag}${a}>${body}</${tag}>`;
}

/** A text element (the content is escaped). */
export function text(x: number, y: number, content: string, attrs: Attrs = {}): string {
  return el('text', { x, y, ...attrs }, esc(content));
}

export interface Scale {
  (v: number): number;
  domain: [number, number];
  range: [number, number];
  ticks: number[];
}

/** Round tick values (1, 2 or 5 times a power of ten apart) covering [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / Math.max(1, count);
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const out: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** The smallest round number (1, 2 or 5 times a power of ten, or a multiple of the tick step) at or above `v`. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const pow = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= v * (1 - 1e-12)) ?? 10 * pow;
}

export function linearScale(domain: [number, number], range: [number, number], tickCount = 6): Scale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const f = ((v: number) => (d1 === d0 ? r0 : r0 + ((v - d0) / (d1 - d0)) * (r1 - r0))) as Scale;
  f.domain = domain;
  f.range = range;
  f.ticks = niceTicks(d0, d1, tickCount);
  return f;
}

/** A log10 scale over whole decades; ticks at each power of ten. Values <= 0 map to the bottom of the range. */
export function logScale(domain: [number, number], range: [number, number]): Scale {
  const lo = 10 ** Math.floor(Math.log10(Math.max(domain[0], Number.MIN_VALUE)));
  const hi = Math.max(lo * 10, 10 ** Math.ceil(Math.log10(Math.max(domain[1], Number.MIN_VALUE))));
  const [r0, r1] = range;
  const l0 = Math.log10(lo);
  const l1 = Math.log10(hi);
  const f = ((v: number) => (v <= 0 ? r0 : r0 + ((Math.log10(v) - l0) / (l1 - l0)) * (r1 - r0))) as Scale;
  f.domain = [lo, hi];
  f.range = range;
  f.ticks = [];
  for (let e = l0; e <= l1 + 1e-9; e++) f.ticks.push(Number((10 ** e).toPrecision(12)));
  return f;
}

/** Tick labels: up to 3 significant digits, k/M for thousands and millions. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

/** Line colours, chosen to stay apart for colour-blind readers (Okabe-Ito). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'] as const;

const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';

function document(width: number, height: number, body: string[]): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">\n` +
    el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }) +
    '\n' +
    body.join('\n') +
    '\n</svg>\n'
  );
}

/** Axes with ticks and grid lines for one plot area; the tick lines carry their value as data-value. */
function axes(
  x: Scale | undefined,
  y: Scale,
  area: { left: number; top: number; right: number; bottom: number },
  yFormat = formatTick,
): string[] {
  const out: string[] = [];
  for (const v of y.ticks) {
    const yy = y(v);
    out.push(el('line', { class: 'grid y', x1: area.left, x2: area.right, y1: yy, y2: yy, stroke: '#e4e4e4' }));
    out.push(el('line', { class: 'tick y', 'data-value': String(v), x1: area.left - 4, x2: area.left, y1: yy, y2: yy, stroke: '#333' }));
    out.push(text(area.left - 6, yy + 4, yFormat(v), { 'text-anchor': 'end', fill: '#333' }));
  }
  if (x)
    for (const v of x.ticks) {
      const xx = x(v);
      out.push(el('line', { class: 'grid x', x1: xx, x2: xx, y1: area.top, y2: area.bottom, stroke: '#f0f0f0' }));
      out.push(
        el('line', { class: 'tick x', 'data-value': String(v), x1: xx, x2: xx, y1: area.bottom, y2: area.bottom + 4, stroke: '#333' }),
      );
      out.push(text(xx, area.bottom + 16, formatTick(v), { 'text-anchor': 'middle', fill: '#333' }));
    }
  out.push(el('line', { class: 'axis x', x1: area.left, x2: area.right, y1: area.bottom, y2: area.bottom, stroke: '#333' }));
  out.push(el('line', { class: 'axis y', x1: area.left, x2: area.left, y1: area.top, y2: area.bottom, stroke: '#333' }));
  return out;
}

// ------------------------------------------------------------------------------------------ time series

export interface Series {
  label: string;
  points: Array<{ x: number; y: number }>;
  color?: string;
}

export interface Marker {
  /** Position on the x axis (the data's unit). */
  x: number;
  label: string;
  color?: string;
  /** Dashed line (for derived events, e.g. "path failed" as the initiator logged it). */
  dashed?: boolean;
}

export interface Panel {
  title: string;
  series: Series[];
  markers: Marker[];
  /** A line under the title, e.g. the measured stall. */
  note?: string;
}

export interface TimeChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  panels: Panel[];
  width?: number;
  panelHeight?: number;
  /** Right end of the x axis (default: the largest x of any point or marker). */
  xMax?: number;
}

/** Layout of a time chart, exported so tests can check positions. */
export const TIME_LAYOUT = { left: 70, right: 24, top: 56, panelGap: 64, bottom: 48 } as const;

/**
 * Stacked panels sharing one x axis range, each with its series as polylines and its markers as vertical
 * lines labelled at the top (labels of nearby markers are staggered so they do not overlap).
 */
export function timeChart(o: TimeChartOptions): string {
  const width = o.width ?? 960;
  const panelHeight = o.panelHeight ?? 220;
  const L = TIME_LAYOUT;
  const height = L.top + o.panels.length * panelHeight + (o.panels.length - 1) * L.panelGap + L.bottom;
  const xs = o.panels.flatMap((p) => [...p.series.flatMap((s) => s.points.map((q) => q.x)), ...p.markers.map((m) => m.x)]);
  const xMax = o.xMax ?? niceCeil(Math.max(1, ...xs));
  const body: string[] = [text(L.left, 22, o.title, { 'font-size': 16, 'font-weight': 'bold' })];
  if (o.subtitle) body.push(text(L.left, 40, o.subtitle, { fill: '#555' }));
  o.panels.forEach((panel, pi) => {
    const top = L.top + pi * (panelHeight + L.panelGap) + 28;
    const bottom = L.top + pi * (panelHeight + L.panelGap) + panelHeight;
    const area = { left: L.left, right: width - L.right, top, bottom };
    const x = linearScale([0, xMax], [area.left, area.right], 10);
    const ys = panel.series.flatMap((s) => s.points.map((q) => q.y));
    const y = linearScale([0, niceCeil(Math.max(1e-9, ...ys) * 1.1)], [bottom, top], 5);
    const g: string[] = [text(area.left, top - 14, panel.title, { 'font-weight': 'bold' })];
    if (panel.note) g.push(text(area.right, top - 14, panel.note, { 'text-anchor': 'end', fill: '#555' }));
    g.push(...axes(x, y, area));
    g.push(
      text(area.left - 52, (top + bottom) / 2, o.yLabel, {
        transform: `rotate(-90 ${px(area.left - 52)} ${px((top + bottom) / 2)})`,
        'text-anchor': 'middle',
      }),
    );
    panel.series.forEach((s, si) => {
      const color = s.color ?? PALETTE[si % PALETTE.length];
      const pts = s.points
        .filter((q) => q.x >= 0 && q.x <= xMax)
        .map((q) => `${px(x(q.x))},${px(y(q.y))}`)
        .join(' ');
      g.push(el('polyline', { class: 'series', 'data-label': s.label, points: pts, fill: 'none', stroke: color, 'stroke-width': 1.5 }));
    });
    // Legend at the top right, under the note (a lone series is named by the y label).
    if (panel.series.length > 1)
      panel.series.forEach((s, si) => {
        const color = s.color ?? PALETTE[si % PALETTE.length];
        const ly = top + 12 + si * 14;
        g.push(el('line', { x1: area.right - 150, x2: area.right - 132, y1: ly - 4, y2: ly - 4, stroke: color, 'stroke-width': 2 }));
        g.push(text(area.right - 128, ly, s.label, { fill: '#333' }));
      });
    const sorted = [...panel.markers].sort((a, b) => a.x - b.x);
    let lastX = -Infinity;
    let row = 0;
    for (const m of sorted) {
      const mx = x(m.x);
      row = mx - lastX < 110 ? row + 1 : 0;
      lastX = mx;
      const color = m.color ?? '#B00020';
      g.push(
        el('line', {
          class: 'marker',
          'data-x': String(m.x),
          x1: mx,
          x2: mx,
          y1: top,
          y2: bottom,
          stroke: color,
          'stroke-width': 1.2,
          'stroke-dasharray': m.dashed ? '4 3' : undefined,
        }),
      );
      g.push(text(mx + 3, top + 11 + (row % 4) * 12, m.label, { class: 'marker-label', fill: color, 'font-size': 11 }));
    }
    g.push(text((area.left + area.right) / 2, bottom + 34, o.xLabel, { 'text-anchor': 'middle' }));
    body.push(el('g', { class: 'panel', 'data-index': pi }, g));
  });
  return document(width, height, body);
}

// ------------------------------------------------------------------------------------------ bar chart

export interface BarCluster {
  /** Shown under the cluster (e.g. the peer). */
  label: string;
  /** One value per series (undefined: no bar). */
  values: Array<number | undefined>;
  color?: string;
}

export interface BarGroup {
  /** Shown under the group (e.g. the workload). */
  label: string;
  clusters: BarCluster[];
}

export interface BarChartOptions {
  title: string;
  subtitle?: string;
  yLabel: string;
  /** Names of the bars inside a cluster, left to right (e.g. p50, p99, p99.9). */
  seriesLabels: string[];
  groups: BarGroup[];
  /** Log scale (default true: latencies span decades). */
  log?: boolean;
  width?: number;
  height?: number;
  yFormat?: (v: number) => string;
}

/** Layout of a bar chart, exported so tests can check positions. */
export const BAR_LAYOUT = { left: 78, right: 24, top: 84, bottom: 92, groupGap: 18, clusterGap: 4 } as const;

/**
 * Groups of clusters of bars: a cluster per peer coloured by cluster (lighter to darker per series), a
 * group per workload, on a shared y axis (log by default).
 */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 1100;
  const height = o.height ?? 480;
  const L = BAR_LAYOUT;
  const area = { left: L.left, right: width - L.right, top: L.top, bottom: height - L.bottom };
  const values = o.groups.flatMap((g) => g.clusters.flatMap((c) => c.values.filter((v): v is number => v !== undefined && v > 0)));
  const lo = values.length ? Math.min(...values) : 1;
  const hi = values.length ? Math.max(...values) : 10;
  const y =
    o.log === false ? linearScale([0, niceCeil(hi * 1.1)], [area.bottom, area.top], 6) : logScale([lo, hi], [area.bottom, area.top]);
  const body: string[] = [text(L.left, 22, o.title, { 'font-size': 16, 'font-weight': 'bold' })];
  if (o.subtitle) body.push(text(L.left, 40, o.subtitle, { fill: '#555' }));
  body.push(...axes(undefined, y, area, o.yFormat));
  body.push(
    text(20, (area.top + area.bottom) / 2, o.yLabel, {
      transform: `rotate(-90 20 ${px((area.top + area.bottom) / 2)})`,
      'text-anchor': 'middle',
    }),
  );
  const nGroups = Math.max(1, o.groups.length);
  const groupWidth = (area.right - area.left - L.groupGap * (nGroups + 1)) / nGroups;
  const clusterColors = new Map<string, string>();
  o.groups.forEach((grp, gi) => {
    const gx = area.left + L.groupGap + gi * (groupWidth + L.groupGap);
    const nClusters = Math.max(1, grp.clusters.length);
    const clusterWidth = (groupWidth - L.clusterGap * (nClusters - 1)) / nClusters;
    const g: string[] = [];
    grp.clusters.forEach((c, ci) => {
      if (!clusterColors.has(c.label)) clusterColors.set(c.label, c.color ?? PALETTE[clusterColors.size % PALETTE.length]);
      const color = clusterColors.get(c.label)!;
      const cx = gx + ci * (clusterWidth + L.clusterGap);
      const barWidth = clusterWidth / Math.max(1, o.seriesLabels.length);
      c.values.forEach((v, si) => {
        if (v === undefined || !(v > 0)) return;
        const top = Math.min(y(v), area.bottom);
        const opacity = 0.45 + (0.55 * (si + 1)) / o.seriesLabels.length;
        g.push(
          el('rect', {
            class: 'bar',
            'data-value': String(v),
            'data-series': o.seriesLabels[si],
            x: cx + si * barWidth,
            y: top,
            width: Math.max(0.5, barWidth - 1),
            height: Math.max(0, area.bottom - top),
            fill: color,
            'fill-opacity': Number(opacity.toFixed(2)),
          }),
        );
      });
      const lx = cx + clusterWidth / 2;
      g.push(
        text(lx, area.bottom + 12, c.label, {
          'text-anchor': 'end',
          'font-size': 10,
          transform: `rotate(-40 ${px(lx)} ${px(area.bottom + 12)})`,
        }),
      );
    });
    g.push(text(gx + groupWidth / 2, area.bottom + 74, grp.label, { 'text-anchor': 'middle', 'font-size': 11, 'font-weight': 'bold' }));
    body.push(el('g', { class: 'group', 'data-label': grp.label }, g));
  });
  // Legend: cluster colours, then what the bars inside a cluster are.
  let lx = area.left;
  for (const [label, color] of clusterColors) {
    body.push(el('rect', { x: lx, y: 52, width: 12, height: 12, fill: color }));
    body.push(text(lx + 16, 62, label));
    lx += 30 + label.length * 7;
  }
  body.push(text(lx + 10, 62, `bars in each cluster, left to right: ${o.seriesLabels.join(', ')}`, { fill: '#555' }));
  return document(width, height, body);
}

// ------------------------------------------------------------------------------------------ CDF

export interface CdfPanel {
  title: string;
  /** Each series' points: x the latency, y the percentile (0..100). */
  series: Series[];
}

export interface CdfChartOptions {
  title: string;
  subtitle?: string;
  xLabel: string;
  panels: CdfPanel[];
  width?: number;
  panelHeight?: number;
}

/**
 * Latency CDFs, one panel each (side by side), every series a step-free polyline through its percentile
 * points: x on a log scale shared by all panels, y the percentile. Legend under the title.
 */
export function cdfChart(o: CdfChartOptions): string {
  const width = o.width ?? 960;
  const height = o.panelHeight ?? 340;
  const top = 70;
  const bottom = 48;
  const gap = 56;
  const left = 60;
  const n = Math.max(1, o.panels.length);
  const panelWidth = (width - left - 24 - gap * (n - 1)) / n;
  const xs = o.panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q.x))).filter((v) => v > 0 && Number.isFinite(v));
  const domain: [number, number] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [1, 10];
  const labels = [...new Set(o.panels.flatMap((p) => p.series.map((s) => s.label)))];
  const colour = (label: string, given?: string) => given ?? PALETTE[labels.indexOf(label) % PALETTE.length];
  const body: string[] = [text(left, 22, o.title, { 'font-size': 15, 'font-weight': 'bold' })];
  if (o.subtitle) body.push(text(left, 40, o.subtitle, { fill: '#555' }));
  labels.forEach((l, i) => {
    const x = left + i * 150;
    body.push(el('line', { x1: x, x2: x + 18, y1: 54, y2: 54, stroke: colour(l), 'stroke-width': 2 }));
    body.push(text(x + 24, 58, l));
  });
  o.panels.forEach((p, i) => {
    const area = {
      left: left + i * (panelWidth + gap),
      right: left + i * (panelWidth + gap) + panelWidth,
      top: top + 14,
      bottom: top + height - bottom,
    };
    const x = logScale(domain, [area.left, area.right]);
    const y = linearScale([0, 100], [area.bottom, area.top], 5);
    body.push(text(area.left, top + 6, p.title, { 'font-weight': 'bold' }));
    body.push(...axes(x, y, area));
    body.push(text((area.left + area.right) / 2, area.bottom + 34, o.xLabel, { 'text-anchor': 'middle', fill: '#333' }));
    for (const s of p.series) {
      const pts = s.points.filter((q) => q.x > 0 && Number.isFinite(q.x)).map((q) => `${px(x(q.x))},${px(y(q.y))}`);
      if (pts.length)
        body.push(
          el('polyline', {
            class: 'series',
            'data-label': s.label,
            points: pts.join(' '),
            fill: 'none',
            stroke: colour(s.label, s.color),
            'stroke-width': 2,
          }),
        );
    }
  });
  body.push(
    text(14, top + height / 2, 'percentile', { transform: `rotate(-90 14 ${top + height / 2})`, 'text-anchor': 'middle', fill: '#333' }),
  );
  return document(width, top + height + 8, body);
}
