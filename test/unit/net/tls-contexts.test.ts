/**
 * TLS set-up once per load: every certificate, key, password, CA and ticket key file is read
 * once, each secure context (the server's, each SNI certificate's) is built once, and the
 * listeners serve those very contexts, at start, at a reload, and for `postern -t`.
 * Reads are counted through fs.readFileSync (src/net/tls-files.ts reads with it), contexts
 * through tls.createSecureContext (a context with a certificate is a server's context; the
 * option probes secure-context.ts makes for nginx's error texts carry no certificate).
 */
import fs, { writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AuthOutcome } from '../../../machines/types.js';
import { parseConfigText } from '../../../src/config/index.js';
import type { MailConfig } from '../../../src/config/types.js';
import { silentLogger } from '../../../src/log.js';
import { serverTls } from '../../../src/net/secure-context.js';
import { buildServerContexts, checkSsl } from '../../../src/net/tls-contexts.js';
import { tlsFiles } from '../../../src/net/tls-files.js';
import { TlsEndpoint } from '../../../src/net/tls-endpoint.js';
import { startProxy } from '../../../src/server.js';
import { freePorts, generateCa, makeTempDir, removeDir, run, type Ca, type CertFiles } from '../../e2e/harness/index.js';

const SNI_NAMES = ['a.example.com', 'b.example.com', '*.example.org'];
const neverAuth = { request: async (): Promise<AuthOutcome> => ({ status: 'fail', text: 'no' }) };

let dir = '';
let ports: [number, number];
let ca: Ca;
let main: CertFiles;
let other: CertFiles;
const sni: CertFiles[] = [];
const path = (name: string) => join(dir, name);

beforeAll(async () => {
  dir = await makeTempDir('tls-contexts');
  ports = (await freePorts(2)) as [number, number];
  ca = await generateCa({ dir: join(dir, 'ca') });
  main = await ca.issue({ cn: 'main.test' });
  other = await ca.issue({ cn: 'other.test', type: 'ec' });
  for (const name of SNI_NAMES) sni.push(await ca.issue({ cn: name.replace('*', 'wild') }));
  const encrypted = await run('openssl', ['pkey', '-in', main.keyPath, '-aes256', '-passout', 'pass:horse', '-out', path('main-encrypted.key')], { timeoutMs: 30_000 });
  if (encrypted.code !== 0) throw new Error(encrypted.stderr);
  writeFileSync(path('passwords'), 'wrong\nhorse\n');
  writeFileSync(path('ticket-a.key'), Buffer.alloc(48, 1));
  writeFileSync(path('ticket-b.key'), Buffer.alloc(48, 2));
});

afterAll(async () => {
  if (dir) await removeDir(dir);
});

afterEach(() => {
  vi.restoreAllMocks();
  syncBuiltinESMExports();
});

/**
 * Two servers naming the same client CA, password file and ticket keys; the first with three
 * SNI certificates whose keys, like its own, are decrypted with the shared password file.
 */
function config(): MailConfig {
  const shared = `ssl_password_file ${path('passwords')};
    ssl_verify_client optional; ssl_client_certificate ${ca.certPath};
    ssl_session_ticket_key ${path('ticket-a.key')}; ssl_session_ticket_key ${path('ticket-b.key')};`;
  const text = `mail {
    auth_http 127.0.0.1:9;
    server {
      listen 127.0.0.1:${ports[0]} ssl; protocol imap;
      ssl_certificate ${main.certPath}; ssl_certificate_key ${path('main-encrypted.key')};
      ${shared}
      ${SNI_NAMES.map((name, i) => `postern_ssl_sni_certificate ${name} ${sni[i]!.certPath} ${sni[i]!.keyPath};`).join('\n      ')}
    }
    server {
      listen 127.0.0.1:${ports[1]}; protocol pop3; starttls on;
      ssl_certificate ${other.certPath}; ssl_certificate_key ${other.keyPath};
      ${shared}
    }
  }`;
  return parseConfigText(text, join(dir, 'mail.conf'));
}

/** Every file of this test's directory read through fs.readFileSync, by path, and how often. */
function countReads(): Map<string, number> {
  const reads = new Map<string, number>();
  const real = fs.readFileSync;
  vi.spyOn(fs, 'readFileSync').mockImplementation(((file: fs.PathOrFileDescriptor, options?: unknown) => {
    if (typeof file === 'string' && file.startsWith(dir)) reads.set(file, (reads.get(file) ?? 0) + 1);
    return real(file, options as never);
  }) as typeof fs.readFileSync);
  // `import { readFileSync } from 'node:fs'` sees the spy only once the ESM exports are synced.
  syncBuiltinESMExports();
  return reads;
}

/** Server contexts built (with a certificate), and every tls.createSecureContext call. */
function countContexts(): { servers: () => number; all: () => number } {
  const spy = vi.spyOn(tls, 'createSecureContext');
  return {
    servers: () => spy.mock.calls.filter(([options]) => options?.cert !== undefined).length,
    all: () => spy.mock.calls.length,
  };
}

/** The files the configuration names: each must be read once per load. */
const namedFiles = (): string[] => [
  main.certPath, path('main-encrypted.key'), path('passwords'), ca.certPath, path('ticket-a.key'), path('ticket-b.key'),
  ...sni.flatMap((c) => [c.certPath, c.keyPath]),
  other.certPath, other.keyPath,
].sort();

const expectEachReadOnce = (reads: Map<string, number>) => {
  expect([...reads.keys()].sort()).toEqual(namedFiles());
  expect([...reads.entries()].filter(([, count]) => count !== 1)).toEqual([]);
};

/** The CN of the certificate a handshake to `port` gets for `servername`. */
function certificateCn(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) }, () => {
      resolve(String(socket.getPeerCertificate().subject.CN));
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('TLS set-up once per load', () => {
  it('one load reads each file once, however many servers and SNI certificates name it', () => {
    const reads = countReads();
    const files = tlsFiles();
    for (const server of config().servers) buildServerContexts(serverTls(server, files), []);
    expectEachReadOnce(reads);
  });

  it('builds each context once: the server\'s and one per SNI certificate, ticket keys included', () => {
    const server = config().servers[0]!;
    const plan = serverTls(server);
    const contexts = countContexts();
    const built = buildServerContexts(plan, plan.ticketKeys);
    expect(contexts.servers()).toBe(1 + SNI_NAMES.length);
    expect(built.sni.map((entry) => entry.pattern)).toEqual(SNI_NAMES);
    // The endpoint's tls.Server serves the built context: it builds none of its own.
    const before = contexts.all();
    const endpoint = new TlsEndpoint({ contexts: built, protocol: 'imap', handshakeTimeoutMs: 1000, requestCert: true });
    expect(contexts.all()).toBe(before);
    expect((endpoint.server as unknown as { _sharedCreds: unknown })._sharedCreds).toBe(built.context);
  });

  it('postern -t: the same one read per file and one build per context', () => {
    const reads = countReads();
    const contexts = countContexts();
    const files = tlsFiles();
    for (const server of config().servers) checkSsl(server, files);
    expectEachReadOnce(reads);
    expect(contexts.servers()).toBe(1 + SNI_NAMES.length + 1);
  });

  it('start and reload: one read per file and one build per context each, and the listeners serve those contexts', async () => {
    const reads = countReads();
    const contexts = countContexts();
    const proxy = await startProxy(config(), { logger: silentLogger(), authFor: () => neverAuth });
    try {
      expectEachReadOnce(reads);
      expect(contexts.servers()).toBe(1 + SNI_NAMES.length + 1);
      const afterStart = contexts.all();
      const port = proxy.listeners[0]!.port;
      expect(await certificateCn(port)).toBe('main.test');
      expect(await certificateCn(port, 'b.example.com')).toBe('b.example.com');
      expect(await certificateCn(port, 'mail.example.org')).toBe('wild.example.org');

      // (each client handshake above built a client context)
      const beforeReload = contexts.all();
      reads.clear();
      await proxy.reload(config());
      expectEachReadOnce(reads);
      expect(contexts.servers()).toBe(2 * (1 + SNI_NAMES.length + 1));
      // A reload of the same configuration makes what the start made, option probes included.
      expect(contexts.all() - beforeReload).toBe(afterStart);
      expect(await certificateCn(port, 'a.example.com')).toBe('a.example.com');
    } finally {
      await proxy.close();
    }
  });
});
