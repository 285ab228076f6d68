/**
 * libiscsi-style URLs: `iscsi://[user[%password]@]host[:port]/TARGET_IQN/LUN[?args]`, as iscsi-ls, qemu and
 * libiscsi's tools take them. CHAP secrets may also come from the environment (LIBISCSI_CHAP_PASSWORD,
 * LIBISCSI_CHAP_TARGET_PASSWORD, or MPISCSI_CHAP_*), so they stay out of `ps`.
 */
import { iscsiNameProblem } from '../iscsi/names.js';

export interface IscsiUrl {
  host: string;
  port: number;
  targetName?: string;
  lun?: number;
  username?: string;
  password?: string;
  /** Mutual CHAP: the target's name and secret. */
  targetUsername?: string;
  targetPassword?: string;
  headerDigest?: Array<'None' | 'CRC32C'>;
  dataDigest?: Array<'None' | 'CRC32C'>;
  /** Source address or network device to bind (our `?iface=`; see iface.ts). */
  iface?: string;
}

export class UrlError extends Error {
  override readonly name = 'UrlError';
}

const DIGESTS: Record<string, Array<'None' | 'CRC32C'>> = {
  none: ['None'],
  crc32c: ['CRC32C'],
  'none-crc32c': ['None', 'CRC32C'],
  'crc32c-none': ['CRC32C', 'None'],
};

/** Percent-decoding whose failure names the part (and never echoes a password). */
function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new UrlError(`bad percent-encoding in the ${what} of the iSCSI URL`);
  }
}

export function parseIscsiUrl(text: string, env: NodeJS.ProcessEnv = process.env): IscsiUrl {
  const m = /^iscsi:\/\/(?:([^@/]*)@)?(\[[^\]]+\]|[^/:?]+)(?::(\d+))?(?:\/([^/?]*)(?:\/([^/?]*))?)?\/?(?:\?(.*))?$/.exec(text);
  if (!m) throw new UrlError(`not an iSCSI URL: expected iscsi://[user[%password]@]host[:port]/target/lun, got "${redact(text)}"`);
  const [, userinfo, rawHost, rawPort, target, rawLun, query] = m;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  const port = rawPort === undefined ? 3260 : Number(rawPort);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UrlError(`bad port "${rawPort}" in iSCSI URL`);
  const url: IscsiUrl = { host, port };
  if (target) {
    url.targetName = decode(target, 'target name');
    // A target name goes into a login and from there into records and listings: RFC 3722 before anything.
    const problem = iscsiNameProblem(url.targetName);
    if (problem) throw new UrlError(`bad target name in iSCSI URL: ${problem}`);
  }
  if (rawLun !== undefined && rawLun !== '') {
    if (!/^\d+$/.test(rawLun) || Number(rawLun) > 0x3fff) throw new UrlError(`bad LUN "${rawLun}" in iSCSI URL`);
    url.lun = Number(rawLun);
  }
  if (userinfo !== undefined) {
    const pct = userinfo.indexOf('%');
    url.username = decode(pct < 0 ? userinfo : userinfo.slice(0, pct), 'user name');
    if (pct >= 0) url.password = decode(userinfo.slice(pct + 1), 'password');
  }
  if (query) {
    for (const part of query.split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? '' : decode(part.slice(eq + 1), `argument ${key}`);
      switch (key) {
        case 'target_user':
          url.targetUsername = value;
          break;
        case 'target_password':
          url.targetPassword = value;
          break;
        case 'header_digest':
        case 'data_digest': {
          const d = DIGESTS[value.toLowerCase()];
          if (!d) throw new UrlError(`bad ${key} "${value}": use none, crc32c, none-crc32c or crc32c-none`);
          if (key === 'header_digest') url.headerDigest = d;
          else url.dataDigest = d;
          break;
        }
        case 'iface':
          url.iface = value;
          break;
        default:
          throw new UrlError(`unknown iSCSI URL argument "${key}"`);
      }
    }
  }
  url.username ??= env.MPISCSI_CHAP_USERNAME ?? env.LIBISCSI_CHAP_USERNAME;
  if (url.username !== undefined) url.password ??= env.MPISCSI_CHAP_PASSWORD ?? env.LIBISCSI_CHAP_PASSWORD;
  url.targetUsername ??= env.MPISCSI_CHAP_TARGET_USERNAME ?? env.LIBISCSI_CHAP_TARGET_USERNAME;
  if (url.targetUsername !== undefined) url.targetPassword ??= env.MPISCSI_CHAP_TARGET_PASSWORD ?? env.LIBISCSI_CHAP_TARGET_PASSWORD;
  if (url.username !== undefined && url.password === undefined)
    throw new UrlError(`CHAP user "${url.username}" has no password: give it as user%password or in MPISCSI_CHAP_PASSWORD`);
  if (url.targetUsername !== undefined && url.targetPassword === undefined)
    throw new UrlError('mutual CHAP target_user has no password: set target_password or MPISCSI_CHAP_TARGET_PASSWORD');
  return url;
}

/** The form of a URL for one LU, in libiscsi's words (ISCSI_URL_SYNTAX), shown when a URL lacks a part. */
export const LUN_URL_FORM = 'iscsi://[<username>[%<password>]@]<host>[:<port>]/<target-iqn>/<lun>';

/** A URL that names one LU: its target and its LUN. */
export type LunUrl = IscsiUrl & { targetName: string; lun: number };

/**
 * A URL for the tools that work on one LU (inq, readcap, dd, perf). Target and LUN are both required, as
 * libiscsi's iscsi_parse_full_url requires them: a missing LUN read as LUN 0 would inquire of, or copy to,
 * the target's controller LU (LUN 0 on tgtd) or some other LU than the one meant.
 */
export function parseLunUrl(text: string, env: NodeJS.ProcessEnv = process.env): LunUrl {
  const url = parseIscsiUrl(text, env);
  if (url.targetName === undefined)
    throw new UrlError(`the iSCSI URL "${redact(text)}" names no target: it must be of the form ${LUN_URL_FORM}`);
  if (url.lun === undefined) throw new UrlError(`the iSCSI URL "${redact(text)}" names no LUN: it must be of the form ${LUN_URL_FORM}`);
  return url as LunUrl;
}

/** The URL with any password replaced by ********, for messages and logs. */
export function redact(text: string): string {
  return text.replace(/^(iscsi:\/\/[^%@/]*%)[^@/]*@/, '$1********@').replace(/([?&]target_password=)[^&]*/, '$1********');
}

export function formatPortal(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
