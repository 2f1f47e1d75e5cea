
/** The TLS versions Node's OpenSSL can speak, oldest first (SSLv2/SSLv3 are gone). */
export const NODE_TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type NodeTlsVersion = (typeof NODE_TLS_VERSIONS)[number];

export class TlsSetupError extends Error {}

/** `ssl_protocols` as Node's version range: the lowest and highest listed version Node can speak. */
export function versionRange(protocols: readonly string[]): { minVersion: NodeTlsVersion; maxVersion: NodeTlsVersion } {
  const usable = NODE_TLS_VERSIONS.filter((v) => protocols.includes(v));
  if (usable.length === 0) throw new TlsSetupError(`no TLS protocol Node.js supports in "ssl_protocols ${protocols.join(' ')}"`);
  return { minVersion: usable[0]!, maxVersion: usable[usable.length - 1]! };
}
