import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'node:net';

/**
 * The embedded auth_http service of the default set-up (`postern` with no configuration file): a
 * real HTTP server on loopback that speaks nginx's auth_http protocol for a small user table.
 * It is what a site would otherwise write itself (see the nginx docs for ngx_mail_auth_http_module):
 *
 * - `Auth-Method: plain` — the password is compared with the table;
 * - `apop` — `Auth-Pass` must be md5(salt + password) in hex;
 * - `cram-md5` — `Auth-Pass` must be HMAC-MD5(key = password, salt) in hex;
 *   for both digests the answer carries the clear password in `Auth-Pass`, which the proxy needs
 *   to log in to the backend;
 * - `external` and `none` are refused (the demo has neither client certificates nor relaying).
 *
 * Success: `Auth-Status: OK`, `Auth-Server`/`Auth-Port` of the backend for `Auth-Protocol`.
 * Failure: `Auth-Status: Invalid login or password` with `Auth-Wait: 3` (the client may try again
 * after three seconds; `failureWaitSeconds` changes it); from the 10th attempt of a connection on,
 * without `Auth-Wait`, so the proxy closes it (nginx's documentation recommends stopping the wait
 * after 10–20 attempts).
 */

export interface EmbeddedAuthUser {
  user: string;
  password: string;
}

export interface BackendAddress {
  host: string;
  port: number;
}

export interface EmbeddedAuthOptions {
  host: string;
  /** 0 for an ephemeral port. */
  port: number;
  users: EmbeddedAuthUser[];
  backend: { pop3: BackendAddress; imap: BackendAddress; smtp?: BackendAddress };
  /** `Auth-Wait` of a failure, in seconds (default 3); nginx closes the session on 0. */
  failureWaitSeconds?: number;
}

export interface EmbeddedAuthService {
  /** `http://127.0.0.1:PORT/auth`, ready for `auth_http`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

export const FAILURE_TEXT = 'Invalid login or password';
export const FAILURE_WAIT_SECONDS = 3;
const MAX_WAITED_ATTEMPTS = 10;

/** nginx %XX-escapes Auth-User and Auth-Pass; undo it byte-wise (latin1 strings keep every byte). */
export function unescapeAuthValue(value: string): string {
  return value.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

const md5Hex = (data: string) => createHash('md5').update(Buffer.from(data, 'latin1')).digest('hex');
const hmacMd5Hex = (key: string, data: string) =>
  createHmac('md5', Buffer.from(key, 'latin1')).update(Buffer.from(data, 'latin1')).digest('hex');

/** Comparison that does not stop at the first differing byte. */
function sameText(a: string, b: string): boolean {
  const left = createHash('sha256').update(Buffer.from(a, 'latin1')).digest();
  const right = createHash('sha256').update(Buffer.from(b, 'latin1')).digest();
  return timingSafeEqual(left, right);
}

type Verdict = { ok: true; user: EmbeddedAuthUser; returnPassword: boolean } | { ok: false };

/** Check the credentials of one auth request against the table. */
export function checkCredentials(
  users: readonly EmbeddedAuthUser[],
  method: string,
  login: string,
  pass: string,
  salt: string,
): Verdict {
  const account = users.find((candidate) => candidate.user === login);
  // Without an account, compare against a dummy so unknown and known users take the same time.
  const password = account?.password ?? '\u0000no such user';
  let good: boolean;
  switch (method) {
    case 'plain':
      good = sameText(pass, password);
      break;
    case 'apop':
      good = salt !== '' && sameText(pass.toLowerCase(), md5Hex(salt + password));
      break;
    case 'cram-md5':
      good = salt !== '' && sameText(pass.toLowerCase(), hmacMd5Hex(password, salt));
      break;
    default:
      good = false;
  }
  if (!good || account === undefined) return { ok: false };
  return { ok: true, user: account, returnPassword: method !== 'plain' };
}

const header = (request: http.IncomingMessage, name: string): string => {
  const value = request.headers[name];
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
};

/** Start the service; resolves once it listens. */
export function startEmbeddedAuthService(options: EmbeddedAuthOptions): Promise<EmbeddedAuthService> {
  const sockets = new Set<Socket>();
  const server = http.createServer((request, response) => {
    const protocol = header(request, 'auth-protocol');
    const method = header(request, 'auth-method');
    const attempt = Number(header(request, 'auth-login-attempt')) || 1;
    const backends: Partial<Record<string, BackendAddress>> = options.backend;
    const backend = protocol !== undefined && Object.hasOwn(backends, protocol) ? backends[protocol] : undefined;
    const answer = (headers: Record<string, string>) => {
      response.writeHead(200, { ...headers, 'Content-Length': '0' });
      response.end();
    };
    if (backend === undefined) {
      answer({ 'Auth-Status': 'Temporary server problem, try again later', 'Auth-Error-Code': '451 4.3.0' });
      return;
    }
    const verdict = checkCredentials(
      options.users,
      method,
      unescapeAuthValue(header(request, 'auth-user')),
      unescapeAuthValue(header(request, 'auth-pass')),
      header(request, 'auth-salt'),
    );
    if (!verdict.ok) {
      answer({
        'Auth-Status': FAILURE_TEXT,
        ...(attempt < MAX_WAITED_ATTEMPTS ? { 'Auth-Wait': String(options.failureWaitSeconds ?? FAILURE_WAIT_SECONDS) } : {}),
      });
      return;
    }
    answer({
      'Auth-Status': 'OK',
      'Auth-Server': backend.host,
      'Auth-Port': String(backend.port),
      // The user table holds printable passwords; one with a control byte could not be a header value.
      ...(verdict.returnPassword && !/[\u0000-\u001f\u007f]/.test(verdict.user.password) ? { 'Auth-Pass': verdict.user.password } : {}),
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      resolve({
        url: `http://${host}:${port}/auth`,
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
