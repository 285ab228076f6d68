/**
 * iSCSI PDU codec: every PDU an initiator sends or receives, as typed objects over Buffer (RFC 7143 §11).
 * Pure functions: `encodeBhs` writes the 48-byte Basic Header Segment plus AHS, `decodePdu` parses a framed
 * PDU (header + data segment, see framer.ts). Field names follow the RFC in camelCase; every header field is
 * read and written through bhs.ts, where its offset is defined. Over 500 lines because the 18 PDU types' interfaces,
 * encoder and decoder are kept side by side, one case per opcode, each a list of field accessors.
 */
import { AhsType, BHS_LENGTH, MAX_DATA_SEGMENT_LENGTH, Opcode, OPCODE_NAMES } from './constants.js';
import { ProtocolError } from './errors.js';
import {
  AHS_FIXED_LENGTH,
  AhsOffset,
  BHS_CDB_LENGTH,
  BhsOffset,
  Flag,
  getAsyncEvent,
  getAsyncVCode,
  getAhsLength,
  getAhsType,
  getBegRun,
  getBidiReadResidualCount,
  getBufferOffset,
  getCdb,
  getCid,
  getCmdSN,
  getDataSegmentLength,
  getDataSN,
  getDesiredDataTransferLength,
  getExpCmdSN,
  getExpDataSN,
  getExpectedDataTransferLength,
  getExpStatSN,
  getFlags,
  getHeaderLength,
  getImmediate,
  getIsid,
  getItt,
  getLun,
  getMaxCmdSN,
  getOpcode,
  getParameter1,
  getParameter2,
  getParameter3,
  getR2TSN,
  getReason,
  getRefCmdSN,
  getReferencedTaskTag,
  getResidualCount,
  getResponse,
  getRunLength,
  getSnackTag,
  getStatSN,
  getStatus,
  getStatusClass,
  getStatusDetail,
  getTime2Retain,
  getTime2Wait,
  getTsih,
  getTtt,
  getVersionActive,
  getVersionMax,
  getVersionMin,
  setAhsLength,
  setAhsType,
  setAsyncEvent,
  setAsyncVCode,
  setBegRun,
  setBidiReadResidualCount,
  setBufferOffset,
  setCdb,
  setCid,
  setCmdSN,
  setDataSegmentLength,
  setDataSN,
  setDesiredDataTransferLength,
  setExpCmdSN,
  setExpDataSN,
  setExpectedDataTransferLength,
  setExpStatSN,
  setFlags,
  setIsid,
  setItt,
  setLun,
  setMaxCmdSN,
  setOpcode,
  setParameter1,
  setParameter2,
  setParameter3,
  setR2TSN,
  setReason,
  setRefCmdSN,
  setReferencedTaskTag,
  setResidualCount,
  setResponse,
  setRunLength,
  setSnackTag,
  setStatSN,
  setStatus,
  setStatusClass,
  setStatusDetail,
  setTime2Retain,
  setTime2Wait,
  setTotalAhsLength,
  setTsih,
  setTtt,
  setVersionActive,
  setVersionMax,
  setVersionMin,
} from './bhs.js';
import { MAX_FLAT_SPACE_LUN, writeLun } from '../scsi/report-luns.js';

interface Common {
  /** Initiator Task Tag. */
  itt: number;
  /** Data segment (text data, ping data, SCSI data, sense); never includes padding. */
  data?: Buffer;
}

export interface NopOut extends Common {
  opcode: typeof Opcode.NOP_OUT;
  immediate: boolean;
  lun: number;
  ttt: number;
  cmdSN: number;
  expStatSN: number;
}

export interface ScsiCommandPdu extends Common {
  opcode: typeof Opcode.SCSI_COMMAND;
  immediate: boolean;
  /** F: no unsolicited Data-Out PDUs follow (§11.3.1.1). */
  final: boolean;
  read: boolean;
  write: boolean;
  attr: number;
  lun: number;
  expectedDataTransferLength: number;
  cmdSN: number;
  expStatSN: number;
  /** The whole CDB; bytes past 16 travel in an Extended CDB AHS (§11.3.5). */
  cdb: Buffer;
  /** Expected Bidirectional Read Data Length AHS (§11.3.5), for bidirectional commands. */
  bidiReadLength?: number;
}

export interface TaskMgmtRequest extends Common {
  opcode: typeof Opcode.TASK_MGMT_REQUEST;
  immediate: boolean;
  function: number;
  lun: number;
  referencedTaskTag: number;
  cmdSN: number;
  expStatSN: number;
  refCmdSN: number;
  expDataSN: number;
}

export interface LoginRequest extends Common {
  opcode: typeof Opcode.LOGIN_REQUEST;
  transit: boolean;
  cont: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionMin: number;
  /** 48-bit ISID as a number (§11.12.5). */
  isid: number;
  tsih: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}

export interface TextRequest extends Common {
  opcode: typeof Opcode.TEXT_REQUEST;
  immediate: boolean;
  final: boolean;
  cont: boolean;
  lun: number;
  ttt: number;
  cmdSN: number;
  expStatSN: number;
}

export interface DataOut extends Common {
  opcode: typeof Opcode.SCSI_DATA_OUT;
  final: boolean;
  lun: number;
  ttt: number;
  expStatSN: number;
  dataSN: number;
  bufferOffset: number;
}

export interface LogoutRequest extends Common {
  opcode: typeof Opcode.LOGOUT_REQUEST;
  immediate: boolean;
  reasonCode: number;
  cid: number;
  cmdSN: number;
  expStatSN: number;
}

export interface SnackRequest extends Common {
  opcode: typeof Opcode.SNACK_REQUEST;
  type: number;
  lun: number;
  ttt: number;
  expStatSN: number;
  begRun: number;
  runLength: number;
}

export interface NopIn extends Common {
  opcode: typeof Opcode.NOP_IN;
  lun: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

export interface ScsiResponse extends Common {
  opcode: typeof Opcode.SCSI_RESPONSE;
  bidiOverflow: boolean;
  bidiUnderflow: boolean;
  overflow: boolean;
  underflow: boolean;
  response: number;
  status: number;
  snackTag: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  expDataSN: number;
  bidiReadResidualCount: number;
  residualCount: number;
}

export interface TaskMgmtResponse extends Common {
  opcode: typeof Opcode.TASK_MGMT_RESPONSE;
  response: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

export interface LoginResponse extends Common {
  opcode: typeof Opcode.LOGIN_RESPONSE;
  transit: boolean;
  cont: boolean;
  csg: number;
  nsg: number;
  versionMax: number;
  versionActive: number;
  isid: number;
  tsih: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  statusClass: number;
  statusDetail: number;
}

export interface TextResponse extends Common {
  opcode: typeof Opcode.TEXT_RESPONSE;
  final: boolean;
  cont: boolean;
  lun: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
}

export interface DataIn extends Common {
  opcode: typeof Opcode.SCSI_DATA_IN;
  final: boolean;
  ack: boolean;
  overflow: boolean;
  underflow: boolean;
  statusPresent: boolean;
  status: number;
  lun: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  dataSN: number;
  bufferOffset: number;
  residualCount: number;
}

export interface LogoutResponse extends Common {
  opcode: typeof Opcode.LOGOUT_RESPONSE;
  response: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  time2Wait: number;
  time2Retain: number;
}

export interface R2T extends Common {
  opcode: typeof Opcode.R2T;
  lun: number;
  ttt: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  r2tSN: number;
  bufferOffset: number;
  desiredDataTransferLength: number;
}

export interface AsyncMessage extends Common {
  opcode: typeof Opcode.ASYNC_MESSAGE;
  lun: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  asyncEvent: number;
  asyncVCode: number;
  parameter1: number;
  parameter2: number;
  parameter3: number;
}

export interface Reject extends Common {
  opcode: typeof Opcode.REJECT;
  reason: number;
  statSN: number;
  expCmdSN: number;
  maxCmdSN: number;
  /** DataSN/R2TSN (§11.17.2). */
  dataSN: number;
}

export type InitiatorPdu = NopOut | ScsiCommandPdu | TaskMgmtRequest | LoginRequest | TextRequest | DataOut | LogoutRequest | SnackRequest;

export type TargetPdu =
  | NopIn
  | ScsiResponse
  | TaskMgmtResponse
  | LoginResponse
  | TextResponse
  | DataIn
  | LogoutResponse
  | R2T
  | AsyncMessage
  | Reject;

export type Pdu = InitiatorPdu | TargetPdu;

// ---------------------------------------------------------------------------------------------------------
// LUN field (§11.2.1, SAM-5 §4.7): single-level peripheral (< 256) or flat space (< 16384) addressing.

// One LUN encoder for the whole project (SAM addressing lives with the SCSI codecs); the lenient reader is
// bhs.ts's readLun, beside the LUN field's offset.
export const MAX_LUN = MAX_FLAT_SPACE_LUN;
export { writeLun };

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Byte 1 of the Login Request and Response: T, C, CSG, NSG (§11.12.3). */
function loginFlags(transit: boolean, cont: boolean, csg: number, nsg: number): number {
  return (transit ? Flag.TRANSIT : 0) | (cont ? Flag.CONTINUE : 0) | ((csg << Flag.CSG_SHIFT) & Flag.CSG_MASK) | (nsg & Flag.NSG_MASK);
}

/**
 * Writes a PDU's BHS and AHS (without header digest) and returns it. The data segment travels separately
 * (see framer.ts `frame`) so that payloads are never copied.
 */
export function encodeBhs(pdu: Pdu): Buffer {
  let ahs: Buffer | undefined;
  if (pdu.opcode === Opcode.SCSI_COMMAND) ahs = encodeCommandAhs(pdu);
  const ahsLen = ahs ? ahs.length : 0;
  // From Node's shared slab, zeroed here (reserved fields are 0): Buffer.alloc would give every header an
  // ArrayBuffer of its own, an allocation outside the V8 heap per PDU.
  const buf = Buffer.allocUnsafe(BHS_LENGTH + ahsLen).fill(0);
  const dataLength = pdu.data ? pdu.data.length : 0;
  if (dataLength > MAX_DATA_SEGMENT_LENGTH) throw new RangeError(`data segment of ${dataLength} bytes exceeds 2^24-1`);
  setTotalAhsLength(buf, ahsLen / 4);
  setDataSegmentLength(buf, dataLength);
  setItt(buf, pdu.itt);
  switch (pdu.opcode) {
    case Opcode.NOP_OUT:
      setOpcode(buf, pdu.opcode, pdu.immediate);
      setFlags(buf, Flag.FINAL);
      setLun(buf, pdu.lun);
      setTtt(buf, pdu.ttt);
      setCmdSN(buf, pdu.cmdSN);
      setExpStatSN(buf, pdu.expStatSN);
      break;
    case Opcode.SCSI_COMMAND:
      setOpcode(buf, pdu.opcode, pdu.immediate);
      setFlags(buf, (pdu.final ? Flag.FINAL : 0) | (pdu.read ? Flag.READ : 0) | (pdu.write ? Flag.WRITE : 0) | (pdu.attr & Flag.ATTR_MASK));
      setLun(buf, pdu.lun);
      setExpectedDataTransferLength(buf, pdu.expectedDataTransferLength);
      setCmdSN(buf, pdu.cmdSN);
      setExpStatSN(buf, pdu.expStatSN);
      setCdb(buf, pdu.cdb);
      if (ahs) ahs.copy(buf, BHS_LENGTH);
      break;
    case Opcode.TASK_MGMT_REQUEST:
      setOpcode(buf, pdu.opcode, pdu.immediate);
      setFlags(buf, Flag.FINAL | (pdu.function & Flag.FUNCTION_MASK));
      setLun(buf, pdu.lun);
      setReferencedTaskTag(buf, pdu.referencedTaskTag);
      setCmdSN(buf, pdu.cmdSN);
      setExpStatSN(buf, pdu.expStatSN);
      setRefCmdSN(buf, pdu.refCmdSN);
      setExpDataSN(buf, pdu.expDataSN);
      break;
    case Opcode.LOGIN_REQUEST:
      // §11.12: the I bit is always 1 in a Login Request.
      setOpcode(buf, pdu.opcode, true);
      setFlags(buf, loginFlags(pdu.transit, pdu.cont, pdu.csg, pdu.nsg));
      setVersionMax(buf, pdu.versionMax);
      setVersionMin(buf, pdu.versionMin);
      setIsid(buf, pdu.isid);
      setTsih(buf, pdu.tsih);
      setCid(buf, pdu.cid);
      setCmdSN(buf, pdu.cmdSN);
      setExpStatSN(buf, pdu.expStatSN);
      break;
    case Opcode.TEXT_REQUEST:
      setOpcode(buf, pdu.opcode, pdu.immediate);
      setFlags(buf, (pdu.final ? Flag.FINAL : 0) | (pdu.cont ? Flag.CONTINUE : 0));
      setLun(buf, pdu.lun);
      setTtt(buf, pdu.ttt);
      setCmdSN(buf, pdu.cmdSN);
      setExpStatSN(buf, pdu.expStatSN);
      break;
    case Opcode.SCSI_DATA_OUT:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, pdu.final ? Flag.FINAL : 0);
      setLun(buf, pdu.lun);
      setTtt(buf, pdu.ttt);
      setExpStatSN(buf, pdu.expStatSN);
      setDataSN(buf, pdu.dataSN);
      setBufferOffset(buf, pdu.bufferOffset);
      break;
    case Opcode.LOGOUT_REQUEST:
      setOpcode(buf, pdu.opcode, pdu.immediate);
      setFlags(buf, Flag.FINAL | (pdu.reasonCode & Flag.REASON_CODE_MASK));
      setCid(buf, pdu.cid);
      setCmdSN(buf, pdu.cmdSN);
      setExpStatSN(buf, pdu.expStatSN);
      break;
    case Opcode.SNACK_REQUEST:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, Flag.FINAL | (pdu.type & Flag.SNACK_TYPE_MASK));
      setLun(buf, pdu.lun);
      setTtt(buf, pdu.ttt);
      setExpStatSN(buf, pdu.expStatSN);
      setBegRun(buf, pdu.begRun);
      setRunLength(buf, pdu.runLength);
      break;
    case Opcode.NOP_IN:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, Flag.FINAL);
      setLun(buf, pdu.lun);
      setTtt(buf, pdu.ttt);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      break;
    case Opcode.SCSI_RESPONSE:
      setOpcode(buf, pdu.opcode);
      setFlags(
        buf,
        Flag.FINAL |
          (pdu.bidiOverflow ? Flag.BIDI_OVERFLOW : 0) |
          (pdu.bidiUnderflow ? Flag.BIDI_UNDERFLOW : 0) |
          (pdu.overflow ? Flag.OVERFLOW : 0) |
          (pdu.underflow ? Flag.UNDERFLOW : 0),
      );
      setResponse(buf, pdu.response);
      setStatus(buf, pdu.status);
      setSnackTag(buf, pdu.snackTag);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      setExpDataSN(buf, pdu.expDataSN);
      setBidiReadResidualCount(buf, pdu.bidiReadResidualCount);
      setResidualCount(buf, pdu.residualCount);
      break;
    case Opcode.TASK_MGMT_RESPONSE:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, Flag.FINAL);
      setResponse(buf, pdu.response);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      break;
    case Opcode.LOGIN_RESPONSE:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, loginFlags(pdu.transit, pdu.cont, pdu.csg, pdu.nsg));
      setVersionMax(buf, pdu.versionMax);
      setVersionActive(buf, pdu.versionActive);
      setIsid(buf, pdu.isid);
      setTsih(buf, pdu.tsih);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      setStatusClass(buf, pdu.statusClass);
      setStatusDetail(buf, pdu.statusDetail);
      break;
    case Opcode.TEXT_RESPONSE:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, (pdu.final ? Flag.FINAL : 0) | (pdu.cont ? Flag.CONTINUE : 0));
      setLun(buf, pdu.lun);
      setTtt(buf, pdu.ttt);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      break;
    case Opcode.SCSI_DATA_IN:
      setOpcode(buf, pdu.opcode);
      setFlags(
        buf,
        (pdu.final ? Flag.FINAL : 0) |
          (pdu.ack ? Flag.ACK : 0) |
          (pdu.overflow ? Flag.OVERFLOW : 0) |
          (pdu.underflow ? Flag.UNDERFLOW : 0) |
          (pdu.statusPresent ? Flag.STATUS_PRESENT : 0),
      );
      setStatus(buf, pdu.statusPresent ? pdu.status : 0);
      setLun(buf, pdu.lun);
      setTtt(buf, pdu.ttt);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      setDataSN(buf, pdu.dataSN);
      setBufferOffset(buf, pdu.bufferOffset);
      setResidualCount(buf, pdu.residualCount);
      break;
    case Opcode.LOGOUT_RESPONSE:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, Flag.FINAL);
      setResponse(buf, pdu.response);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      setTime2Wait(buf, pdu.time2Wait);
      setTime2Retain(buf, pdu.time2Retain);
      break;
    case Opcode.R2T:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, Flag.FINAL);
      setLun(buf, pdu.lun);
      setTtt(buf, pdu.ttt);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      setR2TSN(buf, pdu.r2tSN);
      setBufferOffset(buf, pdu.bufferOffset);
      setDesiredDataTransferLength(buf, pdu.desiredDataTransferLength);
      break;
    case Opcode.ASYNC_MESSAGE:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, Flag.FINAL);
      setLun(buf, pdu.lun);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      setAsyncEvent(buf, pdu.asyncEvent);
      setAsyncVCode(buf, pdu.asyncVCode);
      setParameter1(buf, pdu.parameter1);
      setParameter2(buf, pdu.parameter2);
      setParameter3(buf, pdu.parameter3);
      break;
    case Opcode.REJECT:
      setOpcode(buf, pdu.opcode);
      setFlags(buf, Flag.FINAL);
      setReason(buf, pdu.reason);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      setDataSN(buf, pdu.dataSN);
      break;
    default:
      throw new RangeError(`cannot encode opcode ${(pdu as { opcode: number }).opcode}`);
  }
  return buf;
}

function writeStatTriple(buf: Buffer, statSN: number, expCmdSN: number, maxCmdSN: number): void {
  setStatSN(buf, statSN);
  setExpCmdSN(buf, expCmdSN);
  setMaxCmdSN(buf, maxCmdSN);
}

/** AHS for CDBs longer than 16 bytes and bidirectional commands (§11.2.2, §11.3.5). */
function encodeCommandAhs(pdu: ScsiCommandPdu): Buffer | undefined {
  const parts: Buffer[] = [];
  if (pdu.cdb.length > BHS_CDB_LENGTH) {
    // Extended CDB AHS: AHSLength = extra CDB bytes + 1 (the reserved byte), padded to 4.
    const extra = pdu.cdb.subarray(BHS_CDB_LENGTH);
    const len = extra.length + 1;
    const ahs = Buffer.alloc(AHS_FIXED_LENGTH + len + ((4 - ((AHS_FIXED_LENGTH + len) % 4)) % 4));
    setAhsLength(ahs, 0, len);
    setAhsType(ahs, 0, AhsType.EXTENDED_CDB);
    extra.copy(ahs, AhsOffset.CONTENT);
    parts.push(ahs);
  }
  if (pdu.bidiReadLength !== undefined) {
    // Bidirectional Read Expected Data Transfer Length AHS: AHSLength 5 (reserved byte + 4-byte length).
    const ahs = Buffer.alloc(8);
    setAhsLength(ahs, 0, 5);
    setAhsType(ahs, 0, AhsType.BIDI_READ_LENGTH);
    ahs.writeUInt32BE(pdu.bidiReadLength >>> 0, AhsOffset.CONTENT);
    parts.push(ahs);
  }
  if (parts.length === 0) return undefined;
  const all = Buffer.concat(parts);
  if (all.length > 255 * 4) throw new RangeError('AHS longer than 1020 bytes');
  return all;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/**
 * Parses one framed PDU. `header` is the BHS followed by the AHS (no digest); `data` is the data segment
 * without padding. Malformed fields throw ProtocolError naming the opcode and offset.
 */
export function decodePdu(header: Buffer, data: Buffer = EMPTY): Pdu {
  if (header.length < BHS_LENGTH) throw new ProtocolError(`short BHS: ${header.length} bytes`, undefined, BhsOffset.OPCODE);
  const opcode = getOpcode(header);
  const immediate = getImmediate(header);
  const b1 = getFlags(header);
  const headerLength = getHeaderLength(header);
  if (header.length !== headerLength)
    throw new ProtocolError(`header is ${header.length} bytes, TotalAHSLength says ${headerLength}`, opcode, BhsOffset.TOTAL_AHS_LENGTH);
  const dsl = getDataSegmentLength(header);
  if (dsl !== data.length)
    throw new ProtocolError(`data segment is ${data.length} bytes, DataSegmentLength says ${dsl}`, opcode, BhsOffset.DATA_SEGMENT_LENGTH);
  const itt = getItt(header);
  const withData = data.length > 0 ? data : undefined;
  switch (opcode) {
    case Opcode.NOP_OUT:
      return {
        opcode,
        immediate,
        itt,
        lun: getLun(header),
        ttt: getTtt(header),
        cmdSN: getCmdSN(header),
        expStatSN: getExpStatSN(header),
        data: withData,
      };
    case Opcode.SCSI_COMMAND: {
      const ahs = decodeAhs(header, opcode);
      const cdb = ahs.extendedCdb ? Buffer.concat([getCdb(header), ahs.extendedCdb]) : Buffer.from(getCdb(header));
      const pdu: ScsiCommandPdu = {
        opcode,
        immediate,
        final: (b1 & Flag.FINAL) !== 0,
        read: (b1 & Flag.READ) !== 0,
        write: (b1 & Flag.WRITE) !== 0,
        attr: b1 & Flag.ATTR_MASK,
        itt,
        lun: getLun(header),
        expectedDataTransferLength: getExpectedDataTransferLength(header),
        cmdSN: getCmdSN(header),
        expStatSN: getExpStatSN(header),
        cdb,
        data: withData,
      };
      if (ahs.bidiReadLength !== undefined) pdu.bidiReadLength = ahs.bidiReadLength;
      return pdu;
    }
    case Opcode.TASK_MGMT_REQUEST:
      return {
        opcode,
        immediate,
        function: b1 & Flag.FUNCTION_MASK,
        itt,
        lun: getLun(header),
        referencedTaskTag: getReferencedTaskTag(header),
        cmdSN: getCmdSN(header),
        expStatSN: getExpStatSN(header),
        refCmdSN: getRefCmdSN(header),
        expDataSN: getExpDataSN(header),
        data: withData,
      };
    case Opcode.LOGIN_REQUEST:
    case Opcode.LOGIN_RESPONSE: {
      const transit = (b1 & Flag.TRANSIT) !== 0;
      const cont = (b1 & Flag.CONTINUE) !== 0;
      // §11.12.2: T and C must not both be set.
      if (transit && cont) throw new ProtocolError('login PDU with both T and C bits set', opcode, BhsOffset.FLAGS);
      const csg = (b1 & Flag.CSG_MASK) >> Flag.CSG_SHIFT;
      const nsg = b1 & Flag.NSG_MASK;
      if (csg === 2 || (transit && nsg === 2))
        throw new ProtocolError(`reserved login stage (CSG ${csg}, NSG ${nsg})`, opcode, BhsOffset.FLAGS);
      const isid = getIsid(header);
      const tsih = getTsih(header);
      if (opcode === Opcode.LOGIN_REQUEST)
        return {
          opcode,
          transit,
          cont,
          csg,
          nsg,
          versionMax: getVersionMax(header),
          versionMin: getVersionMin(header),
          isid,
          tsih,
          itt,
          cid: getCid(header),
          cmdSN: getCmdSN(header),
          expStatSN: getExpStatSN(header),
          data: withData,
        };
      return {
        opcode,
        transit,
        cont,
        csg,
        nsg,
        versionMax: getVersionMax(header),
        versionActive: getVersionActive(header),
        isid,
        tsih,
        itt,
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        statusClass: getStatusClass(header),
        statusDetail: getStatusDetail(header),
        data: withData,
      };
    }
    case Opcode.TEXT_REQUEST:
    case Opcode.TEXT_RESPONSE: {
      const final = (b1 & Flag.FINAL) !== 0;
      const cont = (b1 & Flag.CONTINUE) !== 0;
      // §11.10.2: F and C must not both be set.
      if (final && cont) throw new ProtocolError('text PDU with both F and C bits set', opcode, BhsOffset.FLAGS);
      if (opcode === Opcode.TEXT_REQUEST)
        return {
          opcode,
          immediate,
          final,
          cont,
          itt,
          lun: getLun(header),
          ttt: getTtt(header),
          cmdSN: getCmdSN(header),
          expStatSN: getExpStatSN(header),
          data: withData,
        };
      return {
        opcode,
        final,
        cont,
        itt,
        lun: getLun(header),
        ttt: getTtt(header),
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        data: withData,
      };
    }
    case Opcode.SCSI_DATA_OUT:
      return {
        opcode,
        final: (b1 & Flag.FINAL) !== 0,
        itt,
        lun: getLun(header),
        ttt: getTtt(header),
        expStatSN: getExpStatSN(header),
        dataSN: getDataSN(header),
        bufferOffset: getBufferOffset(header),
        data: withData,
      };
    case Opcode.LOGOUT_REQUEST:
      return {
        opcode,
        immediate,
        reasonCode: b1 & Flag.REASON_CODE_MASK,
        itt,
        cid: getCid(header),
        cmdSN: getCmdSN(header),
        expStatSN: getExpStatSN(header),
        data: withData,
      };
    case Opcode.SNACK_REQUEST:
      return {
        opcode,
        type: b1 & Flag.SNACK_TYPE_MASK,
        itt,
        lun: getLun(header),
        ttt: getTtt(header),
        expStatSN: getExpStatSN(header),
        begRun: getBegRun(header),
        runLength: getRunLength(header),
        data: withData,
      };
    case Opcode.NOP_IN:
      return {
        opcode,
        itt,
        lun: getLun(header),
        ttt: getTtt(header),
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        data: withData,
      };
    case Opcode.SCSI_RESPONSE: {
      const overflow = (b1 & Flag.OVERFLOW) !== 0;
      const underflow = (b1 & Flag.UNDERFLOW) !== 0;
      const bidiOverflow = (b1 & Flag.BIDI_OVERFLOW) !== 0;
      const bidiUnderflow = (b1 & Flag.BIDI_UNDERFLOW) !== 0;
      // §11.4.1: O and U (and o and u) are mutually exclusive.
      if (overflow && underflow) throw new ProtocolError('SCSI Response with both O and U set', opcode, BhsOffset.FLAGS);
      if (bidiOverflow && bidiUnderflow) throw new ProtocolError('SCSI Response with both o and u set', opcode, BhsOffset.FLAGS);
      // §11.4.7: a non-empty data segment starts with a 2-byte SenseLength that fits in it.
      if (data.length > 0) {
        if (data.length < 2) throw new ProtocolError('SCSI Response data segment shorter than SenseLength', opcode, BHS_LENGTH);
        const senseLength = data.readUInt16BE(0);
        if (senseLength + 2 > data.length)
          throw new ProtocolError(`SenseLength ${senseLength} exceeds the data segment (${data.length})`, opcode, BHS_LENGTH);
      }
      return {
        opcode,
        bidiOverflow,
        bidiUnderflow,
        overflow,
        underflow,
        response: getResponse(header),
        status: getStatus(header),
        itt,
        snackTag: getSnackTag(header),
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        expDataSN: getExpDataSN(header),
        bidiReadResidualCount: getBidiReadResidualCount(header),
        residualCount: getResidualCount(header),
        data: withData,
      };
    }
    case Opcode.TASK_MGMT_RESPONSE:
      return {
        opcode,
        response: getResponse(header),
        itt,
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        data: withData,
      };
    case Opcode.SCSI_DATA_IN: {
      const final = (b1 & Flag.FINAL) !== 0;
      const statusPresent = (b1 & Flag.STATUS_PRESENT) !== 0;
      const overflow = (b1 & Flag.OVERFLOW) !== 0;
      const underflow = (b1 & Flag.UNDERFLOW) !== 0;
      // §11.7.4: S may be set only together with F; O/U are meaningful only with S.
      if (statusPresent && !final) throw new ProtocolError('Data-In with S bit but no F bit', opcode, BhsOffset.FLAGS);
      if (overflow && underflow) throw new ProtocolError('Data-In with both O and U set', opcode, BhsOffset.FLAGS);
      return {
        opcode,
        final,
        ack: (b1 & Flag.ACK) !== 0,
        overflow,
        underflow,
        statusPresent,
        status: statusPresent ? getStatus(header) : 0,
        itt,
        lun: getLun(header),
        ttt: getTtt(header),
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        dataSN: getDataSN(header),
        bufferOffset: getBufferOffset(header),
        residualCount: getResidualCount(header),
        data: withData,
      };
    }
    case Opcode.LOGOUT_RESPONSE:
      return {
        opcode,
        response: getResponse(header),
        itt,
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        time2Wait: getTime2Wait(header),
        time2Retain: getTime2Retain(header),
        data: withData,
      };
    case Opcode.R2T: {
      const desired = getDesiredDataTransferLength(header);
      // §11.8.4: Desired Data Transfer Length must not be 0.
      if (desired === 0) throw new ProtocolError('R2T with Desired Data Transfer Length 0', opcode, BhsOffset.DESIRED_DATA_TRANSFER_LENGTH);
      return {
        opcode,
        itt,
        lun: getLun(header),
        ttt: getTtt(header),
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        r2tSN: getR2TSN(header),
        bufferOffset: getBufferOffset(header),
        desiredDataTransferLength: desired,
        data: withData,
      };
    }
    case Opcode.ASYNC_MESSAGE:
      return {
        opcode,
        itt,
        lun: getLun(header),
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        asyncEvent: getAsyncEvent(header),
        asyncVCode: getAsyncVCode(header),
        parameter1: getParameter1(header),
        parameter2: getParameter2(header),
        parameter3: getParameter3(header),
        data: withData,
      };
    case Opcode.REJECT:
      // §11.17: the data segment holds the complete header of the rejected PDU.
      if (data.length < BHS_LENGTH)
        throw new ProtocolError(`Reject carries ${data.length} bytes, not a whole BHS`, opcode, BhsOffset.DATA_SEGMENT_LENGTH);
      return {
        opcode,
        reason: getReason(header),
        itt,
        statSN: getStatSN(header),
        expCmdSN: getExpCmdSN(header),
        maxCmdSN: getMaxCmdSN(header),
        dataSN: getDataSN(header),
        data: withData,
      };
    default:
      throw new ProtocolError(`unknown opcode`, opcode, BhsOffset.OPCODE);
  }
}

const EMPTY = Buffer.alloc(0);

function decodeAhs(header: Buffer, opcode: number): { extendedCdb?: Buffer; bidiReadLength?: number } {
  const out: { extendedCdb?: Buffer; bidiReadLength?: number } = {};
  let off = BHS_LENGTH;
  while (off < header.length) {
    if (off + AHS_FIXED_LENGTH > header.length) throw new ProtocolError('truncated AHS', opcode, off);
    const len = getAhsLength(header, off);
    const type = getAhsType(header, off);
    const end = off + AHS_FIXED_LENGTH + len;
    if (end > header.length) throw new ProtocolError(`AHS length ${len} runs past TotalAHSLength`, opcode, off);
    if (type === AhsType.EXTENDED_CDB) {
      if (len < 1) throw new ProtocolError('empty Extended CDB AHS', opcode, off);
      out.extendedCdb = Buffer.from(header.subarray(off + AhsOffset.CONTENT, end));
    } else if (type === AhsType.BIDI_READ_LENGTH) {
      if (len !== 5) throw new ProtocolError(`Bidirectional Read Length AHS of length ${len}`, opcode, off);
      out.bidiReadLength = header.readUInt32BE(off + AhsOffset.CONTENT);
    } else {
      throw new ProtocolError(`unknown AHS type ${type}`, opcode, off + AhsOffset.TYPE);
    }
    off = end + ((4 - ((AHS_FIXED_LENGTH + len) % 4)) % 4);
  }
  return out;
}

/** A short human-readable name for logs: "SCSI_DATA_IN itt=0x1f". */
export function describePdu(pdu: Pdu): string {
  return `${OPCODE_NAMES[pdu.opcode] ?? pdu.opcode} itt=0x${(pdu.itt >>> 0).toString(16)}`;
}
