import { VERSION } from '../version.js';

/**
 * `postern -V`, nginx -V's facts for Postern (to stderr, as nginx writes them): the version, the
 * Node.js that runs it and the OpenSSL that Node.js was built with, TLS SNI (nginx's `configure
 * arguments` have no counterpart).
 */
export function printBuildInfo(): number {
  process.stderr.write(
    `postern version: postern/${VERSION}\n` +
      `running on Node.js ${process.version} (${process.platform}-${process.arch})\n` +
      `built with OpenSSL ${process.versions.openssl}\n` +
      'TLS SNI support enabled\n',
  );
  return 0;
}
