/**
 * Writes man/ (mpiscsi.1, mpiscsiadm.8, mpiscsid.8) and completion/ (bash, one file per command) from the
 * programs' own definitions: `npm run gen:docs` (node dist/scripts/gen-docs.js [--out DIR], default the
 * checkout). The files are checked in; test/docs/docs-drift.test.ts regenerates them into a temporary directory
 * and fails when they differ, so an option, mode, operation or key added to a parser reaches both.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProgram as mpiscsiProgram } from '../src/cli/mpiscsi.js';
import { buildProgram as admProgram } from '../src/cli/mpiscsiadm.js';
import { buildProgram as daemonProgram } from '../src/daemon/mpiscsid.js';
import { DISCOVERY_TYPES, modeDef, MODE_NAMES, PRINT_LEVELS, STARTUP_SELECTORS } from '../src/cli/adm/modes.js';
import { settableKeys } from '../src/cli/serve.js';
import { IDENTITY_KEYS, isUpdatableKey, SCHEMAS } from '../src/db/record-ops.js';
import { BUILTIN_IFACES } from '../src/db/node-record.js';
import { DAEMON_SETTINGS, MULTIPATH_PREFIX, MULTIPATH_SETTINGS } from '../src/settings/index.js';
import { commandCompletion, flatCompletion, keyEquals, sq, words, type ValueRule } from './docs/completion.js';
import { mpiscsiadmPage, mpiscsidPage, mpiscsiPage } from './docs/man-pages.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** From dist/scripts/ (built) or scripts/ (vitest runs the source): the checkout is where package.json is. */
const checkout = (): string => {
  for (const dir of [join(dirname(fileURLToPath(import.meta.url)), '..'), root]) {
    try {
      readFileSync(join(dir, 'package.json'));
      return dir;
    } catch {}
  }
  throw new Error('gen-docs: no package.json above the script');
};

/** `case $var in a|b) words;; esac` over groups of values sharing one word list; `fallback` when none matches. */
function caseOf(variable: string, groups: Array<[string[], readonly string[]]>, fallback: readonly string[]): ValueRule {
  const arms = groups.map(([values, list]) => `${values.join('|')}) ${words(list)} ;;`);
  return `case $${variable} in ${arms.join(' ')} *) ${words(fallback)} ;; esac`;
}

/** Groups keys by identical value: [[keys...], value]. */
function grouped<T>(entries: Array<[string, T]>, same: (a: T, b: T) => boolean): Array<[string[], T]> {
  const out: Array<[string[], T]> = [];
  for (const [k, v] of entries) {
    const g = out.find(([, w]) => same(v, w));
    if (g) g[0].push(k);
    else out.push([[k], v]);
  }
  return out;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.join(' ') === b.join(' ');

function admCompletion(): string {
  const opModes = MODE_NAMES.filter((m) => modeDef(m).ops.length > 0).map((m): [string, readonly string[]] => [m, modeDef(m).ops]);
  const allOps = [...new Set(opModes.flatMap(([, ops]) => ops))];
  const updatable = (kind: 'node' | 'iface' | 'discovery') =>
    SCHEMAS[kind].keys.filter((k) => isUpdatableKey(IDENTITY_KEYS[kind], k.key)).map((k) => k.key);
  const keyModes = MODE_NAMES.flatMap((m): Array<[string, readonly string[]]> => {
    const kind = modeDef(m).records;
    return kind ? [[m, updatable(kind)]] : [];
  });
  // -v after -n KEY: the key's values when its type has a fixed set (Yes/No, node.startup, digests...).
  const valued = new Map<string, readonly string[]>();
  for (const kind of ['node', 'iface', 'discovery'] as const)
    for (const k of SCHEMAS[kind].keys) if (k.type.options && !valued.has(k.key)) valued.set(k.key, k.type.options);
  const valueArms = grouped([...valued], sameList).map(([keys, list]) => `${keys.map(sq).join('|')}) ${words(list)} ;;`);
  return flatCompletion(
    'mpiscsiadm',
    admProgram(),
    {
      '--op': caseOf('mode', grouped(opModes, sameList), allOps),
      '--name': caseOf('mode', grouped(keyModes, sameList), [...new Set(keyModes.flatMap(([, k]) => k))]),
      '--value': `case $key in ${valueArms.join(' ')} esac`,
      '--type': words(DISCOVERY_TYPES.supported),
      '--loginall': words(STARTUP_SELECTORS),
      '--logoutall': words(STARTUP_SELECTORS),
      '--print': words(PRINT_LEVELS.map(String)),
      '--interface': storedIfaces(),
      // A path name as the topology shows it (1:0:0:1), not a file.
      '--path': '',
    },
    ["_mpiscsi_comp_value '-m --mode'", 'local mode=$REPLY', "_mpiscsi_comp_value '-n --name'", 'local key=$REPLY'],
  );
}

/**
 * -I <TAB>: the built-in ifaces and those stored in the database the command line names (--db, else
 * $MPISCSI_DB, else the default), read from its ifaces/ directory at completion time.
 */
function storedIfaces(): ValueRule {
  const builtin = [...BUILTIN_IFACES.keys()];
  const dbDefault = String(admProgram().options.find((o) => o.long === '--db')?.defaultValue ?? '');
  return [
    "_mpiscsi_comp_value '--db'",
    `local ifdir="\${REPLY:-\${MPISCSI_DB:-${dbDefault}}}/ifaces" names=${sq(builtin.join(' '))} n`,
    `if [[ -d $ifdir ]]; then for n in "$ifdir"/*; do [[ -f $n ]] || continue; n=\${n##*/}; case $n in ${builtin.join('|')}) ;; *) names+=" $n" ;; esac; done; fi`,
    '_mpiscsi_comp_words "$names"',
  ].join('; ');
}

function mpiscsiCompletion(): string {
  const keys = settableKeys();
  return commandCompletion('mpiscsi', mpiscsiProgram(), (sub) => ({
    '--set': keyEquals(sub.name() === 'serve' ? [...keys.record, ...keys.multipath] : keys.record),
  }));
}

function daemonCompletion(): string {
  const keys = [...DAEMON_SETTINGS.keys(), ...[...MULTIPATH_SETTINGS.keys()].map((k) => `${MULTIPATH_PREFIX}${k}`)];
  return flatCompletion('mpiscsid', daemonProgram(), { '--set': keyEquals(keys) });
}

/** Every generated file, by its path in the checkout. */
export function renderDocs(): Map<string, string> {
  const { version } = JSON.parse(readFileSync(join(checkout(), 'package.json'), 'utf8')) as { version: string };
  return new Map([
    ['man/mpiscsi.1', mpiscsiPage(version)],
    ['man/mpiscsiadm.8', mpiscsiadmPage(version)],
    ['man/mpiscsid.8', mpiscsidPage(version)],
    ['completion/mpiscsi', mpiscsiCompletion()],
    ['completion/mpiscsiadm', admCompletion()],
    ['completion/mpiscsid', daemonCompletion()],
  ]);
}

export function writeDocs(outDir: string): string[] {
  const written: string[] = [];
  for (const [path, content] of renderDocs()) {
    const file = join(outDir, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    written.push(file);
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const at = process.argv.indexOf('--out');
  const out = at >= 0 ? process.argv[at + 1] : checkout();
  if (!out) throw new Error('gen-docs: --out needs a directory');
  for (const f of writeDocs(out)) process.stdout.write(`${f}\n`);
}
