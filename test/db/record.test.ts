import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatRecord, parseRecord, RecordError, showRecord } from '../../src/db/record.js';
import { RecordRuleError } from '../../src/db/record-rules.js';
import {
  DISCOVERY_SCHEMA,
  IFACE_SCHEMA,
  NODE_SCHEMA,
  defaultDiscoveryRecord,
  defaultNodeRecord,
  nodeKeyOf,
} from '../../src/db/node-record.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

describe('record format: byte fixtures in iscsiadm format', () => {
  it.each([
    ['node-chap.record', NODE_SCHEMA],
    ['st_config.record', DISCOVERY_SCHEMA],
    ['iface0.record', IFACE_SCHEMA],
  ] as const)('%s parses with no warnings and formats back byte for byte', (name, schema) => {
    const text = fixture(name);
    const { record, warnings, version } = parseRecord(text, { schema, file: name });
    expect(warnings).toEqual([]);
    expect(version).toBe('2.1.8');
    expect(formatRecord(record, schema)).toBe(text);
  });

  it('reads the node fixture fields', () => {
    const { record } = parseRecord(fixture('node-chap.record'), { schema: NODE_SCHEMA });
    expect(nodeKeyOf(record)).toEqual({ target: 'iqn.2026-11.test:disk0', address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' });
    expect(record.get('node.session.auth.password')).toBe('s3cret-Pa55');
    expect(record.get('node.session.auth.username_in')).toBe(''); // omitted in the file, default empty
  });

  it('a default node record formats in iscsiadm order: empty strings omitted, ints always, no *_length', () => {
    const rec = defaultNodeRecord('iqn.2026-11.test:disk0', { address: 'fe80::1', port: 3260, tpgt: 1 });
    rec.set('node.session.auth.password_length', '5');
    const text = formatRecord(rec, NODE_SCHEMA);
    const lines = text.split('\n');
    expect(lines[0]).toBe('# BEGIN RECORD 2.1.8');
    expect(lines[1]).toBe('node.name = iqn.2026-11.test:disk0');
    expect(lines[2]).toBe('node.tpgt = 1');
    expect(text).toContain('node.conn[0].address = fe80::1\n');
    expect(text).toContain('node.discovery_port = 0\n');
    expect(text).not.toContain('node.discovery_address');
    expect(text).not.toContain('_length =');
    expect(text).not.toContain('auth.username');
    expect(text.endsWith('# END RECORD\n')).toBe(true);
    expect(parseRecord(text, { schema: NODE_SCHEMA }).record).toEqual(
      parseRecord(formatRecord(rec, NODE_SCHEMA), { schema: NODE_SCHEMA }).record,
    );
  });

  it('records written parse back identically', () => {
    const rec = defaultNodeRecord('iqn.2026-11.test:disk1', { address: '10.0.0.5', port: 3261, tpgt: 7 }, 'iface0');
    rec.set('node.session.auth.authmethod', 'CHAP');
    rec.set('node.session.auth.username_in', 'tgt');
    rec.set('node.session.auth.password_in', 'p w=d # not a comment');
    rec.set('node.conn[0].iscsi.HeaderDigest', 'None,CRC32C');
    rec.set('x.vendor.key', 'kept');
    const back = parseRecord(formatRecord(rec, NODE_SCHEMA), { schema: NODE_SCHEMA }).record;
    expect([...back]).toEqual([...rec]);
    const d = defaultDiscoveryRecord('fe80::1', 3260);
    expect([...parseRecord(formatRecord(d, DISCOVERY_SCHEMA), { schema: DISCOVERY_SCHEMA }).record]).toEqual([...d]);
  });
});

describe('record format: parsing rules', () => {
  it('skips blank and # lines, key runs to whitespace or =, value trimmed', () => {
    const text = '\n# comment\n   \nnode.name=iqn.a:b\nnode.tpgt\t =   3  \r\n  node.startup = onboot\n';
    const { record } = parseRecord(text, { schema: NODE_SCHEMA });
    expect(record.get('node.name')).toBe('iqn.a:b');
    expect(record.get('node.tpgt')).toBe('3');
    expect(record.get('node.startup')).toBe('onboot');
  });

  it('keeps unknown keys in order after the known ones, with warnings', () => {
    const text = 'zz.one = 1\nnode.name = iqn.a:b\naa.two = two words\n';
    const { record, warnings } = parseRecord(text, { schema: NODE_SCHEMA, file: 'f' });
    expect(warnings.map((w) => [w.key, w.line])).toEqual([
      ['zz.one', 1],
      ['aa.two', 3],
    ]);
    const out = formatRecord(record, NODE_SCHEMA).split('\n');
    expect(out.slice(-4)).toEqual(['zz.one = 1', 'aa.two = two words', '# END RECORD', '']);
  });

  it('ignores a bad enum or integer value with a warning, keeping the default', () => {
    const { record, warnings } = parseRecord('node.startup = sometimes\nnode.tpgt = x1\n', { schema: NODE_SCHEMA });
    expect(record.get('node.startup')).toBe('manual');
    expect(record.get('node.tpgt')).toBe('-1');
    expect(warnings).toHaveLength(2);
  });

  it.each([
    ['node.name', 'no "=" and no value'],
    ['node.name iqn.a:b', 'expected "="'],
    ['= value', 'no key'],
  ])('a malformed line (%s) throws RecordError with file and line', (bad, msg) => {
    const text = `# BEGIN RECORD 2.1.8\nnode.tpgt = 1\n\n${bad}\n# END RECORD\n`;
    let err: unknown;
    try {
      parseRecord(text, { schema: NODE_SCHEMA, file: '/db/nodes/x/y/default' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RecordError);
    const re = err as RecordError;
    expect(re.file).toBe('/db/nodes/x/y/default');
    expect(re.line).toBe(4);
    expect(re.message).toContain('/db/nodes/x/y/default:4:');
    expect(re.message).toContain(msg);
  });
});

describe('showRecord (-o show)', () => {
  const rec = parseRecord(fixture('node-chap.record'), { schema: NODE_SCHEMA }).record;
  it('prints <empty> for empty strings and masks passwords', () => {
    const text = showRecord(rec, { schema: NODE_SCHEMA });
    expect(text).toContain('node.session.auth.password = ********\n');
    expect(text).toContain('node.session.auth.password_in = <empty>\n');
    expect(text).toContain('iface.hwaddress = <empty>\n');
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('_length');
  });
  it('shows secrets with showSecrets', () => {
    expect(showRecord(rec, { schema: NODE_SCHEMA, showSecrets: true })).toContain('node.session.auth.password = s3cret-Pa55\n');
  });
});

describe('record format: properties', () => {
  const lineArb = fc.oneof(
    fc.string(),
    fc.constantFrom('node.name = iqn.a:b', 'node.tpgt = 2', 'node.startup = bogus', '# x', '', ' = ', 'a=b', 'k =  v  '),
    fc.tuple(fc.stringMatching(/^[a-z.[\]0-9_]{1,12}$/), fc.string()).map(([k, v]) => `${k} = ${v}`),
  );
  const textArb = fc.array(lineArb, { maxLength: 20 }).map((ls) => ls.join('\n'));

  it('random text never throws anything but RecordError', () => {
    fc.assert(
      fc.property(textArb, fc.boolean(), (text, withSchema) => {
        try {
          parseRecord(text, withSchema ? { schema: NODE_SCHEMA } : {});
        } catch (e) {
          if (!(e instanceof RecordError)) throw e;
        }
      }),
      { numRuns: 500 },
    );
  });

  it('format(parse(x)) is stable', () => {
    fc.assert(
      fc.property(textArb, fc.constantFrom(NODE_SCHEMA, IFACE_SCHEMA, DISCOVERY_SCHEMA, undefined), (text, schema) => {
        let first: string;
        try {
          first = formatRecord(parseRecord(text, { schema }).record, schema);
        } catch (e) {
          if (e instanceof RecordError) return;
          throw e;
        }
        const second = formatRecord(parseRecord(first, { schema }).record, schema);
        expect(second).toBe(first);
      }),
      { numRuns: 500 },
    );
  });
});

describe('record values obey the settings table (issue 12)', () => {
  const KEY = 'node.conn[0].timeo.noop_out_interval';
  const withValue = (v: string): { text: string; line: number } => {
    const lines = fixture('node-chap.record').split('\n');
    const line = lines.findIndex((l) => l.startsWith(`${KEY} = `));
    lines[line] = `${KEY} = ${v}`;
    return { text: lines.join('\n'), line: line + 1 };
  };

  it.each(['-5', 'abc', '0x10'])(
    'strict (an import): %s on a timer key is a RecordError naming the file, line, key, value and rule',
    (v) => {
      const { text, line } = withValue(v);
      const err = (() => {
        try {
          parseRecord(text, { schema: NODE_SCHEMA, file: '/etc/iscsi/nodes/x/default', strict: true });
        } catch (e) {
          return e;
        }
      })() as RecordError;
      expect(err).toBeInstanceOf(RecordError);
      expect(err.file).toBe('/etc/iscsi/nodes/x/default');
      expect(err.line).toBe(line);
      expect(err.message).toBe(
        `/etc/iscsi/nodes/x/default:${line}: ${KEY} = ${v}: ${v === '-5' ? 'must be at least 0 s' : 'not a number'}`,
      );
    },
  );

  it('lenient (reading a store): the bad value is ignored with a warning and the default kept, as iscsiadm does', () => {
    const { text, line } = withValue('-5');
    const { record, warnings } = parseRecord(text, { schema: NODE_SCHEMA, file: 'f' });
    expect(record.get(KEY)).toBe('5');
    expect(warnings).toEqual([{ file: 'f', line, key: KEY, message: `${KEY} = -5: must be at least 0 s; ignored, "5" kept` }]);
  });

  it('values are stored in their normal form: 0.50 -> 0.5, yes -> Yes, chap_algs upper case', () => {
    const { record } = parseRecord(`${KEY} = 0.50\nnode.session.iscsi.InitialR2T = yes\nnode.session.auth.chap_algs = sha256, md5\n`, {
      schema: NODE_SCHEMA,
      strict: true,
    });
    expect(record.get(KEY)).toBe('0.5');
    expect(record.get('node.session.iscsi.InitialR2T')).toBe('Yes');
    expect(record.get('node.session.auth.chap_algs')).toBe('SHA256,MD5');
  });

  it('formatRecord (every store writes through it) refuses a value a login would refuse, naming key, value and rule', () => {
    const rec = defaultNodeRecord('iqn.2026-12.test:fmt', { address: '127.0.0.1', port: 3260, tpgt: 1 });
    rec.set(KEY, '-5');
    expect(() => formatRecord(rec, NODE_SCHEMA)).toThrow(new RecordRuleError(KEY, '-5', 'must be at least 0 s'));
    rec.set(KEY, '0.5');
    expect(formatRecord(rec, NODE_SCHEMA)).toContain(`${KEY} = 0.5\n`);
  });

  it('the byte fixtures parse strictly (what iscsiadm writes is what the table accepts)', () => {
    expect(() => parseRecord(fixture('node-chap.record'), { schema: NODE_SCHEMA, strict: true })).not.toThrow();
    expect(() => parseRecord(fixture('st_config.record'), { schema: DISCOVERY_SCHEMA, strict: true })).not.toThrow();
    expect(() => parseRecord(fixture('iface0.record'), { schema: IFACE_SCHEMA, strict: true })).not.toThrow();
  });
});
