/** Module loader hooks of loaded-modules.mjs: one line per ES module loaded, to MPISCSI_LOADED_MODULES. */
import { appendFileSync } from 'node:fs';

export async function load(url, context, next) {
  if (process.env.MPISCSI_LOADED_MODULES) appendFileSync(process.env.MPISCSI_LOADED_MODULES, `esm ${url}\n`);
  return next(url, context);
}
