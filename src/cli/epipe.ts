/**
 * Quiet exit when the reader of stdout goes away (`mpiscsi inq URL | head -1`): a C tool such as iscsi-inq
 * or iscsiadm dies of SIGPIPE there, which the shell reports as 128 + 13 = 141. Node ignores SIGPIPE and
 * turns the failed write into an EPIPE 'error' event that would otherwise end in a stack trace; we leave
 * with the status a SIGPIPE death shows, without a word.
 */
export const SIGPIPE_STATUS = 141;

export function exitQuietlyOnEpipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(SIGPIPE_STATUS);
    throw err;
  });
}
