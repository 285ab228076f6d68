/**
 * `mpiscsi trace-summary FILE`: the failover traces in a JSON-lines span file (mpiscsid --trace-file) as an
 * indented timeline: each span and event with its offset from the start of its trace, its duration, and the
 * attributes that say what happened (reason, path, I/Os requeued, stall), so an SRE reads "detect ->
 * requeue -> first completion -> restored" without a tracing backend.
 */
import { readFileSync } from 'node:fs';
import type { SpanLine } from '../telemetry/jsonl-exporter.js';

/** Attributes worth a place on the line; others are left to `jq`. */
const SHOWN = /^(mpath\.|iscsi\.(target\.name|session\.id|recovery|time2wait|iface)|error\.type|server\.address|server\.port)/;

function attrs(a: Record<string, unknown>, all = false): string {
  const parts = Object.entries(a)
    .filter(([k]) => all || SHOWN.test(k))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`);
  return parts.length ? `  ${parts.join(' ')}` : '';
}

const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(3)} s` : `${ms.toFixed(1)} ms`);

export function parseSpanLines(text: string, file = 'spans'): SpanLine[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as SpanLine;
      } catch (err) {
        throw new SyntaxError(`${file}:${i + 1}: not a JSON span line: ${(err as Error).message}`);
      }
    });
}

/** The lines of every trace whose root span's name matches `root` (default: failover traces). */
export function summarize(spans: readonly SpanLine[], root: RegExp = /failover/): string[] {
  const byTrace = new Map<string, SpanLine[]>();
  for (const s of spans) byTrace.set(s.traceId, [...(byTrace.get(s.traceId) ?? []), s]);
  const out: string[] = [];
  for (const [traceId, list] of byTrace) {
    const ids = new Set(list.map((s) => s.spanId));
    const roots = list.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
    if (!roots.some((r) => root.test(r.name))) continue;
    const t0 = Math.min(...list.map((s) => s.startMs));
    out.push(`trace ${traceId}`);
    const children = (id: string) => list.filter((s) => s.parentSpanId === id).sort((a, b) => a.startMs - b.startMs);
    const walk = (s: SpanLine, depth: number) => {
      const pad = '  '.repeat(depth + 1);
      const status = s.status.code === 2 ? `  ERROR${s.status.message ? `: ${s.status.message}` : ''}` : '';
      out.push(`${pad}+${fmt(s.startMs - t0).padStart(10)}  ${s.name} (${fmt(s.endMs - s.startMs)})${attrs(s.attributes)}${status}`);
      for (const e of s.events) out.push(`${pad}  +${fmt(e.timeMs - t0).padStart(10)}  · ${e.name}${attrs(e.attributes, true)}`);
      for (const l of s.links) out.push(`${pad}  linked to trace ${l.traceId}`);
      for (const c of children(s.spanId)) walk(c, depth + 1);
    };
    for (const r of roots.sort((a, b) => a.startMs - b.startMs)) walk(r, 0);
  }
  return out;
}

export function traceSummary(file: string, root?: RegExp): string[] {
  const lines = summarize(parseSpanLines(readFileSync(file, 'utf8'), file), root);
  return lines.length ? lines : [`no failover traces in ${file}`];
}
