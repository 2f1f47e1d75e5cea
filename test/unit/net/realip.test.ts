import { describe, expect, it } from 'vitest';
import { clientAddress, TrustedSources } from '../../../src/net/realip.js';

const header = (sourceAddress: string) => ({ sourceAddress, sourcePort: 51000, destinationAddress: '198.51.100.9', destinationPort: 143 });
const peer = { ip: '127.0.0.1', port: 40000 };
const trusted = new TrustedSources([{ kind: 'cidr', family: 'ipv4', address: '127.0.0.0', prefix: 8 }]);

describe('clientAddress (ngx_mail_realip_handler)', () => {
  it('a trusted sender names the client: address and port from the header', () => {
    expect(clientAddress(peer, header('203.0.113.7'), trusted)).toEqual({ ip: '203.0.113.7', port: 51000, proxyProtocol: header('203.0.113.7') });
  });

  it('an untrusted sender, or no set_real_ip_from at all: the peer stays the client, the header is kept for the auth request', () => {
    const stranger = new TrustedSources([{ kind: 'cidr', family: 'ipv4', address: '10.0.0.0', prefix: 8 }]);
    expect(clientAddress(peer, header('203.0.113.7'), stranger)).toEqual({ ...peer, proxyProtocol: header('203.0.113.7') });
    expect(clientAddress(peer, header('203.0.113.7'), null)).toEqual({ ...peer, proxyProtocol: header('203.0.113.7') });
  });

  it('UNKNOWN / LOCAL (no addresses): the peer, and nothing for the auth request', () => {
    expect(clientAddress(peer, null, trusted)).toEqual(peer);
  });

  it('a source that is no IP address changes nothing; IPv6 is written as nginx prints it', () => {
    expect(clientAddress(peer, header('999.1.1.1'), trusted).ip).toBe('127.0.0.1');
    expect(clientAddress(peer, header('2001:DB8:0::7'), trusted).ip).toBe('2001:db8::7');
  });
});
