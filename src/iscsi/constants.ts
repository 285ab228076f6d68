/** Wire constants of iSCSI (RFC 7143 §11): opcodes, login stages, reasons and codes, with the RFC's names. */

export const BHS_LENGTH = 48;
export const DIGEST_LENGTH = 4;
export const RESERVED_TAG = 0xffff_ffff;
/** Default MaxRecvDataSegmentLength, also the limit during login (RFC 7143 §13.12). */
export const DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH = 8192;
/** The DataSegmentLength field is 24 bits. */
export const MAX_DATA_SEGMENT_LENGTH = 0xff_ffff;

export const Opcode = {
  NOP_OUT: 0x00,
  SCSI_COMMAND: 0x01,
  TASK_MGMT_REQUEST: 0x02,
  LOGIN_REQUEST: 0x03,
  TEXT_REQUEST: 0x04,
  SCSI_DATA_OUT: 0x05,
  LOGOUT_REQUEST: 0x06,
  SNACK_REQUEST: 0x10,
  NOP_IN: 0x20,
  SCSI_RESPONSE: 0x21,
  TASK_MGMT_RESPONSE: 0x22,
  LOGIN_RESPONSE: 0x23,
  TEXT_RESPONSE: 0x24,
  SCSI_DATA_IN: 0x25,
  LOGOUT_RESPONSE: 0x26,
  R2T: 0x31,
  ASYNC_MESSAGE: 0x32,
  REJECT: 0x3f,
} as const;
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

export const OPCODE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Opcode).map(([k, v]) => [v, k]));

/** Login stages, CSG/NSG (§11.12.3). */
export const Stage = {
  SECURITY_NEGOTIATION: 0,
  LOGIN_OPERATIONAL_NEGOTIATION: 1,
  FULL_FEATURE_PHASE: 3,
} as const;
export type Stage = (typeof Stage)[keyof typeof Stage];

/** Task attributes of a SCSI Command (§11.3.1). */
export const TaskAttr = { UNTAGGED: 0, SIMPLE: 1, ORDERED: 2, HEAD_OF_QUEUE: 3, ACA: 4 } as const;

/** Task management functions (§11.5.1). */
export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;

/** Task management responses (§11.6.1). */
export const TmfResponse = {
  FUNCTION_COMPLETE: 0,
  TASK_DOES_NOT_EXIST: 1,
  LUN_DOES_NOT_EXIST: 2,
  TASK_STILL_ALLEGIANT: 3,
  TASK_REASSIGNMENT_NOT_SUPPORTED: 4,
  FUNCTION_NOT_SUPPORTED: 5,
  FUNCTION_AUTHORIZATION_FAILED: 6,
  FUNCTION_REJECTED: 255,
} as const;

/** Logout reason codes (§11.14.1). */
export const LogoutReason = { CLOSE_SESSION: 0, CLOSE_CONNECTION: 1, REMOVE_CONNECTION_FOR_RECOVERY: 2 } as const;

/** Logout responses (§11.15.1). */
export const LogoutResponseCode = {
  SUCCESS: 0,
  CID_NOT_FOUND: 1,
  RECOVERY_NOT_SUPPORTED: 2,
  CLEANUP_FAILED: 3,
} as const;

/** Async events (§11.9.1). */
export const AsyncEvent = {
  SCSI_ASYNC_EVENT: 0,
  LOGOUT_REQUEST: 1,
  CONNECTION_DROP: 2,
  SESSION_DROP: 3,
  PARAMETER_NEGOTIATION: 4,
  VENDOR_SPECIFIC: 255,
} as const;

/** Reject reasons (§11.17.1). */
export const RejectReason = {
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  LONG_OPERATION_REJECT: 0x0a,
  NEGOTIATION_RESET: 0x0b,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;

/** SNACK types (§11.16.1). */
export const SnackType = { DATA_R2T: 0, STATUS: 1, DATA_ACK: 2, RDATA: 3 } as const;

/** AHS types (§11.2.2.1). */
export const AhsType = { EXTENDED_CDB: 1, BIDI_READ_LENGTH: 2 } as const;

/** SCSI Response "Response" field (§11.4.3). */
export const ScsiResponseCode = { COMMAND_COMPLETED: 0x00, TARGET_FAILURE: 0x01 } as const;
