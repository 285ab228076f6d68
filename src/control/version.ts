/**
 * The package's version for `--version` of mpiscsi, mpiscsiadm and mpiscsid ("PROG version X", as
 * `iscsiadm --version` prints it). Read from the package.json above this file, without loading anything
 * else: `--version` must stay fast.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageVersionOf(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'mpiscsi' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here: look higher
    }
    if (dirname(dir) === dir) return '0.0.0';
  }
}

/** The line `--version` prints. */
export const versionLine = (prog: string): string => `${prog} version ${packageVersionOf()}\n`;
