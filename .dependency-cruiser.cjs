/**
 * dependency-cruiser rules for mpiscsi's layers (DESIGN.md "Layers (imports point down only)"): the layer table
 * below is the whole statement; `npm run lint` and test/layers.test.ts run `depcruise src machines` against it.
 */

/**
 * Every layered folder, lowest first. A folder may import its own files and the folders on lower levels; a folder
 * on the same level is a sibling and off limits too (src/nbd and src/telemetry serve each other's callers, not
 * each other; src/cli and src/daemon are two composition roots, and neither may import the other).
 */
const LAYERS = [
  // One table of every setting's unit, range, default and parser: pure, so that everything, machines/ included,
  // may derive its values from it.
  ['src/settings'],
  ['src/scsi'],
  // iSCSI carries SCSI: its PDU codec may use the SCSI codecs (the SAM LUN field), never the other way.
  ['src/iscsi'],
  // Records hold iSCSI names and values: the database checks them with the iSCSI rules (src/iscsi/names.ts).
  ['src/db'],
  ['machines'],
  ['src/session'],
  ['src/multipath'],
  ['src/nbd', 'src/telemetry'],
  ['src/services'],
  ['src/control'],
  ['src/cli', 'src/daemon'],
];

/** A regular expression source for a folder's files (paths are relative to the repository root). */
const under = (folder) => `^${folder.replace('/', '\\/')}/`;
const alternatives = (folders) => `^(${folders.map((f) => f.replace('/', '\\/')).join('|')})/`;

/** Sockets, processes, NATS and OpenTelemetry: what the pure codec layers never touch (DESIGN.md, Layers). */
const IMPURE_CORE = ['net', 'tls', 'dgram', 'http', 'https', 'child_process'];
const IMPURE_PACKAGES = '(^|/)node_modules/(nats|@nats-io/|@opentelemetry/)';
const coreModules = (names) => `^(node:)?(${names.join('|')})$`;

const layerRules = LAYERS.flatMap((level, i) =>
  level.map((folder) => {
    const notBelow = LAYERS.slice(i).flat().filter((f) => f !== folder);
    return {
      name: `layer:${folder}`,
      comment: `${folder} may import only its own files and the layers below it: ${LAYERS.slice(0, i).flat().join(', ') || 'none'}`,
      severity: 'error',
      from: { path: under(folder) },
      to: { path: alternatives(notBelow) },
    };
  }),
);

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'pure:src/settings',
      comment: 'src/settings is pure data and parsers: no node: modules, so machines/ and the codecs can use it',
      severity: 'error',
      from: { path: under('src/settings') },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'pure:src/scsi',
      comment: 'src/scsi is the bottom codec layer: its files import only each other and src/settings (no node:, no packages)',
      severity: 'error',
      from: { path: under('src/scsi') },
      to: { pathNot: [under('src/scsi'), under('src/settings')] },
    },
    {
      name: 'pure:codecs',
      comment: 'src/iscsi and src/scsi are pure codecs over Buffer: no sockets, processes, NATS or OpenTelemetry',
      severity: 'error',
      from: { path: alternatives(['src/iscsi', 'src/scsi', 'src/settings']) },
      to: { path: [coreModules(IMPURE_CORE), IMPURE_PACKAGES] },
    },
    {
      name: 'pure:machines',
      comment:
        'machines/ are statecharts with no I/O: they may import only xstate, rxjs, machines/ and src/settings (I/O arrives as events from invoked actors)',
      severity: 'error',
      from: { path: under('machines') },
      to: { pathNot: [under('machines'), under('src/settings'), '(^|/)node_modules/(xstate|rxjs)/'] },
    },
    {
      name: 'api:src/index.ts',
      comment: 'src/index.ts is the public export list on top of every layer; no layer imports it',
      severity: 'error',
      from: { path: alternatives(LAYERS.flat()) },
      to: { path: '^src/index\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles, within a layer either: each module loads, reads and tests on its own',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      // An error like the run-time cycles: an `import type` is erased at run time but still ties the two files
      // together (src/scsi's errors.ts <-> sense.ts was the last; ScsiParseError moved to parse-error.ts).
      name: 'no-circular-types',
      comment: 'an import cycle through an `import type`: erased at run time, but the two files still depend on each other',
      severity: 'error',
      from: {},
      to: { circular: true, via: { dependencyTypes: ['type-only'] } },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that does not resolve is a typo or a missing dependency',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: '(^|/)node_modules/' },
    // node_modules is a symbolic link in engineers' worktrees: keep its paths as they are written.
    preserveSymlinks: true,
    exclude: { path: '^dist/' },
    // Type-only imports count: a layer that names an upper layer's types depends on it as much as on its values.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
