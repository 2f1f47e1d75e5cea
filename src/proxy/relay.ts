import { pipeline } from 'node:stream';
import type { Socket } from 'node:net';

export interface RelayOptions {
  /** Bytes for the client before anything else: the backend's login reply. */
  toClient: Buffer;
  /** Bytes the client pipelined after its login command, for the backend. */
  toBackend: Buffer;
  /** `proxy_timeout`: the session ends after this long without activity on the client side. */
  idleTimeoutMs: number;
}

export interface RelayResult {
  reason: string;
}

/**
 * The data plane: copy bytes both ways with backpressure until either side ends, errors or the
 * client side is idle for `proxy_timeout`; then close both (no half-close, as nginx).
 */
export function relay(client: Socket, backend: Socket, options: RelayOptions): Promise<RelayResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (reason: string) => {
      if (done) return;
      done = true;
      client.setTimeout(0);
      client.destroy();
      backend.destroy();
      resolve({ reason });
    };
    if (options.toClient.length > 0) client.write(options.toClient);
    if (options.toBackend.length > 0) backend.write(options.toBackend);
    client.setTimeout(options.idleTimeoutMs, () => finish('client timed out while proxying'));
    pipeline(backend, client, (error) => finish(error ? `upstream error: ${error.message}` : 'upstream closed connection'));
    pipeline(client, backend, (error) => finish(error ? `client error: ${error.message}` : 'client closed connection'));
    backend.resume();
  });
}
