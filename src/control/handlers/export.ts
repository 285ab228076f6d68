/** The export.* endpoints: ExportInfo messages to and from the export service, devices named as mpath.* names them. */
import type { PathManager } from '../../multipath/index.js';
import type { ExportService } from '../../services/exports.js';
import type { ControlApi, ExportListResponse } from '../api.js';
import { namedDevice } from './mpath.js';

export function exportHandlers(
  exports: ExportService,
  manager: PathManager,
): Pick<ControlApi, 'exportList' | 'exportStart' | 'exportStop'> {
  const list = (): ExportListResponse => ({
    exports: exports.list().map((e) => ({ name: e.name, device: e.device.name, uris: e.uris, clients: e.server.connectionCount })),
  });
  return {
    exportList: async () => list(),
    exportStart: async (req) => {
      await exports.start(req, (name) => namedDevice(manager, name));
      return list();
    },
    exportStop: async (req) => {
      await exports.stop(req.name);
      return list();
    },
  };
}
