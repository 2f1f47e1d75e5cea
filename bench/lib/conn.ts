/**
 * A small, fast client for the benchmark: line reads for the dialogue, and a "bulk" mode that
 * only counts bytes until a terminator appears (so a 10 MB FETCH/RETR costs the client almost
 * nothing beyond the socket reads). Every wait has a timeout. Loopback only.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface OpenOptions {
  tls?: boolean;
  tlsOptions?: tls.ConnectionOptions;
  timeoutMs?: number;
}

/**
 * One client secure context for every connection: without it, each tls.connect() builds a
 * context and parses the system root store (milliseconds of client CPU per handshake, which
 * made the load generator the bottleneck).
 */
const CLIENT_CONTEXT = tls.createSecureContext({});
const clientTls = (o: tls.ConnectionOptions = {}): tls.ConnectionOptions => ({
  rejectUnauthorized: false,
  secureContext: o.secureContext ?? (o.minVersion || o.maxVersion ? tls.createSecureContext({ minVersion: o.minVersion, maxVersion: o.maxVersion }) : CLIENT_CONTEXT),
  ...o,
});

type Waiter = { check: () => boolean; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

const EMPTY = Buffer.alloc(0);

export class Conn {
  sock: net.Socket | tls.TLSSocket;
  private buf: Buffer = EMPTY;
  private waiter: Waiter | null = null;
  private ended = false;
  private error: Error | null = null;
  /** Bulk mode: counting bytes until `bulkDone` says the terminator arrived. */
  private bulk: { count: number; tail: Buffer; done: (tail: Buffer) => boolean; finished: boolean } | null = null;
  private readonly onData = (chunk: Buffer) => {
    if (this.bulk) {
      const b = this.bulk;
      b.count += chunk.length;
      const joined = b.tail.length === 0 ? chunk : Buffer.concat([b.tail, chunk.length > 256 ? chunk.subarray(chunk.length - 256) : chunk]);
      b.tail = joined.length > 256 ? joined.subarray(joined.length - 256) : joined;
      if (b.done(b.tail)) b.finished = true;
    } else {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    }
    this.poke();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.poke();
  };
  private readonly onError = (e: Error) => {
    this.error = e;
    this.poke();
  };

  private constructor(sock: net.Socket | tls.TLSSocket) {
    this.sock = sock;
    this.attach(sock);
  }

  private attach(sock: net.Socket | tls.TLSSocket): void {
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onEnd);
    sock.on('error', this.onError);
  }
  private detach(sock: net.Socket | tls.TLSSocket): void {
    sock.off('data', this.onData);
    sock.off('end', this.onEnd);
    sock.off('close', this.onEnd);
    sock.off('error', this.onError);
  }

  /** Connects; resolves once TCP (and, with `tls`, the handshake) is done. */
  static open(port: number, opts: OpenOptions = {}): Promise<Conn> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const sock = opts.tls
        ? tls.connect({ host: '127.0.0.1', port, ...clientTls(opts.tlsOptions) })
        : net.connect({ host: '127.0.0.1', port, noDelay: true });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${port} timed out`));
      }, timeoutMs);
      const conn = new Conn(sock);
      sock.once(opts.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        resolve(conn);
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private poke(): void {
    const w = this.waiter;
    if (!w) return;
    if (w.check()) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.resolve();
    } else if (this.error || this.ended) {
      this.waiter = null;
      clearTimeout(w.timer);
      w.reject(this.error ?? new Error(`connection closed (pending: ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))})`));
    }
  }

  private wait(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    if (this.error) return Promise.reject(this.error);
    if (this.ended) return Promise.reject(new Error(`connection closed while waiting for ${what}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`timeout waiting for ${what} (have ${JSON.stringify(this.buf.toString('latin1').slice(0, 200))})`));
      }, timeoutMs);
      this.waiter = { check, resolve, reject, timer };
    });
  }

  write(text: string): void {
    this.sock.write(text, 'latin1');
  }

  /** One line without its CRLF. */
  async readLine(timeoutMs = 10_000): Promise<string> {
    let i = -1;
    await this.wait(() => (i = this.buf.indexOf(10)) >= 0, timeoutMs, 'a line');
    const line = this.buf.toString('latin1', 0, i).replace(/\r$/, '');
    this.buf = this.buf.subarray(i + 1);
    return line;
  }

  /** IMAP: lines until the tagged reply for `tag`; throws unless it is OK. */
  async tagged(tag: string, timeoutMs = 10_000): Promise<string> {
    for (;;) {
      const line = await this.readLine(timeoutMs);
      if (line.startsWith(`${tag} `)) {
        if (!line.startsWith(`${tag} OK`)) throw new Error(`IMAP ${tag}: ${line}`);
        return line;
      }
    }
  }

  /** POP3: one status line; throws unless +OK. */
  async ok(timeoutMs = 10_000): Promise<string> {
    const line = await this.readLine(timeoutMs);
    if (!line.startsWith('+OK')) throw new Error(`POP3: ${line}`);
    return line;
  }

  /**
   * Sends `command` and counts the bytes of the answer until `done(tail)` is true for the last
   * <= 256 bytes received. Returns the byte count.
   */
  async bulkRead(command: string, done: (tail: Buffer) => boolean, timeoutMs = 60_000): Promise<number> {
    if (this.buf.length > 0) throw new Error(`bulk read with ${this.buf.length} unread bytes`);
    this.bulk = { count: 0, tail: EMPTY, done, finished: false };
    this.write(command);
    try {
      await this.wait(() => this.bulk!.finished, timeoutMs, 'the end of a bulk reply');
      return this.bulk.count;
    } finally {
      this.bulk = null;
    }
  }

  /** Upgrades the connection in place after STARTTLS/STLS was accepted. */
  async startTls(tlsOptions: tls.ConnectionOptions = {}, timeoutMs = 10_000): Promise<void> {
    if (this.buf.length > 0) throw new Error('bytes after the STARTTLS reply');
    const plain = this.sock as net.Socket;
    this.detach(plain);
    const secure = tls.connect({ socket: plain, ...clientTls(tlsOptions) });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('TLS upgrade timed out')), timeoutMs);
      secure.once('secureConnect', () => {
        clearTimeout(timer);
        resolve();
      });
      secure.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    this.sock = secure;
    this.attach(secure);
  }

  destroy(): void {
    this.sock.destroy();
  }

  /** Sends `line` and waits (bounded) for the server to close. */
  async quit(line: string, timeoutMs = 5_000): Promise<void> {
    this.write(line);
    try {
      await this.wait(() => false, timeoutMs, 'close');
    } catch {
      /* closed (expected) or timeout */
    }
    this.sock.destroy();
  }
}

/**
 * An idle relayed IMAP session: logged in, INBOX selected, in IDLE (what a deployment holds by
 * the ten thousand). The caller destroys it; a failure destroys it and throws.
 */
export async function openIdleImapSession(port: number, opts: { tls: boolean; user: string; password: string }): Promise<Conn> {
  const c = await Conn.open(port, { tls: opts.tls, timeoutMs: 30_000 });
  try {
    await c.readLine(30_000);
    c.write(`l LOGIN ${opts.user} ${opts.password}\r\n`);
    await c.tagged('l', 30_000);
    c.write('s SELECT INBOX\r\n');
    await c.tagged('s', 30_000);
    c.write('i IDLE\r\n');
    const cont = await c.readLine(30_000);
    if (!cont.startsWith('+')) throw new Error(`IDLE: ${cont}`);
    return c;
  } catch (error) {
    c.destroy();
    throw error;
  }
}

/** IMAP bulk terminator: `\r\n<tag> OK ...\r\n` at the end. */
export const imapTaggedEnd = (tag: string) => {
  const marker = Buffer.from(`\r\n${tag} `, 'latin1');
  return (tail: Buffer): boolean => {
    if (tail.length < 2 || tail[tail.length - 1] !== 10) return false;
    const i = tail.lastIndexOf(marker);
    return i >= 0 && tail.indexOf(10, i + 2) === tail.length - 1;
  };
};

const POP3_END = Buffer.from('\r\n.\r\n', 'latin1');
/** POP3 multi-line terminator. */
export const pop3End = (tail: Buffer): boolean =>
  tail.length >= 5 && tail.subarray(tail.length - 5).equals(POP3_END);
