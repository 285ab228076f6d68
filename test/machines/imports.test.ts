/** machines/ stays pure (DESIGN.md layers): no node:* modules, sockets, NATS or OpenTelemetry. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', 'machines');
const FORBIDDEN = /^(node:|net$|tls$|dgram$|dns$|fs$|child_process$|http$|https$|nats|@nats-io\/|@opentelemetry\/)/;

function specifiers(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|import\s+['"]([^'"]+)['"]/g)) {
    out.push(m[1] ?? m[2] ?? m[3]!);
  }
  return out;
}

describe('machines/ imports', () => {
  const files = readdirSync(root).filter((f) => f.endsWith('.ts'));

  it('has the machine files', () => {
    expect(files).toEqual(expect.arrayContaining(['connection.machine.ts', 'session.machine.ts', 'timers.ts', 'index.ts']));
  });

  it.each(files)('%s imports only xstate, rxjs and machines/', (file) => {
    const bad = specifiers(readFileSync(join(root, file), 'utf8')).filter(
      (s) => FORBIDDEN.test(s) || !(s === 'xstate' || s === 'rxjs' || s.startsWith('./')),
    );
    expect(bad).toEqual([]);
  });
});
