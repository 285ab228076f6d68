/** Public exports of the iSCSI codecs (RFC 7143): BHS fields, PDUs, framing, digests, text keys, negotiation, CHAP, login, discovery. */
export * from './constants.js';
export * from './errors.js';
export * from './serial.js';
export * from './bhs.js';
export * from './pdu.js';
export * from './digest.js';
export * from './framer.js';
export * from './text.js';
export * from './keys.js';
export * from './negotiation.js';
export * from './chap.js';
export * from './login.js';
export * from './discovery.js';
