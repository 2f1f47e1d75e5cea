import { constants } from 'node:crypto';

/** The TLS versions Node's OpenSSL can speak, oldest first (SSLv2/SSLv3 are gone). */
export const NODE_TLS_VERSIONS = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'] as const;
export type NodeTlsVersion = (typeof NODE_TLS_VERSIONS)[number];

export class TlsSetupError extends Error {}

/** The SSL_OP_NO_* bit that switches one version off inside the min..max range. */
const NO_VERSION: Record<NodeTlsVersion, number> = {
  TLSv1: constants.SSL_OP_NO_TLSv1,
  'TLSv1.1': constants.SSL_OP_NO_TLSv1_1,
  'TLSv1.2': constants.SSL_OP_NO_TLSv1_2,
  'TLSv1.3': constants.SSL_OP_NO_TLSv1_3,
};

/** A protocol list as Node expresses it: a min..max range, and the holes inside it switched off. */
export interface TlsVersions {
  minVersion: NodeTlsVersion;
  maxVersion: NodeTlsVersion;
  /** SSL_OP_NO_* bits of the versions inside the range that are not listed (0 when none). */
  secureOptions: number;
}

/**
 * The one rule for `ssl_protocols` and `postern_proxy_ssl_protocols`: exactly the listed versions
 * Node can speak, so `TLSv1 TLSv1.2` never lets TLSv1.1 in. Throws when none is left.
 */
export function tlsVersions(enabled: readonly string[], describe: () => string): TlsVersions {
  const usable = NODE_TLS_VERSIONS.filter((v) => enabled.includes(v));
  if (usable.length === 0) throw new TlsSetupError(describe());
  const minVersion = usable[0]!;
  const maxVersion = usable[usable.length - 1]!;
  let secureOptions = 0;
  for (let i = NODE_TLS_VERSIONS.indexOf(minVersion); i <= NODE_TLS_VERSIONS.indexOf(maxVersion); i++) {
    if (!usable.includes(NODE_TLS_VERSIONS[i]!)) secureOptions |= NO_VERSION[NODE_TLS_VERSIONS[i]!];
  }
  return { minVersion, maxVersion, secureOptions };
}
