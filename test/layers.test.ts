/**
 * DESIGN.md "Layers (imports point down only)", checked by dependency-cruiser against the rules in
 * .dependency-cruiser.cjs: the tree must pass them, and a scratch tree with one violation of each kind must fail.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const config = join(root, '.dependency-cruiser.cjs');
const bin = join(root, 'node_modules', 'dependency-cruiser', 'bin');

interface Violation {
  type: string;
  from: string;
  to: string;
  rule: { name: string; severity: 'error' | 'warn' | 'info' | 'ignore' };
}
interface Cruise {
  modules: Array<{ source: string }>;
  summary: { violations: Violation[]; error: number; warn: number };
}

/** Runs depcruise over src/ and machines/ of `cwd` with the project's rules; returns its JSON result. */
function cruise(cwd: string): { result: Cruise; json: string } {
  // depcruise exits with the number of errors; the JSON is on stdout either way.
  const run = spawnSync(
    process.execPath,
    [join(bin, 'dependency-cruise.mjs'), 'src', 'machines', '--config', config, '--output-type', 'json'],
    { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (!run.stdout) throw new Error(`depcruise printed nothing (exit ${run.status}): ${run.stderr}`);
  return { result: JSON.parse(run.stdout) as Cruise, json: run.stdout };
}

/** depcruise's own report of a result (the `err` format `npm run lint` prints), for the failure message. */
function report(json: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mpiscsi-depcruise-'));
  try {
    writeFileSync(join(dir, 'result.json'), json);
    const run = spawnSync(process.execPath, [join(bin, 'depcruise-fmt.mjs'), '--output-type', 'err', join(dir, 'result.json')], {
      encoding: 'utf8',
    });
    return run.stdout + run.stderr;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** One line per violation: the rule, the importing file and what it imports (or the cycle's next file). */
const lines = (c: Cruise) => c.summary.violations.map((v) => `${v.rule.severity} ${v.rule.name}: ${v.from} -> ${v.to}`).sort();

describe('layering (dependency-cruiser)', () => {
  it('src/ and machines/ break no layer rule', () => {
    const { result, json } = cruise(root);
    const errors = result.summary.violations.filter((v) => v.rule.severity === 'error');
    expect(errors.length, report(json)).toBe(0);
    // It looked at every file: a rule set that matches no path would pass an empty cruise.
    const seen = new Set(result.modules.map((m) => m.source));
    const unseen = [...tsFiles(join(root, 'src')), ...tsFiles(join(root, 'machines'))]
      .map((f) => relative(root, f))
      .filter((f) => !f.startsWith('src/control/gen/') && !seen.has(f));
    expect(unseen).toEqual([]);
  });

  describe('catches each kind of violation in a scratch tree', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'mpiscsi-layers-'));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));
    const file = (path: string, text: string) => {
      mkdirSync(dirname(join(scratch, path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    };

    // Resolution as in the tree: NodeNext `.js` specifiers naming `.ts` files, and the project's packages.
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
    file(
      'tsconfig.test.json',
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['**/*.ts'] }),
    );
    // Allowed imports, one per kind of rule, so that a rule matching too much shows up as an unexpected line.
    file('src/settings/table.ts', "export const table = { 'node.startup': 'manual' };\n");
    file('src/scsi/cdb.ts', "import { table } from '../settings/table.js';\nexport const cdb = table;\n");
    file(
      'src/iscsi/pdu.ts',
      "import { cdb } from '../scsi/cdb.js';\nimport { createHash } from 'node:crypto';\nexport const pdu = [cdb, createHash];\n",
    );
    file('src/db/record.ts', "import { pdu } from '../iscsi/pdu.js';\nexport const record = pdu;\n");
    file(
      'machines/ok.machine.ts',
      "import { setup } from 'xstate';\nimport { Subject } from 'rxjs';\nimport { table } from '../src/settings/table.js';\nexport const m = [setup, Subject, table];\n",
    );
    file(
      'src/session/session.ts',
      "import { record } from '../db/record.js';\nimport { m } from '../../machines/ok.machine.js';\nexport const s = [record, m];\n",
    );
    file('src/telemetry/spans.ts', "import { trace } from '@opentelemetry/api';\nexport const spans = trace;\n");
    file(
      'src/services/nodes.ts',
      "import { s } from '../session/session.js';\nimport { spans } from '../telemetry/spans.js';\nexport const nodes = [s, spans];\n",
    );
    file('src/control/handlers.ts', "import { nodes } from '../services/nodes.js';\nexport const handlers = nodes;\n");
    file('src/cli/adm.ts', "import { handlers } from '../control/handlers.js';\nexport const adm = handlers;\n");
    file('src/index.ts', "export { adm } from './cli/adm.js';\n");

    // One violation each.
    file('src/settings/fs.ts', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n");
    file('src/settings/up.ts', "import { cdb } from '../scsi/cdb.js';\nexport const u = cdb;\n");
    file('src/scsi/up.ts', "import { pdu } from '../iscsi/pdu.js';\nexport const u = pdu;\n");
    file('src/scsi/crypto.ts', "import { createHash } from 'node:crypto';\nexport const h = createHash;\n");
    file('src/db/type-up.ts', "import type { s } from '../session/session.js';\nexport type T = typeof s;\n");
    file('src/iscsi/socket.ts', "import { connect } from 'node:net';\nexport const c = connect;\n");
    file('src/iscsi/reexport.ts', "export { record } from '../db/record.js';\n");
    file('src/iscsi/nats.ts', "import { wsconnect } from '@nats-io/nats-core';\nexport const w = wsconnect;\n");
    file('src/db/dynamic.ts', "export const load = () => import('../session/session.js');\n");
    file('machines/db.machine.ts', "import { record } from '../src/db/record.js';\nexport const r = record;\n");
    file('machines/events.machine.ts', "import { EventEmitter } from 'node:events';\nexport const e = EventEmitter;\n");
    file('src/nbd/sibling.ts', "import { spans } from '../telemetry/spans.js';\nexport const n = spans;\n");
    file('src/services/up.ts', "import { handlers } from '../control/handlers.js';\nexport const h = handlers;\n");
    file('src/daemon/cli.ts', "import { adm } from '../cli/adm.js';\nexport const d = adm;\n");
    file('src/multipath/api.ts', "import { adm } from '../index.js';\nexport const a = adm;\n");
    file('src/multipath/typo.ts', "import { x } from './no-such-file.js';\nexport const t = x;\n");
    // A run-time cycle and a type-only one.
    file('src/nbd/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
    file('src/nbd/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
    file(
      'src/scsi/sense.ts',
      "import { SenseError } from './errors.js';\nexport interface Sense { key: number }\nexport const e = SenseError;\n",
    );
    file('src/scsi/errors.ts', "import type { Sense } from './sense.js';\nexport class SenseError extends Error { sense?: Sense }\n");

    it('reports exactly the planted violations', () => {
      const { result } = cruise(scratch);
      expect(lines(result)).toEqual(
        [
          'error layer:src/settings: src/settings/up.ts -> src/scsi/cdb.ts',
          'error pure:src/settings: src/settings/fs.ts -> fs',
          'error layer:src/scsi: src/scsi/up.ts -> src/iscsi/pdu.ts',
          'error pure:src/scsi: src/scsi/up.ts -> src/iscsi/pdu.ts',
          'error pure:src/scsi: src/scsi/crypto.ts -> crypto',
          'error layer:src/db: src/db/type-up.ts -> src/session/session.ts',
          'error pure:codecs: src/iscsi/socket.ts -> net',
          'error layer:src/iscsi: src/iscsi/reexport.ts -> src/db/record.ts',
          'error pure:codecs: src/iscsi/nats.ts -> node_modules/@nats-io/nats-core/lib/mod.js',
          'error layer:src/db: src/db/dynamic.ts -> src/session/session.ts',
          'error pure:machines: machines/db.machine.ts -> src/db/record.ts',
          'error pure:machines: machines/events.machine.ts -> events',
          'error layer:src/nbd: src/nbd/sibling.ts -> src/telemetry/spans.ts',
          'error layer:src/services: src/services/up.ts -> src/control/handlers.ts',
          'error layer:src/daemon: src/daemon/cli.ts -> src/cli/adm.ts',
          'error api:src/index.ts: src/multipath/api.ts -> src/index.ts',
          'error not-to-unresolvable: src/multipath/typo.ts -> ./no-such-file.js',
          // depcruise reports a cycle once, at the edge it met first.
          'error no-circular: src/nbd/a.ts -> src/nbd/b.ts',
          'error no-circular-types: src/scsi/errors.ts -> src/scsi/sense.ts',
        ].sort(),
      );
    });

    it('exits non-zero with a report naming the rule and the files', () => {
      const run = spawnSync(process.execPath, [join(bin, 'dependency-cruise.mjs'), 'src', 'machines', '--config', config], {
        cwd: scratch,
        encoding: 'utf8',
      });
      expect(run.status).toBe(19); // depcruise's exit code is the number of errors
      expect(run.stdout).toContain('error pure:machines: machines/events.machine.ts → events');
    });
  });
});
