/**
 * MODE SENSE(6) and MODE SENSE(10) parameter data parser (SPC-4): mode parameter header, block
 * descriptors (SBC-3), mode pages, and the Caching mode page 0x08 (SBC-3).
 */
import { framed, hexByte, need } from './bytes.js';
import { ScsiParseError } from './errors.js';

/** Mode page codes an initiator looks at (SPC-4, SBC-3). */
export const ModePage = {
  READ_WRITE_ERROR_RECOVERY: 0x01,
  DISCONNECT_RECONNECT: 0x02,
  VERIFY_ERROR_RECOVERY: 0x07,
  CACHING: 0x08,
  CONTROL: 0x0a,
  POWER_CONDITION: 0x1a,
  INFORMATIONAL_EXCEPTIONS_CONTROL: 0x1c,
  ALL_PAGES: 0x3f,
} as const;

/** One mode page as returned. */
export interface ModePageData {
  readonly pageCode: number;
  /** 0 for page_0 format pages. */
  readonly subpageCode: number;
  /** PS: the page can be saved. */
  readonly ps: boolean;
  /** SPF: sub_page format (4-byte header). */
  readonly spf: boolean;
  /** The mode parameters after the page header (2 bytes, or 4 with SPF). */
  readonly data: Buffer;
  /** Offset of the page header in the parameter data. */
  readonly offset: number;
}

/** A block descriptor of a direct-access device: short (8 bytes) or, with LONGLBA, long (16 bytes). */
export interface BlockDescriptor {
  /** NUMBER OF LOGICAL BLOCKS; bigint for the 64-bit long form. */
  readonly numberOfBlocks: bigint;
  /** LOGICAL BLOCK LENGTH. */
  readonly blockLength: number;
}

/** Parsed mode parameter data. */
export interface ModeParameters {
  readonly format: 'MODE SENSE(6)' | 'MODE SENSE(10)';
  readonly mediumType: number;
  /** DEVICE-SPECIFIC PARAMETER byte (for direct-access devices, SBC-3). */
  readonly deviceSpecificParameter: number;
  /** WP bit (0x80) of the device-specific parameter: the LU is write protected. */
  readonly writeProtected: boolean;
  /** DPOFUA bit (0x10): the device honours DPO and FUA. */
  readonly dpoFua: boolean;
  /** LONGLBA (MODE SENSE(10) only): block descriptors are 16 bytes. */
  readonly longLba: boolean;
  readonly blockDescriptors: readonly BlockDescriptor[];
  /** Pages in the order returned (tgtd returns an empty vendor page 0x00 first). */
  readonly pages: readonly ModePageData[];
  /** MODE DATA LENGTH + its own size: bytes the target has; re-issue with this allocation length. */
  readonly availableLength: number;
  readonly truncated: boolean;
}

interface HeaderLayout {
  readonly format: ModeParameters['format'];
  readonly headerLength: number;
  readonly availableLength: number;
  readonly mediumType: number;
  readonly deviceSpecificParameter: number;
  readonly longLba: boolean;
  readonly blockDescriptorLength: number;
}

/** Parses MODE SENSE(6) parameter data: 4-byte header (SPC-4). */
export function parseModeSense6(buf: Buffer): ModeParameters {
  need(buf, 0, 4, 'MODE SENSE(6) data', 'mode parameter header');
  return parseModeParameters(buf, {
    format: 'MODE SENSE(6)',
    headerLength: 4,
    availableLength: buf[0] + 1,
    mediumType: buf[1],
    deviceSpecificParameter: buf[2],
    longLba: false,
    blockDescriptorLength: buf[3],
  });
}

/** Parses MODE SENSE(10) parameter data: 8-byte header (SPC-4). */
export function parseModeSense10(buf: Buffer): ModeParameters {
  need(buf, 0, 8, 'MODE SENSE(10) data', 'mode parameter header');
  return parseModeParameters(buf, {
    format: 'MODE SENSE(10)',
    headerLength: 8,
    availableLength: buf.readUInt16BE(0) + 2,
    mediumType: buf[2],
    deviceSpecificParameter: buf[3],
    longLba: (buf[4] & 0x01) !== 0,
    blockDescriptorLength: buf.readUInt16BE(6),
  });
}

function parseModeParameters(buf: Buffer, h: HeaderLayout): ModeParameters {
  const name = `${h.format} data`;
  const { data, truncated } = framed(buf, h.availableLength);
  if (data.length < h.headerLength) {
    throw new ScsiParseError(name, 0, `MODE DATA LENGTH ${h.availableLength} is shorter than the header`);
  }
  const descriptorSize = h.longLba ? 16 : 8;
  if (h.blockDescriptorLength % descriptorSize !== 0) {
    const detail = `BLOCK DESCRIPTOR LENGTH ${h.blockDescriptorLength} is not a multiple of ${descriptorSize}`;
    throw new ScsiParseError(name, h.headerLength - 1, detail);
  }
  const pagesStart = h.headerLength + h.blockDescriptorLength;
  if (pagesStart > h.availableLength) {
    const detail = `BLOCK DESCRIPTOR LENGTH ${h.blockDescriptorLength} runs past the MODE DATA LENGTH`;
    throw new ScsiParseError(name, h.headerLength - 1, detail);
  }

  const blockDescriptors: BlockDescriptor[] = [];
  for (let o = h.headerLength; o + descriptorSize <= Math.min(pagesStart, data.length); o += descriptorSize) {
    blockDescriptors.push(
      h.longLba
        ? { numberOfBlocks: data.readBigUInt64BE(o), blockLength: data.readUInt32BE(o + 12) }
        : { numberOfBlocks: BigInt(data.readUInt32BE(o)), blockLength: data.readUIntBE(o + 5, 3) },
    );
  }

  const pages: ModePageData[] = [];
  for (let o = pagesStart; o < data.length; ) {
    const page = parsePageAt(data, o, h.availableLength, name, truncated);
    if (page === undefined) break;
    pages.push(page);
    o += (page.spf ? 4 : 2) + page.data.length;
  }

  return {
    format: h.format,
    mediumType: h.mediumType,
    deviceSpecificParameter: h.deviceSpecificParameter,
    writeProtected: (h.deviceSpecificParameter & 0x80) !== 0,
    dpoFua: (h.deviceSpecificParameter & 0x10) !== 0,
    longLba: h.longLba,
    blockDescriptors,
    pages,
    availableLength: h.availableLength,
    truncated,
  };
}

/**
 * The mode page at `o` (SPC-4): page_0 format has a 2-byte header with a 1-byte PAGE LENGTH,
 * sub_page format (SPF) a 4-byte header with SUBPAGE CODE and a 2-byte PAGE LENGTH. Undefined when the
 * allocation length cut the page; a page past the MODE DATA LENGTH is malformed.
 */
function parsePageAt(data: Buffer, o: number, available: number, name: string, truncated: boolean): ModePageData | undefined {
  const spf = (data[o] & 0x40) !== 0;
  const headerLength = spf ? 4 : 2;
  if (o + headerLength > data.length) {
    if (truncated) return undefined;
    throw new ScsiParseError(name, o, 'mode page header runs past the MODE DATA LENGTH');
  }
  const pageLength = spf ? data.readUInt16BE(o + 2) : data[o + 1];
  const end = o + headerLength + pageLength;
  if (end > available) {
    const detail = `PAGE LENGTH ${pageLength} of page ${hexByte(data[o] & 0x3f)} runs past the MODE DATA LENGTH`;
    throw new ScsiParseError(name, o, detail);
  }
  if (end > data.length) return undefined;
  return {
    pageCode: data[o] & 0x3f,
    subpageCode: spf ? data[o + 1] : 0,
    ps: (data[o] & 0x80) !== 0,
    spf,
    data: data.subarray(o + headerLength, end),
    offset: o,
  };
}

/** The page with this code and subpage, if returned. */
export function findModePage(params: ModeParameters, pageCode: number, subpageCode = 0): ModePageData | undefined {
  return params.pages.find((p) => p.pageCode === pageCode && p.subpageCode === subpageCode);
}

/** Caching mode page fields (SBC-3). */
export interface CachingPage {
  /** WCE: write cache enabled; writes may complete before reaching the medium, so FLUSH matters. */
  readonly wce: boolean;
  /** RCD: read cache disabled. */
  readonly rcd: boolean;
  readonly ic: boolean;
  readonly abpf: boolean;
  readonly cap: boolean;
  readonly disc: boolean;
  readonly size: boolean;
  readonly mf: boolean;
  /** Bytes 12 and up, absent on devices that return the short SCSI-2 page. */
  readonly fsw?: boolean;
  readonly lbcss?: boolean;
  readonly dra?: boolean;
  readonly nvDis?: boolean;
}

/** Decodes the Caching mode page (0x08). At least the first parameter byte (byte 2 of the page) is needed. */
export function parseCachingPage(page: ModePageData): CachingPage {
  const name = 'caching mode page';
  if (page.pageCode !== ModePage.CACHING || page.subpageCode !== 0) {
    throw new ScsiParseError(name, page.offset, `page is ${hexByte(page.pageCode)}/${hexByte(page.subpageCode)}`);
  }
  // `data` starts at byte 2 of the page: page byte n is data[n - 2].
  const d = page.data;
  need(d, 0, 1, name, 'byte 2 (WCE, RCD)');
  const flags = d[0];
  const byte12 = d.length > 10 ? d[10] : undefined;
  return {
    ic: (flags & 0x80) !== 0,
    abpf: (flags & 0x40) !== 0,
    cap: (flags & 0x20) !== 0,
    disc: (flags & 0x10) !== 0,
    size: (flags & 0x08) !== 0,
    wce: (flags & 0x04) !== 0,
    mf: (flags & 0x02) !== 0,
    rcd: (flags & 0x01) !== 0,
    ...(byte12 === undefined
      ? {}
      : {
          fsw: (byte12 & 0x80) !== 0,
          lbcss: (byte12 & 0x40) !== 0,
          dra: (byte12 & 0x20) !== 0,
          nvDis: (byte12 & 0x01) !== 0,
        }),
  };
}
