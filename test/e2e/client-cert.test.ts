/**
 * Client certificates the nginx way, differentially: one `mail { }` block with
 * `ssl_verify_client on|optional|optional_no_ca` on IMAPS, POP3S, SMTP, IMAP and POP3 STARTTLS (plus
 * `ssl_crl`, `ssl_verify_depth 0` and a trusted intermediate), `auth_http_pass_client_cert on`,
 * runs in nginx 1.22.1 and in Postern. `openssl s_client` connects with each kind of client
 * certificate (or none) and tries AUTH EXTERNAL; the protocol lines it reads and the raw auth
 * requests each proxy sent must be byte for byte the same. The auth service refuses every
 * login, so no backend is needed: the sessions end after the auth request. With a session
 * cache, a refused client's TLS session must not resume (nginx removes it from the cache).
 *
 * Nothing is normalised: both sides use the same certificates, `server_name`, auth host and
 * `ssl_protocols TLSv1.2` (nginx 1.22's default list differs from Postern's).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { silentLogger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { makeClientCerts, type ClientCerts, type Pair } from '../unit/net/client-cert-fixtures.js';
import {
  diffLines,
  formatDiff,
  freePorts,
  generateCert,
  opensslSClient,
  removeDir,
  requireBinaries,
  startAuthServer,
  startNginx,
  type AuthServer,
  type CertFiles,
  type NginxHandle,
} from './harness/index.js';

requireBinaries(['nginx', 'openssl']);

type Protocol = 'imap' | 'pop3' | 'smtp';
type Mode = 'on' | 'optional' | 'optional_no_ca';

interface ServerSpec {
  key: string;
  protocol: Protocol;
  mode: Mode;
  verifyDepth?: number;
  /** `ssl_crl` with the root's CRL. */
  crl?: boolean;
  /** `ssl_trusted_certificate` with the upper intermediate (int1). */
  trustedIntermediate?: boolean;
  /** STARTTLS (`starttls on`) rather than implicit TLS; SMTP always. */
  starttls?: boolean;
  /** A session cache and no tickets: a resumed session shows whether a refused one was dropped. */
  sessionCache?: boolean;
}

const MODES: Mode[] = ['on', 'optional', 'optional_no_ca'];
const PROTOCOLS: Protocol[] = ['imap', 'pop3', 'smtp'];

const MAIN_SERVERS: ServerSpec[] = PROTOCOLS.flatMap((protocol) =>
  MODES.map((mode) => ({ key: `${protocol} ${mode}`, protocol, mode, starttls: protocol === 'smtp' })),
);
const CRL: ServerSpec = { key: 'pop3 on, ssl_crl', protocol: 'pop3', mode: 'on', crl: true };
const DEPTH0: ServerSpec = { key: 'imap on, ssl_verify_depth 0', protocol: 'imap', mode: 'on', verifyDepth: 0 };
const DEPTH0_NO_CA: ServerSpec = { key: 'smtp optional_no_ca, ssl_verify_depth 0', protocol: 'smtp', mode: 'optional_no_ca', verifyDepth: 0, starttls: true };
const TRUSTED: ServerSpec = { key: 'imap optional, intermediate in ssl_trusted_certificate', protocol: 'imap', mode: 'optional', trustedIntermediate: true };
const IMAP_STARTTLS: ServerSpec = { key: 'imap STARTTLS, on', protocol: 'imap', mode: 'on', starttls: true };
const POP3_STLS: ServerSpec = { key: 'pop3 STLS, optional', protocol: 'pop3', mode: 'optional', starttls: true };
const SESSION_CACHE: ServerSpec = { key: 'pop3 on, session cache', protocol: 'pop3', mode: 'on', sessionCache: true };
const SERVERS = [...MAIN_SERVERS, CRL, DEPTH0, DEPTH0_NO_CA, TRUSTED, IMAP_STARTTLS, POP3_STLS, SESSION_CACHE];

function serverDirectives(s: ServerSpec, certs: ClientCerts): string {
  return [
    `ssl_verify_client ${s.mode};`,
    s.verifyDepth === undefined ? '' : `ssl_verify_depth ${s.verifyDepth};`,
    s.crl ? `ssl_crl ${certs.crl};` : '',
    s.trustedIntermediate ? `ssl_trusted_certificate ${certs.int1.cert};` : '',
    s.sessionCache ? 'ssl_session_cache shared:CLIENTCERT:1m; ssl_session_tickets off;' : '',
  ].join(' ');
}

type ClientKey = 'none' | 'good' | 'utf8' | 'self' | 'wrong' | 'deep' | 'oneUp' | 'expired' | 'revoked';

interface ClientSpec {
  name: string;
  pair?: (c: ClientCerts) => Pair;
  chain?: (c: ClientCerts) => string;
  /** Intermediates between the certificate and the root. */
  intermediates?: number;
}

const CLIENTS: Record<ClientKey, ClientSpec> = {
  none: { name: 'no certificate' },
  good: { name: 'a certificate from the CA', pair: (c) => c.alice },
  utf8: { name: 'a UTF-8 subject, serial 0', pair: (c) => c.jose },
  self: { name: 'a self-signed certificate', pair: (c) => c.self },
  wrong: { name: 'a certificate from another CA', pair: (c) => c.wrong },
  deep: { name: 'a chain with two intermediates', pair: (c) => c.depth2, chain: (c) => c.chain2, intermediates: 2 },
  oneUp: { name: 'a chain with one intermediate', pair: (c) => c.depth1, chain: (c) => c.chain1, intermediates: 1 },
  expired: { name: 'an expired certificate', pair: (c) => c.expired },
  revoked: { name: 'a revoked certificate', pair: (c) => c.revoked },
};

const CASES: Array<{ server: ServerSpec; client: ClientKey }> = [
  ...MAIN_SERVERS.flatMap((server) => (['none', 'good', 'self', 'wrong', 'deep', 'expired'] as const).map((client) => ({ server, client }))),
  { server: MAIN_SERVERS[0]!, client: 'utf8' },
  { server: CRL, client: 'good' },
  { server: CRL, client: 'revoked' },
  { server: DEPTH0, client: 'good' },
  { server: DEPTH0, client: 'oneUp' },
  { server: DEPTH0_NO_CA, client: 'oneUp' },
  { server: DEPTH0_NO_CA, client: 'wrong' },
  { server: TRUSTED, client: 'deep' },
  { server: TRUSTED, client: 'oneUp' },
  ...(['none', 'good', 'self'] as const).flatMap((client) => [IMAP_STARTTLS, POP3_STLS].map((server) => ({ server, client }))),
];

type Outcome = 'refused' | 'missing' | 'accepted';

/**
 * nginx's decision (§10.3) with what OpenSSL 3.0 reports: an unknown issuer, and a chain longer
 * than `ssl_verify_depth` below the root, are failures `optional_no_ca` tolerates; a chain too
 * long past a trusted intermediate, expiry and revocation are not.
 */
function outcomeOf(server: ServerSpec, clientKey: ClientKey): Outcome {
  if (clientKey === 'none') return server.mode === 'on' ? 'missing' : 'accepted';
  const tooDeep = (CLIENTS[clientKey].intermediates ?? 0) > (server.verifyDepth ?? 1);
  const issuerUnknown = clientKey === 'self' || clientKey === 'wrong' || (tooDeep && !server.trustedIntermediate);
  const hard = (tooDeep && server.trustedIntermediate === true) || clientKey === 'expired' || (clientKey === 'revoked' && server.crl === true);
  if (hard) return 'refused';
  if (!issuerUnknown) return 'accepted';
  return server.mode === 'optional_no_ca' ? 'accepted' : 'refused';
}

/**
 * The first line §10.3 predicts, so that both sides failing alike is caught. After STARTTLS
 * the server says nothing until the client does (SMTP: EHLO; IMAP/POP3: the refused login).
 */
function expectedFirstLine(server: ServerSpec, outcome: Outcome): RegExp {
  if (outcome === 'accepted' && server.starttls) return { imap: /^a1 NO /, pop3: /^-ERR /, smtp: /^250-mx\.test$/ }[server.protocol];
  if (outcome === 'accepted') return { imap: /^\* OK IMAP4 ready$/, pop3: /^\+OK POP3 ready$/, smtp: /^250-mx\.test$/ }[server.protocol];
  const protocol = server.protocol;
  const prefix = { imap: '\\* BYE ', pop3: '-ERR ', smtp: '421 4\\.7\\.1 ' }[protocol];
  return new RegExp(`^${prefix}${outcome === 'refused' ? 'SSL certificate error' : 'No required SSL certificate'}$`);
}

/** Transcripts for a failure message: the PEM lines cut (the comparison uses them whole). */
const shorten = (lines: string[]): string => lines.map((l) => (l.length > 160 ? `${l.slice(0, 150)}...(${l.length} chars)` : l)).join('\n');

const b64 = (text: string) => Buffer.from(text, 'latin1').toString('base64');

/** What the client types once the connection is up (s_client -crlf sends CRLF). */
const DIALOGUE: Record<Protocol, string[]> = {
  imap: [`a1 AUTHENTICATE EXTERNAL ${b64('alice')}\n`],
  pop3: [`AUTH EXTERNAL ${b64('alice')}\n`],
  smtp: ['EHLO client.test\n', `AUTH EXTERNAL ${b64('alice')}\n`],
};

interface Side {
  name: 'nginx' | 'postern';
  ports: Map<string, number>;
  auth: AuthServer;
}

function mailBlock(side: Side, cert: CertFiles, certs: ClientCerts): string {
  const servers = SERVERS.map((s) => {
    const listen = s.starttls ? `listen 127.0.0.1:${side.ports.get(s.key)}; starttls on;` : `listen 127.0.0.1:${side.ports.get(s.key)} ssl;`;
    return `  server { ${listen} protocol ${s.protocol}; ${serverDirectives(s, certs)} }`;
  });
  return [
    'mail {',
    '  server_name mx.test;',
    `  auth_http ${side.auth.url}/auth;`,
    '  auth_http_pass_client_cert on;',
    `  ssl_certificate ${cert.certPath};`,
    `  ssl_certificate_key ${cert.keyPath};`,
    '  ssl_protocols TLSv1.2;',
    `  ssl_client_certificate ${certs.root.cert};`,
    '  pop3_auth plain external;',
    '  imap_auth plain external;',
    '  smtp_auth plain login external;',
    ...servers,
    '}',
  ].join('\n');
}

/** One s_client session: the lines it read; the first input waits until the server had its say. */
async function session(port: number, server: ServerSpec, client: ClientSpec, certs: ClientCerts): Promise<string[]> {
  const { protocol } = server;
  const pair = client.pair?.(certs);
  const chain = client.chain?.(certs);
  const result = await opensslSClient({
    port,
    ...(server.starttls ? { starttls: protocol } : {}),
    args: [...(pair ? ['-cert', pair.cert, '-key', pair.key] : []), ...(chain ? ['-cert_chain', chain] : [])],
    // Nothing, then the dialogue: a refused client is gone before its first line.
    inputLines: ['', ...DIALOGUE[protocol]],
    lineDelayMs: 400,
    timeoutMs: 15_000,
  });
  return result.stdout.split(/\r?\n/).filter((line, i, all) => line !== '' || i < all.length - 1);
}

/** Two handshakes, the second offering the first's session: was it resumed (s_client's "Reused")? */
async function resumes(port: number, client: ClientSpec, certs: ClientCerts, dir: string): Promise<[string, boolean]> {
  const pair = client.pair!(certs);
  const file = path.join(dir, `session-${port}-${client.name.replace(/\W+/g, '-')}.pem`);
  const args = ['-cert', pair.cert, '-key', pair.key];
  const first = await opensslSClient({ port, args: [...args, '-sess_out', file], inputLines: ['', 'QUIT\n'], lineDelayMs: 400 });
  const second = await opensslSClient({ port, args: [...args, '-sess_in', file], quiet: false, input: '' });
  const firstLine = first.stdout.split(/\r?\n/)[0] ?? '';
  return [firstLine, /^Reused, /m.test(second.stdout)];
}

/** Cases of one protocol run one at a time (their auth requests are told apart by order). */
const lanes = new Map<Protocol, Promise<void>>();
function inLane<T>(lane: Protocol, fn: () => Promise<T>): Promise<T> {
  const next = (lanes.get(lane) ?? Promise.resolve()).then(fn);
  lanes.set(
    lane,
    next.then(
      () => undefined,
      () => undefined,
    ),
  );
  return next;
}

describe('client certificates: nginx 1.22.1 and Postern with the same mail block', () => {
  let cert: CertFiles | undefined;
  let certs: ClientCerts | undefined;
  let ng: NginxHandle | undefined;
  let proxy: RunningProxy | undefined;
  const sides: Partial<Record<Side['name'], Side>> = {};
  const auths: AuthServer[] = [];

  beforeAll(async () => {
    cert = await generateCert();
    certs = makeClientCerts();
    const refuse = () => ({ headers: { 'Auth-Status': 'Invalid login or password' } });
    const [authN, authP] = await Promise.all([startAuthServer({ handler: refuse }), startAuthServer({ handler: refuse })]);
    auths.push(authN, authP);
    const ports = await freePorts(SERVERS.length * 2);
    const portMap = (offset: number) => new Map(SERVERS.map((s, i) => [s.key, ports[offset + i]!]));
    const n: Side = { name: 'nginx', ports: portMap(0), auth: authN };
    const p: Side = { name: 'postern', ports: portMap(SERVERS.length), auth: authP };
    ng = await startNginx({ mailBlock: mailBlock(n, cert, certs) });
    proxy = await startProxy(parseConfigText(mailBlock(p, cert, certs), 'client-cert.conf'), { logger: silentLogger() });
    sides.nginx = n;
    sides.postern = p;
  }, 60_000);

  afterAll(async () => {
    const results = await Promise.allSettled([proxy?.close(), ng?.close(), ...auths.map((a) => a.close())]);
    if (cert) await removeDir(cert.dir);
    certs?.remove();
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  // nginx removes a refused client's session from the cache (ngx_ssl_remove_cached_session).
  it.each([
    ['accepted: its session is resumed', 'good', '+OK POP3 ready', true],
    ['refused: its session is gone', 'self', '-ERR SSL certificate error', false],
  ] as const)('ssl_session_cache: a certificate %s', async (_name, clientKey, firstLine, reused) => {
    const run = (side: Side) => inLane('pop3', () => resumes(side.ports.get(SESSION_CACHE.key)!, CLIENTS[clientKey], certs!, certs!.dir));
    const [n, p] = await Promise.all([run(sides.nginx!), run(sides.postern!)]);
    expect(n).toEqual([firstLine, reused]);
    expect(p).toEqual(n);
  });

  for (const { server, client: clientKey } of CASES) {
    const client = CLIENTS[clientKey];
    const outcome = outcomeOf(server, clientKey);
    it.concurrent(`${server.key}, ${client.name}: ${outcome}`, async () => {
      const play = async (side: Side) => {
        const start = side.auth.requests.length;
        const lines = await session(side.ports.get(server.key)!, server, client, certs!);
        // The lanes run side by side: each takes the requests of its own protocol.
        const mine = side.auth.requests.slice(start).filter((r) => r.headers['auth-protocol'] === server.protocol);
        return { lines, auth: mine.flatMap((r, i) => [`--- request ${i + 1}`, ...r.lines]) };
      };
      const [n, p] = await inLane(server.protocol, () => Promise.all([play(sides.nginx!), play(sides.postern!)]));

      // nginx itself behaves as §10.3 says (else the comparison proves little).
      expect(n.lines[0], n.lines.join('\n')).toMatch(expectedFirstLine(server, outcome));
      expect(n.auth.length > 0, 'nginx asked the auth service').toBe(outcome === 'accepted');

      const clientDiffs = diffLines(n.lines, p.lines);
      const authDiffs = diffLines(n.auth, p.auth).map((d) => ({ ...d, left: d.left && shorten([d.left]), right: d.right && shorten([d.right]) }));
      if (clientDiffs.length > 0 || authDiffs.length > 0) {
        expect.fail(
          (clientDiffs.length > 0 ? `=== client lines diff ===\n${formatDiff(clientDiffs)}\n` : '') +
            (authDiffs.length > 0 ? `=== auth request diff ===\n${formatDiff(authDiffs)}\n` : '') +
            `--- nginx ---\n${shorten([...n.lines, ...n.auth])}\n--- postern ---\n${shorten([...p.lines, ...p.auth])}`,
        );
      }
    });
  }
});
