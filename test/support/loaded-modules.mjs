/**
 * Preload (`node --import`) that records every module a process loads into the file named by
 * MPISCSI_LOADED_MODULES: ES modules as the loader hook sees them (loaded-modules-hooks.mjs, on the hooks
 * thread), CommonJS ones from require.cache when the process exits. test/cli/startup.test.ts reads it.
 */
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const out = process.env.MPISCSI_LOADED_MODULES;
if (out) {
  register('./loaded-modules-hooks.mjs', import.meta.url);
  const require = createRequire(import.meta.url);
  process.on('exit', () => {
    const files = Object.keys(require.cache);
    if (files.length > 0) appendFileSync(out, `${files.map((f) => `cjs ${f}`).join('\n')}\n`);
  });
}
