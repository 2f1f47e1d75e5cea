import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { directives, renderConfigurationReference } from '../../../src/config/index.js';
import { defaultValue } from '../../../src/config/directives.js';

describe('the directive table', () => {
  it('docs/configuration.md is generated from it (run `npm run docs` to refresh)', () => {
    const text = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    expect(text).toBe(renderConfigurationReference());
  });

  it('has each directive once, with a description and a way to store it', () => {
    const names = directives.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    for (const d of directives) {
      expect(d.description, d.name).not.toBe('');
      expect(d.contexts.length, d.name).toBeGreaterThan(0);
      if (d.supported && (d.store === 'once' || d.store === 'last' || d.store === 'append')) expect(d.parse, d.name).toBeDefined();
      if (d.store === 'custom') expect(d.apply, d.name).toBeDefined();
      if (d.store === 'bitmask') expect(d.keywords, d.name).toBeDefined();
    }
  });

  it('every written default parses with the directive\'s own parser', () => {
    // nginx's directives (Postern's own postern_* extensions are tested with them).
    const nginxDirectives = directives.filter((d) => d.default !== undefined && !d.name.startsWith('postern_'));
    const defaults = Object.fromEntries(nginxDirectives.map((d) => [d.name, defaultValue(d)]));
    expect(defaults).toEqual({
      timeout: 60_000,
      max_errors: 5,
      auth_http_timeout: 60_000,
      proxy: false,
      proxy_buffer: 4096,
      proxy_timeout: 86_400_000,
      proxy_pass_error_message: false,
      xclient: true,
      proxy_smtp_auth: false,
      proxy_protocol: 'off',
      resolver: null,
      resolver_timeout: 30_000,
      ssl: false,
      starttls: 'off',
      ssl_protocols: ['TLSv1.2', 'TLSv1.3'],
      ssl_ciphers: 'HIGH:!aNULL:!MD5',
      ssl_prefer_server_ciphers: false,
      auth_http_pass_client_cert: false,
      ssl_ecdh_curve: 'auto',
      ssl_session_timeout: 300_000,
      ssl_session_tickets: true,
      ssl_verify_client: 'off',
      ssl_verify_depth: 1,
      pop3_auth: ['plain'],
      pop3_capabilities: ['TOP', 'USER', 'UIDL'],
      imap_auth: ['plain'],
      imap_capabilities: ['IMAP4', 'IMAP4rev1', 'UIDPLUS'],
      imap_client_buffer: 4096,
      smtp_auth: ['plain', 'login'],
      smtp_capabilities: [],
      smtp_client_buffer: 4096,
      smtp_greeting_delay: 0,
      worker_connections: 512,
    });
  });

  it('knows every directive of nginx\'s mail modules (1.22 and current)', () => {
    const nginx = [
      'mail', 'server', 'listen', 'protocol', 'timeout', 'server_name', 'error_log', 'resolver', 'resolver_timeout', 'max_errors',
      'auth_http', 'auth_http_timeout', 'auth_http_header', 'auth_http_pass_client_cert',
      'proxy', 'proxy_buffer', 'proxy_timeout', 'proxy_pass_error_message', 'xclient', 'proxy_smtp_auth', 'proxy_protocol',
      'ssl', 'starttls', 'ssl_certificate', 'ssl_certificate_key', 'ssl_password_file', 'ssl_dhparam', 'ssl_ecdh_curve',
      'ssl_protocols', 'ssl_ciphers', 'ssl_prefer_server_ciphers', 'ssl_session_cache', 'ssl_session_tickets',
      'ssl_session_ticket_key', 'ssl_session_timeout', 'ssl_verify_client', 'ssl_verify_depth', 'ssl_client_certificate',
      'ssl_trusted_certificate', 'ssl_crl', 'ssl_conf_command', 'ssl_certificate_compression',
      'pop3_capabilities', 'pop3_auth', 'imap_client_buffer', 'imap_capabilities', 'imap_auth',
      'smtp_client_buffer', 'smtp_greeting_delay', 'smtp_capabilities', 'smtp_auth', 'set_real_ip_from',
    ];
    expect(nginx.filter((n) => !directives.some((d) => d.name === n))).toEqual([]);
  });

  it('refuses the directives planned for later, in the contexts nginx allows them', () => {
    const later = ['ssl_certificate_compression'];
    for (const name of later) {
      const d = directives.find((x) => x.name === name);
      expect(d?.supported, name).toBe(false);
      expect(d?.contexts, name).toEqual(['mail', 'server']);
    }
  });
});
