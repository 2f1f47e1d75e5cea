import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Socket } from 'node:net';
import type { SslConfig } from '../config/types.js';

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
 * One server's TLS settings as a Node secure context. nginx's `ssl_prefer_server_ciphers off`
 * default is the opposite of Node's, hence the explicit `honorCipherOrder`.
 */
export function createServerSecureContext(ssl: SslConfig): tls.SecureContext {
  const certs = ssl.certificates.map((file) => readPem(file, 'certificate'));
  const keys = ssl.certificateKeys.map((file) => readPem(file, 'certificate key'));
  try {
    return tls.createSecureContext({
      cert: certs,
      key: keys,
      ciphers: ssl.ciphers,
      honorCipherOrder: ssl.preferServerCiphers,
      ...versionRange(ssl.protocols),
      // nginx uses a fixed session id context for mail, so sessions resume across connections.
      sessionIdContext: 'MAIL',
    });
  } catch (error) {
    throw new TlsSetupError(`cannot use certificate "${ssl.certificates.join('", "')}": ${(error as Error).message}`);
  }
}

/**
 * Start a server-side TLS handshake over an accepted socket, for `listen ... ssl` and after an
 * accepted STARTTLS/STLS. The caller must have paused the socket and dropped its own `data`
 * listeners; bytes still buffered in the socket go into the handshake, as with nginx.
 */
export function serverHandshake(socket: Socket, context: tls.SecureContext): tls.TLSSocket {
  return new tls.TLSSocket(socket, { isServer: true, secureContext: context, requestCert: false });
}
