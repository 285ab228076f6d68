/**
 * Two iscsiadm behaviours of issue 14, through the built mpiscsiadm on a temp node database and a real tgtd:
 * discovery without -I binds every iface stored in ifaces/ (default only when none is stored), and `-o new`
 * of one record from several processes at once leaves a whole record every time: the record file parses
 * with each key once and the values of one writer, never a mix, with no temporary or lock file left over
 * (FileStore writes under the record lock, src/db/file-lock.ts, and renames a whole file into place).
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { offlineAdm, lines } from '../support/offline-adm.js';
import { NODE_SCHEMA, defaultNodeRecord, formatRecord, parseRecord } from '../../src/db/index.js';

const IQN = 'iqn.2026-12.test:ifaces';

const rig = offlineAdm([IQN], 'mpiscsiadm-ifaces-');
const { adm } = rig;

describe('discovery without -I', () => {
  it('binds only default while no iface is stored', async () => {
    const r = await adm('-m', 'discovery', '-t', 'st', '-p', rig.tgtd.portal);
    expect(r.code, r.stderr).toBe(0);
    expect(lines(r.stdout)).toEqual([`${rig.tgtd.portal},1 ${IQN}`]);
    expect(readdirSync(join(rig.db, 'nodes', IQN, `${rig.tgtd.portal.replace(':', ',')},1`))).toEqual(['default']);
  });

  it('binds every stored iface (and not default), one node record each; -I still picks one', async () => {
    for (const [name, ip] of [
      ['path0', '127.0.0.1'],
      ['path1', '127.0.0.1'],
    ]) {
      expect((await adm('-m', 'iface', '-I', name, '-o', 'new')).code).toBe(0);
      expect((await adm('-m', 'iface', '-I', name, '-o', 'update', '-n', 'iface.ipaddress', '-v', ip)).code).toBe(0);
    }
    const r = await adm('-m', 'discovery', '-t', 'st', '-p', rig.tgtd.portal);
    expect(r.code, r.stderr).toBe(0);
    // iscsiadm prints the target once per iface it was bound to.
    expect(lines(r.stdout)).toEqual([`${rig.tgtd.portal},1 ${IQN}`, `${rig.tgtd.portal},1 ${IQN}`]);
    const tree = await adm('-m', 'node', '-P', '1');
    // iscsiadm 2.1.8's -P 1 prints a Portal line per record.
    expect(lines(tree.stdout)).toEqual([
      `Target: ${IQN}`,
      `\tPortal: ${rig.tgtd.portal},1`,
      '\t\tIface Name: path0',
      `\tPortal: ${rig.tgtd.portal},1`,
      '\t\tIface Name: path1',
    ]);
    const json = JSON.parse((await adm('-m', 'discovery', '-t', 'st', '-p', rig.tgtd.portal, '--json')).stdout) as Array<{ iface: string }>;
    expect(json.map((k) => k.iface)).toEqual(['path0', 'path1']);

    rmSync(join(rig.db, 'nodes'), { recursive: true });
    rmSync(join(rig.db, 'send_targets'), { recursive: true });
    const one = await adm('-m', 'discovery', '-t', 'st', '-p', rig.tgtd.portal, '-I', 'path1');
    expect(one.code, one.stderr).toBe(0);
    expect(lines((await adm('-m', 'node', '-P', '1')).stdout)).toEqual([
      `Target: ${IQN}`,
      `\tPortal: ${rig.tgtd.portal},1`,
      '\t\tIface Name: path1',
    ]);
  });
});

describe('-o new of one record from several processes at once', () => {
  it('replaces an existing record with a fresh one, as iscsiadm does', async () => {
    const p = `${rig.tgtd.portal},1`;
    expect((await adm('-m', 'node', '-T', IQN, '-p', p, '-o', 'new')).code).toBe(0);
    expect(
      (await adm('-m', 'node', '-T', IQN, '-p', p, '-o', 'update', '-n', 'node.session.timeo.replacement_timeout', '-v', '7')).code,
    ).toBe(0);
    expect((await adm('-m', 'node', '-T', IQN, '-p', p, '-o', 'new')).code).toBe(0);
    const show = await adm('-m', 'node', '-T', IQN, '-p', p);
    expect(show.stdout).toMatch(/^node\.session\.timeo\.replacement_timeout = 120$/m);
  });

  it("two -o new and an -o update at once, ten rounds: a whole record each time, one writer's values", async () => {
    const p = `${rig.tgtd.portal},1`;
    const [host, port] = rig.tgtd.portal.split(':') as [string, string];
    const dir = join(rig.db, 'nodes', IQN, `${host},${port},1`);
    const fresh = defaultNodeRecord(IQN, { address: host, port: Number(port), tpgt: 1 });
    fresh.set('node.discovery_type', 'static');
    const freshText = formatRecord(fresh, NODE_SCHEMA);
    const seen = new Set<string>();
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all([
        adm('-m', 'node', '-T', IQN, '-p', p, '-o', 'new'),
        adm('-m', 'node', '-T', IQN, '-p', p, '-o', 'new'),
        adm('-m', 'node', '-T', IQN, '-p', p, '-o', 'update', '-n', 'node.session.timeo.replacement_timeout', '-v', '7'),
      ]);
      expect(results[0]!.code, results[0]!.stderr).toBe(0);
      expect(results[1]!.code, results[1]!.stderr).toBe(0);
      // The update finds the record unless it ran before both creates (then: No records found, 21).
      expect([0, 21]).toContain(results[2]!.code);

      const text = readFileSync(join(dir, 'default'), 'utf8');
      const keys = text
        .split('\n')
        .filter((l) => l.includes(' = '))
        .map((l) => l.split(' = ')[0]);
      expect(new Set(keys).size).toBe(keys.length);
      const parsed = parseRecord(text, { schema: NODE_SCHEMA, file: 'default' });
      expect(parsed.warnings).toEqual([]);
      // Exactly a fresh record, or a fresh record with the update applied after it: nothing in between.
      const updated = new Map(fresh);
      updated.set('node.session.timeo.replacement_timeout', '7');
      const whole = formatRecord(parsed.record, NODE_SCHEMA);
      expect([freshText, formatRecord(updated, NODE_SCHEMA)]).toContain(whole);
      seen.add(parsed.record.get('node.session.timeo.replacement_timeout')!);

      expect(readdirSync(dir)).toEqual(['default']); // no temporary file left
      expect(existsSync(join(rig.db, 'static', `${IQN},${host},${port},1,default`))).toBe(true);
      expect(readdirSync(join(rig.db, '.lock'))).toEqual([]); // every lock released
      rmSync(join(rig.db, 'nodes'), { recursive: true });
    }
    expect(seen.size).toBeGreaterThan(0);
  });
});
