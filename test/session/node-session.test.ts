/** A node record as session options: portal, CHAP, iface binding, timers and negotiation wishes. */
import { describe, expect, it } from 'vitest';
import { defaultNodeRecord, defaultIfaceRecord } from '../../src/db/node-record.js';
import { NodeSettingError, sessionOptionsFromRecord, wishesFromRecord } from '../../src/session/node-session.js';
import { DEFAULT_SESSION_TIMERS } from '../../machines/timers.js';

const T = 'iqn.2026-11.test:disk0';

describe('sessionOptionsFromRecord', () => {
  it('a default record: the portal, no authentication, open-iscsi default timers, the default wishes', () => {
    const o = sessionOptionsFromRecord(defaultNodeRecord(T, { address: '127.0.0.2', port: 3261, tpgt: 1 }), {
      initiatorName: 'iqn.x:init',
    });
    expect(o).toMatchObject({
      host: '127.0.0.2',
      port: 3261,
      targetName: T,
      initiatorName: 'iqn.x:init',
      auth: { method: 'None' },
      localAddress: undefined,
    });
    expect(o.timers!.replacementTimeoutMs).toBe(120_000);
    expect(o.timers!.noopOutIntervalMs).toBe(DEFAULT_SESSION_TIMERS.noopOutIntervalMs);
    expect(o.cmdsMax).toBe(128);
    // MaxXmitDataSegmentLength 0 means "the target's": no wish.
    expect(o.wishes!.maxXmitDataSegmentLength).toBeUndefined();
    expect(o.wishes!.headerDigest).toEqual(['None']);
  });

  it('mutual CHAP with the record algorithm list, digests, the iface source address and initiator name', () => {
    const iface = defaultIfaceRecord('path1');
    iface.set('iface.ipaddress', '127.0.0.3');
    iface.set('iface.initiatorname', 'iqn.x:from-iface');
    const rec = defaultNodeRecord(T, { address: '127.0.0.1', port: 3260 }, iface);
    rec.set('node.session.auth.authmethod', 'CHAP');
    rec.set('node.session.auth.username', 'u');
    rec.set('node.session.auth.password', 'secret-secret');
    rec.set('node.session.auth.username_in', 'tu');
    rec.set('node.session.auth.password_in', 'target-secret');
    rec.set('node.session.auth.chap_algs', 'SHA256,MD5');
    rec.set('node.conn[0].iscsi.HeaderDigest', 'CRC32C,None');
    rec.set('node.session.iscsi.ImmediateData', 'No');
    rec.set('node.conn[0].timeo.noop_out_interval', '1');
    const o = sessionOptionsFromRecord(rec, { initiatorName: 'iqn.x:default' });
    expect(o.auth).toEqual({
      method: 'CHAP',
      username: 'u',
      password: 'secret-secret',
      usernameIn: 'tu',
      passwordIn: 'target-secret',
      algorithms: ['SHA256', 'MD5'],
    });
    expect(o.localAddress).toBe('127.0.0.3');
    expect(o.initiatorName).toBe('iqn.x:from-iface');
    expect(o.wishes).toMatchObject({ headerDigest: ['CRC32C', 'None'], immediateData: false });
    expect(o.timers!.noopOutIntervalMs).toBe(1000);
  });

  it('a value that does not fit its key is a NodeSettingError naming the key', () => {
    const rec = defaultNodeRecord(T, { address: '127.0.0.1', port: 3260 });
    rec.set('node.session.iscsi.FirstBurstLength', 'lots');
    expect(() => wishesFromRecord(rec)).toThrow(new NodeSettingError('node.session.iscsi.FirstBurstLength = lots: not a whole number'));
    rec.set('node.session.iscsi.FirstBurstLength', '65536');
    rec.set('node.conn[0].iscsi.DataDigest', 'MD5');
    expect(() => sessionOptionsFromRecord(rec)).toThrow(/DataDigest = MD5: digest "MD5" is not None or CRC32C/);
  });
});
