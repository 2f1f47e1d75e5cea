/**
 * Byte-level helpers for the runtime-glue tests (starttls-discard.test.ts, relay.test.ts): a
 * client that keeps raw bytes, a backend that answers Postern's login dialogue and then records
 * every byte it relays, a proxy with one server and a recording auth service, and a logger
 * whose lines a test can read. Everything in process, no daemons.
 */
import net from 'node:net';
import tls from 'node:tls';
import { pino } from 'pino';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import type { MailConfig, ServerConfig } from '../../src/config/types.js';
import type { Logger } from '../../src/log.js';
import { startProxy, type RunningProxy } from '../../src/server.js';
import { serverConfig, testCertificate } from './fixtures.js';

export type Protocol = 'pop3' | 'imap' | 'smtp';
/** How the client reaches the proxy: plain TCP, `listen ... ssl`, or plain TCP then STARTTLS/STLS. */
export type Transport = 'plaintext' | 'implicit TLS' | 'STARTTLS';

export const USER = 'test@example.com';
export const PASSWORD = 'secret';
export const b64 = (text: string): string => Buffer.from(text, 'latin1').toString('base64');

/** Bounded wait for a condition, polled on timers; the message names what never came. */
export async function until(what: string, condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A client that keeps every byte it received (across a STARTTLS upgrade) and knows when the server closed. */
export class ByteClient {
  received: Buffer = Buffer.alloc(0);
  /** Offset of the first byte not consumed by `line()` / `bytes()`. */
  private read = 0;
  closed = false;

  private constructor(public socket: net.Socket | tls.TLSSocket) {
    this.attach(socket);
  }

  private attach(socket: net.Socket | tls.TLSSocket): void {
    socket.on('data', (chunk: Buffer) => (this.received = Buffer.concat([this.received, chunk])));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static connect(port: number, implicitTls = false): Promise<ByteClient> {
    return new Promise((resolve, reject) => {
      const socket = implicitTls
        ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(new ByteClient(socket)))
        : net.connect({ port, host: '127.0.0.1' }, () => resolve(new ByteClient(socket)));
      socket.once('error', reject);
    });
  }

  send(bytes: string | Buffer): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** The next CRLF-terminated line (latin1, CRLF stripped); throws if none arrives or the server closed first. */
  async line(ms = 5000): Promise<string> {
    const end = () => this.received.indexOf('\r\n', this.read, 'latin1');
    await until(`a line (so far after the last one: ${JSON.stringify(this.received.subarray(this.read).toString('latin1'))})`, () => end() >= 0 || this.closed, ms);
    const at = end();
    if (at < 0) throw new Error(`the server closed before a line came (unread: ${JSON.stringify(this.received.subarray(this.read).toString('latin1'))})`);
    const line = this.received.subarray(this.read, at).toString('latin1');
    this.read = at + 2;
    return line;
  }

  async lines(count: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(await this.line());
    return out;
  }

  /** Exactly the next `count` bytes. */
  async bytes(count: number, ms = 10_000): Promise<Buffer> {
    await until(`${count} bytes (have ${this.received.length - this.read})`, () => this.received.length - this.read >= count || this.closed, ms);
    if (this.received.length - this.read < count) throw new Error(`the server closed after ${this.received.length - this.read} of ${count} bytes`);
    const out = this.received.subarray(this.read, this.read + count);
    this.read += count;
    return Buffer.from(out);
  }

  /** Waits for the server to close; returns what arrived unread before the close. */
  async closedWith(ms = 5000): Promise<string> {
    await until('the server to close the connection', () => this.closed, ms);
    return this.received.subarray(this.read).toString('latin1');
  }

  /** Upgrade in place after the server accepted STARTTLS/STLS (everything before it must have been read). */
  async startTls(): Promise<void> {
    if (this.read !== this.received.length) throw new Error(`unread bytes before the handshake: ${JSON.stringify(this.received.subarray(this.read).toString('latin1'))}`);
    const raw = this.socket as net.Socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: raw, rejectUnauthorized: false, servername: 'localhost' }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = secure;
    this.attach(secure);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** One connection the backend accepted: the login lines it was sent, then every relayed byte. */
export interface BackendConnection {
  /** The login dialogue's lines, as Postern sent them (CRLF stripped). */
  loginLines: string[];
  /** Everything after the login dialogue, byte for byte. */
  relayed: Buffer;
  closed: boolean;
  socket: net.Socket;
}

export interface LoginBackend {
  port: number;
  connections: BackendConnection[];
  close(): Promise<void>;
}

/**
 * A backend for Postern's login dialogue (src/proxy/backend-login.ts) that, once the dialogue is
 * over, records every byte it receives and sends only what a test writes. POP3: USER, PASS (its
 * reply is `+OK logged in`); IMAP: LOGIN with two literals (`<tag> OK logged in`); SMTP: 250 to
 * EHLO/HELO, 220 to XCLIENT, 250 to MAIL, `250 2.1.5 rcpt ok` to RCPT; the SMTP dialogue ends
 * after `smtpLoginLines` lines (EHLO mx.test, XCLIENT, the client's EHLO: 3; with MAIL and RCPT: 5).
 */
export async function loginBackend(protocol: Protocol, smtpLoginLines = 3): Promise<LoginBackend> {
  const connections: BackendConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const connection: BackendConnection = { loginLines: [], relayed: Buffer.alloc(0), closed: false, socket };
    connections.push(connection);
    socket.on('close', () => {
      connection.closed = true;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    socket.write(protocol === 'pop3' ? '+OK backend ready\r\n' : protocol === 'imap' ? '* OK backend ready\r\n' : '220 backend ESMTP\r\n');
    const loginLength = protocol === 'pop3' ? 2 : protocol === 'imap' ? 3 : smtpLoginLines;
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (connection.loginLines.length === loginLength) {
        connection.relayed = Buffer.concat([connection.relayed, chunk]);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf('\r\n'); end >= 0 && connection.loginLines.length < loginLength; end = pending.indexOf('\r\n')) {
        const line = pending.subarray(0, end).toString('latin1');
        pending = pending.subarray(end + 2);
        connection.loginLines.push(line);
        socket.write(loginReply(protocol, line, connection.loginLines));
      }
      if (connection.loginLines.length === loginLength) {
        connection.relayed = Buffer.concat([connection.relayed, pending]);
        pending = Buffer.alloc(0);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function loginReply(protocol: Protocol, line: string, lines: string[]): string {
  if (protocol === 'pop3') return line.startsWith('PASS ') ? '+OK logged in\r\n' : '+OK\r\n';
  if (protocol === 'imap') return lines.length < 3 ? '+ go ahead\r\n' : `${lines[0]!.split(' ')[0]} OK logged in\r\n`;
  const verb = line.split(' ')[0]!.toUpperCase();
  if (verb === 'XCLIENT') return '220 backend ESMTP\r\n';
  if (verb === 'RCPT') return '250 2.1.5 rcpt ok\r\n';
  return '250 ok\r\n';
}

/** The first line the client sees once the backend accepted the login (the backend's, or the proxy's 235). */
export function loggedInLine(protocol: Protocol, tag = 'a1'): string {
  return protocol === 'pop3' ? '+OK logged in' : protocol === 'imap' ? `${tag} OK logged in` : '235 2.0.0 OK';
}

/** pino JSON lines, parsed, for assertions on what Postern logged. */
export function capturingLogger(level: 'info' | 'debug' = 'info'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** Server settings for a transport: a certificate for TLS, `listen ... ssl` for implicit TLS, `starttls on` for STARTTLS. */
export function transportSettings(transport: Transport): Partial<ServerConfig> {
  const { certificate, key } = testCertificate();
  const base = serverConfig();
  return {
    ssl: { ...base.ssl, certificates: [certificate], certificateKeys: [key] },
    starttls: transport === 'STARTTLS' ? 'on' : 'off',
    listens: [{ ...base.listens[0]!, ssl: transport === 'implicit TLS' }],
  };
}

/** One server in front of `backendPort`; the auth service says OK to everyone and records the requests. */
export async function proxyFor(
  protocol: Protocol,
  backendPort: number,
  settings: Partial<ServerConfig>,
  logger: Logger,
): Promise<{ proxy: RunningProxy; port: number; requests: AuthRequest[] }> {
  const requests: AuthRequest[] = [];
  const auth = {
    request: async (request: AuthRequest): Promise<AuthOutcome> => {
      requests.push(request);
      return { status: 'ok', server: '127.0.0.1', port: backendPort };
    },
  };
  const config: MailConfig = {
    file: 'test',
    servers: [serverConfig({ protocol, smtpAuth: ['plain', 'login', 'none'], ...settings })],
    notices: [],
    workerProcesses: 1,
    workerConnections: 512,
  };
  const proxy = await startProxy(config, { logger, authFor: () => auth });
  return { proxy, port: proxy.listeners[0]!.port, requests };
}

/** Reads the greeting, and for STARTTLS runs the upgrade (SMTP: EHLO first, as clients do). */
export async function connectAndGreet(protocol: Protocol, port: number, transport: Transport): Promise<ByteClient> {
  const client = await ByteClient.connect(port, transport === 'implicit TLS');
  await client.line();
  if (transport !== 'STARTTLS') return client;
  if (protocol === 'smtp') {
    client.send('EHLO client.test\r\n');
    await readEhlo(client);
  }
  client.send(protocol === 'pop3' ? 'STLS\r\n' : protocol === 'imap' ? 's1 STARTTLS\r\n' : 'STARTTLS\r\n');
  const reply = await client.line();
  if (reply !== (protocol === 'pop3' ? '+OK' : protocol === 'imap' ? 's1 OK completed' : '220 2.0.0 Start TLS')) throw new Error(`STARTTLS refused: ${reply}`);
  await client.startTls();
  return client;
}

/** An EHLO reply's lines, up to the last (`250 `). */
export async function readEhlo(client: ByteClient): Promise<string[]> {
  const lines: string[] = [];
  for (let i = 0; i < 20; i++) {
    const line = await client.line();
    lines.push(line);
    if (!line.startsWith('250-')) return lines;
  }
  throw new Error(`EHLO reply without an end: ${lines.join(' / ')}`);
}

/** A deterministic PRNG (mulberry32) so that a failing split can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every byte value 0..255, `rounds` times, each round in its own shuffled order. */
export function everyByte(random: () => number, rounds: number): Buffer {
  const out = Buffer.alloc(256 * rounds);
  for (let r = 0; r < rounds; r++) {
    const block = Array.from({ length: 256 }, (_, i) => i);
    for (let i = block.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [block[i], block[j]] = [block[j]!, block[i]!];
    }
    Buffer.from(block).copy(out, r * 256);
  }
  return out;
}

/** `bytes` cut at random points: many pieces of 1 to 8 bytes (UTF-8 sequences and CRLFs cut apart), the rest up to `maxChunk`. */
export function randomSplits(bytes: Buffer, random: () => number, maxChunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = random() < 0.3 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * maxChunk);
    out.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

/** Writes each piece on its own turn of the event loop, so that they leave as separate writes. */
export async function writePieces(socket: net.Socket, pieces: Buffer[]): Promise<void> {
  for (const piece of pieces) {
    socket.write(piece);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
