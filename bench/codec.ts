/**
 * Codec micro-benchmark: PDU encode (framePdu) and decode (PduFramer over socket-sized chunks) with and without
 * CRC32C digests, and raw CRC32C throughput (RFC 7143 §11 PDUs, §13.1 digests). Prints a markdown table of
 * medians; `--json FILE` also writes the results. Runs in about 15 s.
 *
 *   node dist/bench/codec.js [--json FILE]
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Opcode } from '../src/iscsi/constants.js';
import { crc32c } from '../src/iscsi/digest.js';
import { framePdu, PduFramer, type DigestOptions } from '../src/iscsi/framer.js';
import type { Pdu } from '../src/iscsi/pdu.js';

const WARMUP_MS = 150;
const ROUND_MS = 200;
const ROUNDS = 5;
/** Decode input is cut into chunks of this size, as a socket would deliver it. */
const SOCKET_CHUNK = 64 * 1024;

interface Result {
  name: string;
  digests: string;
  /** Median operations (PDUs or CRC calls) per second. */
  opsPerSec: number;
  /** Median payload bytes per second (the data segment, or the header for header-only PDUs). */
  bytesPerSec: number;
  /** (max - min) / median of the per-round rates. */
  spread: number;
  rounds: number[];
}

const MODES: { label: string; digests: DigestOptions }[] = [
  { label: 'none', digests: { headerDigest: false, dataDigest: false } },
  { label: 'header+data', digests: { headerDigest: true, dataDigest: true } },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs `batch` (which returns how many operations it did) for warm-up, then ROUNDS timed rounds. */
function bench(name: string, digests: string, bytesPerOp: number, batch: () => number): Result {
  const warmEnd = performance.now() + WARMUP_MS;
  while (performance.now() < warmEnd) batch();
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    let ops = 0;
    const t0 = performance.now();
    let t = t0;
    do {
      ops += batch();
      t = performance.now();
    } while (t - t0 < ROUND_MS);
    rounds.push(ops / ((t - t0) / 1000));
  }
  const opsPerSec = median(rounds);
  return {
    name,
    digests,
    opsPerSec,
    bytesPerSec: opsPerSec * bytesPerOp,
    spread: (Math.max(...rounds) - Math.min(...rounds)) / opsPerSec,
    rounds,
  };
}

// ---------------------------------------------------------------------------------------------------------
// PDUs

function scsiRead10(itt: number): Pdu {
  const cdb = Buffer.alloc(16);
  cdb[0] = 0x28;
  cdb.writeUInt32BE(itt * 256, 2);
  cdb.writeUInt16BE(256, 7);
  return {
    opcode: Opcode.SCSI_COMMAND,
    immediate: false,
    final: true,
    read: true,
    write: false,
    attr: 1,
    itt,
    lun: 1,
    expectedDataTransferLength: 128 * 1024,
    cmdSN: itt,
    expStatSN: itt,
    cdb,
  };
}

function dataOut(itt: number, data: Buffer): Pdu {
  return {
    opcode: Opcode.SCSI_DATA_OUT,
    final: true,
    itt,
    lun: 1,
    ttt: 0x1000 + itt,
    expStatSN: itt,
    dataSN: 0,
    bufferOffset: 0,
    data,
  };
}

function dataIn(itt: number, data: Buffer): Pdu {
  return {
    opcode: Opcode.SCSI_DATA_IN,
    final: true,
    ack: false,
    overflow: false,
    underflow: false,
    statusPresent: true,
    status: 0,
    itt,
    lun: 0,
    ttt: 0xffff_ffff,
    statSN: itt,
    expCmdSN: itt + 1,
    maxCmdSN: itt + 128,
    dataSN: 0,
    bufferOffset: 0,
    residualCount: 0,
    data,
  };
}

function scsiResponse(itt: number): Pdu {
  return {
    opcode: Opcode.SCSI_RESPONSE,
    bidiOverflow: false,
    bidiUnderflow: false,
    overflow: false,
    underflow: false,
    response: 0,
    status: 0,
    itt,
    snackTag: 0,
    statSN: itt,
    expCmdSN: itt + 1,
    maxCmdSN: itt + 128,
    expDataSN: 0,
    bidiReadResidualCount: 0,
    residualCount: 0,
  };
}

// ---------------------------------------------------------------------------------------------------------

function encodeCase(name: string, pdu: Pdu, label: string, digests: DigestOptions, payload: number): Result {
  const N = 1000;
  let sink = 0;
  const r = bench(name, label, payload, () => {
    for (let i = 0; i < N; i++) sink += framePdu(pdu, digests).length;
    return N;
  });
  if (sink === 0) throw new Error('unreachable');
  return r;
}

/** Frames `count` PDUs into one stream, cut into socket-sized chunks, and times framing + decoding it all. */
function decodeCase(name: string, make: (i: number) => Pdu, count: number, label: string, digests: DigestOptions, payload: number): Result {
  const stream = Buffer.concat(Array.from({ length: count }, (_, i) => framePdu(make(i), digests)).flat());
  const chunks: Buffer[] = [];
  for (let off = 0; off < stream.length; off += SOCKET_CHUNK) chunks.push(stream.subarray(off, off + SOCKET_CHUNK));
  const maxRecvDataSegmentLength = 256 * 1024;
  return bench(name, label, payload, () => {
    const framer = new PduFramer({ ...digests, maxRecvDataSegmentLength });
    let n = 0;
    for (const c of chunks) framer.push(c, () => n++);
    if (n !== count || framer.pendingBytes !== 0) throw new Error(`${name}: decoded ${n} of ${count}`);
    return n;
  });
}

function crcCase(size: number): Result {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 131) & 0xff;
  const N = size >= 65536 ? 20 : 500;
  let sink = 0;
  const r = bench(`CRC32C ${size / 1024} KiB`, '-', size, () => {
    for (let i = 0; i < N; i++) sink ^= crc32c(buf);
    return N;
  });
  if (sink === 0.5) throw new Error('unreachable');
  return r;
}

function formatRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

function formatThroughput(r: Result): string {
  return r.name.startsWith('CRC32C') ? `${(r.bytesPerSec / 1e9).toFixed(2)} GB/s` : `${(r.bytesPerSec / 1e6).toFixed(0)} MB/s`;
}

function main(): void {
  const args = process.argv.slice(2);
  const jsonAt = args.indexOf('--json');
  const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
  if (jsonAt >= 0 && !jsonFile) throw new Error('--json needs a file name');

  const KiB4 = Buffer.alloc(4096, 0x5a);
  const KiB8 = Buffer.alloc(8192, 0x5a);
  const KiB128 = Buffer.alloc(128 * 1024, 0x5a);
  const results: Result[] = [];
  for (const { label, digests } of MODES) {
    const hd = digests.headerDigest ? 4 : 0;
    results.push(encodeCase('encode SCSI Command READ(10)', scsiRead10(7), label, digests, 48 + hd));
    results.push(encodeCase('encode Data-Out header (8 KiB data)', dataOut(7, KiB8), label, digests, KiB8.length));
  }
  for (const { label, digests } of MODES) {
    results.push(decodeCase('decode Data-In 128 KiB', (i) => dataIn(i, KiB128), 64, label, digests, KiB128.length));
    results.push(decodeCase('decode Data-In 4 KiB', (i) => dataIn(i, KiB4), 2048, label, digests, KiB4.length));
    results.push(decodeCase('decode SCSI Response', scsiResponse, 20_000, label, digests, 48 + (digests.headerDigest ? 4 : 0)));
  }
  results.push(crcCase(4096), crcCase(128 * 1024));

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\nmpiscsi codec benchmark: Node ${process.version}, ${cpu}; medians of ${ROUNDS} x ${ROUND_MS} ms after ${WARMUP_MS} ms warm-up; decode input in ${SOCKET_CHUNK / 1024} KiB chunks\n`,
  );
  console.log('| case | digests | ops/s | throughput | spread |');
  console.log('|---|---|---:|---:|---:|');
  for (const r of results)
    console.log(`| ${r.name} | ${r.digests} | ${formatRate(r.opsPerSec)} | ${formatThroughput(r)} | ${(r.spread * 100).toFixed(0)}% |`);
  if (jsonFile) {
    writeFileSync(
      jsonFile,
      `${JSON.stringify(
        { node: process.version, cpu, date: new Date().toISOString(), warmupMs: WARMUP_MS, roundMs: ROUND_MS, results },
        null,
        2,
      )}\n`,
    );
    console.log(`\nwrote ${jsonFile}`);
  }
}

main();
