/**
 * Test helper: the built mpiscsiadm with no daemon running, as the offline-mode tests use it. One tgtd (for
 * SendTargets) with a 1 MiB LU per target for the whole file, a fresh temp node database per test, and
 * MPISCSI_NATS_URL pointed at a loopback port nothing listens on. Registers its own vitest hooks, so call it
 * once at the top level of a test file.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliResult } from './cli.js';
import { Tgtd } from './tgtd.js';
import { freePort } from './ports.js';

export interface OfflineAdm {
  /** The target, started before the first test and stopped after the last. */
  readonly tgtd: Tgtd;
  /** This test's node database directory (removed after the test). */
  readonly db: string;
  /** A loopback NATS URL nothing listens on: the daemon is not running. */
  readonly noDaemon: string;
  /** mpiscsiadm with `--db` this test's database, against no daemon. */
  adm(...args: string[]): Promise<CliResult>;
}

/** `targets`: the IQNs tgtd serves, one 1 MiB LU each; `dbPrefix`: the temp directory's name prefix. */
export function offlineAdm(targets: string[], dbPrefix: string): OfflineAdm {
  let tgtd: Tgtd | undefined;
  let db: string | undefined;
  let noDaemon: string | undefined;

  beforeAll(async () => {
    noDaemon = `nats://127.0.0.1:${await freePort()}`;
    tgtd = await Tgtd.start();
    for (const iqn of targets) await tgtd.addTarget(iqn, [{ size: 1 << 20 }]);
  });

  afterAll(async () => {
    await tgtd?.stop();
  });

  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), dbPrefix));
    db = dir;
    return () => rmSync(dir, { recursive: true, force: true });
  });

  const set = <T>(v: T | undefined, name: string): T => {
    if (v === undefined) throw new Error(`offlineAdm: ${name} is set up only inside a test`);
    return v;
  };
  return {
    get tgtd() {
      return set(tgtd, 'tgtd');
    },
    get db() {
      return set(db, 'db');
    },
    get noDaemon() {
      return set(noDaemon, 'noDaemon');
    },
    adm(...args) {
      return runCli('mpiscsiadm', ['--db', set(db, 'db'), ...args], { MPISCSI_NATS_URL: set(noDaemon, 'noDaemon') });
    },
  };
}

/** The non-empty lines of a program's output. */
export const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
