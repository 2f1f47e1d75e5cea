/**
 * One version rule for server and backend contexts (src/net/tls.ts): exactly the listed
 * versions. Before it, the backend side took the lowest and highest listed version as a range,
 * so `TLSv1 TLSv1.2` let TLSv1.1 in as well.
 */
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import type { ProxySslConfig } from '../../../src/config/types.js';
import { tlsVersions } from '../../../src/net/tls.js';
import { createBackendContext } from '../../../src/proxy/backend-tls.js';
import { testCertificate } from '../../integration/fixtures.js';

// TLS 1.0/1.1 need security level 0 in OpenSSL 3.
const OLD_CIPHERS = 'DEFAULT@SECLEVEL=0';

const backendConfig = (protocols: string[]): ProxySslConfig => ({
  mode: 'on',
  verify: false,
  serverName: false,
  protocols,
  ciphers: OLD_CIPHERS,
  sessionReuse: false,
  where: {},
});

/** The version a backend that speaks only TLS 1.1 agrees on with a client of this context, or the failure. */
async function handshakeWithTls11Backend(context: tls.SecureContext): Promise<string> {
  const { certificate, key } = testCertificate();
  const server = tls.createServer({ cert: readFileSync(certificate), key: readFileSync(key), minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: OLD_CIPHERS }, (socket) => socket.end());
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise<string>((resolve) => {
      const client = tls.connect({ host: '127.0.0.1', port, secureContext: context, rejectUnauthorized: false });
      client.once('secureConnect', () => {
        resolve(client.getProtocol() ?? 'unknown');
        client.destroy();
      });
      client.once('error', (error) => resolve(`failed: ${error.message.split('\n')[0]!}`));
    });
  } finally {
    server.close();
  }
}

describe('TLS versions', () => {
  it('switches off the versions inside the range that are not listed', () => {
    const versions = tlsVersions(['TLSv1', 'TLSv1.2'], () => 'none');
    expect(versions.minVersion).toBe('TLSv1');
    expect(versions.maxVersion).toBe('TLSv1.2');
    expect(versions.secureOptions).not.toBe(0);
    expect(tlsVersions(['TLSv1.2', 'TLSv1.3'], () => 'none').secureOptions).toBe(0);
    expect(() => tlsVersions(['SSLv3'], () => 'nothing usable')).toThrow('nothing usable');
  });

  it('postern_proxy_ssl_protocols TLSv1 TLSv1.2 never speaks TLSv1.1 to a backend', async () => {
    expect(await handshakeWithTls11Backend(createBackendContext(backendConfig(['TLSv1', 'TLSv1.2'])))).toMatch(/^failed/);
    // The same backend is reachable when TLSv1.1 is listed: the refusal above is the version rule.
    expect(await handshakeWithTls11Backend(createBackendContext(backendConfig(['TLSv1', 'TLSv1.1', 'TLSv1.2'])))).toBe('TLSv1.1');
  });
});
