/**
 * ManageSieve replies (src/protocols/sieve/dialect.ts) and backend-login checks
 * (src/protocols/sieve/backend-login.ts), compared with what RFC 5804 and Dovecot's
 * managesieve-login (Pigeonhole 2.3, Debian 12) say; the e2e suite checks the same lines on the wire.
 */
import { describe, expect, it } from 'vitest';
import type { CapabilityView } from '../../../src/protocols/dialect.js';
import { capabilityLines, sieveReplies, sieveString } from '../../../src/protocols/sieve/dialect.js';
import {
  authenticatePlainLine,
  sieveResponse,
  starttlsReplyLength,
  unsafeSieveCredentials,
} from '../../../src/protocols/sieve/backend-login.js';

const view = (over: Partial<CapabilityView> = {}): CapabilityView => ({
  tls: false,
  starttls: 'on',
  authMethods: ['plain', 'login'],
  capabilities: ['fileinto', 'reject', 'enotify'],
  ...over,
});

describe('ManageSieve strings', () => {
  it('quoted with \\" and \\\\ escaped; CR, LF or NUL or more than 1024 bytes make a literal', () => {
    expect(sieveString('Logged in.')).toBe('"Logged in."');
    expect(sieveString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(sieveString('')).toBe('""');
    expect(sieveString('a\r\nb')).toBe('{4}\r\na\r\nb');
    expect(sieveString('x'.repeat(1024))).toBe(`"${'x'.repeat(1024)}"`);
    expect(sieveString('x'.repeat(1025))).toBe(`{1025}\r\n${'x'.repeat(1025)}`);
  });
});

describe('capabilities (RFC 5804 §1.7)', () => {
  it('Dovecot\'s order: IMPLEMENTATION, SIEVE, NOTIFY, SASL, STARTTLS, VERSION', () => {
    expect(capabilityLines(view())).toBe(
      '"IMPLEMENTATION" "Postern"\r\n"SIEVE" "fileinto reject enotify"\r\n"NOTIFY" "mailto"\r\n' +
        '"SASL" "PLAIN LOGIN"\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\n',
    );
  });

  it('NOTIFY only with enotify; no STARTTLS with starttls off or once on TLS', () => {
    const lines = capabilityLines(view({ capabilities: ['fileinto'], starttls: 'off' }));
    expect(lines).not.toContain('NOTIFY');
    expect(lines).not.toContain('STARTTLS');
    expect(capabilityLines(view({ tls: true }))).not.toContain('STARTTLS');
  });

  it('SASL mechanisms in a fixed order, only the configured ones', () => {
    expect(capabilityLines(view({ authMethods: ['external', 'cram-md5', 'plain'] }))).toContain('"SASL" "PLAIN CRAM-MD5 EXTERNAL"\r\n');
  });

  it('starttls only: an empty SASL list beside STARTTLS before TLS, the mechanisms after', () => {
    expect(capabilityLines(view({ starttls: 'only' }))).toContain('"SASL" ""\r\n"STARTTLS"\r\n');
    expect(capabilityLines(view({ starttls: 'only', tls: true }))).toContain('"SASL" "PLAIN LOGIN"\r\n"VERSION"');
  });

  it('greeting, CAPABILITY and the post-STARTTLS capabilities end in their OK line', () => {
    expect(sieveReplies.greeting(view())).toMatch(/"VERSION" "1\.0"\r\nOK "ManageSieve ready\."\r\n$/);
    expect(sieveReplies.capabilities(view())).toMatch(/\r\nOK "Capability completed\."\r\n$/);
    expect(sieveReplies.tlsEstablished(view({ tls: true }))).toMatch(/"VERSION" "1\.0"\r\nOK "TLS negotiation successful\."\r\n$/);
  });
});

describe('replies Dovecot gives the same way', () => {
  it('NOOP with and without its echo tag', () => {
    expect(sieveReplies.noop()).toBe('OK "NOOP Completed"\r\n');
    expect(sieveReplies.noop('tag1')).toBe('OK (TAG "tag1") "Done"\r\n');
    expect(sieveReplies.noop('a"b')).toBe('OK (TAG "a\\"b") "Done"\r\n');
  });

  it('invalid command, logout, STARTTLS, unsupported mechanism', () => {
    expect(sieveReplies.invalid).toBe('NO "Error in MANAGESIEVE command received by server."\r\n');
    expect(sieveReplies.quit).toBe('OK "Logout completed."\r\n');
    expect(sieveReplies.starttlsOk).toBe('OK "Begin TLS negotiation now."\r\n');
    expect(sieveReplies.unsupportedMechanism).toBe('NO "Unsupported authentication mechanism."\r\n');
    expect(sieveReplies.tooManyErrors).toBe('BYE "Too many invalid MANAGESIEVE commands."\r\n');
  });

  it('SASL challenges are quoted base64 strings, PLAIN\'s empty', () => {
    expect(sieveReplies.challenge('plain', 'salt')).toBe('""\r\n');
    expect(sieveReplies.challenge('username', 'salt')).toBe('"VXNlcm5hbWU6"\r\n');
    expect(sieveReplies.challenge('password', 'salt')).toBe('"UGFzc3dvcmQ6"\r\n');
    expect(sieveReplies.challenge('cram-md5', '<1.2@x>')).toBe(`"${Buffer.from('<1.2@x>').toString('base64')}"\r\n`);
  });

  it('the auth service\'s text is quoted; lines the server closes after are BYE', () => {
    expect(sieveReplies.authFailed('Invalid login or password')).toBe('NO "Invalid login or password"\r\n');
    expect(sieveReplies.authFailed('say "no"')).toBe('NO "say \\"no\\""\r\n');
    expect(sieveReplies.internalError).toBe('BYE (TRYLATER) "Internal server error."\r\n');
    expect(sieveReplies.certificateError).toBe('BYE "SSL certificate error"\r\n');
    expect(sieveReplies.certificateMissing).toBe('BYE "No required SSL certificate"\r\n');
    expect(sieveReplies.encryptionNeeded).toMatch(/^NO \(ENCRYPT-NEEDED\) "[^"]+"\r\n$/);
  });
});

describe('backend login', () => {
  const greeting = '"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n"SASL" "PLAIN LOGIN"\r\n"VERSION" "1.0"\r\n';

  it('a response is complete at its OK, NO or BYE line; only OK goes on', () => {
    expect(sieveResponse(greeting)).toBe('more');
    expect(sieveResponse('"IMPLEMENTATION" "x"\r\n"SA')).toBe('more');
    expect(sieveResponse(`${greeting}OK "Dovecot ready."\r\n`)).toBe('ok');
    expect(sieveResponse('OK\r\n')).toBe('ok');
    expect(sieveResponse('OK (TAG "x") "Done"\r\n')).toBe('ok');
    expect(sieveResponse('NO "Authentication failed."\r\n')).toBe('bad');
    expect(sieveResponse(`${greeting}BYE "Too many connections"\r\n`)).toBe('bad');
    expect(sieveResponse('OKAY\r\n')).toBe('more');
    expect(sieveResponse('"OK" "x"\r\n')).toBe('more');
  });

  it('AUTHENTICATE "PLAIN" with an empty authorization identity; any password byte survives base64', () => {
    expect(authenticatePlainLine('alice', 'secret')).toBe(`AUTHENTICATE "PLAIN" "${Buffer.from('\0alice\0secret').toString('base64')}"\r\n`);
    const line = authenticatePlainLine('bob', 'p"\r\n\0\xff');
    expect(line).toMatch(/^AUTHENTICATE "PLAIN" "[A-Za-z0-9+/=]+"\r\n$/);
    expect(Buffer.from(line.split('"')[3]!, 'base64').toString('latin1')).toBe('\0bob\0p"\r\n\0\xff');
  });

  it('a user with NUL is refused; the password may hold anything', () => {
    expect(unsafeSieveCredentials('a\0b')).toBe('login with NUL');
    expect(unsafeSieveCredentials('a\r\nb')).toBeNull();
  });

  it('the STARTTLS reply is one line: what follows it is not part of it', () => {
    expect(starttlsReplyLength('OK "Begin TLS negotiation now."\r\n"IMPL')).toBe(33);
  });
});
