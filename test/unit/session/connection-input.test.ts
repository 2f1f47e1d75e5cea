/**
 * `connectionInput`: the salt (APOP / CRAM-MD5) is made only where the server enables a method
 * that uses it, as nginx calls ngx_mail_salt only then (src/mail/ngx_mail_*_handler.c).
 */
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { connectionInput } from '../../../src/session/machine-core.js';

const server = (protocol: string, auth: string) =>
  parseConfigText(
    `mail { server_name mx.test; auth_http 127.0.0.1:9/auth; server { listen 127.0.0.1:1100; protocol ${protocol}; ${auth} } }`,
    'input.conf',
  ).servers[0]!;
const SALT = /^<\d+\.\d+@mx\.test>$/;

describe('the salt of a connection', () => {
  it.each([
    ['pop3', ''],
    ['pop3', 'pop3_auth plain;'],
    ['imap', ''],
    ['smtp', 'smtp_auth login plain;'],
  ])('%s with "%s": none', (protocol, auth) => {
    expect(connectionInput(server(protocol, auth), false, '127.0.0.1').salt).toBe('');
  });

  it.each([
    ['pop3', 'pop3_auth apop;'],
    ['pop3', 'pop3_auth plain cram-md5;'],
    ['imap', 'imap_auth login cram-md5;'],
    ['smtp', 'smtp_auth cram-md5;'],
  ])('%s with "%s": <random.time@server_name>, one per connection', (protocol, auth) => {
    const a = connectionInput(server(protocol, auth), false, '127.0.0.1').salt;
    const b = connectionInput(server(protocol, auth), false, '127.0.0.1').salt;
    expect(a).toMatch(SALT);
    expect(b).toMatch(SALT);
    expect(a).not.toBe(b);
  });
});
