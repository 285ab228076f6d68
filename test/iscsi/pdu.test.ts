/**
 * PDU codec tests (RFC 7143 §11): for every PDU type, parse a hex fixture, generate the same bytes from the
 * object, and round-trip; then every ProtocolError check of decodePdu, the LUN field, and a property test over
 * random valid PDUs. Fixtures and their provenance: fixtures/pdus.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BHS_LENGTH, Opcode, OPCODE_NAMES } from '../../src/iscsi/constants.js';
import { ProtocolError } from '../../src/iscsi/errors.js';
import { encodePdu } from '../../src/iscsi/framer.js';
import { readLun } from '../../src/iscsi/bhs.js';
import { decodePdu, describePdu, encodeBhs, MAX_LUN, writeLun, type Pdu } from '../../src/iscsi/pdu.js';
import { PDU_ARBITRARIES, pduArb } from './fixtures/arbitraries.js';
import * as F from './fixtures/pdus.js';

const buf = (hex: string) => Buffer.from(hex, 'hex');
/** Text data: `key=value` pairs, each followed by a NUL (§6.1). */
const text = (...pairs: string[]) => Buffer.from(pairs.map((p) => `${p}\0`).join(''), 'latin1');

/** Splits a framed PDU (no digests) into header and data as the framer would, checking length and padding. */
function split(bytes: Buffer): { header: Buffer; data: Buffer } {
  const headerLen = BHS_LENGTH + bytes[4] * 4;
  const dsl = bytes.readUIntBE(5, 3);
  const pad = (4 - (dsl % 4)) % 4;
  expect(bytes.length, 'fixture length = header + data + padding').toBe(headerLen + dsl + pad);
  expect(
    bytes.subarray(headerLen + dsl).every((b) => b === 0),
    'padding is zero',
  ).toBe(true);
  return { header: bytes.subarray(0, headerLen), data: bytes.subarray(headerLen, headerLen + dsl) };
}

function parse(bytes: Buffer): Pdu {
  const { header, data } = split(bytes);
  return decodePdu(header, data);
}

/** The data segment of a fixture, for binary payloads whose bytes are not worth spelling out twice. */
function dataOf(hex: string): Buffer {
  return split(buf(hex)).data;
}

const SENSE_UNIT_ATTENTION_29_00 = buf('0012' + '700006000000000a00000000290000000000');
const SENSE_ILLEGAL_REQUEST_25_00 = buf('0012' + '700005000000000a00000000250000000000');
const BACKING_FILE_LBA0 = Buffer.from(
  Array.from({ length: 8 }, (_, i) => `${`mpiscsi fixture LBA 0 offset ${i * 64}`.padEnd(63, '.')}\n`).join(''),
  'latin1',
);

interface Case {
  name: string;
  hex: string;
  pdu: Pdu;
}

const CASES: Case[] = [
  // ---- Login (§11.12, §11.13)
  {
    name: 'Login Request, discovery (libiscsi)',
    hex: F.LOGIN_REQUEST_DISCOVERY,
    pdu: {
      opcode: Opcode.LOGIN_REQUEST,
      transit: true,
      cont: false,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionMin: 0,
      isid: 0x808a_1928_0000,
      tsih: 0,
      itt: 0x4dbd3b4a,
      cid: 0,
      cmdSN: 0x31873383,
      expStatSN: 1,
      data: text(
        'InitiatorName=iqn.2026-11.test:init',
        'SessionType=Discovery',
        'HeaderDigest=None',
        'DataDigest=None',
        'InitialR2T=No',
        'ImmediateData=Yes',
        'MaxBurstLength=262144',
        'FirstBurstLength=262144',
        'DefaultTime2Wait=2',
        'DefaultTime2Retain=0',
        'MaxOutstandingR2T=1',
        'ErrorRecoveryLevel=0',
        'IFMarker=No',
        'OFMarker=No',
        'MaxConnections=1',
        'MaxRecvDataSegmentLength=262144',
        'DataPDUInOrder=Yes',
        'DataSequenceInOrder=Yes',
      ),
    },
  },
  {
    name: 'Login Request with C, key cut mid-value (hand-built)',
    hex: F.LOGIN_REQUEST_CONTINUE,
    pdu: {
      opcode: Opcode.LOGIN_REQUEST,
      transit: false,
      cont: true,
      csg: 0,
      nsg: 0,
      versionMax: 0,
      versionMin: 0,
      isid: 0x0002_3d00_0001,
      tsih: 0,
      itt: 0xa04,
      cid: 1,
      cmdSN: 0x100,
      expStatSN: 0,
      data: Buffer.from('InitiatorName=iqn.2026-11.test:lo', 'latin1'),
    },
  },
  {
    name: 'Login Response 0/0, discovery (tgtd)',
    hex: F.LOGIN_RESPONSE_DISCOVERY,
    pdu: {
      opcode: Opcode.LOGIN_RESPONSE,
      transit: true,
      cont: false,
      csg: 1,
      nsg: 3,
      versionMax: 0,
      versionActive: 0,
      isid: 0x808a_1928_0000,
      tsih: 0x0100,
      itt: 0x4dbd3b4a,
      statSN: 0,
      expCmdSN: 0x31873383,
      maxCmdSN: 0x31873384,
      statusClass: 0,
      statusDetail: 0,
      data: text(
        'TargetPortalGroupTag=1',
        'HeaderDigest=None',
        'DataDigest=None',
        'InitialR2T=Yes',
        'ImmediateData=Yes',
        'MaxBurstLength=262144',
        'FirstBurstLength=65536',
        'DefaultTime2Wait=2',
        'DefaultTime2Retain=0',
        'MaxOutstandingR2T=1',
        'ErrorRecoveryLevel=0',
        'IFMarker=No',
        'OFMarker=No',
        'MaxConnections=1',
        'DataPDUInOrder=Yes',
        'DataSequenceInOrder=Yes',
      ),
    },
  },
  {
    name: 'Login Response 2/3 target not found (tgtd)',
    hex: F.LOGIN_RESPONSE_TARGET_NOT_FOUND,
    pdu: {
      opcode: Opcode.LOGIN_RESPONSE,
      transit: false,
      cont: false,
      csg: 1,
      nsg: 0,
      versionMax: 0,
      versionActive: 0,
      isid: 0,
      tsih: 0,
      itt: 0x4ba0215e,
      statSN: 0,
      expCmdSN: 0,
      maxCmdSN: 0,
      statusClass: 2,
      statusDetail: 3,
    },
  },
  // ---- Text (§11.10, §11.11)
  {
    name: 'Text Request SendTargets=All (libiscsi)',
    hex: F.TEXT_REQUEST_SENDTARGETS,
    pdu: {
      opcode: Opcode.TEXT_REQUEST,
      immediate: true,
      final: true,
      cont: false,
      itt: 0x4dbd3b4b,
      lun: 0,
      ttt: 0xffffffff,
      cmdSN: 0x31873383,
      expStatSN: 1,
      data: text('SendTargets=All'),
    },
  },
  {
    name: 'Text Response with targets (tgtd)',
    hex: F.TEXT_RESPONSE_SENDTARGETS,
    pdu: {
      opcode: Opcode.TEXT_RESPONSE,
      final: true,
      cont: false,
      itt: 0x4dbd3b4b,
      lun: 0,
      ttt: 0xffffffff,
      statSN: 1,
      expCmdSN: 0x31873383,
      maxCmdSN: 0x31873384,
      data: text('TargetName=iqn.2026-11.test:x', 'TargetAddress=127.0.0.1:13460,1'),
    },
  },
  // ---- Logout (§11.14, §11.15)
  {
    name: 'Logout Request, close session (libiscsi)',
    hex: F.LOGOUT_REQUEST,
    pdu: {
      opcode: Opcode.LOGOUT_REQUEST,
      immediate: true,
      reasonCode: 0,
      itt: 0x4dbd3b4c,
      cid: 0,
      cmdSN: 0x31873383,
      expStatSN: 2,
    },
  },
  {
    name: 'Logout Request, close connection (hand-built)',
    hex: F.LOGOUT_REQUEST_CLOSE_CONNECTION,
    pdu: {
      opcode: Opcode.LOGOUT_REQUEST,
      immediate: true,
      reasonCode: 1,
      itt: 0xa05,
      cid: 2,
      cmdSN: 0x101,
      expStatSN: 9,
    },
  },
  {
    name: 'Logout Response (tgtd)',
    hex: F.LOGOUT_RESPONSE,
    pdu: {
      opcode: Opcode.LOGOUT_RESPONSE,
      response: 0,
      itt: 0x4dbd3b4c,
      statSN: 2,
      expCmdSN: 0x31873383,
      maxCmdSN: 0x31873384,
      time2Wait: 0,
      time2Retain: 0,
    },
  },
  {
    name: 'Logout Response with Time2Wait/Time2Retain (hand-built)',
    hex: F.LOGOUT_RESPONSE_TIME2WAIT,
    pdu: {
      opcode: Opcode.LOGOUT_RESPONSE,
      response: 0,
      itt: 0xa05,
      statSN: 0xa,
      expCmdSN: 0x102,
      maxCmdSN: 0x141,
      time2Wait: 2,
      time2Retain: 20,
    },
  },
  // ---- SCSI Command (§11.3)
  {
    name: 'SCSI Command INQUIRY (libiscsi)',
    hex: F.SCSI_COMMAND_INQUIRY,
    pdu: {
      opcode: Opcode.SCSI_COMMAND,
      immediate: false,
      final: true,
      read: true,
      write: false,
      attr: 1,
      itt: 0x6226bbd8,
      lun: 1,
      expectedDataTransferLength: 66,
      cmdSN: 0x3e82d2a1,
      expStatSN: 4,
      cdb: buf('12000000420000000000000000000000'),
    },
  },
  {
    name: 'SCSI Command WRITE(10) with 8 KiB immediate data (libiscsi)',
    hex: F.SCSI_COMMAND_WRITE10_IMMEDIATE,
    pdu: {
      opcode: Opcode.SCSI_COMMAND,
      immediate: false,
      final: true,
      read: false,
      write: true,
      attr: 1,
      itt: 0x3d901114,
      lun: 1,
      expectedDataTransferLength: 17 * 512,
      cmdSN: 0x08b8b99b,
      expStatSN: 0x13,
      cdb: buf('2a000000000000001100000000000000'),
      data: Buffer.alloc(8192, 0xa6),
    },
  },
  {
    name: 'SCSI Command with a 32-byte CDB in an Extended CDB AHS (hand-built)',
    hex: F.SCSI_COMMAND_EXTENDED_CDB,
    pdu: {
      opcode: Opcode.SCSI_COMMAND,
      immediate: false,
      final: true,
      read: true,
      write: false,
      attr: 1,
      itt: 0xa01,
      lun: 1,
      expectedDataTransferLength: 4096,
      cmdSN: 0x10,
      expStatSN: 0x20,
      cdb: buf('7f000000000000180009000000000000' + '00001000000000000000000000000008'),
    },
  },
  {
    name: 'SCSI Command, bidirectional, with the read length AHS (hand-built)',
    hex: F.SCSI_COMMAND_BIDI,
    pdu: {
      opcode: Opcode.SCSI_COMMAND,
      immediate: false,
      final: true,
      read: true,
      write: true,
      attr: 1,
      itt: 0xa02,
      lun: 1,
      expectedDataTransferLength: 4096,
      cmdSN: 0x11,
      expStatSN: 0x20,
      cdb: buf('53000000002000000800000000000000'),
      bidiReadLength: 4096,
    },
  },
  // ---- SCSI Response (§11.4)
  {
    name: 'SCSI Response GOOD (tgtd)',
    hex: F.SCSI_RESPONSE_GOOD,
    pdu: {
      opcode: Opcode.SCSI_RESPONSE,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: false,
      underflow: false,
      response: 0,
      status: 0,
      itt: 0x3d901114,
      snackTag: 0,
      statSN: 0x13,
      expCmdSN: 0x08b8b99c,
      maxCmdSN: 0x08b8ba1c,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
    },
  },
  {
    name: 'SCSI Response CHECK CONDITION with sense UNIT ATTENTION 29/00 (tgtd)',
    hex: F.SCSI_RESPONSE_UNIT_ATTENTION,
    pdu: {
      opcode: Opcode.SCSI_RESPONSE,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: false,
      underflow: false,
      response: 0,
      status: 0x02,
      itt: 0x2009,
      snackTag: 0,
      statSN: 3,
      expCmdSN: 4,
      maxCmdSN: 0x84,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
      data: SENSE_UNIT_ATTENTION_29_00,
    },
  },
  {
    name: 'SCSI Response CHECK CONDITION with sense ILLEGAL REQUEST 25/00 (tgtd)',
    hex: F.SCSI_RESPONSE_LUN_NOT_SUPPORTED,
    pdu: {
      opcode: Opcode.SCSI_RESPONSE,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: false,
      underflow: false,
      response: 0,
      status: 0x02,
      itt: 0x2004,
      snackTag: 0,
      statSN: 5,
      expCmdSN: 6,
      maxCmdSN: 0x86,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 0,
      data: SENSE_ILLEGAL_REQUEST_25_00,
    },
  },
  {
    name: 'SCSI Response with O and a residual (tgtd)',
    hex: F.SCSI_RESPONSE_OVERFLOW,
    pdu: {
      opcode: Opcode.SCSI_RESPONSE,
      bidiOverflow: false,
      bidiUnderflow: false,
      overflow: true,
      underflow: false,
      response: 0,
      status: 0,
      itt: 0x70028ecb,
      snackTag: 0,
      statSN: 3,
      expCmdSN: 0x23057cf3,
      maxCmdSN: 0x23057d73,
      expDataSN: 0,
      bidiReadResidualCount: 0,
      residualCount: 512,
    },
  },
  {
    name: 'SCSI Response with u and U, bidirectional residuals (hand-built)',
    hex: F.SCSI_RESPONSE_BIDI_RESIDUALS,
    pdu: {
      opcode: Opcode.SCSI_RESPONSE,
      bidiOverflow: false,
      bidiUnderflow: true,
      overflow: false,
      underflow: true,
      response: 0,
      status: 0,
      itt: 0xa02,
      snackTag: 0,
      statSN: 0x21,
      expCmdSN: 0x12,
      maxCmdSN: 0x51,
      expDataSN: 2,
      bidiReadResidualCount: 512,
      residualCount: 256,
    },
  },
  // ---- Task Management (§11.5, §11.6)
  {
    name: 'Task Management Request ABORT TASK (libiscsi)',
    hex: F.TMF_REQUEST_ABORT_TASK,
    pdu: {
      opcode: Opcode.TASK_MGMT_REQUEST,
      immediate: true,
      function: 1,
      itt: 0x1415e8fa,
      lun: 1,
      referencedTaskTag: 0x1415e8f9,
      cmdSN: 0x17e356e2,
      expStatSN: 3,
      refCmdSN: 0x17e356e1,
      expDataSN: 0,
    },
  },
  {
    name: 'Task Management Request LOGICAL UNIT RESET (capture tool)',
    hex: F.TMF_REQUEST_LUN_RESET,
    pdu: {
      opcode: Opcode.TASK_MGMT_REQUEST,
      immediate: true,
      function: 5,
      itt: 0x2006,
      lun: 1,
      referencedTaskTag: 0xffffffff,
      cmdSN: 7,
      expStatSN: 7,
      refCmdSN: 0,
      expDataSN: 0,
    },
  },
  {
    name: 'Task Management Response, task does not exist (tgtd)',
    hex: F.TMF_RESPONSE_TASK_DOES_NOT_EXIST,
    pdu: {
      opcode: Opcode.TASK_MGMT_RESPONSE,
      response: 1,
      itt: 0x1415e8fa,
      statSN: 4,
      expCmdSN: 0x17e356e2,
      maxCmdSN: 0x17e35762,
    },
  },
  {
    name: 'Task Management Response, function complete (tgtd)',
    hex: F.TMF_RESPONSE_COMPLETE,
    pdu: { opcode: Opcode.TASK_MGMT_RESPONSE, response: 0, itt: 0x2006, statSN: 7, expCmdSN: 7, maxCmdSN: 0x87 },
  },
  // ---- Data-Out, Data-In (§11.7), R2T (§11.8)
  {
    name: 'R2T (tgtd)',
    hex: F.R2T,
    pdu: {
      opcode: Opcode.R2T,
      itt: 0x3d901114,
      lun: 1,
      ttt: 0x5074ddb6,
      statSN: 0x13,
      expCmdSN: 0x08b8b99c,
      maxCmdSN: 0x08b8ba1c,
      r2tSN: 0,
      bufferOffset: 8192,
      desiredDataTransferLength: 512,
    },
  },
  {
    name: 'Data-Out answering the R2T (libiscsi)',
    hex: F.DATA_OUT,
    pdu: {
      opcode: Opcode.SCSI_DATA_OUT,
      final: true,
      itt: 0x3d901114,
      lun: 1,
      ttt: 0x5074ddb6,
      expStatSN: 0x14,
      dataSN: 0,
      bufferOffset: 8192,
      data: Buffer.alloc(512, 0xa6),
    },
  },
  {
    name: 'Data-In with status, INQUIRY data with padding (tgtd)',
    hex: F.DATA_IN_INQUIRY,
    pdu: {
      opcode: Opcode.SCSI_DATA_IN,
      final: true,
      ack: false,
      overflow: false,
      underflow: false,
      statusPresent: true,
      status: 0,
      itt: 0x2002,
      lun: 0,
      ttt: 0xffffffff,
      statSN: 2,
      expCmdSN: 3,
      maxCmdSN: 0x83,
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 0,
      data: dataOf(F.DATA_IN_INQUIRY),
    },
  },
  {
    name: 'Data-In without status (tgtd)',
    hex: F.DATA_IN_NO_STATUS,
    pdu: {
      opcode: Opcode.SCSI_DATA_IN,
      final: false,
      ack: false,
      overflow: false,
      underflow: false,
      statusPresent: false,
      status: 0,
      itt: 0x2003,
      lun: 0,
      ttt: 0xffffffff,
      statSN: 0,
      expCmdSN: 5,
      maxCmdSN: 0x85,
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 0,
      data: BACKING_FILE_LBA0,
    },
  },
  {
    name: 'Data-In with status and O (tgtd)',
    hex: F.DATA_IN_OVERFLOW,
    pdu: {
      opcode: Opcode.SCSI_DATA_IN,
      final: true,
      ack: false,
      overflow: true,
      underflow: false,
      statusPresent: true,
      status: 0,
      itt: 0x70028ecd,
      lun: 0,
      ttt: 0xffffffff,
      statSN: 5,
      expCmdSN: 0x23057cf5,
      maxCmdSN: 0x23057d75,
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 312,
      data: Buffer.alloc(200),
    },
  },
  {
    name: 'Data-In with status and U (tgtd)',
    hex: F.DATA_IN_UNDERFLOW,
    pdu: {
      opcode: Opcode.SCSI_DATA_IN,
      final: true,
      ack: false,
      overflow: false,
      underflow: true,
      statusPresent: true,
      status: 0,
      itt: 0x70028ecf,
      lun: 0,
      ttt: 0xffffffff,
      statSN: 7,
      expCmdSN: 0x23057cf7,
      maxCmdSN: 0x23057d77,
      dataSN: 0,
      bufferOffset: 0,
      residualCount: 16376,
      data: Buffer.alloc(8),
    },
  },
  // ---- NOP (§11.18, §11.19)
  {
    name: 'NOP-Out ping with data and padding (capture tool)',
    hex: F.NOP_OUT_PING,
    pdu: {
      opcode: Opcode.NOP_OUT,
      immediate: false,
      itt: 0x2001,
      lun: 0,
      ttt: 0xffffffff,
      cmdSN: 1,
      expStatSN: 1,
      data: Buffer.from('mpiscsi-ping!', 'latin1'),
    },
  },
  {
    name: 'NOP-In echoing the ping (tgtd)',
    hex: F.NOP_IN_ECHO,
    pdu: {
      opcode: Opcode.NOP_IN,
      itt: 0x2001,
      lun: 0,
      ttt: 0xffffffff,
      statSN: 1,
      expCmdSN: 2,
      maxCmdSN: 0x82,
      data: Buffer.from('mpiscsi-ping!', 'latin1'),
    },
  },
  {
    name: 'NOP-In, target-initiated ping (tgtd nop_interval)',
    hex: F.NOP_IN_TARGET_PING,
    pdu: { opcode: Opcode.NOP_IN, itt: 0xffffffff, lun: 0, ttt: 1, statSN: 1, expCmdSN: 1, maxCmdSN: 0x81 },
  },
  {
    name: 'NOP-Out answering the target ping (capture tool)',
    hex: F.NOP_OUT_PING_ANSWER,
    pdu: { opcode: Opcode.NOP_OUT, immediate: true, itt: 0xffffffff, lun: 0, ttt: 1, cmdSN: 1, expStatSN: 1 },
  },
  // ---- SNACK (§11.16), Async Message (§11.9), Reject (§11.17)
  {
    name: 'SNACK Data/R2T (hand-built)',
    hex: F.SNACK_DATA,
    pdu: {
      opcode: Opcode.SNACK_REQUEST,
      type: 0,
      itt: 0xa03,
      lun: 1,
      ttt: 0xffffffff,
      expStatSN: 0x22,
      begRun: 2,
      runLength: 3,
    },
  },
  {
    name: 'Async Message, target requests logout (hand-built)',
    hex: F.ASYNC_MESSAGE_LOGOUT_REQUEST,
    pdu: {
      opcode: Opcode.ASYNC_MESSAGE,
      itt: 0xffffffff,
      lun: 0,
      statSN: 0x30,
      expCmdSN: 0x40,
      maxCmdSN: 0x80,
      asyncEvent: 1,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 10,
    },
  },
  {
    name: 'Async Message, SCSI event with sense data (hand-built)',
    hex: F.ASYNC_MESSAGE_SCSI_EVENT,
    pdu: {
      opcode: Opcode.ASYNC_MESSAGE,
      itt: 0xffffffff,
      lun: 1,
      statSN: 0x31,
      expCmdSN: 0x41,
      maxCmdSN: 0x81,
      asyncEvent: 0,
      asyncVCode: 0,
      parameter1: 0,
      parameter2: 0,
      parameter3: 0,
      data: buf('0012' + '700006000000000a000000002a0900000000'),
    },
  },
  {
    name: 'Reject, protocol error, carrying the rejected BHS (hand-built)',
    hex: F.REJECT_PROTOCOL_ERROR,
    pdu: {
      opcode: Opcode.REJECT,
      reason: 0x04,
      itt: 0xffffffff,
      statSN: 9,
      expCmdSN: 7,
      maxCmdSN: 0x87,
      dataSN: 0,
      data: buf(F.NOP_OUT_UNKNOWN_TTT),
    },
  },
];

describe('PDU fixtures: parse, generate, round-trip', () => {
  it('covers every opcode of RFC 7143 §11', () => {
    const covered = new Set(CASES.map((c) => c.pdu.opcode));
    expect([...covered].sort((a, b) => a - b)).toEqual(Object.values(Opcode).sort((a, b) => a - b));
  });

  describe.each(CASES)('$name', ({ hex, pdu }) => {
    it('parses the fixture bytes', () => {
      expect(parse(buf(hex))).toEqual(pdu);
    });

    it('generates the fixture bytes (header, data, padding)', () => {
      expect(encodePdu(pdu).toString('hex')).toBe(hex);
    });

    it('round-trips', () => {
      expect(parse(encodePdu(pdu))).toEqual(pdu);
    });
  });

  it('the captured INQUIRY data is tgtd standard INQUIRY data (a real payload, not a placeholder)', () => {
    const data = dataOf(F.DATA_IN_INQUIRY);
    expect(data[0] & 0x1f).toBe(0); // direct-access block device
    expect(data.subarray(8, 16).toString('latin1')).toBe('IET     ');
    expect(data.subarray(16, 32).toString('latin1')).toBe('VIRTUAL-DISK    ');
  });

  it('decodes the captured NOP-Out that a Reject would carry', () => {
    expect(parse(buf(F.NOP_OUT_UNKNOWN_TTT))).toEqual({
      opcode: Opcode.NOP_OUT,
      immediate: true,
      itt: 0x200a,
      lun: 0,
      ttt: 0x1234,
      cmdSN: 7,
      expStatSN: 8,
    });
  });

  it('encodeBhs returns BHS + AHS only; the data segment is not part of it', () => {
    const cmd = CASES.find((c) => c.hex === F.SCSI_COMMAND_EXTENDED_CDB)!.pdu;
    expect(encodeBhs(cmd).length).toBe(BHS_LENGTH + 20);
    const write = CASES.find((c) => c.hex === F.SCSI_COMMAND_WRITE10_IMMEDIATE)!.pdu;
    const bhs = encodeBhs(write);
    expect(bhs.length).toBe(BHS_LENGTH);
    expect(bhs.readUIntBE(5, 3)).toBe(8192);
  });

  it('describePdu names the opcode and ITT', () => {
    expect(describePdu(parse(buf(F.DATA_IN_INQUIRY)))).toBe('SCSI_DATA_IN itt=0x2002');
  });
});

// -----------------------------------------------------------------------------------------------------------
// Malformed input: every ProtocolError check in decodePdu names the opcode and the offset of the bad field.

/** A fixture's header and data as mutable copies. */
function parts(hex: string): { header: Buffer; data: Buffer } {
  const { header, data } = split(buf(hex));
  return { header: Buffer.from(header), data: Buffer.from(data) };
}

function expectProtocolError(fn: () => unknown, opcode: number | undefined, offset: number, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  const err = caught as ProtocolError;
  expect(err.message).toMatch(message);
  expect(err.opcode).toBe(opcode);
  expect(err.offset).toBe(offset);
  if (opcode !== undefined) expect(err.message).toContain(`opcode 0x${opcode.toString(16).padStart(2, '0')}, offset ${offset}`);
}

describe('decodePdu rejects malformed PDUs with ProtocolError(opcode, offset)', () => {
  it('Login Request and Response with both T and C (§11.12.2)', () => {
    for (const hex of [F.LOGIN_REQUEST_DISCOVERY, F.LOGIN_RESPONSE_DISCOVERY]) {
      const { header, data } = parts(hex);
      header[1] |= 0x40;
      expectProtocolError(() => decodePdu(header, data), header[0] & 0x3f, 1, /both T and C/);
    }
  });

  it('Login with the reserved stage 2 as CSG, or as NSG with T', () => {
    const a = parts(F.LOGIN_RESPONSE_DISCOVERY);
    a.header[1] = 0x80 | (2 << 2) | 3;
    expectProtocolError(() => decodePdu(a.header, a.data), 0x23, 1, /reserved login stage/);
    const b = parts(F.LOGIN_REQUEST_DISCOVERY);
    b.header[1] = 0x80 | (1 << 2) | 2;
    expectProtocolError(() => decodePdu(b.header, b.data), 0x03, 1, /reserved login stage/);
  });

  it('Text Request and Response with both F and C (§11.10.2)', () => {
    for (const hex of [F.TEXT_REQUEST_SENDTARGETS, F.TEXT_RESPONSE_SENDTARGETS]) {
      const { header, data } = parts(hex);
      header[1] = 0xc0;
      expectProtocolError(() => decodePdu(header, data), header[0] & 0x3f, 1, /both F and C/);
    }
  });

  it('Data-In with S but not F (§11.7.4)', () => {
    const { header, data } = parts(F.DATA_IN_INQUIRY);
    header[1] = 0x01;
    expectProtocolError(() => decodePdu(header, data), 0x25, 1, /S bit but no F bit/);
  });

  it('Data-In with both O and U', () => {
    const { header, data } = parts(F.DATA_IN_OVERFLOW);
    header[1] |= 0x02;
    expectProtocolError(() => decodePdu(header, data), 0x25, 1, /both O and U/);
  });

  it('SCSI Response with both O and U, or both o and u (§11.4.1)', () => {
    const a = parts(F.SCSI_RESPONSE_OVERFLOW);
    a.header[1] = 0x80 | 0x04 | 0x02;
    expectProtocolError(() => decodePdu(a.header, a.data), 0x21, 1, /both O and U/);
    const b = parts(F.SCSI_RESPONSE_BIDI_RESIDUALS);
    b.header[1] = 0x80 | 0x10 | 0x08;
    expectProtocolError(() => decodePdu(b.header, b.data), 0x21, 1, /both o and u/);
  });

  it('SCSI Response whose SenseLength runs past the data segment (§11.4.7)', () => {
    const { header, data } = parts(F.SCSI_RESPONSE_UNIT_ATTENTION);
    data.writeUInt16BE(data.length - 1, 0); // 19 > 18 bytes of sense
    expectProtocolError(() => decodePdu(header, data), 0x21, BHS_LENGTH, /SenseLength 19 exceeds/);
    // The limit itself is fine: SenseLength = data length - 2.
    data.writeUInt16BE(data.length - 2, 0);
    expect(() => decodePdu(header, data)).not.toThrow();
  });

  it('SCSI Response with a 1-byte data segment (no room for SenseLength)', () => {
    const { header } = parts(F.SCSI_RESPONSE_GOOD);
    header.writeUIntBE(1, 5, 3);
    expectProtocolError(() => decodePdu(header, Buffer.alloc(1)), 0x21, BHS_LENGTH, /shorter than SenseLength/);
  });

  it('R2T with Desired Data Transfer Length 0 (§11.8.4)', () => {
    const { header } = parts(F.R2T);
    header.writeUInt32BE(0, 44);
    expectProtocolError(() => decodePdu(header), 0x31, 44, /Desired Data Transfer Length 0/);
  });

  it('Reject whose data segment is not a whole BHS (§11.17)', () => {
    const { header, data } = parts(F.REJECT_PROTOCOL_ERROR);
    header.writeUIntBE(47, 5, 3);
    expectProtocolError(() => decodePdu(header, data.subarray(0, 47)), 0x3f, 5, /47 bytes, not a whole BHS/);
    header.writeUIntBE(0, 5, 3);
    expectProtocolError(() => decodePdu(header), 0x3f, 5, /0 bytes, not a whole BHS/);
  });

  it('every opcode that RFC 7143 does not define', () => {
    const known = new Set<number>(Object.values(Opcode));
    const { header } = parts(F.NOP_IN_TARGET_PING);
    for (let op = 0; op < 64; op++) {
      if (known.has(op)) continue;
      header[0] = op;
      expectProtocolError(() => decodePdu(header), op, 0, /unknown opcode/);
      header[0] = 0x40 | op; // the I bit does not make it known
      expectProtocolError(() => decodePdu(header), op, 0, /unknown opcode/);
    }
  });

  it('unknown AHS type in a SCSI Command (§11.2.2.1)', () => {
    const { header } = parts(F.SCSI_COMMAND_BIDI);
    header[BHS_LENGTH + 2] = 0x3f;
    expectProtocolError(() => decodePdu(header), 0x01, BHS_LENGTH + 2, /unknown AHS type 63/);
  });

  it('AHS whose AHSLength runs past TotalAHSLength', () => {
    const { header } = parts(F.SCSI_COMMAND_EXTENDED_CDB);
    header.writeUInt16BE(18, BHS_LENGTH); // 3 + 18 > 20
    expectProtocolError(() => decodePdu(header), 0x01, BHS_LENGTH, /runs past TotalAHSLength/);
  });

  it('Bidirectional Read Length AHS of the wrong length, and an empty Extended CDB AHS (§11.2.2.3-4)', () => {
    const a = parts(F.SCSI_COMMAND_BIDI);
    a.header.writeUInt16BE(4, BHS_LENGTH);
    expectProtocolError(() => decodePdu(a.header), 0x01, BHS_LENGTH, /Read Length AHS of length 4/);
    const b = parts(F.SCSI_COMMAND_BIDI);
    b.header.writeUInt16BE(0, BHS_LENGTH);
    b.header[BHS_LENGTH + 2] = 1;
    expectProtocolError(() => decodePdu(b.header), 0x01, BHS_LENGTH, /empty Extended CDB AHS/);
  });

  it('DataSegmentLength that disagrees with the data segment handed in', () => {
    const { header, data } = parts(F.NOP_IN_ECHO);
    expectProtocolError(() => decodePdu(header, data.subarray(0, 12)), 0x20, 5, /12 bytes, DataSegmentLength says 13/);
    expectProtocolError(() => decodePdu(header), 0x20, 5, /0 bytes, DataSegmentLength says 13/);
  });

  it('header whose length disagrees with TotalAHSLength, and a short BHS', () => {
    const { header } = parts(F.SCSI_COMMAND_EXTENDED_CDB);
    expectProtocolError(() => decodePdu(header.subarray(0, BHS_LENGTH)), 0x01, 4, /TotalAHSLength says 68/);
    expectProtocolError(() => decodePdu(header.subarray(0, 47)), undefined, 0, /short BHS: 47 bytes/);
  });

  it('property: random headers either decode or throw ProtocolError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: BHS_LENGTH, maxLength: BHS_LENGTH + 64 }), fc.uint8Array({ maxLength: 80 }), (h, d) => {
        const header = Buffer.from(h);
        try {
          decodePdu(header, Buffer.from(d));
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// -----------------------------------------------------------------------------------------------------------
// LUN field (SAM-5 §4.7: single-level peripheral device addressing below 256, flat space above)

describe('LUN field encoding', () => {
  const lunBytes = (lun: number) => {
    const b = Buffer.alloc(8, 0xee);
    writeLun(b, 0, lun);
    return b.toString('hex');
  };

  it('peripheral device addressing for 0..255: method 00, bus 0, LUN in byte 1, rest zero', () => {
    expect(lunBytes(0)).toBe('0000000000000000');
    expect(lunBytes(1)).toBe('0001000000000000');
    expect(lunBytes(255)).toBe('00ff000000000000');
  });

  it('flat space addressing for 256..16383: method 01, 14-bit LUN', () => {
    expect(lunBytes(256)).toBe('4100000000000000');
    expect(lunBytes(300)).toBe('412c000000000000');
    expect(lunBytes(MAX_LUN)).toBe('7fff000000000000');
  });

  it('refuses LUNs it cannot encode', () => {
    for (const bad of [-1, MAX_LUN + 1, 1.5, Number.NaN]) expect(() => lunBytes(bad)).toThrow(RangeError);
  });

  it('reads back every encodable LUN, and flat addressing of small LUNs', () => {
    const b = Buffer.alloc(8);
    for (let lun = 0; lun <= MAX_LUN; lun++) {
      writeLun(b, 0, lun);
      if (readLun(b, 0) !== lun) expect.fail(`LUN ${lun} read back as ${readLun(b, 0)}`);
    }
    expect(readLun(buf('4005000000000000'), 0)).toBe(5);
  });

  it('keeps the first level raw for other addressing methods', () => {
    expect(readLun(buf('8123000000000000'), 0)).toBe(0x8123);
    expect(readLun(buf('c001000000000000'), 0)).toBe(0xc001);
  });

  it('is where the RFC puts it in the captured libiscsi command (bytes 8-15), and in commands we encode', () => {
    expect(buf(F.SCSI_COMMAND_INQUIRY).subarray(8, 16).toString('hex')).toBe('0001000000000000');
    const pdu = { ...(parse(buf(F.SCSI_COMMAND_INQUIRY)) as Extract<Pdu, { opcode: 0x01 }>), lun: 300 };
    expect(encodeBhs(pdu).subarray(8, 16).toString('hex')).toBe('412c000000000000');
    expect(parse(encodePdu(pdu))).toMatchObject({ lun: 300 });
  });
});

// -----------------------------------------------------------------------------------------------------------

describe('property: random valid PDUs round-trip', () => {
  it.each(Object.entries(PDU_ARBITRARIES).map(([op, arb]) => ({ name: OPCODE_NAMES[Number(op)], arb })))('$name', ({ arb }) => {
    fc.assert(
      fc.property(arb, (pdu) => {
        expect(parse(encodePdu(pdu))).toEqual(pdu);
      }),
      { numRuns: 200 },
    );
  });

  it('re-encoding a decoded PDU gives the same bytes', () => {
    fc.assert(
      fc.property(pduArb, (pdu) => {
        const bytes = encodePdu(pdu);
        expect(encodePdu(parse(bytes)).equals(bytes)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
