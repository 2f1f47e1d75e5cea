/**
 * src/net/secure-context.ts against certificates made by the openssl CLI: what each ssl_*
 * directive becomes in Node's secure-context options, real handshakes for the parts clients see
 * (certificate type, chain), and nginx's error texts at the directive's FILE:LINE.
 */
import { constants } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import type { ServerConfig } from '../../../src/config/types.js';
import { planSecureContext, secureContextOptions } from '../../../src/net/secure-context.js';
import { checkSsl } from '../../../src/net/tls-contexts.js';
import { generateCa, generateCert, makeTempDir, removeDir, run, type Ca, type CertFiles } from '../../e2e/harness/index.js';

const FILE = '/etc/postern/tls.conf';
let dir = '';
let rsa: CertFiles;
let ec: CertFiles;
let ca: Ca;
let leaf: CertFiles;
const path = (name: string) => join(dir, name);

async function openssl(args: string[]): Promise<void> {
  const r = await run('openssl', args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

beforeAll(async () => {
  dir = await makeTempDir('secure-context');
  rsa = await generateCert({ dir, type: 'rsa', name: 'rsa', cn: 'rsa.test' });
  ec = await generateCert({ dir, type: 'ec', name: 'ec', cn: 'ec.test' });
  ca = await generateCa({ dir: join(dir, 'ca') });
  leaf = await ca.issue({ cn: 'leaf.test' });
  writeFileSync(path('chain.pem'), leaf.certPem + ca.certPem);
  writeFileSync(path('combined.pem'), rsa.keyPem + rsa.certPem);
  await openssl(['pkey', '-in', rsa.keyPath, '-aes256', '-passout', 'pass:right horse', '-out', path('encrypted.key')]);
  writeFileSync(path('passwords'), 'wrong\r\n\nright horse\n');
  writeFileSync(path('wrong-passwords'), 'wrong\nworse\n');
  // `x509 -days -1` (not `req`) accepts a validity that ended before it began: an expired certificate.
  await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=old', '-keyout', path('old.key'), '-out', path('old.csr')]);
  await openssl(['x509', '-req', '-in', path('old.csr'), '-signkey', path('old.key'), '-days', '-1', '-out', path('old.crt')]);
  await openssl(['dhparam', '-dsaparam', '-out', path('dh.pem'), '2048']);
  await openssl(['req', '-new', '-x509', '-key', ca.keyPath, '-subj', '/CN=x', '-days', '1', '-out', path('unused.crt')]);
  writeFileSync(path('ca.cnf'), `[ca]\ndefault_ca=d\n[d]\ndatabase=${path('index.txt')}\ndefault_md=sha256\ndefault_crl_days=1\n`);
  writeFileSync(path('index.txt'), '');
  await openssl(['ca', '-config', path('ca.cnf'), '-gencrl', '-keyfile', ca.keyPath, '-cert', ca.certPath, '-out', path('crl.pem')]);
  writeFileSync(path('not-pem.txt'), 'hello\n');
  writeFileSync(path('ticket48.key'), Buffer.alloc(48, 1));
  writeFileSync(path('ticket80.key'), Buffer.alloc(80, 1));
  writeFileSync(path('ticket47.key'), Buffer.alloc(47, 1));
});

afterAll(async () => {
  if (dir) await removeDir(dir);
});

/** One implicit-TLS IMAP server with the certificate pair(s) and `body` (each directive on its own line from line 3). */
function server(body: string, certs = `ssl_certificate ${rsa.certPath};\nssl_certificate_key ${rsa.keyPath};`): ServerConfig {
  const text = `mail {\nauth_http 127.0.0.1:9;\n${body}\n${certs}\nserver { listen 127.0.0.1:9993 ssl; protocol imap; }\n}\n`;
  return parseConfigText(text, FILE, { baseDir: dir }).servers[0]!;
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error');
}

const at = (line: number) => `in ${FILE}:${line}`;

/** Serves `options` on a loopback port and returns what a client with `client` options sees. */
async function handshake(options: tls.SecureContextOptions, client: tls.ConnectionOptions): Promise<{ cn: string; chain: number; cipher: string; protocol: string }> {
  const srv = tls.createServer(options, (socket) => socket.end());
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  try {
    return await new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...client }, () => {
        let cert = socket.getPeerCertificate(true);
        const cn = String(cert.subject.CN);
        let chain = 1;
        while (cert.issuerCertificate && cert.issuerCertificate !== cert && chain < 10) {
          cert = cert.issuerCertificate;
          chain++;
        }
        resolve({ cn, chain, cipher: socket.getCipher().name, protocol: String(socket.getProtocol()) });
        socket.destroy();
      });
      socket.on('error', reject);
    });
  } finally {
    srv.close();
  }
}

describe('certificates and keys', () => {
  it('an RSA and an ECDSA pair are both served, chosen by the client\'s cipher', async () => {
    const s = server('', `ssl_certificate ${rsa.certPath};\nssl_certificate_key ${rsa.keyPath};\nssl_certificate ${ec.certPath};\nssl_certificate_key ${ec.keyPath};`);
    const options = secureContextOptions(s.ssl);
    expect(options.cert).toHaveLength(2);
    expect(options.key).toHaveLength(2);
    const tls12 = { maxVersion: 'TLSv1.2' as const };
    expect((await handshake(options, { ...tls12, ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' })).cn).toBe('ec.test');
    expect((await handshake(options, { ...tls12, ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })).cn).toBe('rsa.test');
  });

  it('the chain in the certificate file is served after the certificate', async () => {
    const s = server('', `ssl_certificate ${path('chain.pem')};\nssl_certificate_key ${leaf.keyPath};`);
    const seen = await handshake(secureContextOptions(s.ssl), {});
    expect(seen).toMatchObject({ cn: 'leaf.test', chain: 2 });
  });

  it('the key may be in the certificate file', async () => {
    const s = server('', `ssl_certificate ${path('combined.pem')};\nssl_certificate_key ${path('combined.pem')};`);
    expect((await handshake(secureContextOptions(s.ssl), {})).cn).toBe('rsa.test');
  });

  it('an encrypted key loads with the first line of ssl_password_file that decrypts it', async () => {
    const s = server(`ssl_password_file ${path('passwords')};`, `ssl_certificate ${rsa.certPath};\nssl_certificate_key ${path('encrypted.key')};`);
    expect((await handshake(secureContextOptions(s.ssl), {})).cn).toBe('rsa.test');
    expect(checkSsl(s)).toEqual([]);
  });

  it('an encrypted key without a password file, or with no right line, is an error that names no secret', () => {
    const certs = `ssl_certificate ${rsa.certPath};\nssl_certificate_key ${path('encrypted.key')};`;
    expect(errorOf(() => checkSsl(server('', certs)))).toBe(
      `cannot load certificate key "${path('encrypted.key')}": PEM_read_bio_PrivateKey() failed (the key is encrypted and there is no "ssl_password_file") ${at(5)}`,
    );
    const wrong = errorOf(() => checkSsl(server(`ssl_password_file ${path('wrong-passwords')};`, certs)));
    expect(wrong).toBe(`cannot load certificate key "${path('encrypted.key')}": PEM_read_bio_PrivateKey() failed (no line of "ssl_password_file" decrypts it) ${at(5)}`);
    expect(wrong).not.toMatch(/wrong|worse/);
  });

  it('a missing password file is nginx\'s open() error at the directive', () => {
    expect(errorOf(() => checkSsl(server(`ssl_password_file ${path('none')};`)))).toBe(
      `open() "${path('none')}" failed (2: No such file or directory) ${at(3)}`,
    );
  });

  it('a key that does not belong to the certificate', () => {
    expect(errorOf(() => checkSsl(server('', `ssl_certificate ${rsa.certPath};\nssl_certificate_key ${leaf.keyPath};`)))).toBe(
      `SSL_CTX_use_PrivateKey("${leaf.keyPath}") failed (key values mismatch) ${at(5)}`,
    );
  });

  it('missing and unreadable certificate and key files', () => {
    expect(errorOf(() => checkSsl(server('', `ssl_certificate ${path('none.crt')};\nssl_certificate_key ${rsa.keyPath};`)))).toBe(
      `cannot load certificate "${path('none.crt')}": BIO_new_file() failed (2: No such file or directory) ${at(4)}`,
    );
    expect(errorOf(() => checkSsl(server('', `ssl_certificate ${path('not-pem.txt')};\nssl_certificate_key ${rsa.keyPath};`)))).toBe(
      `cannot load certificate "${path('not-pem.txt')}": PEM_read_bio_X509_AUX() failed (no certificate found) ${at(4)}`,
    );
    expect(errorOf(() => checkSsl(server('', `ssl_certificate ${rsa.certPath};\nssl_certificate_key ${path('none.key')};`)))).toMatch(
      new RegExp(`^cannot load certificate key "${path('none.key')}": BIO_new_file\\(\\) failed \\(2: No such file or directory\\) ${at(5)}$`),
    );
    expect(errorOf(() => checkSsl(server('', `ssl_certificate ${rsa.certPath};\nssl_certificate_key engine:pkcs11:id;`)))).toBe(
      `cannot load certificate key "engine:pkcs11:id": loading "engine:..." certificate keys is not supported ${at(5)}`,
    );
  });

  it('an expired certificate loads (as in nginx) with a warning', () => {
    const s = server('', `ssl_certificate ${path('old.crt')};\nssl_certificate_key ${path('old.key')};`);
    const warnings = checkSsl(s);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^certificate "${path('old.crt')}" expired on `));
  });
});

describe('protocols and ciphers', () => {
  it('ssl_protocols is a min..max range with holes punched by SSL_OP_NO_*', () => {
    expect(secureContextOptions(server('ssl_protocols TLSv1.2;').ssl)).toMatchObject({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    const holes = secureContextOptions(server('ssl_protocols TLSv1 TLSv1.2 TLSv1.3;').ssl);
    expect(holes).toMatchObject({ minVersion: 'TLSv1', maxVersion: 'TLSv1.3' });
    expect(holes.secureOptions! & constants.SSL_OP_NO_TLSv1_1).toBe(constants.SSL_OP_NO_TLSv1_1);
    expect(holes.secureOptions! & constants.SSL_OP_NO_TLSv1_2).toBe(0);
  });

  it('TLS versions outside the list are refused in a real handshake', async () => {
    const options = secureContextOptions(server('ssl_protocols TLSv1.3;').ssl);
    expect((await handshake(options, {})).protocol).toBe('TLSv1.3');
    await expect(handshake(options, { maxVersion: 'TLSv1.2' })).rejects.toThrow();
  });

  it('SSLv2 and SSLv3 cannot be served: an error, not a silent drop', () => {
    expect(errorOf(() => checkSsl(server('ssl_protocols SSLv3 TLSv1.2;')))).toBe(
      `"ssl_protocols" lists SSLv3, which Node.js's OpenSSL cannot speak; remove it ${at(3)}`,
    );
  });

  it('TLSv1 and TLSv1.1 without @SECLEVEL=0 warn (OpenSSL 3 refuses them, in nginx as well)', () => {
    expect(checkSsl(server('ssl_protocols TLSv1 TLSv1.2;'))).toEqual([
      // ssl_ciphers is not written: the warning points at ssl_protocols.
      `TLSv1 and TLSv1.1 handshakes fail with OpenSSL 3 (in nginx too) unless the cipher list allows them with "@SECLEVEL=0" in ${FILE}:3`,
    ]);
    expect(checkSsl(server('ssl_protocols TLSv1 TLSv1.2;\nssl_ciphers HIGH:@SECLEVEL=0;'))).toEqual([]);
  });

  it('cipher lists OpenSSL rejects are nginx\'s SSL_CTX_set_cipher_list error', () => {
    expect(errorOf(() => checkSsl(server('ssl_ciphers FOO;')))).toBe(`SSL_CTX_set_cipher_list("FOO") failed (no cipher match) ${at(3)}`);
    // TLS 1.3 names are not part of OpenSSL's cipher list (nginx leaves TLS 1.3 suites alone).
    expect(errorOf(() => checkSsl(server('ssl_ciphers TLS_AES_128_GCM_SHA256;')))).toBe(
      `SSL_CTX_set_cipher_list("TLS_AES_128_GCM_SHA256") failed (no cipher match) ${at(3)}`,
    );
    expect(secureContextOptions(server('ssl_ciphers TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256;').ssl).ciphers).toBe('ECDHE-RSA-AES128-GCM-SHA256');
  });

  it('ssl_conf_command Ciphersuites sets the TLS 1.3 suites; an empty value leaves no TLS 1.3', async () => {
    const s = server('ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;');
    const options = secureContextOptions(s.ssl);
    expect(options.ciphers).toBe('HIGH:!aNULL:!MD5:TLS_CHACHA20_POLY1305_SHA256');
    expect((await handshake(options, {})).cipher).toBe('TLS_CHACHA20_POLY1305_SHA256');
    expect(secureContextOptions(server('ssl_conf_command Ciphersuites "";').ssl).maxVersion).toBe('TLSv1.2');
  });

  it('ssl_prefer_server_ciphers is honorCipherOrder (off by default, unlike Node), and Options can flip it', async () => {
    expect(secureContextOptions(server('').ssl).honorCipherOrder).toBe(false);
    const on = server('ssl_protocols TLSv1.2;\nssl_prefer_server_ciphers on;\nssl_ciphers ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256;');
    const client = { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384' };
    expect((await handshake(secureContextOptions(on.ssl), client)).cipher).toBe('ECDHE-RSA-AES256-GCM-SHA384');
    const flipped = server('ssl_protocols TLSv1.2;\nssl_prefer_server_ciphers on;\nssl_conf_command Options -ServerPreference;\nssl_ciphers ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256;');
    expect((await handshake(secureContextOptions(flipped.ssl), client)).cipher).toBe('ECDHE-RSA-AES128-GCM-SHA256');
  });
});

describe('DH parameters, curves, client certificates', () => {
  it('ssl_dhparam must hold DH parameters (Node would silently ignore anything else)', () => {
    expect(secureContextOptions(server(`ssl_dhparam ${path('dh.pem')};`).ssl).dhparam).toMatch(/BEGIN X9.42 DH PARAMETERS/);
    expect(errorOf(() => checkSsl(server(`ssl_dhparam ${rsa.certPath};`)))).toBe(
      `PEM_read_bio_DHparams("${rsa.certPath}") failed (no start line: Expecting: DH PARAMETERS) ${at(3)}`,
    );
    expect(errorOf(() => checkSsl(server(`ssl_dhparam ${path('none.pem')};`)))).toBe(
      `BIO_new_file("${path('none.pem')}") failed (2: No such file or directory) ${at(3)}`,
    );
  });

  it('ssl_ecdh_curve is checked by OpenSSL', () => {
    expect(secureContextOptions(server('ssl_ecdh_curve X25519:prime256v1;').ssl).ecdhCurve).toBe('X25519:prime256v1');
    expect(errorOf(() => checkSsl(server('ssl_ecdh_curve foo;')))).toMatch(new RegExp(`^SSL_CTX_set1_curves_list\\("foo"\\) failed \\(.+\\) ${at(3)}$`));
  });

  it('client and trusted CAs become `ca` only when clients are verified; no CA file means no CA at all', () => {
    const off = secureContextOptions(server(`ssl_client_certificate ${path('none.pem')};`).ssl);
    expect(off.ca).toBeUndefined();
    const on = secureContextOptions(server(`ssl_verify_client on;\nssl_client_certificate ${ca.certPath};\nssl_trusted_certificate ${rsa.certPath};`).ssl);
    expect(on.ca).toHaveLength(2);
    expect(secureContextOptions(server('ssl_verify_client optional_no_ca;').ssl).ca).toEqual([]);
    expect(errorOf(() => checkSsl(server(`ssl_verify_client on;\nssl_client_certificate ${path('none.pem')};`)))).toBe(
      `SSL_CTX_load_verify_locations("${path('none.pem')}") failed (2: No such file or directory) ${at(4)}`,
    );
  });

  it('ssl_crl must hold CRLs (or certificates, which OpenSSL also takes from it)', () => {
    const good = secureContextOptions(server(`ssl_verify_client on;\nssl_client_certificate ${ca.certPath};\nssl_crl ${path('crl.pem')};`).ssl);
    expect(good.crl).toMatch(/BEGIN X509 CRL/);
    expect(secureContextOptions(server(`ssl_verify_client on;\nssl_client_certificate ${ca.certPath};\nssl_crl ${rsa.certPath};`).ssl).crl).toBeUndefined();
    expect(errorOf(() => checkSsl(server(`ssl_verify_client on;\nssl_client_certificate ${ca.certPath};\nssl_crl ${path('not-pem.txt')};`)))).toBe(
      `X509_LOOKUP_load_file("${path('not-pem.txt')}") failed (no certificate or crl found) ${at(5)}`,
    );
  });
});

describe('sessions', () => {
  it('timeout in seconds, tickets off as SSL_OP_NO_TICKET, and a session id context per certificate', () => {
    const a = secureContextOptions(server('ssl_session_timeout 10m;\nssl_session_tickets off;').ssl);
    expect(a.sessionTimeout).toBe(600);
    expect(a.secureOptions! & constants.SSL_OP_NO_TICKET).toBe(constants.SSL_OP_NO_TICKET);
    expect(a.sessionIdContext).toMatch(/^[0-9a-f]{32}$/);
    const b = secureContextOptions(server('', `ssl_certificate ${ec.certPath};\nssl_certificate_key ${ec.keyPath};`).ssl);
    expect(b.sessionIdContext).not.toBe(a.sessionIdContext);
    expect((b.secureOptions ?? 0) & constants.SSL_OP_NO_TICKET).toBe(0);
  });

  it('ssl_conf_command Options SessionTicket re-enables tickets behind ssl_session_tickets off', () => {
    const s = server('ssl_session_tickets off;\nssl_conf_command Options SessionTicket;');
    expect((secureContextOptions(s.ssl).secureOptions ?? 0) & constants.SSL_OP_NO_TICKET).toBe(0);
  });

  it('ticket key files must exist and hold 48 or 80 bytes', () => {
    expect(checkSsl(server(`ssl_session_ticket_key ${path('ticket48.key')};`))).toEqual([]);
    // 80-byte keys are taken too (tickets then use an AES-128 key derived from the file: src/net/ticket-keys.ts).
    expect(checkSsl(server(`ssl_session_ticket_key ${path('ticket48.key')};\nssl_session_ticket_key ${path('ticket80.key')};`))).toEqual([]);
    expect(errorOf(() => checkSsl(server(`ssl_session_ticket_key ${path('ticket47.key')};`)))).toBe(`"${path('ticket47.key')}" must be 48 or 80 bytes ${at(3)}`);
    expect(errorOf(() => checkSsl(server(`ssl_session_ticket_key ${path('none.key')};`)))).toBe(
      `open() "${path('none.key')}" failed (2: No such file or directory) ${at(3)}`,
    );
  });
});

describe('ssl_conf_command', () => {
  it('unknown command names and option flags are nginx\'s SSL_CONF_cmd errors', () => {
    expect(errorOf(() => checkSsl(server('ssl_conf_command Foo bar;')))).toBe(`SSL_CONF_cmd("Foo", "bar") failed (unknown cmd name) ${at(3)}`);
    expect(errorOf(() => checkSsl(server('ssl_conf_command Options NoSuch;')))).toBe(`SSL_CONF_cmd("Options", "NoSuch") failed (bad value) ${at(3)}`);
    expect(errorOf(() => checkSsl(server('ssl_conf_command MinProtocol TLSv9;')))).toBe(`SSL_CONF_cmd("MinProtocol", "TLSv9") failed (bad value) ${at(3)}`);
  });

  it('commands without a Node.js equivalent are refused at their line', () => {
    expect(errorOf(() => checkSsl(server('ssl_conf_command VerifyMode Request;')))).toBe(
      `"ssl_conf_command VerifyMode" is not supported (Node.js has no equivalent) ${at(3)}`,
    );
    expect(errorOf(() => checkSsl(server('ssl_conf_command Options KTLS;')))).toBe(
      `"ssl_conf_command Options KTLS" is not supported (Node.js has no equivalent) ${at(3)}`,
    );
  });

  it('MinProtocol/MaxProtocol narrow ssl_protocols; Groups sets the curves; PrioritizeChaCha is an option bit', () => {
    const options = secureContextOptions(
      server('ssl_protocols TLSv1.2 TLSv1.3;\nssl_conf_command MinProtocol TLSv1.3;\nssl_conf_command Groups X25519;\nssl_conf_command Options PrioritizeChaCha;').ssl,
    );
    expect(options).toMatchObject({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ecdhCurve: 'X25519' });
    expect(options.secureOptions! & constants.SSL_OP_PRIORITIZE_CHACHA).toBe(constants.SSL_OP_PRIORITIZE_CHACHA);
  });

  it('Certificate and PrivateKey replace the configured pair of the same type (nginx-tests mail_ssl_conf_command.t)', async () => {
    const s = server(`ssl_conf_command Certificate ${ec.certPath};\nssl_conf_command PrivateKey ${ec.keyPath};\nssl_conf_command Certificate ${leaf.certPath};\nssl_conf_command PrivateKey ${leaf.keyPath};`);
    const options = secureContextOptions(s.ssl);
    expect(options.cert).toHaveLength(2);
    expect((await handshake(options, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })).cn).toBe('leaf.test');
  });

  it('plans carry warnings separately from the options', () => {
    const plan = planSecureContext(server('').ssl);
    expect(plan.warnings).toEqual([]);
    expect(plan.options.minVersion).toBe('TLSv1.2');
  });
});
