/**
 * The real iscsiadm (Debian open-iscsi 2.1.8, installed by scripts/setup.sh) run offline on a node database
 * tree of the test's: in a private mount and network namespace (`unshare -m -n`) with the tree bind-mounted over
 * /etc/iscsi (Debian's DBROOT) and a temporary directory over /run/lock (its lock file), so the machine's own
 * /etc/iscsi and locks are never touched and no iscsid of the machine can be reached. Its iscsid.conf is
 * Debian's shipped values without `iscsid.startup` (iscsiadm would run that command to start iscsid).
 * Use only the modes that read or write records: `-m iface -o update` asks the kernel to load iscsi_tcp.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IscsiadmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Debian 2.1.8's /etc/iscsi/iscsid.conf settings (comments dropped), without iscsid.startup. */
export const ISCSID_CONF = `node.startup = manual
node.leading_login = No
node.session.timeo.replacement_timeout = 120
node.conn[0].timeo.login_timeout = 15
node.conn[0].timeo.logout_timeout = 15
node.conn[0].timeo.noop_out_interval = 5
node.conn[0].timeo.noop_out_timeout = 5
node.session.err_timeo.abort_timeout = 15
node.session.err_timeo.lu_reset_timeout = 30
node.session.err_timeo.tgt_reset_timeout = 30
node.session.err_timeo.host_reset_timeout = 60
node.session.initial_login_retry_max = 8
node.session.cmds_max = 128
node.session.queue_depth = 32
node.session.xmit_thread_priority = -20
node.session.iscsi.InitialR2T = No
node.session.iscsi.ImmediateData = Yes
node.session.iscsi.FirstBurstLength = 262144
node.session.iscsi.MaxBurstLength = 16776192
node.conn[0].iscsi.MaxRecvDataSegmentLength = 262144
node.conn[0].iscsi.MaxXmitDataSegmentLength = 0
discovery.sendtargets.iscsi.MaxRecvDataSegmentLength = 32768
node.session.nr_sessions = 1
node.session.reopen_max = 0
node.session.iscsi.FastAbort = Yes
node.session.scan = auto
`;

const SCRIPT = 'mount --bind "$1" /etc/iscsi && mount --bind "$2" /run/lock && shift 2 && exec iscsiadm "$@"';

/** Runs `iscsiadm ARGS` with `tree` as its /etc/iscsi (its iscsid.conf written there). */
export function iscsiadm(tree: string, args: readonly string[]): Promise<IscsiadmResult> {
  writeFileSync(join(tree, 'iscsid.conf'), ISCSID_CONF);
  const lock = mkdtempSync(join(tmpdir(), 'iscsiadm-lock-'));
  return new Promise((resolve) => {
    execFile('unshare', ['-m', '-n', 'sh', '-c', SCRIPT, 'iscsiadm', tree, lock, ...args], (err, stdout, stderr) => {
      rmSync(lock, { recursive: true, force: true });
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}
