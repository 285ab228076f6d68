import { describe, expect, it } from 'vitest';
import {
  ascDescription,
  encodeFixedSense,
  parseSense,
  ScsiParseError,
  ScsiStatus,
  scsiStatusName,
  SenseKey,
  senseKeyName,
} from '../../src/scsi/index.js';
import { hexBytes as h, tgtd } from './fixtures.js';

describe('fixed sense data (SPC-4 §4.5.3)', () => {
  it('tgtd UNIT ATTENTION after login', () => {
    expect(parseSense(tgtd.senseUnitAttentionReset)).toEqual({
      format: 'fixed',
      responseCode: 0x70,
      current: true,
      key: SenseKey.UNIT_ATTENTION,
      keyName: 'UNIT ATTENTION',
      asc: 0x29,
      ascq: 0x00,
      description: 'POWER ON, RESET, OR BUS DEVICE RESET OCCURRED',
      filemark: false,
      endOfMedium: false,
      ili: false,
      descriptors: [],
      truncated: false,
    });
  });

  it.each([
    ['senseLbaOutOfRange', 'ILLEGAL REQUEST', 'LOGICAL BLOCK ADDRESS OUT OF RANGE'],
    ['senseInvalidFieldInCdb', 'ILLEGAL REQUEST', 'INVALID FIELD IN CDB'],
    ['senseLunNotSupported', 'ILLEGAL REQUEST', 'LOGICAL UNIT NOT SUPPORTED'],
    ['senseInvalidOpcode', 'ILLEGAL REQUEST', 'INVALID COMMAND OPERATION CODE'],
    ['senseWriteProtected', 'DATA PROTECT', 'WRITE PROTECTED'],
  ] as const)('tgtd %s', (fixture, keyName, description) => {
    expect(parseSense(tgtd[fixture])).toMatchObject({ keyName, description, truncated: false });
  });

  it('hand-built medium error with INFORMATION, deferred, retry count and FRU', () => {
    const sense = parseSense(h('f1 00 23 00 01 23 45 0a 00 00 00 07 11 00 02 80 00 05'));
    expect(sense).toMatchObject({
      responseCode: 0x71,
      current: false,
      key: SenseKey.MEDIUM_ERROR,
      asc: 0x11,
      ascq: 0x00,
      description: 'UNRECOVERED READ ERROR',
      information: 0x12345n,
      commandSpecificInformation: 7n,
      fieldReplaceableUnitCode: 2,
      senseKeySpecific: { kind: 'actual-retry-count', actualRetryCount: 5 },
      ili: true,
    });
  });

  it('field pointer of ILLEGAL REQUEST: byte 1 bit 3 of the CDB', () => {
    expect(parseSense(h('70 00 05 00 00 00 00 0a 00 00 00 00 24 00 00 cb 00 01')).senseKeySpecific).toEqual({
      kind: 'field-pointer',
      inCdb: true,
      fieldPointer: 1,
      bitPointer: 3,
    });
  });

  it('progress of NOT READY, FORMAT IN PROGRESS', () => {
    expect(parseSense(h('70 00 02 00 00 00 00 0a 00 00 00 00 04 04 00 80 80 00'))).toMatchObject({
      description: 'LOGICAL UNIT NOT READY, FORMAT IN PROGRESS',
      senseKeySpecific: { kind: 'progress', progress: 0x8000 },
    });
  });

  it('short sense reads missing fields as zero, like scsi_normalize_sense', () => {
    expect(parseSense(h('70 00 06'))).toMatchObject({ key: 6, asc: 0, ascq: 0, truncated: true });
    expect(parseSense(tgtd.senseLbaOutOfRange.subarray(0, 13))).toMatchObject({ asc: 0x21, ascq: 0, truncated: true });
    // ADDITIONAL SENSE LENGTH 4: bytes 12-13 are not sense data.
    expect(parseSense(h('70 00 05 00 00 00 00 04 00 00 00 00 24 00'))).toMatchObject({ asc: 0, truncated: true });
  });

  it('encodeFixedSense round trip', () => {
    const bytes = encodeFixedSense({ key: SenseKey.MEDIUM_ERROR, asc: 0x11, ascq: 0x00, information: 0xdead_beef });
    expect(parseSense(bytes)).toMatchObject({ key: 3, asc: 0x11, ascq: 0, information: 0xdead_beefn, current: true, truncated: false });
    expect(encodeFixedSense({ key: 6, asc: 0x29, ascq: 0 })).toEqual(tgtd.senseUnitAttentionReset);
    expect(() => encodeFixedSense({ key: 16, asc: 0, ascq: 0 })).toThrow(RangeError);
    expect(() => encodeFixedSense({ key: 3, asc: 0, ascq: 0, information: 2n ** 32n })).toThrow(RangeError);
  });
});

describe('descriptor sense data (SPC-4 §4.5.2)', () => {
  it('hand-built: 64-bit INFORMATION, sense key specific, block commands ILI', () => {
    const sense = parseSense(
      h(`72 03 11 00 00 00 00 18
         00 0a 80 00 00 00 00 01 00 00 00 00
         02 06 00 00 80 00 03 00
         05 02 00 20`),
    );
    expect(sense).toMatchObject({
      format: 'descriptor',
      responseCode: 0x72,
      current: true,
      keyName: 'MEDIUM ERROR',
      description: 'UNRECOVERED READ ERROR',
      information: 0x1_0000_0000n,
      senseKeySpecific: { kind: 'actual-retry-count', actualRetryCount: 3 },
      ili: true,
      truncated: false,
    });
    expect(sense.descriptors.map((d) => d.type)).toEqual([0x00, 0x02, 0x05]);
  });

  it('deferred, header only', () => {
    expect(parseSense(h('73 06 2a 09 00 00 00 00'))).toMatchObject({
      current: false,
      description: 'CAPACITY DATA HAS CHANGED',
      descriptors: [],
      truncated: false,
    });
  });

  it('INFORMATION without VALID is left out; unknown descriptors kept', () => {
    const sense = parseSense(h('72 05 24 00 00 00 00 10 00 0a 00 00 00 00 00 00 00 00 00 07 80 02 ab cd'));
    expect('information' in sense).toBe(false);
    expect(sense.descriptors[1]).toEqual({ type: 0x80, data: h('ab cd') });
  });

  it('a descriptor cut by the buffer is truncation; past ADDITIONAL SENSE LENGTH is malformed', () => {
    const full = h('72 03 11 00 00 00 00 0c 00 0a 80 00 00 00 00 00 00 00 00 2a');
    expect(parseSense(full.subarray(0, 15))).toMatchObject({ truncated: true, descriptors: [] });
    expect(() => parseSense(h('72 03 11 00 00 00 00 04 00 0a 80 00'))).toThrow(
      /descriptor runs past the ADDITIONAL SENSE LENGTH \(offset 8\)/,
    );
    expect(() => parseSense(h('72 03 11 00 00 00 00 01 00'))).toThrow(/descriptor header runs past/);
  });
});

it('unsupported response codes and empty buffers are ScsiParseErrors', () => {
  expect(() => parseSense(Buffer.alloc(0))).toThrow(ScsiParseError);
  expect(() => parseSense(h('7f 00 00 00'))).toThrow(/unsupported RESPONSE CODE 0x7f/);
  expect(() => parseSense(h('70 00'))).toThrow(/fixed sense data: SENSE KEY needs 3 bytes/);
});

describe('names', () => {
  it('sense keys', () => {
    expect(senseKeyName(SenseKey.ABORTED_COMMAND)).toBe('ABORTED COMMAND');
    expect(senseKeyName(0x0c)).toBe('SENSE KEY 0x0c');
  });

  it('ASC/ASCQ, with parameterised and unknown codes', () => {
    expect(ascDescription(0x3f, 0x0e)).toBe('REPORTED LUNS DATA HAS CHANGED');
    expect(ascDescription(0x2a, 0x01)).toBe('MODE PARAMETERS CHANGED');
    expect(ascDescription(0x04, 0x0b)).toBe('LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN STANDBY STATE');
    expect(ascDescription(0x40, 0x91)).toBe('DIAGNOSTIC FAILURE ON COMPONENT 0x91');
    expect(ascDescription(0x4d, 0x12)).toBe('TAGGED OVERLAPPED COMMANDS (TASK TAG 0x12)');
    expect(ascDescription(0x99, 0x01)).toBe('ASC 0x99 ASCQ 0x01');
  });

  it('statuses', () => {
    expect(scsiStatusName(ScsiStatus.CHECK_CONDITION)).toBe('CHECK CONDITION');
    expect(scsiStatusName(ScsiStatus.RESERVATION_CONFLICT)).toBe('RESERVATION CONFLICT');
    expect(scsiStatusName(ScsiStatus.TASK_SET_FULL)).toBe('TASK SET FULL');
    expect(scsiStatusName(ScsiStatus.CONDITION_MET)).toBe('CONDITION MET');
    expect(scsiStatusName(0x22)).toBe('STATUS 0x22');
  });
});
