/**
 * A scriptable auth_http server for tests (loopback, ephemeral port).
 *
 * It is written on node:net rather than node:http so that it records the request
 * byte-for-byte (header order, case, trailing spaces of empty values, raw bytes >= 0x80)
 * and can answer with anything, including malformed responses.
 *
 *   const auth = await startAuthServer({ users: { alice: 'secret' }, backends: { imap: dc.imapPort } });
 *   auth_http 127.0.0.1:${auth.port}/auth;
 *   auth.requests[0].lines  // ['GET /auth HTTP/1.0', 'Host: 127.0.0.1', 'Auth-Method: plain', ...]
 */
import { createHash, createHmac } from 'node:crypto';
import net from 'node:net';

export interface AuthRequest {
  /** 0-based order of arrival. */
  index: number;
  /** Request line, e.g. `GET /auth HTTP/1.0`. */
  requestLine: string;
  method: string;
  uri: string;
  /** Raw header lines in order, without CRLF (latin1), excluding the request line. */
  headerLines: string[];
  /** Request line followed by header lines: what to compare between nginx and Postern. */
  lines: string[];
  /** Header values by lower-case name (last wins); values are as sent (still %XX-escaped). */
  headers: Record<string, string>;
  /** The complete raw request head including the final empty line. */
  raw: Buffer;
  /** Time of arrival (Date.now()). */
  at: number;
}

export interface AuthResponse {
  /** Status line; default `HTTP/1.0 200 OK`. Empty string = no status line at all. */
  status?: string;
  /** Response headers in insertion order. */
  headers?: Record<string, string>;
  /** Wait before answering. */
  delayMs?: number;
  /** Send exactly these bytes instead of status+headers (for malformed responses). */
  raw?: string | Buffer;
  /** Never answer (the connection stays open until the client or close() ends it). */
  hang?: boolean;
  /** Close the connection without answering. */
  drop?: boolean;
}

export type AuthHandler = (req: AuthRequest) => AuthResponse | Promise<AuthResponse>;

export interface Backends {
  imap?: number;
  pop3?: number;
  smtp?: number;
  /** ManageSieve (`Auth-Protocol: sieve`, a Postern extension). */
  sieve?: number;
}

export interface AuthServerOptions {
  /** login -> password for the default handler. */
  users?: Record<string, string>;
  /** Backend ports per Auth-Protocol for the default handler (server 127.0.0.1). */
  backends?: Backends;
  /** Backend address for the default handler; default 127.0.0.1. */
  backendHost?: string;
  /** Replaces the default handler. */
  handler?: AuthHandler;
}

export interface AuthServer {
  port: number;
  /** `127.0.0.1:<port>` — ready for `auth_http ${auth.url}/auth;`. */
  url: string;
  requests: AuthRequest[];
  /** Swap the handler (null restores the default one). */
  setHandler(h: AuthHandler | null): void;
  /** Update users/backends of the default handler. */
  configure(opts: { users?: Record<string, string>; backends?: Backends }): void;
  /** Resolves when at least `n` requests have arrived (bounded). */
  waitForRequests(n: number, timeoutMs?: number): Promise<AuthRequest[]>;
  clear(): void;
  close(): Promise<void>;
}

/** Reverses nginx's escaping of Auth-User / Auth-Pass (%XX). */
export function unescapeAuthValue(v: string): string {
  return v.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** Parses the raw head of a request (exported for unit use). */
export function parseAuthRequest(raw: Buffer, index: number): AuthRequest {
  const text = raw.toString('latin1');
  const all = text.split(/\r?\n/);
  while (all.length > 0 && all[all.length - 1] === '') all.pop();
  const requestLine = all[0] ?? '';
  const headerLines = all.slice(1);
  const headers: Record<string, string> = {};
  for (const l of headerLines) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).replace(/^ +/, '');
  }
  const [method = '', uri = ''] = requestLine.split(' ');
  return { index, requestLine, method, uri, headerLines, lines: [requestLine, ...headerLines], headers, raw, at: Date.now() };
}

/** The default policy: users table, backends per protocol, failure with Auth-Wait: 1. */
export function defaultAuthHandler(state: { users: Record<string, string>; backends: Backends; host: string }): AuthHandler {
  return (req) => {
    const h = req.headers;
    const proto = (h['auth-protocol'] ?? '') as keyof Backends;
    const method = h['auth-method'] ?? 'plain';
    const user = unescapeAuthValue(h['auth-user'] ?? '');
    const pass = unescapeAuthValue(h['auth-pass'] ?? '');
    const port = state.backends[proto];
    const ok = (extra: Record<string, string> = {}): AuthResponse => ({
      headers: port === undefined
        ? { 'Auth-Status': 'OK', ...extra }
        : { 'Auth-Status': 'OK', 'Auth-Server': state.host, 'Auth-Port': String(port), ...extra },
    });
    const fail: AuthResponse = { headers: { 'Auth-Status': 'Invalid login or password', 'Auth-Wait': '1' } };
    if (method === 'none') return ok();
    const expected = state.users[user];
    if (expected === undefined) return fail;
    const salt = h['auth-salt'] ?? '';
    switch (method) {
      case 'plain':
        return pass === expected ? ok() : fail;
      case 'apop':
        return createHash('md5').update(salt + expected).digest('hex') === pass ? ok({ 'Auth-Pass': expected }) : fail;
      case 'cram-md5':
        return createHmac('md5', expected).update(salt).digest('hex') === pass ? ok({ 'Auth-Pass': expected }) : fail;
      case 'external':
        return ok({ 'Auth-Pass': expected });
      default:
        return fail;
    }
  };
}

/** Serialises a response (status line, headers, empty line). */
export function formatAuthResponse(r: AuthResponse): Buffer {
  if (r.raw !== undefined) return typeof r.raw === 'string' ? Buffer.from(r.raw, 'latin1') : r.raw;
  const status = r.status ?? 'HTTP/1.0 200 OK';
  const lines = status === '' ? [] : [status];
  for (const [k, v] of Object.entries(r.headers ?? {})) lines.push(`${k}: ${v}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
}

export async function startAuthServer(opts: AuthServerOptions = {}): Promise<AuthServer> {
  const state = { users: { ...(opts.users ?? {}) }, backends: { ...(opts.backends ?? {}) }, host: opts.backendHost ?? '127.0.0.1' };
  const fallback = defaultAuthHandler(state);
  let handler: AuthHandler = opts.handler ?? fallback;
  const requests: AuthRequest[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const waiters: Array<() => void> = [];

  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {
      /* nginx may close first */
    });
    let buf = Buffer.alloc(0);
    let handled = false;
    sock.on('data', (d: Buffer) => {
      if (handled) return;
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      const endLf = buf.indexOf('\n\n');
      const cut = end >= 0 ? end + 4 : endLf >= 0 ? endLf + 2 : -1;
      if (cut < 0) {
        if (buf.length > 64 * 1024) sock.destroy();
        return;
      }
      handled = true;
      const req = parseAuthRequest(buf.subarray(0, cut), requests.length);
      requests.push(req);
      for (const w of waiters.splice(0)) w();
      void (async () => {
        let resp: AuthResponse;
        try {
          resp = await handler(req);
        } catch (err) {
          resp = { status: 'HTTP/1.0 500 Handler Error', headers: { 'X-Error': String((err as Error).message).replace(/[\r\n]/g, ' ') } };
        }
        const answer = (): void => {
          if (sock.destroyed) return;
          if (resp.hang) return;
          if (resp.drop) {
            sock.destroy();
            return;
          }
          sock.end(formatAuthResponse(resp));
        };
        if (resp.delayMs && resp.delayMs > 0) {
          const t = setTimeout(() => {
            timers.delete(t);
            answer();
          }, resp.delayMs);
          timers.add(t);
        } else answer();
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('auth server: no address');
  const port = addr.port;

  return {
    port,
    url: `127.0.0.1:${port}`,
    requests,
    setHandler(h) {
      handler = h ?? fallback;
    },
    configure(c) {
      if (c.users) state.users = { ...c.users };
      if (c.backends) state.backends = { ...c.backends };
    },
    async waitForRequests(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (requests.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`auth server: ${requests.length}/${n} requests after ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, 100));
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
      return requests.slice(0, n);
    },
    clear() {
      requests.length = 0;
    },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
