/**
 * The ManageSieve dialogue of the connection machine (src/protocols/sieve/), against RFC 5804
 * and Dovecot's managesieve-login wording. Reply texts are written out literally.
 */
import { describe, expect, it } from 'vitest';
import type { ConnectionInput } from '../../machines/types.js';
import { Harness, fail, ok, pw, reply, requests, settings, TLS } from './helpers.js';

const CRLF = '\r\n';
const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');

function sieve(overrides: Partial<ConnectionInput> = {}): Harness {
  return new Harness({
    ...settings('imap'),
    protocol: 'sieve',
    starttls: 'on',
    authMethods: ['plain', 'login'],
    capabilities: ['fileinto', 'enotify'],
    ...overrides,
  });
}

const caps = (sasl: string, starttls: boolean) =>
  `"IMPLEMENTATION" "Postern"${CRLF}"SIEVE" "fileinto enotify"${CRLF}"NOTIFY" "mailto"${CRLF}"SASL" "${sasl}"${CRLF}` +
  `${starttls ? `"STARTTLS"${CRLF}` : ''}"VERSION" "1.0"${CRLF}`;

describe('ManageSieve before authentication', () => {
  it('greets with its capabilities, answers CAPABILITY, NOOP (with its echo tag) and invalid commands', () => {
    const h = sieve();
    expect(h.take()).toEqual([reply(`${caps('PLAIN LOGIN', true)}OK "ManageSieve ready."${CRLF}`)]);
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply(`${caps('PLAIN LOGIN', true)}OK "Capability completed."${CRLF}`)]);
    expect(h.send({ type: 'cmd.noop' })).toEqual([reply(`OK "NOOP Completed"${CRLF}`)]);
    expect(h.send({ type: 'cmd.noop', tag: 'x"1' })).toEqual([reply(`OK (TAG "x\\"1") "Done"${CRLF}`)]);
    expect(h.send({ type: 'cmd.invalid' })).toEqual([reply(`NO "Error in MANAGESIEVE command received by server."${CRLF}`)]);
    expect(h.state).toBe('preauth.plaintext.idle');
  });

  it('max_errors: the invalid command that reaches it gets BYE (RFC 5804 §1.3, Dovecot\'s words), then the connection closes', () => {
    const h = sieve({ maxErrors: 2 });
    h.take();
    expect(h.send({ type: 'cmd.invalid' })).toEqual([reply(`NO "Error in MANAGESIEVE command received by server."${CRLF}`)]);
    const effects = h.send({ type: 'cmd.invalid' });
    expect(effects[0]).toEqual(reply(`BYE "Too many invalid MANAGESIEVE commands."${CRLF}`));
    expect(effects.at(-1)).toEqual({ type: 'close', reason: 'client sent too many invalid commands' });
  });

  it('a command too long for the buffer: BYE, then the close', () => {
    const h = sieve();
    h.take();
    const effects = h.send({ type: 'input.tooLong' });
    expect(effects[0]).toEqual(reply(`BYE "Input buffer full, aborting"${CRLF}`));
    expect(effects.at(-1)).toEqual({ type: 'close', reason: 'client sent too long command' });
  });

  it.each([
    ['AUTHENTICATE "PLAIN"', 'sasl:plain'],
    ['AUTHENTICATE "LOGIN"', 'sasl:loginUser'],
  ] as const)('a SASL continuation line too long for the buffer after %s: BYE, then the close (never the invalid-command NO)', (_command, step) => {
    const h = sieve();
    h.take();
    h.send({ type: 'cmd.authenticate', mechanism: step === 'sasl:plain' ? 'PLAIN' : 'LOGIN' });
    expect(h.hasTag(step)).toBe(true);
    expect(h.send({ type: 'input.tooLong' })).toEqual([
      reply(`BYE "Input buffer full, aborting"${CRLF}`),
      { type: 'close', reason: 'client sent too long command' },
    ]);
  });

  it('an invalid line announcing a literal closes at once with BYE (its bytes are never read as commands)', () => {
    const h = sieve();
    h.take();
    const effects = h.send({ type: 'cmd.invalid', closeAfter: true });
    expect(effects[0]).toEqual(reply(`BYE "Error in MANAGESIEVE command received by server."${CRLF}`));
    expect(effects.at(-1)).toMatchObject({ type: 'close' });
  });

  it('LOGOUT', () => {
    const h = sieve();
    h.take();
    expect(h.send({ type: 'cmd.quit' })).toEqual([reply(`OK "Logout completed."${CRLF}`), { type: 'close', reason: 'client quit' }]);
  });

  it('STARTTLS: OK, the upgrade; then no STARTTLS in the capabilities, and a second STARTTLS is refused', () => {
    const h = sieve();
    h.take();
    expect(h.send({ type: 'cmd.starttls' })).toEqual([reply(`OK "Begin TLS negotiation now."${CRLF}`), { type: 'startTls' }]);
    // RFC 5804 §2.2: the capabilities again, unasked, without STARTTLS (Dovecot's closing words).
    expect(h.send({ type: 'tls.established', tls: TLS })).toEqual([reply(`${caps('PLAIN LOGIN', false)}OK "TLS negotiation successful."${CRLF}`)]);
    expect(h.state).toBe('preauth.secure.idle');
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply(`${caps('PLAIN LOGIN', false)}OK "Capability completed."${CRLF}`)]);
    expect(h.send({ type: 'cmd.starttls' })).toEqual([reply(`NO "Error in MANAGESIEVE command received by server."${CRLF}`)]);
  });

  it('starttls only: an empty SASL list and no authentication before TLS; after it, PLAIN', () => {
    const h = sieve({ starttls: 'only' });
    expect(h.take()).toEqual([reply(`${caps('', true)}OK "ManageSieve ready."${CRLF}`)]);
    const refused = h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'alice', password: pw() } });
    expect(refused).toEqual([reply(`NO (ENCRYPT-NEEDED) "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."${CRLF}`)]);
    h.send({ type: 'cmd.starttls' });
    h.send({ type: 'tls.established', tls: TLS });
    expect(h.send({ type: 'cmd.capability' })).toEqual([reply(`${caps('PLAIN LOGIN', false)}OK "Capability completed."${CRLF}`)]);
    const [request] = requests(h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'alice', password: pw() } }));
    expect(request).toMatchObject({ method: 'plain', user: 'alice', protocol: 'sieve' });
  });

  it('implicit TLS: the greeting follows the handshake and offers no STARTTLS', () => {
    const h = sieve({ implicitTls: true });
    expect(h.take()).toEqual([]);
    expect(h.send({ type: 'tls.established', tls: TLS })).toEqual([reply(`${caps('PLAIN LOGIN', false)}OK "ManageSieve ready."${CRLF}`)]);
  });
});

describe('ManageSieve authentication', () => {
  it('AUTHENTICATE "PLAIN" with an initial response asks the auth service with Auth-Protocol sieve, then the backend', () => {
    const h = sieve();
    h.take();
    const [request] = requests(h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'alice', password: pw() } }));
    expect(request).toMatchObject({ method: 'plain', user: 'alice', protocol: 'sieve', attempt: 1 });
    expect(request?.password.reveal()).toBe('s3cr3t-XYZ');
    const effects = h.send(ok());
    expect(effects).toContainEqual(expect.objectContaining({ type: 'connectBackend', target: expect.objectContaining({ user: 'alice', port: 8110 }) }));
    expect(h.send({ type: 'backend.ready' })).toContainEqual({ type: 'startRelay' });
    expect(h.state).toBe('relaying');
  });

  it('AUTHENTICATE "PLAIN" without one: the empty challenge "", then the response line', () => {
    const h = sieve();
    h.take();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN' })).toEqual([reply(`""${CRLF}`)]);
    expect(h.hasTag('sasl:plain')).toBe(true);
    const [request] = requests(h.send({ type: 'sasl.response', user: 'alice', password: pw() }));
    expect(request).toMatchObject({ method: 'plain', user: 'alice', protocol: 'sieve' });
  });

  it('AUTHENTICATE "LOGIN": quoted base64 challenges; a cancelled or undecodable line is NO and back to idle', () => {
    const h = sieve();
    h.take();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'LOGIN' })).toEqual([reply(`"${b64('Username:')}"${CRLF}`)]);
    expect(h.send({ type: 'sasl.response', user: 'alice' })).toEqual([reply(`"${b64('Password:')}"${CRLF}`)]);
    // `"*"` (the client's cancel) decodes to nothing valid.
    expect(h.send({ type: 'sasl.invalid' })).toEqual([reply(`NO "Error in MANAGESIEVE command received by server."${CRLF}`)]);
    expect(h.state).toBe('preauth.plaintext.idle');
  });

  it('a mechanism not offered is refused', () => {
    const h = sieve();
    h.take();
    expect(h.send({ type: 'cmd.authenticate', mechanism: 'CRAM-MD5' })).toEqual([reply(`NO "Error in MANAGESIEVE command received by server."${CRLF}`)]);
  });

  it("a failed login: NO with the auth service's text, quoted, then the close", () => {
    const h = sieve();
    h.take();
    h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'alice', password: pw() } });
    const effects = h.send(fail('Invalid "login" or password'));
    expect(effects[0]).toEqual(reply(`NO "Invalid \\"login\\" or password"${CRLF}`));
    expect(effects.at(-1)).toMatchObject({ type: 'close' });
  });

  it('a user name with NUL never reaches the auth service (it would move the PLAIN boundary at the backend)', () => {
    const h = sieve();
    h.take();
    const effects = h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'a\0b', password: pw() } });
    expect(requests(effects)).toEqual([]);
    expect(effects).toContainEqual({ type: 'log', level: 'info', message: 'client sent login with NUL' });
    expect(effects).toContainEqual(reply(`NO "Error in MANAGESIEVE command received by server."${CRLF}`));
  });

  it('an auth-service or backend failure: BYE (TRYLATER), then the close', () => {
    const h = sieve();
    h.take();
    h.send({ type: 'cmd.authenticate', mechanism: 'PLAIN', initial: { valid: true, user: 'alice', password: pw() } });
    h.send(ok());
    const effects = h.send({ type: 'backend.failed', reason: 'connect() failed' });
    expect(effects[0]).toEqual(reply(`BYE (TRYLATER) "Internal server error."${CRLF}`));
    expect(effects.at(-1)).toMatchObject({ type: 'close' });
  });
});
