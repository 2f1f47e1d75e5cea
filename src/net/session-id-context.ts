import { createHash, X509Certificate } from 'node:crypto';

/**
 * The TLS session id context of one server{}: a session (by id or by ticket) only resumes where
 * the context is the same. Like nginx (which hashes "MAIL", its certificates and its client CA
 * names), it changes with the server's certificates and with the CAs it verifies clients
 * against, so a session established where no client certificate was needed can never resume
 * where one is (the CVE-2025-23419 lesson). The verify mode is part of it too.
 * OpenSSL allows 32 bytes; Node passes the string's bytes, so 32 hex digits of SHA-1.
 */
export function sessionIdContext(certificatePems: readonly Buffer[], clientCaPems: readonly Buffer[], verifyClient: string): string {
  const hash = createHash('sha1').update('MAIL');
  for (const pem of certificatePems) hash.update(leafDigest(pem));
  if (verifyClient !== 'off') {
    hash.update(`verify:${verifyClient}`);
    for (const pem of clientCaPems) for (const der of pemBlocks(pem)) hash.update(der);
  }
  return hash.digest('hex').slice(0, 32);
}

/** SHA-1 of the first certificate in a PEM file (the served one; the rest is its chain). */
function leafDigest(pem: Buffer): Buffer {
  try {
    return createHash('sha1').update(new X509Certificate(pem).raw).digest();
  } catch {
    // Not parseable here: loading the context reports it; hash the bytes so the result stays stable.
    return createHash('sha1').update(pem).digest();
  }
}

/** The DER bytes of every certificate in a PEM bundle. */
function pemBlocks(pem: Buffer): Buffer[] {
  const text = pem.toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => Buffer.from(block.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64'));
}
