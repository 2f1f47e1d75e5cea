/**
 * `listen NAME:PORT` resolved as nginx resolves it (ngx_inet_resolve_host, ngx_mail_core_listen):
 * every address in the resolver's order, one repeated within a `listen` taken once, parameters
 * kept, duplicates across `listen`s by address, a name without address refused at its line. The
 * resolver is given here; test/unit/cli/nginx-options.test.ts runs the real one beside nginx -t.
 */
import { describe, expect, it } from 'vitest';
import { resolveListenHosts, type ResolveHost } from '../../../src/config/listen-hosts.js';
import { FILE, mail, parse } from './helpers.js';

const HOSTS: Record<string, string[]> = {
  'mail.test': ['192.0.2.1', '2001:db8::1', '192.0.2.1'],
  'one.test': ['127.0.0.1'],
};
const resolver: ResolveHost = async (name) => {
  const addresses = HOSTS[name.toLowerCase()];
  if (addresses === undefined) throw new Error(`ENOTFOUND ${name}`);
  return addresses;
};

const listensOf = async (servers: string) =>
  (await resolveListenHosts(parse(mail('', servers)), resolver)).servers.map((server) => server.listens.map((l) => ({ host: l.host, port: l.port, text: l.text, proxyProtocol: l.proxyProtocol, bind: l.bind })));

const errorOf = async (servers: string): Promise<string> => {
  try {
    await resolveListenHosts(parse(mail('', servers)), resolver);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
};

describe('resolveListenHosts', () => {
  it('one listen per address, in the resolver order, a repeated address once, parameters kept, written as the address', async () => {
    expect(await listensOf('server { listen MAIL.test:993 proxy_protocol bind; protocol imap; }')).toEqual([
      [
        { host: '192.0.2.1', port: 993, text: '192.0.2.1:993', proxyProtocol: true, bind: true },
        { host: '2001:db8::1', port: 993, text: '[2001:db8::1]:993', proxyProtocol: true, bind: true },
      ],
    ]);
  });

  it('addresses and wildcards are left as they are; a configuration without names is returned as it is', async () => {
    const config = parse(mail('', 'server { listen 127.0.0.1:143; listen [::1]:143; listen 110; protocol imap; }'));
    expect(await resolveListenHosts(config, resolver)).toBe(config);
  });

  it('a name that does not resolve: host not found, at the listen', async () => {
    expect(await errorOf('server {\n listen nowhere.test:143;\n protocol imap; }')).toBe(`host not found in "nowhere.test:143" of the "listen" directive in ${FILE}:5`);
  });

  it('an address already listened on, written as a name or as an address: duplicate, by the address, at the later listen', async () => {
    expect(await errorOf('server { listen 127.0.0.1:143; protocol imap; }\n  server {\n listen one.test:143; protocol imap; }')).toBe(
      `duplicate "127.0.0.1:143" address and port pair in ${FILE}:6`,
    );
    expect(await errorOf('server { listen one.test:143; protocol imap; }\n  server {\n listen 127.0.0.1:143; protocol imap; }')).toBe(
      `duplicate "127.0.0.1:143" address and port pair in ${FILE}:6`,
    );
    expect(await errorOf('server { listen mail.test:143; listen one.test:143; protocol imap; }\n  server {\n listen [2001:db8::1]:143; protocol imap; }')).toBe(
      `duplicate "[2001:db8::1]:143" address and port pair in ${FILE}:6`,
    );
  });

  it('worker_connections is checked again against the listening sockets the addresses make', async () => {
    const text = `events { worker_connections 2; }\n${mail('', 'server { listen mail.test:143; protocol imap; }')}`;
    const config = parse(text);
    await expect(resolveListenHosts(config, resolver)).rejects.toThrow('2 worker_connections are not enough for 2 listening sockets');
  });

  it('another port of the same name is no duplicate', async () => {
    expect((await listensOf('server { listen one.test:143; listen one.test:144; protocol imap; }'))[0]!.map((l) => l.text)).toEqual(['127.0.0.1:143', '127.0.0.1:144']);
  });
});
