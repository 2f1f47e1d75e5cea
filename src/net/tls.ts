import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import type { SslConfig } from '../config/types.js';
import { sessionIdContext } from './session-id-context.js';

const NODE_TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
type NodeTlsVersion = (typeof NODE_TLS_VERSIONS)[number];

export class TlsSetupError extends Error {}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new TlsSetupError(`cannot load ${what} "${path}": ${code}`);
  }
}

/** `ssl_protocols` as Node's version range: the lowest and highest listed version Node can speak. */
export function versionRange(protocols: readonly string[]): { minVersion: NodeTlsVersion; maxVersion: NodeTlsVersion } {
  const usable = NODE_TLS_VERSIONS.filter((v) => protocols.includes(v));
  if (usable.length === 0) throw new TlsSetupError(`no TLS protocol Node.js supports in "ssl_protocols ${protocols.join(' ')}"`);
  return { minVersion: usable[0]!, maxVersion: usable[usable.length - 1]! };
}

/**
 * One server's TLS settings as Node secure-context options. nginx's `ssl_prefer_server_ciphers
 * off` default is the opposite of Node's, hence the explicit `honorCipherOrder`.
 */
export function serverContextOptions(ssl: SslConfig): tls.SecureContextOptions {
  const cert = ssl.certificates.map((file) => readPem(file, 'certificate'));
  const caFiles = [ssl.clientCertificate, ssl.trustedCertificate].filter((file): file is string => file !== undefined);
  return {
    cert,
    key: ssl.certificateKeys.map((file) => readPem(file, 'certificate key')),
    ciphers: ssl.ciphers,
    honorCipherOrder: ssl.preferServerCiphers,
    ...versionRange(ssl.protocols),
    sessionIdContext: sessionIdContext(cert, caFiles.map((file) => readPem(file, 'client certificate')), ssl.verifyClient),
  };
}

/** Loads the server's certificates and keys once, to report problems before serving. */
export function checkServerContext(ssl: SslConfig): void {
  try {
    tls.createSecureContext(serverContextOptions(ssl));
  } catch (error) {
    if (error instanceof TlsSetupError) throw error;
    throw new TlsSetupError(`cannot use certificate "${ssl.certificates.join('", "')}": ${(error as Error).message}`);
  }
}
