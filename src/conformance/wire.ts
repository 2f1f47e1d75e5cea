/**
 * The transport client: one TCP (or implicit TLS) connection to the target, upgraded in
 * place after STARTTLS. Every send and receive gets a sequence number from one counter, so
 * "this reply arrived before its command was sent" is decidable without clocks.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { ReceivedLine } from './types.js';

type Sock = net.Socket | tls.TLSSocket;

export interface WireTarget {
  host: string;
  port: number;
  servername?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function tlsOptions(target: WireTarget): tls.ConnectionOptions {
  const sni = target.servername ?? (net.isIP(target.host) ? undefined : target.host);
  return { rejectUnauthorized: false, ...(sni ? { servername: sni } : {}) };
}

function settle<T>(deadline: number, what: string, start: (ok: (v: T) => void, fail: (e: Error) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    let cleanup: () => void = () => undefined;
    const timer = setTimeout(() => finish(() => reject(new Error(`${what} timed out`))), Math.max(1, deadline - Date.now()));
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      f();
    };
    cleanup = start(
      (v) => finish(() => resolve(v)),
      (e) => finish(() => reject(e)),
    );
  });
}

export class Wire {
  private sock: Sock;
  private buf: Buffer = Buffer.alloc(0);
  /** Where each receive event starts inside `buf`. */
  private marks: Array<{ start: number; seq: number; tls: boolean }> = [];
  private counter = 0;
  private wake: (() => void) | undefined;
  private assembler = '';
  private lastRecvSeq = -1;
  secure: boolean;
  /** The server closed or reset the connection (or it failed). */
  eof = false;
  eofReason = '';
  /** We closed it. */
  clientClosed = false;
  /** Chronological transcript lines (`C: `, `S: `, `*: `). */
  readonly transcript: string[] = [];

  private constructor(sock: Sock, secure: boolean) {
    this.sock = sock;
    this.secure = secure;
    this.attach(sock);
  }

  static async open(target: WireTarget, implicitTls: boolean, deadline: number): Promise<Wire> {
    const sock = await settle<Sock>(deadline, `connect to ${target.host}:${target.port}`, (ok, fail) => {
      const s: Sock = implicitTls
        ? tls.connect({ host: target.host, port: target.port, ...tlsOptions(target) })
        : net.connect({ host: target.host, port: target.port });
      const onOk = () => ok(s);
      const onErr = (e: Error) => {
        s.destroy();
        fail(e);
      };
      s.once(implicitTls ? 'secureConnect' : 'connect', onOk);
      s.once('error', onErr);
      return () => {
        s.off(implicitTls ? 'secureConnect' : 'connect', onOk);
        s.off('error', onErr);
      };
    });
    sock.setNoDelay(true);
    const wire = new Wire(sock, implicitTls);
    if (implicitTls) wire.note(`TLS established ${(sock as tls.TLSSocket).getProtocol() ?? ''}`.trim());
    return wire;
  }

  nextSeq(): number {
    return this.counter++;
  }

  /** Sequence number of the latest receive event (-1 if none). */
  get lastReceived(): number {
    return this.lastRecvSeq;
  }

  private readonly onData = (d: Buffer): void => {
    const seq = this.nextSeq();
    this.lastRecvSeq = seq;
    this.marks.push({ start: this.buf.length, seq, tls: this.secure });
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    this.record(d.toString('latin1'));
    this.notify();
  };

  private readonly onEnd = (): void => {
    this.markEof('closed by server');
  };

  private readonly onError = (e: NodeJS.ErrnoException): void => {
    this.markEof(e.code === 'ECONNRESET' || e.code === 'EPIPE' ? 'closed by server (reset)' : `socket error: ${e.message}`);
  };

  private markEof(reason: string): void {
    if (this.eof) return;
    this.eof = true;
    this.eofReason = reason;
    if (this.assembler) {
      this.transcript.push(`S: ${this.assembler}`);
      this.assembler = '';
    }
    if (!this.clientClosed) this.transcript.push(`*: ${reason}`);
    this.notify();
  }

  private attach(sock: Sock): void {
    sock.on('data', this.onData);
    sock.on('end', this.onEnd);
    sock.on('close', this.onEnd);
    sock.on('error', this.onError);
  }

  private detach(sock: Sock): void {
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

  private record(text: string): void {
    let acc = this.assembler + text;
    for (;;) {
      const i = acc.indexOf('\n');
      if (i < 0) break;
      const raw = acc.slice(0, i);
      this.transcript.push(`S: ${raw.endsWith('\r') ? raw.slice(0, -1) : raw}`);
      acc = acc.slice(i + 1);
    }
    this.assembler = acc;
  }

  note(text: string): void {
    this.transcript.push(`*: ${text}`);
  }

  clientLine(display: string): void {
    this.transcript.push(`C: ${display}`);
  }

  /** Waits for data or EOF until the deadline; false on timeout. */
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

  private take(n: number): ReceivedLine {
    const first = this.marks[0];
    const raw = this.buf.subarray(0, n).toString('latin1');
    const total = this.buf.length;
    this.buf = this.buf.subarray(n);
    const rest: typeof this.marks = [];
    for (let i = 0; i < this.marks.length; i++) {
      const m = this.marks[i]!;
      const end = this.marks[i + 1]?.start ?? total;
      if (end <= n) continue;
      rest.push({ start: Math.max(0, m.start - n), seq: m.seq, tls: m.tls });
    }
    this.marks = rest;
    const eol = raw.endsWith('\r\n') ? '\r\n' : raw.endsWith('\n') ? '\n' : '';
    return { text: raw.slice(0, raw.length - eol.length), eol, seq: first?.seq ?? -1, tls: first?.tls ?? this.secure };
  }

  /** The connection can still carry client data. */
  get writable(): boolean {
    return !this.eof && !this.clientClosed && !this.sock.destroyed;
  }

  /** Bytes received and not consumed yet. */
  get buffered(): number {
    return this.buf.length;
  }

  /**
   * The next complete line; at EOF a last partial line (eol '') and then 'eof'; 'timeout' when
   * nothing complete arrived before the deadline.
   */
  async nextLine(deadline: number): Promise<ReceivedLine | 'eof' | 'timeout'> {
    for (;;) {
      const i = this.buf.indexOf(0x0a);
      if (i >= 0) return this.take(i + 1);
      if (this.eof) return this.buf.length > 0 ? this.take(this.buf.length) : 'eof';
      if (!(await this.waitData(deadline))) return 'timeout';
    }
  }

  /** Every line available right now (a trailing partial line included). */
  drain(): ReceivedLine[] {
    const out: ReceivedLine[] = [];
    while (this.buf.length > 0) {
      const i = this.buf.indexOf(0x0a);
      out.push(this.take(i >= 0 ? i + 1 : this.buf.length));
    }
    return out;
  }

  /** Waits up to `ms` for data or EOF (returns early when either is there). */
  async settle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.buf.length === 0 && !this.eof) if (!(await this.waitData(deadline))) return;
  }

  /** Waits for the server to close; false on timeout. */
  async waitEof(deadline: number): Promise<boolean> {
    while (!this.eof) if (!(await this.waitData(deadline))) return false;
    return true;
  }

  /** Writes bytes; returns the send event's sequence number (or -1 if the socket is gone). */
  async write(bytes: Buffer): Promise<number> {
    if (!this.writable) return -1;
    const seq = this.nextSeq();
    await new Promise<void>((resolve) => {
      try {
        this.sock.write(bytes, () => resolve());
      } catch {
        resolve();
      }
    });
    return seq;
  }

  async gap(ms: number): Promise<void> {
    if (ms > 0) await sleep(ms);
  }

  /** STARTTLS: wraps the socket in TLS. Throws (and marks EOF) if the handshake fails. */
  async upgrade(target: WireTarget, deadline: number): Promise<void> {
    const raw = this.sock;
    this.detach(raw);
    try {
      const secure = await settle<tls.TLSSocket>(deadline, 'TLS handshake', (ok, fail) => {
        const s = tls.connect({ socket: raw, ...tlsOptions(target) });
        const onOk = () => ok(s);
        const onErr = (e: Error) => {
          s.destroy();
          fail(e);
        };
        s.once('secureConnect', onOk);
        s.once('error', onErr);
        return () => {
          s.off('secureConnect', onOk);
          s.off('error', onErr);
        };
      });
      this.sock = secure;
      this.secure = true;
      this.attach(secure);
      this.note(`TLS established ${secure.getProtocol() ?? ''}`.trim());
    } catch (error) {
      raw.destroy();
      this.note(`TLS handshake failed: ${(error as Error).message}`);
      this.eof = true;
      this.eofReason = 'TLS handshake failed';
      throw error;
    }
  }

  /** Half-close (FIN) our side. */
  end(): void {
    this.clientClosed = true;
    this.sock.end();
  }

  /** Close immediately. */
  destroy(): void {
    this.clientClosed = true;
    this.sock.destroy();
    this.notify();
  }
}
