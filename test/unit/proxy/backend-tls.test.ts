/**
 * TLS to the backend (`postern_proxy_ssl*`): the backend login over implicit TLS and after
 * STLS/STARTTLS against scripted node:tls backends on loopback, certificate and name
 * verification, client certificates, session reuse, and bytes injected after a STARTTLS reply.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackendTarget } from '../../../machines/types.js';
import type { Protocol, ProxySslConfig } from '../../../src/config/types.js';
import { loginToBackend, type BackendSession } from '../../../src/proxy/backend-login.js';
import type { Logger } from '../../../src/log.js';
import { Secret } from '../../../src/secret.js';
import { generateCa, removeDir, type Ca, type CertFiles } from '../../e2e/harness/index.js';
import { startFakeBackend, type FakeBackend, type FakeBackendOptions } from './fake-tls-backend.js';

let ca: Ca;
let otherCa: Ca;
let serverCert: CertFiles;
let clientCert: CertFiles;

beforeAll(async () => {
  ca = await generateCa({ cn: 'Backend Test CA' });
  otherCa = await generateCa({ cn: 'Some Other CA' });
  serverCert = await ca.issue({ cn: 'backend.test' });
  clientCert = await ca.issue({ cn: 'postern-client', client: true });
});
afterAll(async () => {
  await removeDir(ca.dir);
  await removeDir(otherCa.dir);
});

const backends: FakeBackend[] = [];
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

async function backend(options: Omit<FakeBackendOptions, 'cert'>): Promise<FakeBackend> {
  const started = await startFakeBackend({ cert: serverCert, ...options });
  backends.push(started);
  return started;
}

const proxySsl = (overrides: Partial<ProxySslConfig>): ProxySslConfig => ({
  mode: 'on',
  verify: false,
  serverName: false,
  protocols: ['TLSv1.2', 'TLSv1.3'],
  ciphers: 'DEFAULT',
  sessionReuse: true,
  where: { postern_proxy_ssl: { file: 'test.conf', line: 1 } },
  ...overrides,
});

const target = (protocol: Protocol, port: number): BackendTarget => ({
  server: '127.0.0.1',
  port,
  user: 'alice',
  password: new Secret('s3cret'),
  ...(protocol === 'imap' ? { tag: 'a1' } : {}),
  ...(protocol === 'smtp'
    ? {
        smtp: {
          serverName: 'mx.test',
          helo: 'client.example',
          esmtp: true,
          xclient: true,
          proxySmtpAuth: false,
          clientIp: '192.0.2.7',
          clientHost: '[UNAVAILABLE]',
        },
      }
    : {}),
});

async function login(protocol: Protocol, port: number, config: ProxySslConfig, logger?: Logger): Promise<BackendSession> {
  const session = await loginToBackend(protocol, target(protocol, port), {
    bufferSize: 4096,
    signal: new AbortController().signal,
    proxySsl: config,
    ...(logger === undefined ? {} : { logger }),
  });
  session.socket.destroy();
  return session;
}

/** What each protocol's backend must receive, in order, once TLS is up. */
const OVER_TLS: Record<Protocol, string[]> = {
  pop3: ['USER alice', 'PASS s3cret'],
  imap: ['a1 LOGIN {5}', 'alice {6}', 's3cret'],
  smtp: ['EHLO mx.test', 'XCLIENT ADDR=192.0.2.7 LOGIN=alice NAME=[UNAVAILABLE]', 'EHLO client.example'],
  sieve: [`AUTHENTICATE "PLAIN" "${Buffer.from('\0alice\0s3cret').toString('base64')}"`],
};
/** What goes in clear before the handshake with `starttls`. */
const BEFORE_TLS: Record<Protocol, string[]> = {
  pop3: ['STLS'],
  imap: ['a1 STARTTLS'],
  smtp: ['EHLO mx.test', 'STARTTLS'],
  sieve: ['STARTTLS'],
};
/** The reply the client receives first (SMTP: none, the proxy answers 235 itself). */
const FIRST_REPLY: Record<Protocol, string> = {
  pop3: '+OK logged in over TLS\r\n',
  imap: 'a1 OK logged in over TLS\r\n',
  smtp: '',
  sieve: 'OK "logged in over TLS"\r\n',
};

const PROTOCOLS: Protocol[] = ['pop3', 'imap', 'smtp', 'sieve'];

describe.each(PROTOCOLS)('%s backend login over TLS', (protocol) => {
  it('implicit TLS (postern_proxy_ssl on): the whole dialogue is encrypted', async () => {
    const fake = await backend({ protocol, mode: 'on' });
    const session = await login(protocol, fake.port, proxySsl({ mode: 'on' }));
    expect(session.firstReply.toString('latin1')).toBe(FIRST_REPLY[protocol]);
    expect(fake.lines).toEqual(OVER_TLS[protocol].map((line) => ({ line, tls: true })));
    expect(fake.handshakes).toHaveLength(1);
  });

  it('starttls: only the STARTTLS request goes in clear, the login follows over TLS', async () => {
    const fake = await backend({ protocol, mode: 'starttls' });
    const session = await login(protocol, fake.port, proxySsl({ mode: 'starttls' }));
    expect(session.firstReply.toString('latin1')).toBe(FIRST_REPLY[protocol]);
    expect(fake.lines).toEqual([
      ...BEFORE_TLS[protocol].map((line) => ({ line, tls: false })),
      ...OVER_TLS[protocol].map((line) => ({ line, tls: true })),
    ]);
  });

  it('starttls: bytes sent with the STARTTLS reply are discarded, never taken as a reply', async () => {
    const injected = { pop3: '-ERR injected\r\n', imap: 'a1 OK injected\r\n', smtp: '235 injected\r\n', sieve: 'OK "injected"\r\n' }[protocol];
    const fake = await backend({ protocol, mode: 'starttls', inject: injected });
    const warnings: unknown[] = [];
    const logger = { warn: (fields: unknown, message: string) => warnings.push([fields, message]) } as unknown as Logger;
    const session = await login(protocol, fake.port, proxySsl({ mode: 'starttls' }), logger);
    expect(session.firstReply.toString('latin1')).toBe(FIRST_REPLY[protocol]);
    expect(fake.lines.filter((l) => l.tls).map((l) => l.line)).toEqual(OVER_TLS[protocol]);
    expect(warnings).toEqual([
      [{ bytes: injected.length }, 'upstream sent data after its STARTTLS reply, discarded'],
    ]);
  });

  it('starttls: plaintext slipped in after the handshake began fails the handshake, before any credential', async () => {
    const fake = await backend({ protocol, mode: 'starttls', injectAfterClientHello: FIRST_REPLY.pop3 });
    const error = await login(protocol, fake.port, proxySsl({ mode: 'starttls' })).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^SSL_do_handshake\(\) failed \(SSL: .+\) while SSL handshaking to upstream/);
    expect(fake.lines.filter((l) => l.tls)).toEqual([]);
  });

  it('starttls refused: a backend failure without the backend\'s text for the client', async () => {
    const refusal = { pop3: '-ERR no TLS here\r\n', imap: 'a1 NO no TLS here\r\n', smtp: '454 4.7.0 TLS not available\r\n', sieve: 'NO "no TLS here"\r\n' }[protocol];
    const fake = await backend({ protocol, mode: 'starttls', refuseStarttls: refusal });
    const error = await login(protocol, fake.port, proxySsl({ mode: 'starttls' })).catch((e: unknown) => e);
    expect(error).toMatchObject({ message: expect.stringContaining('upstream refused STARTTLS'), passthrough: undefined });
    expect(fake.lines.some((l) => /alice|s3cret/.test(l.line))).toBe(false);
  });
});

describe('backend certificate verification (postern_proxy_ssl_verify on)', () => {
  it('accepts a certificate from the trusted CA whose name matches the Auth-Server address', async () => {
    const fake = await backend({ protocol: 'pop3', mode: 'on' });
    const session = await login('pop3', fake.port, proxySsl({ verify: true, trustedCertificate: ca.certPath }));
    expect(session.firstReply.toString('latin1')).toBe('+OK logged in over TLS\r\n');
  });

  it('refuses a certificate from another CA before sending any credentials', async () => {
    const fake = await backend({ protocol: 'imap', mode: 'starttls' });
    const error = await login('imap', fake.port, proxySsl({ mode: 'starttls', verify: true, trustedCertificate: otherCa.certPath })).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^upstream SSL certificate verify error: \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\) while SSL handshaking to upstream$/);
    expect(fake.lines.filter((l) => l.tls)).toEqual([]);
  });

  it('refuses a certificate for another name', async () => {
    const fake = await backend({ protocol: 'smtp', mode: 'on' });
    const error = await login('smtp', fake.port, proxySsl({ verify: true, trustedCertificate: ca.certPath, name: 'other.test' })).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^upstream SSL certificate does not match "other\.test" while SSL handshaking/);
    expect(fake.lines).toEqual([]);
  });

  it('without verification, any certificate is accepted (nginx default)', async () => {
    const fake = await backend({ protocol: 'pop3', mode: 'on' });
    await expect(login('pop3', fake.port, proxySsl({ trustedCertificate: otherCa.certPath, name: 'other.test' }))).resolves.toBeDefined();
  });
});

describe('SNI, client certificate, sessions, failures', () => {
  it('sends postern_proxy_ssl_name as SNI only with postern_proxy_ssl_server_name on', async () => {
    const fake = await backend({ protocol: 'pop3', mode: 'on' });
    const named = { verify: true, trustedCertificate: ca.certPath, name: 'backend.test', sessionReuse: false };
    await login('pop3', fake.port, proxySsl(named));
    await login('pop3', fake.port, proxySsl({ ...named, serverName: true }));
    // The default name is the Auth-Server address: never sent as SNI.
    await login('pop3', fake.port, proxySsl({ serverName: true, sessionReuse: false }));
    expect(fake.handshakes.map((h) => h.servername)).toEqual([false, 'backend.test', false]);
  });

  it('presents postern_proxy_ssl_certificate to a backend that asks for one', async () => {
    const fake = await backend({ protocol: 'imap', mode: 'starttls', clientCa: ca.certPem });
    await login('imap', fake.port, proxySsl({ mode: 'starttls', certificate: clientCert.certPath, certificateKey: clientCert.keyPath }));
    await login('imap', fake.port, proxySsl({ mode: 'starttls' }));
    expect(fake.handshakes.map((h) => [h.clientCn, h.clientAuthorized])).toEqual([
      ['postern-client', true],
      [undefined, false],
    ]);
  });

  it('resumes the TLS session with the same backend, unless postern_proxy_ssl_session_reuse off', async () => {
    for (const protocol of PROTOCOLS) {
      const fake = await backend({ protocol, mode: protocol === 'pop3' ? 'on' : 'starttls' });
      const reusing = proxySsl({ mode: protocol === 'pop3' ? 'on' : 'starttls' });
      const fresh = { ...reusing, sessionReuse: false };
      for (let i = 0; i < 3; i++) await login(protocol, fake.port, reusing);
      for (let i = 0; i < 2; i++) await login(protocol, fake.port, fresh);
      expect({ protocol, reused: fake.handshakes.map((h) => h.reused) }).toEqual({ protocol, reused: [false, true, true, false, false] });
    }
  });

  it('a backend that does not speak TLS fails the handshake: a backend failure naming the reason', async () => {
    const plaintext = await backend({ protocol: 'pop3', mode: 'starttls' });
    const error = await login('pop3', plaintext.port, proxySsl({ mode: 'on' })).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^SSL_do_handshake\(\) failed \(.+\) while SSL handshaking to upstream$/);
  });

  it('a refused connection with implicit TLS reads like the plaintext one', async () => {
    const fake = await backend({ protocol: 'pop3', mode: 'on' });
    await fake.close();
    const error = await login('pop3', fake.port, proxySsl({ mode: 'on' })).catch((e: unknown) => e);
    expect((error as Error).message).toBe('recv() failed (111: Connection refused) while reading response from upstream');
  });
});
