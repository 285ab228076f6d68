/**
 * The path manager: groups paths (sessions x LUN) into multipath devices by the LU's WWID (VPD 0x83, NAA
 * preferred; VPD 0x80 unit serial fallback), as multipathd does, names them mpatha, mpathb... and prints the
 * topology. A path removed because its WWID changed (LUN reuse accidents) is never taken back.
 */
import type { Subscription } from 'rxjs';
import type { Clock } from '../session/clock.js';
import { MultipathDevice, type MultipathEvent, type PathTransport } from './device.js';
import type { MultipathConfig } from './config.js';
import { identifyPath, type PathIdentity } from './identity.js';
import { formatTopology } from './topology.js';

export interface PathManagerOptions {
  /** Settings for every device created (defaults: DEFAULT_MULTIPATH_CONFIG). */
  config?: Partial<MultipathConfig>;
  /** Alias prefix (user_friendly_names). Default 'mpath'. */
  aliasPrefix?: string;
  /** Every device's events, as they happen (e.g. a line per path state change). */
  onEvent?: (e: MultipathEvent) => void;
  /** The clock of every device created (MultipathDeviceOptions.clock). Default systemClock. */
  clock?: Clock;
}

/** a, b, ..., z, aa, ab... as multipath's user_friendly_names. */
export function aliasSuffix(n: number): string {
  let s = '';
  for (let k = n + 1; k > 0; k = Math.floor((k - 1) / 26)) s = String.fromCharCode(97 + ((k - 1) % 26)) + s;
  return s;
}

export class PathManager {
  private readonly byWwid = new Map<string, MultipathDevice>();
  private readonly subs: Subscription[] = [];
  private readonly rejected = new WeakSet<PathTransport>();
  /** Transport of each path, by device name and path name. */
  private readonly transports = new Map<string, PathTransport>();
  private hosts = 0;
  private readonly deviceListeners = new Set<(d: MultipathDevice) => void>();
  /** WWID -> alias, kept when a device goes away (multipath's /etc/multipath/bindings). */
  private readonly bindings = new Map<string, string>();

  constructor(private readonly opts: PathManagerOptions = {}) {}

  /**
   * The alias of a WWID: the one it had before (multipath's bindings file keeps it across removals), else
   * the first free one.
   */
  private aliasFor(wwid: string): string {
    let alias = this.bindings.get(wwid);
    if (!alias) {
      const used = new Set(this.bindings.values());
      for (let n = 0; ; n++) {
        alias = `${this.opts.aliasPrefix ?? 'mpath'}${aliasSuffix(n)}`;
        if (!used.has(alias)) break;
      }
      this.bindings.set(wwid, alias);
    }
    return alias;
  }

  /**
   * Calls `listener` with each device this manager creates from now on, once, before its first path is
   * added (telemetry, the daemon's bookkeeping). Returns the function that stops it.
   */
  onDevice(listener: (d: MultipathDevice) => void): () => void {
    this.deviceListeners.add(listener);
    return () => this.deviceListeners.delete(listener);
  }

  /** Devices in the order created. */
  get devices(): MultipathDevice[] {
    return [...this.byWwid.values()];
  }

  device(nameOrWwid: string): MultipathDevice | undefined {
    return this.byWwid.get(nameOrWwid) ?? this.devices.find((d) => d.name === nameOrWwid);
  }

  /**
   * Identifies the LU behind `transport` at `lun` (its session must be logged in) and adds the path to the
   * device with that WWID, creating the device for a new WWID. Resolves with the device.
   */
  async addPath(transport: PathTransport, opts: { name: string; lun: number }): Promise<MultipathDevice> {
    if (this.rejected.has(transport)) throw new Error(`path ${opts.name} was removed after its WWID changed; it does not rejoin`);
    const identity: PathIdentity = await identifyPath(transport, opts.lun);
    let device = this.byWwid.get(identity.wwid);
    if (!device) {
      device = new MultipathDevice({
        name: this.aliasFor(identity.wwid),
        wwid: identity.wwid,
        config: this.opts.config,
        ...(this.opts.clock ? { clock: this.opts.clock } : {}),
      });
      this.byWwid.set(identity.wwid, device);
      for (const l of this.deviceListeners) l(device);
      this.subs.push(
        device.events$.subscribe((e) => {
          if (e.type === 'path.removed') {
            const t = this.transports.get(`${e.device}\0${e.path}`);
            this.transports.delete(`${e.device}\0${e.path}`);
            if (t && e.reason === 'wwid-changed') this.rejected.add(t);
          }
          this.opts.onEvent?.(e);
        }),
      );
    }
    device.addPath(transport, { name: opts.name, lun: opts.lun, identity, prio: identity.prio, hctl: `${++this.hosts}:0:0:${opts.lun}` });
    this.transports.set(`${device.name}\0${opts.name}`, transport);
    return device;
  }

  /**
   * Takes a path out of its device (its session logged out); a device left with no path is closed and
   * forgotten, as multipathd removes a map whose last path is gone. Returns false for an unknown path.
   */
  removePath(deviceName: string, pathName: string): boolean {
    const device = this.device(deviceName);
    if (!device?.pathNames.includes(pathName)) return false;
    device.removePath(pathName, 'operator');
    if (device.pathNames.length === 0) {
      device.close();
      this.byWwid.delete(device.wwid);
    }
    return true;
  }

  /** `multipath -ll`: every device's lines. */
  topology(): string[] {
    return this.devices.flatMap((d) => formatTopology(d.status()));
  }

  close(): void {
    for (const s of this.subs.splice(0)) s.unsubscribe();
    for (const d of this.byWwid.values()) d.close();
  }
}
