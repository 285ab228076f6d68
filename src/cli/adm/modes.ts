/**
 * mpiscsiadm's modes, the operations `-o` takes in each, and the fixed values of `-t`, `-L`/`-U` and `-P`, as
 * data (iscsiadm(8) "-m, --mode", "-o, --op"; reference/open-iscsi.md "iscsiadm surface"). The parser reads it
 * (mpiscsiadm.ts's `-m` choices, each mode's op check) and so do the man page and completion generator
 * (scripts/gen-docs.ts), so what `-m node -o <TAB>` offers is what `-m node -o` accepts. No imports beyond
 * common.ts: the offline record modes load it on their fast path (issue 17, start time).
 */
import { usage, type AdmError } from './common.js';

/** Which record schema `-n KEY` names in a mode (src/db/record-ops.ts SCHEMAS). */
export type RecordKind = 'node' | 'iface' | 'discovery';

export interface ModeDef {
  /** One line for the man page: what the mode is for. */
  readonly summary: string;
  /** The operations `-o` takes, in the order the error message lists them; empty: the mode has none. */
  readonly ops: readonly string[];
  /** The record kind whose keys `-o update -n KEY` sets, if any. */
  readonly records?: RecordKind;
  /** Goes to mpiscsid over NATS (always, or for login/logout/rescan/stats only). */
  readonly daemon: 'always' | 'for sessions' | 'never';
  /** Accepted for iscsiadm's sake, refused with OP_NOT_SUPP (27): offload hardware we do not drive. */
  readonly unsupported?: boolean;
}

const DISCOVERY_OPS = ['new', 'delete', 'update', 'show', 'nonpersistent'] as const;

export const MODES = {
  discovery: {
    summary:
      'SendTargets discovery of a portal (-t st -p PORTAL): the node records found are stored (unless -o nonpersistent) and listed; without -t and -p, the discovery records',
    ops: DISCOVERY_OPS,
    records: 'discovery',
    daemon: 'for sessions',
  },
  discoverydb: {
    summary: 'discovery records themselves: -o new/update/delete/show a record, --discover to run it',
    ops: DISCOVERY_OPS,
    records: 'discovery',
    daemon: 'for sessions',
  },
  node: {
    summary:
      'node records (one per target, portal and iface): list, show (-P 1 tree), -o new/update/delete, -l/-u log in and out, -L/-U by node.startup',
    ops: ['new', 'delete', 'update', 'show'],
    records: 'node',
    daemon: 'for sessions',
  },
  session: {
    summary: "mpiscsid's sessions: list (-P 1..3 for detail), -r SID one session, -u log out, -R rescan, -s statistics",
    ops: ['show'],
    daemon: 'always',
  },
  iface: {
    summary: 'iface records (default and iser built in): list, show, -o new/update/delete; -n iface.KEY -v VALUE',
    ops: ['new', 'delete', 'update', 'show'],
    records: 'iface',
    daemon: 'never',
  },
  fw: { summary: 'firmware (iBFT) boot records: not supported (exit 27)', ops: [], daemon: 'never', unsupported: true },
  host: { summary: 'iSCSI HBA hosts: not supported (exit 27)', ops: [], daemon: 'never', unsupported: true },
  mpath: {
    summary:
      'multipath devices as multipath -ll shows them; -o fail_path/reinstate_path --device D --path P, switch_group --group N, set_policy',
    ops: ['show', 'fail_path', 'reinstate_path', 'switch_group', 'set_policy'],
    daemon: 'always',
  },
  export: {
    summary: 'NBD exports of multipath devices: list, -o new --device D (--socket PATH | --tcp HOST:PORT), -o delete --export-name N',
    ops: ['show', 'new', 'delete'],
    daemon: 'always',
  },
} as const satisfies Record<string, ModeDef>;

export type ModeName = keyof typeof MODES;
export const MODE_NAMES = Object.keys(MODES) as ModeName[];
/** A mode's definition with every field of ModeDef (MODES keeps each mode's literal types). */
export const modeDef = (m: ModeName): ModeDef => MODES[m];

/** `-t`: the discovery types iscsiadm knows; only SendTargets is done, the others refused with OP_NOT_SUPP (27). */
export const DISCOVERY_TYPES = {
  supported: ['st', 'sendtargets'],
  unsupported: ['isns', 'fw', 'slp'],
} as const;

/** `-L` and `-U`: every node, or those whose node.startup is this value. */
export const STARTUP_SELECTORS = ['all', 'manual', 'automatic', 'onboot'] as const;

/** `-P`: print levels (0 flat, 1 tree, 2 and 3 more session detail). */
export const PRINT_LEVELS = [0, 1, 2, 3] as const;

/** "a, b, c or d". */
export function orList(words: readonly string[]): string {
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words.at(-1)}`;
}

/** iscsiadm's refusal of an operation the mode does not have, listing the ones it does. */
export function invalidOp(mode: ModeName, op: string): AdmError {
  return usage(`Invalid op "${op}" for ${mode} mode: use ${orList(MODES[mode].ops)}`);
}

/** Throws invalidOp for the first of `ops` that `mode` does not take. */
export function checkOps(mode: ModeName, ops: readonly string[]): void {
  const known: readonly string[] = MODES[mode].ops;
  for (const op of ops) if (!known.includes(op)) throw invalidOp(mode, op);
}
