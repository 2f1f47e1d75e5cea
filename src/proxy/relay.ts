import type { Socket } from 'node:net';
import { PROBE_SIZE, readsIntoChosenBuffers, relayChosenReads, switchToChosenReads } from './relay-reads.js';

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

/** One relayed session: both sockets, and how it ended. */
interface Relay {
  client: Socket;
  backend: Socket;
  done: boolean;
  resolve: (result: RelayResult) => void;
}

/** One direction: `from`'s bytes written to `to`; `side` names `from` in the session's end reason. */
interface Direction {
  relay: Relay;
  from: Socket;
  to: Socket;
  side: 'client' | 'upstream';
  /** `from` ended (its FIN came): `to` is being ended. */
  ended: boolean;
}

/** The direction a socket is the source of, and the one it is the destination of. */
const OUT = Symbol('relay: the direction this socket reads for');
const IN = Symbol('relay: the direction this socket is written by');
type RelaySocket = Socket & { [OUT]: Direction; [IN]: Direction };

// The listeners are shared by every session (a listener's `this` is its socket): a relayed
// session, which is what a deployment holds by the thousand, keeps three small objects rather
// than a dozen closures and `once` wrappers.

function onData(this: RelaySocket, chunk: Buffer): void {
  if (!this[OUT].to.write(chunk)) this.pause();
  // Bulk data (an upload): from the next read on, into chosen buffers (relay-reads.ts). Switched
  // here rather than when the relay starts, so that a session that only trickles (an IDLE held
  // for hours) never holds what the switch adds (~0.3 KB per TLS session). After this callback:
  // no read comes before it, and Node is done with this one.
  if (chunk.length >= PROBE_SIZE) queueMicrotask(() => switchAfterBulkRead(this));
}

function switchAfterBulkRead(socket: RelaySocket): void {
  const direction = socket[OUT];
  // Done already (several bulk chunks in one turn), or the relay is over.
  if (readsIntoChosenBuffers(socket) || direction.relay.done || socket.destroyed) return;
  // Off first: what the socket had read and not given out is handed on by the switch itself.
  socket.off('data', onData);
  if (!switchToChosenReads(socket, direction.to)) socket.on('data', onData);
}

/** `to` has room again: its source may read on. */
function onDrain(this: RelaySocket): void {
  this[IN].from.resume();
}

/** `from` ended: end `to`; the session ends once what `to` held was handed to the kernel. */
function onEnd(this: RelaySocket): void {
  const direction = this[OUT];
  if (direction.ended) return;
  direction.ended = true;
  direction.to.on('finish', onFinish);
  direction.to.end();
}

function onFinish(this: RelaySocket): void {
  const direction = this[IN];
  finish(direction.relay, `${direction.side} closed connection`);
}

function onError(this: RelaySocket, error: Error): void {
  fail(this[OUT], error);
}

/**
 * Closed without its end: an error, as `stream.pipeline` reports it. Not once the relay is over:
 * its own `destroy()` of both sockets closes them all the same, and an Error there (a stack
 * capture, every session) would be thrown away.
 */
function onClose(this: RelaySocket): void {
  const direction = this[OUT];
  if (!direction.ended && !direction.relay.done) fail(direction, new Error('Premature close'));
}

function onTimeout(this: RelaySocket): void {
  finish(this[OUT].relay, 'client timed out while proxying');
}

function fail(direction: Direction, error: Error): void {
  finish(direction.relay, `${direction.side} error: ${error.message}`, { side: direction.side, error });
}

function finish(relay: Relay, reason: string, failure?: RelayResult['failure']): void {
  if (relay.done) return;
  relay.done = true;
  relay.client.setTimeout(0);
  relay.client.destroy();
  relay.backend.destroy();
  relay.resolve(failure === undefined ? { reason } : { reason, failure });
}

function forward(relay: Relay, from: Socket, to: Socket, side: Direction['side']): void {
  const direction: Direction = { relay, from, to, side, ended: false };
  (from as RelaySocket)[OUT] = direction;
  (to as RelaySocket)[IN] = direction;
  // A plaintext backend reads into chosen buffers (relay-reads.ts) from its connect, any other
  // socket once bulk data comes (onData); each pauses on a full `to` the same way.
  if (readsIntoChosenBuffers(from)) relayChosenReads(from, to);
  else from.on('data', onData);
  to.on('drain', onDrain);
  from.on('end', onEnd);
  from.on('error', onError);
  from.on('close', onClose);
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
    const session: Relay = { client, backend, done: false, resolve };
    // Either side may be gone already (pipeline reports that as an early close too).
    if (client.destroyed || backend.destroyed) {
      finish(session, client.destroyed ? 'client error: Premature close' : 'upstream error: Premature close');
      return;
    }
    if (options.toClient.length > 0) client.write(options.toClient);
    if (options.toBackend.length > 0) backend.write(options.toBackend);
    forward(session, backend, client, 'upstream');
    forward(session, client, backend, 'client');
    client.on('timeout', onTimeout);
    client.setTimeout(options.idleTimeoutMs);
    client.resume();
    backend.resume();
  });
}
