/** Record rules (issue 16): what a node database value may be, checked before it is stored. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkRecordLines, recordValueProblem, RecordRuleError } from '../../src/db/record-rules.js';
import { checkRecordValue, RecordValueError, IDENTITY_KEYS } from '../../src/db/record-ops.js';
import { NODE_SCHEMA, defaultDiscoveryRecord, defaultIfaceRecord, defaultNodeRecord } from '../../src/db/node-record.js';
import { formatRecord, parseRecord } from '../../src/db/record.js';

const IQN = 'iqn.2026-12.test:rules';

describe('record rules', () => {
  it('refuses newline, CR, NUL and other control characters in any value, naming the key (-o update: exit 7)', () => {
    for (const bad of ['x\nnode.startup = automatic', 'x\rnode.startup = automatic', 'x\u0000y', 'x\u001by']) {
      expect(recordValueProblem('node.session.auth.password', bad)).toMatch(/control character/);
      expect(() => checkRecordValue(NODE_SCHEMA, IDENTITY_KEYS.node, 'node.session.auth.password', bad)).toThrow(RecordValueError);
      expect(() => checkRecordValue(NODE_SCHEMA, IDENTITY_KEYS.node, 'node.session.auth.password', bad)).toThrow(
        /^Cannot modify node.session.auth.password\. Invalid value: holds a control character/,
      );
    }
    expect(checkRecordValue(NODE_SCHEMA, IDENTITY_KEYS.node, 'node.session.auth.password', 'pa ss=w0rd#')).toBe('pa ss=w0rd#');
    expect(() => checkRecordValue(NODE_SCHEMA, IDENTITY_KEYS.node, 'iface.initiatorname', 'not-a-name')).toThrow(/does not start with iqn/);
  });

  it('names of new records are checked before anything is written', () => {
    expect(() => defaultNodeRecord('iqn.2026-12.test:a\nb', { address: '127.0.0.1', port: 3260 })).toThrow(RecordRuleError);
    expect(() => defaultNodeRecord(IQN, { address: '127.0.0.1/../x', port: 3260 })).toThrow(/node.conn\[0\].address/);
    expect(() => defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260 }, '../../x')).toThrow(/iface.iscsi_ifacename/);
    expect(() => defaultIfaceRecord('i'.repeat(65))).toThrow(/longer than 64/);
    expect(() => defaultDiscoveryRecord('a b')).toThrow(/discovery.sendtargets.address/);
    expect(defaultNodeRecord(IQN, { address: 'fe80::1%eth0', port: 3260 }).get('node.name')).toBe(IQN);
  });

  it('record text: nothing that breaks a line is ever written; what is written reads back as the same lines', () => {
    const rec = defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260 });
    rec.set('node.session.auth.password', 'a\nnode.startup = automatic');
    expect(() => formatRecord(rec, NODE_SCHEMA)).toThrow(RecordRuleError);
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (v) => {
        const r = defaultNodeRecord(IQN, { address: '127.0.0.1', port: 3260 });
        r.set('node.session.auth.password', v);
        let text: string;
        try {
          checkRecordLines(r);
          text = formatRecord(r, NODE_SCHEMA);
        } catch (e) {
          expect(e).toBeInstanceOf(RecordRuleError);
          expect(v).toMatch(/[\n\r\0]/);
          return;
        }
        const back = parseRecord(text, { schema: NODE_SCHEMA }).record;
        expect(back.get('node.startup')).toBe('manual');
        expect(text.split('\n').filter((l) => l.startsWith('node.session.auth.password')).length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 1000 },
    );
  });
});
