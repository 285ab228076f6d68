/**
 * The errors of the session statechart's runtime contract (machines/session.machine.ts), in a file of their own
 * with no XState import: the exit-code mapping (src/control/exit-codes.ts) needs the class, and a command that
 * only maps an error to its code should not load the statecharts (issue 17, start time).
 */

/**
 * The runtime's checkIdentity actor rejects with this when the LU behind the session after a relogin is
 * not the one before (VPD 0x83 designators or 0x80 unit serial changed). Any other rejection counts as a
 * failed relogin attempt.
 */
export class IdentityChangedError extends Error {
  override readonly name = 'IdentityChangedError';
  constructor(
    message: string,
    readonly before?: Readonly<Record<string, string>>,
    readonly after?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}
