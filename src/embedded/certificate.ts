import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface CertificateFiles {
  certificate: string;
  key: string;
}

/**
 * A self-signed certificate for the embedded default, made once into the state folder and
 * reused on later starts (so that a client that pinned it keeps working).
 */
export async function ensureSelfSignedCertificate(stateDir: string, commonName = 'localhost'): Promise<CertificateFiles> {
  const files = { certificate: join(stateDir, 'demo-cert.pem'), key: join(stateDir, 'demo-key.pem') };
  if (existsSync(files.certificate) && existsSync(files.key)) return files;
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: commonName }, { type: 7, ip: '127.0.0.1' }] }],
  });
  writeFileSync(files.key, pems.private, { mode: 0o600 });
  writeFileSync(files.certificate, pems.cert);
  return files;
}
