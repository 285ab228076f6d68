/**
 * iSCSI text data codec: NUL-terminated key=value pairs, their limits, and the C-bit splitting and
 * reassembly of long text over several Login/Text PDUs (RFC 7143 §6.1 text format, §6.2, §6.3).
 */
import { ProtocolError } from './errors.js';

/** One key=value pair in wire order. Values stay strings: only the key's rule knows their type. */
export type TextPair = [key: string, value: string];

/** §6.1: a standard-label "must not exceed 63 characters". */
export const MAX_KEY_LENGTH = 63;
/** §6.1: "If not otherwise specified, the maximum length of a simple-value ... is 255 bytes". */
export const MAX_VALUE_LENGTH = 255;
/**
 * Cap for values the RFC lets grow past 255 bytes. CHAP_C and CHAP_R are large-binary-values: a 1024-byte
 * challenge is 2050 characters in hex, 1370 in base64. We do not parse per value type (a list-of-values
 * is limited per element, not as a whole), so one generous cap bounds memory for every such key.
 */
export const MAX_LARGE_VALUE_LENGTH = 8192;
/** Keys whose values are large-binary-values (§12.1.3) and may exceed MAX_VALUE_LENGTH. */
export const LARGE_VALUE_KEYS: ReadonlySet<string> = new Set(['CHAP_C', 'CHAP_R']);
/** Keys that may legitimately appear more than once in one text exchange: SendTargets answers (§13.3, §13.8). */
export const REPEATABLE_KEYS: ReadonlySet<string> = new Set(['TargetName', 'TargetAddress']);

/**
 * §6.1: a key is a standard-label (letters, digits, '.', '-', '+', '@', '_'; first a capital letter) or a
 * public extension key `X#<label>` (§13.26 X#NodeArchitecture). Vendor keys `X-...` are standard-labels.
 * RFC 7143's own iSCSIProtocolLevel (§13.24) starts with a small letter, so any letter may come first.
 */
const KEY_RE = /^(?:X#[A-Za-z0-9.\-+@_]+|[A-Za-z][A-Za-z0-9.\-+@_]*)$/;

export interface TextParseOptions {
  /**
   * Cap on every value's length in bytes, replacing the per-key default (255, or 8192 for
   * LARGE_VALUE_KEYS). SendTargets answers use 8192: see discovery.ts.
   */
  maxValueLength?: number;
  /** Opcode reported in ProtocolError (Login/Text Response). */
  opcode?: number;
}

// ignoreBOM: a value that starts with U+FEFF keeps it (and a name holding it is then refused as such),
// rather than losing it silently on the way in.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function isValidKeyName(key: string): boolean {
  return key.length <= MAX_KEY_LENGTH && KEY_RE.test(key);
}

function valueLimit(key: string, options?: TextParseOptions): number {
  if (options?.maxValueLength !== undefined) return options.maxValueLength;
  return LARGE_VALUE_KEYS.has(key) ? MAX_LARGE_VALUE_LENGTH : MAX_VALUE_LENGTH;
}

/**
 * Parses one logical text data segment (all C-bit continuations already joined, see TextAccumulator).
 * Offsets in errors are into `data`. Duplicate keys are not checked here (see assertUniqueKeys) because
 * SendTargets answers repeat TargetName/TargetAddress.
 */
export function parseTextData(data: Buffer, options?: TextParseOptions): TextPair[] {
  const pairs: TextPair[] = [];
  if (data.length === 0) return pairs;
  const opcode = options?.opcode;
  // §6.1: "Every key=value pair, including the last or only pair in a LTDS, MUST be followed by one null".
  if (data[data.length - 1] !== 0) throw new ProtocolError('text data does not end with a NUL (RFC 7143 §6.1)', opcode, data.length - 1);
  let start = 0;
  while (start < data.length) {
    const end = data.indexOf(0, start);
    if (end === start) {
      // Extra NULs between pairs: some targets pad text this way; open-iscsi skips them too.
      start++;
      continue;
    }
    const eq = data.indexOf(0x3d, start);
    if (eq < 0 || eq > end) throw new ProtocolError(`text pair without '=' (RFC 7143 §6.1)`, opcode, start);
    const keyBytes = data.subarray(start, eq);
    const key = keyBytes.toString('latin1');
    if (keyBytes.length > MAX_KEY_LENGTH || !KEY_RE.test(key))
      throw new ProtocolError(`invalid key name ${JSON.stringify(truncate(key))} (RFC 7143 §6.1)`, opcode, start);
    const valueBytes = data.subarray(eq + 1, end);
    const limit = valueLimit(key, options);
    if (valueBytes.length > limit)
      throw new ProtocolError(`value of ${key} is ${valueBytes.length} bytes, more than ${limit} (RFC 7143 §6.1)`, opcode, eq + 1);
    let value: string;
    try {
      value = utf8.decode(valueBytes);
    } catch (err) {
      // §6.1: text is UTF-8; a malformed sequence means a broken or hostile peer.
      throw new ProtocolError(`value of ${key} is not UTF-8 (RFC 7143 §6.1)`, opcode, eq + 1, { cause: err });
    }
    pairs.push([key, value]);
    start = end + 1;
  }
  return pairs;
}

/** Encodes pairs as key=value NUL ... Throws RangeError for pairs we must never send (our own bug or config). */
export function encodeTextData(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of pairs) {
    if (!isValidKeyName(key)) throw new RangeError(`invalid text key ${JSON.stringify(truncate(key))}`);
    const v = Buffer.from(value, 'utf8');
    if (v.includes(0)) throw new RangeError(`value of ${key} contains a NUL`);
    const limit = valueLimit(key);
    if (v.length > limit) throw new RangeError(`value of ${key} is ${v.length} bytes, more than ${limit}`);
    parts.push(Buffer.from(`${key}=`, 'latin1'), v, NUL);
  }
  return Buffer.concat(parts);
}

/**
 * §6.1/§6.2: a key must not be declared or negotiated twice in one negotiation; the receiver that detects it
 * drops the connection (initiator) or rejects the login (target). `seen` carries the keys across the PDUs of
 * one negotiation; `repeatable` lists keys exempt from the rule (SendTargets answers: REPEATABLE_KEYS).
 * Returns `seen`.
 */
export function assertUniqueKeys(
  pairs: ReadonlyArray<readonly [string, string]>,
  seen: Set<string> = new Set(),
  repeatable: ReadonlySet<string> = EMPTY_SET,
  opcode?: number,
): Set<string> {
  for (const [key] of pairs) {
    if (repeatable.has(key)) continue;
    if (seen.has(key)) throw new ProtocolError(`key ${key} sent twice in one negotiation (RFC 7143 §6.1)`, opcode);
    seen.add(key);
  }
  return seen;
}

/** Splits encoded text into data segments of at most `maxSegment` bytes (§6.3: pairs may span PDUs). */
export function splitTextData(data: Buffer, maxSegment: number): Buffer[] {
  if (!Number.isInteger(maxSegment) || maxSegment < 1) throw new RangeError(`bad segment size ${maxSegment}`);
  if (data.length === 0) return [data];
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += maxSegment) out.push(data.subarray(off, off + maxSegment));
  return out;
}

/**
 * Hands out the segments of one outgoing text: every segment but the last goes with C=1 (§11.10.2,
 * §11.12.2), and after each the peer answers with an empty PDU before we send the next.
 */
export class TextSegmenter {
  private readonly segments: Buffer[];
  private index = 0;

  constructor(data: Buffer, maxSegment: number) {
    this.segments = splitTextData(data, maxSegment);
  }

  get done(): boolean {
    return this.index >= this.segments.length;
  }

  next(): { data: Buffer; cont: boolean } {
    if (this.done) throw new RangeError('no text segments left');
    const data = this.segments[this.index++];
    return { data, cont: !this.done };
  }
}

/**
 * Joins the data segments of PDUs with C=1 up to and including the first with C=0 into one logical text
 * data segment (LTDS, §6.1). Bounded: a peer that keeps sending C=1 hits `maxLength` and a ProtocolError.
 */
export class TextAccumulator {
  private parts: Buffer[] = [];
  private length = 0;

  /**
   * @param maxLength largest LTDS accepted, default 1 MiB: far above what a login needs (§6.1 asks
   *   for at least 16384 bytes per negotiation) while leaving room for SendTargets answers of big targets.
   */
  constructor(readonly maxLength = 1 << 20) {}

  /** True while continuation segments are held. */
  get pending(): boolean {
    return this.parts.length > 0;
  }

  /** Adds one PDU's data; returns the joined text when `cont` is false, else undefined. */
  push(data: Buffer | undefined, cont: boolean, opcode?: number): Buffer | undefined {
    if (data && data.length > 0) {
      this.length += data.length;
      if (this.length > this.maxLength) throw new ProtocolError(`text longer than ${this.maxLength} bytes across C-bit PDUs`, opcode);
      this.parts.push(data);
    } else if (cont) {
      // An empty segment with C=1 makes no progress: a peer could loop us with them forever.
      throw new ProtocolError('empty text segment with the C bit set (RFC 7143 §6.1)', opcode);
    }
    if (cont) return undefined;
    const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.reset();
    return all;
  }

  reset(): void {
    this.parts = [];
    this.length = 0;
  }
}

const NUL = Buffer.from([0]);
const EMPTY_SET: ReadonlySet<string> = new Set();

function truncate(s: string): string {
  return s.length > 70 ? `${s.slice(0, 64)}...` : s;
}
