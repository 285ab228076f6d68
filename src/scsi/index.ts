/**
 * The SCSI layer of mpiscsi: pure codecs for the commands an iSCSI initiator issues (SPC-4, SBC-3) and
 * the data, status and sense they return. No sockets, timers or logging.
 */
export * from './capacity.js';
export * from './cdb.js';
export * from './classify.js';
export * from './errors.js';
export * from './inquiry.js';
export * from './mode-sense.js';
export * from './report-luns.js';
export * from './rtpg.js';
export * from './sense.js';
export * from './sense-codes.js';
export * from './status.js';
