/**
 * The node service on a temp FileStore: changes checked whole before any is stored, the injected in-use check
 * holding a delete back for every selected record, updates handed on as stored; and the one table from the
 * domain errors to iscsiadm exit codes (src/control/exit-codes.ts).
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '../../src/db/index.js';
import type { NodeKey } from '../../src/db/node-record.js';
import type { Rec } from '../../src/db/record.js';
import { NodeService } from '../../src/services/nodes.js';
import {
  AccessDeniedError,
  AlreadyExistsError,
  IfaceMissingError,
  InvalidRequestError,
  LogoutFailedError,
  NotFoundError,
  OperationFailedError,
  RecordInUseError,
  SessionNotFoundError,
  ShuttingDownError,
} from '../../src/services/errors.js';
import { exitCodeFor } from '../../src/control/exit-codes.js';
import { LoginError } from '../../src/iscsi/errors.js';

const A = 'iqn.2026-12.test:a';
const B = 'iqn.2026-12.test:b';

let store: FileStore;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-nodes-'));
  store = new FileStore(dir);
  return () => rmSync(dir, { recursive: true, force: true });
});

async function two(nodes: NodeService): Promise<void> {
  await nodes.create({ target: A, address: '127.0.0.1', port: 3260, tpgt: 1 });
  await nodes.create({ target: B, address: '127.0.0.1', port: 3260, tpgt: 1 });
}

describe('NodeService', () => {
  it('creates a static record with the defaults -o new gives (port 3260, tpgt -1, iface default)', async () => {
    const nodes = new NodeService({ store });
    const { key, rec } = await nodes.create({ target: A, address: '10.0.0.5' });
    expect(key).toEqual({ target: A, address: '10.0.0.5', port: 3260, tpgt: -1, iface: 'default' });
    expect(rec.get('node.discovery_type')).toBe('static');
    expect(await nodes.find({})).toEqual([key]);
    await expect(nodes.create({ target: A, address: '10.0.0.5', iface: 'nosuch' })).rejects.toThrow(IfaceMissingError);
    await expect(nodes.create({ target: '', address: '10.0.0.5' })).rejects.toThrow(InvalidRequestError);
  });

  it('stores no change of a request with one bad value, and hands each stored update on', async () => {
    const seen: Array<[NodeKey, Rec]> = [];
    const nodes = new NodeService({ store, onUpdated: (k, r) => seen.push([k, r]) });
    await two(nodes);
    const bad = [
      { key: 'node.startup', value: 'automatic' },
      { key: 'node.conn[0].timeo.noop_out_interval', value: '-5' },
    ];
    const err = await nodes.update({}, bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).lines).toEqual(['Could not execute operation on all records: invalid parameter']);
    for (const k of await nodes.find({})) expect((await store.getNode(k))?.get('node.startup')).toBe('manual');
    expect(seen).toEqual([]);

    const keys = await nodes.update({ target: A }, [{ key: 'node.conn[0].timeo.noop_out_interval', value: '0.5' }]);
    expect(keys.map((k) => k.target)).toEqual([A]);
    expect(seen.map(([k, r]) => [k.target, r.get('node.conn[0].timeo.noop_out_interval')])).toEqual([[A, '0.5']]);
    await expect(nodes.update({ target: 'iqn.2026-12.test:none' }, [{ key: 'node.startup', value: 'automatic' }])).rejects.toThrow(
      NotFoundError,
    );
    await expect(nodes.update({ target: A }, [])).rejects.toThrow('update requires name and value');
  });

  it('deletes none of the selected records while a session uses one of them', async () => {
    const used = new Set([B]);
    const nodes = new NodeService({ store, inUse: async (k) => used.has(k.target) });
    await two(nodes);
    const err = await nodes.delete({}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordInUseError);
    expect((err as Error).message).toBe(
      `This command will remove the record [iface: default, target: ${B}, portal: 127.0.0.1,3260], but a session is using it. Logout session then rerun command to remove record.`,
    );
    expect((await nodes.find({})).map((k) => k.target).sort()).toEqual([A, B]);
    expect((await nodes.delete({ target: A })).map((k) => k.target)).toEqual([A]);
    used.clear();
    expect((await nodes.delete({})).map((k) => k.target)).toEqual([B]);
    await expect(nodes.delete({})).rejects.toThrow(NotFoundError);
  });

  it('shows the selected records and names those it could not read', async () => {
    const nodes = new NodeService({ store });
    await two(nodes);
    const { records, unreadable } = await nodes.show({ target: B });
    expect(records.map((r) => r.rec.get('node.name'))).toEqual([B]);
    expect(unreadable).toEqual([]);
  });
});

describe('the domain errors exit-code table', () => {
  it('gives each failure kind its iscsiadm code, and an operation failure its cause code', () => {
    expect(exitCodeFor(new InvalidRequestError('x'))).toBe(7);
    expect(exitCodeFor(new NotFoundError('x'))).toBe(21);
    expect(exitCodeFor(new SessionNotFoundError('x'))).toBe(2);
    expect(exitCodeFor(new AlreadyExistsError('x'))).toBe(15);
    expect(exitCodeFor(new RecordInUseError('x'))).toBe(15);
    expect(exitCodeFor(new IfaceMissingError('x'))).toBe(3);
    expect(exitCodeFor(new AccessDeniedError('x'))).toBe(13);
    expect(exitCodeFor(new ShuttingDownError('x'))).toBe(20);
    expect(exitCodeFor(new LogoutFailedError('x', new Error('y')))).toBe(10);
    const refused = new LoginError('authentication failed', 'authentication', 2, 1);
    expect(exitCodeFor(new OperationFailedError('login failed', refused))).toBe(24);
    expect(exitCodeFor(new OperationFailedError('x', new Error('plain')))).toBe(1);
  });
});
