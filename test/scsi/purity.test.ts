/**
 * DESIGN.md layering: src/scsi is a pure codec layer. Its modules import only each other: no node:net,
 * timers, NATS, OpenTelemetry or other layers of mpiscsi.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('../../src/scsi/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

describe('src/scsi imports', () => {
  it.each(files)('%s imports only sibling modules', (file) => {
    const source = readFileSync(dir + file, 'utf8');
    const specifiers = [...source.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    for (const specifier of specifiers) expect(specifier).toMatch(/^\.\/[a-z0-9-]+\.js$/);
    expect(source).not.toMatch(/\b(setTimeout|setInterval|console\.)/);
  });

  it('each file starts with a sentence naming what it is and its spec', () => {
    for (const file of files) {
      const head = readFileSync(dir + file, 'utf8').split('\n').slice(0, 6).join(' ');
      expect(head.startsWith('/**'), file).toBe(true);
      if (file !== 'index.ts' && file !== 'bytes.ts') expect(head, file).toMatch(/SPC-4|SBC-3|SAM-5|RFC 7143/);
    }
  });
});
