/**
 * NBD exports of multipath devices as a domain service: `exportDevice` is the one device -> block device -> NBD
 * server wiring that `mpiscsi serve` and the daemon share, and ExportService is the daemon's set of exports
 * (export.{list,start,stop}). What a request names is checked before anything is made: the export name by one
 * rule (it becomes a file name), the socket only inside the state directory's nbd/ or the directory the daemon
 * was started with (`--export-dir`, `export.socket_dir`), TCP only on loopback unless `--allow-remote-exports`.
 */
import { mkdirSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { MultipathDevice } from '../multipath/index.js';
import { NbdServer } from '../nbd/index.js';
import { ScsiBlockDevice } from '../session/scsi-block-device.js';
import { AccessDeniedError, AlreadyExistsError, InvalidRequestError, NotFoundError, OperationFailedError } from './errors.js';

export interface ExportPolicy {
  /** Default sockets are <stateDir>/nbd/<name>.sock. */
  stateDir: string;
  /** One more directory a request's `socket` may name (besides <stateDir>/nbd). */
  socketDir?: string;
  /** TCP exports on addresses other than loopback. */
  allowRemote?: boolean;
}

/**
 * Export names become socket file names and NBD export names: letters, digits and `. _ : -`, starting with a
 * letter or digit, at most 64 characters (so `<name>.sock` always fits a unix socket path under the state
 * directory). The rule node names follow, narrowed to what a file name can hold anywhere.
 */
export const EXPORT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** The longest unix socket path (sun_path is 108 bytes with its NUL); NbdServer binds 12 bytes longer first. */
const MAX_SOCKET_PATH = 107 - 12;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;
/** 127.0.0.0/8, ::1 or localhost: the addresses a listener may take without an explicit opt-in. */
export const isLoopbackHost = (host: string): boolean => LOOPBACK.test(host);

export function exportNameProblem(name: string): string | undefined {
  if (EXPORT_NAME_PATTERN.test(name)) return undefined;
  return `invalid export name ${JSON.stringify(name)}: use letters, digits, '.', '_', ':' and '-' (starting with a letter or digit, at most 64)`;
}

/** The directory, resolved through symlinks, or the path itself if it does not exist yet. */
function real(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return resolve(dir);
  }
}

const inside = (dir: string, path: string): boolean => {
  const r = relative(dir, path);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
};

/** <stateDir>/nbd/<name>.sock, the directory made 0700 if missing. */
export function defaultSocketPath(policy: ExportPolicy, name: string): string {
  const nbdDir = join(policy.stateDir, 'nbd');
  mkdirSync(nbdDir, { recursive: true, mode: 0o700 });
  return fitting(join(nbdDir, `${name}.sock`));
}

/**
 * A socket path a request names, if its directory (symlinks resolved) is <stateDir>/nbd or the policy's
 * socketDir (or under them). Refusals name the allowed directories.
 */
export function requestedSocketPath(policy: ExportPolicy, socket: string): string {
  if (socket.includes('\0')) throw new InvalidRequestError('socket path holds a NUL byte');
  const wanted = resolve(socket);
  const allowed = [join(policy.stateDir, 'nbd'), ...(policy.socketDir ? [policy.socketDir] : [])].map(real);
  const dir = real(dirname(wanted));
  if (!allowed.some((a) => inside(a, dir))) {
    throw new AccessDeniedError(
      `socket ${JSON.stringify(socket)} refused: exports listen under ${allowed.join(' or ')} (start mpiscsid with --export-dir DIR to allow another directory)`,
    );
  }
  return fitting(join(dir, basename(wanted)));
}

function fitting(path: string): string {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH)
    throw new InvalidRequestError(`socket path ${path} is longer than a unix socket path can be here (${MAX_SOCKET_PATH} bytes)`);
  return path;
}

/** `HOST:PORT` or `[V6]:PORT` as host and port (host undefined for a bare `PORT` where `bare` allows it); undefined if neither. */
export function parseHostPort(spec: string, bare = false): { host?: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(spec) ?? (bare ? /^()()(\d+)$/.exec(spec) : null);
  return m ? { host: m[1] || m[2] || undefined, port: Number(m[3]) } : undefined;
}

/** HOST:PORT or [V6]:PORT, loopback unless the policy allows remote exports. */
export function exportTcp(policy: ExportPolicy, tcp: string): { host: string; port: number } {
  const hp = parseHostPort(tcp);
  if (!hp?.host || hp.port > 65535) throw new InvalidRequestError(`tcp "${tcp}": expected HOST:PORT`);
  if (!LOOPBACK.test(hp.host) && !policy.allowRemote)
    throw new AccessDeniedError(`export on ${hp.host} refused: only loopback unless the daemon runs with --allow-remote-exports`);
  return { host: hp.host, port: hp.port };
}

/** One multipath device served over NBD. */
export interface DeviceExport {
  readonly name: string;
  readonly device: MultipathDevice;
  readonly server: NbdServer;
  readonly uris: string[];
}

/**
 * Serves `lun` of `device` (default: the LUN its paths lead to) as NBD export `name` on a unix socket and/or
 * TCP: the block device opened first (READ CAPACITY through the device's paths), then the server listening.
 * A failure closes what was made.
 */
export async function exportDevice(
  device: MultipathDevice,
  where: { name: string; socketPath?: string; tcp?: { host: string; port: number }; lun?: number },
): Promise<DeviceExport> {
  const lun = where.lun ?? device.status().groups.flatMap((g) => g.paths)[0]?.lun ?? 0;
  let block: ScsiBlockDevice;
  try {
    block = await ScsiBlockDevice.open(device, lun);
  } catch (err) {
    throw new OperationFailedError(`cannot open ${device.name}: ${(err as Error).message}`, err);
  }
  const server = new NbdServer();
  server.addExport(where.name, block);
  try {
    const addresses = await server.listen({ socketPath: where.socketPath, tcp: where.tcp });
    return { name: where.name, device, server, uris: server.uris(where.name, addresses) };
  } catch (err) {
    await server.close();
    throw new InvalidRequestError(`cannot listen: ${(err as Error).message}`, { cause: err });
  }
}

export interface ExportRequest {
  /** The multipath device, by name or WWID. */
  device: string;
  /** Export name; default the device's name. */
  name?: string;
  socket?: string;
  tcp?: string;
}

/** The daemon's exports, by name, under its policy. */
export class ExportService {
  private readonly running = new Map<string, DeviceExport>();

  constructor(
    private readonly policy: ExportPolicy,
    private readonly log: (line: string) => void,
  ) {}

  list(): DeviceExport[] {
    return [...this.running.values()];
  }

  /** Checks the request, then serves the device's LUN; `device` is looked up only after the checks pass. */
  async start(req: ExportRequest, device: (name: string) => MultipathDevice): Promise<DeviceExport> {
    // What the request names is checked before the device is looked up or anything is made.
    if (req.name) this.checkName(req.name);
    const tcp = req.tcp ? exportTcp(this.policy, req.tcp) : undefined;
    const asked = req.socket ? requestedSocketPath(this.policy, req.socket) : undefined;
    const d = device(req.device);
    const name = req.name || d.name;
    this.checkName(name);
    const e = await exportDevice(d, { name, socketPath: asked ?? (tcp ? undefined : defaultSocketPath(this.policy, name)), tcp });
    this.running.set(name, e);
    this.log(`export ${name} of ${d.name}: ${e.uris.join(' ')}`);
    return e;
  }

  private checkName(name: string): void {
    const problem = exportNameProblem(name);
    if (problem) throw new InvalidRequestError(problem);
    if (this.running.has(name)) throw new AlreadyExistsError(`export ${name} exists`);
  }

  /** Stops `name`: clients answered ESHUTDOWN, its socket removed if it is still the one it made. */
  async stop(name: string): Promise<void> {
    const e = this.running.get(name);
    if (!e) throw new NotFoundError(`export ${name} not found`);
    this.running.delete(name);
    await e.server.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.running.values()];
    this.running.clear();
    await Promise.all(all.map((e) => e.server.close()));
  }
}
