import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthOutcome } from '../../machines/types.js';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { freePorts, generateCert, removeDir, type CertFiles } from '../e2e/harness/index.js';

const neverAuth = { request: async (): Promise<AuthOutcome> => ({ status: 'fail', text: 'no' }) };

interface Handshake {
  cn: string;
  reused: boolean;
  session: Buffer | undefined;
}

/** One implicit-TLS handshake: the served certificate's CN, and the session to resume with later. */
function handshake(port: number, options: { servername?: string; session?: Buffer; maxVersion?: tls.SecureVersion } = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...options });
    socket.on('session', (s: Buffer) => {
      session = s;
    });
    socket.once('error', reject);
    // The greeting follows the handshake; by then TLS 1.3 tickets have arrived too.
    socket.once('data', () => {
      const cert = socket.getPeerX509Certificate();
      const result = { cn: cert?.subject.replace(/^CN=/, '') ?? '', reused: socket.isSessionReused() };
      setTimeout(() => {
        socket.destroy();
        resolve({ ...result, session });
      }, 20);
    });
  });
}

describe('postern_ssl_sni_certificate (extension): the certificate follows the client\'s SNI name', () => {
  const certs: Record<string, CertFiles> = {};
  let proxy: RunningProxy;
  let sniPort: number;
  let otherPort: number;

  beforeAll(async () => {
    for (const cn of ['default.test', 'mail.example.com', 'wild.example.org', 'other.test']) certs[cn] = await generateCert({ cn, type: 'ec', name: cn });
    const [a, b] = (await freePorts(2)) as [number, number];
    const conf = `mail {
      auth_http 127.0.0.1:1/;
      ssl_session_cache shared:SSL:1m;
      server {
        listen 127.0.0.1:${a} ssl; protocol imap;
        ssl_certificate ${certs['default.test']!.certPath}; ssl_certificate_key ${certs['default.test']!.keyPath};
        postern_ssl_sni_certificate mail.example.com ${certs['mail.example.com']!.certPath} ${certs['mail.example.com']!.keyPath};
        postern_ssl_sni_certificate *.example.org ${certs['wild.example.org']!.certPath} ${certs['wild.example.org']!.keyPath};
      }
      server {
        listen 127.0.0.1:${b} ssl; protocol imap;
        ssl_certificate ${certs['other.test']!.certPath}; ssl_certificate_key ${certs['other.test']!.keyPath};
      }
    }`;
    proxy = await startProxy(parseConfigText(conf, 'sni.conf'), { logger: silentLogger(), authFor: () => neverAuth });
    [sniPort, otherPort] = proxy.listeners.map((l) => l.port) as [number, number];
  });
  afterAll(async () => {
    await proxy?.close();
    for (const cert of Object.values(certs)) await removeDir(cert.dir);
  });

  it('serves the exact name\'s certificate, the wildcard\'s, and the default otherwise', async () => {
    expect((await handshake(sniPort, { servername: 'mail.example.com' })).cn).toBe('mail.example.com');
    expect((await handshake(sniPort, { servername: 'MAIL.example.com' })).cn).toBe('mail.example.com');
    expect((await handshake(sniPort, { servername: 'imap.example.org' })).cn).toBe('wild.example.org');
    expect((await handshake(sniPort, { servername: 'unknown.test' })).cn).toBe('default.test');
    expect((await handshake(sniPort)).cn).toBe('default.test');
  });

  it.each(['TLSv1.2', 'TLSv1.3'] as const)('%s: a session resumes under the same server, never on another server', async (maxVersion) => {
    const first = await handshake(sniPort, { servername: 'mail.example.com', maxVersion });
    expect(first.session).toBeDefined();
    const again = await handshake(sniPort, { servername: 'mail.example.com', maxVersion, session: first.session! });
    expect(again.reused).toBe(true);
    const elsewhere = await handshake(otherPort, { servername: 'mail.example.com', maxVersion, session: first.session! });
    expect(elsewhere.reused).toBe(false);
    expect(elsewhere.cn).toBe('other.test');
  });

  it('refuses a pattern that is not a host name, naming the line', () => {
    expect(() => parseConfigText('mail { server { postern_ssl_sni_certificate "a b" /x /y; } }', 'bad.conf')).toThrow(/invalid server name "a b" in bad\.conf:1/);
    expect(() => parseConfigText('mail { server { postern_ssl_sni_certificate a.test /x; } }', 'bad.conf')).toThrow(/invalid number of arguments/);
  });

  it('reports an SNI certificate that does not load at its own line', async () => {
    const [port] = await freePorts(1);
    const conf = `mail {\n auth_http 127.0.0.1:1/;\n server {\n listen 127.0.0.1:${port} ssl; protocol imap;\n ssl_certificate ${certs['default.test']!.certPath}; ssl_certificate_key ${certs['default.test']!.keyPath};\n postern_ssl_sni_certificate a.test /nonexistent.pem /nonexistent.key;\n }\n}`;
    await expect(startProxy(parseConfigText(conf, 'sni.conf'), { logger: silentLogger(), authFor: () => neverAuth })).rejects.toThrow(/nonexistent\.pem.*sni\.conf:6/);
  });

  it('takes inline `data:` certificates and keys as ssl_certificate does (not a file beside the configuration)', async () => {
    const [port] = (await freePorts(1)) as [number];
    const inline = (path: string) => `"data:${readFileSync(path, 'latin1')}"`;
    const conf = `mail {
      auth_http 127.0.0.1:1/;
      server {
        listen 127.0.0.1:${port} ssl; protocol imap;
        ssl_certificate ${certs['default.test']!.certPath}; ssl_certificate_key ${certs['default.test']!.keyPath};
        postern_ssl_sni_certificate inline.test ${inline(certs['mail.example.com']!.certPath)} ${inline(certs['mail.example.com']!.keyPath)};
      }
    }`;
    const parsed = parseConfigText(conf, '/etc/postern/inline.conf');
    expect(parsed.servers[0]!.ssl.sniCertificates[0]!.certificate.startsWith('data:-----BEGIN')).toBe(true);
    const inlineProxy = await startProxy(parsed, { logger: silentLogger(), authFor: () => neverAuth });
    try {
      expect((await handshake(port, { servername: 'inline.test' })).cn).toBe('mail.example.com');
    } finally {
      await inlineProxy.close();
    }
  });
});
