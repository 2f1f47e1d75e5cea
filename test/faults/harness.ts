/**
 * The fault suite's world, all in this process and on loopback: Postern started with
 * `startProxy`, a fake auth_http service and fake backends that misbehave on purpose, and a
 * client whose every byte on the wire is counted, so that it can reset its connection after
 * exactly `k` of them (plaintext, STARTTLS and implicit TLS alike). The same pieces drive the real
 * nginx in `record-nginx.ts`, which is how the expected replies and log lines were observed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ErrorLog, textSink } from '../../src/log/logger.js';
import { passes, type Level } from '../../src/log/levels.js';
import { parseConfigText } from '../../src/config/index.js';
import type { MailConfig } from '../../src/config/types.js';
import { startProxy, type RunningProxy } from '../../src/server.js';

export type Protocol = 'pop3' | 'imap' | 'smtp';
export type Transport = 'plain' | 'starttls' | 'implicit';
export const PROTOCOLS: readonly Protocol[] = ['pop3', 'imap', 'smtp'];
export const TRANSPORTS: readonly Transport[] = ['plain', 'starttls', 'implicit'];

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Certificate

let cert: { dir: string; certificate: string; key: string } | undefined;

/** An EC P-256 self-signed certificate (openssl CLI), once per process, removed at exit. */
export function certificate(): { certificate: string; key: string } {
  if (cert) return cert;
  const dir = mkdtempSync(join(tmpdir(), 'postern-faults-'));
  const certificatePath = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-days', '7', '-keyout', key, '-out', certificatePath], { stdio: 'ignore' });
  cert = { dir, certificate: certificatePath, key };
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return cert;
}

// ---------------------------------------------------------------------------------------------
// The mail block (one text for Postern and nginx)

export interface BlockOptions {
  authPort: number;
  /** `listen` ports by protocol: [starttls on (plain and STARTTLS clients), ssl (implicit TLS)]. */
  ports: Record<Protocol, [number, number]>;
  /** Directives at mail level, e.g. `timeout 1s;`. */
  extra?: string;
}

/** nginx's defaults but for what the faults need: smtp_auth, TLS, the auth service. */
export function mailBlock(options: BlockOptions): string {
  const { certificate: certPath, key } = certificate();
  const servers = PROTOCOLS.map(
    (protocol) => `
    server { listen 127.0.0.1:${options.ports[protocol][0]}; protocol ${protocol}; starttls on; }
    server { listen 127.0.0.1:${options.ports[protocol][1]} ssl; protocol ${protocol}; }`,
  ).join('');
  return `mail {
    server_name mx.test;
    auth_http 127.0.0.1:${options.authPort}/auth;
    smtp_auth login plain;
    ssl_certificate ${certPath};
    ssl_certificate_key ${key};
    ${options.extra ?? ''}${servers}
}
`;
}

/** One captured error_log line of Postern's (nginx's text, debug level included). */
export interface LogLine {
  level: Level;
  /** The text up to the `, client: ...` context, as record-nginx.ts keeps nginx's. */
  msg: string;
  line: string;
}

/** A line nginx would write at warn or above (a fault of its own, never a client's doing). */
export const aboveInfo = (line: LogLine): boolean => passes(line.level, 'warn');

/** A logger writing nginx's lines, from debug, into `log` (but the debug lines of the session's start and machine states). */
export function capturingLogger(log: LogLine[]): ErrorLog {
  return new ErrorLog([
    textSink('debug', {
      write: (text) => {
        const match = /^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*)\n$/.exec(text);
        if (match === null) throw new Error(`not an error_log line: ${JSON.stringify(text)}`);
        if (match[2]!.startsWith('mail state ') || match[2]!.startsWith('mail session: ')) return;
        log.push({ level: match[1] as Level, msg: match[2]!.replace(/, client: .*$/, ''), line: text.trimEnd() });
      },
    }),
  ]);
}

export interface FaultProxy {
  proxy: RunningProxy;
  /** Listening ports: `port(protocol, transport)`. */
  port(protocol: Protocol, transport: Transport): number;
  /** Every line logged so far. */
  log: LogLine[];
  /** Lines logged since `mark` (an index into `log`). */
  since(mark: number): LogLine[];
  /** Listeners: what `connectionsInUse` comes back to when no client is left. */
  idleConnections: number;
  close(): Promise<void>;
}

/** Postern in this process, every listener on a free port of its own (port 0). */
export async function startFaultProxy(authPort: number, extra = ''): Promise<FaultProxy> {
  // nginx refuses port 0 in `listen`: parse with placeholders, then bind each to a port of its own.
  const placeholders = Object.fromEntries(PROTOCOLS.map((protocol, i) => [protocol, [1001 + 2 * i, 1002 + 2 * i]])) as Record<Protocol, [number, number]>;
  const parsed = parseConfigText(mailBlock({ authPort, ports: placeholders, extra }), 'faults.conf');
  const config: MailConfig = {
    ...parsed,
    servers: parsed.servers.map((server) => ({ ...server, listens: server.listens.map((listen) => ({ ...listen, port: 0, text: '127.0.0.1:0' })) })),
  };
  const log: LogLine[] = [];
  const proxy = await startProxy(config, { logger: capturingLogger(log) });
  const byKey = new Map<string, number>();
  for (const listener of proxy.listeners) {
    const transport = listener.listen.ssl ? ['implicit'] : ['plain', 'starttls'];
    for (const t of transport) byKey.set(`${listener.server.protocol}/${t}`, listener.port);
  }
  return {
    proxy,
    port: (protocol, transport) => byKey.get(`${protocol}/${transport}`)!,
    log,
    since: (mark) => log.slice(mark),
    idleConnections: proxy.listeners.length,
    close: () => proxy.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// Leaks

/** Handles a leaked session would keep alive. */
const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'TLSWrap', 'ConnectWrap', 'Timeout', 'Immediate', 'JSSTREAM'];

export type Resources = Record<string, number>;

export function resources(): Resources {
  const out: Resources = {};
  for (const r of process.getActiveResourcesInfo()) if (WATCHED.includes(r)) out[r] = (out[r] ?? 0) + 1;
  return out;
}

const above = (now: Resources, before: Resources): string[] => Object.keys(now).filter((k) => (now[k] ?? 0) > (before[k] ?? 0));

/**
 * Waits (bounded) until the proxy has no client and holds only its listeners' share of
 * `worker_connections`, and no watched handle count is above `before`. Returns what was still
 * different at the deadline (empty: all clear), for the test to assert on.
 */
export async function settle(fp: FaultProxy, before: Resources, timeoutMs = 5_000): Promise<{ sessions: number; connectionsInUse: number; excess: Resources }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const now = resources();
    const over = above(now, before);
    const done = fp.proxy.sessions === 0 && fp.proxy.connectionsInUse === fp.idleConnections && over.length === 0;
    if (done || Date.now() >= deadline) {
      return {
        sessions: fp.proxy.sessions,
        connectionsInUse: fp.proxy.connectionsInUse - fp.idleConnections,
        excess: Object.fromEntries(over.map((k) => [k, (now[k] ?? 0) - (before[k] ?? 0)])),
      };
    }
    await sleep(5);
  }
}

export const CLEAN = { sessions: 0, connectionsInUse: 0, excess: {} };

// ---------------------------------------------------------------------------------------------
// The fake auth_http service

export interface AuthQuery {
  user: string;
  protocol: string;
}

/** What the fake auth service does with one request. */
export type AuthAnswer =
  | { ok: number }
  | { raw: string }
  | { hang: true }
  | { drop: true }
  | { afterMs: number; then: AuthAnswer };

function unescape(value: string): string {
  return value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** A small auth_http server: reads the request head, answers as `route` says. */
export class FakeAuth {
  port = 0;
  requests = 0;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(public route: (query: AuthQuery) => AuthAnswer) {}

  static async start(route: (query: AuthQuery) => AuthAnswer): Promise<FakeAuth> {
    const auth = new FakeAuth(route);
    await auth.listen();
    return auth;
  }

  /** Listens on its port (a free one the first time, the same one after `stop`). */
  async listen(): Promise<void> {
    const server = net.createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Down: nothing listens on the port (a connection is refused); open connections are reset. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private serve(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      this.requests++;
      const header = (name: string) => unescape(new RegExp(`^${name}: (.*)$`, 'mi').exec(head)?.[1]?.replace(/\r$/, '') ?? '');
      this.answer(socket, this.route({ user: header('Auth-User'), protocol: header('Auth-Protocol') }));
    };
    socket.on('data', onData);
  }

  private answer(socket: net.Socket, answer: AuthAnswer): void {
    if (socket.destroyed) return;
    if ('afterMs' in answer) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.answer(socket, answer.then);
      }, answer.afterMs);
      // The service's own delay is no handle of the proxy's: it must not count in leak checks.
      timer.unref();
      this.timers.add(timer);
    } else if ('ok' in answer) {
      socket.end(`HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: ${answer.ok}\r\n\r\n`);
    } else if ('raw' in answer) {
      socket.end(answer.raw, 'latin1');
    } else if ('drop' in answer) {
      socket.destroy();
    }
    // hang: the connection stays open until the proxy gives up on it.
  }
}

// ---------------------------------------------------------------------------------------------
// Fake backends

export type BackendBehaviour =
  | 'good'
  | 'resetAtAccept'
  | 'garbageGreeting'
  | 'stallMidLogin'
  | 'resetMidLogin'
  | 'closeMidLogin'
  | 'closeMidRelay'
  | 'resetMidRelay';

export interface Backend {
  port: number;
  /** Lines the proxy relayed after the login, over all connections. */
  relayed: string[];
  close(): Promise<void>;
}

export const BACKEND_GREETING: Record<Protocol, string> = {
  pop3: '+OK fake pop3 ready\r\n',
  imap: '* OK fake imap ready\r\n',
  smtp: '220 fake.backend ESMTP\r\n',
};

/** A web server where a mail server should be. */
export const GARBAGE_GREETING = 'HTTP/1.1 400 Bad Request\r\n';

/**
 * Answers the login dialogue as nginx and Postern conduct it: POP3 USER/PASS, IMAP LOGIN with
 * two literals, SMTP EHLO, XCLIENT (nginx's default `xclient on`), the client's EHLO again.
 * Returns the reply, and whether the login is complete with it.
 */
function loginReply(protocol: Protocol, line: string, state: { tag: string; steps: number }): { reply: string; done: boolean } {
  state.steps++;
  switch (protocol) {
    case 'pop3':
      return /^PASS /.test(line) ? { reply: '+OK logged in\r\n', done: true } : { reply: '+OK\r\n', done: false };
    case 'imap':
      if (state.steps === 1) state.tag = line.split(' ')[0] ?? '';
      return /\{\d+\}$/.test(line) ? { reply: '+ go ahead\r\n', done: false } : { reply: `${state.tag} OK logged in\r\n`, done: true };
    case 'smtp':
      if (/^XCLIENT /.test(line)) return { reply: '220 fake.backend ESMTP\r\n', done: false };
      // EHLO with the proxy's name, then (after XCLIENT) with the client's: the login ends there.
      return { reply: '250 fake.backend\r\n', done: state.steps >= 3 };
  }
}

function relayReply(protocol: Protocol, line: string): { reply: string; end: boolean } {
  switch (protocol) {
    case 'pop3':
      return /^QUIT/i.test(line) ? { reply: '+OK bye\r\n', end: true } : { reply: '+OK relayed\r\n', end: false };
    case 'imap': {
      const [tag = '*', verb = ''] = line.split(' ');
      return /^LOGOUT$/i.test(verb) ? { reply: `* BYE\r\n${tag} OK bye\r\n`, end: true } : { reply: `${tag} OK relayed\r\n`, end: false };
    }
    case 'smtp':
      return /^QUIT/i.test(line) ? { reply: '221 bye\r\n', end: true } : { reply: '250 relayed\r\n', end: false };
  }
}

/** A backend on a free loopback port; `refused` is a port where nothing listens. */
export async function startBackend(protocol: Protocol, behaviour: BackendBehaviour | 'refused'): Promise<Backend> {
  const relayed: string[] = [];
  if (behaviour === 'refused') {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    return { port, relayed, close: async () => undefined };
  }
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (behaviour === 'resetAtAccept') {
      socket.resetAndDestroy();
      return;
    }
    if (behaviour === 'garbageGreeting') {
      socket.write(GARBAGE_GREETING);
      return;
    }
    socket.write(BACKEND_GREETING[protocol]);
    if (behaviour === 'resetMidLogin') {
      socket.once('data', () => socket.resetAndDestroy());
      return;
    }
    const state = { tag: '', steps: 0 };
    let loggedIn = false;
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n'); end >= 0 && !socket.destroyed; end = pending.indexOf('\r\n')) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 2);
        if (!loggedIn) {
          if (behaviour === 'stallMidLogin') return;
          if (behaviour === 'closeMidLogin') {
            socket.end();
            return;
          }
          const { reply, done } = loginReply(protocol, line, state);
          socket.write(reply);
          loggedIn = done;
          continue;
        }
        relayed.push(line);
        if (behaviour === 'closeMidRelay') {
          socket.end();
          return;
        }
        if (behaviour === 'resetMidRelay') {
          socket.resetAndDestroy();
          return;
        }
        const answer = relayReply(protocol, line);
        socket.write(answer.reply);
        if (answer.end) socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    relayed,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The client: every byte it writes is counted, and it can reset after exactly `limit` of them

/** Thrown into a dialogue once its connection was reset on purpose. */
export class Cut extends Error {
  constructor() {
    super('connection reset by the test');
  }
}

/** How a cut is made: right after the limit's byte, or (at a write boundary) at the next write. */
export type CutMode = 'immediate' | 'idle';

/**
 * The client's side of the TCP connection as a Duplex over the socket, so that TLS (implicit or
 * after STARTTLS) runs over it too: the encrypted bytes are what is counted and cut.
 */
export class Wire extends Duplex {
  /** Bytes handed to the socket so far. */
  written = 0;
  /** Sizes of the writes, in order (a reference run gives the write boundaries). */
  readonly writes: number[] = [];
  /** What the dialogue was doing (set by it), as of the cut. */
  phase = 'connect';
  cutPhase: string | null = null;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly raw: net.Socket,
    private readonly limit: number,
    private readonly mode: CutMode,
  ) {
    super();
    raw.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('error', () => undefined);
    raw.on('close', () => {
      this.destroy();
      this.wake();
    });
  }

  static connect(port: number, limit = Infinity, mode: CutMode = 'immediate', localAddress?: string): Promise<Wire> {
    return new Promise((resolve, reject) => {
      const raw = net.connect({ port, host: '127.0.0.1', ...(localAddress === undefined ? {} : { localAddress }) });
      raw.setNoDelay(true);
      raw.once('error', reject);
      raw.once('connect', () => {
        raw.off('error', reject);
        const wire = new Wire(raw, limit, mode);
        if (limit === 0 && mode === 'immediate') wire.reset();
        resolve(wire);
      });
    });
  }

  get isCut(): boolean {
    return this.cutPhase !== null;
  }

  /** Reset the connection now (RST: SO_LINGER 0, then close). */
  reset(): void {
    if (this.cutPhase !== null) return;
    this.cutPhase = this.phase;
    if (!this.raw.destroyed) this.raw.resetAndDestroy();
    this.wake();
  }

  /** Resolves when the connection is gone (cut, or closed by the other side). */
  onGone(wake: () => void): () => void {
    this.waiters.add(wake);
    return () => this.waiters.delete(wake);
  }

  private wake(): void {
    for (const wake of [...this.waiters]) wake();
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.cutPhase !== null || this.raw.destroyed) {
      callback();
      return;
    }
    this.writes.push(chunk.length);
    const room = this.limit - this.written;
    if (this.mode === 'idle' && room <= 0) {
      this.reset();
      callback();
      return;
    }
    if (chunk.length < room) {
      this.written += chunk.length;
      this.raw.write(chunk, () => callback());
      return;
    }
    // This write reaches the limit: its first `room` bytes go, then the reset.
    this.written += room;
    if (this.mode === 'idle' && room === chunk.length) {
      // At a boundary in idle mode the reset waits for the next write (or the dialogue's end).
      this.raw.write(chunk, () => callback());
      return;
    }
    const part = chunk.subarray(0, room);
    if (part.length === 0) this.reset();
    else this.raw.write(part, () => this.reset());
    callback();
  }

  override _final(callback: () => void): void {
    this.raw.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error: Error | null) => void): void {
    if (!this.raw.destroyed) this.raw.destroy();
    callback(error);
  }
}

/** Line reading over the wire, or over TLS on top of it. */
export class Conversation {
  private buffer = '';
  private closed = false;
  private stream: Duplex;
  private readonly notify = new Set<() => void>();
  /** Every byte received, in order. */
  received = '';

  private constructor(readonly wire: Wire) {
    this.stream = wire;
    this.attach(wire);
    wire.onGone(() => this.wakeAll());
  }

  /** Connects; with `limit`, the wire is reset after that many bytes. */
  static async connect(port: number, options: { limit?: number; mode?: CutMode; localAddress?: string } = {}): Promise<Conversation> {
    return new Conversation(await Wire.connect(port, options.limit, options.mode, options.localAddress));
  }

  /** Connects and, for implicit TLS, handshakes. */
  static async open(port: number, transport: Transport): Promise<Conversation> {
    const conversation = await Conversation.connect(port);
    if (transport === 'implicit') await conversation.handshake();
    return conversation;
  }

  private readonly onData = (chunk: Buffer) => {
    const text = chunk.toString('latin1');
    this.buffer += text;
    this.received += text;
    this.wakeAll();
  };
  private readonly onClose = () => {
    this.closed = true;
    this.wakeAll();
  };

  private attach(stream: Duplex): void {
    stream.on('data', this.onData);
    stream.on('end', this.onClose);
    stream.on('close', this.onClose);
    stream.on('error', () => undefined);
  }

  private wakeAll(): void {
    for (const wake of [...this.notify]) wake();
  }

  private wait(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.notify.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, deadline - Date.now()));
      this.notify.add(wake);
    });
  }

  /** The TLS handshake over the wire (implicit TLS, or after STARTTLS/STLS was accepted). */
  async handshake(timeoutMs = 10_000): Promise<void> {
    this.wire.phase = 'handshake';
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onClose);
    this.stream.off('close', this.onClose);
    const secure = tls.connect({ socket: this.wire, rejectUnauthorized: false, servername: 'localhost' });
    secure.on('error', () => undefined);
    this.stream = secure;
    this.attach(secure);
    const deadline = Date.now() + timeoutMs;
    let ready = false;
    secure.once('secureConnect', () => {
      ready = true;
      this.wakeAll();
    });
    while (!ready) {
      if (this.wire.isCut) throw new Cut();
      if (this.closed) throw new Error(`connection closed during the TLS handshake; received ${JSON.stringify(this.received)}`);
      if (Date.now() >= deadline) throw new Error('no TLS handshake within the deadline');
      await this.wait(deadline);
    }
  }

  /** Sends bytes (latin1); throws `Cut` once the wire was reset. */
  async send(bytes: string, phase: string): Promise<void> {
    if (this.wire.isCut) throw new Cut();
    this.wire.phase = phase;
    await new Promise<void>((resolve) => this.stream.write(bytes, 'latin1', () => resolve()));
    if (this.wire.isCut) throw new Cut();
  }

  /** Consumes and returns the text up to the end of the first match of `until` (which should end with \r\n). */
  async read(until: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = until.exec(this.buffer);
      if (match) {
        const end = match.index + match[0].length;
        const text = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end);
        return text;
      }
      if (this.wire.isCut) throw new Cut();
      if (this.closed) throw new Error(`closed while waiting for ${until}; pending ${JSON.stringify(this.buffer)}`);
      if (Date.now() >= deadline) throw new Error(`nothing matched ${until} within ${timeoutMs} ms; pending ${JSON.stringify(this.buffer)}`);
      await this.wait(deadline);
    }
  }

  /** Everything until the other side closes; rejects if it is still open at the deadline. */
  async untilClosed(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() >= deadline) throw new Error(`still open after ${timeoutMs} ms; pending ${JSON.stringify(this.buffer)}`);
      await this.wait(deadline);
    }
    const rest = this.buffer;
    this.buffer = '';
    return rest;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes our side at once (no reset). */
  destroy(): void {
    this.stream.destroy();
    this.wire.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Dialogues: what a client says and waits for, per protocol and transport

/** A line ending, and for SMTP the last line of a multi-line reply. */
const LINE = /\r\n/;
const SMTP_REPLY = /(?:^|\r\n)\d{3} [^\r\n]*\r\n/;

/** The credentials line that completes a login, as the client sends it. */
export function loginLine(protocol: Protocol, user: string, password = 'secret'): string {
  switch (protocol) {
    case 'pop3':
      return `PASS ${password}\r\n`;
    case 'imap':
      return `a LOGIN ${user} ${password}\r\n`;
    case 'smtp':
      return `AUTH PLAIN ${Buffer.from(`\0${user}\0${password}`, 'latin1').toString('base64')}\r\n`;
  }
}

/** The greeting, and on a STARTTLS transport STARTTLS/STLS (after EHLO for SMTP) and the handshake. */
export async function untilTls(c: Conversation, protocol: Protocol, transport: Transport): Promise<void> {
  c.wire.phase = 'greeting';
  if (protocol === 'smtp') await c.read(SMTP_REPLY);
  else await c.read(LINE);
  if (transport === 'starttls') {
    if (protocol === 'pop3') await c.send('STLS\r\n', 'preauth');
    if (protocol === 'imap') await c.send('s STARTTLS\r\n', 'preauth');
    if (protocol === 'smtp') {
      await c.send('EHLO client.test\r\n', 'preauth');
      await c.read(SMTP_REPLY);
      await c.send('STARTTLS\r\n', 'preauth');
    }
    await c.read(protocol === 'smtp' ? SMTP_REPLY : LINE);
    await c.handshake();
  }
}

/** Up to (not including) the credentials line: greeting, STARTTLS/STLS and handshake, EHLO, USER. */
export async function beforeLogin(c: Conversation, protocol: Protocol, transport: Transport, user: string): Promise<void> {
  await untilTls(c, protocol, transport);
  if (protocol === 'pop3') {
    await c.send(`USER ${user}\r\n`, 'preauth');
    await c.read(LINE);
  }
  if (protocol === 'smtp') {
    await c.send('EHLO client.test\r\n', 'preauth');
    await c.read(SMTP_REPLY);
  }
}

/** What a logged-in client receives as the reply to its credentials (the backend's, or Postern's 235). */
export const LOGGED_IN: Record<Protocol, string> = {
  pop3: '+OK logged in\r\n',
  imap: 'a OK logged in\r\n',
  smtp: '235 2.0.0 OK\r\n',
};

/** One command relayed to the backend, and the fake backend's answer. */
export const RELAYED: Record<Protocol, { command: string; reply: string }> = {
  pop3: { command: 'NOOP\r\n', reply: '+OK relayed\r\n' },
  imap: { command: 'b NOOP\r\n', reply: 'b OK relayed\r\n' },
  smtp: { command: 'NOOP\r\n', reply: '250 relayed\r\n' },
};

export const QUIT: Record<Protocol, { command: string; reply: string }> = {
  pop3: { command: 'QUIT\r\n', reply: '+OK bye\r\n' },
  imap: { command: 'c LOGOUT\r\n', reply: '* BYE\r\nc OK bye\r\n' },
  smtp: { command: 'QUIT\r\n', reply: '221 bye\r\n' },
};

/** nginx's internal-error reply (`ngx_mail_session_internal_server_error`), per protocol. */
export const INTERNAL_ERROR: Record<Protocol, string> = {
  pop3: '-ERR internal server error\r\n',
  imap: '* BAD internal server error\r\n',
  smtp: '451 4.3.2 Internal server error\r\n',
};

/**
 * A whole session that must succeed: login, one relayed command, QUIT/LOGOUT, the close. Returns
 * what the client received after its credentials, for the caller to compare.
 */
export async function fullSession(port: number, protocol: Protocol, transport: Transport, user: string): Promise<string> {
  const c = await Conversation.open(port, transport);
  try {
    await beforeLogin(c, protocol, transport, user);
    await c.send(loginLine(protocol, user), 'login');
    let got = await c.read(LINE);
    await c.send(RELAYED[protocol].command, 'relay');
    got += await c.read(LINE);
    await c.send(QUIT[protocol].command, 'relay');
    got += await c.untilClosed();
    return got;
  } finally {
    c.destroy();
  }
}
