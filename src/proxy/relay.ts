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
  /** The socket error that ended the relay, and on which side. */
  failure?: { side: 'client' | 'upstream'; error: NodeJS.ErrnoException };
}

/**
 * One direction: `from`'s chunks written to `to`, `from` paused while `to` is full. When `from`
 * ends, `to` is ended and `closed` called once what it held was handed to the kernel. A `from`
 * closed without its end is an error, as `stream.pipeline` reports it.
 */
function forward(from: Socket, to: Socket, closed: () => void, failed: (error: Error) => void): void {
  let ended = false;
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.once('end', () => {
    ended = true;
    to.once('finish', closed);
    to.end();
  });
  from.once('error', failed);
  from.once('close', () => {
    if (!ended) failed(new Error('Premature close'));
  });
}

/**
 * The data plane: copy bytes both ways with backpressure until either side ends, errors or the
 * client side is idle for `proxy_timeout`; then close both (no half-close, as nginx).
 *
 * Plain `data`/`write`/`drain` listeners rather than two `stream.pipeline`s: pipeline costs an
 * AbortController (and a DOMException when it settles) plus end-of-stream trackers per direction,
 * and every session that logs in ends here.
 */
export function relay(client: Socket, backend: Socket, options: RelayOptions): Promise<RelayResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (reason: string, failure?: RelayResult['failure']) => {
      if (done) return;
      done = true;
      client.setTimeout(0);
      client.destroy();
      backend.destroy();
      resolve(failure === undefined ? { reason } : { reason, failure });
    };
    // Either side may be gone already (pipeline reports that as an early close too).
    if (client.destroyed || backend.destroyed) {
      finish(client.destroyed ? 'client error: Premature close' : 'upstream error: Premature close');
      return;
    }
    if (options.toClient.length > 0) client.write(options.toClient);
    if (options.toBackend.length > 0) backend.write(options.toBackend);
    client.setTimeout(options.idleTimeoutMs, () => finish('client timed out while proxying'));
    forward(
      backend,
      client,
      () => finish('upstream closed connection'),
      (error) => finish(`upstream error: ${error.message}`, { side: 'upstream', error }),
    );
    forward(
      client,
      backend,
      () => finish('client closed connection'),
      (error) => finish(`client error: ${error.message}`, { side: 'client', error }),
    );
    client.resume();
    backend.resume();
  });
}
