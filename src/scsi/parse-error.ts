/**
 * The parse error of the SCSI codecs (SPC-4 data: VPD pages, sense data, parameter lists), in a module of its
 * own so that the byte helpers and the sense parser can throw it without importing errors.ts, which imports
 * the sense data's type (a cycle dependency-cruiser refuses).
 */

/**
 * Data from the target (a VPD page, sense data, a parameter list) is shorter than its own header says it
 * must be, or contradicts itself. `page` names the structure ("VPD page 0x83", "fixed sense data"...),
 * `offset` is the byte offset in the buffer handed to the parser where the problem was found.
 */
export class ScsiParseError extends Error {
  override readonly name = 'ScsiParseError';

  constructor(
    readonly page: string,
    readonly offset: number,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(`${page}: ${detail} (offset ${offset})`, options);
  }
}
