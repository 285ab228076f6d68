/**
 * The export service's checks, before anything is made: export names by one rule, sockets only under the
 * state directory's nbd/ or the allowed directory (symlinks resolved), TCP on loopback unless allowed; and the
 * HOST:PORT parsing that `mpiscsi serve --tcp` shares.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportNameProblem, exportTcp, parseHostPort, requestedSocketPath } from '../../src/services/exports.js';
import { AccessDeniedError, InvalidRequestError } from '../../src/services/errors.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'mpiscsi-exports-'));
  return () => rmSync(dir, { recursive: true, force: true });
});

describe('export checks', () => {
  it('parses HOST:PORT, [V6]:PORT and, where allowed, a bare PORT', () => {
    expect(parseHostPort('127.0.0.1:10809')).toEqual({ host: '127.0.0.1', port: 10809 });
    expect(parseHostPort('[::1]:10809')).toEqual({ host: '::1', port: 10809 });
    expect(parseHostPort('10809')).toBeUndefined();
    expect(parseHostPort('10809', true)).toEqual({ host: undefined, port: 10809 });
    expect(parseHostPort('host:port')).toBeUndefined();
  });

  it('takes TCP on loopback only, unless the policy allows remote exports', () => {
    const policy = { stateDir: dir };
    expect(exportTcp(policy, '127.0.0.2:10809')).toEqual({ host: '127.0.0.2', port: 10809 });
    expect(() => exportTcp(policy, '10.0.0.1:10809')).toThrow(AccessDeniedError);
    expect(exportTcp({ ...policy, allowRemote: true }, '10.0.0.1:10809')).toEqual({ host: '10.0.0.1', port: 10809 });
    expect(() => exportTcp(policy, '127.0.0.1:70000')).toThrow(InvalidRequestError);
    expect(() => exportTcp(policy, '10809')).toThrow(InvalidRequestError);
  });

  it('confines sockets to <stateDir>/nbd and the allowed directory, through symlinks', () => {
    mkdirSync(join(dir, 'nbd'));
    mkdirSync(join(dir, 'allowed'));
    mkdirSync(join(dir, 'elsewhere'));
    symlinkSync(join(dir, 'elsewhere'), join(dir, 'nbd', 'link'));
    const policy = { stateDir: dir, socketDir: join(dir, 'allowed') };
    expect(requestedSocketPath(policy, join(dir, 'nbd', 'a.sock'))).toBe(join(dir, 'nbd', 'a.sock'));
    expect(requestedSocketPath(policy, join(dir, 'allowed', 'b.sock'))).toBe(join(dir, 'allowed', 'b.sock'));
    expect(() => requestedSocketPath(policy, join(dir, 'elsewhere', 'c.sock'))).toThrow(AccessDeniedError);
    expect(() => requestedSocketPath(policy, join(dir, 'nbd', 'link', 'd.sock'))).toThrow(AccessDeniedError);
    expect(() => requestedSocketPath(policy, `${join(dir, 'nbd')}/e\0.sock`)).toThrow(InvalidRequestError);
  });

  it('names exports as file names can hold them', () => {
    expect(exportNameProblem('mpatha')).toBeUndefined();
    expect(exportNameProblem('disk-1.2_x:y')).toBeUndefined();
    for (const bad of ['', '.hidden', 'a/b', 'x'.repeat(65), 'sp ace']) expect(exportNameProblem(bad)).toMatch(/^invalid export name/);
  });
});
