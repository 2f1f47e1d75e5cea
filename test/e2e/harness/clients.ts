/**
 * Clients for scripted end-to-end transcripts.
 *
 * `connect()` gives a raw line-oriented TCP/TLS client. All strings are "binary strings"
 * (latin1: one char per byte) so that byte-exact comparisons work for any octet.
 * `send()` sends exactly what it is given (add "\r\n" yourself, or use `sendLine`).
 *
 * The external-client runners (`curl`, `opensslSClient`/`opensslStarttls`, `python`)
 * return { stdout, stderr, code, signal, timedOut } and are always killed after a timeout.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { run, type RunOptions, type RunResult } from './proc.js';
import { requireBinaries } from './require.js';

export interface ConnectOptions {
  host?: string;
  /** Implicit TLS from the start. */
  tls?: boolean;
  /** Extra node:tls options (servername, ALPNProtocols, minVersion, cert/key, ...). */
  tlsOptions?: tls.ConnectionOptions;
  /** Connect timeout (default 5000 ms). */
  timeoutMs?: number;
  /** Source address to bind (another loopback address, e.g. `127.0.0.5`, to be a different client). */
  localAddress?: string;
}

export interface TranscriptEntry {
  dir: 'C' | 'S' | '*';
  /** Line without its terminator (binary string); for '*' a note like `TLS established`. */
  line: string;
  /** The terminator actually seen: '\r\n', '\n' or '' (partial line / note). */
  eol: string;
}

export const DEFAULT_READ_TIMEOUT = 5000;

export class LineClient {
  private sock: net.Socket;
  private buf = Buffer.alloc(0);
  private ended = false;
  private endError: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly log: TranscriptEntry[] = [];
  private sAssembler = '';
  private cAssembler = '';
  private secure: boolean;

  constructor(sock: net.Socket, secure: boolean) {
    this.sock = sock;
    this.secure = secure;
    this.attach(sock);
  }

  private readonly onData = (d: Buffer): void => {
    this.buf = Buffer.concat([this.buf, d]);
    this.record('S', d.toString('latin1'));
    this.notify();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };
  private readonly onError = (e: Error): void => {
    this.endError = e;
    this.ended = true;
    this.notify();
  };

  private attach(sock: net.Socket): void {
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onEnd);
    sock.on('error', this.onError);
  }

  private detach(sock: net.Socket): void {
    sock.off('data', this.onData);
    sock.off('end', this.onEnd);
    sock.off('close', this.onEnd);
    sock.off('error', this.onError);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private record(dir: 'C' | 'S', text: string): void {
    let acc = (dir === 'S' ? this.sAssembler : this.cAssembler) + text;
    for (;;) {
      const i = acc.indexOf('\n');
      if (i < 0) break;
      const raw = acc.slice(0, i);
      const cr = raw.endsWith('\r');
      this.log.push({ dir, line: cr ? raw.slice(0, -1) : raw, eol: cr ? '\r\n' : '\n' });
      acc = acc.slice(i + 1);
    }
    if (dir === 'S') this.sAssembler = acc;
    else this.cAssembler = acc;
  }

  private flushPartials(): void {
    if (this.sAssembler) this.log.push({ dir: 'S', line: this.sAssembler, eol: '' });
    if (this.cAssembler) this.log.push({ dir: 'C', line: this.cAssembler, eol: '' });
    this.sAssembler = '';
    this.cAssembler = '';
  }

  /** Waits for more data / EOF, or the deadline. Returns false on timeout. */
  private waitData(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, left);
      this.wake = () => {
        clearTimeout(t);
        resolve(true);
      };
    });
  }

  get isSecure(): boolean {
    return this.secure;
  }

  get socket(): net.Socket {
    return this.sock;
  }

  /** True once the server closed (or the socket failed). */
  get closed(): boolean {
    return this.ended;
  }

  /** Bytes received but not consumed by a read yet. */
  pending(): string {
    return this.buf.toString('latin1');
  }

  /** Sends bytes as-is (string = binary/latin1). */
  send(data: string | Buffer): Promise<void> {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.record('C', b.toString('latin1'));
    return new Promise((resolve, reject) => {
      this.sock.write(b, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Sends `line` + CRLF. */
  sendLine(line: string): Promise<void> {
    return this.send(`${line}\r\n`);
  }

  /**
   * Next line without its terminator. Rejects on timeout; on EOF rejects unless a partial
   * line is pending (then returns it). Use `readRawLine` to see the terminator.
   */
  async readLine(timeoutMs = DEFAULT_READ_TIMEOUT): Promise<string> {
    const raw = await this.readRawLine(timeoutMs);
    return raw.replace(/\r?\n$/, '');
  }

  /** Next line including its terminator (CRLF or LF). */
  async readRawLine(timeoutMs = DEFAULT_READ_TIMEOUT): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf(0x0a);
      if (i >= 0) {
        const line = this.buf.subarray(0, i + 1).toString('latin1');
        this.buf = this.buf.subarray(i + 1);
        return line;
      }
      if (this.ended) {
        if (this.buf.length > 0) {
          const rest = this.buf.toString('latin1');
          this.buf = Buffer.alloc(0);
          return rest;
        }
        throw new Error(`connection closed while waiting for a line${this.endError ? ` (${this.endError.message})` : ''}`);
      }
      if (!(await this.waitData(deadline))) {
        throw new Error(`timeout after ${timeoutMs} ms waiting for a line; pending ${JSON.stringify(this.pending())}`);
      }
    }
  }

  /** Reads `n` lines (without terminators). */
  async readLines(n: number, timeoutMs = DEFAULT_READ_TIMEOUT): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.readLine(timeoutMs));
    return out;
  }

  /**
   * Consumes data until the accumulated text (from the current read position) matches
   * `re`; returns the text up to the end of the match (and, if the match ends mid-line,
   * up to the end of that line). Rejects on timeout/EOF.
   */
  async readUntil(re: RegExp, timeoutMs = DEFAULT_READ_TIMEOUT): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const flags = re.flags.replace('g', '').replace('y', '');
    const rx = new RegExp(re.source, flags);
    for (;;) {
      const text = this.buf.toString('latin1');
      const m = rx.exec(text);
      if (m) {
        let end = m.index + m[0].length;
        if (end > 0 && text[end - 1] !== '\n') {
          const nl = text.indexOf('\n', end);
          if (nl >= 0) end = nl + 1;
        }
        this.buf = this.buf.subarray(end);
        return text.slice(0, end);
      }
      if (this.ended) throw new Error(`connection closed before ${re}; got ${JSON.stringify(text)}`);
      if (!(await this.waitData(deadline))) {
        throw new Error(`timeout after ${timeoutMs} ms waiting for ${re}; got ${JSON.stringify(text)}`);
      }
    }
  }

  /** Reads lines until one starts with `tag + ' '` (IMAP tagged reply); returns all lines. */
  async readTagged(tag: string, timeoutMs = DEFAULT_READ_TIMEOUT): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const out: string[] = [];
    for (;;) {
      const line = await this.readLine(Math.max(1, deadline - Date.now()));
      out.push(line);
      if (line.startsWith(`${tag} `)) return out;
    }
  }

  /** Reads a POP3 multi-line response up to the terminating "." line (inclusive). */
  async readMultiline(timeoutMs = DEFAULT_READ_TIMEOUT): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const out: string[] = [];
    for (;;) {
      const line = await this.readLine(Math.max(1, deadline - Date.now()));
      out.push(line);
      if (line === '.') return out;
    }
  }

  /**
   * Resolves with whatever arrived before the server closed the connection; rejects if
   * it is still open after `timeoutMs`.
   */
  async expectClosed(timeoutMs = DEFAULT_READ_TIMEOUT): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (!(await this.waitData(deadline)) && !this.ended) {
        throw new Error(`connection still open after ${timeoutMs} ms; pending ${JSON.stringify(this.pending())}`);
      }
    }
    const rest = this.buf.toString('latin1');
    this.buf = Buffer.alloc(0);
    return rest;
  }

  /** Asserts nothing arrives within `ms` (resolves with '' or rejects with the data). */
  async expectSilence(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.buf.length > 0) throw new Error(`expected silence, got ${JSON.stringify(this.pending())}`);
      if (this.ended) throw new Error('expected silence, but the connection closed');
      await this.waitData(deadline);
    }
    if (this.buf.length > 0) throw new Error(`expected silence, got ${JSON.stringify(this.pending())}`);
  }

  /**
   * Upgrades the connection to TLS (after the server accepted STARTTLS/STLS). Data
   * already buffered stays readable; throws if the handshake fails.
   */
  async startTls(options: tls.ConnectionOptions = {}, timeoutMs = DEFAULT_READ_TIMEOUT): Promise<tls.TLSSocket> {
    if (this.secure) throw new Error('already TLS');
    const raw = this.sock;
    this.detach(raw);
    this.flushPartials();
    const secure = await tlsHandshake({ socket: raw, rejectUnauthorized: false, ...options }, timeoutMs);
    this.sock = secure;
    this.secure = true;
    this.attach(secure);
    this.log.push({ dir: '*', line: `TLS established ${secure.getProtocol() ?? ''}`.trim(), eol: '' });
    return secure;
  }

  /** Protocol/cipher/ALPN of the TLS session (undefined on plaintext). */
  tlsInfo(): { protocol: string | null; cipher: string; alpn: string | false | null } | undefined {
    if (!(this.sock instanceof tls.TLSSocket)) return undefined;
    return { protocol: this.sock.getProtocol(), cipher: this.sock.getCipher().name, alpn: this.sock.alpnProtocol };
  }

  /** Recorded exchange as `S: line` / `C: line` strings (binary strings, terminators dropped). */
  transcript(): string[] {
    const partial: TranscriptEntry[] = [];
    if (this.sAssembler) partial.push({ dir: 'S', line: this.sAssembler, eol: '' });
    if (this.cAssembler) partial.push({ dir: 'C', line: this.cAssembler, eol: '' });
    return [...this.log, ...partial].map((e) => `${e.dir}: ${e.line}`);
  }

  /** Recorded exchange with terminators. */
  entries(): TranscriptEntry[] {
    return [...this.log];
  }

  /** Half-close (FIN) our side. */
  end(): void {
    this.sock.end();
  }

  /** Closes immediately. */
  close(): void {
    this.sock.destroy();
    this.ended = true;
    this.notify();
  }
}

function tlsHandshake(options: tls.ConnectionOptions, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(options);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`TLS handshake timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(t);
      s.off('error', onErr);
      resolve(s);
    });
    const onErr = (e: Error): void => {
      clearTimeout(t);
      reject(e);
    };
    s.once('error', onErr);
  });
}

/** Opens a client connection to 127.0.0.1:`port` (optionally implicit TLS). */
export async function connect(port: number, opts: ConnectOptions = {}): Promise<LineClient> {
  const host = opts.host ?? '127.0.0.1';
  const timeoutMs = opts.timeoutMs ?? DEFAULT_READ_TIMEOUT;
  if (opts.tls) {
    const s = await tlsHandshake({ host, port, rejectUnauthorized: false, ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }), ...opts.tlsOptions }, timeoutMs);
    return new LineClient(s, true);
  }
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port, ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }) });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect to ${host}:${port} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.off('error', onErr);
      resolve(s);
    });
    const onErr = (e: Error): void => {
      clearTimeout(t);
      reject(e);
    };
    s.once('error', onErr);
  });
  sock.setNoDelay(true);
  return new LineClient(sock, false);
}

/** Tracks clients so a suite can close them all in afterEach/afterAll. */
export class ClientPool {
  private readonly clients = new Set<LineClient>();
  async connect(port: number, opts: ConnectOptions = {}): Promise<LineClient> {
    const c = await connect(port, opts);
    this.clients.add(c);
    return c;
  }
  closeAll(): void {
    for (const c of this.clients) c.close();
    this.clients.clear();
  }
}

// ---------------------------------------------------------------------------------------
// External clients

export type ExternalResult = RunResult;

/** Runs curl with `args` (add `-sS`, `--max-time` is added unless present). */
export function curl(args: string[], opts: RunOptions = {}): Promise<ExternalResult> {
  requireBinaries(['curl']);
  const full = args.includes('--max-time') || args.includes('-m') ? args : ['--max-time', '15', ...args];
  return run('/usr/bin/curl', full, { timeoutMs: 20_000, ...opts });
}

export interface SClientOptions {
  port: number;
  host?: string;
  /** STARTTLS dialect; omit for implicit TLS. */
  starttls?: 'imap' | 'pop3' | 'smtp';
  /** Text piped to stdin (`\n` line ends are sent as CRLF thanks to -crlf). */
  input?: string;
  /** Lines written one by one, `lineDelayMs` apart (each should end with \n). */
  inputLines?: string[];
  lineDelayMs?: number;
  /** Extra s_client arguments (e.g. ['-alpn', 'imap'], ['-tls1_2']). */
  args?: string[];
  /** Pass -quiet -ign_eof (default true): the program keeps reading until the server closes. */
  quiet?: boolean;
  timeoutMs?: number;
}

/** `openssl s_client` against 127.0.0.1 (implicit TLS or -starttls). */
export function opensslSClient(o: SClientOptions): Promise<ExternalResult> {
  requireBinaries(['openssl']);
  const args = ['s_client', '-connect', `${o.host ?? '127.0.0.1'}:${o.port}`, '-crlf'];
  if (o.starttls) args.push('-starttls', o.starttls);
  if (o.quiet ?? true) args.push('-quiet', '-ign_eof');
  args.push(...(o.args ?? []));
  const runOpts: RunOptions = { timeoutMs: o.timeoutMs ?? 20_000 };
  if (o.inputLines) {
    runOpts.inputLines = o.inputLines;
    if (o.lineDelayMs !== undefined) runOpts.lineDelayMs = o.lineDelayMs;
  } else runOpts.input = o.input ?? '';
  return run('/usr/bin/openssl', args, runOpts);
}

/** `openssl s_client -starttls <proto> -quiet -ign_eof` with `input` on stdin. */
export function opensslStarttls(
  port: number,
  proto: 'imap' | 'pop3' | 'smtp',
  input: string,
  extra: Omit<SClientOptions, 'port' | 'starttls' | 'input'> = {},
): Promise<ExternalResult> {
  return opensslSClient({ ...extra, port, starttls: proto, input });
}

/** The python3 with a stdlib that has imaplib/poplib/smtplib (system one preferred). */
export function pythonBinary(): string {
  for (const p of ['/usr/bin/python3', '/usr/local/bin/python3']) if (existsSync(p)) return p;
  return 'python3';
}

/** Runs a python3 script (stdlib only) given as source text; `argv` become sys.argv[1:]. */
export function python(script: string, argv: string[] = [], opts: RunOptions = {}): Promise<ExternalResult> {
  requireBinaries(['python3']);
  return run(pythonBinary(), ['-c', script, ...argv], { timeoutMs: 20_000, ...opts });
}
