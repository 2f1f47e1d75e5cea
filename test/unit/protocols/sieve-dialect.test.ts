/**
 * ManageSieve replies (src/protocols/sieve/dialect.ts) and backend-login checks
 * (src/protocols/sieve/backend-login.ts), compared with what RFC 5804 and Dovecot's
 * managesieve-login (Pigeonhole 2.3, Debian 12) say; test/e2e/sieve.test.ts checks them on the wire.
 */
import { describe, expect, it } from 'vitest';
import type { CapabilityView, GreetingView } from '../../../src/protocols/dialect.js';
import { authenticatePlainLine, sieveBackendLogin, sieveResponse } from '../../../src/protocols/sieve/backend-login.js';
import { capabilityLines, sieveDialect, sieveString } from '../../../src/protocols/sieve/dialect.js';
import { sieveDialogue } from '../../../src/protocols/sieve/dialogue.js';
import { Secret } from '../../../src/secret.js';

const view = (over: Partial<CapabilityView> = {}): CapabilityView => ({
  tls: false,
  starttls: 'on',
  authMethods: ['plain', 'login'],
  capabilities: ['fileinto', 'reject', 'enotify'],
  ...over,
});
const lineView = (over: Partial<CapabilityView> = {}) => ({ ...view(over), serverName: 'mx.test', salt: '<1.2@mx.test>' });
const greetingView = (over: Partial<GreetingView> = {}): GreetingView => ({
  salt: '<1.2@mx.test>',
  serverName: 'mx.test',
  authMethods: ['plain'],
  capabilities: ['fileinto'],
  starttls: 'on',
  implicitTls: false,
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
  it("Dovecot's order: IMPLEMENTATION, SIEVE, NOTIFY, SASL, STARTTLS, VERSION", () => {
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

  it('the greeting is the capability list then OK; on an implicit-TLS listen it offers no STARTTLS', () => {
    expect(sieveDialect.greeting(greetingView())).toBe(
      '"IMPLEMENTATION" "Postern"\r\n"SIEVE" "fileinto"\r\n"SASL" "PLAIN"\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\nOK "ManageSieve ready."\r\n',
    );
    expect(sieveDialect.greeting(greetingView({ implicitTls: true, starttls: 'only' }))).toBe(
      '"IMPLEMENTATION" "Postern"\r\n"SIEVE" "fileinto"\r\n"SASL" "PLAIN"\r\n"VERSION" "1.0"\r\nOK "ManageSieve ready."\r\n',
    );
  });

  it('CAPABILITY: the same lines, then its own OK', () => {
    expect(sieveDialect.lines['capabilities']!(lineView())).toBe(`${capabilityLines(view())}OK "Capability completed."\r\n`);
  });
});

describe('replies, worded as Dovecot words them', () => {
  it('NOOP with and without its echo tag (RFC 5804 §2.14)', () => {
    expect(sieveDialect.ok()).toBe('OK "NOOP Completed"\r\n');
    expect(sieveDialect.ok('tag1')).toBe('OK (TAG "tag1") "Done"\r\n');
    expect(sieveDialect.ok('a"b')).toBe('OK (TAG "a\\"b") "Done"\r\n');
  });

  it('invalid command (counted or not), logout, STARTTLS', () => {
    expect(sieveDialect.invalid()).toBe('NO "Error in MANAGESIEVE command received by server."\r\n');
    expect(sieveDialect.refused(undefined)).toBe(sieveDialect.invalid());
    expect(sieveDialect.saslUsernameInvalid()).toBe(sieveDialect.invalid());
    expect(sieveDialect.quit()).toBe('OK "Logout completed."\r\n');
    expect(sieveDialect.starttlsOk()).toBe('OK "Begin TLS negotiation now."\r\n');
  });

  it("SASL challenges are quoted base64 strings, PLAIN's empty", () => {
    expect(sieveDialect.challenge('plain', 'salt')).toBe('""\r\n');
    expect(sieveDialect.challenge('username', 'salt')).toBe('"VXNlcm5hbWU6"\r\n');
    expect(sieveDialect.challenge('password', 'salt')).toBe('"UGFzc3dvcmQ6"\r\n');
    expect(sieveDialect.challenge('cram-md5', '<1.2@x>')).toBe(`"${Buffer.from('<1.2@x>').toString('base64')}"\r\n`);
  });

  it("the auth service's text is quoted; lines the server closes after are BYE", () => {
    expect(sieveDialect.authFailed('Invalid login or password')).toBe('NO "Invalid login or password"\r\n');
    expect(sieveDialect.authFailed('say "no"')).toBe('NO "say \\"no\\""\r\n');
    expect(sieveDialect.internalError).toBe('BYE (TRYLATER) "Internal server error."\r\n');
    expect(sieveDialect.certificateError).toBe('BYE "SSL certificate error"\r\n');
    expect(sieveDialect.certificateMissing).toBe('BYE "No required SSL certificate"\r\n');
  });
});

describe('dialogue', () => {
  it('a user with NUL is unsafe for the backend PLAIN message; the password may hold anything', () => {
    const settings = {} as Parameters<NonNullable<typeof sieveDialogue.unsafeCredentials>>[0];
    expect(sieveDialogue.unsafeCredentials!(settings, 'a\0b', new Secret('x'))).toBe('login with NUL');
    expect(sieveDialogue.unsafeCredentials!(settings, 'a\r\nb', new Secret('\0\r\n'))).toBeNull();
  });
});

describe('backend login', () => {
  const greeting = '"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n"SASL" "PLAIN LOGIN"\r\n"VERSION" "1.0"\r\n';
  const target = { server: '127.0.0.1', port: 4190, user: 'alice', password: new Secret('s3cret') };

  it('a response is complete at its OK, NO or BYE line; only OK goes on', () => {
    expect(sieveResponse(greeting)).toBe('more');
    expect(sieveResponse('"IMPLEMENTATION" "x"\r\n"SA')).toBe('more');
    expect(sieveResponse(`${greeting}OK "Dovecot ready."\r\n`)).toBe('ok');
    expect(sieveResponse('OK\r\n')).toBe('ok');
    expect(sieveResponse('ok "x"\r\n')).toBe('ok');
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

  it('steps: greeting, then AUTHENTICATE; the last reply is for the client', () => {
    const steps = sieveBackendLogin.steps(target);
    expect(steps).toHaveLength(2);
    expect(steps[0]!.send!()).toBe(authenticatePlainLine('alice', 's3cret'));
    expect(steps[1]!.send).toBeUndefined();
    expect(steps[1]!.keepReply).toBeUndefined();
  });

  it('starttls: STARTTLS after the greeting, nothing sent over TLS before the re-issued capabilities, then AUTHENTICATE', () => {
    const steps = sieveBackendLogin.starttls(target, sieveBackendLogin.steps(target));
    expect(steps.map((s) => [s.send?.(), s.upgrade ?? false])).toEqual([
      ['STARTTLS\r\n', false],
      ['', true],
      [authenticatePlainLine('alice', 's3cret'), false],
      [undefined, false],
    ]);
    expect(steps[2]!.check(`${greeting}OK "TLS negotiation successful."\r\n`)).toBe('ok');
  });

  it('the STARTTLS reply is one line: what follows it is not part of it', () => {
    expect(sieveBackendLogin.replyLength('OK "Begin TLS negotiation now."\r\n"IMPL', target)).toBe(33);
  });
});
