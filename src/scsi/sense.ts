/**
 * Sense data codec: fixed (response codes 0x70/0x71) and descriptor (0x72/0x73) formats and sense key
 * names (SPC-4 §4.5); ASC/ASCQ descriptions live in sense-codes.ts.
 */
import { framed, hexByte, need } from './bytes.js';
import { ScsiParseError } from './parse-error.js';
import { ascDescription } from './sense-codes.js';

/** RESPONSE CODE values (SPC-4 §4.5). */
export const SenseResponseCode = {
  CURRENT_FIXED: 0x70,
  DEFERRED_FIXED: 0x71,
  CURRENT_DESCRIPTOR: 0x72,
  DEFERRED_DESCRIPTOR: 0x73,
} as const;
export type SenseResponseCode = (typeof SenseResponseCode)[keyof typeof SenseResponseCode];

/** SENSE KEY values (SPC-4 §4.5). 0x0C is obsolete (was EQUAL). */
export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  VENDOR_SPECIFIC: 0x9,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  VOLUME_OVERFLOW: 0xd,
  MISCOMPARE: 0xe,
  COMPLETED: 0xf,
} as const;
export type SenseKey = (typeof SenseKey)[keyof typeof SenseKey];

const SENSE_KEY_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(SenseKey).map(([name, code]) => [code, name.replaceAll('_', ' ')]),
);

/** `ILLEGAL REQUEST`; the obsolete 0x0C reads `SENSE KEY 0x0c`. */
export function senseKeyName(key: number): string {
  return SENSE_KEY_NAMES.get(key) ?? `SENSE KEY ${hexByte(key)}`;
}

/** Sense data descriptor types (SPC-4 §4.5), for `SenseData.descriptors`. */
export const SenseDescriptorType = {
  INFORMATION: 0x00,
  COMMAND_SPECIFIC_INFORMATION: 0x01,
  SENSE_KEY_SPECIFIC: 0x02,
  FIELD_REPLACEABLE_UNIT: 0x03,
  STREAM_COMMANDS: 0x04,
  BLOCK_COMMANDS: 0x05,
  OSD_OBJECT_IDENTIFICATION: 0x06,
  OSD_RESPONSE_INTEGRITY_CHECK_VALUE: 0x07,
  OSD_ATTRIBUTE_IDENTIFICATION: 0x08,
  ATA_STATUS_RETURN: 0x09,
  ANOTHER_PROGRESS_INDICATION: 0x0a,
  USER_DATA_SEGMENT_REFERRAL: 0x0b,
  FORWARDED_SENSE_DATA: 0x0c,
  DIRECT_ACCESS_BLOCK_DEVICE: 0x0d,
} as const;

/**
 * The SENSE KEY SPECIFIC field (SPC-4 §4.5), decoded according to the sense key; present only when
 * its SKSV bit is set.
 */
export type SenseKeySpecific =
  /** ILLEGAL REQUEST: which byte (and bit) of the CDB or parameter list was wrong. */
  | {
      readonly kind: 'field-pointer';
      readonly inCdb: boolean;
      readonly fieldPointer: number;
      readonly bitPointer?: number;
    }
  /** NO SENSE and NOT READY: progress of a long operation (format, sanitize), in 1/65536ths. */
  | { readonly kind: 'progress'; readonly progress: number }
  /** RECOVERED ERROR, MEDIUM ERROR, HARDWARE ERROR: retries the device server made. */
  | { readonly kind: 'actual-retry-count'; readonly actualRetryCount: number }
  /** COPY ABORTED: where in the segment descriptor or parameter list the copy failed. */
  | {
      readonly kind: 'segment-pointer';
      readonly inSegmentDescriptor: boolean;
      readonly fieldPointer: number;
      readonly bitPointer?: number;
    }
  /** UNIT ATTENTION: more unit attention conditions were pending than the device server could queue. */
  | { readonly kind: 'unit-attention-queue-overflow'; readonly overflow: boolean }
  /** Any other sense key: the three bytes as one number (the SKSV bit is included). */
  | { readonly kind: 'other'; readonly value: number };

/** One descriptor of descriptor-format sense data (SPC-4 §4.5). */
export interface SenseDescriptor {
  /** DESCRIPTOR TYPE (see `SenseDescriptorType`). */
  readonly type: number;
  /** The bytes after the two-byte descriptor header. */
  readonly data: Buffer;
}

/** Parsed sense data, whichever format the target chose. */
export interface SenseData {
  readonly format: 'fixed' | 'descriptor';
  /** 0x70..0x73 (see `SenseResponseCode`). */
  readonly responseCode: number;
  /** True for current errors (0x70/0x72), false for deferred errors (0x71/0x73) of an earlier command. */
  readonly current: boolean;
  readonly key: number;
  /** `ILLEGAL REQUEST` etc. */
  readonly keyName: string;
  readonly asc: number;
  readonly ascq: number;
  /** T10 description of asc/ascq, or `ASC 0x.. ASCQ 0x..`. */
  readonly description: string;
  /**
   * INFORMATION field when the target marked it valid: for a medium error, the first LBA that failed.
   * A bigint because the descriptor format carries 64 bits.
   */
  readonly information?: bigint;
  /** COMMAND-SPECIFIC INFORMATION, when present and non-zero. */
  readonly commandSpecificInformation?: bigint;
  readonly senseKeySpecific?: SenseKeySpecific;
  /** FIELD REPLACEABLE UNIT CODE, when non-zero. */
  readonly fieldReplaceableUnitCode?: number;
  readonly filemark: boolean;
  readonly endOfMedium: boolean;
  /** INCORRECT LENGTH INDICATOR. */
  readonly ili: boolean;
  /** Descriptor format only: every descriptor, including the ones decoded above. Empty for fixed format. */
  readonly descriptors: readonly SenseDescriptor[];
  /** The buffer ended before the ADDITIONAL SENSE LENGTH said; fields past the end read as zero. */
  readonly truncated: boolean;
}

const FIXED = 'fixed sense data';
const DESCRIPTOR = 'descriptor sense data';

/**
 * Parses sense data as returned after the SenseLength field of a SCSI Response PDU (RFC 7143 §11.4),
 * or by REQUEST SENSE. Short sense data is accepted the way Linux's scsi_normalize_sense does: fields the
 * target did not send read as zero and `truncated` is set. Throws ScsiParseError on an empty buffer or a
 * response code other than 0x70..0x73.
 */
export function parseSense(buf: Buffer): SenseData {
  need(buf, 0, 1, 'sense data', 'RESPONSE CODE');
  const responseCode = buf[0] & 0x7f;
  switch (responseCode) {
    case SenseResponseCode.CURRENT_FIXED:
    case SenseResponseCode.DEFERRED_FIXED:
      return parseFixed(buf, responseCode);
    case SenseResponseCode.CURRENT_DESCRIPTOR:
    case SenseResponseCode.DEFERRED_DESCRIPTOR:
      return parseDescriptor(buf, responseCode);
    default:
      throw new ScsiParseError('sense data', 0, `unsupported RESPONSE CODE ${hexByte(responseCode)}`);
  }
}

/** Length of fixed-format sense data with no additional bytes beyond the standard fields. */
const FIXED_SENSE_LENGTH = 18;

/** Fixed format (SPC-4 §4.5): ADDITIONAL SENSE LENGTH at byte 7, ASC/ASCQ at 12/13. */
function parseFixed(buf: Buffer, responseCode: number): SenseData {
  need(buf, 0, 3, FIXED, 'SENSE KEY');
  // Like Linux's scsi_normalize_sense: bytes past ADDITIONAL SENSE LENGTH are not sense data.
  const { data, truncated } = framed(buf, buf.length >= 8 ? 8 + buf[7] : FIXED_SENSE_LENGTH);
  const byte = (i: number): number => (i < data.length ? data[i] : 0);
  const key = data[2] & 0x0f;
  const asc = byte(12);
  const ascq = byte(13);
  const valid = (data[0] & 0x80) !== 0;
  const commandSpecific = data.length >= 12 ? data.readUInt32BE(8) : 0;
  const fru = byte(14);
  const sks = data.length >= 18 ? senseKeySpecific(key, data.subarray(15, 18)) : undefined;
  return {
    format: 'fixed',
    responseCode,
    current: responseCode === SenseResponseCode.CURRENT_FIXED,
    key,
    keyName: senseKeyName(key),
    asc,
    ascq,
    description: ascDescription(asc, ascq),
    ...(valid && data.length >= 7 ? { information: BigInt(data.readUInt32BE(3)) } : {}),
    ...(commandSpecific !== 0 ? { commandSpecificInformation: BigInt(commandSpecific) } : {}),
    ...(sks !== undefined ? { senseKeySpecific: sks } : {}),
    ...(fru !== 0 ? { fieldReplaceableUnitCode: fru } : {}),
    filemark: (data[2] & 0x80) !== 0,
    endOfMedium: (data[2] & 0x40) !== 0,
    ili: (data[2] & 0x20) !== 0,
    descriptors: [],
    // ASC and ASCQ need 14 bytes, even when a broken ADDITIONAL SENSE LENGTH claims fewer.
    truncated: truncated || data.length < 14,
  };
}

/** Descriptor format (SPC-4 §4.5): 8-byte header, then descriptors up to 8 + ADDITIONAL SENSE LENGTH. */
function parseDescriptor(buf: Buffer, responseCode: number): SenseData {
  need(buf, 0, 2, DESCRIPTOR, 'SENSE KEY');
  const available = buf.length >= 8 ? 8 + buf[7] : 8;
  const { data, truncated } = framed(buf, available);
  const key = data[1] & 0x0f;
  const asc = data.length > 2 ? data[2] : 0;
  const ascq = data.length > 3 ? data[3] : 0;

  const descriptors: SenseDescriptor[] = [];
  let information: bigint | undefined;
  let commandSpecificInformation: bigint | undefined;
  let sks: SenseKeySpecific | undefined;
  let fru: number | undefined;
  let filemark = false;
  let endOfMedium = false;
  let ili = false;

  for (let o = 8; o < data.length; ) {
    // A descriptor cut off where the buffer ends is truncation; one that runs past the ADDITIONAL SENSE
    // LENGTH is a malformed response.
    if (o + 2 > data.length) {
      if (truncated) break;
      throw new ScsiParseError(DESCRIPTOR, o, 'descriptor header runs past the ADDITIONAL SENSE LENGTH');
    }
    const descriptorEnd = o + 2 + data[o + 1];
    if (descriptorEnd > available) {
      throw new ScsiParseError(DESCRIPTOR, o, 'descriptor runs past the ADDITIONAL SENSE LENGTH');
    }
    if (descriptorEnd > data.length) break;
    const type = data[o];
    const body = data.subarray(o + 2, descriptorEnd);
    descriptors.push({ type, data: body });
    // Each type has a fixed ADDITIONAL LENGTH (SPC-4 §4.5); a descriptor too short for its type stays in
    // `descriptors` undecoded rather than costing the caller the sense key.
    switch (type) {
      case SenseDescriptorType.INFORMATION:
        if (body.length >= 10 && body[0] & 0x80) information = body.readBigUInt64BE(2);
        break;
      case SenseDescriptorType.COMMAND_SPECIFIC_INFORMATION:
        if (body.length >= 10) commandSpecificInformation = body.readBigUInt64BE(2);
        break;
      case SenseDescriptorType.SENSE_KEY_SPECIFIC:
        if (body.length >= 5) sks = senseKeySpecific(key, body.subarray(2, 5));
        break;
      case SenseDescriptorType.FIELD_REPLACEABLE_UNIT:
        if (body.length >= 2 && body[1] !== 0) fru = body[1];
        break;
      case SenseDescriptorType.STREAM_COMMANDS:
        if (body.length >= 2) {
          filemark = (body[1] & 0x80) !== 0;
          endOfMedium = (body[1] & 0x40) !== 0;
          ili = (body[1] & 0x20) !== 0;
        }
        break;
      case SenseDescriptorType.BLOCK_COMMANDS:
        if (body.length >= 2) ili = (body[1] & 0x20) !== 0;
        break;
      default:
        break;
    }
    o = descriptorEnd;
  }

  return {
    format: 'descriptor',
    responseCode,
    current: responseCode === SenseResponseCode.CURRENT_DESCRIPTOR,
    key,
    keyName: senseKeyName(key),
    asc,
    ascq,
    description: ascDescription(asc, ascq),
    ...(information !== undefined ? { information } : {}),
    ...(commandSpecificInformation ? { commandSpecificInformation } : {}),
    ...(sks !== undefined ? { senseKeySpecific: sks } : {}),
    ...(fru !== undefined ? { fieldReplaceableUnitCode: fru } : {}),
    filemark,
    endOfMedium,
    ili,
    descriptors,
    truncated,
  };
}

/** SENSE KEY SPECIFIC field (SPC-4 §4.5): three bytes, SKSV in bit 7 of the first. */
function senseKeySpecific(key: number, b: Buffer): SenseKeySpecific | undefined {
  if ((b[0] & 0x80) === 0) return undefined;
  const pointer = b.readUInt16BE(1);
  const bitPointer = b[0] & 0x08 ? { bitPointer: b[0] & 0x07 } : {};
  switch (key) {
    case SenseKey.ILLEGAL_REQUEST:
      return { kind: 'field-pointer', inCdb: (b[0] & 0x40) !== 0, fieldPointer: pointer, ...bitPointer };
    case SenseKey.NO_SENSE:
    case SenseKey.NOT_READY:
      return { kind: 'progress', progress: pointer };
    case SenseKey.RECOVERED_ERROR:
    case SenseKey.MEDIUM_ERROR:
    case SenseKey.HARDWARE_ERROR:
      return { kind: 'actual-retry-count', actualRetryCount: pointer };
    case SenseKey.COPY_ABORTED:
      return {
        kind: 'segment-pointer',
        inSegmentDescriptor: (b[0] & 0x20) !== 0,
        fieldPointer: pointer,
        ...bitPointer,
      };
    case SenseKey.UNIT_ATTENTION:
      return { kind: 'unit-attention-queue-overflow', overflow: (b[0] & 0x01) !== 0 };
    default:
      return { kind: 'other', value: b.readUIntBE(0, 3) };
  }
}

/** What `encodeFixedSense` writes. */
export interface FixedSenseFields {
  key: number;
  asc: number;
  ascq: number;
  /** Deferred error (0x71) instead of current (0x70). Default false. */
  deferred?: boolean;
  /** Written to INFORMATION with VALID set; must fit 32 bits. */
  information?: number | bigint;
}

/**
 * Builds 18 bytes of fixed-format sense data (SPC-4 §4.5), the form tgtd and most targets send: for
 * test targets and for answering REQUEST SENSE in fakes.
 */
export function encodeFixedSense(fields: FixedSenseFields): Buffer {
  const { key, asc, ascq, deferred = false, information } = fields;
  for (const [name, value, max] of [
    ['key', key, 0x0f],
    ['asc', asc, 0xff],
    ['ascq', ascq, 0xff],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > max) {
      throw new RangeError(`fixed sense: ${name} ${value} is not an integer in 0..${max}`);
    }
  }
  const buf = Buffer.alloc(18);
  buf[0] = deferred ? SenseResponseCode.DEFERRED_FIXED : SenseResponseCode.CURRENT_FIXED;
  buf[2] = key;
  buf[7] = 18 - 8;
  buf[12] = asc;
  buf[13] = ascq;
  if (information !== undefined) {
    const info = BigInt(information);
    if (info < 0n || info > 0xffff_ffffn) {
      throw new RangeError(`fixed sense: INFORMATION ${info} does not fit in 32 bits`);
    }
    buf[0] |= 0x80;
    buf.writeUInt32BE(Number(info), 3);
  }
  return buf;
}
