/**
 * Run the reference `nginx -t` (nginx 1.22.1 with the mail module) on the same files and check
 * that Postern reports the same first error. nginx is the oracle here: without it, or with
 * another version, the file fails (never skips) and says what to install (requireBinaries).
 * The unit tests in errors.test.ts carry the expected texts on their own.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../src/config/index.js';
import { checkSsl } from '../../../src/net/tls-contexts.js';
import { requireBinaries } from '../../e2e/harness/require.js';
import { groups, verifyClientCases, type Case } from './error-cases.js';
import { errorOf } from './helpers.js';

const { nginx: NGINX, 'nginx-mail': MODULE, openssl: OPENSSL } = requireBinaries(['nginx', 'openssl']) as { nginx: string; 'nginx-mail': string; openssl: string };

/** Cases whose message is Postern's own, or where nginx 1.22 words it differently. */
const DIFFERENT = new Set([
  'skipped block without {', // the header already has an events block
  'no mail block',
  'empty file',
  'https',
  'no port',
  'no port for IPv6',
  'port range',
  'unix socket',
  'unknown parameter', // 1.22: `the invalid "X" parameter`; current nginx: `invalid parameter "X"`
  'ipv6only other',
  'multipath',
  'proxy_protocol value', // 1.22.1 knows only on|off: `invalid value "maybe" in "proxy_protocol" directive, it must be "on" or "off"`; 1.31.4 adds v2
]);

const dir = mkdtempSync(join(tmpdir(), 'postern-nginx-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
/** Writes the case with nginx's required lines on the same first line, so line numbers match. */
function write(text: string): string {
  const file = join(dir, `case-${counter++}.conf`);
  const header = `load_module ${MODULE}; pid ${dir}/nginx.pid; error_log ${dir}/error.log; events { } `;
  writeFileSync(file, header + text);
  return file;
}

function nginxError(file: string): string | null {
  const run = spawnSync(NGINX, ['-t', '-q', '-p', dir, '-e', `${dir}/error.log`, '-c', file], { encoding: 'utf8' });
  const emerg = run.stderr.split('\n').find((l) => l.startsWith('nginx: [emerg] '));
  return emerg ? emerg.slice('nginx: [emerg] '.length) : null;
}

function posternError(file: string): string | null {
  try {
    loadConfigFile(file);
    return null;
  } catch {
    return errorOf(() => loadConfigFile(file));
  }
}

const cases: Case[] = Object.entries(groups)
  .filter(([group]) => group !== 'notYet')
  .flatMap(([, list]) => list)
  .filter(([name]) => !DIFFERENT.has(name));

describe('same first error as nginx -t (nginx 1.22.1)', () => {
  it.each(cases)('%s', (_name, text) => {
    const file = write(text);
    expect(posternError(file)).toBe(nginxError(file));
  });

  it.each([
    ['a bare mail block', 'mail { auth_http 127.0.0.1:9000; server { listen 127.0.0.1:18110; protocol pop3; } }'],
    ['inheritance and lists', 'mail { auth_http 127.0.0.1; pop3_auth plain apop; pop3_auth cram-md5; server { listen 18110; protocol pop3; pop3_capabilities TOP; } }'],
    ['PROXY protocol and realip', 'mail { auth_http 127.0.0.1:9000; set_real_ip_from 127.0.0.1; set_real_ip_from 10.0.0.0/8; set_real_ip_from ::1; set_real_ip_from unix:; proxy_protocol on; server { listen 127.0.0.1:18110 proxy_protocol; protocol pop3; set_real_ip_from 192.0.2.0/24; proxy_protocol off; } }'],
    ['quoted values', `mail { auth_http "127.0.0.1:9000/a b"; auth_http_header 'X-A' "a\\"b"; server { listen 18143; protocol imap; timeout "1m 30s"; } }`],
  ])('accepts %s as nginx does', (_name, text) => {
    const file = write(text);
    expect(nginxError(file)).toBeNull();
    expect(posternError(file)).toBeNull();
  });
});

/**
 * nginx checks files while merging and words OpenSSL's failures as `FUNCTION("file") failed
 * (SSL: error:...)`, mostly without FILE:LINE. Postern's `-t` gives the same text up to the
 * parenthesis, then its own reason, and always the directive's FILE:LINE: compared up to there.
 */
const upToReason = (message: string): string => message.replace(/ in \/\S+:\d+$/, '').replace(/ failed \(.*$/, ' failed');

function posternCheck(file: string): string | null {
  try {
    const config = loadConfigFile(file);
    for (const server of config.servers) {
      if (server.sslOn || server.starttls !== 'off' || server.listens.some((l) => l.ssl)) checkSsl(server);
    }
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('same first error as nginx -t for TLS servers and their files (nginx 1.22.1)', () => {
  const files = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => {
    const r = spawnSync(OPENSSL, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
  };
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=a', '-days', '2', '-keyout', files('a.key'), '-out', files('a.crt'));
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=b', '-days', '2', '-keyout', files('b.key'), '-out', files('b.crt'));
  openssl('pkey', '-in', files('a.key'), '-aes256', '-passout', 'pass:secret', '-out', files('a-encrypted.key'));
  writeFileSync(files('wrong-passwords'), 'nope\n');
  writeFileSync(files('text.txt'), 'hello\n');
  writeFileSync(files('ticket47.key'), Buffer.alloc(47));
  writeFileSync(files('combined.pem'), readFileSync(files('a.key'), 'utf8') + readFileSync(files('a.crt'), 'utf8'));
  const server = (directives: string, certs = `ssl_certificate ${files('a.crt')}; ssl_certificate_key ${files('a.key')};`) =>
    `mail { auth_http 127.0.0.1:9; ${certs}\n ${directives}\n server { listen 127.0.0.1:18993 ssl; protocol imap; } }`;

  const errors: Array<[string, () => string]> = [
    ['certificate file missing', () => server('', `ssl_certificate ${files('none.crt')}; ssl_certificate_key ${files('a.key')};`)],
    ['certificate file not PEM', () => server('', `ssl_certificate ${files('text.txt')}; ssl_certificate_key ${files('a.key')};`)],
    ['key file missing', () => server('', `ssl_certificate ${files('a.crt')}; ssl_certificate_key ${files('none.key')};`)],
    ['key of another certificate', () => server('', `ssl_certificate ${files('a.crt')}; ssl_certificate_key ${files('b.key')};`)],
    ['encrypted key, no line of the password file fits', () => server(`ssl_password_file ${files('wrong-passwords')};`, `ssl_certificate ${files('a.crt')}; ssl_certificate_key ${files('a-encrypted.key')};`)],
    ['password file missing', () => server(`ssl_password_file ${files('none')};`)],
    ['cipher list matches nothing', () => server('ssl_ciphers FOO;')],
    ['empty cipher list', () => server('ssl_ciphers "";')],
    ['only TLS 1.3 names in the cipher list', () => server('ssl_ciphers TLS_AES_128_GCM_SHA256;')],
    ['dhparam not DH parameters', () => server(`ssl_dhparam ${files('a.crt')};`)],
    ['dhparam missing', () => server(`ssl_dhparam ${files('none.pem')};`)],
    ['unknown curve', () => server('ssl_ecdh_curve foo;')],
    ['client CA file missing', () => server(`ssl_verify_client on; ssl_client_certificate ${files('none.pem')};`)],
    ['CRL file without CRLs or certificates', () => server(`ssl_verify_client on; ssl_client_certificate ${files('a.crt')}; ssl_crl ${files('text.txt')};`)],
    ['ticket key of 47 bytes', () => server(`ssl_session_ticket_key ${files('ticket47.key')};`)],
    ['ticket key missing', () => server(`ssl_session_ticket_key ${files('none.key')};`)],
    ['unknown ssl_conf_command', () => server('ssl_conf_command Foo bar;')],
    ['unknown Options flag', () => server('ssl_conf_command Options NoSuch;')],
    // Several faults: the first one in nginx's merge order is reported.
    ['cipher list before certificate', () => server('ssl_ciphers FOO;', `ssl_certificate ${files('none.crt')}; ssl_certificate_key ${files('a.key')};`)],
    ['client CAs before dhparam and curves', () => server(`ssl_ecdh_curve foo; ssl_dhparam ${files('a.crt')}; ssl_verify_client on; ssl_client_certificate ${files('none.pem')};`)],
    ['dhparam before curves before ticket keys', () => server(`ssl_session_ticket_key ${files('ticket47.key')}; ssl_ecdh_curve foo; ssl_dhparam ${files('a.crt')};`)],
    ['ticket keys before ssl_conf_command', () => server(`ssl_conf_command Foo bar; ssl_session_ticket_key ${files('ticket47.key')};`)],
  ];

  it.each([...errors, ...verifyClientCases.map(([name, text]): [string, () => string] => [name, () => text.replace(/c\.pem/g, files('a.crt')).replace(/k\.pem/g, files('a.key'))])])(
    '%s',
    (_name, text) => {
      const file = write(text());
      const nginx = nginxError(file);
      const postern = posternCheck(file);
      expect(nginx).not.toBeNull();
      expect(postern).toMatch(/ in \/\S+:\d+$/);
      expect(upToReason(postern!)).toBe(upToReason(nginx!));
    },
  );

  it('both accept every ssl directive with good files, the key in the certificate file and a password file', () => {
    const file = write(
      server(
        [
          `ssl_password_file ${files('wrong-passwords')};`,
          'ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers HIGH:!aNULL; ssl_prefer_server_ciphers on; ssl_ecdh_curve X25519:prime256v1;',
          'ssl_session_cache builtin:1000 shared:MAIL:1m; ssl_session_timeout 10m; ssl_session_tickets off;',
          `ssl_verify_client optional; ssl_verify_depth 2; ssl_client_certificate ${files('a.crt')}; ssl_trusted_certificate ${files('b.crt')};`,
          `ssl_crl ${files('a.crt')};`,
          'ssl_conf_command Options PrioritizeChaCha; ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384; auth_http_pass_client_cert on;',
        ].join(' '),
        `ssl_certificate ${files('combined.pem')}; ssl_certificate_key ${files('combined.pem')};`,
      ),
    );
    expect(nginxError(file)).toBeNull();
    expect(posternCheck(file)).toBeNull();
  });
});
