/** Shared pieces of `mpiscsiadm`: options, errors carrying iscsiadm exit codes, portal syntax, output. */
import type { Rec, Schema } from '../../db/record.js';
import { showRecord } from '../../db/record.js';
import { checkRecordValue, recordFields, RecordValueError } from '../../db/record-ops.js';
import type { NodeKey } from '../../db/node-record.js';
import { ExitCode } from '../../control/exit-code-table.js';
import { ServiceError } from '../../services/errors.js';

export const PROG = 'mpiscsiadm';

/** Parsed command line, iscsiadm's option names. */
export interface AdmOptions {
  db: string;
  mode?: string;
  type?: string;
  portal?: string;
  targetname?: string;
  interface?: string;
  op: string[];
  name?: string;
  value?: string;
  print?: number;
  show?: boolean;
  login?: boolean;
  logout?: boolean;
  loginall?: string;
  logoutall?: string;
  sid?: string;
  rescan?: boolean;
  stats?: boolean;
  discover?: boolean;
  json?: boolean;
  /** Reaching the daemon: NATS servers, host id, credentials (files or environment, never the command line). */
  nats?: string;
  hostId?: string;
  natsUser?: string;
  natsPasswordFile?: string;
  natsTokenFile?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  /** Reply timeout for daemon requests, seconds. */
  timeout?: number;
  /** mpath and export modes (ours). */
  device?: string;
  path?: string;
  group?: number;
  exportName?: string;
  socket?: string;
  tcp?: string;
}

/** How long mpiscsiadm waits for a NATS server to accept its connection (the NATS connect timeout). */
export const NATS_CONNECT_TIMEOUT_MS = 3000;

/** An error whose lines (without the program prefix) go to stderr and whose code is the exit status. */
export class AdmError extends Error {
  readonly lines: string[];
  constructor(
    readonly status: number,
    ...lines: string[]
  ) {
    super(lines.join('; '));
    this.lines = lines;
  }
}

/** A domain service failure as mpiscsiadm reports it: the one table's exit code, the message and iscsiadm's lines. */
export async function admError(err: unknown): Promise<unknown> {
  if (!(err instanceof ServiceError)) return err;
  const { exitCodeFor } = await import('../../control/exit-codes.js');
  return new AdmError(exitCodeFor(err), err.message, ...err.lines);
}

export const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
export const warn = (line: string): void => {
  process.stderr.write(`${PROG}: ${line}\n`);
};

export const noRecords = (): AdmError => new AdmError(ExitCode.NO_OBJS_FOUND, 'No records found');
export const usage = (msg: string): AdmError => new AdmError(ExitCode.INVAL, msg);

export interface PortalSpec {
  address: string;
  port?: number;
  tpgt?: number;
}

/**
 * iscsiadm's portal syntax: `ADDR[:PORT][,TPGT]`, IPv6 as `[ADDR]:PORT` or a bare address (more than one
 * colon means no port).
 */
export function parsePortal(s: string): PortalSpec {
  const bad = () => usage(`invalid portal "${s}": expected <ipaddr>[:<port>][,<tpgt>]`);
  let rest = s;
  let tpgt: number | undefined;
  const comma = rest.lastIndexOf(',');
  if (comma >= 0) {
    const t = rest.slice(comma + 1);
    if (!/^-?\d+$/.test(t)) throw bad();
    tpgt = Number(t);
    rest = rest.slice(0, comma);
  }
  let address: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0) throw bad();
    address = rest.slice(1, end);
    const after = rest.slice(end + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw bad();
      portText = after.slice(1);
    }
  } else if (rest.split(':').length === 2) {
    [address, portText] = rest.split(':') as [string, string];
  } else {
    address = rest;
  }
  if (address === '' || /[\s/,]/.test(address)) throw bad();
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d+$/.test(portText)) throw bad();
    port = Number(portText);
    if (port < 1 || port > 65535) throw bad();
  }
  return { address, port, tpgt };
}

/** `127.0.0.1:3260` / `[::1]:3260`. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The line discovery and `-m node` print: `127.0.0.1:3260,1 IQN`; a record without a portal group tag shows it as iscsiadm 2.1.8 does, unsigned (4294967295). */
export function nodeLine(k: NodeKey): string {
  return `${hostPort(k.address, k.port)},${k.tpgt < 0 ? k.tpgt >>> 0 : k.tpgt} ${k.target}`;
}

export function recordObject(rec: Rec, schema: Schema, showSecrets: boolean): Record<string, string> {
  return Object.fromEntries(recordFields(rec, schema, { showSecrets }).map((f) => [f.key, f.value]));
}

export function printRecord(rec: Rec, schema: Schema, showSecrets: boolean): void {
  process.stdout.write(showRecord(rec, { schema, showSecrets }));
}

export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/**
 * Checks `-n KEY -v VALUE` against a schema: known key, not one of the record's identity keys, a value the
 * key's type accepts. Returns the normalised value.
 */
export function checkParam(schema: Schema, readOnly: ReadonlySet<string>, name: string | undefined, value: string | undefined): string {
  if (name === undefined || value === undefined) throw usage('update requires name and value');
  try {
    return checkRecordValue(schema, readOnly, name, value);
  } catch (err) {
    if (!(err instanceof RecordValueError)) throw err;
    throw new AdmError(ExitCode.INVAL, err.message, 'Could not execute operation on all records: invalid parameter');
  }
}
