/**
 * ngx_mail_realip_module: which senders of a PROXY protocol header are trusted to name the
 * client (`set_real_ip_from`), and the client address a connection then has. Only a trusted
 * sender's header changes the address; an untrusted sender's header is still read (and reported
 * to the auth service), but the client stays the TCP peer.
 */
import { BlockList, isIPv6 } from 'node:net';
import type { RealIpSource } from '../config/types.js';
import type { ProxyAddresses } from './proxy-protocol.js';
import { formatIp, ipBytes, unmapIpv4 } from './ip-text.js';

/** Who the client is, as the session uses it (logs, `Client-IP`, XCLIENT, the PROXY line to the backend). */
export interface ClientAddress {
  ip: string;
  port: number;
  /** The PROXY header's addresses, when the connection began with one that carried them. */
  proxyProtocol?: ProxyAddresses;
}

export class TrustedSources {
  private readonly list = new BlockList();
  private readonly unix: boolean;

  constructor(sources: readonly RealIpSource[]) {
    this.unix = sources.some((source) => source.kind === 'unix');
    for (const source of sources) {
      if (source.kind === 'cidr') this.list.addSubnet(source.address, source.prefix, source.family);
    }
  }

  /** Whether a connection from `peer` (an IP address; `unix` for a unix-domain socket) may name its client. */
  trusts(peer: string): boolean {
    if (peer === 'unix') return this.unix;
    const ip = unmapIpv4(peer);
    return this.list.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  }
}

/**
 * ngx_mail_realip_handler: the header's source becomes the client when the peer is trusted and
 * the source is an IP address (a v1 header may carry text that is none: then nothing changes).
 */
export function clientAddress(peer: { ip: string; port: number }, header: ProxyAddresses | null, trusted: TrustedSources | null): ClientAddress {
  if (header === null) return { ip: peer.ip, port: peer.port };
  const bytes = trusted !== null && trusted.trusts(peer.ip) ? ipBytes(header.sourceAddress) : null;
  // nginx prints the parsed address again (ngx_sock_ntop): `2001:DB8::1` becomes `2001:db8::1`.
  if (bytes !== null) return { ip: formatIp(bytes), port: header.sourcePort, proxyProtocol: header };
  return { ip: peer.ip, port: peer.port, proxyProtocol: header };
}
