/**
 * PROXY protocol and realip, differential: the same `mail { }` block in the reference nginx
 * 1.22.1 and in Postern, behind the same scripted backends (which record every line they
 * receive, the PROXY line first) and the same auth service. For each scenario — v1, v2,
 * `UNKNOWN`, an untrusted sender, PROXY then TLS, SMTP with XCLIENT, POP3, and missing, garbled,
 * oversized headers and a port probe — the client's transcript, the auth_http request lines in
 * order, the backend's lines and the error-log line must be the same; only the ports each proxy
 * listens on differ (replaced by `{{port}}`).
 *
 * The SMTP scenario is nginx-tests' mail_proxy_protocol.t (its XPROXY backend echoes the PROXY
 * line; here the backend records it): without realip the backend sees the peer, with realip the
 * header's source.
 *
 * Postern-only (nginx 1.22.1 cannot): a header split across TCP segments, a v2 header with
 * 4 KB of TLVs, `proxy_protocol v2` to the backend, the header bounded by `timeout`.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { readProxyHeader } from '../../src/net/proxy-protocol.js';
import {
  connect,
  freePort,
  freePorts,
  generateCert,
  removeDir,
  requireBinaries,
  sleep,
  startAuthServer,
  startNginx,
  startScriptedBackend,
  type AuthServer,
  type CertFiles,
  type LineClient,
  type NginxHandle,
  type ScriptedBackend,
} from './harness/index.js';

requireBinaries(['nginx', 'openssl']);

const SERVERS = ['imap', 'untrusted', 'imaps', 'pop3', 'smtp', 'smtpNoRealip'] as const;
type Server = (typeof SERVERS)[number];

const block = (ports: Record<Server, number>, auth: string, cert: CertFiles) => `mail {
    server_name mx.test;
    auth_http ${auth}/auth;
    ssl_certificate ${cert.certPath};
    ssl_certificate_key ${cert.keyPath};
    ssl_protocols TLSv1.2;
    proxy_protocol on;

    server { listen 127.0.0.1:${ports.imap} proxy_protocol; protocol imap; set_real_ip_from 127.0.0.1; }
    server { listen 127.0.0.1:${ports.untrusted} proxy_protocol; protocol imap; set_real_ip_from 10.0.0.0/8; }
    server { listen 127.0.0.1:${ports.imaps} proxy_protocol ssl; protocol imap; set_real_ip_from 127.0.0.0/8; }
    server { listen 127.0.0.1:${ports.pop3} proxy_protocol; protocol pop3; set_real_ip_from 127.0.0.1; }
    server { listen 127.0.0.1:${ports.smtp} proxy_protocol; protocol smtp; set_real_ip_from 127.0.0.1/32; smtp_auth login plain; auth_http_header X-Type realip; }
    server { listen 127.0.0.1:${ports.smtpNoRealip} proxy_protocol; protocol smtp; smtp_auth login plain; auth_http_header X-Type proxy; }
}
`;

/** nginx's v2 header, built here independently of Postern's writer. */
function v2Header(src: number[], dst: number[], sport: number, dport: number, tlvs = Buffer.alloc(0)): Buffer {
  const head = Buffer.from('\r\n\r\n\0\r\nQUIT\n\x21\x11\0\0', 'latin1');
  const body = Buffer.alloc(12);
  body.set(src, 0);
  body.set(dst, 4);
  body.writeUInt16BE(sport, 8);
  body.writeUInt16BE(dport, 10);
  head.writeUInt16BE(12 + tlvs.length, 14);
  return Buffer.concat([head, body, tlvs]);
}

const V1 = 'PROXY TCP4 203.0.113.7 198.51.100.9 51000 143\r\n';

type Step = { send: string | Buffer } | { read: number } | { readUntil: RegExp } | { tls: true } | { closed: true };

interface Scenario {
  name: string;
  server: Server;
  steps: Step[];
  /** A deliberate difference from nginx 1.22.1: nginx's line, and what Postern sends instead. */
  backendDiffers?: { nginx: string; postern: string };
  /** A deliberate difference in the error-log line. */
  logDiffers?: { nginx: string; postern: string };
}

const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');
const IMAP_LOGIN: Step[] = [{ read: 1 }, { send: 'a1 LOGIN alice secret\r\n' }, { read: 1 }, { send: 'a2 LOGOUT\r\n' }, { read: 2 }, { closed: true }];
const BROKEN: Step[] = [{ closed: true }];

const scenarios: Scenario[] = [
  { name: 'v1 from a trusted sender', server: 'imap', steps: [{ send: V1 }, ...IMAP_LOGIN] },
  { name: 'v2 from a trusted sender', server: 'imap', steps: [{ send: v2Header([192, 0, 2, 1], [192, 0, 2, 2], 123, 5678) }, ...IMAP_LOGIN] },
  { name: 'UNKNOWN', server: 'imap', steps: [{ send: 'PROXY UNKNOWN\r\n' }, ...IMAP_LOGIN] },
  { name: 'v2 LOCAL (a health check)', server: 'imap', steps: [{ send: Buffer.from('\r\n\r\n\0\r\nQUIT\n\x20\x00\0\0', 'latin1') }, ...IMAP_LOGIN] },
  { name: 'an untrusted sender', server: 'untrusted', steps: [{ send: V1 }, ...IMAP_LOGIN] },
  { name: 'an untrusted sender with a v1 header carrying an IPv6 source', server: 'untrusted', steps: [{ send: 'PROXY TCP6 2001:db8::7 ::1 1 2\r\n' }, ...IMAP_LOGIN] },
  {
    name: 'a trusted sender claiming an IPv6 source on an IPv4 listen',
    server: 'imap',
    steps: [{ send: 'PROXY TCP6 2001:DB8::7 ::1 1 2\r\n' }, ...IMAP_LOGIN],
    // nginx writes a mixed-family line no receiver accepts (nginx issue #1609); Postern maps its own address.
    backendDiffers: { nginx: 'imap: PROXY TCP6 2001:db8::7 127.0.0.1 1 {{port}}', postern: 'imap: PROXY TCP6 2001:db8::7 ::ffff:127.0.0.1 1 {{port}}' },
  },
  { name: 'a trusted sender whose source is no address', server: 'imap', steps: [{ send: 'PROXY TCP4 999.1.1.1 1.2.3.4 1 2\r\n' }, ...IMAP_LOGIN] },
  { name: 'PROXY then TLS', server: 'imaps', steps: [{ send: V1 }, { tls: true }, ...IMAP_LOGIN] },
  {
    name: 'POP3',
    server: 'pop3',
    steps: [{ send: V1 }, { read: 1 }, { send: 'USER alice\r\n' }, { read: 1 }, { send: 'PASS secret\r\n' }, { read: 1 }, { send: 'QUIT\r\n' }, { read: 1 }, { closed: true }],
  },
  ...(['smtp', 'smtpNoRealip'] as const).map((server) => ({
    name: `SMTP with XCLIENT (mail_proxy_protocol.t, ${server === 'smtp' ? 'realip' : 'no realip'})`,
    server,
    steps: [
      { send: 'PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\n' },
      { read: 1 },
      { send: 'EHLO example.com\r\n' },
      { readUntil: /^250 /m },
      { send: `AUTH PLAIN ${b64('\0alice\0secret')}\r\n` },
      { read: 1 },
      { send: 'QUIT\r\n' },
      { read: 1 },
      { closed: true },
    ] as Step[],
  })),
  {
    name: 'missing header',
    server: 'imap',
    steps: [{ send: 'a1 LOGIN alice secret\r\n' }, ...BROKEN],
    // nginx logs the password the client sent first; Postern logs the first word only.
    logDiffers: { nginx: 'broken header: "a1 LOGIN alice secret" while reading PROXY protocol', postern: 'broken header: "a1 ..." while reading PROXY protocol' },
  },
  { name: 'garbled header', server: 'imap', steps: [{ send: 'PROXY TCP4 999.1.1.1 nonsense\r\n' }, ...BROKEN] },
  { name: 'oversized header', server: 'imap', steps: [{ send: `PROXY TCP4 ${'1'.repeat(200)} 1.2.3.4 1 2\r\n` }, ...BROKEN] },
  { name: 'a port above 65535', server: 'pop3', steps: [{ send: 'PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n' }, ...BROKEN] },
  { name: 'v2 of another version', server: 'imap', steps: [{ send: Buffer.concat([Buffer.from('\r\n\r\n\0\r\nQUIT\n\x11\x11\0\x0c', 'latin1'), Buffer.alloc(12)]) }, ...BROKEN] },
  { name: 'a TLS ClientHello instead of the header', server: 'imaps', steps: [{ send: Buffer.from('16030100c4010000c00303', 'hex') }, ...BROKEN] },
  { name: 'a port probe (connect, close)', server: 'imap', steps: [] },
];

interface Observed {
  transcript: string[];
  auth: string[][];
  backend: string[];
  log: string[];
}

let cert: CertFiles;
let auth: AuthServer;
let backends: Record<'imap' | 'pop3' | 'smtp', ScriptedBackend>;
let nginx: NginxHandle;
let postern: RunningProxy;
let nginxPorts: Record<Server, number>;
let posternPorts: Record<Server, number>;
const posternLog: string[] = [];

/** Plays the IMAP/POP3/SMTP side a real server would, after reading the PROXY line. */
async function startBackends() {
  const imap = await startScriptedBackend(async (c) => {
    await c.line();
    await c.write('* OK backend ready\r\n');
    const tag = (await c.line()).split(' ')[0];
    await c.write('+ go\r\n');
    await c.line();
    await c.write('+ go\r\n');
    await c.line();
    await c.write(`${tag} OK LOGIN completed\r\n`);
    const logout = (await c.line()).split(' ')[0];
    await c.write(`* BYE bye\r\n${logout} OK LOGOUT completed\r\n`);
    c.end();
  });
  const pop3 = await startScriptedBackend(async (c) => {
    await c.line();
    await c.write('+OK backend ready\r\n');
    for (let i = 0; i < 2; i++) {
      await c.line();
      await c.write('+OK\r\n');
    }
    await c.line();
    await c.write('+OK bye\r\n');
    c.end();
  });
  const smtp = await startScriptedBackend(async (c) => {
    await c.line();
    await c.write('220 backend ESMTP\r\n');
    await c.line();
    await c.write('250-backend\r\n250 XCLIENT NAME ADDR LOGIN\r\n');
    await c.line();
    await c.write('220 backend ESMTP\r\n');
    await c.line();
    await c.write('250 backend\r\n');
    await c.line();
    await c.write('221 bye\r\n');
    c.end();
  });
  return { imap, pop3, smtp };
}

beforeAll(async () => {
  cert = await generateCert();
  backends = await startBackends();
  auth = await startAuthServer({ users: { alice: 'secret' }, backends: { imap: backends.imap.port, pop3: backends.pop3.port, smtp: backends.smtp.port } });
  const ports = await freePorts(2 * SERVERS.length);
  nginxPorts = Object.fromEntries(SERVERS.map((s, i) => [s, ports[i]!])) as Record<Server, number>;
  posternPorts = Object.fromEntries(SERVERS.map((s, i) => [s, ports[SERVERS.length + i]!])) as Record<Server, number>;
  nginx = await startNginx({ mailBlock: block(nginxPorts, auth.url, cert) });
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') posternLog.push(line);
      done();
    },
  });
  postern = await startProxy(parseConfigText(block(posternPorts, auth.url, cert), '/tmp/proxy-protocol.conf'), { logger: pino({ level: 'info' }, sink) });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([postern?.close(), nginx?.close(), auth?.close(), ...Object.values(backends ?? {}).map((b) => b.close())]);
  if (cert) await removeDir(cert.dir);
});

async function play(ports: Record<Server, number>, scenario: Scenario, readLog: (from: number) => string[], logMark: () => number): Promise<Observed> {
  const authMark = auth.requests.length;
  const backendMarks = Object.fromEntries(Object.entries(backends).map(([k, b]) => [k, b.lines.length]));
  const mark = logMark();
  const port = ports[scenario.server];
  let client: LineClient | undefined;
  const transcript: string[] = [];
  try {
    client = await connect(port);
    for (const step of scenario.steps) {
      if ('send' in step) client.send(typeof step.send === 'string' ? step.send : step.send.toString('latin1'));
      else if ('read' in step) await client.readLines(step.read);
      else if ('readUntil' in step) await client.readUntil(step.readUntil);
      else if ('tls' in step) await client.startTls({ rejectUnauthorized: false });
      else transcript.push(`closed after: ${JSON.stringify(await client.expectClosed(3000))}`);
    }
    if (scenario.steps.length === 0) client.socket.end();
    transcript.unshift(...client.transcript());
  } finally {
    client?.socket.destroy();
  }
  // The error-log line of a broken header is written as the connection closes.
  await sleep(150);
  const lines = (list: string[], from: number) => list.slice(from).map((l) => l.replaceAll(String(port), '{{port}}'));
  return {
    transcript: transcript.map((l) => l.replaceAll(String(port), '{{port}}')),
    auth: auth.requests.slice(authMark).map((r) => r.lines.map((l) => l.replaceAll(String(port), '{{port}}'))),
    backend: Object.entries(backends).flatMap(([k, b]) => lines(b.lines, backendMarks[k]!).map((l) => `${k}: ${l}`)),
    log: readLog(mark),
  };
}

/**
 * `broken header: "..." while reading PROXY protocol` and the like, from nginx's error.log.
 * nginx 1.22.1 logs every byte it read, line breaks included (a log injection); since 1.23.3 it
 * stops at the first CR or LF, as Postern does: 1.22.1's line is cut there before comparing.
 */
const nginxLogLines = (from: number): string[] =>
  nginx
    .errorLog()
    .slice(from)
    .split(/\n(?=\d{4}\/\d\d\/\d\d )/)
    .map((entry) => /\[(?:error|info)\] \d+#\d+: \*\d+ ([\s\S]*?(?:PROXY protocol|header is too large)[\s\S]*?)(?:, client: [\s\S]*)?$/.exec(entry.trimEnd())?.[1])
    .filter((m): m is string => m !== undefined)
    .map((m) => m.replace(/^broken header: "([^\r\n]*)[\r\n][\s\S]*" while/, 'broken header: "$1" while'));

const posternLogLines = (from: number): string[] =>
  posternLog
    .slice(from)
    .map((line) => JSON.parse(line) as { msg: string })
    .map((entry) => entry.msg)
    .filter((msg) => /PROXY protocol/.test(msg));

describe('PROXY protocol and realip, as nginx 1.22.1', () => {
  it.each(scenarios.map((s) => [s.name, s] as const))('%s', async (_name, scenario) => {
    const fromNginx = await play(nginxPorts, scenario, nginxLogLines, () => nginx.errorLogMark());
    const fromPostern = await play(posternPorts, scenario, posternLogLines, () => posternLog.length);
    // The local port the backend sees in the PROXY line is each proxy's own listening port.
    const headerPorts = new Set(['51000', '123', '1']);
    const normalise = (o: Observed): Observed => ({
      ...o,
      backend: o.backend.map((l) => l.replace(/^(\w+: PROXY TCP[46] \S+ \S+) (\d+) /, (_m, head: string, port: string) => `${head} ${headerPorts.has(port) ? port : '{{peer port}}'} `)),
    });
    const expected = normalise(fromNginx);
    const differs = scenario.backendDiffers;
    if (differs !== undefined) {
      expect(expected.backend).toContain(differs.nginx);
      expected.backend = expected.backend.map((line) => (line === differs.nginx ? differs.postern : line));
    }
    const logDiffers = scenario.logDiffers;
    if (logDiffers !== undefined) {
      expect(expected.log).toEqual([logDiffers.nginx]);
      expected.log = [logDiffers.postern];
    }
    expect(normalise(fromPostern)).toEqual(expected);
    // Every scenario observed something: a transcript, a close or a log line.
    expect(fromNginx.transcript.length + fromNginx.log.length).toBeGreaterThan(0);
  });

  it('the facts the comparison rests on', async () => {
    const observed = await play(posternPorts, scenarios[0]!, posternLogLines, () => posternLog.length);
    expect(observed.auth[0]).toEqual(expect.arrayContaining(['Client-IP: 203.0.113.7', 'Proxy-Protocol-Addr: 203.0.113.7', 'Proxy-Protocol-Port: 51000', 'Proxy-Protocol-Server-Addr: 198.51.100.9', 'Proxy-Protocol-Server-Port: 143']));
    const clientIp = observed.auth[0]!.indexOf('Client-IP: 203.0.113.7');
    expect(observed.auth[0]![clientIp + 1]).toBe('Proxy-Protocol-Addr: 203.0.113.7');
    expect(observed.backend[0]).toBe(`imap: PROXY TCP4 203.0.113.7 127.0.0.1 51000 {{port}}`);
    const untrusted = await play(posternPorts, scenarios.find((s) => s.name === 'an untrusted sender')!, posternLogLines, () => posternLog.length);
    expect(untrusted.auth[0]).toContain('Client-IP: 127.0.0.1');
    // mail_proxy_protocol.t: `$http_client_ip:$http_proxy_protocol_addr` and the backend's PROXY line.
    for (const [server, clientIp, source] of [['smtp', '192.0.2.1', '192.0.2.1'], ['smtpNoRealip', '127.0.0.1', '127.0.0.1']] as const) {
      const smtp = await play(posternPorts, scenarios.find((s) => s.server === server)!, posternLogLines, () => posternLog.length);
      expect(smtp.auth[0]).toEqual(expect.arrayContaining([`Client-IP: ${clientIp}`, 'Proxy-Protocol-Addr: 192.0.2.1']));
      expect(smtp.backend[0]).toMatch(new RegExp(`^smtp: PROXY TCP4 ${source.replaceAll('.', '\\.')} 127\\.0\\.0\\.1 \\d+ {{port}}$`));
      expect(smtp.backend).toContain(`smtp: XCLIENT ADDR=${clientIp} LOGIN=alice NAME=[UNAVAILABLE]`);
    }
    const broken = await play(posternPorts, scenarios.find((s) => s.name === 'garbled header')!, posternLogLines, () => posternLog.length);
    expect(broken.log).toEqual(['broken header: "PROXY TCP4 999.1.1.1 nonsense" while reading PROXY protocol']);
    expect(broken.auth).toEqual([]);
  });
});

describe('PROXY protocol, where Postern goes beyond nginx 1.22.1', () => {
  it('a header split across TCP segments completes (nginx 1.22.1 closes such a connection)', async () => {
    const mark = auth.requests.length;
    const client = await connect(posternPorts.imap);
    client.send(V1.slice(0, 9));
    await sleep(100);
    client.send(V1.slice(9, 30));
    await sleep(100);
    client.send(V1.slice(30));
    expect(await client.readLine()).toMatch(/^\* OK/);
    client.send('a1 LOGIN alice secret\r\n');
    expect(await client.readLine()).toBe('a1 OK LOGIN completed');
    client.socket.destroy();
    expect(auth.requests[mark]?.lines).toContain('Client-IP: 203.0.113.7');
  });

  it('a v2 header with 4 KB of TLVs (HAProxy send-proxy-v2-ssl), as nginx >= 1.23.3', async () => {
    const mark = auth.requests.length;
    const tlvs = Buffer.alloc(4096 - 28);
    tlvs[0] = 0x04; // PP2_TYPE_NOOP
    tlvs.writeUInt16BE(tlvs.length - 3, 1);
    const client = await connect(posternPorts.imap);
    client.send(v2Header([198, 51, 100, 20], [192, 0, 2, 2], 4000, 143, tlvs).toString('latin1'));
    expect(await client.readLine()).toMatch(/^\* OK/);
    client.send('a1 LOGIN alice secret\r\n');
    expect(await client.readLine()).toBe('a1 OK LOGIN completed');
    client.socket.destroy();
    expect(auth.requests[mark]?.lines).toContain('Client-IP: 198.51.100.20');
  });

  it('a client that never sends the header is closed after `timeout`, with nothing written', async () => {
    const text = `mail { auth_http ${auth.url}/auth; timeout 300ms; server { listen 127.0.0.1:${await freePort()} proxy_protocol; protocol imap; } }`;
    const proxy = await startProxy(parseConfigText(text, '/tmp/pp-timeout.conf'), { logger: pino({ level: 'silent' }) });
    try {
      const client = await connect(proxy.listeners[0]!.port);
      const started = Date.now();
      expect(await client.expectClosed(3000)).toBe('');
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    } finally {
      await proxy.close();
    }
  });

  it('postern_limit_conn_per_ip counts the client the header names, not the balancer', async () => {
    const text = `mail { auth_http ${auth.url}/auth; postern_limit_conn_per_ip 1; server { listen 127.0.0.1:${await freePort()} proxy_protocol; protocol imap; set_real_ip_from 127.0.0.1; } }`;
    const proxy = await startProxy(parseConfigText(text, '/tmp/pp-limit.conf'), { logger: pino({ level: 'silent' }) });
    const port = proxy.listeners[0]!.port;
    const from = async (source: string) => {
      const client = await connect(port);
      client.send(`PROXY TCP4 ${source} 192.0.2.2 1000 143\r\n`);
      return { client, first: await client.readLine() };
    };
    try {
      const one = await from('192.0.2.1');
      const other = await from('192.0.2.9');
      const again = await from('192.0.2.1');
      expect([one.first, other.first]).toEqual(['* OK IMAP4 ready', '* OK IMAP4 ready']);
      expect(again.first).toBe('* BAD internal server error');
      for (const c of [one, other, again]) c.client.socket.destroy();
    } finally {
      await proxy.close();
    }
  });

  it('proxy_protocol v2 towards the backend: the binary header, then the login', async () => {
    const received: Buffer[] = [];
    const backend = net.createServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        const text = chunk.toString('latin1');
        if (text.endsWith('LOGIN {5}\r\n') || text === 'alice {6}\r\n') socket.write('+ go\r\n');
        else if (text === 'secret\r\n') socket.write('a1 OK done\r\n');
      });
      socket.write('* OK ready\r\n');
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendPort = (backend.address() as net.AddressInfo).port;
    auth.setHandler(() => ({ headers: { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(backendPort) } }));
    const text = `mail { auth_http ${auth.url}/auth; proxy_protocol v2; server { listen 127.0.0.1:${await freePort()} proxy_protocol; protocol imap; set_real_ip_from 127.0.0.1; } }`;
    const proxy = await startProxy(parseConfigText(text, '/tmp/pp-v2.conf'), { logger: pino({ level: 'silent' }) });
    try {
      const client = await connect(proxy.listeners[0]!.port);
      client.send(V1);
      await client.readLine();
      client.send('a1 LOGIN alice secret\r\n');
      expect(await client.readLine()).toBe('a1 OK done');
      const verdict = readProxyHeader(Buffer.concat(received));
      expect(verdict).toMatchObject({
        status: 'header',
        addresses: { sourceAddress: '203.0.113.7', sourcePort: 51000, destinationAddress: '127.0.0.1', destinationPort: proxy.listeners[0]!.port },
      });
      client.socket.destroy();
    } finally {
      auth.setHandler(null);
      await proxy.close();
      backend.close();
    }
  });
});
