/**
 * REPORT TARGET PORT GROUPS parameter data codec (SPC-4): the asymmetric access (ALUA) state of
 * each target port group and the relative target ports in it, in the length-only format (000b) and the
 * extended header format (001b).
 */
import { framed, need } from './bytes.js';
import { ScsiParseError } from './errors.js';

/** ASYMMETRIC ACCESS STATE (SPC-4). */
export const AsymmetricAccessState = {
  ACTIVE_OPTIMIZED: 0x0,
  ACTIVE_NON_OPTIMIZED: 0x1,
  STANDBY: 0x2,
  UNAVAILABLE: 0x3,
  LOGICAL_BLOCK_DEPENDENT: 0x4,
  OFFLINE: 0xe,
  TRANSITIONING: 0xf,
} as const;

const STATE_NAMES: ReadonlyMap<number, string> = new Map([
  [AsymmetricAccessState.ACTIVE_OPTIMIZED, 'active/optimized'],
  [AsymmetricAccessState.ACTIVE_NON_OPTIMIZED, 'active/non-optimized'],
  [AsymmetricAccessState.STANDBY, 'standby'],
  [AsymmetricAccessState.UNAVAILABLE, 'unavailable'],
  [AsymmetricAccessState.LOGICAL_BLOCK_DEPENDENT, 'lba-dependent'],
  [AsymmetricAccessState.OFFLINE, 'offline'],
  [AsymmetricAccessState.TRANSITIONING, 'transitioning'],
]);

/** `active/optimized` and so on, as sg_rtpgs prints them; reserved values read `reserved (0x5)`. */
export function asymmetricAccessStateName(state: number): string {
  return STATE_NAMES.get(state) ?? `reserved (0x${state.toString(16)})`;
}

/** STATUS CODE of a target port group descriptor (SPC-4). */
export const TargetPortGroupStatus = {
  NONE: 0x00,
  /** Changed by a SET TARGET PORT GROUPS command. */
  ALTERED_BY_SET_TARGET_PORT_GROUPS: 0x01,
  /** Changed by the device server on its own (implicit ALUA). */
  ALTERED_BY_IMPLICIT_BEHAVIOR: 0x02,
} as const;

/** The states a port group can take (the *_SUP bits). */
export interface SupportedStates {
  /** T_SUP */
  readonly transitioning: boolean;
  /** O_SUP */
  readonly offline: boolean;
  /** LBD_SUP */
  readonly logicalBlockDependent: boolean;
  /** U_SUP */
  readonly unavailable: boolean;
  /** S_SUP */
  readonly standby: boolean;
  /** AN_SUP */
  readonly activeNonOptimized: boolean;
  /** AO_SUP */
  readonly activeOptimized: boolean;
}

/** One target port group descriptor. */
export interface TargetPortGroup {
  /** PREF: the preferred group (dm-multipath's alua prioritizer ranks it first). */
  readonly pref: boolean;
  readonly asymmetricAccessState: number;
  readonly supportedStates: SupportedStates;
  /** TARGET PORT GROUP identifier, as in the VPD 0x83 target port group designator. */
  readonly targetPortGroup: number;
  /** See `TargetPortGroupStatus`. */
  readonly statusCode: number;
  readonly vendorSpecific: number;
  /** RELATIVE TARGET PORT IDENTIFIERs of the ports in the group. */
  readonly relativeTargetPorts: readonly number[];
}

/** Parsed REPORT TARGET PORT GROUPS parameter data. */
export interface ReportTargetPortGroupsData {
  readonly format: 'length' | 'extended';
  /** IMPLICIT TRANSITION TIME in seconds (extended format only; 0 = not reported). */
  readonly implicitTransitionTime?: number;
  readonly groups: readonly TargetPortGroup[];
  /** RETURN DATA LENGTH + 4: bytes the target has; re-issue with this allocation length. */
  readonly availableLength: number;
  readonly truncated: boolean;
}

const PAGE = 'REPORT TARGET PORT GROUPS data';
const GROUP_HEADER_LENGTH = 8;
const PORT_LENGTH = 4;

/**
 * Parses REPORT TARGET PORT GROUPS parameter data. The format is recognised as Linux's scsi_dh_alua
 * does: FORMAT TYPE 001b in byte 4 means the extended header; in the length-only format those bits
 * belong to the first descriptor's reserved field and are zero.
 */
export function parseReportTargetPortGroups(buf: Buffer): ReportTargetPortGroupsData {
  need(buf, 0, 4, PAGE, 'RETURN DATA LENGTH');
  const availableLength = buf.readUInt32BE(0) + 4;
  const { data, truncated } = framed(buf, availableLength);
  const extended = data.length > 4 && (data[4] & 0x70) === 0x10;
  const groupsStart = extended ? 8 : 4;
  if (extended && data.length < groupsStart && !truncated) {
    throw new ScsiParseError(PAGE, 4, 'extended header runs past the RETURN DATA LENGTH');
  }

  const groups: TargetPortGroup[] = [];
  for (let o = groupsStart; o < data.length; ) {
    if (o + GROUP_HEADER_LENGTH > data.length) {
      if (truncated) break;
      throw new ScsiParseError(PAGE, o, 'target port group descriptor runs past the RETURN DATA LENGTH');
    }
    const portCount = data[o + 7];
    const end = o + GROUP_HEADER_LENGTH + portCount * PORT_LENGTH;
    if (end > availableLength) {
      throw new ScsiParseError(PAGE, o + 7, `TARGET PORT COUNT ${portCount} runs past the RETURN DATA LENGTH`);
    }
    if (end > data.length) break;
    const relativeTargetPorts: number[] = [];
    for (let p = o + GROUP_HEADER_LENGTH; p < end; p += PORT_LENGTH) relativeTargetPorts.push(data.readUInt16BE(p + 2));
    const sup = data[o + 1];
    groups.push({
      pref: (data[o] & 0x80) !== 0,
      asymmetricAccessState: data[o] & 0x0f,
      supportedStates: {
        transitioning: (sup & 0x80) !== 0,
        offline: (sup & 0x40) !== 0,
        logicalBlockDependent: (sup & 0x10) !== 0,
        unavailable: (sup & 0x08) !== 0,
        standby: (sup & 0x04) !== 0,
        activeNonOptimized: (sup & 0x02) !== 0,
        activeOptimized: (sup & 0x01) !== 0,
      },
      targetPortGroup: data.readUInt16BE(o + 2),
      statusCode: data[o + 5],
      vendorSpecific: data[o + 6],
      relativeTargetPorts,
    });
    o = end;
  }

  return {
    format: extended ? 'extended' : 'length',
    ...(extended && data.length > 5 ? { implicitTransitionTime: data[5] } : {}),
    groups,
    availableLength,
    truncated,
  };
}

/**
 * Builds REPORT TARGET PORT GROUPS parameter data: what a fake ALUA target answers, since tgtd reports
 * TPGS 0. With `implicitTransitionTime` the extended format is written.
 */
export function encodeReportTargetPortGroups(
  groups: readonly TargetPortGroup[],
  options: { implicitTransitionTime?: number } = {},
): Buffer {
  const extended = options.implicitTransitionTime !== undefined;
  const headerLength = extended ? 8 : 4;
  const length = groups.reduce((n, g) => n + GROUP_HEADER_LENGTH + g.relativeTargetPorts.length * PORT_LENGTH, headerLength);
  const buf = Buffer.alloc(length);
  buf.writeUInt32BE(length - 4, 0);
  if (extended) {
    buf[4] = 0x10; // FORMAT TYPE 001b
    buf[5] = checkField('implicit transition time', options.implicitTransitionTime ?? 0, 0xff);
  }
  let o = headerLength;
  for (const g of groups) {
    if (g.relativeTargetPorts.length > 0xff) {
      const count = g.relativeTargetPorts.length;
      throw new RangeError(`REPORT TARGET PORT GROUPS: group ${g.targetPortGroup} has ${count} ports, at most 255 fit`);
    }
    const s = g.supportedStates;
    buf[o] = (g.pref ? 0x80 : 0) | checkField('asymmetric access state', g.asymmetricAccessState, 0x0f);
    buf[o + 1] =
      (s.transitioning ? 0x80 : 0) |
      (s.offline ? 0x40 : 0) |
      (s.logicalBlockDependent ? 0x10 : 0) |
      (s.unavailable ? 0x08 : 0) |
      (s.standby ? 0x04 : 0) |
      (s.activeNonOptimized ? 0x02 : 0) |
      (s.activeOptimized ? 0x01 : 0);
    buf.writeUInt16BE(checkField('target port group', g.targetPortGroup, 0xffff), o + 2);
    buf[o + 5] = checkField('status code', g.statusCode, 0xff);
    buf[o + 6] = checkField('vendor specific', g.vendorSpecific, 0xff);
    buf[o + 7] = g.relativeTargetPorts.length;
    o += GROUP_HEADER_LENGTH;
    for (const port of g.relativeTargetPorts) {
      buf.writeUInt16BE(checkField('relative target port', port, 0xffff), o + 2);
      o += PORT_LENGTH;
    }
  }
  return buf;
}

function checkField(field: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`REPORT TARGET PORT GROUPS: ${field} ${value} is not an integer in 0..${max}`);
  }
  return value;
}
