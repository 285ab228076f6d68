/**
 * The block device the NBD server serves and the multipath layer provides: byte-addressed reads, writes,
 * flush, trim and write-zeroes with the capabilities the LU really has (SBC-3 READ CAPACITY, VPD 0xB0 Block
 * Limits, VPD 0xB2 Logical Block Provisioning, MODE SENSE write protect). The NBD -> SCSI mapping of
 * reference/nbd-and-multipath.md lives in the implementation (ScsiBlockDevice), once.
 */

export interface BlockDeviceInfo {
  /** Size in bytes. */
  size: number;
  /** Logical block size: the smallest I/O unit (NBD minimum block size). */
  blockSize: number;
  /** Preferred I/O size (VPD B0 optimal transfer length, else 4096 or the block size). */
  preferredBlockSize: number;
  /** Largest single request in bytes (VPD B0 maximum transfer length, capped at 32 MiB). */
  maxTransfer: number;
  /** MODE SENSE device-specific parameter WP bit. */
  readOnly: boolean;
  /** SYNCHRONIZE CACHE works (write cache present or harmless). */
  canFlush: boolean;
  /** WRITE with FUA is honoured (MODE SENSE DPOFUA). */
  canFua: boolean;
  /** UNMAP is supported (VPD B2 LBPU). */
  canTrim: boolean;
  /** WRITE SAME(16) works (with UNMAP when LBPWS), or zero writes are emulated. */
  canWriteZeroes: boolean;
  /** Several connections see one cache (one LU behind every path): true for SCSI LUs. */
  canMultiConn: boolean;
  /** Text for NBD_INFO_DESCRIPTION, e.g. "IET VIRTUAL-DISK 0001, WWID 36001405...". */
  description: string;
}

/** Receives one request's outcome, once: the NBD server's request record is one (no promise per I/O). */
export interface BlockSink {
  /** Succeeded; a read's data (in the `into` buffer when one was given), undefined for the rest. */
  done(data: Buffer | undefined): void;
  fail(err: Error): void;
}

export interface BlockDevice {
  readonly info: BlockDeviceInfo;
  /**
   * Reads `length` bytes at `offset` (both multiples of blockSize); into `into` when given. Once the promise
   * settles nothing writes into `into` any more (the NBD server reuses it): a path that failed under the read
   * has had its connection dropped, so no late Data-In can land there.
   */
  read(offset: number, length: number, into?: Buffer): Promise<Buffer>;
  /** Writes `data` at `offset`; with `fua` it is durable before the promise resolves. */
  write(offset: number, data: Buffer, fua: boolean): Promise<void>;
  /**
   * read() and write() without the promise, where the device has them (ScsiBlockDevice): the outcome goes to
   * `sink` once, possibly before the call returns; the same rules for `into`.
   */
  submitRead?(offset: number, length: number, into: Buffer | undefined, sink: BlockSink): void;
  submitWrite?(offset: number, data: Buffer, fua: boolean, sink: BlockSink): void;
  /** Makes every completed write durable (SYNCHRONIZE CACHE). */
  flush(): Promise<void>;
  /** Discards a range (UNMAP); content afterwards is unspecified (or zero when LBPRZ). */
  trim(offset: number, length: number): Promise<void>;
  /** Zeroes a range; with `noHole` the blocks stay allocated (no UNMAP bit). */
  writeZeroes(offset: number, length: number, noHole: boolean): Promise<void>;
  /** Prefetch hint (PRE-FETCH(16)); may be a no-op. */
  cache(offset: number, length: number): Promise<void>;
}
