/**
 * `listen NAME:PORT`: nginx resolves the name while it reads the configuration (ngx_parse_url,
 * ngx_inet_resolve_host: getaddrinfo with AF_UNSPEC, SOCK_STREAM and AI_ADDRCONFIG) and listens on
 * every address it gets, in getaddrinfo's order, an address repeated within one `listen` taken
 * once (ngx_mail_core_listen). A name that does not resolve fails the configuration: `host not
 * found in "NAME:PORT" of the "listen" directive`; an address already listened on by an earlier
 * `listen`, written either way: `duplicate "ADDRESS:PORT" address and port pair`.
 *
 * Postern's parser is synchronous, so names are resolved here, after it, by `-t`, a start and a
 * reload; the parser leaves the duplicate check of names to this step. Each resolved `listen`
 * keeps its parameters and is written as its address (`127.0.0.1:143`, `[::1]:143`), as nginx
 * names it in its messages; it then shares a wildcard's socket like any address.
 */
import { ADDRCONFIG } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ConfigError } from './errors.js';
import { checkWorkerConnections } from './listen.js';
import type { ListenConfig, MailConfig } from './types.js';

/** The addresses of a host name, in the resolver's order; rejects when it has none. */
export type ResolveHost = (name: string) => Promise<string[]>;

const getaddrinfo: ResolveHost = async (name) => (await lookup(name, { all: true, hints: ADDRCONFIG, order: 'verbatim' })).map((entry) => entry.address);

/** The key nginx prints for an address and port: `127.0.0.1:143`, `[::1]:143`. */
export const listenKey = (host: string, port: number): string => (isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);

/** `config` with every `listen` host name replaced by its addresses (the same object when there is none). */
export async function resolveListenHosts(config: MailConfig, resolve: ResolveHost = getaddrinfo): Promise<MailConfig> {
  const named = (listen: ListenConfig): boolean => isIP(listen.host) === 0;
  if (!config.servers.some((server) => server.listens.some(named))) return config;
  const seen = new Set<string>();
  const servers = [];
  for (const server of config.servers) {
    const listens: ListenConfig[] = [];
    for (const listen of server.listens) {
      const hosts = named(listen) ? await addressesOf(listen, resolve) : [listen.host];
      for (const host of hosts) {
        const key = listenKey(host, listen.port);
        // Port 0 ("any free port", tools and tests) is a socket of its own each time.
        if (listen.port !== 0 && seen.has(key)) throw ConfigError.at(`duplicate "${key}" address and port pair`, listen.where);
        seen.add(key);
        listens.push(named(listen) ? { ...listen, host, text: key } : listen);
      }
    }
    servers.push({ ...server, listens });
  }
  const resolved = { ...config, servers };
  // Checked again: a name may have several addresses, each a listening socket.
  checkWorkerConnections(resolved);
  return resolved;
}

async function addressesOf(listen: ListenConfig, resolve: ResolveHost): Promise<string[]> {
  let addresses: string[];
  try {
    addresses = await resolve(listen.host);
  } catch {
    addresses = [];
  }
  if (addresses.length === 0) throw ConfigError.at(`host not found in "${listen.text}" of the "listen" directive`, listen.where);
  return [...new Set(addresses)];
}
