/**
 * What a path says about the LU behind it, for grouping and priorities: the WWID (VPD 0x83, NAA preferred;
 * unit serial VPD 0x80 as fallback), the ALUA state of the path's target port group from REPORT TARGET PORT
 * GROUPS when TPGS != 0 (SPC-4), capacity and write protection for the topology.
 */
import { modeSense6, reportTargetPortGroups, VpdPage } from '../scsi/cdb.js';
import { CheckConditionError } from '../scsi/errors.js';
import {
  Association,
  parseDeviceIdentification,
  parseStandardInquiry,
  parseUnitSerialNumber,
  wwid as wwidOf,
  type Designator,
  type StandardInquiry,
} from '../scsi/inquiry.js';
import { parseModeSense6 } from '../scsi/mode-sense.js';
import { AsymmetricAccessState, parseReportTargetPortGroups } from '../scsi/rtpg.js';
import { executeScsi, inquiryData, readCapacity, type ScsiExecutor } from '../session/lun.js';

export interface PathIdentity {
  /** The WWID the path groups by. */
  wwid: string;
  /** VPD 0x80 unit serial, when the LU has one. */
  serial?: string;
  vendor: string;
  product: string;
  revision: string;
  /** TPGS of standard INQUIRY: non-zero means ALUA (REPORT TARGET PORT GROUPS works). */
  tpgs: number;
  /** From VPD 0x83 (association target port). */
  targetPortGroup?: number;
  relativeTargetPort?: number;
  /** ASYMMETRIC ACCESS STATE of the path's port group (ALUA only). */
  aluaState?: number;
  /** PREF bit of the path's port group (ALUA only). */
  aluaPreferred?: boolean;
  /** The path priority: ALUA (see aluaPriority) or const 1. */
  prio: number;
  sizeBytes?: number;
  blockSize?: number;
  /** MODE SENSE WP; undefined when MODE SENSE failed. */
  writeProtected?: boolean;
}

/**
 * The alua prioritizer's values (multipath-tools): active/optimized 50, active/non-optimized 10,
 * standby 1, anything else 0. Ours: the PREF bit adds 1, ranking the preferred group first among equals.
 */
export function aluaPriority(state: number, preferred = false): number {
  const base =
    state === AsymmetricAccessState.ACTIVE_OPTIMIZED
      ? 50
      : state === AsymmetricAccessState.ACTIVE_NON_OPTIMIZED
        ? 10
        : state === AsymmetricAccessState.STANDBY
          ? 1
          : 0;
  return base + (preferred && base > 0 ? 1 : 0);
}

/** The WWID from the unit serial when VPD 0x83 has no LU designator: scsi_id's page 0x80 form, 'S' + vendor + product + serial. */
export function serialWwid(vendor: string, product: string, serial: string): string {
  return `S${vendor}_${product}_${serial}`.replace(/ +/g, '_');
}

/** An optional VPD page: undefined when the LU answers ILLEGAL REQUEST, INVALID FIELD IN CDB (24/00). */
async function optionalPage(exec: ScsiExecutor, lun: number, page: number): Promise<Buffer | undefined> {
  try {
    return await inquiryData(exec, lun, page);
  } catch (err) {
    if (err instanceof CheckConditionError && err.sense.asc === 0x24) return undefined;
    throw err;
  }
}

/**
 * The WWID of the LU behind `exec` at `lun`: VPD 0x83 (wwid(): NAA preferred), else from the VPD 0x80 unit
 * serial. Throws when the LU is not there (peripheral qualifier != 0) or has neither.
 */
export async function readWwid(
  exec: ScsiExecutor,
  lun: number,
): Promise<{ wwid: string; serial?: string; std: StandardInquiry; designators: readonly Designator[] }> {
  const std = parseStandardInquiry(await inquiryData(exec, lun));
  if (std.peripheralQualifier !== 0) throw new Error(`LUN ${lun} is not available (peripheral qualifier ${std.peripheralQualifier})`);
  const vpd83 = await optionalPage(exec, lun, VpdPage.DEVICE_IDENTIFICATION);
  const designators = vpd83 ? parseDeviceIdentification(vpd83).designators : [];
  const vpd80 = await optionalPage(exec, lun, VpdPage.UNIT_SERIAL_NUMBER);
  const serial = vpd80 ? parseUnitSerialNumber(vpd80).serialNumber : undefined;
  const wwid = wwidOf(designators) ?? (serial ? serialWwid(std.vendor, std.product, serial) : undefined);
  if (!wwid) throw new Error(`LUN ${lun} has no WWID: no LU designator in VPD 0x83 and no unit serial in VPD 0x80`);
  return { wwid, serial, std, designators };
}

/** Reads the path's identity and priority over `exec` (a path's session). Throws when the LU has neither WWID nor serial. */
export async function identifyPath(exec: ScsiExecutor, lun: number): Promise<PathIdentity> {
  const { wwid: id, serial, std, designators } = await readWwid(exec, lun);
  const out: PathIdentity = { wwid: id, serial, vendor: std.vendor, product: std.product, revision: std.revision, tpgs: std.tpgs, prio: 1 };
  for (const d of designators) {
    if (d.association !== Association.TARGET_PORT) continue;
    if (d.kind === 'target-port-group') out.targetPortGroup = d.targetPortGroup;
    if (d.kind === 'relative-target-port') out.relativeTargetPort = d.relativeTargetPort;
  }
  if (std.tpgs !== 0) {
    const alua = await aluaState(exec, lun, out);
    if (alua) {
      out.aluaState = alua.state;
      out.aluaPreferred = alua.pref;
      out.prio = aluaPriority(alua.state, alua.pref);
    }
  }
  try {
    const cap = await readCapacity(exec, lun);
    out.sizeBytes = Number(cap.sizeBytes);
    out.blockSize = cap.blockSize;
  } catch {
    // capacity is for the topology only
  }
  try {
    out.writeProtected = parseModeSense6((await executeScsi(exec, lun, modeSense6({ pageCode: 0x3f }))).data).writeProtected;
  } catch {
    // MODE SENSE is optional; the topology then says rw
  }
  return out;
}

/** The ALUA state of the port group this path goes through (by port group id, else by relative target port). */
export async function aluaState(
  exec: ScsiExecutor,
  lun: number,
  port: Pick<PathIdentity, 'targetPortGroup' | 'relativeTargetPort'>,
): Promise<{ state: number; pref: boolean } | undefined> {
  const data = parseReportTargetPortGroups((await executeScsi(exec, lun, reportTargetPortGroups())).data);
  const group =
    data.groups.find((g) => port.targetPortGroup !== undefined && g.targetPortGroup === port.targetPortGroup) ??
    data.groups.find((g) => port.relativeTargetPort !== undefined && g.relativeTargetPorts.includes(port.relativeTargetPort));
  return group ? { state: group.asymmetricAccessState, pref: group.pref } : undefined;
}
