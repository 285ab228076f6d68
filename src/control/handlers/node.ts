/**
 * The node.* endpoints (DESIGN.md "Control plane (NATS)"): NodeFilter / NodeKeyMsg / Field messages to and from
 * the node service (records) and the session service (login, logout). A mass operation has to say so.
 */
import type { NodeKey } from '../../db/node-record.js';
import { NODE_SCHEMA } from '../../db/node-record.js';
import { recordFields, type NodeMatch } from '../../db/record-ops.js';
import { InvalidRequestError } from '../../services/errors.js';
import type { NodeService } from '../../services/nodes.js';
import type { LoginOutcome, LogoutOutcome, SessionService } from '../../services/sessions.js';
import { exitCodeFor } from '../exit-codes.js';
import type { ControlApi, LoginResultMsg, NodeFilter, NodeKeyMsg, NodeShowRequest, NodeShowResponse } from '../api.js';

export function nodeKeyMsg(k: NodeKey): NodeKeyMsg {
  return { target: k.target, portal: { address: k.address, port: k.port, tpgt: k.tpgt }, iface: k.iface };
}

/** A filter's empty fields match anything (proto3 has no absent strings). */
export function nodeMatch(f: NodeFilter | undefined): NodeMatch {
  return { target: f?.target || undefined, address: f?.address || undefined, port: f?.port || undefined, iface: f?.iface || undefined };
}

const namesSome = (f: NodeFilter | undefined): boolean => !!f && !!(f.target || f.address || f.port || f.iface);

/**
 * A mass operation has to say so (`all`, or for logins a startup selection): an empty body (a client that forgot
 * its filter, or one whose fields this version does not know) is not "every record".
 */
export function refuseImplicitAll(
  endpoint: string,
  req: { filter?: NodeFilter; startup?: string; all?: boolean },
  how = 'set all for every record',
): void {
  if (req.all || req.startup || namesSome(req.filter)) return;
  throw new InvalidRequestError(`${endpoint}: name a target, portal or iface, or ${how}; an empty request is not "all"`);
}

/** A login's or logout's outcome as the wire reports it: code 0, or the failure's iscsiadm exit code and text. */
export function loginResult(o: LoginOutcome | LogoutOutcome): LoginResultMsg {
  if (o.error === undefined) return { node: nodeKeyMsg(o.key), sid: o.sid, code: 0, message: '' };
  return { node: nodeKeyMsg(o.key), sid: o.sid, code: exitCodeFor(o.error), message: (o.error as Error).message };
}

export type NodeHandlers = Pick<
  ControlApi,
  'nodeList' | 'nodeShow' | 'nodeShowSecrets' | 'nodeNew' | 'nodeUpdate' | 'nodeDelete' | 'nodeLogin' | 'nodeLogout'
>;

export function nodeHandlers(nodes: NodeService, sessions: SessionService): NodeHandlers {
  /** Passwords in clear only for the secrets endpoint, whatever the request's (deprecated) showSecrets says. */
  const show = async (req: NodeShowRequest, showSecrets: boolean): Promise<NodeShowResponse> => {
    const { records } = await nodes.show(nodeMatch(req.filter));
    return {
      records: records.map(({ key, rec }) => ({
        node: nodeKeyMsg(key),
        fields: recordFields(rec, NODE_SCHEMA, { showSecrets, empty: '<empty>' }),
      })),
    };
  };
  return {
    nodeList: async (req) => ({ nodes: (await nodes.find(nodeMatch(req.filter))).map(nodeKeyMsg) }),
    nodeShow: (req) => show(req, false),
    nodeShowSecrets: (req) => show(req, true),
    nodeNew: async (req) => {
      const n = req.node;
      if (!n?.target || !n.portal?.address) throw new InvalidRequestError('-o new requires a target name and a portal');
      const { key } = await nodes.create(
        { target: n.target, address: n.portal.address, port: n.portal.port, tpgt: n.portal.tpgt, iface: n.iface },
        req.fields,
      );
      return { nodes: [nodeKeyMsg(key)] };
    },
    nodeUpdate: async (req) => {
      refuseImplicitAll('node.update', req);
      return { nodes: (await nodes.update(nodeMatch(req.filter), req.fields ?? [])).map(nodeKeyMsg) };
    },
    nodeDelete: async (req) => {
      refuseImplicitAll('node.delete', req);
      return { nodes: (await nodes.delete(nodeMatch(req.filter))).map(nodeKeyMsg) };
    },
    nodeLogin: async (req) => {
      refuseImplicitAll('node.login', req, 'set all (every record) or startup');
      return { results: (await sessions.loginRecords(await nodes.find(nodeMatch(req.filter)), req.startup)).map(loginResult) };
    },
    nodeLogout: async (req) => {
      refuseImplicitAll('node.logout', req, 'set all (every session) or startup');
      const picked = sessions.sessionsOf(nodeMatch(req.filter), req.startup);
      return { results: (await Promise.all(picked.map((s) => sessions.logout(s)))).map(loginResult) };
    },
  };
}
