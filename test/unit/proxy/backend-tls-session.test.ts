/**
 * TLS to the backend seen from the client, through a running Postern: a backend that fails
 * the handshake or verification is a backend failure (the protocol's internal-error line,
 * then close, and an error log line naming the reason); a trusted one relays over TLS.
 */
import net from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import type { AuthService } from '../../../src/session/session.js';
import { startProxy, type RunningProxy } from '../../../src/server.js';
import { freePort, generateCa, removeDir, type Ca, type CertFiles } from '../../e2e/harness/index.js';
import { startFakeBackend, type FakeBackend } from './fake-tls-backend.js';

let ca: Ca;
let otherCa: Ca;
let serverCert: CertFiles;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  ca = await generateCa({ cn: 'Backend Test CA' });
  otherCa = await generateCa({ cn: 'Some Other CA' });
  serverCert = await ca.issue({ cn: 'backend.test' });
});
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await removeDir(ca.dir);
  await removeDir(otherCa.dir);
});

interface Running {
  port: number;
  logs: Array<{ level: number; msg: string; upstream?: string }>;
}

/** Postern with one server whose auth service always sends the client to `backend`. */
async function proxyTo(backend: FakeBackend, protocol: 'pop3' | 'imap' | 'smtp', directives: string): Promise<Running> {
  const logs: Running['logs'] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Running['logs'][number]) });
  const auth: AuthService = { request: async () => ({ status: 'ok', server: '127.0.0.1', port: backend.port }) };
  const config = parseConfigText(
    `mail {\n  auth_http 127.0.0.1:9/auth;\n  server_name mx.test;\n  ${directives}\n  server { listen 127.0.0.1:${await freePort()}; protocol ${protocol}; }\n}\n`,
    'session.conf',
  );
  const proxy: RunningProxy = await startProxy(config, { logger, authFor: () => auth });
  cleanups.push(() => proxy.close());
  return { port: proxy.listeners[0]!.port, logs };
}

/** Sends `lines` one at a time, each after the previous reply; returns everything read until close. */
function talk(port: number, lines: string[], until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let text = '';
    let next = 0;
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (until.test(text)) {
        socket.destroy();
        resolve(text);
        return;
      }
      if (text.endsWith('\r\n') && next < lines.length) socket.write(lines[next++]!);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

describe('backend TLS failures reach the client as backend failures', () => {
  it('POP3, certificate from an untrusted CA: -ERR internal server error, close, error log naming the reason', async () => {
    const backend = await startFakeBackend({ protocol: 'pop3', mode: 'on', cert: serverCert });
    cleanups.push(() => backend.close());
    const proxy = await proxyTo(backend, 'pop3', `postern_proxy_ssl on; postern_proxy_ssl_verify on; postern_proxy_ssl_trusted_certificate ${otherCa.certPath};`);
    const transcript = await talk(proxy.port, ['USER alice\r\n', 'PASS s3cret\r\n'], /internal server error\r\n/);
    expect(transcript).toMatch(/^\+OK POP3 ready\r\n\+OK\r\n-ERR internal server error\r\n$/);
    expect(backend.lines).toEqual([]);
    const errors = proxy.logs.filter((l) => l.level === 50).map((l) => [l.msg, l.upstream]);
    expect(errors).toEqual([[
      expect.stringMatching(/^upstream SSL certificate verify error: \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\) while SSL handshaking to upstream$/),
      expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    ]]);
  });

  it('SMTP with proxy_pass_error_message on, STARTTLS refused: 451, not the backend\'s text', async () => {
    const backend = await startFakeBackend({ protocol: 'smtp', mode: 'starttls', cert: serverCert, refuseStarttls: '454 4.7.0 TLS not available\r\n' });
    cleanups.push(() => backend.close());
    const proxy = await proxyTo(backend, 'smtp', 'postern_proxy_ssl starttls; proxy_pass_error_message on; xclient off;');
    const plain = Buffer.from('\0alice\0s3cret').toString('base64');
    const transcript = await talk(proxy.port, ['EHLO client.example\r\n', `AUTH PLAIN ${plain}\r\n`], /Internal server error\r\n/);
    expect(transcript.endsWith('451 4.3.2 Internal server error\r\n')).toBe(true);
    expect(transcript).not.toContain('TLS not available');
    expect(proxy.logs.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^upstream refused STARTTLS: "454 4\.7\.0 TLS not available"$/),
    ]);
  });

  it('IMAP, implicit TLS to a backend that speaks plaintext: * BAD internal server error, close', async () => {
    const backend = await startFakeBackend({ protocol: 'imap', mode: 'starttls', cert: serverCert });
    cleanups.push(() => backend.close());
    const proxy = await proxyTo(backend, 'imap', 'postern_proxy_ssl on;');
    const transcript = await talk(proxy.port, ['a1 LOGIN alice s3cret\r\n'], /internal server error\r\n/);
    expect(transcript).toMatch(/^\* OK IMAP4 ready\r\n\* BAD internal server error\r\n$/);
    expect(proxy.logs.filter((l) => l.level === 50).map((l) => l.msg)).toEqual([
      expect.stringMatching(/^SSL_do_handshake\(\) failed \(SSL: .+\) while SSL handshaking to upstream$/),
    ]);
  });

  it('a backend that never answers the handshake: `timeout` bounds it, then the internal-error line', async () => {
    // Reads and drops the ClientHello, never answers.
    const silent = net.createServer((socket) => socket.resume().on('error', () => undefined));
    await new Promise<void>((resolve) => silent.listen({ host: '127.0.0.1', port: 0 }, resolve));
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    const port = (silent.address() as net.AddressInfo).port;
    const proxy = await proxyTo({ port } as FakeBackend, 'pop3', 'postern_proxy_ssl on; timeout 1s;');
    const transcript = await talk(proxy.port, ['USER alice\r\n', 'PASS s3cret\r\n'], /internal server error\r\n/);
    expect(transcript).toMatch(/\r\n-ERR internal server error\r\n$/);
    // And the half-open backend connection is closed too (bounded wait).
    const open = () => new Promise<number>((resolve) => silent.getConnections((_, n) => resolve(n)));
    for (let i = 0; i < 100 && (await open()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await open()).toBe(0);
  });

  it('IMAP over STARTTLS to a trusted backend: the login reply, then the relay, all over TLS', async () => {
    const backend = await startFakeBackend({ protocol: 'imap', mode: 'starttls', cert: serverCert });
    cleanups.push(() => backend.close());
    const proxy = await proxyTo(
      backend,
      'imap',
      `postern_proxy_ssl starttls; postern_proxy_ssl_verify on; postern_proxy_ssl_trusted_certificate ${ca.certPath};`,
    );
    const transcript = await talk(proxy.port, ['a1 LOGIN alice s3cret\r\n', 'a2 NOOP\r\n'], /a2 BAD unknown\r\n/);
    expect(transcript).toMatch(/\r\na1 OK logged in over TLS\r\na2 BAD unknown\r\n$/);
    expect(backend.lines).toEqual([
      { line: 'a1 STARTTLS', tls: false },
      { line: 'a1 LOGIN {5}', tls: true },
      { line: 'alice {6}', tls: true },
      { line: 's3cret', tls: true },
      { line: 'a2 NOOP', tls: true },
    ]);
    // The client went away: the relay closes the backend connection, TLS and TCP beneath it.
    for (let i = 0; i < 100 && backend.openConnections() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backend.openConnections()).toBe(0);
  });
});
