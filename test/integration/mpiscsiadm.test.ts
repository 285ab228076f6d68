/**
 * mpiscsiadm as a user runs it (child processes of the built CLI) on a temp node database, with a real
 * tgtd for SendTargets: the iscsiadm command lines of reference/open-iscsi.md give the same output lines
 * and exit codes (with `mpiscsiadm:` for `iscsiadm:`), and what it writes parses back identically.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync, mkdirSync, copyFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../support/cli.js';
import { offlineAdm, lines } from '../support/offline-adm.js';
import { freePort } from '../support/ports.js';
import { FileStore, NODE_SCHEMA, DISCOVERY_SCHEMA, formatRecord, parseRecord, showRecord } from '../../src/db/index.js';
import { sessionOptionsFromRecord } from '../../src/session/node-session.js';

const T0 = 'iqn.2026-11.test:adm0';
const T1 = 'iqn.2026-11.test:adm1';

const rig = offlineAdm([T0, T1], 'mpiscsiadm-db-');
const { adm } = rig;

describe('mpiscsiadm -m discovery', () => {
  it('-P 1 on an empty database prints the four empty sections and exits 21, as iscsiadm 2.1.8', async () => {
    const r = await adm('-m', 'discovery', '-P', '1');
    expect(r).toEqual({
      code: 21,
      stderr: '',
      stdout: 'SENDTARGETS:\nNo targets found.\niSNS:\nNo targets found.\nSTATIC:\nNo targets found.\nFIRMWARE:\nNo targets found.\n',
    });
  });

  it('SendTargets prints iscsiadm lines and stores discovery and node records', async () => {
    const r = await adm('-m', 'discovery', '-t', 'st', '-p', rig.tgtd.portal);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const want = [`127.0.0.1:${rig.tgtd.port},1 ${T0}`, `127.0.0.1:${rig.tgtd.port},1 ${T1}`];
    expect(lines(r.stdout).sort()).toEqual(want);

    const list = await adm('-m', 'node');
    expect(list.code).toBe(0);
    expect(lines(list.stdout).sort()).toEqual(want);

    // Layout as open-iscsi: st_config, node record files 0600, send_targets links.
    const st = join(rig.db, 'send_targets', `127.0.0.1,${rig.tgtd.port}`);
    expect(existsSync(join(st, 'st_config'))).toBe(true);
    const nodeFile = join(rig.db, 'nodes', T0, `127.0.0.1,${rig.tgtd.port},1`, 'default');
    expect(statSync(nodeFile).mode & 0o777).toBe(0o600);
    expect(existsSync(join(st, `${T0},127.0.0.1,${rig.tgtd.port},1,default`))).toBe(true);

    // Records parse back identically and carry the discovery fields.
    const text = readFileSync(nodeFile, 'utf8');
    const parsed = parseRecord(text, { schema: NODE_SCHEMA });
    expect(parsed.warnings).toEqual([]);
    expect(formatRecord(parsed.record, NODE_SCHEMA)).toBe(text);
    expect(parsed.record.get('node.discovery_type')).toBe('send_targets');
    expect(parsed.record.get('node.discovery_address')).toBe('127.0.0.1');
    expect(parsed.record.get('node.discovery_port')).toBe(String(rig.tgtd.port));
    const stText = readFileSync(join(st, 'st_config'), 'utf8');
    expect(formatRecord(parseRecord(stText, { schema: DISCOVERY_SCHEMA }).record, DISCOVERY_SCHEMA)).toBe(stText);

    const store = new FileStore(rig.db);
    const rec = await store.getNode({ target: T0, address: '127.0.0.1', port: rig.tgtd.port, tpgt: 1, iface: 'default' });
    const show = await adm('-m', 'node', '-T', T0, '-p', rig.tgtd.portal);
    expect(show.code).toBe(0);
    expect(show.stdout).toBe(showRecord(rec!, { schema: NODE_SCHEMA }));

    const tree = await adm('-m', 'discovery', '-P', '1');
    expect(tree.code).toBe(0);
    const tl = lines(tree.stdout);
    expect(tl.slice(0, 2)).toEqual(['SENDTARGETS:', `DiscoveryAddress: 127.0.0.1,${rig.tgtd.port}`]);
    expect(tl).toContain(`Target: ${T0}`);
    expect(tl).toContain(`\tPortal: 127.0.0.1:${rig.tgtd.port},1`);
    expect(tl).toContain('\t\tIface Name: default');
    expect(tl.slice(-6)).toEqual(['iSNS:', 'No targets found.', 'STATIC:', 'No targets found.', 'FIRMWARE:', 'No targets found.']);

    const dl = await adm('-m', 'discovery');
    expect(lines(dl.stdout)).toEqual([`127.0.0.1:${rig.tgtd.port} via sendtargets`]);
  });

  it('rediscovery keeps changed node settings; --json lists what was found', async () => {
    expect((await adm('-m', 'discovery', '-t', 'sendtargets', '-p', rig.tgtd.portal)).code).toBe(0);
    const up = await adm(
      '-m',
      'node',
      '-T',
      T0,
      '-p',
      rig.tgtd.portal,
      '-o',
      'update',
      '-n',
      'node.session.timeo.replacement_timeout',
      '-v',
      '7',
    );
    expect(up.code).toBe(0);
    expect(up.stdout).toBe('');
    const again = await adm('-m', 'discovery', '-t', 'st', '-p', rig.tgtd.portal, '--json');
    expect(again.code).toBe(0);
    const found = JSON.parse(again.stdout) as Array<{ target: string; port: number; tpgt: number; iface: string }>;
    expect(found.map((f) => f.target).sort()).toEqual([T0, T1]);
    expect(found.every((f) => f.port === rig.tgtd.port && f.tpgt === 1 && f.iface === 'default')).toBe(true);
    const show = await adm('-m', 'node', '-T', T0, '-p', rig.tgtd.portal);
    expect(show.stdout).toContain('node.session.timeo.replacement_timeout = 7\n');
  });

  it('a timer value a login would refuse is refused when stored (exit 7, record unchanged); 0.5 s is taken and used', async () => {
    expect((await adm('-m', 'discovery', '-t', 'sendtargets', '-p', rig.tgtd.portal)).code).toBe(0);
    const key = 'node.conn[0].timeo.noop_out_interval';
    const file = async () =>
      (await new FileStore(rig.db).getNode({ target: T0, address: '127.0.0.1', port: rig.tgtd.port, tpgt: 1, iface: 'default' }))!;
    const before = (await file()).get(key);
    for (const [v, why] of [
      ['-5', /must be at least 0 s/],
      ['abc', /not a number/],
    ] as const) {
      const r = await adm('-m', 'node', '-T', T0, '-p', rig.tgtd.portal, '-o', 'update', '-n', key, '-v', v);
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toMatch(why);
      expect((await file()).get(key)).toBe(before);
    }
    const r = await adm('-m', 'node', '-T', T0, '-p', rig.tgtd.portal, '-o', 'update', '-n', key, '-v', '0.5');
    expect(r.code, r.stderr).toBe(0);
    const rec = await file();
    expect(rec.get(key)).toBe('0.5');
    // What the login is built from: 500 ms between NOP-Outs.
    expect(sessionOptionsFromRecord(rec).timers?.noopOutIntervalMs).toBe(500);
    // DefaultTime2Wait is sent to the target: whole seconds only.
    const t2w = await adm(
      '-m',
      'node',
      '-T',
      T0,
      '-p',
      rig.tgtd.portal,
      '-o',
      'update',
      '-n',
      'node.session.iscsi.DefaultTime2Wait',
      '-v',
      '0.5',
    );
    expect(t2w.code).toBe(7);
    expect(t2w.stderr).toMatch(/must be a whole number/);
  });

  it('discoverydb: -o show of the stored record, --discover runs it, -o delete removes its nodes', async () => {
    expect((await adm('-m', 'discoverydb', '-t', 'st', '-p', rig.tgtd.portal, '-o', 'show')).code).toBe(21);
    expect((await adm('-m', 'discoverydb', '-t', 'st', '-p', rig.tgtd.portal, '-o', 'new')).code).toBe(0);
    const up = await adm(
      '-m',
      'discoverydb',
      '-t',
      'st',
      '-p',
      rig.tgtd.portal,
      '-o',
      'update',
      '-n',
      'discovery.sendtargets.auth.password',
      '-v',
      'pw-secret-1',
    );
    expect(up.code).toBe(0);
    const show = await adm('-m', 'discoverydb', '-t', 'st', '-p', rig.tgtd.portal);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`discovery.sendtargets.address = 127.0.0.1\n`);
    expect(show.stdout).toContain('discovery.sendtargets.auth.password = ********\n');
    expect(show.stdout).not.toContain('pw-secret-1');
    const shown = await adm('-m', 'discoverydb', '-t', 'st', '-p', rig.tgtd.portal, '-S');
    expect(shown.stdout).toContain('discovery.sendtargets.auth.password = pw-secret-1\n');

    // authmethod stays None, so the stored password is not used: discovery works.
    const d = await adm('-m', 'discoverydb', '-t', 'st', '-p', rig.tgtd.portal, '--discover');
    expect(d.code).toBe(0);
    expect(lines(d.stdout)).toHaveLength(2);
    const del = await adm('-m', 'discoverydb', '-t', 'st', '-p', rig.tgtd.portal, '-o', 'delete');
    expect(del.code).toBe(0);
    const none = await adm('-m', 'node');
    expect(none.code).toBe(21);
    expect(none.stderr).toBe('mpiscsiadm: No records found\n');
  });

  it('an unreachable portal fails like iscsiadm: connection failure, ISCSI_ERR_TRANS', async () => {
    const port = await freePort();
    const r = await adm('-m', 'discovery', '-t', 'st', '-p', `127.0.0.1:${port}`);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toEqual([
      expect.stringMatching(/^mpiscsiadm: cannot make connection to 127\.0\.0\.1: .*ECONNREFUSED/),
      'mpiscsiadm: Could not perform SendTargets discovery: encountered connection failure',
    ]);
    expect((await adm('-m', 'node')).code).toBe(21);
  });

  it('--login after discovery needs the daemon: exit 20', async () => {
    const r = await adm('-m', 'discovery', '-t', 'st', '-p', rig.tgtd.portal, '--login');
    expect(r.code).toBe(20);
    expect(lines(r.stdout)).toHaveLength(2);
    expect(r.stderr).toContain('mpiscsiadm: can not connect to iSCSI daemon');
  });
});

describe('mpiscsiadm -m node (offline)', () => {
  it('-o new, list (IPv6 in brackets), -P 1, show, update, delete', async () => {
    const a = await adm('-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(`New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=default] 127.0.0.1,3260,1 ${T0}] added\n`);
    const b = await adm('-m', 'node', '-o', 'new', '-T', T1, '-p', '[::1]:3260,1');
    expect(b.stdout).toBe(`New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=default] ::1,3260,1 ${T1}] added\n`);
    expect(existsSync(join(rig.db, 'static', `${T0},127.0.0.1,3260,1,default`))).toBe(true);
    expect(existsSync(join(rig.db, 'nodes', T1, '::1,3260,1', 'default'))).toBe(true);

    const list = await adm('-m', 'node');
    expect(list.stdout).toBe(`127.0.0.1:3260,1 ${T0}\n[::1]:3260,1 ${T1}\n`);
    const json = await adm('-m', 'node', '--json');
    expect(JSON.parse(json.stdout)).toEqual([
      { target: T0, address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' },
      { target: T1, address: '::1', port: 3260, tpgt: 1, iface: 'default' },
    ]);
    const tree = await adm('-m', 'node', '-P', '1');
    expect(tree.stdout).toBe(
      `Target: ${T0}\n\tPortal: 127.0.0.1:3260,1\n\t\tIface Name: default\nTarget: ${T1}\n\tPortal: [::1]:3260,1\n\t\tIface Name: default\n`,
    );

    // Secrets: written in clear (0600), shown masked unless -S.
    const up = await adm(
      '-m',
      'node',
      '-T',
      T0,
      '-p',
      '127.0.0.1',
      '-o',
      'update',
      '-n',
      'node.session.auth.password',
      '-v',
      'chap-secret-42',
    );
    expect(up.code).toBe(0);
    const show = await adm('-m', 'node', '-T', T0, '-p', '127.0.0.1:3260', '-o', 'show');
    expect(show.code).toBe(0);
    expect(show.stdout.startsWith('# BEGIN RECORD 2.1.8\nnode.name = iqn.2026-11.test:adm0\nnode.tpgt = 1\n')).toBe(true);
    expect(show.stdout).toContain('node.session.auth.password = ********\n');
    expect(show.stdout).toContain('node.session.auth.username = <empty>\n');
    expect(show.stdout).not.toContain('chap-secret-42');
    const js = JSON.parse((await adm('-m', 'node', '-T', T0, '--json')).stdout) as Array<Record<string, string>>;
    expect(js[0]!['node.session.auth.password']).toBe('********');
    const secret = await adm('-m', 'node', '-T', T0, '-S');
    expect(secret.stdout).toContain('node.session.auth.password = chap-secret-42\n');

    const store = new FileStore(rig.db);
    const file = store.nodePath({ target: T0, address: '127.0.0.1', port: 3260, tpgt: 1, iface: 'default' });
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('node.session.auth.password = chap-secret-42\n');
    expect(text).not.toContain('<empty>');
    expect(formatRecord(parseRecord(text, { schema: NODE_SCHEMA }).record, NODE_SCHEMA)).toBe(text);

    expect((await adm('-m', 'node', '-T', T0, '-p', '127.0.0.1', '-o', 'delete')).code).toBe(0);
    expect((await adm('-m', 'node')).stdout).toBe(`[::1]:3260,1 ${T1}\n`);
    expect(existsSync(join(rig.db, 'static', `${T0},127.0.0.1,3260,1,default`))).toBe(false);
  });

  it('-o new without a tpgt records -1', async () => {
    const a = await adm('-m', 'node', '-o', 'new', '-T', T0, '-p', '10.0.0.5');
    expect(a.stdout).toBe(`New iSCSI node [tcp:[hw=,ip=,net_if=,iscsi_if=default] 10.0.0.5,3260,-1 ${T0}] added\n`);
    expect((await adm('-m', 'node')).stdout).toBe(`10.0.0.5:3260,4294967295 ${T0}\n`); // iscsiadm 2.1.8 prints the tag unsigned
  });

  it('-P 1 lists a Portal line per record (two ifaces of one portal: two), as iscsiadm 2.1.8 print_nodes_tree', async () => {
    expect((await adm('-m', 'iface', '-I', 'if1', '-o', 'new')).code).toBe(0);
    for (const i of ['default', 'if1'])
      expect((await adm('-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1', '-I', i)).code).toBe(0);
    expect((await adm('-m', 'node', '-P', '1')).stdout).toBe(
      `Target: ${T0}\n\tPortal: 127.0.0.1:3260,1\n\t\tIface Name: default\n\tPortal: 127.0.0.1:3260,1\n\t\tIface Name: if1\n`,
    );
  });

  it('discovery -P 1 finds static targets by node.discovery_type, with no static/ links (a tree config management wrote)', async () => {
    expect((await adm('-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1')).code).toBe(0);
    rmSync(join(rig.db, 'static'), { recursive: true, force: true });
    const r = await adm('-m', 'discovery', '-P', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `SENDTARGETS:\nNo targets found.\niSNS:\nNo targets found.\nSTATIC:\nTarget: ${T0}\n\tPortal: 127.0.0.1:3260,1\n\t\tIface Name: default\nFIRMWARE:\nNo targets found.\n`,
    );
  });

  it('exit codes: no records 21, bad usage 7, daemon operations 20', async () => {
    const none = await adm('-m', 'node');
    expect(none).toEqual({ code: 21, stdout: '', stderr: 'mpiscsiadm: No records found\n' });
    expect((await adm('-m', 'node', '-T', T0, '-o', 'delete')).code).toBe(21);
    expect((await adm('-m', 'node', '-T', T0, '-l')).code).toBe(21);

    await adm('-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1');
    const bad = await adm('-m', 'node', '-T', T0, '-o', 'update', '-n', 'node.no_such_key', '-v', '1');
    expect(bad.code).toBe(7);
    expect(lines(bad.stderr)).toEqual([
      'mpiscsiadm: Cannot modify node.no_such_key. Invalid param name.',
      'mpiscsiadm: Could not execute operation on all records: invalid parameter',
    ]);
    expect((await adm('-m', 'node', '-T', T0, '-o', 'update', '-n', 'node.name', '-v', 'x')).code).toBe(7);
    expect((await adm('-m', 'node', '-T', T0, '-o', 'update', '-n', 'node.startup', '-v', 'sometimes')).code).toBe(7);
    expect((await adm('-m', 'node', '-T', T0, '-o', 'update', '-n', 'node.session.cmds_max', '-v', 'many')).code).toBe(7);
    expect((await adm('-m', 'node', '-T', T0, '-o', 'update', '-n', 'node.startup')).code).toBe(7);
    expect((await adm('-m', 'node', '--bogus')).code).toBe(7);
    expect((await adm('-m', 'nodes')).code).toBe(7);
    expect((await adm('-m', 'node', '-o', 'frobnicate')).code).toBe(7);
    expect((await adm('-m', 'node', '-p', '127.0.0.1:99999')).code).toBe(7);
    expect((await adm('-m', 'node', '-P', 'x')).code).toBe(7);
    expect((await adm()).code).toBe(7);
    // The record is untouched by the failed updates.
    expect((await adm('-m', 'node', '-T', T0)).stdout).toContain('node.startup = manual\n');

    const login = await adm('-m', 'node', '-T', T0, '-p', '127.0.0.1', '-l');
    expect(login.code).toBe(20);
    expect(lines(login.stderr)).toEqual([
      `mpiscsiadm: can not connect to iSCSI daemon: no NATS server at ${rig.noDaemon} (connection refused)`,
      `mpiscsiadm: Could not login to [iface: default, target: ${T0}, portal: 127.0.0.1,3260].`,
      'mpiscsiadm: initiator reported error (20 - could not connect to iscsid)',
      'mpiscsiadm: Could not log into all portals',
    ]);
    expect((await adm('-m', 'node', '-T', T0, '-u')).code).toBe(20);
    expect((await adm('-m', 'node', '-L', 'all')).code).toBe(20);
    expect((await adm('-m', 'node', '-U', 'all')).code).toBe(20);
    const sess = await adm('-m', 'session');
    expect(sess.code).toBe(20);
    // Says what failed (it said "mpiscsid is not running" when only NATS was down): the NATS URL tried.
    expect(sess.stderr).toBe(`mpiscsiadm: can not connect to iSCSI daemon: no NATS server at ${rig.noDaemon} (connection refused)\n`);
    expect((await adm('-m', 'session', '-P', '3')).code).toBe(20);
  });

  it('takes the database root from MPISCSI_DB', async () => {
    const r = await runCli('mpiscsiadm', ['-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1'], { MPISCSI_DB: rig.db });
    expect(r.code).toBe(0);
    expect((await adm('-m', 'node')).stdout).toBe(`127.0.0.1:3260,1 ${T0}\n`);
  });
});

describe('mpiscsiadm -m iface', () => {
  it('lists the built-ins, then new/update/show/delete of a stored iface', async () => {
    const l = await adm('-m', 'iface');
    expect(l).toEqual({
      code: 0,
      stderr: '',
      stdout: 'default tcp,<empty>,<empty>,<empty>,<empty>\niser iser,<empty>,<empty>,<empty>,<empty>\n',
    });

    // iscsiadm 2.1.8's two lines, and again (rc 0) when it exists: provisioning re-runs.
    expect(await adm('-m', 'iface', '-I', 'if0', '-o', 'new')).toEqual({
      code: 0,
      stderr: '',
      stdout: 'if0 updated.\nNew interface if0 added\n',
    });
    const up = await adm('-m', 'iface', '-I', 'if0', '-o', 'update', '-n', 'iface.ipaddress', '-v', '127.0.0.1');
    expect(up).toEqual({ code: 0, stderr: '', stdout: 'if0 updated.\n' });
    expect(await adm('-m', 'iface', '-I', 'if0', '-o', 'new')).toEqual({
      code: 0,
      stderr: '',
      stdout: 'if0 updated.\nNew interface if0 added\n',
    });
    expect((await adm('-m', 'iface', '-I', 'if0')).stdout).toContain('iface.ipaddress = 127.0.0.1\n'); // kept
    expect(await adm('-m', 'iface', '-I', 'missing', '-o', 'delete')).toEqual({
      code: 7,
      stdout: '',
      // iscsiadm 2.1.8's two lines.
      stderr: 'mpiscsiadm: Could not read iface info for missing.\nmpiscsiadm: Could not delete iface missing: invalid parameter\n',
    });
    // Discovery through an iface that has no record: nothing is asked of the portal, nothing stored, rc 21.
    expect(await adm('-m', 'discovery', '-t', 'st', '-p', '127.0.0.1:9', '-I', 'missing')).toEqual({
      code: 21,
      stdout: '',
      stderr: 'mpiscsiadm: Could not read iface info for missing.\n',
    });
    const nodeMissing = await adm('-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260', '-I', 'missing-iface');
    expect(nodeMissing).toEqual({ code: 3, stdout: '', stderr: 'mpiscsiadm: Could not read iface info for missing-iface.\n' });
    expect((await adm('-m', 'iface', '-I', 'if0', '-o', 'update', '-n', 'iface.nope', '-v', '1')).code).toBe(7);
    expect((await adm('-m', 'iface')).stdout).toBe(
      // iscsiadm 2.1.8's order: stored ifaces, then the built-ins.
      'if0 tcp,<empty>,127.0.0.1,<empty>,<empty>\ndefault tcp,<empty>,<empty>,<empty>,<empty>\niser iser,<empty>,<empty>,<empty>,<empty>\n',
    );
    const js = JSON.parse((await adm('-m', 'iface', '--json')).stdout) as Array<Record<string, string>>;
    expect(js.map((i) => i['iface.iscsi_ifacename'])).toEqual(['if0', 'default', 'iser']);
    const show = await adm('-m', 'iface', '-I', 'if0');
    expect(show.stdout).toContain('iface.iscsi_ifacename = if0\n');
    expect(show.stdout).toContain('iface.ipaddress = 127.0.0.1\n');

    // A node bound to the iface shows its values, and goes away with it.
    const n = await adm('-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1:3260,1', '-I', 'if0');
    expect(n.stdout).toBe(`New iSCSI node [tcp:[hw=,ip=127.0.0.1,net_if=,iscsi_if=if0] 127.0.0.1,3260,1 ${T0}] added\n`);
    expect((await adm('-m', 'node', '-P', '1')).stdout).toContain('\t\tIface Name: if0\n');

    expect((await adm('-m', 'iface', '-I', 'if0', '-o', 'delete')).stdout).toBe('if0 unbound and deleted.\n');
    expect((await adm('-m', 'node')).code).toBe(21);
    expect((await adm('-m', 'iface', '-I', 'if0', '-o', 'delete')).code).toBe(7); // iscsiadm 2.1.8: "Could not read iface info", rc 7
    expect((await adm('-m', 'iface', '-I', 'default', '-o', 'delete')).code).toBe(7);
    expect((await adm('-m', 'iface', '-I', 'nosuch')).code).toBe(21);
    expect((await adm('-m', 'node', '-o', 'new', '-T', T0, '-p', '127.0.0.1', '-I', 'nosuch')).code).toBe(3);
  });
});

describe('mpiscsiadm --import', () => {
  const fixtures = join(import.meta.dirname, '..', 'db', 'fixtures');
  const T = 'iqn.2026-11.test:disk0';

  /** An open-iscsi tree as iscsiadm leaves it, from the byte-exact fixtures. */
  function openIscsiTree(): string {
    const tree = mkdtempSync(join(tmpdir(), 'open-iscsi-tree-'));
    mkdirSync(join(tree, 'nodes', T, '127.0.0.1,3260,1'), { recursive: true });
    copyFileSync(join(fixtures, 'node-chap.record'), join(tree, 'nodes', T, '127.0.0.1,3260,1', 'default'));
    mkdirSync(join(tree, 'send_targets', '127.0.0.1,3260'), { recursive: true });
    copyFileSync(join(fixtures, 'st_config.record'), join(tree, 'send_targets', '127.0.0.1,3260', 'st_config'));
    symlinkSync(join(tree, 'nodes', T, '127.0.0.1,3260,1'), join(tree, 'send_targets', '127.0.0.1,3260', `${T},127.0.0.1,3260,1,default`));
    mkdirSync(join(tree, 'ifaces'));
    copyFileSync(join(fixtures, 'iface0.record'), join(tree, 'ifaces', 'iface0'));
    writeFileSync(join(tree, 'initiatorname.iscsi'), 'InitiatorName=iqn.2026-11.test:host\n');
    return tree;
  }

  it('imports a whole open-iscsi tree; the node, discovery and iface records read back identically', async () => {
    const tree = openIscsiTree();
    try {
      const r = await adm('--import', tree);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`Imported 1 node, 1 discovery and 1 iface records, 1 links and 1 files from ${tree}\n`);
      expect(lines((await adm('-m', 'node')).stdout)).toEqual([`127.0.0.1:3260,1 ${T}`]);
      expect(lines((await adm('-m', 'discovery')).stdout)).toEqual(['127.0.0.1:3260 via sendtargets']);
      expect(lines((await adm('-m', 'iface')).stdout)).toContainEqual(expect.stringMatching(/^iface0 tcp,/));
      // The record file is the fixture byte for byte, 0600.
      const written = join(rig.db, 'nodes', T, '127.0.0.1,3260,1', 'default');
      expect(readFileSync(written, 'utf8')).toBe(readFileSync(join(fixtures, 'node-chap.record'), 'utf8'));
      expect(statSync(written).mode & 0o777).toBe(0o600);
      const show = await adm('-m', 'node', '-T', T);
      expect(show.stdout).toContain('node.session.auth.password = ********\n');
      expect(show.stdout).not.toContain('s3cret-Pa55');
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });

  it('a corrupt record stops the import naming its file and line, and nothing is written', async () => {
    const tree = openIscsiTree();
    try {
      const bad = join(tree, 'ifaces', 'iface0');
      writeFileSync(bad, readFileSync(bad, 'utf8').replace('iface.ipaddress = ', 'iface.ipaddress '));
      const lineNo =
        readFileSync(bad, 'utf8')
          .split('\n')
          .findIndex((l) => l.startsWith('iface.ipaddress ')) + 1;
      const r = await adm('--import', tree);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain(`${bad}:${lineNo}`);
      expect((await adm('-m', 'node')).code).toBe(21);
    } finally {
      rmSync(tree, { recursive: true, force: true });
    }
  });

  it('a record with a timer value a login would refuse stops the import naming file, line, key, value and rule; nothing is written', async () => {
    for (const [v, why] of [
      ['-5', 'must be at least 0 s'],
      ['abc', 'not a number'],
      ['0x10', 'not a number'],
    ] as const) {
      const tree = openIscsiTree();
      try {
        const bad = join(tree, 'nodes', T, '127.0.0.1,3260,1', 'default');
        const key = 'node.conn[0].timeo.noop_out_interval';
        writeFileSync(bad, readFileSync(bad, 'utf8').replace(`${key} = 5`, `${key} = ${v}`));
        const lineNo = readFileSync(bad, 'utf8').split('\n').indexOf(`${key} = ${v}`) + 1;
        expect(lineNo).toBeGreaterThan(0);
        const r = await adm('--import', tree);
        expect(r.code, r.stderr).toBe(6);
        expect(r.stderr).toContain(`${bad}:${lineNo}: ${key} = ${v}: ${why}`);
        expect((await adm('-m', 'node')).code).toBe(21);
        expect((await adm('-m', 'iface', '-I', 'iface0')).code).toBe(21);
      } finally {
        rmSync(tree, { recursive: true, force: true });
      }
    }
  });
});
