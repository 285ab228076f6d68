/**
 * `mpiscsi inq`, `readcap` and `ls` beside libiscsi's iscsi-inq, iscsi-readcapacity16 and iscsi-ls (Debian
 * libiscsi-bin 1.19) on the same tgtd LUs, field by field: the same lines, names and decodings, the same
 * failures (a LUN with no LU, a VPD page tgtd lacks) with the same sense text and exit code 10, and URLs
 * without a LUN refused as libiscsi refuses them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { Tgtd } from '../support/tgtd.js';
import { runCli, type CliResult } from '../support/cli.js';

let tgtd: Tgtd;
let url: (lun: number | string) => string;

/** Runs one of libiscsi's tools; its exit code, stdout and stderr. */
function libiscsi(tool: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(tool, args, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

/** `Name:value` lines as [name, value] pairs, split at the first colon, in order. */
function fields(text: string): Array<[string, string]> {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const i = l.indexOf(':');
      return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)];
    });
}

/** Both ran, both succeeded, and printed the same fields with the same values. */
async function sameOutput(ours: string[], theirs: [string, string[]]): Promise<void> {
  const [m, l] = await Promise.all([runCli('mpiscsi', ours), libiscsi(...theirs)]);
  expect(l.code, l.stderr).toBe(0);
  expect(m.code, m.stderr).toBe(0);
  expect(fields(l.stdout).length).toBeGreaterThan(0);
  expect(fields(m.stdout)).toEqual(fields(l.stdout));
}

beforeAll(async () => {
  tgtd = await Tgtd.start();
  url = (lun) => `iscsi://${tgtd.host}:${tgtd.port}/iqn.2026-11.test:tools/${lun}`;
  let tid = await tgtd.addTarget('iqn.2026-11.test:tools');
  await tgtd.addLun(tid, 1, { size: 16 * 1024 * 1024 });
  await tgtd.addLun(tid, 2, { size: 8 * 1024 * 1024, blockSize: 4096 });
  tid = await tgtd.addTarget('iqn.2026-11.test:tools-null');
  await tgtd.addLun(tid, 1, { bstype: 'null', size: 0 });
});

afterAll(async () => {
  await tgtd?.stop();
});

describe('inq is iscsi-inq', () => {
  it('standard INQUIRY data of an LU and of the controller LUN 0, every field', async () => {
    for (const lun of [0, 1, 2]) await sameOutput(['inq', url(lun)], ['iscsi-inq', [url(lun)]]);
  });

  // iscsi-inq 1.19 reads -c with atoi(): page codes in decimal for it (0x83 would be page 0).
  it.each([
    ['0x00', 0],
    ['0x80', 128],
    ['0xb0', 176],
    ['0xb1', 177],
    ['0xb2', 178],
  ])('VPD page %s, every field', async (hex, dec) => {
    for (const lun of [0, 1])
      await sameOutput(['inq', '-e', '1', '-c', hex, url(lun)], ['iscsi-inq', ['-e', '1', '-c', String(dec), url(lun)]]);
  });

  it('VPD page 0x83: the same designators in the same order; binary ones in hex, as libiscsi prints them since 1.20.3', async () => {
    const [m, l] = await Promise.all([
      runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x83', url(1)]),
      libiscsi('iscsi-inq', ['-e', '1', '-c', '131', url(1)]),
    ]);
    expect(l.code, l.stderr).toBe(0);
    expect(m.code, m.stderr).toBe(0);
    const ours = fields(m.stdout);
    const theirs = fields(l.stdout);
    expect(ours.map(([k]) => k)).toEqual(theirs.map(([k]) => k));
    expect(ours.filter(([k]) => k === 'DEVICE DESIGNATOR #0').length).toBe(1);
    let codeSet = '';
    for (let i = 0; i < ours.length; i++) {
      const [k, v] = ours[i];
      if (k === 'Code Set') codeSet = v;
      if (k === 'Designator' && codeSet === '(1) BINARY') {
        // libiscsi 1.19 printed a binary designator as a C string: its bytes up to the first NUL.
        const bytes = Buffer.from(v.slice(1, -1).trim().split(' ').join(''), 'hex');
        const nul = bytes.indexOf(0);
        expect(`[${bytes.toString('latin1', 0, nul < 0 ? bytes.length : nul)}]`, `field ${i}`).toBe(theirs[i][1]);
        expect(v).toMatch(/^\[( [0-9a-f]{2})+\]$/);
      } else expect([k, v], `field ${i}`).toEqual(theirs[i]);
    }
  });

  it('a LUN with no LU: nothing on stdout, the sense iscsi-inq reports, exit 10', async () => {
    for (const args of [[], ['-e', '1', '-c', '0x83']]) {
      const [m, l] = await Promise.all([
        runCli('mpiscsi', ['inq', ...args, url(7)]),
        libiscsi('iscsi-inq', [...args.map((a) => (a === '0x83' ? '131' : a)), url(7)]),
      ]);
      expect(l.code).toBe(10);
      const sense = /SENSE KEY:.*\)/.exec(l.stderr)?.[0];
      expect(sense).toBe('SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:LOGICAL_UNIT_NOT_SUPPORTED(0x2500)');
      expect(m.code).toBe(10);
      expect(m.stdout).toBe('');
      expect(m.stderr).toBe(`mpiscsi: no logical unit at LUN 7 (Peripheral Qualifier:NOT_SUPPORTED): ${sense}\n`);
    }
  });

  it('a VPD page the LU does not have: CHECK CONDITION, the same sense, exit 10', async () => {
    const [m, l] = await Promise.all([
      runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x07', url(1)]),
      libiscsi('iscsi-inq', ['-e', '1', '-c', '7', url(1)]),
    ]);
    expect(l.code).toBe(10);
    const sense = /SENSE KEY:.*\)/.exec(l.stderr)?.[0];
    expect(sense).toBe('SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:INVALID_FIELD_IN_CDB(0x2400)');
    expect(m.code).toBe(10);
    expect(m.stderr).toBe(`mpiscsi: INQUIRY (VPD page 0x07) of LUN 1 failed: ${sense}\n`);
  });

  it('--json keeps the parsed fields', async () => {
    const r = await runCli('mpiscsi', ['inq', '--json', url(1)]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      peripheralQualifier: 0,
      peripheralDeviceType: 0,
      vendor: 'IET',
      product: 'VIRTUAL-DISK',
      cmdQue: true,
    });
    const sn = await runCli('mpiscsi', ['inq', '-e', '1', '-c', '0x80', '--json', url(1)]);
    expect(JSON.parse(sn.stdout)).toMatchObject({ pageCode: 0x80, serialNumber: 'beaf11' });
  });
});

describe('readcap is iscsi-readcapacity16', () => {
  it('every field, 512- and 4096-byte blocks, and the 1 TiB null LU; -s the size alone', async () => {
    for (const lun of [1, 2]) {
      await sameOutput(['readcap', url(lun)], ['iscsi-readcapacity16', [url(lun)]]);
      await sameOutput(['readcap', '-s', url(lun)], ['iscsi-readcapacity16', ['-s', url(lun)]]);
    }
    const nul = `iscsi://${tgtd.host}:${tgtd.port}/iqn.2026-11.test:tools-null/1`;
    await sameOutput(['readcap', nul], ['iscsi-readcapacity16', [nul]]);
  });

  it('a LUN with no LU: the sense iscsi-readcapacity16 reports at login, exit 10', async () => {
    const [m, l] = await Promise.all([runCli('mpiscsi', ['readcap', url(7)]), libiscsi('iscsi-readcapacity16', [url(7)])]);
    expect(l.code).toBe(10);
    const sense = /SENSE KEY:.*\)/.exec(l.stderr)?.[0];
    expect(sense).toBe('SENSE KEY:ILLEGAL_REQUEST(5) ASCQ:LOGICAL_UNIT_NOT_SUPPORTED(0x2500)');
    expect(m.code).toBe(10);
    expect(m.stdout).toBe('');
    expect(m.stderr).toBe(`mpiscsi: READ CAPACITY(16) of LUN 7 failed: ${sense}\n`);
  });
});

describe('ls is iscsi-ls', () => {
  it('targets, and with -s their LUNs, line for line in the same order', async () => {
    const portal = `iscsi://${tgtd.host}:${tgtd.port}`;
    await sameOutput(['ls', portal], ['iscsi-ls', [portal]]);
    const [m, l] = await Promise.all([runCli('mpiscsi', ['ls', '-s', portal]), libiscsi('iscsi-ls', ['-s', portal])]);
    expect(l.code, l.stderr).toBe(0);
    expect(m.code, m.stderr).toBe(0);
    expect(m.stdout).toBe(l.stdout);
    expect(m.stdout).toContain('Lun:1    Type:DIRECT_ACCESS (Size:15M)\nLun:2    Type:DIRECT_ACCESS (Size:7M)');
  });
});

describe('URLs for one LU need their LUN', () => {
  it('without a LUN: refused with the form shown (libiscsi refuses it too), exit 7, no login tried', async () => {
    const noLun = `iscsi://${tgtd.host}:${tgtd.port}/iqn.2026-11.test:tools`;
    for (const text of [noLun, `${noLun}/`]) {
      const l = await libiscsi('iscsi-inq', [text]);
      expect(l.code).toBe(10);
      expect(l.stderr).toContain('Could not parse <lun>');
      for (const args of [
        ['inq', text],
        ['readcap', text],
        ['perf', '-t', '1', text],
        ['dd', '-s', text, '-d', '/dev/null'],
      ]) {
        const m = await runCli('mpiscsi', args);
        expect(m.code, args.join(' ')).toBe(7);
        expect(m.stderr).toContain(
          `the iSCSI URL "${text}" names no LUN: it must be of the form iscsi://[<username>[%<password>]@]<host>[:<port>]/<target-iqn>/<lun>`,
        );
      }
    }
  });
});
