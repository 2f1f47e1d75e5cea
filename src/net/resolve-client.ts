/**
 * The SMTP client host name of nginx's `resolver` (nginx: src/mail/ngx_mail_smtp_module.c, ngx_mail_smtp_resolve_addr_handler): a PTR lookup of the client
 * address, then a forward lookup of that name, which must give the client address back.
 *
 * The decision is a pure function of a {@link ClientLookup}; {@link dnsLookup} is the node:dns one.
 */
import { Resolver } from 'node:dns';
import { isIPv4, isIPv6 } from 'node:net';
import type { ResolverConfig } from '../config/types.js';

/** nginx's placeholders: `[UNAVAILABLE]` (a definite "no name"), `[TEMPUNAVAIL]` (lookup trouble). */
export const UNAVAILABLE = '[UNAVAILABLE]';
export const TEMPUNAVAIL = '[TEMPUNAVAIL]';

/** A failed lookup: `code` as node:dns reports it (`ENOTFOUND` is NXDOMAIN, `ENODATA` an empty answer). */
export interface LookupError {
  code?: string;
}

/** DNS queries, rejecting with a {@link LookupError}. */
export interface ClientLookup {
  /** PTR names of an address. */
  reverse(ip: string): Promise<string[]>;
  /** A (`family` 4) or AAAA (`family` 6) addresses of a name. */
  forward(name: string, family: 4 | 6): Promise<string[]>;
}

/** Only these bytes may reach `Client-Host:` and XCLIENT `NAME=` (nginx 1.29.7+, CVE-2026-28753). */
const SAFE_NAME = /^[A-Za-z0-9.-]+$/;

const codeOf = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && typeof (error as LookupError).code === 'string' ? (error as LookupError).code : undefined;

/** The same address written two ways (IPv6 compression, case, IPv4-mapped) compares equal. */
function sameAddress(a: string, b: string): boolean {
  const norm = (x: string): string => {
    const plain = x.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
    if (!isIPv6(plain)) return plain;
    return new URL(`http://[${plain}]/`).hostname;
  };
  return norm(a) === norm(b);
}

/**
 * The host string for `clientIp` (§6.1): the verified PTR name, `[UNAVAILABLE]` or `[TEMPUNAVAIL]`.
 * Never rejects. `families` are the address families the resolver may look up (`ipv4=`/`ipv6=`).
 */
export async function resolveClientHost(
  clientIp: string,
  lookup: ClientLookup,
  families: { ipv4: boolean; ipv6: boolean } = { ipv4: true, ipv6: true },
): Promise<string> {
  const ip = clientIp.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  const family = isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : null;
  // Not an IP address (a UNIX socket client, or a socket already gone).
  if (family === null) return TEMPUNAVAIL;

  let name: string | undefined;
  try {
    name = (await lookup.reverse(ip))[0];
  } catch (error) {
    return codeOf(error) === 'ENOTFOUND' ? UNAVAILABLE : TEMPUNAVAIL;
  }
  if (name === undefined || !SAFE_NAME.test(name)) return TEMPUNAVAIL;

  if (family === 4 ? !families.ipv4 : !families.ipv6) return UNAVAILABLE;
  let addresses: string[];
  try {
    addresses = await lookup.forward(name, family);
  } catch (error) {
    const code = codeOf(error);
    // ENODATA: the name exists but has no address of this family — nothing to match.
    return code === 'ENOTFOUND' || code === 'ENODATA' ? UNAVAILABLE : TEMPUNAVAIL;
  }
  return addresses.some((a) => sameAddress(a, ip)) ? name : UNAVAILABLE;
}

/** A lookup through node:dns against the configured name servers; `cancel()` ends pending queries. */
export function dnsLookup(config: ResolverConfig, timeoutMs: number): ClientLookup & { cancel(): void } {
  const resolver = new Resolver({ timeout: Math.max(1, Math.min(timeoutMs, 2 ** 31 - 1)), tries: 1 });
  resolver.setServers(config.servers.map((s) => (isIPv6(s.host) ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)));
  return {
    // A PTR query, not resolver.reverse(): that one answers from /etc/hosts first.
    reverse: (ip) => new Promise((resolve, reject) => resolver.resolvePtr(arpaName(ip), (error, names) => (error ? reject(error) : resolve(names)))),
    forward: (name, family) => (family === 4 ? resolve4(resolver, name) : resolve6(resolver, name)),
    cancel: () => resolver.cancel(),
  };
}

/** `1.0.0.127.in-addr.arpa`, or the nibble form under `ip6.arpa`. */
export function arpaName(ip: string): string {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}.in-addr.arpa`;
  // The URL parser writes embedded IPv4 parts (`::ffff:1.2.3.4`) in hex.
  const v6 = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [head = '', tail = ''] = v6.split('::') as [string, string?];
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = v6.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const hex = all.map((g) => g.padStart(4, '0')).join('');
  return `${[...hex].reverse().join('.')}.ip6.arpa`;
}

const resolve4 = (resolver: Resolver, name: string): Promise<string[]> =>
  new Promise((resolve, reject) => resolver.resolve4(name, (error, addresses) => (error ? reject(error) : resolve(addresses))));

const resolve6 = (resolver: Resolver, name: string): Promise<string[]> =>
  new Promise((resolve, reject) => resolver.resolve6(name, (error, addresses) => (error ? reject(error) : resolve(addresses))));
