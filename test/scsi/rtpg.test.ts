import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AsymmetricAccessState,
  asymmetricAccessStateName,
  encodeReportTargetPortGroups,
  parseReportTargetPortGroups,
  ScsiParseError,
  type TargetPortGroup,
  TargetPortGroupStatus,
} from '../../src/scsi/index.js';
import { hexBytes as h } from './fixtures.js';

// tgtd reports TPGS 0 and no REPORT TARGET PORT GROUPS, so these are hand-built from SPC-4 §6.36.2:
// two groups of an active/passive array, the second reached through two ports.
const twoGroups = h(`
  00 00 00 1c
  80 0f 00 01 00 00 00 01 00 00 00 01
  02 0f 00 02 00 02 00 02 00 00 00 02 00 00 00 03`);

const all: TargetPortGroup['supportedStates'] = {
  transitioning: false,
  offline: false,
  logicalBlockDependent: false,
  unavailable: true,
  standby: true,
  activeNonOptimized: true,
  activeOptimized: true,
};

describe('REPORT TARGET PORT GROUPS', () => {
  it('length-only format', () => {
    expect(parseReportTargetPortGroups(twoGroups)).toEqual({
      format: 'length',
      groups: [
        {
          pref: true,
          asymmetricAccessState: AsymmetricAccessState.ACTIVE_OPTIMIZED,
          supportedStates: all,
          targetPortGroup: 1,
          statusCode: TargetPortGroupStatus.NONE,
          vendorSpecific: 0,
          relativeTargetPorts: [1],
        },
        {
          pref: false,
          asymmetricAccessState: AsymmetricAccessState.STANDBY,
          supportedStates: all,
          targetPortGroup: 2,
          statusCode: TargetPortGroupStatus.ALTERED_BY_IMPLICIT_BEHAVIOR,
          vendorSpecific: 0,
          relativeTargetPorts: [2, 3],
        },
      ],
      availableLength: 32,
      truncated: false,
    });
  });

  it('extended header format with implicit transition time', () => {
    const data = parseReportTargetPortGroups(h('00 00 00 10 10 3c 00 00 0e c0 00 07 00 00 00 00'));
    expect(data).toMatchObject({ format: 'extended', implicitTransitionTime: 60 });
    expect(data.groups[0]).toMatchObject({
      asymmetricAccessState: AsymmetricAccessState.OFFLINE,
      supportedStates: { transitioning: true, offline: true },
      targetPortGroup: 7,
      relativeTargetPorts: [],
    });
  });

  it('allocation length cut the second group', () => {
    const data = parseReportTargetPortGroups(twoGroups.subarray(0, 20));
    expect(data).toMatchObject({ truncated: true, availableLength: 32 });
    expect(data.groups.map((g) => g.targetPortGroup)).toEqual([1]);
  });

  it('malformed', () => {
    expect(() => parseReportTargetPortGroups(h('00 00 00'))).toThrow(ScsiParseError);
    expect(() => parseReportTargetPortGroups(h('00 00 00 08 00 0f 00 01 00 00 00 01'))).toThrow(/TARGET PORT COUNT 1 runs past/);
    expect(() => parseReportTargetPortGroups(h('00 00 00 02 00 0f'))).toThrow(/descriptor runs past the RETURN DATA LENGTH \(offset 4\)/);
  });

  it('state names', () => {
    expect(asymmetricAccessStateName(AsymmetricAccessState.ACTIVE_NON_OPTIMIZED)).toBe('active/non-optimized');
    expect(asymmetricAccessStateName(AsymmetricAccessState.TRANSITIONING)).toBe('transitioning');
    expect(asymmetricAccessStateName(5)).toBe('reserved (0x5)');
  });

  it('encode reproduces the hand-built bytes', () => {
    const { groups } = parseReportTargetPortGroups(twoGroups);
    expect(encodeReportTargetPortGroups(groups)).toEqual(twoGroups);
  });

  it('round trip: parse(encode(groups)) == groups, both formats', () => {
    const state = fc.constantFrom(...Object.values(AsymmetricAccessState));
    const group = fc.record({
      pref: fc.boolean(),
      asymmetricAccessState: state,
      supportedStates: fc.record({
        transitioning: fc.boolean(),
        offline: fc.boolean(),
        logicalBlockDependent: fc.boolean(),
        unavailable: fc.boolean(),
        standby: fc.boolean(),
        activeNonOptimized: fc.boolean(),
        activeOptimized: fc.boolean(),
      }),
      targetPortGroup: fc.integer({ min: 0, max: 0xffff }),
      statusCode: fc.integer({ min: 0, max: 0xff }),
      vendorSpecific: fc.integer({ min: 0, max: 0xff }),
      relativeTargetPorts: fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }),
    });
    fc.assert(
      fc.property(fc.array(group, { maxLength: 6 }), fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }), (groups, time) => {
        const parsed = parseReportTargetPortGroups(
          encodeReportTargetPortGroups(groups, time === undefined ? {} : { implicitTransitionTime: time }),
        );
        expect(parsed.groups).toEqual(groups);
        expect(parsed.format).toBe(time === undefined ? 'length' : 'extended');
      }),
    );
  });
});
