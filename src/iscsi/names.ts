/**
 * iSCSI names (RFC 7143 §4.2.7; RFC 3722 stringprep profile): the iqn., eui. and naa. forms, their character
 * set and the 223-byte limit, checked wherever a name enters (a target's answers, the command line, NATS,
 * the node database) so that no name can carry a newline into a record file or a path out of its directory.
 */

/** §4.2.7.1: "iSCSI names ... are not larger than 223 bytes" (UTF-8). */
export const ISCSI_NAME_MAX_BYTES = 223;

/** A name that is not an iSCSI name; `why` says which rule it breaks. */
export class IscsiNameError extends RangeError {
  override readonly name = 'IscsiNameError';
  constructor(
    readonly value: string,
    readonly why: string,
    what = 'iSCSI name',
  ) {
    super(`${what} ${JSON.stringify(value)} ${why}`);
  }
}

// §4.2.7.2: iqn.yyyy-mm.reversed.domain[:anything], with a naming authority after the date.
const IQN = /^iqn\.\d{4}-(0[1-9]|1[0-2])\.[^.:]/i;
// §4.2.7.3: eui. and 16 hex digits (EUI-64).
const EUI = /^eui\.[0-9a-f]{16}$/i;
// §4.2.7.4 (RFC 3980): naa. and 16 or 32 hex digits.
const NAA = /^naa\.([0-9a-f]{16}|[0-9a-f]{32})$/i;
/**
 * RFC 3722 §6: after stringprep the only ASCII characters are '-', '.', ':', digits and lowercase letters
 * (uppercase ones map to lowercase, so they are accepted as input); other Unicode passes nameprep, except
 * controls and spaces, which stringprep prohibits (RFC 3454 C.1, C.2).
 */
const BAD_CHAR =
  /[\u0000-\u002c\u002f\u003b-\u0040\u005b-\u0060\u007b-\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff9-\ufffc]/u;

/** Why `name` is not an iSCSI name, or undefined when it is one. */
export function iscsiNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty (RFC 7143 §4.2.7)';
  if (Buffer.byteLength(name, 'utf8') > ISCSI_NAME_MAX_BYTES) return `is longer than ${ISCSI_NAME_MAX_BYTES} bytes (RFC 7143 §4.2.7.1)`;
  const bad = BAD_CHAR.exec(name);
  if (bad) return `has a character iSCSI names do not allow (${JSON.stringify(bad[0])} at ${bad.index}; RFC 3722 §6)`;
  const prefix = name.slice(0, 4).toLowerCase();
  if (prefix === 'iqn.') return IQN.test(name) ? undefined : 'is not iqn.YYYY-MM.naming-authority[:unique] (RFC 7143 §4.2.7.2)';
  if (prefix === 'eui.') return EUI.test(name) ? undefined : 'is not eui. and 16 hex digits (RFC 7143 §4.2.7.3)';
  if (prefix === 'naa.') return NAA.test(name) ? undefined : 'is not naa. and 16 or 32 hex digits (RFC 7143 §4.2.7.4)';
  return 'does not start with iqn., eui. or naa. (RFC 7143 §4.2.7)';
}

/** Returns `name` if it is an iSCSI name; throws IscsiNameError naming `what` otherwise. */
export function checkIscsiName(name: string, what = 'iSCSI name'): string {
  const why = iscsiNameProblem(name);
  if (why !== undefined) throw new IscsiNameError(name, why, what);
  return name;
}
