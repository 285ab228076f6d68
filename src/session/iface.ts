/**
 * What a path binds to (open-iscsi iface records: iface.ipaddress, iface.net_ifacename): a source address, or
 * a network device given by name, bound through its address. Node cannot set SO_BINDTODEVICE, so a device is
 * bound by its (first IPv4, else IPv6) address, which makes the kernel pick it as the source.
 */
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** A usage error: maps to iscsiadm's INVAL exit code (7) like other RangeErrors. */
export class IfaceError extends RangeError {
  override readonly name = 'IfaceError';
}

/** The source address for `iface`: itself when it is an address, else the named device's address. */
export function ifaceSourceAddress(iface: string, interfaces = networkInterfaces()): string {
  if (isIP(iface)) return iface;
  const addrs = interfaces[iface];
  if (!addrs || addrs.length === 0)
    throw new IfaceError(
      `iface "${iface}" is neither an IP address nor a network device here (devices: ${Object.keys(interfaces).join(', ')})`,
    );
  const pick = addrs.find((a) => a.family === 'IPv4') ?? addrs[0];
  return pick.address;
}
