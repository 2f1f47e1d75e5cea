/**
 * Test certificates made with the `openssl` CLI (self-signed RSA 2048 or EC P-256, and a
 * small CA that can issue server/client certificates for ssl_verify_client tests).
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTempDir, run } from './proc.js';
import { requireBinaries } from './require.js';

export interface CertFiles {
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

export interface CertOptions {
  /** Directory to write into (created); default: a new temp dir (caller removes it). */
  dir?: string;
  /** 'rsa' (2048 bits, default) or 'ec' (P-256). */
  type?: 'rsa' | 'ec';
  /** Common name; default 'localhost'. */
  cn?: string;
  /** File name stem; default `${type}`. */
  name?: string;
  days?: number;
}

function keyArgs(type: 'rsa' | 'ec'): string[] {
  return type === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] : ['-newkey', 'rsa:2048'];
}

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
}

async function load(dir: string, certPath: string, keyPath: string): Promise<CertFiles> {
  return {
    dir,
    certPath,
    keyPath,
    certPem: await readFile(certPath, 'utf8'),
    keyPem: await readFile(keyPath, 'utf8'),
  };
}

/** Self-signed certificate + unencrypted key (PEM). */
export async function generateCert(opts: CertOptions = {}): Promise<CertFiles> {
  requireBinaries(['openssl']);
  const type = opts.type ?? 'rsa';
  const dir = opts.dir ?? (await makeTempDir('tls'));
  await mkdir(dir, { recursive: true });
  const name = opts.name ?? type;
  const certPath = path.join(dir, `${name}.crt`);
  const keyPath = path.join(dir, `${name}.key`);
  const cn = opts.cn ?? 'localhost';
  await openssl([
    'req', '-x509', ...keyArgs(type), '-nodes',
    '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=DNS:${cn},IP:127.0.0.1`,
    '-days', String(opts.days ?? 30),
    '-keyout', keyPath, '-out', certPath,
  ]);
  return load(dir, certPath, keyPath);
}

export interface Ca extends CertFiles {
  /** Issues a certificate signed by this CA. */
  issue(opts: { cn: string; name?: string; type?: 'rsa' | 'ec'; client?: boolean; days?: number }): Promise<CertFiles>;
}

/** A throw-away CA (for client-certificate tests: ssl_client_certificate = ca.certPath). */
export async function generateCa(opts: { dir?: string; cn?: string } = {}): Promise<Ca> {
  requireBinaries(['openssl']);
  const dir = opts.dir ?? (await makeTempDir('ca'));
  await mkdir(dir, { recursive: true });
  const certPath = path.join(dir, 'ca.crt');
  const keyPath = path.join(dir, 'ca.key');
  await openssl([
    'req', '-x509', ...keyArgs('rsa'), '-nodes',
    '-subj', `/CN=${opts.cn ?? 'Postern Test CA'}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-days', '30', '-keyout', keyPath, '-out', certPath,
  ]);
  const base = await load(dir, certPath, keyPath);
  let serial = 1;
  return {
    ...base,
    async issue(o) {
      const name = o.name ?? o.cn.replace(/[^A-Za-z0-9.-]/g, '_');
      const key = path.join(dir, `${name}.key`);
      const csr = path.join(dir, `${name}.csr`);
      const crt = path.join(dir, `${name}.crt`);
      const ext = path.join(dir, `${name}.ext`);
      const { writeFile } = await import('node:fs/promises');
      await writeFile(
        ext,
        o.client
          ? 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n'
          : `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${o.cn},IP:127.0.0.1\n`,
      );
      await openssl(['req', '-new', ...keyArgs(o.type ?? 'rsa'), '-nodes', '-subj', `/CN=${o.cn}`, '-keyout', key, '-out', csr]);
      await openssl([
        'x509', '-req', '-in', csr, '-CA', certPath, '-CAkey', keyPath,
        '-set_serial', String(serial++), '-days', String(o.days ?? 30), '-extfile', ext, '-out', crt,
      ]);
      return load(dir, crt, key);
    },
  };
}
