/**
 * The control API's message descriptors by name (proto/mpiscsi/v1/*.proto, generated into src/control/gen/),
 * loaded a file at a time: a client loads only the files of the endpoint it calls (issue 17, start time: the
 * eight files took ~8 ms of a mpiscsiadm round trip), schema.ts registers all of them for the service.
 *
 * The rule that makes per-endpoint loading work: an endpoint's request and reply are in the file named after
 * its group (session.* in session.proto) or in common.proto (Empty, and Error for error replies), with what
 * those import; events are in events.proto. test/control/proto-binary.test.ts checks it for every endpoint.
 */
import type { DescFile, DescMessage } from '@bufbuild/protobuf';

/** The generated files, each loaded on first use (the import brings the files it depends on). */
const FILES = {
  common: async () => (await import('./gen/mpiscsi/v1/common_pb.js')).file_mpiscsi_v1_common,
  discovery: async () => (await import('./gen/mpiscsi/v1/discovery_pb.js')).file_mpiscsi_v1_discovery,
  events: async () => (await import('./gen/mpiscsi/v1/events_pb.js')).file_mpiscsi_v1_events,
  export: async () => (await import('./gen/mpiscsi/v1/export_pb.js')).file_mpiscsi_v1_export,
  iface: async () => (await import('./gen/mpiscsi/v1/iface_pb.js')).file_mpiscsi_v1_iface,
  mpath: async () => (await import('./gen/mpiscsi/v1/mpath_pb.js')).file_mpiscsi_v1_mpath,
  node: async () => (await import('./gen/mpiscsi/v1/node_pb.js')).file_mpiscsi_v1_node,
  session: async () => (await import('./gen/mpiscsi/v1/session_pb.js')).file_mpiscsi_v1_session,
} as const;

export type ProtoFile = keyof typeof FILES;

const byName = new Map<string, DescMessage>();
const registered = new WeakSet<DescFile>();

function addMessages(ms: readonly DescMessage[]): void {
  for (const m of ms) {
    byName.set(m.typeName, m);
    addMessages(m.nestedMessages);
  }
}

/** Makes the messages of `file` and of the files it imports findable by name. */
export function registerFile(file: DescFile): void {
  if (registered.has(file)) return;
  registered.add(file);
  for (const dep of file.dependencies) registerFile(dep);
  addMessages(file.messages);
}

/** Loads and registers the files of endpoint group `group` ('events' for the events), and common.proto. */
export async function loadMessages(group: string): Promise<void> {
  const load = FILES[group as ProtoFile];
  if (!load) throw new Error(`no proto file for ${group} in proto/mpiscsi/v1`);
  const files = await Promise.all([FILES.common(), load()]);
  for (const f of files) registerFile(f);
}

/** The message type by its fully qualified name (mpiscsi.v1.X), if its file is registered; a descriptor is returned as it is. */
export function messageType(name: string | DescMessage): DescMessage {
  if (typeof name !== 'string') return name;
  const t = byName.get(name);
  if (!t) throw new Error(`no message type ${name} in proto/mpiscsi/v1 (or its file is not loaded)`);
  return t;
}
