/**
 * DESIGN.md layering: src/scsi is a pure codec layer: no timers or logging in its source, and each file names its
 * spec. (That it imports only its own modules and src/settings is a dependency-cruiser rule: test/layers.test.ts.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('../../src/scsi/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));

describe('src/scsi purity', () => {
  it.each(files)('%s uses no timers and no console', (file) => {
    const source = readFileSync(dir + file, 'utf8');
    expect(source).not.toMatch(/\b(setTimeout|setInterval|console\.)/);
  });

  it('each file starts with a sentence naming what it is and its spec', () => {
    for (const file of files) {
      const head = readFileSync(dir + file, 'utf8')
        .split('\n')
        .slice(0, 6)
        .join(' ');
      expect(head.startsWith('/**'), file).toBe(true);
      if (file !== 'index.ts' && file !== 'bytes.ts') expect(head, file).toMatch(/SPC-4|SBC-3|SAM-5|RFC 7143/);
    }
  });
});
