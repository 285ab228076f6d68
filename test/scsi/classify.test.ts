import { describe, expect, it } from 'vitest';
import {
  CheckConditionError,
  classifySense,
  classifyStatus,
  errorForStatus,
  parseSense,
  ScsiParseError,
  ScsiStatus,
  ScsiStatusError,
  senseSummary,
  SenseKey,
} from '../../src/scsi/index.js';
import { hexBytes as h, tgtd } from './fixtures.js';

describe('classifySense', () => {
  it.each([
    ['UNIT ATTENTION power on/reset (tgtd after login)', SenseKey.UNIT_ATTENTION, 0x29, 0x00, 'retry'],
    ['UNIT ATTENTION capacity changed', SenseKey.UNIT_ATTENTION, 0x2a, 0x09, 'retry'],
    ['NOT READY becoming ready', SenseKey.NOT_READY, 0x04, 0x01, 'retry-after-pause'],
    ['NOT READY ALUA transition', SenseKey.NOT_READY, 0x04, 0x0a, 'retry-after-pause'],
    ['NOT READY ALUA standby', SenseKey.NOT_READY, 0x04, 0x0b, 'transport'],
    ['NOT READY ALUA unavailable', SenseKey.NOT_READY, 0x04, 0x0c, 'transport'],
    ['NOT READY cause not reportable', SenseKey.NOT_READY, 0x04, 0x00, 'transport'],
    ['NOT READY medium not present', SenseKey.NOT_READY, 0x3a, 0x00, 'transport'],
    ['MEDIUM ERROR unrecovered read', SenseKey.MEDIUM_ERROR, 0x11, 0x00, 'target-answer'],
    ['MEDIUM ERROR write error', SenseKey.MEDIUM_ERROR, 0x0c, 0x00, 'target-answer'],
    ['HARDWARE ERROR internal target failure', SenseKey.HARDWARE_ERROR, 0x44, 0x00, 'target-answer'],
    ['ILLEGAL REQUEST LBA out of range', SenseKey.ILLEGAL_REQUEST, 0x21, 0x00, 'target-answer'],
    ['ILLEGAL REQUEST invalid opcode', SenseKey.ILLEGAL_REQUEST, 0x20, 0x00, 'target-answer'],
    ['ILLEGAL REQUEST LU not supported', SenseKey.ILLEGAL_REQUEST, 0x25, 0x00, 'transport'],
    ['DATA PROTECT write protected', SenseKey.DATA_PROTECT, 0x27, 0x00, 'target-answer'],
    ['DATA PROTECT space allocation failed', SenseKey.DATA_PROTECT, 0x27, 0x07, 'target-answer'],
    ['MISCOMPARE', SenseKey.MISCOMPARE, 0x1d, 0x00, 'target-answer'],
    ['ABORTED COMMAND data phase error', SenseKey.ABORTED_COMMAND, 0x4b, 0x00, 'retry'],
    ['ABORTED COMMAND guard check failed', SenseKey.ABORTED_COMMAND, 0x10, 0x01, 'target-answer'],
    ['RECOVERED ERROR', SenseKey.RECOVERED_ERROR, 0x17, 0x01, 'ok'],
    ['NO SENSE', SenseKey.NO_SENSE, 0x00, 0x00, 'ok'],
    ['vendor specific key', SenseKey.VENDOR_SPECIFIC, 0x80, 0x00, 'transport'],
  ])('%s', (_name, key, asc, ascq, expected) => {
    expect(classifySense({ key, asc, ascq })).toBe(expected);
  });
});

describe('classifyStatus', () => {
  it.each([
    [ScsiStatus.GOOD, 'ok'],
    [ScsiStatus.CONDITION_MET, 'ok'],
    [ScsiStatus.BUSY, 'retry-after-pause'],
    [ScsiStatus.TASK_SET_FULL, 'retry-after-pause'],
    [ScsiStatus.ACA_ACTIVE, 'retry-after-pause'],
    [ScsiStatus.TASK_ABORTED, 'retry'],
    [ScsiStatus.RESERVATION_CONFLICT, 'target-answer'],
    [ScsiStatus.CHECK_CONDITION, 'retry'],
    [0x22, 'transport'],
  ])('status 0x%s', (status, expected) => {
    expect(classifyStatus(status)).toBe(expected);
  });

  it('CHECK CONDITION uses the sense', () => {
    expect(classifyStatus(ScsiStatus.CHECK_CONDITION, parseSense(tgtd.senseWriteProtected))).toBe('target-answer');
  });
});

describe('errors', () => {
  it('CheckConditionError message names key, description and codes', () => {
    const err = errorForStatus(ScsiStatus.CHECK_CONDITION, tgtd.senseLbaOutOfRange);
    expect(err).toBeInstanceOf(CheckConditionError);
    expect(err?.message).toBe('CHECK CONDITION: ILLEGAL REQUEST, LOGICAL BLOCK ADDRESS OUT OF RANGE (0x21/0x00)');
    expect(err).toMatchObject({ name: 'CheckConditionError', status: 2, sense: { asc: 0x21 } });
  });

  it('ScsiStatusError for statuses without sense', () => {
    const err = errorForStatus(ScsiStatus.RESERVATION_CONFLICT);
    expect(err).toBeInstanceOf(ScsiStatusError);
    expect(err?.message).toBe('SCSI status RESERVATION CONFLICT (0x18)');
    expect(err).toMatchObject({ status: 0x18, statusName: 'RESERVATION CONFLICT' });
    expect(errorForStatus(ScsiStatus.CHECK_CONDITION)).toBeInstanceOf(ScsiStatusError);
  });

  it('unreadable sense becomes the cause', () => {
    const err = errorForStatus(ScsiStatus.CHECK_CONDITION, h('7e 00 00'));
    expect(err).toBeInstanceOf(ScsiStatusError);
    expect(err?.cause).toBeInstanceOf(ScsiParseError);
  });

  it('GOOD and CONDITION MET are not errors', () => {
    expect(errorForStatus(ScsiStatus.GOOD)).toBeUndefined();
    expect(errorForStatus(ScsiStatus.CONDITION_MET)).toBeUndefined();
  });

  it('senseSummary and ScsiParseError fields', () => {
    expect(senseSummary(parseSense(tgtd.senseUnitAttentionReset))).toBe(
      'UNIT ATTENTION, POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (0x29/0x00)',
    );
    const err = new ScsiParseError('VPD page 0x83', 12, 'bad');
    expect(err).toMatchObject({ name: 'ScsiParseError', page: 'VPD page 0x83', offset: 12, message: 'VPD page 0x83: bad (offset 12)' });
  });
});
