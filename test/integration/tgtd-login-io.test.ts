/**
 * End to end against a real tgtd (Debian tgt 1.0.85) on loopback: SendTargets discovery, login without
 * auth, with one-way and mutual CHAP, a wrong secret, header and data digests, and block I/O with its
 * error cases.
 */
import { outstandingCommands } from '../../src/session/busy-poll.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Tgtd } from '../support/tgtd.js';
import { openSession, discoverTargets } from '../../src/session/open.js';
import { Lun, executeScsi } from '../../src/session/lun.js';
import { LoginError } from '../../src/iscsi/errors.js';
import { read16 } from '../../src/scsi/cdb.js';
import { CheckConditionError } from '../../src/scsi/errors.js';

const IQN = {
  plain: 'iqn.2026-11.test:plain',
  chap: 'iqn.2026-11.test:chap',
  mutual: 'iqn.2026-11.test:mutual',
};
const SIZE = 8 * 1024 * 1024;

let tgtd: Tgtd;
const files: Record<string, string> = {};

beforeAll(async () => {
  tgtd = await Tgtd.start();
  let tid = await tgtd.addTarget(IQN.plain);
  files.plain = await tgtd.addLun(tid, 1, { size: SIZE, random: true });
  tid = await tgtd.addTarget(IQN.chap);
  files.chap = await tgtd.addLun(tid, 1, { size: SIZE });
  await tgtd.addAccount(tid, 'alice', 'alice-secret-12');
  tid = await tgtd.addTarget(IQN.mutual);
  files.mutual = await tgtd.addLun(tid, 1, { size: SIZE });
  await tgtd.addAccount(tid, 'bob', 'bob-secret-1234');
  await tgtd.addAccount(tid, 'target-bob', 'target-secret-99', true);
  await tgtd.setTargetParam(tid, 'HeaderDigest', 'CRC32C,None');
  await tgtd.setTargetParam(tid, 'DataDigest', 'CRC32C,None');
});

afterAll(async () => {
  await tgtd?.stop();
});

const base = () => ({ host: tgtd.host, port: tgtd.port, initiatorName: 'iqn.2026-11.test:initiator' });

describe('discovery', () => {
  it('SendTargets lists every target with its portal and tag', async () => {
    const targets = await discoverTargets(base());
    expect(targets.map((t) => t.targetName).sort()).toEqual(Object.values(IQN).sort());
    for (const t of targets) expect(t.portals).toEqual([{ host: '127.0.0.1', port: tgtd.port, tpgt: 1 }]);
  });
});

describe('login', () => {
  it('logs in without authentication and reads the capacity', async () => {
    const { session, login } = await openSession({ ...base(), targetName: IQN.plain });
    expect(login.authMethod).toBe('None');
    const lun = await Lun.open(session, 1);
    expect(lun.sizeBytes).toBe(SIZE);
    expect(lun.blockSize).toBe(512);
    await session.logout();
    expect(session.closed).toBe(true);
  });

  it('logs in with one-way CHAP (MD5)', async () => {
    const { session, login } = await openSession({
      ...base(),
      targetName: IQN.chap,
      auth: { method: 'CHAP', username: 'alice', password: 'alice-secret-12', algorithms: ['MD5'] },
    });
    expect(login.authMethod).toBe('CHAP');
    expect(login.chapAlgorithm).toBe('MD5');
    await session.logout();
  });

  it('logs in with mutual CHAP (MD5) and verifies the target', async () => {
    const { session, login } = await openSession({
      ...base(),
      targetName: IQN.mutual,
      auth: {
        method: 'CHAP',
        username: 'bob',
        password: 'bob-secret-1234',
        usernameIn: 'target-bob',
        passwordIn: 'target-secret-99',
        algorithms: ['MD5'],
      },
    });
    expect(login.authMethod).toBe('CHAP');
    await session.logout();
  });

  it('refuses a target that answers mutual CHAP with the wrong secret', async () => {
    const err = await openSession({
      ...base(),
      targetName: IQN.mutual,
      auth: {
        method: 'CHAP',
        username: 'bob',
        password: 'bob-secret-1234',
        usernameIn: 'target-bob',
        passwordIn: 'not-the-target-secret',
        algorithms: ['MD5'],
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as LoginError).kind).toBe('authentication');
    expect((err as Error).message).not.toContain('not-the-target-secret');
  });

  it('fails at once with an authentication error on a wrong secret, without leaking it', async () => {
    const err = await openSession({
      ...base(),
      targetName: IQN.chap,
      auth: { method: 'CHAP', username: 'alice', password: 'wrong-secret-000', algorithms: ['MD5'] },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as LoginError).kind).toBe('authentication');
    expect((err as LoginError).final).toBe(true);
    expect((err as Error).message).not.toContain('wrong-secret-000');
  });

  it('fails with an authentication error when CHAP is required and none is configured', async () => {
    const err = await openSession({ ...base(), targetName: IQN.chap }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as LoginError).kind).toBe('authentication');
  });

  // reference/iscsi-rfc7143.md: tgt 1.0.85 accepts CHAP_A 7 but computes SHA-1 for it, so only MD5
  // interoperates; SHA-1, SHA-256 and SHA3-256 are tested against the scripted CHAP target instead.
  it('cannot authenticate with SHA-256 against tgtd (its CHAP_A=7 is really SHA-1)', async () => {
    const err = await openSession({
      ...base(),
      targetName: IQN.chap,
      auth: { method: 'CHAP', username: 'alice', password: 'alice-secret-12', algorithms: ['SHA256'] },
    }).catch((e: unknown) => e);
    // tgtd rejects the 32-byte CHAP_R with a class-2 status (initiator error): final, never retried.
    expect(err).toBeInstanceOf(LoginError);
    expect((err as LoginError).statusClass).toBe(2);
    expect((err as LoginError).final).toBe(true);
  });

  it('falls back to no digest when the target offers none and we accept None', async () => {
    const { session, login } = await openSession({
      ...base(),
      targetName: IQN.plain,
      wishes: { headerDigest: ['CRC32C', 'None'], dataDigest: ['CRC32C', 'None'] },
    });
    expect(login.params.headerDigest).toBe(false);
    await session.logout();
  });

  it('reports a missing target as not found', async () => {
    const err = await openSession({ ...base(), targetName: 'iqn.2026-11.test:nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as LoginError).kind).toBe('not-found');
  });
});

describe('I/O', () => {
  it('moves data with header and data digests (CRC32C)', async () => {
    const { session, login } = await openSession({
      ...base(),
      targetName: IQN.mutual,
      auth: { method: 'CHAP', username: 'bob', password: 'bob-secret-1234', algorithms: ['MD5'] },
      wishes: { headerDigest: ['CRC32C'], dataDigest: ['CRC32C'] },
    });
    expect(login.params.headerDigest).toBe(true);
    expect(login.params.dataDigest).toBe(true);
    const lun = await Lun.open(session, 1);
    // Larger than FirstBurstLength and MaxXmitDataSegmentLength: immediate data, then R2T-driven Data-Out.
    const data = randomBytes(1024 * 1024 + 4096);
    await lun.write(512 * 8, data);
    expect(Buffer.compare(await lun.read(512 * 8, data.length), data)).toBe(0);
    expect(session.stats.digest_err).toBe(0);
    expect(session.stats.r2t_pdus).toBeGreaterThan(0);
    await session.logout();
    expect(Buffer.compare(readFileSync(files.mutual).subarray(4096, 4096 + data.length), data)).toBe(0);
  });

  it('keeps many commands in flight and completes each with its own data', async () => {
    const { session } = await openSession({ ...base(), targetName: IQN.plain });
    const lun = await Lun.open(session, 1);
    const backing = readFileSync(files.plain);
    const offsets = Array.from({ length: 256 }, (_, i) => ((i * 7919) % (SIZE / 4096)) * 4096);
    const reads = await Promise.all(offsets.map((o) => lun.read(o, 4096)));
    for (const [i, buf] of reads.entries()) {
      expect(Buffer.compare(buf, backing.subarray(offsets[i], offsets[i] + 4096))).toBe(0);
    }
    expect(outstandingCommands()).toBe(0);
    await session.logout();
  });

  it('rejects zero-length, unaligned and out-of-range I/O with clear errors', async () => {
    const { session } = await openSession({ ...base(), targetName: IQN.plain });
    const lun = await Lun.open(session, 1);
    await expect(lun.read(0, 0)).rejects.toThrow(/length must be a positive number of bytes/);
    await expect(lun.read(100, 512)).rejects.toThrow(/multiples of the 512-byte block size/);
    await expect(lun.read(0, 1000)).rejects.toThrow(/multiples of the 512-byte block size/);
    await expect(lun.read(SIZE, 512)).rejects.toThrow(/runs past the end of the LU/);
    await expect(lun.write(SIZE - 512, Buffer.alloc(1024))).rejects.toThrow(/runs past the end of the LU/);
    // The same out-of-range read sent to the target as it is: tgtd answers CHECK CONDITION, typed.
    const err = await executeScsi(session, 1, read16({ lba: SIZE / 512, blocks: 1, blockSize: 512 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckConditionError);
    expect((err as CheckConditionError).sense.keyName).toBe('ILLEGAL REQUEST');
    expect((err as CheckConditionError).sense.asc).toBe(0x21);
    expect((err as Error).message).toMatch(/LOGICAL BLOCK ADDRESS OUT OF RANGE/);
    // The session is still usable after the error.
    expect((await lun.read(0, 512)).length).toBe(512);
    await session.logout();
  });
});
