/**
 * An in-memory BlockDevice for unit tests of the NBD server: a Buffer with the BlockDevice checks, a log of
 * calls, optional latency per call (to make replies come back out of order), failure injection, and a gate
 * that holds every call until it is opened (to keep requests in flight).
 */
import type { BlockDevice, BlockDeviceInfo, BlockSink } from '../../src/session/block-device.js';

export type Op = 'read' | 'write' | 'flush' | 'trim' | 'writeZeroes' | 'cache';

export interface Call {
  op: Op;
  offset: number;
  length: number;
  fua?: boolean;
  noHole?: boolean;
}

export interface MemoryDeviceOptions extends Partial<BlockDeviceInfo> {
  /** Milliseconds each call takes (default 0). */
  latency?: (call: Call) => number;
  /** An error to fail a call with (checked after the range check). */
  fail?: (call: Call) => Error | undefined;
}

export class MemoryDevice implements BlockDevice {
  readonly info: BlockDeviceInfo;
  readonly data: Buffer;
  readonly calls: Call[] = [];
  /** Calls started and not finished. */
  active = 0;
  maxActive = 0;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  constructor(
    size: number,
    private readonly options: MemoryDeviceOptions = {},
  ) {
    const { latency: _l, fail: _f, ...overrides } = options;
    this.info = {
      size,
      blockSize: 512,
      preferredBlockSize: 4096,
      maxTransfer: 32 * 1024 * 1024,
      readOnly: false,
      canFlush: true,
      canFua: true,
      canTrim: true,
      canWriteZeroes: true,
      canMultiConn: true,
      description: 'memory device',
      ...overrides,
    };
    this.data = Buffer.alloc(size);
  }

  /** Holds every call from now on until `open()`. */
  hold(): void {
    if (!this.gate) this.gate = new Promise((r) => (this.openGate = r));
  }

  open(): void {
    this.openGate?.();
    this.gate = undefined;
    this.openGate = undefined;
  }

  async read(offset: number, length: number, into?: Buffer): Promise<Buffer> {
    await this.enter({ op: 'read', offset, length });
    try {
      const out = into ? into.subarray(0, length) : Buffer.alloc(length);
      this.data.copy(out, 0, offset, offset + length);
      return out;
    } finally {
      this.active--;
    }
  }

  async write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    await this.enter({ op: 'write', offset, length: data.length, fua });
    try {
      data.copy(this.data, offset);
    } finally {
      this.active--;
    }
  }

  async flush(): Promise<void> {
    await this.enter({ op: 'flush', offset: 0, length: 0 });
    this.active--;
  }

  async trim(offset: number, length: number): Promise<void> {
    await this.enter({ op: 'trim', offset, length });
    this.data.fill(0, offset, offset + length);
    this.active--;
  }

  async writeZeroes(offset: number, length: number, noHole: boolean): Promise<void> {
    await this.enter({ op: 'writeZeroes', offset, length, noHole });
    this.data.fill(0, offset, offset + length);
    this.active--;
  }

  async cache(offset: number, length: number): Promise<void> {
    await this.enter({ op: 'cache', offset, length });
    this.active--;
  }

  private async enter(call: Call): Promise<void> {
    const bs = this.info.blockSize;
    if (call.op !== 'flush') {
      if (call.offset % bs || call.length % bs || call.length <= 0) throw new RangeError(`${call.op}: unaligned`);
      if (call.offset + call.length > this.info.size) throw new RangeError(`${call.op}: past the end`);
    }
    this.calls.push(call);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (this.gate) await this.gate;
      const ms = this.options.latency?.(call) ?? 0;
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      const err = this.options.fail?.(call);
      if (err) throw err;
    } catch (err) {
      this.active--;
      throw err;
    }
  }
}

/**
 * A MemoryDevice with the promise-free submitRead/submitWrite that ScsiBlockDevice has, so the server's
 * per-I/O path (NbdIo) runs under the same tests; each goes through read()/write() (latency, gate, failures).
 */
export class SinkMemoryDevice extends MemoryDevice {
  submitRead(offset: number, length: number, into: Buffer | undefined, sink: BlockSink): void {
    this.read(offset, length, into).then(
      (d) => sink.done(d),
      (e: Error) => sink.fail(e),
    );
  }

  submitWrite(offset: number, data: Buffer, fua: boolean, sink: BlockSink): void {
    this.write(offset, data, fua).then(
      () => sink.done(undefined),
      (e: Error) => sink.fail(e),
    );
  }
}
