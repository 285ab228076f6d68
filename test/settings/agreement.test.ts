/**
 * Issue 12: whatever `-o update` accepts a login accepts, and the reverse. For every node record key a login
 * reads (timers, negotiation wishes, cmds_max, port, CHAP algorithms) and many values, checkRecordValue (the
 * check of `-o update`, NATS node.update) and the login's own reading (sessionOptionsFromRecord, the timers'
 * validation, the Negotiator's wish ranges) agree, and so does `--set` where it takes the key; and what the
 * check stores reads back as the same login.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TIMER_RECORD_KEYS } from '../../machines/timers.js';
import { defaultNodeRecord, NODE_SCHEMA } from '../../src/db/node-record.js';
import { checkRecordValue } from '../../src/db/record-ops.js';
import { DEFAULT_WISHES, Negotiator } from '../../src/iscsi/negotiation.js';
import { sessionOptionsFromRecord, WISH_KEYS } from '../../src/session/node-session.js';
import { parseSettings } from '../../src/cli/serve.js';

const T = 'iqn.2026-12.test:agree';
const LOGIN_KEYS = [
  ...Object.values(TIMER_RECORD_KEYS),
  ...Object.keys(WISH_KEYS),
  'node.session.cmds_max',
  'node.conn[0].port',
  'node.session.auth.chap_algs',
];

/** What a login makes of the record with `key = value`: its options, or the error that refuses it. */
function login(key: string, value: string): { ok: true; options: unknown } | { ok: false; error: unknown } {
  const rec = defaultNodeRecord(T, { address: '127.0.0.1', port: 3260, tpgt: 1 });
  // CHAP, so that the algorithm list is read.
  rec.set('node.session.auth.authmethod', 'CHAP');
  rec.set(key, value);
  try {
    const options = sessionOptionsFromRecord(rec);
    new Negotiator({ ...DEFAULT_WISHES, ...options.wishes }, 'Normal');
    return { ok: true, options };
  } catch (error) {
    return { ok: false, error };
  }
}

function update(key: string, value: string): { ok: true; stored: string } | { ok: false; error: unknown } {
  try {
    return { ok: true, stored: checkRecordValue(NODE_SCHEMA, new Set(), key, value) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Values near every rule's edges, the ones Number() misreads, and noise. */
const VALUES = fc
  .oneof(
    fc.constantFrom(
      '-5',
      'abc',
      '0.5',
      '0',
      '1',
      '-1',
      '0x10',
      '1e3',
      'Infinity',
      '3600',
      '3601',
      '511',
      '512',
      '16777215',
      '16777216',
      '65535',
      '65536',
      '2048',
      '2049',
      '2',
      '1.5',
      '.5',
      'Yes',
      'no',
      'None',
      'CRC32C,None',
      'CRC32C,CRC32C',
      'md5,SHA1',
      'SHA256',
      'MD4',
      '+7',
      '0.0001',
      '0.0005',
      '0.001',
      '1.2500',
      ' 5 ',
    ),
    fc.integer({ min: -100_000, max: 20_000_000 }).map(String),
    fc.tuple(fc.double({ min: -10, max: 4000, noNaN: true }), fc.integer({ min: 0, max: 3 })).map(([n, digits]) => n.toFixed(digits)),
    fc.string({ maxLength: 12 }),
  )
  .filter((v) => v.trim() !== '' && !/[\u0000-\u001f\u007f]/.test(v));

describe('-o update and the login agree on every key the login reads', () => {
  it.each(LOGIN_KEYS)('%s', (key) => {
    fc.assert(
      fc.property(VALUES, (v) => {
        const u = update(key, v);
        // The login reads the record file's value: trimmed, as parseRecord leaves it.
        const l = login(key, v.trim());
        expect(
          u.ok,
          `${key} = ${JSON.stringify(v)}: update ${u.ok ? 'accepts' : String((u as { error: unknown }).error)}, login ${l.ok ? 'accepts' : String((l as { error: unknown }).error)}`,
        ).toBe(l.ok);
        if (u.ok && l.ok) expect(login(key, u.stored)).toEqual(l);
        // `mpiscsi serve --set KEY=VALUE` (and the one-shot tools') takes what the record check takes.
        if (key !== 'node.conn[0].port' && key !== 'node.session.auth.chap_algs') {
          let set = true;
          try {
            parseSettings([`${key}=${v}`]);
          } catch {
            set = false;
          }
          expect(set, `--set ${key}=${JSON.stringify(v)}`).toBe(u.ok);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the cases of the issue: -5 and abc refused, 0.5 s is 500 ms, 0x10 refused', () => {
    const key = 'node.conn[0].timeo.noop_out_interval';
    expect(update(key, '-5')).toMatchObject({
      ok: false,
      error: expect.objectContaining({ message: expect.stringMatching(/must be at least 0 s/) }),
    });
    expect(update(key, 'abc')).toMatchObject({
      ok: false,
      error: expect.objectContaining({ message: expect.stringMatching(/not a number/) }),
    });
    expect(update(key, '0x10').ok).toBe(false);
    expect(update(key, '0.5')).toEqual({ ok: true, stored: '0.5' });
    const l = login(key, '0.5');
    expect(l.ok && (l.options as { timers: { noopOutIntervalMs: number } }).timers.noopOutIntervalMs).toBe(500);
  });
});
