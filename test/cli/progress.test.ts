/** dd's progress (src/cli/progress.ts) in each mode: nbdcopy's N/100 lines on a descriptor, lines when forced, silence. */
import { describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Progress } from '../../src/cli/progress.js';

/** A stderr stand-in: what was written, and whether it claims to be a terminal. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = {
    isTTY,
    text: '',
    write(chunk: string) {
      s.text += chunk;
      return true;
    },
  };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('Progress', () => {
  it('--progress=FD: 0/100 at the start, a line per whole percent, 100/100 only at the end, nothing on stderr', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-progress-'));
    const fd = openSync(join(dir, 'p'), 'w');
    const err = stream(true);
    try {
      const p = new Progress(1000, fd, err);
      for (const done of [5, 9, 10, 11, 500, 994, 999, 1000]) p.update(done);
      p.finish();
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(join(dir, 'p'), 'utf8')).toBe('0/100\n1/100\n50/100\n99/100\n100/100\n');
    expect(err.text).toBe('');
    rmSync(dir, { recursive: true });
  });

  it('--progress on a pipe: one line per update; the default there: nothing', () => {
    const forced = stream(false);
    const p = new Progress(100, 'on', forced);
    p.update(100);
    expect(forced.text).toMatch(/^\[#{30}\] 100\.0% 100 B \/ 100 B .* MB\/s ETA 0:00\n$/);
    const auto = stream(false);
    new Progress(100, 'auto', auto).update(100);
    expect(auto.text).toBe('');
  });

  it('on a terminal: redrawn in place by default, silent with --no-progress', () => {
    const tty = stream(true);
    const p = new Progress(100, 'auto', tty);
    p.update(100);
    p.finish();
    expect(tty.text).toMatch(/^\r\[#{30}\] 100\.0% .*\x1b\[K\n$/);
    const off = stream(true);
    new Progress(100, 'off', off).update(100);
    expect(off.text).toBe('');
  });
});
