/** Binding a path to a source address or a network device by name (iface.ipaddress / iface.net_ifacename). */
import { describe, expect, it } from 'vitest';
import { ifaceSourceAddress } from '../../src/session/iface.js';
import { openSession } from '../../src/session/open.js';
import { Tgtd } from '../support/tgtd.js';

describe('ifaceSourceAddress', () => {
  it('keeps an address as it is', () => {
    expect(ifaceSourceAddress('127.0.0.3')).toBe('127.0.0.3');
    expect(ifaceSourceAddress('::1')).toBe('::1');
  });

  it("binds a device by its address (the loopback device 'lo' here)", () => {
    expect(ifaceSourceAddress('lo')).toBe('127.0.0.1');
  });

  it('names the devices it knows when the name is unknown', () => {
    expect(() => ifaceSourceAddress('nosuchdev0')).toThrow(/neither an IP address nor a network device.*lo/);
  });

  it('a session bound to a device name connects from that device', async () => {
    const tgtd = await Tgtd.start();
    try {
      await tgtd.addTarget('iqn.2026-11.test:iface', [{ size: 1 << 20 }]);
      const { session } = await openSession({
        host: tgtd.host,
        port: tgtd.port,
        targetName: 'iqn.2026-11.test:iface',
        localAddress: ifaceSourceAddress('lo'),
      });
      expect(session.conn.socket.localAddress).toBe('127.0.0.1');
      await session.logout();
    } finally {
      await tgtd.stop();
    }
  });
});
