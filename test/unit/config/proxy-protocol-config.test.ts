import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { TrustedSources } from '../../../src/net/realip.js';

const config = (body: string) =>
  parseConfigText(`mail {\n  auth_http 127.0.0.1:9000;\n${body}\n}\n`, '/etc/postern/mail.conf');

describe('listen ... proxy_protocol, set_real_ip_from, proxy_protocol', () => {
  it('reads the listen parameter, with ssl in any order', () => {
    const { servers } = config('server { listen 127.0.0.1:8993 proxy_protocol ssl; listen 127.0.0.1:8143; protocol imap; ssl_certificate c; ssl_certificate_key k; }');
    expect(servers[0]!.listens.map((l) => [l.proxyProtocol ?? false, l.ssl])).toEqual([[true, true], [false, false]]);
  });

  it('a server with set_real_ip_from of its own replaces the mail block\'s list', () => {
    const { servers } = config(`  set_real_ip_from 10.0.0.0/8;
  set_real_ip_from unix:;
  server { listen 8110; protocol pop3; }
  server { listen 8111; protocol pop3; set_real_ip_from 192.0.2.1; set_real_ip_from 2001:db8::/32; }`);
    expect(servers[0]!.realIpFrom).toEqual([{ kind: 'cidr', family: 'ipv4', address: '10.0.0.0', prefix: 8 }, { kind: 'unix' }]);
    expect(servers[1]!.realIpFrom).toEqual([
      { kind: 'cidr', family: 'ipv4', address: '192.0.2.1', prefix: 32 },
      { kind: 'cidr', family: 'ipv6', address: '2001:db8::', prefix: 32 },
    ]);
  });

  it('warns about low address bits as nginx does, and still masks them', () => {
    const parsed = config('  set_real_ip_from 10.1.2.3/8;\n  server { listen 8110; protocol pop3; }');
    expect(parsed.warnings).toEqual(['low address bits of 10.1.2.3/8 are meaningless in /etc/postern/mail.conf:3']);
    const trusted = new TrustedSources(parsed.servers[0]!.realIpFrom);
    expect(trusted.trusts('10.200.0.1')).toBe(true);
    expect(trusted.trusts('11.0.0.1')).toBe(false);
  });

  it('trusts IPv4 peers seen through a dual-stack socket, and unix: only for unix peers', () => {
    const trusted = new TrustedSources([{ kind: 'cidr', family: 'ipv4', address: '127.0.0.1', prefix: 32 }]);
    expect(trusted.trusts('::ffff:127.0.0.1')).toBe(true);
    expect(trusted.trusts('::1')).toBe(false);
    expect(trusted.trusts('unix')).toBe(false);
    expect(new TrustedSources([{ kind: 'unix' }]).trusts('unix')).toBe(true);
  });

  it('proxy_protocol: off by default, on and v2 inherited from the mail block', () => {
    const { servers } = config('  proxy_protocol v2;\n  server { listen 8110; protocol pop3; }\n  server { listen 8111; protocol pop3; proxy_protocol on; }\n  server { listen 8112; protocol pop3; proxy_protocol off; }');
    expect(servers.map((s) => s.proxyProtocol)).toEqual(['v2', 'on', 'off']);
    expect(config('server { listen 8110; protocol pop3; }').servers[0]!.proxyProtocol).toBe('off');
  });
});

describe('postern_ssl_session_store', () => {
  it('reads redis://HOST:PORT[/DB], inherited from the mail block; off by default', () => {
    const { servers } = config('  postern_ssl_session_store redis://10.0.0.5:6379/2;\n  server { listen 8110; protocol pop3; }\n  server { listen 8111; protocol pop3; postern_ssl_session_store redis://[::1]:7000; }\n  server { listen 8112; protocol pop3; postern_ssl_session_store off; }');
    expect(servers.map((s) => s.sessionStore)).toEqual([
      { text: 'redis://10.0.0.5:6379/2', host: '10.0.0.5', port: 6379, db: 2 },
      { text: 'redis://[::1]:7000', host: '::1', port: 7000, db: 0 },
      undefined,
    ]);
  });

  it.each(['redis://cache', 'http://cache:6379', 'redis://cache:0', 'redis://cache:6379/x', 'redis://user:pw@cache:6379'])('refuses %s with the line', (value) => {
    expect(() => config(`  postern_ssl_session_store ${value};\n  server { listen 8110; protocol pop3; }`)).toThrow(
      `invalid value "${value}" in "postern_ssl_session_store" directive, it must be "redis://HOST:PORT[/DB]" or "off" in /etc/postern/mail.conf:3`,
    );
  });
});
