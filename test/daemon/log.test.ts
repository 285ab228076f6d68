/** mpiscsid's log lines (src/daemon/log.ts): formats on a terminal, a pipe and the journal; -d levels. */
import { describe, expect, it } from 'vitest';
import { createLog, parseDebugLevel } from '../../src/daemon/log.js';

const capture = (o: { journal?: boolean; colour?: boolean; debugLevel?: number }) => {
  const out: string[] = [];
  const log = createLog({ prog: 'mpiscsid', write: (s) => out.push(s), now: () => new Date(0), ...o });
  return { log, out };
};

describe('mpiscsid log', () => {
  it('writes one timestamped line per event, levels named, no colour off a terminal', () => {
    const { log, out } = capture({ journal: false, colour: false });
    log('ready');
    log.warn('NATS connection lost');
    log.error('bad\nthing');
    expect(out).toEqual([
      '1970-01-01T00:00:00.000Z mpiscsid: ready\n',
      '1970-01-01T00:00:00.000Z mpiscsid: warning: NATS connection lost\n',
      '1970-01-01T00:00:00.000Z mpiscsid: error: bad thing\n',
    ]);
  });

  it('colours only the level on a terminal', () => {
    const { log, out } = capture({ journal: false, colour: true });
    log.error('x');
    expect(out[0]).toBe('1970-01-01T00:00:00.000Z mpiscsid: \x1b[31merror\x1b[0m: x\n');
  });

  it('gives the journal sd-daemon priority prefixes and no timestamp', () => {
    const { log, out } = capture({ journal: true, colour: true, debugLevel: 8 });
    log('ready');
    log.warn('w');
    log.error('e');
    log.debug(8, 'd');
    expect(out).toEqual(['<6>ready\n', '<4>warning: w\n', '<3>error: e\n', '<7>debug8: d\n']);
  });

  it('lets debug lines through up to -d N only', () => {
    const { log, out } = capture({ journal: false, colour: false, debugLevel: 3 });
    for (let l = 1; l <= 8; l++) log.debug(l, `l${l}`);
    expect(out.map((l) => l.slice(25))).toEqual(['mpiscsid: debug1: l1\n', 'mpiscsid: debug2: l2\n', 'mpiscsid: debug3: l3\n']);
    expect(capture({ debugLevel: 0, journal: false }).log.debugLevel).toBe(0);
  });

  it('takes -d 0..8 and refuses anything else', () => {
    expect(parseDebugLevel('0')).toBe(0);
    expect(parseDebugLevel('8')).toBe(8);
    for (const bad of ['9', '-1', 'x', '', '1.5']) expect(() => parseDebugLevel(bad)).toThrow(/expected a debug level 0\.\.8/);
  });
});
