/**
 * ssl_protocols, ssl_ciphers, ssl_prefer_server_ciphers and ssl_conf_command Ciphersuites as
 * clients see them: the same mail block runs in nginx 1.22.1 and in Postern (implicit-TLS IMAP
 * servers), and `openssl s_client` with -tls1 ... -tls1_3, -cipher and -ciphersuites must get the
 * same outcome from both: the same version and cipher negotiated, or a refusal from both; so
 * must Python's ssl module (versions, ALPN). Each
 * probe also states what nginx does, so a change on both sides cannot pass unnoticed. The served
 * chain (-showcerts) must be byte for byte the same.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { freePorts, generateCa, removeDir, requireBinaries, run, startNginx, type Ca, type NginxHandle } from './harness/index.js';

requireBinaries(['nginx', 'openssl']);

/** One implicit-TLS IMAP server per key; its directives are the same on both sides. */
const SERVERS = {
  tls12: 'ssl_protocols TLSv1.2;',
  tls13: 'ssl_protocols TLSv1.3;',
  allNoSeclevel: 'ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;',
  holeSeclevel0: 'ssl_protocols TLSv1 TLSv1.2 TLSv1.3; ssl_ciphers "HIGH:!aNULL:!MD5:@SECLEVEL=0";',
  preferOn:
    'ssl_protocols TLSv1.2; ssl_prefer_server_ciphers on; ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305;',
  preferOff:
    'ssl_protocols TLSv1.2; ssl_prefer_server_ciphers off; ssl_ciphers ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305;',
  suitesPreferOn: 'ssl_protocols TLSv1.3; ssl_prefer_server_ciphers on; ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256;',
  suitesPreferOff: 'ssl_protocols TLSv1.3; ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256;',
  tls13NamesInCiphers: 'ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256;',
} as const;
type ServerKey = keyof typeof SERVERS;
const KEYS = Object.keys(SERVERS) as ServerKey[];

function mailBlock(ports: Record<ServerKey, number>, cert: string, key: string): string {
  const servers = KEYS.map((k) => `  server { listen 127.0.0.1:${ports[k]} ssl; protocol imap; ${SERVERS[k]} }`).join('\n');
  return `mail {\n  auth_http 127.0.0.1:1/auth;\n  ssl_certificate ${cert};\n  ssl_certificate_key ${key};\n${servers}\n}\n`;
}

/** What the client saw: `TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384` (+ ` alpn=X` when it offered ALPN), or `refused`. */
async function probe(port: number, args: string[]): Promise<string> {
  const r = await run('/usr/bin/openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...args], { input: '', timeoutMs: 15_000 });
  const m = /^New, (\S+), Cipher is (\S+)$/m.exec(r.stdout);
  if (!m || m[1] === '(NONE)') return 'refused';
  if (!args.includes('-alpn')) return `${m[1]} ${m[2]}`;
  const alpn = /^ALPN protocol: (\S+)$/m.exec(r.stdout)?.[1] ?? 'none';
  return `${m[1]} ${m[2]} alpn=${alpn}`;
}

/** Client cipher orders that differ from the servers' (the server's preference shows only then). */
const CLIENT_TLS12 = 'ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384';
const CLIENT_TLS13 = 'TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384';
/** The client's OpenSSL 3 (Debian: security level 2) needs this to offer TLSv1/TLSv1.1 at all. */
const OLD = ['-cipher', 'DEFAULT:@SECLEVEL=0'];

/** [server, s_client arguments, what nginx 1.22.1 does]. */
const PROBES: Array<[ServerKey, string[], string]> = [
  ['tls12', ['-tls1_2'], 'TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384'],
  ['tls12', ['-tls1_3'], 'refused'],
  ['tls12', ['-tls1_1', ...OLD], 'refused'],
  ['tls13', ['-tls1_3'], 'TLSv1.3 TLS_AES_256_GCM_SHA384'],
  ['tls13', ['-tls1_2'], 'refused'],
  // OpenSSL 3 refuses TLSv1/TLSv1.1 at its default security level, whatever ssl_protocols says.
  ['allNoSeclevel', ['-tls1', ...OLD], 'refused'],
  ['allNoSeclevel', ['-tls1_1', ...OLD], 'refused'],
  ['allNoSeclevel', ['-tls1_2'], 'TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384'],
  ['allNoSeclevel', ['-tls1_3'], 'TLSv1.3 TLS_AES_256_GCM_SHA384'],
  ['holeSeclevel0', ['-tls1', ...OLD], 'TLSv1.0 ECDHE-RSA-AES256-SHA'],
  ['holeSeclevel0', ['-tls1_1', ...OLD], 'refused'],
  ['holeSeclevel0', ['-tls1_2'], 'TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384'],
  ['preferOn', ['-tls1_2', '-cipher', CLIENT_TLS12], 'TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384'],
  ['preferOff', ['-tls1_2', '-cipher', CLIENT_TLS12], 'TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305'],
  ['preferOn', ['-tls1_2', '-cipher', 'AES128-SHA'], 'refused'],
  ['suitesPreferOn', ['-tls1_3', '-ciphersuites', CLIENT_TLS13], 'TLSv1.3 TLS_CHACHA20_POLY1305_SHA256'],
  ['suitesPreferOff', ['-tls1_3', '-ciphersuites', CLIENT_TLS13], 'TLSv1.3 TLS_AES_128_GCM_SHA256'],
  ['suitesPreferOff', ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384'], 'refused'],
  // TLS 1.3 names in ssl_ciphers do not limit TLS 1.3 (OpenSSL's cipher list ignores them).
  ['tls13NamesInCiphers', ['-tls1_3', '-ciphersuites', 'TLS_AES_256_GCM_SHA384'], 'TLSv1.3 TLS_AES_256_GCM_SHA384'],
  ['tls13NamesInCiphers', ['-tls1_2'], 'TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256'],
  // ALPN (nginx 1.21.4+): the protocol's own id is selected, a list without it is refused.
  ['tls12', ['-tls1_2', '-alpn', 'imap'], 'TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384 alpn=imap'],
  ['tls13', ['-tls1_3', '-alpn', 'h2,imap'], 'TLSv1.3 TLS_AES_256_GCM_SHA384 alpn=imap'],
  ['tls12', ['-tls1_2', '-alpn', 'http/1.1'], 'refused'],
  ['tls13', ['-tls1_3', '-alpn', 'pop3,smtp'], 'refused'],
];

/**
 * Python's ssl module as a client: `version cipher alpn greeting` (the greeting's first word,
 * read over TLS), or `refused`. Arguments: TLS version (`1.2`, `1.3`, `any`) and ALPN ids.
 */
const PYTHON_CLIENT = `
import socket, ssl, sys
port, version, alpn = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if version != 'any':
    v = ssl.TLSVersion.TLSv1_2 if version == '1.2' else ssl.TLSVersion.TLSv1_3
    ctx.minimum_version = ctx.maximum_version = v
if alpn:
    ctx.set_alpn_protocols(alpn)
try:
    with socket.create_connection(('127.0.0.1', port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            greeting = s.recv(64).split(b' ')[1].decode()
            print(s.version(), s.cipher()[0], s.selected_alpn_protocol(), greeting)
except (ssl.SSLError, ConnectionError, IndexError):
    print('refused')
`;

async function pythonProbe(port: number, args: string[]): Promise<string> {
  const r = await run('python3', ['-c', PYTHON_CLIENT, String(port), ...args], { timeoutMs: 15_000 });
  return r.stdout.trim();
}

const PYTHON_PROBES: Array<[ServerKey, string[], string]> = [
  ['tls12', ['1.2'], 'TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384 None OK'],
  ['tls12', ['1.3'], 'refused'],
  ['tls13', ['any'], 'TLSv1.3 TLS_AES_256_GCM_SHA384 None OK'],
  ['tls13', ['1.3', 'imap'], 'TLSv1.3 TLS_AES_256_GCM_SHA384 imap OK'],
  ['tls13', ['1.3', 'smtp'], 'refused'],
  ['preferOn', ['1.2'], 'TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384 None OK'],
];

describe('ssl_protocols and ciphers: nginx 1.22.1 and Postern with the same mail block', () => {
  let ca: Ca | undefined;
  let ng: NginxHandle | undefined;
  let proxy: RunningProxy | undefined;
  const ports: Partial<Record<'nginx' | 'postern', Record<ServerKey, number>>> = {};

  beforeAll(async () => {
    ca = await generateCa({ cn: 'Postern Chain CA' });
    const leaf = await ca.issue({ cn: 'localhost' });
    // The certificate file carries the chain: the leaf, then the CA.
    const chainFile = path.join(ca.dir, 'chain.pem');
    await writeFile(chainFile, leaf.certPem + ca.certPem);
    const all = await freePorts(KEYS.length * 2);
    const byKey = (list: number[]) => Object.fromEntries(KEYS.map((k, i) => [k, list[i]!])) as Record<ServerKey, number>;
    ports.nginx = byKey(all.slice(0, KEYS.length));
    ports.postern = byKey(all.slice(KEYS.length));
    ng = await startNginx({ mailBlock: mailBlock(ports.nginx, chainFile, leaf.keyPath) });
    proxy = await startProxy(parseConfigText(mailBlock(ports.postern, chainFile, leaf.keyPath), 'ssl-protocols.conf'), { logger: silentLogger() });
  });

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), ng?.close()]);
    if (ca) await removeDir(ca.dir);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  it.each(PROBES)('%s with %j', async (server, args, expected) => {
    const [nginx, postern] = await Promise.all([probe(ports.nginx![server], args), probe(ports.postern![server], args)]);
    expect(nginx).toBe(expected);
    expect(postern).toBe(nginx);
  });

  it.each(PYTHON_PROBES)("Python's ssl: %s with %j", async (server, args, expected) => {
    const [nginx, postern] = await Promise.all([pythonProbe(ports.nginx![server], args), pythonProbe(ports.postern![server], args)]);
    expect(nginx).toBe(expected);
    expect(postern).toBe(nginx);
  });

  it('serves the same certificate chain (-showcerts)', async () => {
    const chain = async (port: number) => {
      const r = await run('/usr/bin/openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-showcerts'], { input: '', timeoutMs: 15_000 });
      return r.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    };
    const [nginx, postern] = await Promise.all([chain(ports.nginx!.tls12), chain(ports.postern!.tls12)]);
    expect(nginx).toHaveLength(2);
    expect(postern).toEqual(nginx);
  });
});
