import net from 'node:net';
import { constants } from 'node:os';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import type { AuthHttpTarget } from '../config/types.js';
import { buildAuthRequest } from './request.js';
import { AUTH_RESPONSE_LIMIT, scanAuthResponse } from './response.js';

const NOTHING = Buffer.alloc(0);

/** strerror() texts for the errors a connection to the auth service commonly meets (Linux wording). */
const STRERROR: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  ECONNABORTED: 'Software caused connection abort',
  EPIPE: 'Broken pipe',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  ENOTSOCK: 'Socket operation on non-socket',
  ENOTFOUND: 'Host not found',
  EAI_AGAIN: 'Temporary failure in name resolution',
};

/** nginx's `(111: Connection refused)` part of a log line. */
function errnoText(error: NodeJS.ErrnoException): string {
  const code = error.code ?? '';
  const number = (constants.errno as Record<string, number | undefined>)[code];
  const text = STRERROR[code] ?? (code || error.message);
  return number === undefined ? `(${text})` : `(${number}: ${text})`;
}

/** The auth service's name in log lines: `127.0.0.1:9000`, `[::1]:9000`, `unix:/run/auth.sock`. */
export function authPeerName(target: AuthHttpTarget): string {
  if (target.unixPath !== undefined) return `unix:${target.unixPath}`;
  const host = target.host ?? '127.0.0.1';
  return `${net.isIPv6(host) ? `[${host}]` : host}:${target.port ?? 80}`;
}

/**
 * The auth_http client, as nginx's ngx_mail_auth_http_module talks to the service: one connection
 * per request (TCP or unix socket), the HTTP/1.0 request written at once, the answer read into a
 * 1024-byte window until the empty line ending its headers, then the connection closed.
 * `auth_http_timeout` is one deadline for the whole exchange (connect, send, wait for the headers).
 *
 * `request()` never rejects: every failure (refused, reset, premature close, timeout, malformed or
 * too big answer, invalid server/port) is `{ status: 'error', reason }`, the reason worded like
 * nginx's log line; the connection turns it into the protocol's internal-error reply. Aborting
 * the signal closes the connection and resolves `{ status: 'error', reason: 'aborted' }`.
 */
export class AuthHttpClient {
  readonly #target: AuthHttpTarget;
  readonly #extraHeaders: ReadonlyArray<readonly [string, string]>;
  readonly #timeoutMs: number;
  readonly #peer: string;

  constructor(target: AuthHttpTarget, extraHeaders: ReadonlyArray<readonly [string, string]>, timeoutMs: number) {
    this.#target = target;
    this.#extraHeaders = extraHeaders;
    this.#timeoutMs = timeoutMs;
    this.#peer = authPeerName(target);
  }

  request(request: AuthRequest, signal: AbortSignal): Promise<AuthOutcome> {
    return new Promise<AuthOutcome>((resolve) => {
      if (signal.aborted) {
        resolve({ status: 'error', reason: 'aborted' });
        return;
      }
      const peer = this.#peer;
      let payload: Buffer;
      try {
        payload = buildAuthRequest(this.#target, request, this.#extraHeaders);
      } catch (error) {
        resolve({ status: 'error', reason: `cannot build auth http request: ${(error as Error).message}` });
        return;
      }

      let socket: net.Socket | undefined;
      let received: Buffer = NOTHING;
      let settled = false;
      let connected = false;

      const finish = (outcome: AuthOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket?.destroy();
        resolve(outcome);
      };
      const fail = (reason: string) => finish({ status: 'error', reason });
      const onAbort = () => fail('aborted');
      const timer = setTimeout(() => fail(`auth http server ${peer} timed out (110: Connection timed out)`), this.#timeoutMs);
      // Removed by finish() on every way out, so no `{ once: true }` (one more wrapper per request).
      signal.addEventListener('abort', onAbort);

      try {
        socket =
          this.#target.unixPath !== undefined
            ? net.connect({ path: this.#target.unixPath })
            : net.connect({ host: this.#target.host ?? '127.0.0.1', port: this.#target.port ?? 80 });
      } catch (error) {
        fail(`connect() to ${peer} failed ${errnoText(error as NodeJS.ErrnoException)}`);
        return;
      }

      socket.on('connect', () => {
        connected = true;
        socket!.write(payload);
      });
      socket.on('data', (chunk: Buffer) => {
        if (settled) return;
        // nginx reads into a 1024-byte buffer: only what fits counts.
        const room = AUTH_RESPONSE_LIMIT - received.length;
        const overflow = chunk.length > room;
        if (room > 0) {
          const fits = overflow ? chunk.subarray(0, room) : chunk;
          // The usual answer is one chunk: kept as it came, not copied.
          received = received.length === 0 ? fits : Buffer.concat([received, fits]);
        }
        const scan = scanAuthResponse(received, request.protocol, peer);
        if (scan.state === 'done') finish(scan.outcome);
        // The buffer is full and the headers have not ended: any further byte is one too many.
        // (A service that sends exactly 1024 bytes and then waits meets the timeout, as with nginx.)
        else if (overflow || room <= 0) fail(`auth http server ${peer} sent too big response`);
      });
      socket.on('end', () => fail(`auth http server ${peer} prematurely closed connection`));
      socket.on('close', () => fail(`auth http server ${peer} prematurely closed connection`));
      socket.on('error', (error: NodeJS.ErrnoException) => {
        // nginx connects to a TCP peer without waiting: a refusal shows at its first recv().
        if (this.#target.unixPath !== undefined && (!connected || error.syscall === 'connect')) {
          fail(`connect() to ${peer} failed ${errnoText(error)}`);
        } else {
          fail(`${error.syscall === 'write' ? 'send' : 'recv'}() failed ${errnoText(error)}`);
        }
      });
    });
  }
}
