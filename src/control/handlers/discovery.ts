/**
 * The discovery.sendtargets endpoint: SendTargets through each named iface into the node database
 * (src/control/discover.ts), the targets an answer held but could not be stored reported with why, and with
 * `login` the found records logged in through the session service.
 */
import type { PortalKey } from '../../db/store.js';
import type { NodeKey } from '../../db/node-record.js';
import { describeSkipped } from '../../iscsi/discovery.js';
import { InvalidRequestError, OperationFailedError, ServiceError } from '../../services/errors.js';
import type { SessionService } from '../../services/sessions.js';
import { discoverAndStore } from '../discover.js';
import type { ControlApi } from '../api.js';
import { loginResult, nodeKeyMsg } from './node.js';

export type DiscoveryStore = Parameters<typeof discoverAndStore>[0];

export function discoveryHandlers(
  store: DiscoveryStore,
  sessions: SessionService,
  initiatorName: string,
  log: (line: string) => void,
): Pick<ControlApi, 'discoverySendtargets'> {
  return {
    discoverySendtargets: async (req) => {
      if (!req.address) throw new InvalidRequestError('Please specify portal as <ipaddr>[:<ipport>]');
      const portal: PortalKey = { address: req.address, port: req.port || 3260 };
      const found: NodeKey[] = [];
      const skipped: string[] = [];
      for (const iface of req.ifaces?.length ? req.ifaces : ['default']) {
        try {
          const onSkip = (s: Parameters<typeof describeSkipped>[0]) => {
            const line = describeSkipped(s);
            skipped.push(line);
            log(`discovery ${portal.address}:${portal.port}: ${line}`);
          };
          found.push(
            ...(await discoverAndStore(store, portal, {
              iface,
              nonpersistent: req.nonpersistent,
              settings: req.settings,
              initiatorName,
              onSkip,
            })),
          );
        } catch (err) {
          if (err instanceof ServiceError) throw err;
          throw new OperationFailedError(`Could not perform SendTargets discovery: ${(err as Error).message}`, err);
        }
      }
      // Every record found logged in; an empty answer logs nothing in (rather than "No records found").
      const logins = req.login && found.length > 0 ? (await sessions.loginRecords(found)).map(loginResult) : [];
      return { nodes: found.map((k) => ({ node: nodeKeyMsg(k) })), logins, skipped };
    },
  };
}
