/**
 * `ssl_verify_client` in the connection machine: which certificates end the connection after
 * the handshake and with which line (nginx 1.22.1's mail module (src/mail/), nginx's
 * ngx_mail_verify_cert), for implicit TLS (before the greeting) and STARTTLS (before the next
 * command); and the certificate reaching the auth request, AUTH EXTERNAL included.
 */
import { describe, expect, it } from 'vitest';
import type { ClientCertificate, ConnectionEffect, ConnectionInput, TlsInfo } from '../../machines/types.js';
import type { Protocol, VerifyClient } from '../../src/config/types.js';
import { Harness, pw, reply, requests, settings, TLS } from './helpers.js';

const CRLF = '\r\n';
const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');

const DETAILS = {
  subject: 'CN=alice,O=Example\\, Inc.',
  issuer: 'CN=Root CA',
  serial: '0123456789ABCDEF01',
  fingerprint: '86e89433f869130a280b64b973a1d4c73a97e5de',
};

/** What src/net/client-certificate.ts reports for each kind of client (texts as nginx 1.22.1 sends them). */
const CERTS: Record<string, ClientCertificate | undefined> = {
  'no certificate': { verify: 'NONE' },
  'a good certificate': { verify: 'SUCCESS', ...DETAILS },
  'a self-signed certificate': { verify: 'FAILED:self-signed certificate', issuerUnknown: true, errorNumber: 18, ...DETAILS },
  'a certificate from another CA': { verify: 'FAILED:unable to verify the first certificate', issuerUnknown: true, errorNumber: 21, ...DETAILS },
  'a chain deeper than ssl_verify_depth': { verify: 'FAILED:unable to get local issuer certificate', issuerUnknown: true, errorNumber: 20, ...DETAILS },
  'a too deep chain reaching a trusted intermediate': { verify: 'FAILED:unable to get issuer certificate', errorNumber: 2, ...DETAILS },
  'an expired certificate': { verify: 'FAILED:certificate has expired', errorNumber: 10, ...DETAILS },
};

type Outcome = 'accepted' | 'missing' | 'error';

/** nginx's decision per mode, certificate by certificate. */
const EXPECTED: Record<Exclude<VerifyClient, 'off'>, Record<keyof typeof CERTS, Outcome>> = {
  on: {
    'no certificate': 'missing',
    'a good certificate': 'accepted',
    'a self-signed certificate': 'error',
    'a certificate from another CA': 'error',
    'a chain deeper than ssl_verify_depth': 'error',
    'a too deep chain reaching a trusted intermediate': 'error',
    'an expired certificate': 'error',
  },
  optional: {
    'no certificate': 'accepted',
    'a good certificate': 'accepted',
    'a self-signed certificate': 'error',
    'a certificate from another CA': 'error',
    'a chain deeper than ssl_verify_depth': 'error',
    'a too deep chain reaching a trusted intermediate': 'error',
    'an expired certificate': 'error',
  },
  optional_no_ca: {
    'no certificate': 'accepted',
    'a good certificate': 'accepted',
    'a self-signed certificate': 'accepted',
    'a certificate from another CA': 'accepted',
    'a chain deeper than ssl_verify_depth': 'accepted',
    'a too deep chain reaching a trusted intermediate': 'error',
    'an expired certificate': 'error',
  },
};

/** ManageSieve's greeting is its capability list: with `starttls on` it offers STARTTLS. */
const sieveGreeting = (starttls: boolean): string =>
  `"IMPLEMENTATION" "Postern"${CRLF}"SIEVE" ""${CRLF}"SASL" "PLAIN LOGIN EXTERNAL"${CRLF}${starttls ? `"STARTTLS"${CRLF}` : ''}"VERSION" "1.0"${CRLF}OK "ManageSieve ready."${CRLF}`;

/** After a STARTTLS handshake: the capabilities over TLS (no STARTTLS), then Dovecot's closing words. */
const SIEVE_AFTER_STARTTLS = `"IMPLEMENTATION" "Postern"${CRLF}"SIEVE" ""${CRLF}"SASL" "PLAIN LOGIN EXTERNAL"${CRLF}"VERSION" "1.0"${CRLF}OK "TLS negotiation successful."${CRLF}`;

const LINES: Record<Protocol, { error: string; missing: string; greeting: string; starttlsGreeting?: string }> = {
  pop3: { error: `-ERR SSL certificate error${CRLF}`, missing: `-ERR No required SSL certificate${CRLF}`, greeting: `+OK POP3 ready${CRLF}` },
  imap: { error: `* BYE SSL certificate error${CRLF}`, missing: `* BYE No required SSL certificate${CRLF}`, greeting: `* OK IMAP4 ready${CRLF}` },
  smtp: {
    error: `421 4.7.1 SSL certificate error${CRLF}`,
    missing: `421 4.7.1 No required SSL certificate${CRLF}`,
    greeting: `220 mx.test ESMTP ready${CRLF}`,
  },
  sieve: {
    error: `BYE "SSL certificate error"${CRLF}`,
    missing: `BYE "No required SSL certificate"${CRLF}`,
    greeting: sieveGreeting(false),
    starttlsGreeting: sieveGreeting(true),
  },
};

function input(protocol: Protocol, overrides: Partial<ConnectionInput>): ConnectionInput {
  const base = settings(protocol === 'imap' ? 'imap' : 'pop3');
  // No APOP: the POP3 greeting then carries no salt.
  const authMethods = protocol === 'pop3' ? ['plain', 'external'] : protocol === 'imap' ? ['plain', 'external'] : ['plain', 'login', 'external'];
  return { ...base, protocol, authMethods, capabilities: [], ...overrides };
}

const tlsWith = (clientCert: ClientCertificate | undefined): TlsInfo => (clientCert === undefined ? TLS : { ...TLS, clientCert });

/** What the machine does when the refusal comes: the line, the session dropped from the cache, the close. */
function refusal(protocol: Protocol, outcome: Exclude<Outcome, 'accepted'>, cert: ClientCertificate | undefined): ConnectionEffect[] {
  const reason =
    outcome === 'missing'
      ? 'client sent no required SSL certificate'
      : `client SSL certificate verify error: (${cert?.errorNumber}:${cert?.verify.replace(/^FAILED:/, '')})`;
  return [reply(LINES[protocol][outcome]), { type: 'forgetTlsSession' }, { type: 'close', reason }];
}

const PROTOCOLS = ['pop3', 'imap', 'smtp', 'sieve'] as const;
const MODES = ['on', 'optional', 'optional_no_ca'] as const;
const MATRIX = PROTOCOLS.flatMap((protocol) =>
  MODES.flatMap((mode) => Object.keys(CERTS).map((cert) => [protocol, mode, cert, EXPECTED[mode][cert]!] as const)),
);

describe('implicit TLS: the certificate is checked before the greeting', () => {
  it.each(MATRIX)('%s, ssl_verify_client %s, %s: %s', (protocol, mode, name, outcome) => {
    const h = new Harness(input(protocol, { implicitTls: true, verifyClient: mode }));
    expect(h.take()).toEqual([]);
    const effects = h.send({ type: 'tls.established', tls: tlsWith(CERTS[name]) });
    if (outcome === 'accepted') {
      expect(effects).toEqual([reply(LINES[protocol].greeting)]);
      expect(h.state).toBe('preauth.secure.idle');
    } else {
      expect(effects).toEqual(refusal(protocol, outcome, CERTS[name]));
      expect(h.done).toBe(true);
    }
  });
});

describe('STARTTLS: the certificate is checked after the handshake, before the next command', () => {
  it.each(MATRIX)('%s, ssl_verify_client %s, %s: %s', (protocol, mode, name, outcome) => {
    const h = new Harness(input(protocol, { starttls: 'on', verifyClient: mode }));
    expect(h.take()).toEqual([reply(LINES[protocol].starttlsGreeting ?? LINES[protocol].greeting)]);
    h.send({ type: 'cmd.starttls', ...(protocol === 'imap' ? { tag: 's1' } : {}) });
    expect(h.state).toBe('preauth.upgrading.handshake');
    const effects = h.send({ type: 'tls.established', tls: tlsWith(CERTS[name]) });
    if (outcome === 'accepted') {
      // ManageSieve alone speaks first again after the handshake (RFC 5804 §2.2): its capabilities.
      expect(effects).toEqual(protocol === 'sieve' ? [reply(SIEVE_AFTER_STARTTLS)] : []);
      expect(h.state).toBe('preauth.secure.idle');
      expect(h.readsInput).toBe(true);
    } else {
      expect(effects).toEqual(refusal(protocol, outcome, CERTS[name]));
      expect(h.done).toBe(true);
    }
  });
});

describe('ssl_verify_client off', () => {
  it.each(PROTOCOLS)('%s: no certificate is ever refused, with or without the setting', (protocol) => {
    for (const verifyClient of ['off', undefined] as const) {
      for (const cert of Object.values(CERTS)) {
        const h = new Harness(input(protocol, { implicitTls: true, ...(verifyClient === undefined ? {} : { verifyClient }) }));
        expect(h.send({ type: 'tls.established', tls: tlsWith(cert) })).toEqual([reply(LINES[protocol].greeting)]);
      }
    }
  });
});

describe('a refused certificate wins over smtp_greeting_delay (checked right after the handshake)', () => {
  it('SMTP implicit TLS with a greeting delay: 421 at once, no delay', () => {
    const h = new Harness(input('smtp', { implicitTls: true, verifyClient: 'on', greetingDelayMs: 1000 }));
    expect(h.send({ type: 'tls.established', tls: tlsWith(CERTS['no certificate']) })).toEqual(
      refusal('smtp', 'missing', CERTS['no certificate']),
    );
  });

  it('an accepted certificate still waits for the delay', () => {
    const h = new Harness(input('smtp', { implicitTls: true, verifyClient: 'on', greetingDelayMs: 1000 }));
    expect(h.send({ type: 'tls.established', tls: tlsWith(CERTS['a good certificate']) })).toEqual([]);
    expect(h.state).toBe('preauth.secure.greetingDelay');
    expect(h.tick(1000)).toEqual([reply(LINES.smtp.greeting)]);
  });
});

describe('the certificate reaches the auth request', () => {
  const good = CERTS['a good certificate']!;
  const tolerated = CERTS['a self-signed certificate']!;

  it.each([
    ['pop3', { type: 'cmd.authenticate', mechanism: 'EXTERNAL', initial: { valid: true, user: 'alice' } }],
    ['imap', { type: 'cmd.authenticate', tag: 'a1', mechanism: 'EXTERNAL', initial: { valid: true, user: 'alice' } }],
    ['smtp', { type: 'cmd.authenticate', mechanism: 'EXTERNAL', initial: { valid: true, user: 'alice' } }],
    ['sieve', { type: 'cmd.authenticate', mechanism: 'EXTERNAL', initial: { valid: true, user: 'alice' } }],
  ] as const)('%s AUTH EXTERNAL on implicit TLS with a verified certificate', (protocol, command) => {
    const h = new Harness(input(protocol, { implicitTls: true, verifyClient: 'on' }));
    h.send({ type: 'tls.established', tls: tlsWith(good) });
    const [request] = requests(h.send(command));
    expect(request?.method).toBe('external');
    expect(request?.user).toBe('alice');
    expect(request?.password.reveal()).toBe('');
    expect(request?.tls).toEqual({ ...TLS, clientCert: good });
  });

  it.each(PROTOCOLS)('%s AUTH EXTERNAL after STARTTLS, the user name in a continuation line', (protocol) => {
    const h = new Harness(input(protocol, { starttls: 'on', verifyClient: 'optional_no_ca' }));
    h.send({ type: 'cmd.starttls', ...(protocol === 'imap' ? { tag: 's1' } : {}) });
    h.send({ type: 'tls.established', tls: tlsWith(tolerated) });
    const challenge = { smtp: `334 ${b64('Username:')}${CRLF}`, sieve: `"${b64('Username:')}"${CRLF}` }[protocol as string] ?? `+ ${b64('Username:')}${CRLF}`;
    expect(h.send({ type: 'cmd.authenticate', ...(protocol === 'imap' ? { tag: 'e1' } : {}), mechanism: 'EXTERNAL' })).toEqual([
      reply(challenge),
    ]);
    const [request] = requests(h.send({ type: 'sasl.response', user: 'alice' }));
    expect(request).toMatchObject({ method: 'external', user: 'alice', tls: { ...TLS, clientCert: tolerated } });
  });

  it('optional without a certificate: Auth-SSL-Verify NONE goes along with a password login', () => {
    const h = new Harness(input('imap', { implicitTls: true, verifyClient: 'optional' }));
    h.send({ type: 'tls.established', tls: tlsWith(CERTS['no certificate']) });
    const [request] = requests(h.send({ type: 'cmd.login', tag: 'a1', user: 'alice', password: pw() }));
    expect(request?.tls).toEqual({ ...TLS, clientCert: { verify: 'NONE' } });
  });
});
