import net from 'node:net';
import tls from 'node:tls';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/index.js';
import type { ServerConfig } from '../../src/config/types.js';

/**
 * A ServerConfig with nginx's defaults (from the real parser), listening on an ephemeral
 * loopback port, for tests that build servers in code.
 */
export function serverConfig(overrides: Partial<ServerConfig> = {}): ServerConfig {
  const parsed = parseConfigText(
    'mail { auth_http 127.0.0.1:1/; server_name mx.test; server { listen 127.0.0.1:1; protocol pop3; } }',
    'test',
  ).servers[0]!;
  const listen = { ...parsed.listens[0]!, port: 0, text: '127.0.0.1:0' };
  return { ...parsed, listens: [listen], ...overrides };
}

let certCache: { certificate: string; key: string } | null = null;

/** A self-signed certificate made with the openssl CLI, once per test process. */
export function testCertificate(): { certificate: string; key: string } {
  if (certCache) return certCache;
  const dir = mkdtempSync(join(tmpdir(), 'postern-cert-'));
  const certificate = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '7', '-keyout', key, '-out', certificate], { stdio: 'ignore' });
  readFileSync(certificate);
  certCache = { certificate, key };
  return certCache;
}

/**
 * A scripted backend like nginx-tests' fake servers: POP3 accepts `USER test@example.com` /
 * `PASS secret`, IMAP accepts LOGIN with literals; both echo a recognisable line for later
 * commands, so tests see what reached the backend.
 */
export async function fakeBackend(protocol: 'pop3' | 'imap'): Promise<{ port: number; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.write(protocol === 'pop3' ? '+OK fake pop3 server ready\r\n' : '* OK fake imap server ready\r\n');
    let buffer = '';
    let literal = 0;
    let pending = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (literal > 0) {
          if (buffer.length < literal) return;
          pending += buffer.slice(0, literal);
          buffer = buffer.slice(literal);
          literal = 0;
        }
        const end = buffer.indexOf('\r\n');
        if (end < 0) return;
        const line = pending + buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lit = /\{(\d+)\}$/.exec(line);
        if (protocol === 'imap' && lit) {
          pending = line.slice(0, lit.index) + '\u0000';
          literal = Number(lit[1]);
          socket.write('+ go ahead\r\n');
          continue;
        }
        pending = '';
        received.push(line);
        socket.write(answer(protocol, line));
        // Like real servers, hang up after QUIT/LOGOUT.
        if (/^(QUIT|\S+ LOGOUT)$/i.test(line)) socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answer(protocol: 'pop3' | 'imap', line: string): string {
  if (protocol === 'pop3') {
    if (line === 'USER test@example.com') return '+OK user ok\r\n';
    if (line === 'PASS secret') return '+OK pass ok\r\n';
    if (line === 'QUIT') return '+OK quit ok\r\n';
    return `-ERR unknown command ${line.split(' ')[0]}\r\n`;
  }
  const [tag = '*', verb = ''] = line.split(' ');
  if (verb.toUpperCase() === 'LOGIN') {
    const [, user, password] = line.split('\u0000');
    return user?.startsWith('test@example.com') && password === 'secret' ? `${tag} OK login ok\r\n` : `${tag} NO bad login\r\n`;
  }
  if (verb.toUpperCase() === 'LOGOUT') return `* BYE\r\n${tag} OK logout ok\r\n`;
  return `${tag} OK ${verb} relayed\r\n`;
}

/** A line-reading client for transcripts. */
export class LineClient {
  private buffer = '';
  private waiters: Array<() => void> = [];
  private ended = false;
  constructor(public socket: net.Socket | tls.TLSSocket) {
    this.attach(socket);
  }

  private attach(socket: net.Socket | tls.TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      this.flush();
    });
    socket.on('end', () => {
      this.ended = true;
      this.flush();
    });
    socket.on('close', () => {
      this.ended = true;
      this.flush();
    });
    socket.on('error', () => undefined);
  }

  private flush() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  static connect(port: number, options: { tls?: boolean; host?: string } = {}): Promise<LineClient> {
    const host = options.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      const socket = options.tls
        ? tls.connect({ port, host, rejectUnauthorized: false }, () => resolve(new LineClient(socket)))
        : net.connect({ port, host }, () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  send(text: string): void {
    this.socket.write(text, 'latin1');
  }

  /** The next line without its CRLF; `null` once the server closed. */
  async line(timeoutMs = 3000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return line;
      }
      if (this.ended) return null;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms (buffer: ${JSON.stringify(this.buffer)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async lines(count: number): Promise<Array<string | null>> {
    const out: Array<string | null> = [];
    for (let i = 0; i < count; i++) out.push(await this.line());
    return out;
  }

  /** Upgrade this connection to TLS (after the server accepted STARTTLS/STLS). */
  async startTls(): Promise<void> {
    const raw = this.socket as net.Socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('end');
    raw.removeAllListeners('close');
    this.buffer = '';
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.ended = false;
    this.attach(secure);
  }

  close(): void {
    this.socket.destroy();
  }
}
