import net from 'node:net';
import type { AuthOutcome, AuthRequest } from '../../machines/types.js';
import type { AuthHttpTarget } from '../config/types.js';
import { buildAuthRequest } from './request.js';
import { AUTH_RESPONSE_LIMIT, parseAuthResponse } from './response.js';

/**
 * The auth_http client: one connection per request (HTTP/1.0), at most 1024 bytes of answer,
 * `auth_http_timeout` for the whole exchange. It never rejects: every failure becomes
 * `{ status: 'error' }`, which the connection turns into the protocol's internal-error line.
 */
export class AuthHttpClient {
  readonly #name: string;

  constructor(
    private readonly target: AuthHttpTarget,
    private readonly extraHeaders: ReadonlyArray<readonly [string, string]>,
    private readonly timeoutMs: number,
  ) {
    this.#name = target.unixPath !== undefined ? `unix:${target.unixPath}` : `${target.host}:${target.port}`;
  }

  request(request: AuthRequest, signal: AbortSignal): Promise<AuthOutcome> {
    return new Promise((resolve) => {
      const name = this.#name;
      const socket =
        this.target.unixPath !== undefined
          ? net.connect({ path: this.target.unixPath })
          : net.connect({ host: this.target.host ?? '127.0.0.1', port: this.target.port ?? 80 });
      let received = Buffer.alloc(0);
      let settled = false;
      const finish = (outcome: AuthOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(outcome);
      };
      const onAbort = () => finish({ status: 'error', reason: 'aborted' });
      const timer = setTimeout(() => finish({ status: 'error', reason: `auth http server ${name} timed out` }), this.timeoutMs);
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      socket.on('connect', () => socket.write(buildAuthRequest(this.target, request, this.extraHeaders)));
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        // Only the first 1024 bytes count: the header block must end within them.
        const parsed = parseAuthResponse(received.subarray(0, AUTH_RESPONSE_LIMIT), request.protocol, name);
        if (parsed.complete) finish(parsed.outcome);
        else if (received.length >= AUTH_RESPONSE_LIMIT) finish({ status: 'error', reason: `auth http server ${name} sent too long response` });
      });
      socket.on('end', () => {
        const parsed = parseAuthResponse(received.subarray(0, AUTH_RESPONSE_LIMIT), request.protocol, name, true);
        finish(parsed.complete ? parsed.outcome : { status: 'error', reason: `auth http server ${name} closed the connection early` });
      });
      socket.on('error', (error: NodeJS.ErrnoException) =>
        finish({ status: 'error', reason: `${error.syscall ?? 'socket'}() failed (${error.code ?? error.message}) while in http auth state, auth http server ${name}` }),
      );
    });
  }
}
