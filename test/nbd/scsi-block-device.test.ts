/**
 * ScsiBlockDevice against a scripted LU (a ScsiExecutor that decodes CDBs and keeps the data in memory): what
 * `open` derives from READ CAPACITY, VPD 0xB0/0xB2/0x83 and MODE SENSE, requests split at the Block Limits,
 * FUA, and each fallback (SYNCHRONIZE CACHE(10), MODE SENSE(10), WRITE SAME without UNMAP, zero writes, no
 * PRE-FETCH) taken once and remembered. The real tgtd is in test/integration/nbd-tgtd.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ScsiBlockDevice } from '../../src/session/scsi-block-device.js';
import type { ScsiExecutor } from '../../src/session/lun.js';
import type { ScsiCommandRequest, ScsiResult } from '../../src/session/types.js';
import { decodeUnmapParameterList } from '../../src/scsi/cdb.js';
import { CheckConditionError } from '../../src/scsi/errors.js';
import { encodeFixedSense, SenseKey } from '../../src/scsi/sense.js';
import { tgtd } from '../scsi/fixtures.js';
import { ScsiStatus } from '../../src/scsi/status.js';
import { SimulatedClock } from 'xstate';

interface FakeLuOptions {
  blocks?: number;
  blockSize?: number;
  exponent?: number;
  pages?: number[];
  mtl?: number;
  otl?: number;
  maxUnmapLba?: number;
  maxUnmapDescriptors?: number;
  maxWriteSame?: number;
  lbpu?: boolean;
  lbpws?: boolean;
  wp?: boolean;
  dpofua?: boolean;
  noSync16?: boolean;
  noWriteSame?: boolean;
  noWriteSameUnmap?: boolean;
  noPrefetch?: boolean;
  noModeSense6?: boolean;
}

const GOOD = (data: Buffer = Buffer.alloc(0)): ScsiResult => ({ status: 0, data, residual: 0, underflow: false, overflow: false });
const CHECK = (key: number, asc: number): ScsiResult => ({ ...GOOD(), status: 2, sense: encodeFixedSense({ key, asc, ascq: 0 }) });

/** A scripted LU: enough of SBC-3/SPC-4 for ScsiBlockDevice, with knobs for what it refuses. */
class FakeLu implements ScsiExecutor {
  readonly data: Buffer;
  readonly log: { op: number; cdb: Buffer; dataOut?: Buffer }[] = [];
  readonly bs: number;

  constructor(readonly o: FakeLuOptions = {}) {
    this.bs = o.blockSize ?? 512;
    this.data = Buffer.alloc((o.blocks ?? 2048) * this.bs);
  }

  ops(): string[] {
    return this.log.map((l) => l.op.toString(16)).filter((op) => !['0', '9e', '12', '1a', '5a', '25'].includes(op));
  }

  async execute(req: ScsiCommandRequest): Promise<ScsiResult> {
    const cdb = req.cdb;
    const op = cdb[0];
    this.log.push({ op, cdb, ...(req.dataOut ? { dataOut: req.dataOut } : {}) });
    const o = this.o;
    const bs = this.bs;
    const cut = (b: Buffer, alloc: number) => GOOD(b.subarray(0, alloc));
    switch (op) {
      case 0x00:
        return GOOD();
      case 0x9e: {
        const b = Buffer.alloc(32);
        b.writeBigUInt64BE(BigInt(this.data.length / bs - 1), 0);
        b.writeUInt32BE(bs, 8);
        b[13] = o.exponent ?? 0;
        return GOOD(b);
      }
      case 0x12: {
        const alloc = cdb.readUInt16BE(3);
        if ((cdb[1] & 1) === 0) return cut(tgtd.standardInquiry, alloc);
        const page = cdb[2];
        const pages = o.pages ?? [0x00, 0x80, 0x83, 0xb0, 0xb2];
        if (!pages.includes(page)) return CHECK(SenseKey.ILLEGAL_REQUEST, 0x24);
        if (page === 0x00) return cut(Buffer.from([0, 0, 0, pages.length, ...pages]), alloc);
        if (page === 0x80) return cut(tgtd.vpdUnitSerial, alloc);
        if (page === 0x83) return cut(tgtd.vpdDeviceIdentification, alloc);
        if (page === 0xb0) {
          const b = Buffer.alloc(64);
          b[1] = 0xb0;
          b.writeUInt16BE(60, 2);
          b.writeUInt32BE(o.mtl ?? 0, 8);
          b.writeUInt32BE(o.otl ?? 0, 12);
          b.writeUInt32BE(o.maxUnmapLba ?? 0xffffffff, 20);
          b.writeUInt32BE(o.maxUnmapDescriptors ?? 0xffffffff, 24);
          b.writeBigUInt64BE(BigInt(o.maxWriteSame ?? 0), 36);
          return cut(b, alloc);
        }
        const b = Buffer.alloc(8);
        b[1] = 0xb2;
        b.writeUInt16BE(4, 2);
        b[5] = (o.lbpu ? 0x80 : 0) | (o.lbpws ? 0x40 : 0) | 0x04;
        return cut(b, alloc);
      }
      case 0x1a:
      case 0x5a: {
        if (op === 0x1a && o.noModeSense6) return CHECK(SenseKey.ILLEGAL_REQUEST, 0x20);
        const dsp = (o.wp ? 0x80 : 0) | ((o.dpofua ?? true) ? 0x10 : 0);
        return GOOD(op === 0x1a ? Buffer.from([3, 0, dsp, 0]) : Buffer.from([0, 6, 0, dsp, 0, 0, 0, 0]));
      }
      case 0x28:
      case 0x88: {
        const [lba, blocks] =
          op === 0x28 ? [cdb.readUInt32BE(2), cdb.readUInt16BE(7)] : [Number(cdb.readBigUInt64BE(2)), cdb.readUInt32BE(10)];
        const src = this.data.subarray(lba * bs, (lba + blocks) * bs);
        if (req.readInto) {
          src.copy(req.readInto);
          return GOOD(req.readInto.subarray(0, src.length));
        }
        return GOOD(Buffer.from(src));
      }
      case 0x2a:
      case 0x8a: {
        const lba = op === 0x2a ? cdb.readUInt32BE(2) : Number(cdb.readBigUInt64BE(2));
        req.dataOut!.copy(this.data, lba * bs);
        return GOOD();
      }
      case 0x91:
        return o.noSync16 ? CHECK(SenseKey.ILLEGAL_REQUEST, 0x20) : GOOD();
      case 0x35:
        return GOOD();
      case 0x42:
        for (const r of decodeUnmapParameterList(req.dataOut!)) this.data.fill(0, Number(r.lba) * bs, (Number(r.lba) + r.blocks) * bs);
        return GOOD();
      case 0x93: {
        if (o.noWriteSame) return CHECK(SenseKey.ILLEGAL_REQUEST, 0x20);
        if (cdb[1] & 0x08 && o.noWriteSameUnmap) return CHECK(SenseKey.ILLEGAL_REQUEST, 0x24);
        const lba = Number(cdb.readBigUInt64BE(2));
        const blocks = cdb.readUInt32BE(10);
        for (let i = 0; i < blocks; i++) req.dataOut!.copy(this.data, (lba + i) * bs);
        return GOOD();
      }
      case 0x90:
        return o.noPrefetch ? CHECK(SenseKey.ILLEGAL_REQUEST, 0x20) : GOOD();
      default:
        return CHECK(SenseKey.ILLEGAL_REQUEST, 0x20);
    }
  }
}

const MiB = 1024 * 1024;
const pattern = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + (i >> 9)) & 0xff));
const ofOp = (lu: FakeLu, op: number) => lu.log.filter((l) => l.op === op);

describe('ScsiBlockDevice.open', () => {
  it('derives the info from READ CAPACITY, VPD B0/B2/83 and MODE SENSE', async () => {
    const lu = new FakeLu({ mtl: 256, otl: 128, exponent: 3, lbpu: true, lbpws: true });
    const d = await ScsiBlockDevice.open(lu, 1);
    expect(d.info).toEqual({
      size: 2048 * 512,
      blockSize: 512,
      preferredBlockSize: 65536,
      maxTransfer: 256 * 512,
      readOnly: false,
      canFlush: true,
      canFua: true,
      canTrim: true,
      canWriteZeroes: true,
      canMultiConn: true,
      description: 'IET VIRTUAL-DISK 0001, WWID 360000000000000000e00000000010001',
    });
    expect(d.facts.supportedVpdPages).toEqual([0x00, 0x80, 0x83, 0xb0, 0xb2]);
  });

  it('defaults without VPD pages: 32 MiB transfers, preferred 4096 (or the physical block), no trim', async () => {
    const d = await ScsiBlockDevice.open(new FakeLu({ pages: [0x00], exponent: 4, blocks: 1 << 17 }), 1);
    expect(d.info).toMatchObject({ maxTransfer: 32 * MiB, preferredBlockSize: 8192, canTrim: false, description: 'IET VIRTUAL-DISK 0001' });
  });

  it('WP -> readOnly; no DPOFUA -> canFua false; MODE SENSE(10) when (6) is refused; B0 MAXIMUM UNMAP LBA COUNT 0 -> no trim', async () => {
    const lu = new FakeLu({ wp: true, dpofua: false, noModeSense6: true, lbpu: true, maxUnmapLba: 0 });
    const d = await ScsiBlockDevice.open(lu, 1);
    expect(d.info).toMatchObject({ readOnly: true, canFua: false, canTrim: false });
    expect(ofOp(lu, 0x5a)).toHaveLength(1);
  });
});

describe('ScsiBlockDevice I/O', () => {
  it('splits reads and writes at maxTransfer and keeps the data in place', async () => {
    const lu = new FakeLu({ mtl: 8 });
    const d = await ScsiBlockDevice.open(lu, 1);
    const data = pattern(20 * 512);
    await d.write(512, data, false);
    expect(ofOp(lu, 0x2a).map((l) => l.cdb.readUInt16BE(7))).toEqual([8, 8, 4]);
    const into = Buffer.alloc(20 * 512 + 7);
    const got = await d.read(512, 20 * 512, into);
    expect(got.equals(data)).toBe(true);
    expect(got.buffer).toBe(into.buffer);
    expect(ofOp(lu, 0x28)).toHaveLength(3);
  });

  it('uses READ/WRITE(16) beyond what the 10-byte CDB can address', async () => {
    const lu = new FakeLu({ blocks: 70000, mtl: 0 });
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.write(0, Buffer.alloc(66000 * 512), false);
    expect(ofOp(lu, 0x8a)).toHaveLength(1);
  });

  it('FUA: the WRITE carries it when DPOFUA; otherwise a SYNCHRONIZE CACHE follows', async () => {
    const lu = new FakeLu();
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.write(0, Buffer.alloc(512), true);
    expect(ofOp(lu, 0x2a)[0].cdb[1] & 0x08).toBe(0x08);
    expect(ofOp(lu, 0x91)).toHaveLength(0);
    const lu2 = new FakeLu({ dpofua: false });
    const d2 = await ScsiBlockDevice.open(lu2, 1);
    await d2.write(0, Buffer.alloc(512), true);
    expect(ofOp(lu2, 0x2a)[0].cdb[1] & 0x08).toBe(0);
    expect(lu2.ops()).toEqual(['2a', '91']);
  });

  it('flush: SYNCHRONIZE CACHE(16), falling back to (10) once and for good', async () => {
    const lu = new FakeLu({ noSync16: true });
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.flush();
    await d.flush();
    expect(lu.ops()).toEqual(['91', '35', '35']);
  });

  it('trim: UNMAP split at MAXIMUM UNMAP LBA COUNT', async () => {
    const lu = new FakeLu({ lbpu: true, maxUnmapLba: 100, maxUnmapDescriptors: 4 });
    lu.data.fill(1);
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.trim(512, 250 * 512);
    const lists = ofOp(lu, 0x42).map((l) => decodeUnmapParameterList(l.dataOut!));
    expect(lists).toEqual([[{ lba: 1n, blocks: 100 }], [{ lba: 101n, blocks: 100 }], [{ lba: 201n, blocks: 50 }]]);
    expect(lu.data.subarray(512, 251 * 512).every((b) => b === 0)).toBe(true);
    expect(lu.data[251 * 512]).toBe(1);
  });

  it('trim: one UNMAP with one descriptor when unlimited; RangeError when the LU has no UNMAP', async () => {
    const lu = new FakeLu({ lbpu: true });
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.trim(0, 1024 * 512);
    expect(ofOp(lu, 0x42).map((l) => decodeUnmapParameterList(l.dataOut!))).toEqual([[{ lba: 0n, blocks: 1024 }]]);
    const noTrim = await ScsiBlockDevice.open(new FakeLu(), 1);
    await expect(noTrim.trim(0, 512)).rejects.toThrow(RangeError);
  });

  it('writeZeroes: WRITE SAME(16) with UNMAP unless noHole (LBPWS), split at MAXIMUM WRITE SAME LENGTH', async () => {
    const lu = new FakeLu({ lbpu: true, lbpws: true, maxWriteSame: 64 });
    lu.data.fill(1);
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.writeZeroes(0, 100 * 512, false);
    await d.writeZeroes(0, 10 * 512, true);
    const ws = ofOp(lu, 0x93);
    expect(ws.map((l) => [l.cdb.readUInt32BE(10), (l.cdb[1] & 0x08) !== 0])).toEqual([
      [64, true],
      [36, true],
      [10, false],
    ]);
    expect(ws[0].dataOut).toEqual(Buffer.alloc(512));
    expect(lu.data.subarray(0, 100 * 512).every((b) => b === 0)).toBe(true);
    expect(lu.data[100 * 512]).toBe(1);
  });

  it('writeZeroes: drops the UNMAP bit when refused, and remembers', async () => {
    const lu = new FakeLu({ lbpws: true, noWriteSameUnmap: true });
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.writeZeroes(0, 8 * 512, false);
    await d.writeZeroes(0, 8 * 512, false);
    expect(ofOp(lu, 0x93).map((l) => (l.cdb[1] & 0x08) !== 0)).toEqual([true, false, false]);
  });

  it('writeZeroes: zero WRITEs when WRITE SAME is refused, and remembers', async () => {
    const lu = new FakeLu({ noWriteSame: true, mtl: 1024 });
    lu.data.fill(1);
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.writeZeroes(0, 2047 * 512, true);
    expect(lu.data.subarray(0, 2047 * 512).every((b) => b === 0)).toBe(true);
    expect(lu.data[2047 * 512]).toBe(1);
    const writesBefore = ofOp(lu, 0x2a).length;
    expect(writesBefore).toBe(Math.ceil(2047 / 1024));
    await d.writeZeroes(0, 512, false);
    expect(ofOp(lu, 0x93)).toHaveLength(1);
    expect(ofOp(lu, 0x2a)).toHaveLength(writesBefore + 1);
  });

  it('cache: PRE-FETCH(16) with IMMED; ILLEGAL REQUEST is ignored and remembered', async () => {
    const lu = new FakeLu();
    const d = await ScsiBlockDevice.open(lu, 1);
    await d.cache(0, 4096);
    expect(ofOp(lu, 0x90).map((l) => [l.cdb[1], l.cdb.readUInt32BE(10)])).toEqual([[0x02, 8]]);
    const lu2 = new FakeLu({ noPrefetch: true });
    const d2 = await ScsiBlockDevice.open(lu2, 1);
    await d2.cache(0, 4096);
    await d2.cache(0, 4096);
    expect(ofOp(lu2, 0x90)).toHaveLength(1);
  });

  it('unaligned or out-of-range requests are RangeError before any command', async () => {
    const lu = new FakeLu();
    const d = await ScsiBlockDevice.open(lu, 1);
    const before = lu.log.length;
    await expect(d.read(100, 512)).rejects.toThrow(RangeError);
    await expect(d.write(0, Buffer.alloc(100), false)).rejects.toThrow(RangeError);
    await expect(d.read(2048 * 512, 512)).rejects.toThrow(RangeError);
    await expect(d.writeZeroes(0, 0, false)).rejects.toThrow(RangeError);
    await expect(d.cache(-512, 512)).rejects.toThrow(RangeError);
    expect(lu.log.length).toBe(before);
  });

  it('SCSI errors other than "unsupported" pass through as CheckConditionError', async () => {
    const lu = new FakeLu();
    const d = await ScsiBlockDevice.open(lu, 1);
    lu.execute = async () => CHECK(SenseKey.MEDIUM_ERROR, 0x11);
    await expect(d.read(0, 512)).rejects.toThrow(CheckConditionError);
    await expect(d.writeZeroes(0, 512, false)).rejects.toThrow(CheckConditionError);
  });
});

describe('the BUSY retry pause on the device clock', () => {
  it('open and a read answered BUSY once each go on 50 ms of the given clock later, not before', async () => {
    const clock = new SimulatedClock();
    const lu = new FakeLu();
    const busyOnce = new Set([0x00, 0x28, 0x88]); // TEST UNIT READY (in open), READ(10) / READ(16)
    const sentAt: { op: number; at: number }[] = [];
    const exec: ScsiExecutor = {
      execute: (req) => {
        const op = req.cdb[0];
        sentAt.push({ op, at: clock.now() });
        if (busyOnce.delete(op)) return Promise.resolve({ ...GOOD(), status: ScsiStatus.BUSY });
        return lu.execute(req);
      },
    };
    const turns = async () => {
      for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
    };
    let device: ScsiBlockDevice | undefined;
    void ScsiBlockDevice.open(exec, 0, { clock }).then((d) => (device = d));
    await turns();
    expect(sentAt).toEqual([{ op: 0x00, at: 0 }]);
    clock.increment(49);
    await turns();
    expect(sentAt).toHaveLength(1);
    clock.increment(1);
    await turns();
    expect(device).toBeDefined();
    expect(sentAt[1]).toEqual({ op: 0x00, at: 50 });

    let read: Buffer | undefined;
    void device!.read(0, 512).then((b) => (read = b));
    await turns();
    const reads = () => sentAt.filter((s) => s.op === 0x28 || s.op === 0x88).map((s) => s.at);
    expect(reads()).toEqual([50]);
    clock.increment(50);
    await turns();
    expect(reads()).toEqual([50, 100]);
    expect(read).toHaveLength(512);
  });
});
