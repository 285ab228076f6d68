/**
 * Properties over all SCSI parsers: random and mutated bytes never raise anything but ScsiParseError
 * (the codecs are total), every prefix of every captured tgtd response parses or fails cleanly, and the
 * codecs with both directions round-trip.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeLun,
  decodeUnmapParameterList,
  encodeFixedSense,
  encodeUnmapParameterList,
  errorForStatus,
  parseBlockDeviceCharacteristics,
  parseBlockLimits,
  parseCachingPage,
  parseDeviceIdentification,
  parseLogicalBlockProvisioning,
  parseModeSense10,
  parseModeSense6,
  parseReadCapacity10,
  parseReadCapacity16,
  parseReportLuns,
  parseReportTargetPortGroups,
  parseSense,
  parseStandardInquiry,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  ScsiParseError,
  wwid,
} from '../../src/scsi/index.js';
import { tgtd } from './fixtures.js';

type Parser = (buf: Buffer) => unknown;

const parsers: Record<string, Parser> = {
  parseStandardInquiry,
  parseSupportedVpdPages,
  parseUnitSerialNumber,
  parseDeviceIdentification: (b) => wwid(parseDeviceIdentification(b).designators),
  parseBlockLimits,
  parseBlockDeviceCharacteristics,
  parseLogicalBlockProvisioning,
  parseReadCapacity10,
  parseReadCapacity16,
  parseReportLuns,
  decodeLun,
  parseSense,
  parseModeSense6: (b) => parseModeSense6(b).pages.map(cachingIfAny),
  parseModeSense10: (b) => parseModeSense10(b).pages.map(cachingIfAny),
  parseReportTargetPortGroups,
  decodeUnmapParameterList,
};

function cachingIfAny(page: Parameters<typeof parseCachingPage>[0]): unknown {
  return page.pageCode === 0x08 && page.subpageCode === 0 ? parseCachingPage(page) : page;
}

/** Runs the parser; anything thrown must be a ScsiParseError. */
function parsesOrFailsCleanly(parse: Parser, buf: Buffer): void {
  try {
    parse(buf);
  } catch (err) {
    if (!(err instanceof ScsiParseError)) throw err;
  }
}

const bytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

/**
 * Random bodies behind a header that is nearly right, so that the parsers get past their first checks:
 * `header(body, delta)` writes the structure's length field as the body length plus a small error.
 */
function framedBytes(header: (body: Buffer, delta: number) => Buffer): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: -6, max: 6 }), fc.boolean()).map(([body, delta, cut]) => {
    const buf = Buffer.concat([header(Buffer.from(body), delta), Buffer.from(body)]);
    return cut ? buf.subarray(0, Math.floor(buf.length / 2)) : buf;
  });
}

const clampU = (n: number, max: number): number => Math.max(0, Math.min(max, n));
const vpd = (page: number) =>
  framedBytes((body, d) => {
    const head = Buffer.from([0, page, 0, 0]);
    head.writeUInt16BE(clampU(body.length + d, 0xffff), 2);
    return head;
  });

const structured: Record<string, fc.Arbitrary<Buffer>> = {
  parseStandardInquiry: framedBytes((body, d) => Buffer.from([0, 0, 5, 2, clampU(body.length + 3 + d, 0xff)])),
  parseSupportedVpdPages: vpd(0x00),
  parseUnitSerialNumber: vpd(0x80),
  parseDeviceIdentification: vpd(0x83),
  parseBlockLimits: vpd(0xb0),
  parseBlockDeviceCharacteristics: vpd(0xb1),
  parseLogicalBlockProvisioning: vpd(0xb2),
  parseReportLuns: framedBytes((body, d) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(clampU(body.length - (body.length % 8) + d * 8, 0xffff), 0);
    return head;
  }),
  parseSense: fc
    .tuple(fc.constantFrom(0x70, 0x71, 0x72, 0x73, 0xf0, 0xf3), fc.uint8Array({ maxLength: 64 }))
    .map(([code, rest]) => Buffer.from([code, ...rest])),
  parseModeSense6: framedBytes((body, d) => Buffer.from([clampU(body.length + 3 + d, 0xff), 0, 0, 8 * (d & 1)])),
  parseModeSense10: framedBytes((body, d) => {
    const head = Buffer.from([0, 0, 0, 0, d & 1, 0, 0, 0]);
    head.writeUInt16BE(clampU(body.length + 6 + d, 0xffff), 0);
    head.writeUInt16BE(16 * (d & 2), 6);
    return head;
  }),
  parseReportTargetPortGroups: framedBytes((body, d) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(clampU(body.length + d, 0xffff), 0);
    return head;
  }),
};

describe('random bytes never throw anything but ScsiParseError', () => {
  it.each(Object.entries(parsers))('%s on arbitrary bytes', (_name, parse) => {
    fc.assert(
      fc.property(bytes, (buf) => parsesOrFailsCleanly(parse, buf)),
      { numRuns: 2000 },
    );
  });

  it.each(Object.entries(structured))('%s on nearly well-formed bytes', (name, arbitrary) => {
    fc.assert(
      fc.property(arbitrary, (buf) => parsesOrFailsCleanly(parsers[name], buf)),
      { numRuns: 3000 },
    );
  });

  it('errorForStatus never throws', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xff }), bytes, (status, sense) => {
        const err = errorForStatus(status, sense);
        expect(err === undefined || err instanceof Error).toBe(true);
      }),
    );
  });
});

describe('every prefix of every tgtd response', () => {
  const parserFor: Record<string, Parser> = {
    standardInquiry: parsers.parseStandardInquiry,
    standardInquiryAlloc64: parsers.parseStandardInquiry,
    standardInquiryLun0: parsers.parseStandardInquiry,
    vpdSupportedPages: parsers.parseSupportedVpdPages,
    vpdUnitSerial: parsers.parseUnitSerialNumber,
    vpdDeviceIdentification: parsers.parseDeviceIdentification,
    vpdDeviceIdentificationAlloc64: parsers.parseDeviceIdentification,
    vpdBlockLimits: parsers.parseBlockLimits,
    vpdBlockDeviceCharacteristics: parsers.parseBlockDeviceCharacteristics,
    vpdLogicalBlockProvisioning: parsers.parseLogicalBlockProvisioning,
    readCapacity10: parsers.parseReadCapacity10,
    readCapacity16: parsers.parseReadCapacity16,
    reportLunsAlloc16: parsers.parseReportLuns,
    reportLuns: parsers.parseReportLuns,
    modeSense6AllPages: parsers.parseModeSense6,
    modeSense6AllPagesReadOnly: parsers.parseModeSense6,
    modeSense6ControlPage: parsers.parseModeSense6,
    senseUnitAttentionReset: parsers.parseSense,
    senseLbaOutOfRange: parsers.parseSense,
    senseInvalidFieldInCdb: parsers.parseSense,
    senseLunNotSupported: parsers.parseSense,
    senseInvalidOpcode: parsers.parseSense,
    senseWriteProtected: parsers.parseSense,
  };

  it('covers every fixture', () => {
    expect(Object.keys(parserFor).sort()).toEqual(Object.keys(tgtd).sort());
  });

  it.each(Object.entries(parserFor))('%s', (name, parse) => {
    const full = tgtd[name as keyof typeof tgtd];
    expect(() => parse(full)).not.toThrow();
    for (let n = 0; n < full.length; n++) parsesOrFailsCleanly(parse, full.subarray(0, n));
  });

  it('a prefix is either an error or a result marked truncated', () => {
    for (let n = 8; n < tgtd.vpdDeviceIdentification.length; n++) {
      expect(parseDeviceIdentification(tgtd.vpdDeviceIdentification.subarray(0, n)).truncated).toBe(true);
    }
  });
});

describe('round trips', () => {
  it('UNMAP parameter list: decode(encode(ranges)) == ranges', () => {
    const range = fc.record({ lba: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), blocks: fc.integer({ min: 0, max: 0xffff_ffff }) });
    fc.assert(
      fc.property(fc.array(range, { maxLength: 64 }), (ranges) => {
        expect(decodeUnmapParameterList(encodeUnmapParameterList(ranges))).toEqual(ranges);
      }),
    );
  });

  it('fixed sense: parse(encode(fields)) keeps key, asc, ascq, information', () => {
    const fields = fc.record({
      key: fc.integer({ min: 0, max: 15 }),
      asc: fc.integer({ min: 0, max: 255 }),
      ascq: fc.integer({ min: 0, max: 255 }),
      deferred: fc.boolean(),
      information: fc.option(fc.bigInt({ min: 0n, max: 0xffff_ffffn }), { nil: undefined }),
    });
    fc.assert(
      fc.property(fields, (f) => {
        const sense = parseSense(encodeFixedSense(f));
        expect(sense).toMatchObject({ key: f.key, asc: f.asc, ascq: f.ascq, current: !f.deferred, truncated: false });
        expect(sense.information).toBe(f.information);
      }),
    );
  });
});
