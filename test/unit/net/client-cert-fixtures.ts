/**
 * Client certificates for the `ssl_verify_client` tests, made with the openssl CLI: a root CA
 * with two levels of intermediates, a foreign CA, a self-signed client, an expired and a
 * revoked one (with the root's CRL), and names that exercise RFC 2253 printing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pair {
  cert: string;
  key: string;
  /** PEM of the certificate. */
  pem: string;
}

export interface ClientCerts {
  dir: string;
  root: Pair;
  other: Pair;
  int1: Pair;
  int2: Pair;
  /** `/C=DE/O=Example, Inc./CN=alice+UID=42`, from the root, serial 0x0123456789ABCDEF01. */
  alice: Pair;
  /** `/CN=José #1/emailAddress=j@x.test/OU= lead`, from the root, serial 0. */
  jose: Pair;
  /** From the foreign CA. */
  wrong: Pair;
  self: Pair;
  /** Under int1 (one intermediate). */
  depth1: Pair;
  /** Under int2 (two intermediates). */
  depth2: Pair;
  expired: Pair;
  revoked: Pair;
  /** PEM files: int1, and int2 + int1, to send as the client's chain. */
  chain1: string;
  chain2: string;
  /** The root's CRL (revokes `revoked`). */
  crl: string;
  remove(): void;
}

const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n';
const CLIENT_EXT = 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n';

export function makeClientCerts(): ClientCerts {
  const dir = mkdtempSync(join(tmpdir(), 'postern-client-certs-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const pair = (name: string): Pair => ({ cert: file(`${name}.crt`), key: file(`${name}.key`), pem: readFileSync(file(`${name}.crt`), 'latin1') });
  const selfSigned = (name: string, subject: string, ext: string): Pair => {
    writeFileSync(file(`${name}.ext`), ext);
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-days', '30', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-extensions', 'v3', '-config', configFor(name, ext));
    return pair(name);
  };
  const configFor = (name: string, ext: string) => {
    writeFileSync(file(`${name}.cnf`), `[req]\ndistinguished_name=dn\n[dn]\n[v3]\n${ext}`);
    return file(`${name}.cnf`);
  };
  const issue = (name: string, subject: string, issuer: string, serial: string, ext = CLIENT_EXT): Pair => {
    writeFileSync(file(`${name}.ext`), ext);
    openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-utf8', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-set_serial', serial, '-days', '30', '-extfile', `${name}.ext`, '-out', `${name}.crt`);
    return pair(name);
  };

  const root = selfSigned('root', '/CN=Root CA', CA_EXT);
  const other = selfSigned('other', '/CN=Other CA', CA_EXT);
  const self = selfSigned('self', '/CN=self', CLIENT_EXT);
  const int1 = issue('int1', '/CN=Int 1', 'root', '100', CA_EXT);
  const int2 = issue('int2', '/CN=Int 2', 'int1', '101', CA_EXT);
  const alice = issue('alice', '/C=DE/O=Example, Inc./CN=alice+UID=42', 'root', '0x0123456789ABCDEF01');
  const jose = issue('jose', '/CN=José #1/emailAddress=j@x.test/OU= lead', 'root', '0');
  const wrong = issue('wrong', '/CN=wrong', 'other', '7');
  const depth1 = issue('depth1', '/CN=depth1', 'int1', '200');
  const depth2 = issue('depth2', '/CN=depth2', 'int2', '201');

  // `openssl ca` for what `x509 -req` cannot do: fixed past dates, revocation and a CRL.
  writeFileSync(file('index.txt'), '');
  writeFileSync(file('crlnumber'), '01\n');
  writeFileSync(
    file('ca.cnf'),
    [
      '[ca]', 'default_ca=root', '[root]', `dir=${dir}`, 'database=$dir/index.txt', 'new_certs_dir=$dir', 'certificate=$dir/root.crt',
      'private_key=$dir/root.key', 'serial=$dir/serial', 'crlnumber=$dir/crlnumber', 'default_md=sha256', 'default_crl_days=30', 'policy=any',
      'x509_extensions=client', 'unique_subject=no', '[any]', 'commonName=supplied', '[client]', CLIENT_EXT,
    ].join('\n'),
  );
  const signByCa = (name: string, subject: string, serial: string, dates: string[]) => {
    openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', subject, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    writeFileSync(file('serial'), `${serial}\n`);
    openssl('ca', '-batch', '-config', 'ca.cnf', '-notext', '-in', `${name}.csr`, '-out', `${name}.crt`, ...dates);
    return pair(name);
  };
  const expired = signByCa('expired', '/CN=expired', '0A', ['-startdate', '20200101000000Z', '-enddate', '20200201000000Z']);
  const revoked = signByCa('revoked', '/CN=revoked', '0B', ['-days', '30']);
  openssl('ca', '-config', 'ca.cnf', '-revoke', 'revoked.crt');
  openssl('ca', '-config', 'ca.cnf', '-gencrl', '-out', 'root.crl');

  writeFileSync(file('chain1.pem'), int1.pem);
  writeFileSync(file('chain2.pem'), int2.pem + int1.pem);
  return {
    dir,
    root,
    other,
    int1,
    int2,
    alice,
    jose,
    wrong,
    self,
    depth1,
    depth2,
    expired,
    revoked,
    chain1: file('chain1.pem'),
    chain2: file('chain2.pem'),
    crl: file('root.crl'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
