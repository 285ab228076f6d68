/**
 * DESIGN.md "Layers (imports point down only)": every import between mpiscsi's folders goes to a lower
 * layer, and the pure codec layers (src/iscsi, src/scsi) and machines/ never touch sockets, NATS or
 * OpenTelemetry.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

/** Lower number = lower layer. Folders on one level may not import each other. */
const LAYER: Record<string, number> = {
  'src/scsi': 0,
  // iSCSI carries SCSI: its PDU codec may use the SCSI codecs (the SAM LUN field), never the other way.
  'src/iscsi': 0.5,
  // Records hold iSCSI names and values: the database checks them with the iSCSI rules (src/iscsi/names.ts),
  // as DESIGN.md's diagram draws src/db above the codecs.
  'src/db': 0.75,
  machines: 1,
  'src/session': 2,
  'src/multipath': 3,
  'src/nbd': 4,
  'src/telemetry': 4,
  'src/control': 5,
  'src/cli': 6,
  'src/daemon': 6,
};
const PURE = ['src/iscsi', 'src/scsi', 'machines'];
const IMPURE = /^(node:(net|tls|dgram|http|https|child_process)|nats|@nats-io\/|@opentelemetry\/)/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function folderOf(file: string): string | undefined {
  const rel = relative(root, file).split('/');
  const key = rel[0] === 'src' ? `src/${rel[1]}` : rel[0];
  return key in LAYER ? key : undefined;
}

function imports(source: string): string[] {
  return [...source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)/g)].map(
    (m) => m[1] ?? m[2]!,
  );
}

const files = [...walk(join(root, 'src')), ...walk(join(root, 'machines'))].filter((f) => folderOf(f));

describe('layering', () => {
  it.each(files.map((f) => relative(root, f)))('%s imports only its own or lower layers', (rel) => {
    const file = join(root, rel);
    const from = folderOf(file)!;
    const bad: string[] = [];
    for (const spec of imports(readFileSync(file, 'utf8'))) {
      if (PURE.includes(from) && IMPURE.test(spec)) bad.push(`${spec} (impure import in a pure layer)`);
      if (!spec.startsWith('.')) continue;
      const to = folderOf(resolve(dirname(file), spec));
      if (!to || to === from) continue;
      if (LAYER[to] >= LAYER[from]) bad.push(`${spec} (${from} -> ${to} points up or sideways)`);
    }
    expect(bad).toEqual([]);
  });
});
