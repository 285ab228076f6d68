/**
 * The settings tables (src/settings) are the one definition of each key: the record schemas, the session
 * timers' defaults, the multipath defaults, the selector and grouping lists and the daemon config all come
 * from them, and the module stays pure (level 0).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH_GROUP_CONFIG } from '../../machines/path-group.machine.js';
import { DEFAULT_SESSION_TIMERS, TIMER_RECORD_KEYS } from '../../machines/timers.js';
import { DISCOVERY_SCHEMA, IFACE_SCHEMA, NODE_SCHEMA } from '../../src/db/node-record.js';
import { CHAP_ALGORITHMS } from '../../src/iscsi/chap.js';
import { DEFAULT_MULTIPATH_CONFIG, MULTIPATH_FIELDS, multipathSettings } from '../../src/multipath/config.js';
import { PATH_SELECTOR_NAMES } from '../../src/multipath/selectors.js';
import {
  CHAP_ALGORITHM_NAMES,
  DAEMON_SETTINGS,
  DISCOVERY_SETTINGS,
  IFACE_SETTINGS,
  MULTIPATH_KEYS,
  MULTIPATH_SETTINGS,
  NODE_SETTINGS,
  PATH_SELECTORS,
  readSetting,
  SettingError,
  table,
  text,
  type SettingTable,
} from '../../src/settings/index.js';

const TABLES: Array<[string, SettingTable]> = [
  ['node', NODE_SETTINGS],
  ['iface', IFACE_SETTINGS],
  ['discovery', DISCOVERY_SETTINGS],
  ['multipath', MULTIPATH_SETTINGS],
  ['daemon', DAEMON_SETTINGS],
];

describe('settings tables', () => {
  it.each(TABLES)('every %s default obeys its own rule (empty text means "none")', (_, t) => {
    for (const s of t.values()) {
      if (s.default === '') continue;
      expect(s.type.read(s.default), s.key).toMatchObject({ ok: true });
    }
  });

  it('refuses a key defined twice and a default that breaks its rule, at load', () => {
    expect(() =>
      table([
        { key: 'a', type: text, default: '', live: false },
        { key: 'a', type: text, default: '', live: false },
      ]),
    ).toThrow(/defined twice/);
    expect(() => table([{ key: 'b', type: NODE_SETTINGS.get('node.session.reopen_max')!.type, default: '-1', live: false }])).toThrow(
      /breaks its rule/,
    );
  });

  it('the record schemas are the tables, in order (so files are written in idbm.c order)', () => {
    expect(NODE_SCHEMA.keys).toEqual([...NODE_SETTINGS.values()]);
    expect(IFACE_SCHEMA.keys).toEqual([...IFACE_SETTINGS.values()]);
    expect(DISCOVERY_SCHEMA.keys).toEqual([...DISCOVERY_SETTINGS.values()]);
    expect(NODE_SCHEMA.keys.slice(0, 4).map((k) => k.key)).toEqual(['node.name', 'node.tpgt', 'node.startup', 'node.leading_login']);
  });

  it('the iface keys a node record carries are defined as in iface records (recordSetting looks them up once)', () => {
    for (const s of IFACE_SETTINGS.values()) {
      const n = NODE_SETTINGS.get(s.key);
      expect(n, s.key).toBeDefined();
      expect(n!.type.unit).toBe(s.type.unit);
      expect(n!.type.rule).toBe(s.type.rule);
    }
    // Discovery records share one key with node records (2.1.8 writes the discovery CHAP algorithms under it).
    const nodeKeys = new Set(NODE_SETTINGS.keys());
    expect([...DISCOVERY_SETTINGS.keys()].filter((k) => nodeKeys.has(k))).toEqual(['node.session.auth.chap_algs']);
    expect(DISCOVERY_SETTINGS.get('node.session.auth.chap_algs')!.type.rule).toBe(
      NODE_SETTINGS.get('node.session.auth.chap_algs')!.type.rule,
    );
  });

  it('the live node keys are exactly the session timers, and the timers default to the table', () => {
    const live = [...NODE_SETTINGS.values()].filter((s) => s.live).map((s) => s.key);
    expect(live.sort()).toEqual(Object.values(TIMER_RECORD_KEYS).sort());
    for (const [field, key] of Object.entries(TIMER_RECORD_KEYS)) {
      const s = NODE_SETTINGS.get(key)!;
      expect(DEFAULT_SESSION_TIMERS[field as keyof typeof TIMER_RECORD_KEYS], key).toBe(readSetting(s, s.default));
    }
    // iscsid.conf's values, which `iscsiadm -m discovery` writes (test/db/fixtures/node-chap.record).
    expect(NODE_SETTINGS.get('node.conn[0].timeo.login_timeout')!.default).toBe('15');
    expect(NODE_SETTINGS.get('node.session.initial_login_retry_max')!.default).toBe('8');
  });

  it('CHAP algorithm names are the iSCSI layer’s', () => {
    expect([...CHAP_ALGORITHM_NAMES].sort()).toEqual(Object.keys(CHAP_ALGORITHMS).sort());
  });

  it('multipath: every key maps to one field, the defaults are the machine’s and the device’s, one selector list', () => {
    expect(Object.keys(MULTIPATH_FIELDS)).toEqual(MULTIPATH_KEYS);
    const defaults = multipathSettings(Object.fromEntries([...MULTIPATH_SETTINGS.values()].map((s) => [s.key, s.default])));
    expect(defaults).toEqual({
      ...DEFAULT_PATH_GROUP_CONFIG,
      pathSelector: DEFAULT_MULTIPATH_CONFIG.pathSelector,
      rrMinIoRq: DEFAULT_MULTIPATH_CONFIG.rrMinIoRq,
      checkerTimeoutMs: DEFAULT_MULTIPATH_CONFIG.checkerTimeoutMs,
    });
    expect(PATH_SELECTOR_NAMES).toBe(PATH_SELECTORS);
    expect([...MULTIPATH_SETTINGS.values()].every((s) => s.live)).toBe(true);
  });

  it('readSetting refuses with the key, the value and the rule', () => {
    const err = (() => {
      try {
        readSetting(MULTIPATH_SETTINGS.get('polling_interval')!, '0x10');
      } catch (e) {
        return e;
      }
    })() as SettingError;
    expect(err).toBeInstanceOf(SettingError);
    expect(err.message).toBe('polling_interval = 0x10: not a number');
    expect(err).toMatchObject({ key: 'polling_interval', value: '0x10', problem: 'not a number', rule: 'seconds, above 0 s' });
  });

  it('src/settings imports nothing outside itself (level 0: machines/ and every layer may import it)', () => {
    const dir = join(import.meta.dirname, '..', '..', 'src', 'settings');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const specs = [...readFileSync(join(dir, f), 'utf8').matchAll(/from\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      expect(
        specs.filter((s) => !/^\.\/[\w-]+\.js$/.test(s)),
        f,
      ).toEqual([]);
    }
  });
});
