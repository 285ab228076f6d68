/**
 * The three man pages, mpiscsi(1), mpiscsiadm(8) and mpiscsid(8) (section 8 as iscsiadm's and iscsid's), in
 * man(7) roff. What can drift is generated from what the programs run on: options and subcommands from each
 * buildProgram() (commander), mpiscsiadm's modes and operations from src/cli/adm/modes.ts, record keys from
 * the settings tables through the record schemas (only the keys `-o update` accepts), mpiscsid.conf keys from
 * src/settings/daemon.ts and multipath.ts, exit codes from src/control/exit-code-table.ts. Prose is here.
 * This file is long because it holds three pages' prose; each page is one function.
 */
import type { Command, Option } from 'commander';
import { buildProgram as mpiscsiProgram } from '../../src/cli/mpiscsi.js';
import { buildProgram as admProgram } from '../../src/cli/mpiscsiadm.js';
import { buildProgram as daemonProgram } from '../../src/daemon/mpiscsid.js';
import { DISCOVERY_TYPES, modeDef, MODE_NAMES, orList, STARTUP_SELECTORS, type ModeName } from '../../src/cli/adm/modes.js';
import { IDENTITY_KEYS, isUpdatableKey, SCHEMAS } from '../../src/db/record-ops.js';
import { DAEMON_SETTINGS, MULTIPATH_PREFIX, MULTIPATH_SETTINGS, type Setting } from '../../src/settings/index.js';
import { ExitCode, exitCodeText } from '../../src/control/exit-code-table.js';
import { SCSI_FAILURE_EXIT } from '../../src/cli/tools.js';
import { argumentItems, argumentWords, bold, capital, esc, header, italic, item, optionItem, optionItems, text } from './roff.js';

/** Defaults computed at start, which the settings table leaves empty. */
const COMPUTED_DEFAULTS: Readonly<Record<string, string>> = {
  host_id: 'the host name with dots as underscores',
  initiator_name: 'the name in /etc/iscsi/initiatorname.iscsi, else one made from the host name',
};

/** A setting's rule, default and whether it applies live, as one sentence. */
function settingText(s: Setting, live: boolean): string {
  const parts = [capital(s.type.rule)];
  parts.push(s.default !== '' ? `default ${s.default}` : `default ${COMPUTED_DEFAULTS[s.key] ?? 'empty'}`);
  if (live && s.live) parts.push('applies to running sessions at once');
  if (s.masked) parts.push('shown as ******** unless -S');
  return `${parts.join('; ')}.`;
}

function seeAlso(...pages: string[]): string[] {
  return ['.SH SEE ALSO', pages.map((p) => `.BR ${p.replace(/\((\d)\)$/, ' ($1)')}`).join(',\n')];
}

/** `-m MODE` synopsis lines of mpiscsiadm: one per mode; a mode added to modes.ts without one fails the build. */
const ADM_SYNOPSIS: Record<ModeName, string> = {
  discovery: '-m discovery [ -t st -p PORTAL [ -I IFACE ] [ -o new|delete|update|show|nonpersistent ] [ -l ] ]',
  discoverydb: '-m discoverydb -t st -p PORTAL [ -o new|delete|update|show ] [ -n KEY -v VALUE ] [ --discover ]',
  node: '-m node [ -T TARGET ] [ -p PORTAL ] [ -I IFACE ] [ -o new|delete|update|show ] [ -n KEY -v VALUE ] [ -l | -u ] [ -P 1 ]',
  session: '-m session [ -r SID ] [ -P 1|2|3 ] [ -u | -R | -s ]',
  iface: '-m iface [ -I IFACE [ -o new|delete|update|show ] [ -n KEY -v VALUE ] ]',
  fw: '-m fw',
  host: '-m host',
  mpath: '-m mpath [ --device NAME ] [ -o show|fail_path|reinstate_path|switch_group|set_policy ] [ --path PATH ] [ --group N ]',
  export: '-m export [ -o show|new|delete ] [ --device NAME ] [ --export-name NAME ] [ --socket PATH | --tcp HOST:PORT ]',
};

function synopsisLine(prog: string, rest: string): string[] {
  return ['.br', `${bold(prog)} ${esc(rest)}`];
}

export function mpiscsiadmPage(version: string): string {
  const program = admProgram();
  const modeItems = MODE_NAMES.flatMap((m) => {
    const d = modeDef(m);
    const ops = d.ops.length === 0 ? 'No operations.' : `Operations (-o): ${orList(d.ops)}.`;
    const daemon =
      d.daemon === 'always'
        ? 'Asks mpiscsid over NATS.'
        : d.daemon === 'for sessions'
          ? 'Works on the database without the daemon; logging in and out asks mpiscsid over NATS.'
          : 'Works on the database without the daemon.';
    return item(m, `${capital(d.summary)}.`, ops, d.unsupported ? '' : daemon);
  });
  const keyItems = (['node', 'iface', 'discovery'] as const).flatMap((kind) => {
    const ro = IDENTITY_KEYS[kind];
    const keys = SCHEMAS[kind].keys.filter((k) => isUpdatableKey(ro, k.key));
    const modes = MODE_NAMES.filter((m) => modeDef(m).records === kind).map((m) => `-m ${m}`);
    return [
      `.SS ${capital(kind)} records (${esc(modes.join(', '))})`,
      ...text(
        `Keys -o update -n KEY -v VALUE sets in ${kind} records, in the order record files list them. ` +
          `${[...ro].join(', ')} name the record and are set by ${kind === 'node' ? '-T, -p and -I' : kind === 'iface' ? '-I' : '-t and -p'} instead.`,
      ),
      ...keys.flatMap((k) => item(k.key, settingText(k, kind === 'node'))),
    ];
  });
  const codes = Object.entries(ExitCode).flatMap(([name, code]) => ['.TP', bold(String(code)), ...text(`${name}: ${exitCodeText(code)}.`)]);
  return [
    ...header('mpiscsiadm', 8, version, 'System Administration', 'open-iscsi iscsiadm-compatible administration of mpiscsi'),
    '.SH SYNOPSIS',
    ...MODE_NAMES.flatMap((m) => synopsisLine('mpiscsiadm', ADM_SYNOPSIS[m])),
    '.br',
    `${bold('mpiscsiadm')} ${esc('--import DIR')}`,
    '.br',
    `${bold('mpiscsiadm')} ${esc('-V | -h')}`,
    '.SH DESCRIPTION',
    ...text(
      "mpiscsiadm takes iscsiadm's options and prints iscsiadm's lines, with iscsiadm's exit codes, on mpiscsi's node database (the open-iscsi layout, or a NATS key-value bucket). " +
        'Scripts written for iscsiadm run against it unchanged.',
    ),
    '.PP',
    ...text(
      'The record modes (discovery, discoverydb, node, iface) read and write the database directly and start fast; logging in and out, ' +
        'session listings and the mpath and export modes ask the daemon, mpiscsid(8), over NATS. When NATS or the daemon cannot be reached mpiscsiadm says which, ' +
        `with the URL it tried, and exits ${ExitCode.ISCSID_NOTCONN} (ISCSID_NOTCONN).`,
    ),
    '.PP',
    ...text('Secrets (node.session.auth.password and the other CHAP passwords) are listed as ******** unless -S is given.'),
    '.SH MODES',
    ...modeItems,
    '.SH OPTIONS',
    ...optionItems(program),
    '.SH RECORD KEYS',
    ...text(
      `Values are checked when they are set, with the rule the login applies: a value refused names the key, the value and the rule, and exits ${ExitCode.INVAL} (INVAL). ` +
        `Discovery types other than ${orList(DISCOVERY_TYPES.supported)} (${DISCOVERY_TYPES.unsupported.join(', ')}) exit ${ExitCode.OP_NOT_SUPP}. ` +
        `-L and -U select nodes by node.startup: ${orList(STARTUP_SELECTORS)}.`,
    ),
    ...keyItems,
    '.SH EXIT STATUS',
    ...text("open-iscsi's codes (include/iscsi_err.h) and words:"),
    ...codes,
    '.SH FILES',
    ...item(
      '/var/lib/mpiscsi',
      'The node database (--db, MPISCSI_DB): nodes/, send_targets/, ifaces/ and static/ as open-iscsi lays them out; record files are mode 0600.',
    ),
    ...item('/etc/iscsi/initiatorname.iscsi', "The initiator name used for ifaces that set none (the daemon's, read at login)."),
    '.SH ENVIRONMENT',
    ...environmentItems(program, [
      ['MPISCSI_NATS_PASSWORD', 'The NATS password (with --nats-user), instead of --nats-password-file.'],
      ['MPISCSI_NATS_TOKEN', 'The NATS token, instead of --nats-token-file.'],
    ]),
    '.SH EXAMPLES',
    ...exampleItems([
      ['mpiscsiadm -m discovery -t st -p 192.0.2.10', 'Discover the targets of a portal and store a node record for each.'],
      ['mpiscsiadm -m node -T iqn.2001-04.com.example:disk1 -l', 'Log in to a target (mpiscsid does it and keeps the session).'],
      [
        'mpiscsiadm -m node -T iqn.2001-04.com.example:disk1 -o update -n node.session.timeo.replacement_timeout -v 30',
        'Change a timer; a session that runs takes it at once.',
      ],
      ['mpiscsiadm -m session -P 3', 'Sessions with their connections and LUNs.'],
      ['mpiscsiadm -m mpath', 'Multipath devices and path states, as multipath -ll prints them.'],
    ]),
    ...seeAlso('mpiscsid(8)', 'mpiscsi(1)', 'iscsiadm(8)', 'multipath(8)'),
  ]
    .join('\n')
    .concat('\n');
}

function exampleItems(examples: Array<[string, string]>): string[] {
  return examples.flatMap(([cmd, what]) => ['.TP', bold(cmd), ...text(what)]);
}

/** ENVIRONMENT: every variable an option of `program` reads (commander's .env()), then `others`. */
function environmentItems(program: Command, others: Array<[string, string]>): string[] {
  const fromOptions = program.options.filter((o) => o.envVar).map((o): [string, string] => [o.envVar!, `As ${o.long}: ${o.description}.`]);
  return [...fromOptions, ...others].flatMap(([name, what]) => item(name, capital(what)));
}

export function mpiscsiPage(version: string): string {
  const program = mpiscsiProgram();
  const commands = program
    .createHelp()
    .visibleCommands(program)
    .filter((c) => c.name() !== 'help');
  // An option several commands define alike (same flags and words: -q, -v, --set of the session tools) is
  // described once under COMMON OPTIONS with the commands that take it, not again under each.
  const same = (o: Option) => `${o.flags}\n${o.description}`;
  const takers = new Map<string, { option: Option; commands: string[] }>();
  for (const c of commands)
    for (const o of c.createHelp().visibleOptions(c)) {
      const t = takers.get(same(o)) ?? { option: o, commands: [] };
      t.commands.push(c.name());
      takers.set(same(o), t);
    }
  const isShared = (o: Option) => (takers.get(same(o))?.commands.length ?? 0) > 1;
  const common = [...takers.values()]
    .filter((t) => t.commands.length > 1)
    .flatMap((t) => optionItem(t.option, t.commands.length === commands.length ? '' : ` (${t.commands.join(', ')})`));
  const synopsis = commands.flatMap((c) => [
    '.br',
    `${bold('mpiscsi')} ${bold(c.name())} [${italic('options')}] ${argumentWords(c)}`.trimEnd(),
  ]);
  const sections = commands.flatMap((c) => [
    `.SS ${esc(`mpiscsi ${c.name()}`)}`,
    ...text(`${capital(c.description())}.`),
    ...argumentItems(c),
    ...optionItems(c, (o) => !isShared(o)),
  ]);
  return [
    ...header('mpiscsi', 1, version, 'User Commands', 'iSCSI tools on iscsi:// URLs: ls, inq, readcap, dd, perf, serve over NBD'),
    '.SH SYNOPSIS',
    ...synopsis,
    '.br',
    `${bold('mpiscsi')} ${esc('-V | -h')}`,
    '.SH DESCRIPTION',
    ...text(
      "mpiscsi's commands are the counterparts of libiscsi's iscsi-ls, iscsi-inq, iscsi-readcapacity16, iscsi-dd and iscsi-perf, and of qemu-nbd: " +
        'each logs in to a target on its own (no daemon), runs, and logs out. Results go to standard output in the same field names and decodings as ' +
        "libiscsi's tools (--json for the structured form); log lines, progress and -v debug lines go to standard error. " +
        'The session rides through a target restart: commands are held while it logs in again, and re-issued once the LU is known to be the same.',
    ),
    '.SS URLs',
    ...text(
      'iscsi://[USER[%PASSWORD]@]HOST[:PORT]/TARGET/LUN, as libiscsi takes them; the LUN is required (ls takes a portal URL, iscsi://HOST[:PORT]). ' +
        'An IPv6 host is written in brackets. The CHAP password may be left out of the URL and given in MPISCSI_CHAP_PASSWORD. ' +
        'serve takes one URL per path, all naming the same LUN, with ?iface=SOURCE to bind a path to a source address.',
    ),
    '.SH COMMANDS',
    ...text('Each command also takes the COMMON OPTIONS below that name it.'),
    ...sections,
    '.SH COMMON OPTIONS',
    ...text('Options several commands take with one meaning, each with the commands that take it (all of them when none are named).'),
    ...common,
    '.SH EXIT STATUS',
    ...item('0', 'Success.'),
    ...item(
      String(ExitCode.INVAL),
      'A usage error: an unknown option, a bad value, a URL without a LUN, --quiet with --verbose (INVAL, as iscsiadm).',
    ),
    ...item(
      String(SCSI_FAILURE_EXIT),
      "A SCSI command failed (CHECK CONDITION: its sense key and ASC/ASCQ named) or the LUN has no logical unit, as libiscsi's tools exit.",
    ),
    ...text(
      `Other failures exit with iscsiadm's codes (mpiscsiadm(8)): ${ExitCode.TRANS} a connection failure or a peer that is not an iSCSI target, ` +
        `${ExitCode.LOGIN} a login refused, ${ExitCode.LOGIN_AUTH_FAILED} a CHAP failure.`,
    ),
    '.SH ENVIRONMENT',
    ...item(
      'MPISCSI_CHAP_USERNAME, MPISCSI_CHAP_PASSWORD',
      'CHAP user and secret when the URL has none (LIBISCSI_CHAP_USERNAME and LIBISCSI_CHAP_PASSWORD also read).',
    ),
    ...item('MPISCSI_CHAP_TARGET_USERNAME, MPISCSI_CHAP_TARGET_PASSWORD', "Mutual CHAP: the target's name and secret."),
    ...item(
      'OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT',
      'serve exports traces and metrics over OTLP when set, as mpiscsid(8) does.',
    ),
    '.SH EXAMPLES',
    ...exampleItems([
      ['mpiscsi ls -s iscsi://192.0.2.10', 'Targets of a portal with their LUNs.'],
      ['mpiscsi inq -e 1 -c 0x83 iscsi://192.0.2.10/iqn.2001-04.com.example:disk1/1', 'The Device Identification VPD page of LUN 1.'],
      [
        'mpiscsi dd -s iscsi://192.0.2.10/iqn.2001-04.com.example:disk1/1 -d disk.img --progress',
        'Copy a LUN to a file with progress on any stderr.',
      ],
      [
        'uri=$(mpiscsi serve --fork --socket /run/disk.sock "$path1" "$path2" | head -1)',
        'Serve a multipath device of two paths (each an iscsi:// URL of the same LUN) over NBD in the background; the URI is the first line on stdout.',
      ],
    ]),
    ...seeAlso('mpiscsiadm(8)', 'mpiscsid(8)', 'iscsi-inq(1)', 'iscsi-ls(1)', 'nbdcopy(1)', 'qemu-nbd(8)'),
  ]
    .join('\n')
    .concat('\n');
}

export function mpiscsidPage(version: string): string {
  const program = daemonProgram();
  const daemonKeys = [...DAEMON_SETTINGS.values()].flatMap((s) => item(s.key, settingText(s, false)));
  const multipathKeys = [...MULTIPATH_SETTINGS.values()].flatMap((s) => item(`${MULTIPATH_PREFIX}${s.key}`, settingText(s, false)));
  return [
    ...header(
      'mpiscsid',
      8,
      version,
      'System Administration',
      'mpiscsi daemon: iSCSI sessions, multipath devices, NBD exports, NATS control',
    ),
    '.SH SYNOPSIS',
    `${bold('mpiscsid')} [${italic('options')}]`,
    '.SH DESCRIPTION',
    ...text(
      'mpiscsid does the work of iscsid, multipathd and qemu-nbd in one process: it keeps the iSCSI sessions of the node database, groups the paths to each LU into a multipath device, ' +
        'serves devices over NBD, and answers mpiscsiadm(8) over NATS on the subjects mpiscsi.HOST_ID.*. ' +
        'At start it checks its database and state directories, logs in the records whose node.startup is automatic, and logs "ready". ' +
        'NATS being down never stops I/O: it logs "waiting for NATS at URL" and connects when NATS answers.',
    ),
    '.PP',
    ...text(
      'Log lines go to standard error, one per event; under systemd (JOURNAL_STREAM) with the journal priority prefix and no timestamp. ' +
        '-d N adds debug lines up to level N.',
    ),
    '.SH OPTIONS',
    ...optionItems(program),
    '.SH CONFIGURATION FILE',
    ...text(
      'The file given with -c holds "key = value" lines in the form of iscsid.conf (# starts a comment). Options override the file; --set KEY=VALUE sets any key. ' +
        'An unknown key or a bad value stops the start with the file, line, key and rule named.',
    ),
    ...daemonKeys,
    ...text(`${MULTIPATH_PREFIX}KEY lines set multipath.conf defaults for every device:`),
    ...multipathKeys,
    '.SH SIGNALS',
    ...item('SIGHUP', 'Reload the configuration file and the node records; timers apply to running sessions at once.'),
    ...item(
      'SIGTERM, SIGINT',
      'Answer NBD clients with ESHUTDOWN, log every session out, exit 0. During the start, abandon the logins in progress first.',
    ),
    '.SH EXIT STATUS',
    ...item('0', 'Stopped on a signal.'),
    ...item(String(ExitCode.GENERIC), 'An unexpected failure at start or shutdown.'),
    ...item(
      String(ExitCode.IDBM),
      'The node database is not usable (--db): missing and not creatable, not a directory, not writable, or a record that cannot be read.',
    ),
    ...item(String(ExitCode.INVAL), 'A bad option or configuration value.'),
    ...item(String(ExitCode.ACCESS), 'The state directory is not usable (--state-dir).'),
    '.SH FILES',
    ...item('/var/lib/mpiscsi', 'The node database (db).'),
    ...item('/run/mpiscsi', 'The state directory (state_dir): export sockets in nbd/.'),
    ...item('/etc/iscsi/initiatorname.iscsi', 'The initiator name for ifaces that set none.'),
    ...item('/etc/default/mpiscsid', "The systemd unit's environment file: MPISCSID_ARGS holds extra options."),
    '.SH ENVIRONMENT',
    ...environmentItems(program, [
      ['MPISCSI_NATS_PASSWORD', 'The NATS password (with --nats-user), instead of --nats-password-file.'],
      ['MPISCSI_NATS_TOKEN', 'The NATS token, instead of --nats-token-file.'],
      [
        'OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT',
        'OpenTelemetry export of traces and metrics (otlp over http/protobuf, console or none); other OTEL_EXPORTER_OTLP_PROTOCOL values are refused at start.',
      ],
      ['NO_COLOR', 'No colour in log levels, also on a terminal.'],
    ]),
    ...seeAlso('mpiscsiadm(8)', 'mpiscsi(1)', 'iscsid(8)', 'multipathd(8)', 'nats-server(8)'),
  ]
    .join('\n')
    .concat('\n');
}
