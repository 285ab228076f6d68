/** mpiscsid's configuration: file lines, flag overrides, and errors that name the file and line. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, metricsAddress, multipathConfigOf, parseConfigText } from '../../src/daemon/config.js';
import { DAEMON_SETTINGS } from '../../src/settings/index.js';

function withFile(text: string, fn: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'mpiscsid-conf-'));
  const file = join(dir, 'mpiscsid.conf');
  writeFileSync(file, text);
  try {
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('mpiscsid configuration', () => {
  it('reads key = value lines with comments; flags override the file', () => {
    withFile(
      [
        '# mpiscsid.conf',
        '',
        'host_id = rack1-node7',
        'db=/srv/iscsi',
        'nats.servers = nats://127.0.0.1:4333',
        'nats.tls.ca_file = /etc/ca.pem',
        'multipath.no_path_retry = queue',
        'export.allow_remote = No',
      ].join('\n'),
      (file) => {
        const c = loadConfig(file, [{ key: 'db', value: '/override' }]);
        expect(c.hostId).toBe('rack1-node7');
        expect(c.db).toBe('/override');
        expect(c.nats.servers).toBe('nats://127.0.0.1:4333');
        expect(c.nats.tls).toEqual({ caFile: '/etc/ca.pem' });
        expect(c.multipath).toEqual({ no_path_retry: 'queue' });
        expect(multipathConfigOf(c)).toEqual({ noPathRetry: 'queue' });
        expect(c.allowRemoteExports).toBe(false);
      },
    );
  });

  it('defaults: loopback NATS, login of automatic nodes on, no remote exports', () => {
    const c = loadConfig(undefined);
    expect(c.nats.servers).toBe('nats://127.0.0.1:4222');
    expect(c.loginAutomatic).toBe(true);
    expect(c.allowRemoteExports).toBe(false);
    expect(c.hostId).toMatch(/^[-\w]+$/);
  });

  it('a bad line, an unknown key or a bad value is an error naming the file and line', () => {
    withFile('host_id = a\nthis line has no equals\n', (file) => {
      expect(() => loadConfig(file)).toThrow(new ConfigError(`${file}:2: expected "key = value", got "this line has no equals"`));
    });
    withFile('\n\nnats.passwrd_file = /x\n', (file) => {
      expect(() => loadConfig(file)).toThrow(new RegExp(`^${file}:3: unknown key "nats.passwrd_file"`));
    });
    withFile('multipath.no_path_retry = sometimes\n', (file) => {
      expect(() => loadConfig(file)).toThrow(new RegExp(`^${file}:1: multipath.no_path_retry = sometimes: `));
    });
    withFile('host_id = has.dots\n', (file) => {
      expect(() => loadConfig(file)).toThrow(`${file}:1: host_id = has.dots: use letters, digits, - and _`);
    });
    expect(() => loadConfig(undefined, [{ key: 'host_id', value: 'all' }])).toThrow(
      '--host_id: host_id = all: "all" names every host in mpiscsiadm --host-id all',
    );
    expect(() => loadConfig(undefined, [{ key: 'multipath.frobnicate', value: '1' }])).toThrow(
      /--multipath.frobnicate: unknown multipath setting "frobnicate"/,
    );
    expect(parseConfigText('a = b = c\n', 'f')).toEqual([{ key: 'a', value: 'b = c', where: 'f:1' }]);
  });

  it('Yes/No through the one parser (as records read it): Yes, yes, true, 1 and No, no, false, 0; anything else names the rule', () => {
    for (const [v, b] of [
      ['Yes', true],
      ['yes', true],
      ['true', true],
      ['1', true],
      ['No', false],
      ['no', false],
      ['FALSE', false],
      ['0', false],
    ] as const) {
      expect(loadConfig(undefined, [{ key: 'export.allow_remote', value: v }]).allowRemoteExports, v).toBe(b);
      expect(loadConfig(undefined, [{ key: 'startup.login_automatic', value: v }]).loginAutomatic, v).toBe(b);
    }
    expect(() => loadConfig(undefined, [{ key: 'export.allow_remote', value: 'sometimes' }])).toThrow(
      new ConfigError('--export.allow_remote: export.allow_remote = sometimes: not Yes or No'),
    );
  });

  it('multipath seconds through the one seconds parser: fractions taken, 0x10 and 1e3 refused with the rule', () => {
    const c = loadConfig(undefined, [{ key: 'multipath.polling_interval', value: '0.5' }]);
    expect(multipathConfigOf(c).pollingIntervalMs).toBe(500);
    for (const v of ['0x10', '1e3', '-1']) {
      expect(() => loadConfig(undefined, [{ key: 'multipath.polling_interval', value: v }]), v).toThrow(
        new RegExp(`^--multipath.polling_interval: multipath.polling_interval = ${v}: .* \\(seconds, above 0 s\\)$`),
      );
    }
  });

  it('busy_poll: µs 0..10000, default 100, the rest refused with the rule', () => {
    expect(loadConfig(undefined).busyPollUs).toBe(100);
    expect(loadConfig(undefined, [{ key: 'busy_poll', value: '0' }]).busyPollUs).toBe(0);
    expect(loadConfig(undefined, [{ key: 'busy_poll', value: '10000' }]).busyPollUs).toBe(10_000);
    for (const v of ['10001', '-1', '1.5', 'fast'])
      expect(() => loadConfig(undefined, [{ key: 'busy_poll', value: v }]), v).toThrow(new RegExp(`^--busy_poll: busy_poll = ${v}: `));
  });

  it('the defaults are the settings table’s', () => {
    const c = loadConfig(undefined);
    expect(c.db).toBe(DAEMON_SETTINGS.get('db')!.default);
    expect(c.stateDir).toBe(DAEMON_SETTINGS.get('state_dir')!.default);
    expect(c.nats.servers).toBe(DAEMON_SETTINGS.get('nats.servers')!.default);
    expect(DAEMON_SETTINGS.get('startup.login_automatic')!.default).toBe('Yes');
  });
});

describe('--metrics address', () => {
  it('takes HOST:PORT, [V6]:PORT, :PORT and PORT (host 127.0.0.1), loopback hosts only', () => {
    expect(metricsAddress('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(metricsAddress('127.0.0.2:9464')).toEqual({ host: '127.0.0.2', port: 9464 });
    expect(metricsAddress('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(metricsAddress('localhost:9464')).toEqual({ host: 'localhost', port: 9464 });
    expect(metricsAddress(':9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(metricsAddress('9464')).toEqual({ host: '127.0.0.1', port: 9464 });
  });

  it('refuses another host, a bad form and a bad port with --metrics named', () => {
    for (const [spec, why] of [
      ['0.0.0.0:9464', /0\.0\.0\.0 is not a loopback address/],
      ['[::]:9464', /:: is not a loopback address/],
      ['192.0.2.1:9464', /not a loopback address/],
      ['127.0.0.1:0', /port 1\.\.65535/],
      ['127.0.0.1:65536', /port 1\.\.65535/],
      ['::1:9464', /expected HOST:PORT/],
      ['', /expected HOST:PORT/],
    ] as const) {
      expect(() => metricsAddress(spec)).toThrow(ConfigError);
      expect(() => metricsAddress(spec)).toThrow(new RegExp(`^--metrics "${spec.replace(/[[\].]/g, '\\$&')}": .*${why.source}`));
    }
  });
});
