/**
 * BHS accessor tests (RFC 7143 §11.2.1, §11.2.2): every field's get reads the value a fixture's provenance
 * states, its set writes exactly the fixture's bytes at that offset and nothing else, and a fast-check round trip
 * over random headers. Captured fixtures: fixtures/pdus.ts; the few hand-built ones below are for fields that are
 * zero in every capture (a zero proves no offset).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as B from '../../src/iscsi/bhs.js';
import { BhsOffset, Flag } from '../../src/iscsi/bhs.js';
import { AhsType, BHS_LENGTH, Opcode } from '../../src/iscsi/constants.js';
import * as F from './fixtures/pdus.js';

const bytes = (hex: string) => Buffer.from(hex, 'hex');

// ---------------------------------------------------------------------------------------------------------
// Hand-built from the RFC 7143 tables named in each comment, byte by byte (not by our encoder).

const HAND = {
  /**
   * §11.7 Data-In: the second PDU of DATA_IN_NO_STATUS's READ(10), F S, ITT 0x2003, StatSN 5, ExpCmdSN 6, MaxCmdSN
   * 0x86, DataSN 1 (bytes 36-39), Buffer Offset 0x200 (40-43).
   */
  DATA_IN_SECOND: F.hex('25810000000002000000000000000000', '00002003ffffffff0000000500000006', '00000086000000010000020000000000'),
  /** §11.8 R2T: a second R2T for the WRITE of fixtures R2T, TTT 0x5074ddb7, R2TSN 1 (bytes 36-39), Buffer Offset 0x2200. */
  R2T_SECOND: F.hex('31800000000000000001000000000000', '3d9011145074ddb70000001308b8b99c', '08b8ba1c000000010000220000000200'),
  /** §11.4 SCSI Response answering an R-Data SNACK: SNACK Tag 0xa7 (bytes 20-23), StatSN 6, ExpDataSN 2. */
  SCSI_RESPONSE_SNACK_TAG: F.hex(
    '21800000000000000000000000000000',
    '00002003000000a7000000060000000b',
    '00000086000000020000000000000000',
  ),
  /**
   * §11.12 Login Request claiming Version-max 2 (byte 2) and Version-min 1 (byte 3). RFC 7143 defines only version
   * 0; distinct values tell the two bytes apart.
   */
  LOGIN_REQUEST_VERSIONS: F.hex('43870201000000000000000000000000', '00000a06000000000000000000000000', '00000000000000000000000000000000'),
  /** §11.13 Login Response with Version-max 2 (byte 2) and Version-active 1 (byte 3), as above. */
  LOGIN_RESPONSE_VERSIONS: F.hex(
    '23870201000000000000000000000000',
    '00000a06000000000000000000000000',
    '00000000000000000000000000000000',
  ),
  /**
   * §11.9 Asynchronous Message, AsyncEvent 2 (the target will drop connection CID 3): Parameter1 = CID 3 (bytes
   * 38-39), Parameter2 = Time2Wait 5 (40-41), Parameter3 = Time2Retain 20 (42-43).
   */
  ASYNC_DROP_CONNECTION: F.hex('32800000000000000000000000000000', 'ffffffff000000000000003000000040', '00000080020000030005001400000000'),
  /** §11.9 Asynchronous Message, AsyncEvent 255 (vendor-specific) with AsyncVCode 0x5a (byte 37). */
  ASYNC_VENDOR: F.hex('32800000000000000000000000000000', 'ffffffff000000000000003000000040', '00000080ff5a00000000000000000000'),
} as const;

// ---------------------------------------------------------------------------------------------------------

interface FieldCase {
  field: keyof typeof BhsOffset;
  /** Bytes the setter owns: the field's width on the wire (the LUN setter writes all 8 bytes). */
  width: number;
  /** Largest value the accessor round-trips. */
  max: number;
  get: (b: Buffer) => number;
  set: (b: Buffer, v: number) => void;
  fixture: string;
  fixtureName: string;
  /** The field's value in the fixture, as its provenance comment states it. */
  value: number;
}

const U8 = 0xff;
const U16 = 0xffff;
const U24 = 0xff_ffff;
const U32 = 0xffff_ffff;
const U48 = 2 ** 48 - 1;

function c(
  field: keyof typeof BhsOffset,
  width: number,
  max: number,
  get: (b: Buffer) => number,
  set: (b: Buffer, v: number) => void,
  fixtureName: string,
  fixture: string,
  value: number,
): FieldCase {
  return { field, width, max, get, set, fixtureName, fixture, value };
}

const CASES: FieldCase[] = [
  c('TOTAL_AHS_LENGTH', 1, U8, B.getTotalAhsLength, B.setTotalAhsLength, 'SCSI_COMMAND_EXTENDED_CDB', F.SCSI_COMMAND_EXTENDED_CDB, 5),
  c('DATA_SEGMENT_LENGTH', 3, U24, B.getDataSegmentLength, B.setDataSegmentLength, 'NOP_OUT_PING', F.NOP_OUT_PING, 13),
  c('LUN', 8, 0x3fff, B.getLun, B.setLun, 'SCSI_COMMAND_INQUIRY', F.SCSI_COMMAND_INQUIRY, 1),
  c('ITT', 4, U32, B.getItt, B.setItt, 'NOP_OUT_PING', F.NOP_OUT_PING, 0x2001),
  c('VERSION_MAX', 1, U8, B.getVersionMax, B.setVersionMax, 'LOGIN_REQUEST_VERSIONS', HAND.LOGIN_REQUEST_VERSIONS, 2),
  c('VERSION_MIN', 1, U8, B.getVersionMin, B.setVersionMin, 'LOGIN_REQUEST_VERSIONS', HAND.LOGIN_REQUEST_VERSIONS, 1),
  c('VERSION_ACTIVE', 1, U8, B.getVersionActive, B.setVersionActive, 'LOGIN_RESPONSE_VERSIONS', HAND.LOGIN_RESPONSE_VERSIONS, 1),
  c('RESPONSE', 1, U8, B.getResponse, B.setResponse, 'TMF_RESPONSE_TASK_DOES_NOT_EXIST', F.TMF_RESPONSE_TASK_DOES_NOT_EXIST, 1),
  c('REASON', 1, U8, B.getReason, B.setReason, 'REJECT_PROTOCOL_ERROR', F.REJECT_PROTOCOL_ERROR, 0x04),
  // CHECK CONDITION
  c('STATUS', 1, U8, B.getStatus, B.setStatus, 'SCSI_RESPONSE_UNIT_ATTENTION', F.SCSI_RESPONSE_UNIT_ATTENTION, 0x02),
  c('ISID', 6, U48, B.getIsid, B.setIsid, 'LOGIN_REQUEST_DISCOVERY', F.LOGIN_REQUEST_DISCOVERY, 0x808a19280000),
  c('TSIH', 2, U16, B.getTsih, B.setTsih, 'LOGIN_RESPONSE_DISCOVERY', F.LOGIN_RESPONSE_DISCOVERY, 0x0100),
  c('TTT', 4, U32, B.getTtt, B.setTtt, 'R2T', F.R2T, 0x5074ddb6),
  c(
    'EXPECTED_DATA_TRANSFER_LENGTH',
    4,
    U32,
    B.getExpectedDataTransferLength,
    B.setExpectedDataTransferLength,
    'SCSI_COMMAND_EXTENDED_CDB',
    F.SCSI_COMMAND_EXTENDED_CDB,
    4096,
  ),
  c(
    'REFERENCED_TASK_TAG',
    4,
    U32,
    B.getReferencedTaskTag,
    B.setReferencedTaskTag,
    'TMF_REQUEST_ABORT_TASK',
    F.TMF_REQUEST_ABORT_TASK,
    0x1415e8f9,
  ),
  c('SNACK_TAG', 4, U32, B.getSnackTag, B.setSnackTag, 'SCSI_RESPONSE_SNACK_TAG', HAND.SCSI_RESPONSE_SNACK_TAG, 0xa7),
  c('CID', 2, U16, B.getCid, B.setCid, 'LOGOUT_REQUEST_CLOSE_CONNECTION', F.LOGOUT_REQUEST_CLOSE_CONNECTION, 2),
  c('CMD_SN', 4, U32, B.getCmdSN, B.setCmdSN, 'LOGIN_REQUEST_DISCOVERY', F.LOGIN_REQUEST_DISCOVERY, 0x31873383),
  c('STAT_SN', 4, U32, B.getStatSN, B.setStatSN, 'ASYNC_MESSAGE_LOGOUT_REQUEST', F.ASYNC_MESSAGE_LOGOUT_REQUEST, 0x30),
  c('EXP_STAT_SN', 4, U32, B.getExpStatSN, B.setExpStatSN, 'SCSI_COMMAND_EXTENDED_CDB', F.SCSI_COMMAND_EXTENDED_CDB, 0x20),
  c('EXP_CMD_SN', 4, U32, B.getExpCmdSN, B.setExpCmdSN, 'ASYNC_MESSAGE_LOGOUT_REQUEST', F.ASYNC_MESSAGE_LOGOUT_REQUEST, 0x40),
  c('MAX_CMD_SN', 4, U32, B.getMaxCmdSN, B.setMaxCmdSN, 'ASYNC_MESSAGE_LOGOUT_REQUEST', F.ASYNC_MESSAGE_LOGOUT_REQUEST, 0x80),
  c('REF_CMD_SN', 4, U32, B.getRefCmdSN, B.setRefCmdSN, 'TMF_REQUEST_ABORT_TASK', F.TMF_REQUEST_ABORT_TASK, 0x17e356e1),
  c('DATA_SN', 4, U32, B.getDataSN, B.setDataSN, 'DATA_IN_SECOND', HAND.DATA_IN_SECOND, 1),
  c('EXP_DATA_SN', 4, U32, B.getExpDataSN, B.setExpDataSN, 'SCSI_RESPONSE_BIDI_RESIDUALS', F.SCSI_RESPONSE_BIDI_RESIDUALS, 2),
  c('R2T_SN', 4, U32, B.getR2TSN, B.setR2TSN, 'R2T_SECOND', HAND.R2T_SECOND, 1),
  c('STATUS_CLASS', 1, U8, B.getStatusClass, B.setStatusClass, 'LOGIN_RESPONSE_TARGET_NOT_FOUND', F.LOGIN_RESPONSE_TARGET_NOT_FOUND, 2),
  c('STATUS_DETAIL', 1, U8, B.getStatusDetail, B.setStatusDetail, 'LOGIN_RESPONSE_TARGET_NOT_FOUND', F.LOGIN_RESPONSE_TARGET_NOT_FOUND, 3),
  c('ASYNC_EVENT', 1, U8, B.getAsyncEvent, B.setAsyncEvent, 'ASYNC_MESSAGE_LOGOUT_REQUEST', F.ASYNC_MESSAGE_LOGOUT_REQUEST, 1),
  c('ASYNC_V_CODE', 1, U8, B.getAsyncVCode, B.setAsyncVCode, 'ASYNC_VENDOR', HAND.ASYNC_VENDOR, 0x5a),
  c('PARAMETER1', 2, U16, B.getParameter1, B.setParameter1, 'ASYNC_DROP_CONNECTION', HAND.ASYNC_DROP_CONNECTION, 3),
  c('BUFFER_OFFSET', 4, U32, B.getBufferOffset, B.setBufferOffset, 'DATA_OUT', F.DATA_OUT, 8192),
  c(
    'BIDI_READ_RESIDUAL_COUNT',
    4,
    U32,
    B.getBidiReadResidualCount,
    B.setBidiReadResidualCount,
    'SCSI_RESPONSE_BIDI_RESIDUALS',
    F.SCSI_RESPONSE_BIDI_RESIDUALS,
    512,
  ),
  c('BEG_RUN', 4, U32, B.getBegRun, B.setBegRun, 'SNACK_DATA', F.SNACK_DATA, 2),
  c('TIME2WAIT', 2, U16, B.getTime2Wait, B.setTime2Wait, 'LOGOUT_RESPONSE_TIME2WAIT', F.LOGOUT_RESPONSE_TIME2WAIT, 2),
  c('PARAMETER2', 2, U16, B.getParameter2, B.setParameter2, 'ASYNC_DROP_CONNECTION', HAND.ASYNC_DROP_CONNECTION, 5),
  c('TIME2RETAIN', 2, U16, B.getTime2Retain, B.setTime2Retain, 'LOGOUT_RESPONSE_TIME2WAIT', F.LOGOUT_RESPONSE_TIME2WAIT, 20),
  c('PARAMETER3', 2, U16, B.getParameter3, B.setParameter3, 'ASYNC_MESSAGE_LOGOUT_REQUEST', F.ASYNC_MESSAGE_LOGOUT_REQUEST, 10),
  c('RESIDUAL_COUNT', 4, U32, B.getResidualCount, B.setResidualCount, 'DATA_IN_OVERFLOW', F.DATA_IN_OVERFLOW, 312),
  c('DESIRED_DATA_TRANSFER_LENGTH', 4, U32, B.getDesiredDataTransferLength, B.setDesiredDataTransferLength, 'R2T', F.R2T, 512),
  c('RUN_LENGTH', 4, U32, B.getRunLength, B.setRunLength, 'SNACK_DATA', F.SNACK_DATA, 3),
];

/** Fields whose accessors are not a plain number at one offset; each has its own tests below. */
const SPECIAL: (keyof typeof BhsOffset)[] = ['OPCODE', 'FLAGS', 'OPCODE_SPECIFIC', 'CDB'];

/** The fixture's BHS (its first 48 bytes). */
const bhsOf = (hex: string) => bytes(hex).subarray(0, BHS_LENGTH);

describe('BHS field accessors (RFC 7143 §11.2.1)', () => {
  it('every field in BhsOffset has a case', () => {
    const covered = new Set([...CASES.map((k) => k.field), ...SPECIAL]);
    expect(Object.keys(BhsOffset).filter((k) => !covered.has(k as keyof typeof BhsOffset))).toEqual([]);
  });

  // The values are distinct from 0 so that a getter at the wrong offset would read something else.
  it.each(CASES.map((k) => [k.field, k] as const))('%s: get reads the fixture value', (_, k) => {
    expect(k.value).not.toBe(0);
    expect(k.get(bhsOf(k.fixture)), `${k.field} in ${k.fixtureName}`).toBe(k.value);
  });

  it.each(CASES.map((k) => [k.field, k] as const))('%s: set writes the fixture bytes at its offset and nothing else', (_, k) => {
    const off = BhsOffset[k.field];
    const out = Buffer.alloc(BHS_LENGTH);
    k.set(out, k.value);
    const want = Buffer.alloc(BHS_LENGTH);
    bhsOf(k.fixture).copy(want, off, off, off + k.width);
    expect(out.toString('hex'), `${k.field} = ${k.value} against ${k.fixtureName}`).toBe(want.toString('hex'));
  });

  it.each(CASES.map((k) => [k.field, k] as const))('%s: set then get round-trips and leaves the other bytes alone', (_, k) => {
    const off = BhsOffset[k.field];
    const value = fc.oneof(
      fc.constantFrom(0, k.max),
      fc.maxSafeNat().map((n) => n % (k.max + 1)),
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: BHS_LENGTH, maxLength: BHS_LENGTH }), value, (background, v) => {
        const b = Buffer.from(background);
        k.set(b, v);
        if (k.get(b) !== v) return false;
        for (let i = 0; i < BHS_LENGTH; i++) if ((i < off || i >= off + k.width) && b[i] !== background[i]) return false;
        return true;
      }),
    );
  });
});

describe('byte 0 and byte 1: opcode, I, F (§11.2.1)', () => {
  it('reads opcode, I and F from a captured immediate Task Management Request (0x42, 0x81)', () => {
    const b = bhsOf(F.TMF_REQUEST_ABORT_TASK);
    expect(B.getOpcode(b)).toBe(Opcode.TASK_MGMT_REQUEST);
    expect(B.getImmediate(b)).toBe(true);
    expect(B.getFinal(b)).toBe(true);
    expect(B.getFlags(b)).toBe(0x81);
    expect(b[BhsOffset.FLAGS] & Flag.FUNCTION_MASK).toBe(1); // ABORT TASK
  });

  it('reads a non-immediate opcode with F clear: Data-In without status (0x25, 0x00)', () => {
    const b = bhsOf(F.DATA_IN_NO_STATUS);
    expect(B.getOpcode(b)).toBe(Opcode.SCSI_DATA_IN);
    expect(B.getImmediate(b)).toBe(false);
    expect(B.getFinal(b)).toBe(false);
  });

  it('setOpcode writes byte 0 whole, as the captured Login Request (0x43) and Logout Request (0x46) have it', () => {
    const b = Buffer.alloc(BHS_LENGTH);
    B.setOpcode(b, Opcode.LOGIN_REQUEST, true);
    expect(b[0]).toBe(bytes(F.LOGIN_REQUEST_DISCOVERY)[0]);
    B.setOpcode(b, Opcode.SCSI_DATA_OUT);
    expect(b[0]).toBe(bytes(F.DATA_OUT)[0]);
    B.setOpcode(b, Opcode.LOGOUT_REQUEST, true);
    expect(b.toString('hex')).toBe(`46${'00'.repeat(47)}`);
  });

  it('setFlags writes byte 1 only: Login T CSG 1 NSG 3 is 0x87', () => {
    const b = Buffer.alloc(BHS_LENGTH);
    B.setFlags(b, Flag.TRANSIT | ((1 << Flag.CSG_SHIFT) & Flag.CSG_MASK) | (3 & Flag.NSG_MASK));
    expect(b.toString('hex')).toBe(`0087${'00'.repeat(46)}`);
  });

  it('setImmediate and setFinal change their bit and keep every other bit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (b0, b1, on) => {
        const b = Buffer.alloc(BHS_LENGTH);
        b[0] = b0;
        b[1] = b1;
        B.setImmediate(b, on);
        B.setFinal(b, on);
        return (
          B.getImmediate(b) === on &&
          B.getFinal(b) === on &&
          (b[0] & ~Flag.IMMEDIATE & 0xff) === (b0 & ~Flag.IMMEDIATE & 0xff) &&
          (b[1] & ~Flag.FINAL & 0xff) === (b1 & ~Flag.FINAL & 0xff) &&
          b.subarray(2).every((x) => x === 0)
        );
      }),
    );
  });
});

describe('lengths, CDB and AHS (§11.2.1, §11.2.2, §11.3.5)', () => {
  it('getHeaderLength is BHS + TotalAHSLength words: 68 bytes for the Extended CDB fixture, 48 without AHS', () => {
    expect(B.getHeaderLength(bytes(F.SCSI_COMMAND_EXTENDED_CDB))).toBe(68);
    expect(B.getHeaderLength(bytes(F.SCSI_COMMAND_INQUIRY))).toBe(48);
  });

  it('getCdb is bytes 32-47: the captured INQUIRY with allocation length 66', () => {
    expect(B.getCdb(bytes(F.SCSI_COMMAND_INQUIRY)).toString('hex')).toBe('12000000420000000000000000000000');
  });

  it('setCdb writes the first 16 bytes of a longer CDB and nothing past the BHS', () => {
    const cdb = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1));
    const b = Buffer.alloc(BHS_LENGTH + 20, 0xee);
    B.setCdb(b, cdb);
    expect(b.subarray(32, 48)).toEqual(cdb.subarray(0, 16));
    expect(b.subarray(0, 32).every((x) => x === 0xee)).toBe(true);
    expect(b.subarray(48).every((x) => x === 0xee)).toBe(true);
  });

  it('reads AHSLength and AHSType of the Extended CDB (17, type 1) and Bidirectional (5, type 2) fixtures', () => {
    const ext = bytes(F.SCSI_COMMAND_EXTENDED_CDB);
    expect(B.getAhsLength(ext, BHS_LENGTH)).toBe(17);
    expect(B.getAhsType(ext, BHS_LENGTH)).toBe(AhsType.EXTENDED_CDB);
    const bidi = bytes(F.SCSI_COMMAND_BIDI);
    expect(B.getAhsLength(bidi, BHS_LENGTH)).toBe(5);
    expect(B.getAhsType(bidi, BHS_LENGTH)).toBe(AhsType.BIDI_READ_LENGTH);
    expect(bidi.readUInt32BE(BHS_LENGTH + B.AhsOffset.CONTENT)).toBe(4096);
  });

  it('setAhsLength and setAhsType rebuild the Bidirectional AHS header bytes', () => {
    const ahs = Buffer.alloc(8);
    B.setAhsLength(ahs, 0, 5);
    B.setAhsType(ahs, 0, AhsType.BIDI_READ_LENGTH);
    expect(ahs.subarray(0, B.AHS_FIXED_LENGTH + 1).toString('hex')).toBe(
      bytes(F.SCSI_COMMAND_BIDI)
        .subarray(BHS_LENGTH, BHS_LENGTH + 4)
        .toString('hex'),
    );
  });
});

describe('setters refuse what does not fit, and wrap serial numbers', () => {
  it('16-bit, 24-bit and LUN setters throw RangeError', () => {
    const b = Buffer.alloc(BHS_LENGTH);
    expect(() => B.setTsih(b, 0x1_0000)).toThrow(RangeError);
    expect(() => B.setCid(b, -1)).toThrow(RangeError);
    expect(() => B.setTime2Wait(b, 0x1_0000)).toThrow(RangeError);
    expect(() => B.setDataSegmentLength(b, 0x100_0000)).toThrow(RangeError);
    expect(() => B.setLun(b, 0x4000)).toThrow(RangeError);
    expect(b.every((x) => x === 0)).toBe(true);
  });

  it('32-bit setters store the value modulo 2^32 (serial numbers wrap, RFC 1982)', () => {
    const b = Buffer.alloc(BHS_LENGTH);
    B.setCmdSN(b, 2 ** 32 + 5);
    expect(B.getCmdSN(b)).toBe(5);
    B.setItt(b, -1);
    expect(B.getItt(b)).toBe(0xffff_ffff);
  });
});
