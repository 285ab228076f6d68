/**
 * mpiscsi's own modes beside iscsiadm's (they are multipathd's and qemu-nbd's jobs in the stack we
 * replace): `-m mpath` lists multipath devices like `multipath -ll` and runs fail_path / reinstate_path /
 * switch_group / set_policy; `-m export` lists, starts (`-o new`) and stops (`-o delete`) NBD exports.
 * Both go to mpiscsid over NATS.
 */
import type { ResponseOf } from '../../control/client.js';
import { ExitCode } from '../../control/exit-codes.js';
import { AdmError, out, printJson, usage, type AdmOptions } from './common.js';
import { withDaemon } from './daemon.js';
import { invalidOp } from './modes.js';

export async function runMpath(opts: AdmOptions): Promise<void> {
  const op = opts.op[0] ?? 'show';
  await withDaemon(opts, async (c) => {
    let devices: ResponseOf<'mpathList'>['devices'];
    switch (op) {
      case 'show':
        devices = (await c.call('mpathList', { device: opts.device ?? '' })).devices;
        break;
      case 'fail_path':
      case 'reinstate_path': {
        if (!opts.device || !opts.path) throw usage(`-o ${op} needs --device NAME and --path PATH`);
        const method = op === 'fail_path' ? 'mpathFailPath' : 'mpathReinstatePath';
        devices = (await c.call(method, { device: opts.device, path: opts.path })).devices;
        break;
      }
      case 'switch_group':
        if (!opts.device || opts.group === undefined) throw usage('-o switch_group needs --device NAME and --group N');
        devices = (await c.call('mpathSwitchGroup', { device: opts.device, group: opts.group })).devices;
        break;
      case 'set_policy':
        if (!opts.device || opts.name === undefined || opts.value === undefined)
          throw usage('-o set_policy needs --device NAME, -n SETTING and -v VALUE');
        devices = (await c.call('mpathSetPolicy', { device: opts.device, settings: { [opts.name]: opts.value } })).devices;
        break;
      default:
        throw invalidOp('mpath', op);
    }
    if (devices.length === 0) throw new AdmError(ExitCode.NO_OBJS_FOUND, 'No multipath devices.');
    if (opts.json) printJson(devices);
    else for (const d of devices) for (const l of d.topology) out(l);
  });
}

export async function runExport(opts: AdmOptions): Promise<void> {
  const op = opts.op[0] ?? 'show';
  await withDaemon(opts, async (c) => {
    let exports: ResponseOf<'exportList'>['exports'];
    switch (op) {
      case 'show':
        exports = (await c.call('exportList', {})).exports;
        break;
      case 'new': {
        if (!opts.device) throw usage('-o new needs --device NAME (a multipath device, e.g. mpatha)');
        const name = opts.exportName ?? opts.device;
        const all = (await c.call('exportStart', { device: opts.device, name, socket: opts.socket ?? '', tcp: opts.tcp ?? '' })).exports;
        exports = all.filter((e) => e.name === name);
        break;
      }
      case 'delete':
        if (!opts.exportName) throw usage('-o delete needs --export-name NAME');
        await c.call('exportStop', { name: opts.exportName });
        return;
      default:
        throw invalidOp('export', op);
    }
    if (exports.length === 0) throw new AdmError(ExitCode.NO_OBJS_FOUND, 'No exports.');
    if (opts.json) printJson(exports);
    else for (const e of exports) out(`${e.name} ${e.device} ${e.uris.join(' ')}`);
  });
}
