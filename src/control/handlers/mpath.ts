/**
 * The mpath.* endpoints: multipath devices as MpathDeviceMsg (paths by group, counters, the `multipath -ll`
 * topology), and the operator's commands on them: fail and reinstate a path, switch group, set the policy.
 */
import { formatTopology } from '../../multipath/topology.js';
import { multipathSettings } from '../../multipath/config.js';
import type { MultipathDevice, PathManager } from '../../multipath/index.js';
import { InvalidRequestError, NotFoundError } from '../../services/errors.js';
import type { ControlApi, MpathDeviceMsg } from '../api.js';

export function deviceMsg(d: MultipathDevice): MpathDeviceMsg {
  const st = d.status();
  const id = st.identity;
  return {
    name: st.name,
    wwid: st.wwid,
    vendor: id?.vendor ?? '',
    product: id?.product ?? '',
    sizeBytes: 0,
    gate: st.gate,
    policy: st.policy,
    activeGroup: st.activeGroup + 1,
    held: st.held,
    paths: st.groups.flatMap((g) =>
      g.paths.map((p) => ({
        name: p.name,
        hctl: p.hctl,
        lun: p.lun,
        prio: p.prio,
        group: g.index + 1,
        state: p.state,
        reason: p.reason,
        detail: p.detail ?? '',
        sessionState: p.session.state,
        inFlight: p.inFlight,
        issued: p.stats.issued,
        completed: p.stats.completed,
        reissued: p.stats.reissued,
      })),
    ),
    topology: formatTopology(st),
  };
}

/** The device a request names (by name or WWID), or "not found". */
export function namedDevice(manager: PathManager, name: string | undefined): MultipathDevice {
  const d = name ? manager.device(name) : undefined;
  if (!d) throw new NotFoundError(`multipath device ${name ?? ''} not found`);
  return d;
}

export type MpathHandlers = Pick<
  ControlApi,
  'mpathList' | 'mpathShow' | 'mpathFailPath' | 'mpathReinstatePath' | 'mpathSwitchGroup' | 'mpathSetPolicy'
>;

/** `onPathDown` is told (in the request's context) before fail_path takes a path down on purpose. */
export function mpathHandlers(manager: PathManager, onPathDown?: (device: string, path: string) => void): MpathHandlers {
  const device = (name: string | undefined) => namedDevice(manager, name);
  const reply = (d: MultipathDevice) => ({ devices: [deviceMsg(d)] });
  const pathOf = (d: MultipathDevice, path: string): void => {
    if (!d.pathNames.includes(path)) throw new NotFoundError(`path ${path} is not a path of ${d.name}`);
  };
  return {
    mpathList: async (req) => ({ devices: (req.device ? [device(req.device)] : manager.devices).map(deviceMsg) }),
    mpathShow: async (req) => reply(device(req.device)),
    mpathFailPath: async (req) => {
      const d = device(req.device);
      pathOf(d, req.path);
      onPathDown?.(d.name, req.path);
      d.failPath(req.path);
      return reply(d);
    },
    mpathReinstatePath: async (req) => {
      const d = device(req.device);
      pathOf(d, req.path);
      d.reinstatePath(req.path);
      return reply(d);
    },
    mpathSwitchGroup: async (req) => {
      const d = device(req.device);
      if (!req.group || !d.switchGroup(req.group - 1)) throw new InvalidRequestError(`${d.name} has no usable path group ${req.group}`);
      return reply(d);
    },
    mpathSetPolicy: async (req) => {
      const d = device(req.device);
      try {
        d.configure(multipathSettings(req.settings ?? {}));
      } catch (err) {
        throw new InvalidRequestError((err as Error).message, { cause: err });
      }
      return reply(d);
    },
  };
}
