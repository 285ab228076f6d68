/**
 * NBD byte fixtures captured from a real client: `nbdinfo --json` (libnbd 1.14.2, Debian 12) against our server
 * exporting "disk" (a 1 MiB MemoryDevice whose first 512 bytes are 0xab, description "memory device"), recorded
 * by a unix socket proxy. nbdinfo negotiates structured replies, asks NBD_OPT_INFO, tries
 * NBD_OPT_LIST_META_CONTEXT (refused), sends NBD_OPT_GO, reads 8 KiB at 0 to guess the content, and disconnects.
 */
const h = (hex: string): Buffer => Buffer.from(hex.replace(/\s+/g, ''), 'hex');

/** Client to server, message by message. */
export const c2s = {
  clientFlags: h('00000003'),
  structuredReply: h('49484156454f5054 00000008 00000000'),
  info: h('49484156454f5054 00000006 00000010 00000004 6469736b 0003 0003 0001 0002'),
  listMetaContext: h('49484156454f5054 00000009 0000000c 00000004 6469736b 00000000'),
  go: h('49484156454f5054 00000007 00000010 00000004 6469736b 0003 0003 0001 0002'),
  read: h('25609513 0000 0000 0000000000000001 0000000000000000 00002000'),
  disc: h('25609513 0000 0002 0000000000000002 0000000000000000 00000000'),
};

/** The whole client stream, as sent. */
export const c2sStream = Buffer.concat(Object.values(c2s));

const infoReplies = (option: string) => [
  h(`0003e889045565a9 ${option} 00000003 0000000c 0000 0000000000100000 05ed`),
  h(`0003e889045565a9 ${option} 00000003 00000006 0001 6469736b`),
  h(`0003e889045565a9 ${option} 00000003 0000000f 0002 6d656d6f727920646576696365`),
  h(`0003e889045565a9 ${option} 00000003 0000000e 0003 00000200 00001000 02000000`),
  h(`0003e889045565a9 ${option} 00000001 00000000`),
];

/** Server to client, message by message. */
export const s2c = {
  greeting: h('4e42444d41474943 49484156454f5054 0003'),
  structuredAck: h('0003e889045565a9 00000008 00000001 00000000'),
  info: infoReplies('00000006'),
  listMetaContextUnsup: h(
    `0003e889045565a9 00000009 80000001 0000002a${Buffer.from('NBD_OPT_LIST_META_CONTEXT is not supported').toString('hex')}`,
  ),
  go: infoReplies('00000007'),
  /** NBD_REPLY_TYPE_OFFSET_DATA with DONE for cookie 1: offset 0, then 8192 bytes (0xab x 512, then zeros). */
  readChunkHeader: h('668e33ef 0001 0001 0000000000000001 00002008 0000000000000000'),
  readData: Buffer.concat([Buffer.alloc(512, 0xab), Buffer.alloc(8192 - 512)]),
};

/** The whole server stream, as sent (8614 bytes). */
export const s2cStream = Buffer.concat([
  s2c.greeting,
  s2c.structuredAck,
  ...s2c.info,
  s2c.listMetaContextUnsup,
  ...s2c.go,
  s2c.readChunkHeader,
  s2c.readData,
]);
