/**
 * SCSI status codes as carried in byte 3 of the iSCSI SCSI Response PDU (SAM-5, RFC 7143 §11.4).
 */

/** Status codes with the spec's names (SAM-5). INTERMEDIATE and its kin are obsolete and left out. */
export const ScsiStatus = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;
export type ScsiStatus = (typeof ScsiStatus)[keyof typeof ScsiStatus];

const STATUS_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(ScsiStatus).map(([name, code]) => [code, name.replaceAll('_', ' ')]),
);

/** The spec's name for a status, e.g. `CHECK CONDITION`; unknown codes read `STATUS 0x..`. */
export function scsiStatusName(status: number): string {
  return STATUS_NAMES.get(status) ?? `STATUS 0x${status.toString(16).padStart(2, '0')}`;
}
