/**
 * The Basic Header Segment (RFC 7143 §11.2.1) and the AHS header (§11.2.2) as named accessors over a Buffer:
 * each field's offset is written once, as a constant beside the section that defines it (listed in `BhsOffset`), with
 * one get and one set per field, so that pdu.ts, framer.ts and the session never read or write a header byte by
 * number. Over 500 lines because it is one short pair of functions for each of the ~45 fields, nothing more.
 *
 * The accessors are plain functions over a Buffer that starts at the BHS: no objects, no allocation (except
 * `getCdb`, a view), so V8 inlines them on the per-PDU path and they cost what the bare `readUInt32BE` did.
 * Several fields share an offset: the BHS layout is common, its opcode-specific bytes are not (bytes 20-23 are
 * the TTT of a Data-In, the Expected Data Transfer Length of a SCSI Command, the CID of a Login Request). Each
 * keeps its RFC name so a call site says which field it means. Integers are big-endian (§11.1); 32-bit setters
 * take any number and store it modulo 2^32, as serial numbers wrap (RFC 1982); 16-bit and 24-bit setters throw
 * RangeError for values that do not fit; 8-bit setters keep the low byte, as a Uint8Array store does.
 */
import { BHS_LENGTH } from './constants.js';
import { writeLun } from '../scsi/report-luns.js';

// Byte offsets of the header fields, each once, with the section that defines it (§-references are to RFC 7143).
// Module constants rather than properties of the table below: a constant is one bytecode in an accessor, a
// property load several, and decodePdu inlines some 40 accessors within TurboFan's inlining budget (with
// property loads it ran out, and decodePdu measured ~10% slower than the hand-written reads it replaced).

// ---- Common to every PDU (§11.2.1)
/** Byte 0: bit 6 I (immediate delivery), bits 0-5 the opcode; bit 7 reserved. */
const OPCODE = 0;
/** Byte 1: bit 7 F (final) for most opcodes, the other bits opcode-specific (see `Flag`). */
const FLAGS = 1;
/** TotalAHSLength, 1 byte: the AHS length in 4-byte words. */
const TOTAL_AHS_LENGTH = 4;
/** DataSegmentLength, 3 bytes: the data segment in bytes, without padding. */
const DATA_SEGMENT_LENGTH = 5;
/** LUN, 8 bytes (§11.2.1; SAM-5 §4.7 addressing), where the opcode has one. */
const LUN = 8;
/** Initiator Task Tag, 4 bytes. */
const ITT = 16;
/** Where the opcode-specific fields start; the first additional header segment starts at BHS_LENGTH. */
const OPCODE_SPECIFIC = 20;

// ---- Byte 2 and 3, opcode-specific
/** Version-max, Login Request and Response (§11.12, §11.13). */
const VERSION_MAX = 2;
/** Response: SCSI Response (§11.4), Task Management Response (§11.6.1), Logout Response (§11.15.1). */
const RESPONSE = 2;
/** Reason, Reject (§11.17.1). */
const REASON = 2;
/** Version-min, Login Request (§11.12). */
const VERSION_MIN = 3;
/** Version-active, Login Response (§11.13). */
const VERSION_ACTIVE = 3;
/** Status: SCSI Response (§11.4), Data-In with the S bit (§11.7.4). */
const STATUS = 3;

// ---- Bytes 8-15 of the Login PDUs, which carry no LUN (§11.12)
/** ISID, 6 bytes (§11.12.5). */
const ISID = 8;
/** TSIH, 2 bytes (§11.12.6). */
const TSIH = 14;

// ---- Bytes 20-23
/** Target Transfer Tag: NOP-Out/In, Text, Data-Out/In, R2T, SNACK (§11.18, §11.19, §11.10, §11.7, §11.8, §11.16). */
const TTT = 20;
/** Expected Data Transfer Length, SCSI Command (§11.3). */
const EXPECTED_DATA_TRANSFER_LENGTH = 20;
/** Referenced Task Tag, Task Management Request (§11.5). */
const REFERENCED_TASK_TAG = 20;
/** SNACK Tag, SCSI Response (§11.4). */
const SNACK_TAG = 20;
/** CID, 2 bytes: Login Request (§11.12), Logout Request (§11.14). */
const CID = 20;

// ---- Bytes 24-35: the sequence numbers (§4.2.2)
/** CmdSN, requests. */
const CMD_SN = 24;
/** StatSN, responses. */
const STAT_SN = 24;
/** ExpStatSN, requests. */
const EXP_STAT_SN = 28;
/** ExpCmdSN, responses. */
const EXP_CMD_SN = 28;
/** MaxCmdSN, responses. */
const MAX_CMD_SN = 32;
/** RefCmdSN, Task Management Request (§11.5). */
const REF_CMD_SN = 32;
/** CDB, 16 bytes, SCSI Command (§11.3.5); longer CDBs continue in an Extended CDB AHS (§11.2.2.3). */
const CDB = 32;

// ---- Bytes 36-47
/** DataSN: Data-Out/In (§11.7.5); DataSN/R2TSN of a Reject (§11.17.2). */
const DATA_SN = 36;
/** ExpDataSN: SCSI Response (§11.4), Task Management Request (§11.5). */
const EXP_DATA_SN = 36;
/** R2TSN, R2T (§11.8). */
const R2T_SN = 36;
/** Status-Class, 1 byte, Login Response (§11.13.5). */
const STATUS_CLASS = 36;
/** Status-Detail, 1 byte, Login Response (§11.13.5). */
const STATUS_DETAIL = 37;
/** AsyncEvent, 1 byte, Asynchronous Message (§11.9.1). */
const ASYNC_EVENT = 36;
/** AsyncVCode, 1 byte, Asynchronous Message (§11.9). */
const ASYNC_V_CODE = 37;
/** Parameter1, 2 bytes, Asynchronous Message (§11.9.1). */
const PARAMETER1 = 38;
/** Buffer Offset: Data-Out/In (§11.7.4), R2T (§11.8). */
const BUFFER_OFFSET = 40;
/** Bidirectional Read Residual Count, SCSI Response (§11.4). */
const BIDI_READ_RESIDUAL_COUNT = 40;
/** BegRun, SNACK Request (§11.16). */
const BEG_RUN = 40;
/** Time2Wait, 2 bytes, Logout Response (§11.15). */
const TIME2WAIT = 40;
/** Parameter2, 2 bytes, Asynchronous Message (§11.9.1). */
const PARAMETER2 = 40;
/** Time2Retain, 2 bytes, Logout Response (§11.15). */
const TIME2RETAIN = 42;
/** Parameter3, 2 bytes, Asynchronous Message (§11.9.1). */
const PARAMETER3 = 42;
/** Residual Count: SCSI Response (§11.4), Data-In (§11.7). */
const RESIDUAL_COUNT = 44;
/** Desired Data Transfer Length, R2T (§11.8.4). */
const DESIRED_DATA_TRANSFER_LENGTH = 44;
/** RunLength, SNACK Request (§11.16). */
const RUN_LENGTH = 44;

/** Every offset above by its RFC name, for error reports and tests. */
export const BhsOffset = {
  OPCODE,
  FLAGS,
  TOTAL_AHS_LENGTH,
  DATA_SEGMENT_LENGTH,
  LUN,
  ITT,
  OPCODE_SPECIFIC,
  VERSION_MAX,
  RESPONSE,
  REASON,
  VERSION_MIN,
  VERSION_ACTIVE,
  STATUS,
  ISID,
  TSIH,
  TTT,
  EXPECTED_DATA_TRANSFER_LENGTH,
  REFERENCED_TASK_TAG,
  SNACK_TAG,
  CID,
  CMD_SN,
  STAT_SN,
  EXP_STAT_SN,
  EXP_CMD_SN,
  MAX_CMD_SN,
  REF_CMD_SN,
  CDB,
  DATA_SN,
  EXP_DATA_SN,
  R2T_SN,
  STATUS_CLASS,
  STATUS_DETAIL,
  ASYNC_EVENT,
  ASYNC_V_CODE,
  PARAMETER1,
  BUFFER_OFFSET,
  BIDI_READ_RESIDUAL_COUNT,
  BEG_RUN,
  TIME2WAIT,
  PARAMETER2,
  TIME2RETAIN,
  PARAMETER3,
  RESIDUAL_COUNT,
  DESIRED_DATA_TRANSFER_LENGTH,
  RUN_LENGTH,
} as const;

/** The CDB bytes that fit in the BHS (§11.3.5). */
export const BHS_CDB_LENGTH = 16;

/**
 * Bits of byte 0 and byte 1. Byte 1's bits mean different things per opcode; each name says whose bit it is.
 * Multi-bit fields are a mask (and a shift where the field does not start at bit 0).
 */
export const Flag = {
  /** Byte 0: I, immediate delivery (§11.2.1). */
  IMMEDIATE: 0x40,
  /** Byte 0: the opcode (§11.2.1). */
  OPCODE_MASK: 0x3f,
  /** Byte 1: F, final PDU of a sequence (§11.2.1); reserved-as-1 in the PDUs that are always final. */
  FINAL: 0x80,
  /** SCSI Command R (§11.3.1). */
  READ: 0x40,
  /** SCSI Command W (§11.3.1). */
  WRITE: 0x20,
  /** SCSI Command ATTR, the task attribute (§11.3.1). */
  ATTR_MASK: 0x07,
  /** Login T, transit to the next stage (§11.12). */
  TRANSIT: 0x80,
  /** Login and Text C, continue: the text goes on in the next PDU (§11.12.2, §11.10.2). */
  CONTINUE: 0x40,
  /** Login CSG, current stage, bits 2-3 (§11.12.3). */
  CSG_MASK: 0x0c,
  CSG_SHIFT: 2,
  /** Login NSG, next stage, bits 0-1 (§11.12.3). */
  NSG_MASK: 0x03,
  /** Task Management Function, byte 1 below F (§11.5.1). */
  FUNCTION_MASK: 0x7f,
  /** Logout Reason Code, byte 1 below F (§11.14.1). */
  REASON_CODE_MASK: 0x7f,
  /** SNACK Type (§11.16.1). */
  SNACK_TYPE_MASK: 0x0f,
  /** Data-In A, acknowledge (§11.7). */
  ACK: 0x40,
  /** SCSI Response o, bidirectional read residual overflow (§11.4.1). */
  BIDI_OVERFLOW: 0x10,
  /** SCSI Response u, bidirectional read residual underflow (§11.4.1). */
  BIDI_UNDERFLOW: 0x08,
  /** SCSI Response and Data-In O, residual overflow (§11.4.1, §11.7). */
  OVERFLOW: 0x04,
  /** SCSI Response and Data-In U, residual underflow (§11.4.1, §11.7). */
  UNDERFLOW: 0x02,
  /** Data-In S, status present (§11.7.4). */
  STATUS_PRESENT: 0x01,
} as const;

// ---------------------------------------------------------------------------------------------------------
// Byte 0 and byte 1 (§11.2.1)

export function getOpcode(b: Buffer): number {
  return b[OPCODE] & Flag.OPCODE_MASK;
}

/** Writes the whole of byte 0: the opcode and the I bit (bit 7 is reserved, 0), in one store. */
export function setOpcode(b: Buffer, opcode: number, immediate = false): void {
  b[OPCODE] = (immediate ? Flag.IMMEDIATE : 0) | opcode;
}

export function getImmediate(b: Buffer): boolean {
  return (b[OPCODE] & Flag.IMMEDIATE) !== 0;
}

export function setImmediate(b: Buffer, immediate: boolean): void {
  b[OPCODE] = immediate ? b[OPCODE] | Flag.IMMEDIATE : b[OPCODE] & ~Flag.IMMEDIATE;
}

/** Byte 1 whole; test its bits with `Flag`. */
export function getFlags(b: Buffer): number {
  return b[FLAGS];
}

export function setFlags(b: Buffer, flags: number): void {
  b[FLAGS] = flags;
}

export function getFinal(b: Buffer): boolean {
  return (b[FLAGS] & Flag.FINAL) !== 0;
}

export function setFinal(b: Buffer, final: boolean): void {
  b[FLAGS] = final ? b[FLAGS] | Flag.FINAL : b[FLAGS] & ~Flag.FINAL;
}

// ---------------------------------------------------------------------------------------------------------
// Lengths (§11.2.1)

/** TotalAHSLength as on the wire: 4-byte words. */
export function getTotalAhsLength(b: Buffer): number {
  return b[TOTAL_AHS_LENGTH];
}

export function setTotalAhsLength(b: Buffer, words: number): void {
  b[TOTAL_AHS_LENGTH] = words;
}

/** BHS plus AHS in bytes: where the header digest (or the data segment) starts. */
export function getHeaderLength(b: Buffer): number {
  return BHS_LENGTH + b[TOTAL_AHS_LENGTH] * 4;
}

export function getDataSegmentLength(b: Buffer): number {
  return b.readUIntBE(DATA_SEGMENT_LENGTH, 3);
}

export function setDataSegmentLength(b: Buffer, length: number): void {
  b.writeUIntBE(length, DATA_SEGMENT_LENGTH, 3);
}

// ---------------------------------------------------------------------------------------------------------
// LUN (§11.2.1, SAM-5 §4.7)

/**
 * Reads a LUN field at `offset`: single-level peripheral (< 256) or flat space (< 16384) addressing. Lenient on
 * purpose: a target's PDU with an unusual LUN structure must not break framing, so other addressing methods
 * (which never answer our own commands) come back as the first level raw. The encoder, writeLun, is strict.
 */
export function readLun(buf: Buffer, offset: number): number {
  const method = buf[offset] >> 6;
  if (method === 0 || method === 1) return ((buf[offset] & 0x3f) << 8) | buf[offset + 1];
  return (buf[offset] << 8) | buf[offset + 1];
}

export function getLun(b: Buffer): number {
  return readLun(b, LUN);
}

/** RangeError for a LUN above 16383 (see writeLun). */
export function setLun(b: Buffer, lun: number): void {
  writeLun(b, LUN, lun);
}

// ---------------------------------------------------------------------------------------------------------
// 32-bit fields: tags, sequence numbers, lengths and offsets

export function getItt(b: Buffer): number {
  return b.readUInt32BE(ITT);
}
export function setItt(b: Buffer, itt: number): void {
  b.writeUInt32BE(itt >>> 0, ITT);
}

export function getTtt(b: Buffer): number {
  return b.readUInt32BE(TTT);
}
export function setTtt(b: Buffer, ttt: number): void {
  b.writeUInt32BE(ttt >>> 0, TTT);
}

export function getExpectedDataTransferLength(b: Buffer): number {
  return b.readUInt32BE(EXPECTED_DATA_TRANSFER_LENGTH);
}
export function setExpectedDataTransferLength(b: Buffer, length: number): void {
  b.writeUInt32BE(length >>> 0, EXPECTED_DATA_TRANSFER_LENGTH);
}

export function getReferencedTaskTag(b: Buffer): number {
  return b.readUInt32BE(REFERENCED_TASK_TAG);
}
export function setReferencedTaskTag(b: Buffer, tag: number): void {
  b.writeUInt32BE(tag >>> 0, REFERENCED_TASK_TAG);
}

export function getSnackTag(b: Buffer): number {
  return b.readUInt32BE(SNACK_TAG);
}
export function setSnackTag(b: Buffer, tag: number): void {
  b.writeUInt32BE(tag >>> 0, SNACK_TAG);
}

export function getCmdSN(b: Buffer): number {
  return b.readUInt32BE(CMD_SN);
}
export function setCmdSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, CMD_SN);
}

export function getStatSN(b: Buffer): number {
  return b.readUInt32BE(STAT_SN);
}
export function setStatSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, STAT_SN);
}

export function getExpStatSN(b: Buffer): number {
  return b.readUInt32BE(EXP_STAT_SN);
}
export function setExpStatSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, EXP_STAT_SN);
}

export function getExpCmdSN(b: Buffer): number {
  return b.readUInt32BE(EXP_CMD_SN);
}
export function setExpCmdSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, EXP_CMD_SN);
}

export function getMaxCmdSN(b: Buffer): number {
  return b.readUInt32BE(MAX_CMD_SN);
}
export function setMaxCmdSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, MAX_CMD_SN);
}

export function getRefCmdSN(b: Buffer): number {
  return b.readUInt32BE(REF_CMD_SN);
}
export function setRefCmdSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, REF_CMD_SN);
}

export function getDataSN(b: Buffer): number {
  return b.readUInt32BE(DATA_SN);
}
export function setDataSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, DATA_SN);
}

export function getExpDataSN(b: Buffer): number {
  return b.readUInt32BE(EXP_DATA_SN);
}
export function setExpDataSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, EXP_DATA_SN);
}

export function getR2TSN(b: Buffer): number {
  return b.readUInt32BE(R2T_SN);
}
export function setR2TSN(b: Buffer, sn: number): void {
  b.writeUInt32BE(sn >>> 0, R2T_SN);
}

export function getBufferOffset(b: Buffer): number {
  return b.readUInt32BE(BUFFER_OFFSET);
}
export function setBufferOffset(b: Buffer, offset: number): void {
  b.writeUInt32BE(offset >>> 0, BUFFER_OFFSET);
}

export function getBidiReadResidualCount(b: Buffer): number {
  return b.readUInt32BE(BIDI_READ_RESIDUAL_COUNT);
}
export function setBidiReadResidualCount(b: Buffer, count: number): void {
  b.writeUInt32BE(count >>> 0, BIDI_READ_RESIDUAL_COUNT);
}

export function getBegRun(b: Buffer): number {
  return b.readUInt32BE(BEG_RUN);
}
export function setBegRun(b: Buffer, begRun: number): void {
  b.writeUInt32BE(begRun >>> 0, BEG_RUN);
}

export function getResidualCount(b: Buffer): number {
  return b.readUInt32BE(RESIDUAL_COUNT);
}
export function setResidualCount(b: Buffer, count: number): void {
  b.writeUInt32BE(count >>> 0, RESIDUAL_COUNT);
}

export function getDesiredDataTransferLength(b: Buffer): number {
  return b.readUInt32BE(DESIRED_DATA_TRANSFER_LENGTH);
}
export function setDesiredDataTransferLength(b: Buffer, length: number): void {
  b.writeUInt32BE(length >>> 0, DESIRED_DATA_TRANSFER_LENGTH);
}

export function getRunLength(b: Buffer): number {
  return b.readUInt32BE(RUN_LENGTH);
}
export function setRunLength(b: Buffer, runLength: number): void {
  b.writeUInt32BE(runLength >>> 0, RUN_LENGTH);
}

// ---------------------------------------------------------------------------------------------------------
// 16-bit and 48-bit fields

export function getIsid(b: Buffer): number {
  return b.readUIntBE(ISID, 6);
}
export function setIsid(b: Buffer, isid: number): void {
  b.writeUIntBE(isid, ISID, 6);
}

export function getTsih(b: Buffer): number {
  return b.readUInt16BE(TSIH);
}
export function setTsih(b: Buffer, tsih: number): void {
  b.writeUInt16BE(tsih, TSIH);
}

export function getCid(b: Buffer): number {
  return b.readUInt16BE(CID);
}
export function setCid(b: Buffer, cid: number): void {
  b.writeUInt16BE(cid, CID);
}

export function getTime2Wait(b: Buffer): number {
  return b.readUInt16BE(TIME2WAIT);
}
export function setTime2Wait(b: Buffer, seconds: number): void {
  b.writeUInt16BE(seconds, TIME2WAIT);
}

export function getTime2Retain(b: Buffer): number {
  return b.readUInt16BE(TIME2RETAIN);
}
export function setTime2Retain(b: Buffer, seconds: number): void {
  b.writeUInt16BE(seconds, TIME2RETAIN);
}

export function getParameter1(b: Buffer): number {
  return b.readUInt16BE(PARAMETER1);
}
export function setParameter1(b: Buffer, value: number): void {
  b.writeUInt16BE(value, PARAMETER1);
}

export function getParameter2(b: Buffer): number {
  return b.readUInt16BE(PARAMETER2);
}
export function setParameter2(b: Buffer, value: number): void {
  b.writeUInt16BE(value, PARAMETER2);
}

export function getParameter3(b: Buffer): number {
  return b.readUInt16BE(PARAMETER3);
}
export function setParameter3(b: Buffer, value: number): void {
  b.writeUInt16BE(value, PARAMETER3);
}

// ---------------------------------------------------------------------------------------------------------
// 8-bit fields

export function getVersionMax(b: Buffer): number {
  return b[VERSION_MAX];
}
export function setVersionMax(b: Buffer, version: number): void {
  b[VERSION_MAX] = version;
}

export function getVersionMin(b: Buffer): number {
  return b[VERSION_MIN];
}
export function setVersionMin(b: Buffer, version: number): void {
  b[VERSION_MIN] = version;
}

export function getVersionActive(b: Buffer): number {
  return b[VERSION_ACTIVE];
}
export function setVersionActive(b: Buffer, version: number): void {
  b[VERSION_ACTIVE] = version;
}

export function getResponse(b: Buffer): number {
  return b[RESPONSE];
}
export function setResponse(b: Buffer, response: number): void {
  b[RESPONSE] = response;
}

export function getReason(b: Buffer): number {
  return b[REASON];
}
export function setReason(b: Buffer, reason: number): void {
  b[REASON] = reason;
}

export function getStatus(b: Buffer): number {
  return b[STATUS];
}
export function setStatus(b: Buffer, status: number): void {
  b[STATUS] = status;
}

export function getStatusClass(b: Buffer): number {
  return b[STATUS_CLASS];
}
export function setStatusClass(b: Buffer, statusClass: number): void {
  b[STATUS_CLASS] = statusClass;
}

export function getStatusDetail(b: Buffer): number {
  return b[STATUS_DETAIL];
}
export function setStatusDetail(b: Buffer, statusDetail: number): void {
  b[STATUS_DETAIL] = statusDetail;
}

export function getAsyncEvent(b: Buffer): number {
  return b[ASYNC_EVENT];
}
export function setAsyncEvent(b: Buffer, event: number): void {
  b[ASYNC_EVENT] = event;
}

export function getAsyncVCode(b: Buffer): number {
  return b[ASYNC_V_CODE];
}
export function setAsyncVCode(b: Buffer, code: number): void {
  b[ASYNC_V_CODE] = code;
}

// ---------------------------------------------------------------------------------------------------------
// CDB (§11.3.5)

/** The 16 CDB bytes of the BHS, as a view (copy it to keep it past the buffer's life). */
export function getCdb(b: Buffer): Buffer {
  return b.subarray(CDB, CDB + BHS_CDB_LENGTH);
}

/** Copies the first 16 bytes of `cdb` into the BHS; the rest belongs in an Extended CDB AHS. */
export function setCdb(b: Buffer, cdb: Buffer): void {
  cdb.copy(b, CDB, 0, Math.min(BHS_CDB_LENGTH, cdb.length));
}

// ---------------------------------------------------------------------------------------------------------
// Additional Header Segments (§11.2.2): offsets relative to the start of one AHS

export const AhsOffset = {
  /** AHSLength, 2 bytes: the AHS-specific bytes from byte 3 on, without padding. */
  LENGTH: 0,
  /** AHSType, 1 byte. */
  TYPE: 2,
  /** Byte 3 is AHS-specific and reserved in both defined types; their content starts at byte 4. */
  CONTENT: 4,
} as const;

/** Bytes of an AHS before its AHS-specific part: AHSLength and AHSType (§11.2.2). */
export const AHS_FIXED_LENGTH = 3;

export function getAhsLength(b: Buffer, at: number): number {
  return b.readUInt16BE(at + AhsOffset.LENGTH);
}
export function setAhsLength(b: Buffer, at: number, length: number): void {
  b.writeUInt16BE(length, at + AhsOffset.LENGTH);
}

export function getAhsType(b: Buffer, at: number): number {
  return b[at + AhsOffset.TYPE];
}
export function setAhsType(b: Buffer, at: number, type: number): void {
  b[at + AhsOffset.TYPE] = type;
}
