/**
 * iSCSI PDU codec: every PDU an initiator sends or receives, as typed objects over Buffer (RFC 7143 §11).
 * Pure functions: `encodeBhs` writes the 48-byte Basic Header Segment plus AHS, `decodePdu` parses a framed
 * PDU (header + data segment, see framer.ts). Field names follow the RFC in camelCase.
 */
import { AhsType, BHS_LENGTH, MAX_DATA_SEGMENT_LENGTH, Opcode, OPCODE_NAMES } from './constants.js';
import { ProtocolError } from './errors.js';
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

export interface ScsiCommand extends Common {
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

export type InitiatorPdu =
  | NopOut
  | ScsiCommand
  | TaskMgmtRequest
  | LoginRequest
  | TextRequest
  | DataOut
  | LogoutRequest
  | SnackRequest;

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
// LUN field (§11.3.4, SAM-5 §4.7): single-level peripheral (< 256) or flat space (< 16384) addressing.

// One LUN encoder for the whole project (SAM addressing lives with the SCSI codecs); the PDU reader below is
// lenient on purpose: a target's PDU with an unusual LUN structure must not break framing.
export const MAX_LUN = MAX_FLAT_SPACE_LUN;
export { writeLun };

export function readLun(buf: Buffer, offset: number): number {
  const method = buf[offset] >> 6;
  if (method === 0 || method === 1) return ((buf[offset] & 0x3f) << 8) | buf[offset + 1];
  // Other addressing methods do not appear in responses to our own commands; keep the first level raw.
  return (buf[offset] << 8) | buf[offset + 1];
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

function writeIsid(buf: Buffer, isid: number): void {
  buf.writeUIntBE(isid, 8, 6);
}

function writeFlagsByte0(buf: Buffer, opcode: number, immediate: boolean): void {
  buf[0] = (immediate ? 0x40 : 0) | opcode;
}

/**
 * Writes a PDU's BHS and AHS (without header digest) and returns it. The data segment travels separately
 * (see framer.ts `frame`) so that payloads are never copied.
 */
export function encodeBhs(pdu: Pdu): Buffer {
  let ahs: Buffer | undefined;
  if (pdu.opcode === Opcode.SCSI_COMMAND) ahs = encodeCommandAhs(pdu);
  const ahsLen = ahs ? ahs.length : 0;
  const buf = Buffer.alloc(BHS_LENGTH + ahsLen);
  const dataLength = pdu.data ? pdu.data.length : 0;
  if (dataLength > MAX_DATA_SEGMENT_LENGTH) throw new RangeError(`data segment of ${dataLength} bytes exceeds 2^24-1`);
  buf[4] = ahsLen / 4;
  buf.writeUIntBE(dataLength, 5, 3);
  buf.writeUInt32BE(pdu.itt >>> 0, 16);
  switch (pdu.opcode) {
    case Opcode.NOP_OUT:
      writeFlagsByte0(buf, pdu.opcode, pdu.immediate);
      buf[1] = 0x80;
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.ttt >>> 0, 20);
      buf.writeUInt32BE(pdu.cmdSN >>> 0, 24);
      buf.writeUInt32BE(pdu.expStatSN >>> 0, 28);
      break;
    case Opcode.SCSI_COMMAND:
      writeFlagsByte0(buf, pdu.opcode, pdu.immediate);
      buf[1] = (pdu.final ? 0x80 : 0) | (pdu.read ? 0x40 : 0) | (pdu.write ? 0x20 : 0) | (pdu.attr & 0x07);
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.expectedDataTransferLength >>> 0, 20);
      buf.writeUInt32BE(pdu.cmdSN >>> 0, 24);
      buf.writeUInt32BE(pdu.expStatSN >>> 0, 28);
      pdu.cdb.copy(buf, 32, 0, Math.min(16, pdu.cdb.length));
      if (ahs) ahs.copy(buf, BHS_LENGTH);
      break;
    case Opcode.TASK_MGMT_REQUEST:
      writeFlagsByte0(buf, pdu.opcode, pdu.immediate);
      buf[1] = 0x80 | (pdu.function & 0x7f);
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.referencedTaskTag >>> 0, 20);
      buf.writeUInt32BE(pdu.cmdSN >>> 0, 24);
      buf.writeUInt32BE(pdu.expStatSN >>> 0, 28);
      buf.writeUInt32BE(pdu.refCmdSN >>> 0, 32);
      buf.writeUInt32BE(pdu.expDataSN >>> 0, 36);
      break;
    case Opcode.LOGIN_REQUEST:
      // §11.12: the I bit is always 1 in a Login Request.
      writeFlagsByte0(buf, pdu.opcode, true);
      buf[1] = (pdu.transit ? 0x80 : 0) | (pdu.cont ? 0x40 : 0) | ((pdu.csg & 3) << 2) | (pdu.nsg & 3);
      buf[2] = pdu.versionMax;
      buf[3] = pdu.versionMin;
      writeIsid(buf, pdu.isid);
      buf.writeUInt16BE(pdu.tsih, 14);
      buf.writeUInt16BE(pdu.cid, 20);
      buf.writeUInt32BE(pdu.cmdSN >>> 0, 24);
      buf.writeUInt32BE(pdu.expStatSN >>> 0, 28);
      break;
    case Opcode.TEXT_REQUEST:
      writeFlagsByte0(buf, pdu.opcode, pdu.immediate);
      buf[1] = (pdu.final ? 0x80 : 0) | (pdu.cont ? 0x40 : 0);
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.ttt >>> 0, 20);
      buf.writeUInt32BE(pdu.cmdSN >>> 0, 24);
      buf.writeUInt32BE(pdu.expStatSN >>> 0, 28);
      break;
    case Opcode.SCSI_DATA_OUT:
      buf[0] = pdu.opcode;
      buf[1] = pdu.final ? 0x80 : 0;
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.ttt >>> 0, 20);
      buf.writeUInt32BE(pdu.expStatSN >>> 0, 28);
      buf.writeUInt32BE(pdu.dataSN >>> 0, 36);
      buf.writeUInt32BE(pdu.bufferOffset >>> 0, 40);
      break;
    case Opcode.LOGOUT_REQUEST:
      writeFlagsByte0(buf, pdu.opcode, pdu.immediate);
      buf[1] = 0x80 | (pdu.reasonCode & 0x7f);
      buf.writeUInt16BE(pdu.cid, 20);
      buf.writeUInt32BE(pdu.cmdSN >>> 0, 24);
      buf.writeUInt32BE(pdu.expStatSN >>> 0, 28);
      break;
    case Opcode.SNACK_REQUEST:
      buf[0] = pdu.opcode;
      buf[1] = 0x80 | (pdu.type & 0x0f);
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.ttt >>> 0, 20);
      buf.writeUInt32BE(pdu.expStatSN >>> 0, 28);
      buf.writeUInt32BE(pdu.begRun >>> 0, 40);
      buf.writeUInt32BE(pdu.runLength >>> 0, 44);
      break;
    case Opcode.NOP_IN:
      buf[0] = pdu.opcode;
      buf[1] = 0x80;
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.ttt >>> 0, 20);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      break;
    case Opcode.SCSI_RESPONSE:
      buf[0] = pdu.opcode;
      buf[1] =
        0x80 |
        (pdu.bidiOverflow ? 0x10 : 0) |
        (pdu.bidiUnderflow ? 0x08 : 0) |
        (pdu.overflow ? 0x04 : 0) |
        (pdu.underflow ? 0x02 : 0);
      buf[2] = pdu.response;
      buf[3] = pdu.status;
      buf.writeUInt32BE(pdu.snackTag >>> 0, 20);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      buf.writeUInt32BE(pdu.expDataSN >>> 0, 36);
      buf.writeUInt32BE(pdu.bidiReadResidualCount >>> 0, 40);
      buf.writeUInt32BE(pdu.residualCount >>> 0, 44);
      break;
    case Opcode.TASK_MGMT_RESPONSE:
      buf[0] = pdu.opcode;
      buf[1] = 0x80;
      buf[2] = pdu.response;
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      break;
    case Opcode.LOGIN_RESPONSE:
      buf[0] = pdu.opcode;
      buf[1] = (pdu.transit ? 0x80 : 0) | (pdu.cont ? 0x40 : 0) | ((pdu.csg & 3) << 2) | (pdu.nsg & 3);
      buf[2] = pdu.versionMax;
      buf[3] = pdu.versionActive;
      writeIsid(buf, pdu.isid);
      buf.writeUInt16BE(pdu.tsih, 14);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      buf[36] = pdu.statusClass;
      buf[37] = pdu.statusDetail;
      break;
    case Opcode.TEXT_RESPONSE:
      buf[0] = pdu.opcode;
      buf[1] = (pdu.final ? 0x80 : 0) | (pdu.cont ? 0x40 : 0);
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.ttt >>> 0, 20);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      break;
    case Opcode.SCSI_DATA_IN:
      buf[0] = pdu.opcode;
      buf[1] =
        (pdu.final ? 0x80 : 0) |
        (pdu.ack ? 0x40 : 0) |
        (pdu.overflow ? 0x04 : 0) |
        (pdu.underflow ? 0x02 : 0) |
        (pdu.statusPresent ? 0x01 : 0);
      buf[3] = pdu.statusPresent ? pdu.status : 0;
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.ttt >>> 0, 20);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      buf.writeUInt32BE(pdu.dataSN >>> 0, 36);
      buf.writeUInt32BE(pdu.bufferOffset >>> 0, 40);
      buf.writeUInt32BE(pdu.residualCount >>> 0, 44);
      break;
    case Opcode.LOGOUT_RESPONSE:
      buf[0] = pdu.opcode;
      buf[1] = 0x80;
      buf[2] = pdu.response;
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      buf.writeUInt16BE(pdu.time2Wait, 40);
      buf.writeUInt16BE(pdu.time2Retain, 42);
      break;
    case Opcode.R2T:
      buf[0] = pdu.opcode;
      buf[1] = 0x80;
      writeLun(buf, 8, pdu.lun);
      buf.writeUInt32BE(pdu.ttt >>> 0, 20);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      buf.writeUInt32BE(pdu.r2tSN >>> 0, 36);
      buf.writeUInt32BE(pdu.bufferOffset >>> 0, 40);
      buf.writeUInt32BE(pdu.desiredDataTransferLength >>> 0, 44);
      break;
    case Opcode.ASYNC_MESSAGE:
      buf[0] = pdu.opcode;
      buf[1] = 0x80;
      writeLun(buf, 8, pdu.lun);
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      buf[36] = pdu.asyncEvent;
      buf[37] = pdu.asyncVCode;
      buf.writeUInt16BE(pdu.parameter1, 38);
      buf.writeUInt16BE(pdu.parameter2, 40);
      buf.writeUInt16BE(pdu.parameter3, 42);
      break;
    case Opcode.REJECT:
      buf[0] = pdu.opcode;
      buf[1] = 0x80;
      buf[2] = pdu.reason;
      writeStatTriple(buf, pdu.statSN, pdu.expCmdSN, pdu.maxCmdSN);
      buf.writeUInt32BE(pdu.dataSN >>> 0, 36);
      break;
    default:
      throw new RangeError(`cannot encode opcode ${(pdu as { opcode: number }).opcode}`);
  }
  return buf;
}

function writeStatTriple(buf: Buffer, statSN: number, expCmdSN: number, maxCmdSN: number): void {
  buf.writeUInt32BE(statSN >>> 0, 24);
  buf.writeUInt32BE(expCmdSN >>> 0, 28);
  buf.writeUInt32BE(maxCmdSN >>> 0, 32);
}

/** AHS for CDBs longer than 16 bytes and bidirectional commands (§11.2.2, §11.3.5). */
function encodeCommandAhs(pdu: ScsiCommand): Buffer | undefined {
  const parts: Buffer[] = [];
  if (pdu.cdb.length > 16) {
    // Extended CDB AHS: AHSLength = extra CDB bytes + 1 (the reserved byte), padded to 4.
    const extra = pdu.cdb.subarray(16);
    const len = extra.length + 1;
    const ahs = Buffer.alloc(3 + len + ((4 - ((3 + len) % 4)) % 4));
    ahs.writeUInt16BE(len, 0);
    ahs[2] = AhsType.EXTENDED_CDB;
    extra.copy(ahs, 4);
    parts.push(ahs);
  }
  if (pdu.bidiReadLength !== undefined) {
    const ahs = Buffer.alloc(8);
    ahs.writeUInt16BE(5, 0);
    ahs[2] = AhsType.BIDI_READ_LENGTH;
    ahs.writeUInt32BE(pdu.bidiReadLength >>> 0, 4);
    parts.push(ahs);
  }
  if (parts.length === 0) return undefined;
  const all = Buffer.concat(parts);
  if (all.length > 255 * 4) throw new RangeError('AHS longer than 1020 bytes');
  return all;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

/** DataSegmentLength from a BHS (§11.2.1.4). */
export function bhsDataSegmentLength(bhs: Buffer, offset = 0): number {
  return bhs.readUIntBE(offset + 5, 3);
}

/** TotalAHSLength in bytes (§11.2.1.3). */
export function bhsAhsLength(bhs: Buffer, offset = 0): number {
  return bhs[offset + 4] * 4;
}

/**
 * Parses one framed PDU. `header` is the BHS followed by the AHS (no digest); `data` is the data segment
 * without padding. Malformed fields throw ProtocolError naming the opcode and offset.
 */
export function decodePdu(header: Buffer, data: Buffer = EMPTY): Pdu {
  if (header.length < BHS_LENGTH) throw new ProtocolError(`short BHS: ${header.length} bytes`, undefined, 0);
  const opcode = header[0] & 0x3f;
  const immediate = (header[0] & 0x40) !== 0;
  const b1 = header[1];
  const ahsLen = bhsAhsLength(header);
  if (header.length !== BHS_LENGTH + ahsLen)
    throw new ProtocolError(`header is ${header.length} bytes, TotalAHSLength says ${BHS_LENGTH + ahsLen}`, opcode, 4);
  const dsl = bhsDataSegmentLength(header);
  if (dsl !== data.length)
    throw new ProtocolError(`data segment is ${data.length} bytes, DataSegmentLength says ${dsl}`, opcode, 5);
  const itt = header.readUInt32BE(16);
  const u32 = (o: number) => header.readUInt32BE(o);
  const lun = () => readLun(header, 8);
  const withData = data.length > 0 ? data : undefined;
  switch (opcode) {
    case Opcode.NOP_OUT:
      return {
        opcode,
        immediate,
        itt,
        lun: lun(),
        ttt: u32(20),
        cmdSN: u32(24),
        expStatSN: u32(28),
        data: withData,
      };
    case Opcode.SCSI_COMMAND: {
      const ahs = decodeAhs(header, opcode);
      const cdb = ahs.extendedCdb ? Buffer.concat([header.subarray(32, 48), ahs.extendedCdb]) : Buffer.from(header.subarray(32, 48));
      const pdu: ScsiCommand = {
        opcode,
        immediate,
        final: (b1 & 0x80) !== 0,
        read: (b1 & 0x40) !== 0,
        write: (b1 & 0x20) !== 0,
        attr: b1 & 0x07,
        itt,
        lun: lun(),
        expectedDataTransferLength: u32(20),
        cmdSN: u32(24),
        expStatSN: u32(28),
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
        function: b1 & 0x7f,
        itt,
        lun: lun(),
        referencedTaskTag: u32(20),
        cmdSN: u32(24),
        expStatSN: u32(28),
        refCmdSN: u32(32),
        expDataSN: u32(36),
        data: withData,
      };
    case Opcode.LOGIN_REQUEST:
    case Opcode.LOGIN_RESPONSE: {
      const transit = (b1 & 0x80) !== 0;
      const cont = (b1 & 0x40) !== 0;
      // §11.12.2: T and C must not both be set.
      if (transit && cont) throw new ProtocolError('login PDU with both T and C bits set', opcode, 1);
      const csg = (b1 >> 2) & 3;
      const nsg = b1 & 3;
      if (csg === 2 || (transit && nsg === 2)) throw new ProtocolError(`reserved login stage (CSG ${csg}, NSG ${nsg})`, opcode, 1);
      const isid = header.readUIntBE(8, 6);
      const tsih = header.readUInt16BE(14);
      if (opcode === Opcode.LOGIN_REQUEST)
        return {
          opcode,
          transit,
          cont,
          csg,
          nsg,
          versionMax: header[2],
          versionMin: header[3],
          isid,
          tsih,
          itt,
          cid: header.readUInt16BE(20),
          cmdSN: u32(24),
          expStatSN: u32(28),
          data: withData,
        };
      return {
        opcode,
        transit,
        cont,
        csg,
        nsg,
        versionMax: header[2],
        versionActive: header[3],
        isid,
        tsih,
        itt,
        statSN: u32(24),
        expCmdSN: u32(28),
        maxCmdSN: u32(32),
        statusClass: header[36],
        statusDetail: header[37],
        data: withData,
      };
    }
    case Opcode.TEXT_REQUEST:
    case Opcode.TEXT_RESPONSE: {
      const final = (b1 & 0x80) !== 0;
      const cont = (b1 & 0x40) !== 0;
      // §11.10.2: F and C must not both be set.
      if (final && cont) throw new ProtocolError('text PDU with both F and C bits set', opcode, 1);
      if (opcode === Opcode.TEXT_REQUEST)
        return { opcode, immediate, final, cont, itt, lun: lun(), ttt: u32(20), cmdSN: u32(24), expStatSN: u32(28), data: withData };
      return {
        opcode,
        final,
        cont,
        itt,
        lun: lun(),
        ttt: u32(20),
        statSN: u32(24),
        expCmdSN: u32(28),
        maxCmdSN: u32(32),
        data: withData,
      };
    }
    case Opcode.SCSI_DATA_OUT:
      return {
        opcode,
        final: (b1 & 0x80) !== 0,
        itt,
        lun: lun(),
        ttt: u32(20),
        expStatSN: u32(28),
        dataSN: u32(36),
        bufferOffset: u32(40),
        data: withData,
      };
    case Opcode.LOGOUT_REQUEST:
      return {
        opcode,
        immediate,
        reasonCode: b1 & 0x7f,
        itt,
        cid: header.readUInt16BE(20),
        cmdSN: u32(24),
        expStatSN: u32(28),
        data: withData,
      };
    case Opcode.SNACK_REQUEST:
      return {
        opcode,
        type: b1 & 0x0f,
        itt,
        lun: lun(),
        ttt: u32(20),
        expStatSN: u32(28),
        begRun: u32(40),
        runLength: u32(44),
        data: withData,
      };
    case Opcode.NOP_IN:
      return { opcode, itt, lun: lun(), ttt: u32(20), statSN: u32(24), expCmdSN: u32(28), maxCmdSN: u32(32), data: withData };
    case Opcode.SCSI_RESPONSE: {
      const overflow = (b1 & 0x04) !== 0;
      const underflow = (b1 & 0x02) !== 0;
      const bidiOverflow = (b1 & 0x10) !== 0;
      const bidiUnderflow = (b1 & 0x08) !== 0;
      // §11.4.1: O and U (and o and u) are mutually exclusive.
      if (overflow && underflow) throw new ProtocolError('SCSI Response with both O and U set', opcode, 1);
      if (bidiOverflow && bidiUnderflow) throw new ProtocolError('SCSI Response with both o and u set', opcode, 1);
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
        response: header[2],
        status: header[3],
        itt,
        snackTag: u32(20),
        statSN: u32(24),
        expCmdSN: u32(28),
        maxCmdSN: u32(32),
        expDataSN: u32(36),
        bidiReadResidualCount: u32(40),
        residualCount: u32(44),
        data: withData,
      };
    }
    case Opcode.TASK_MGMT_RESPONSE:
      return { opcode, response: header[2], itt, statSN: u32(24), expCmdSN: u32(28), maxCmdSN: u32(32), data: withData };
    case Opcode.SCSI_DATA_IN: {
      const final = (b1 & 0x80) !== 0;
      const statusPresent = (b1 & 0x01) !== 0;
      const overflow = (b1 & 0x04) !== 0;
      const underflow = (b1 & 0x02) !== 0;
      // §11.7.4: S may be set only together with F; O/U are meaningful only with S.
      if (statusPresent && !final) throw new ProtocolError('Data-In with S bit but no F bit', opcode, 1);
      if (overflow && underflow) throw new ProtocolError('Data-In with both O and U set', opcode, 1);
      return {
        opcode,
        final,
        ack: (b1 & 0x40) !== 0,
        overflow,
        underflow,
        statusPresent,
        status: statusPresent ? header[3] : 0,
        itt,
        lun: lun(),
        ttt: u32(20),
        statSN: u32(24),
        expCmdSN: u32(28),
        maxCmdSN: u32(32),
        dataSN: u32(36),
        bufferOffset: u32(40),
        residualCount: u32(44),
        data: withData,
      };
    }
    case Opcode.LOGOUT_RESPONSE:
      return {
        opcode,
        response: header[2],
        itt,
        statSN: u32(24),
        expCmdSN: u32(28),
        maxCmdSN: u32(32),
        time2Wait: header.readUInt16BE(40),
        time2Retain: header.readUInt16BE(42),
        data: withData,
      };
    case Opcode.R2T: {
      const desired = u32(44);
      // §11.8.4: Desired Data Transfer Length must not be 0.
      if (desired === 0) throw new ProtocolError('R2T with Desired Data Transfer Length 0', opcode, 44);
      return {
        opcode,
        itt,
        lun: lun(),
        ttt: u32(20),
        statSN: u32(24),
        expCmdSN: u32(28),
        maxCmdSN: u32(32),
        r2tSN: u32(36),
        bufferOffset: u32(40),
        desiredDataTransferLength: desired,
        data: withData,
      };
    }
    case Opcode.ASYNC_MESSAGE:
      return {
        opcode,
        itt,
        lun: lun(),
        statSN: u32(24),
        expCmdSN: u32(28),
        maxCmdSN: u32(32),
        asyncEvent: header[36],
        asyncVCode: header[37],
        parameter1: header.readUInt16BE(38),
        parameter2: header.readUInt16BE(40),
        parameter3: header.readUInt16BE(42),
        data: withData,
      };
    case Opcode.REJECT:
      // §11.17: the data segment holds the complete header of the rejected PDU.
      if (data.length < BHS_LENGTH) throw new ProtocolError(`Reject carries ${data.length} bytes, not a whole BHS`, opcode, 5);
      return {
        opcode,
        reason: header[2],
        itt,
        statSN: u32(24),
        expCmdSN: u32(28),
        maxCmdSN: u32(32),
        dataSN: u32(36),
        data: withData,
      };
    default:
      throw new ProtocolError(`unknown opcode`, opcode, 0);
  }
}

const EMPTY = Buffer.alloc(0);

function decodeAhs(header: Buffer, opcode: number): { extendedCdb?: Buffer; bidiReadLength?: number } {
  const out: { extendedCdb?: Buffer; bidiReadLength?: number } = {};
  let off = BHS_LENGTH;
  while (off < header.length) {
    if (off + 3 > header.length) throw new ProtocolError('truncated AHS', opcode, off);
    const len = header.readUInt16BE(off);
    const type = header[off + 2];
    const end = off + 3 + len;
    if (end > header.length) throw new ProtocolError(`AHS length ${len} runs past TotalAHSLength`, opcode, off);
    if (type === AhsType.EXTENDED_CDB) {
      if (len < 1) throw new ProtocolError('empty Extended CDB AHS', opcode, off);
      out.extendedCdb = Buffer.from(header.subarray(off + 4, end));
    } else if (type === AhsType.BIDI_READ_LENGTH) {
      if (len !== 5) throw new ProtocolError(`Bidirectional Read Length AHS of length ${len}`, opcode, off);
      out.bidiReadLength = header.readUInt32BE(off + 4);
    } else {
      throw new ProtocolError(`unknown AHS type ${type}`, opcode, off + 2);
    }
    off = end + ((4 - ((3 + len) % 4)) % 4);
  }
  return out;
}

/** A short human-readable name for logs: "SCSI_DATA_IN itt=0x1f". */
export function describePdu(pdu: Pdu): string {
  return `${OPCODE_NAMES[pdu.opcode] ?? pdu.opcode} itt=0x${(pdu.itt >>> 0).toString(16)}`;
}
