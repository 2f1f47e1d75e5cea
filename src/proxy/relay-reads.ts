import net from 'node:net';
import type { Writable } from 'node:stream';

/**
 * How a relayed socket reads: into buffers Postern chooses, not into a new 64 KB buffer per
 * read as Node's sockets do by default. A plaintext backend connection reads so from its connect
 * (net's `onread`); the client's transport and a TLS backend once the relay sees bulk data from
 * them (`switchToChosenReads`, called by src/proxy/relay.ts).
 *
 * Why: Node allocates each read's buffer outside V8's heap, and V8 counts it as external memory.
 * A bulk relay (a FETCH of a large message, an APPEND or a DATA) allocates about as much as it
 * moves. Once the process's old generation is above V8's incremental-marking threshold (8 MB,
 * which a proxy with its modules and a few thousand sessions always is), that external memory
 * starts a full mark-compact every ~30 MB: 20–30 of them per `npm run bench` relay round, where
 * bare Node, below the threshold, ran one (docs/performance.md, changes 15 and 24). The
 * allocations cost on their own too: an upload relayed from Node's buffers took about twice the
 * CPU per MB it takes from chosen ones.
 *
 * How (Node asks for the next read's buffer right after each read):
 * - A read lands in one process-wide buffer (`PROBE`) and is copied out, exact size, before its
 *   callback returns, as Node's own reads are: nothing refers to `PROBE` afterwards, so every
 *   relayed socket can share it, and a session between bursts holds no read buffer at all.
 * - After a read of at least the probe's size (bulk data is flowing), the next read lands in a
 *   64 KB buffer from a small process-wide pool, which is handed to the other side's `write()` as
 *   it is, with no copy, and goes back to the pool once that write is done. A smaller read (the
 *   kernel had no more) sends the socket back to `PROBE`.
 * - At most `MAX_LENT` pool buffers wait for a read at any time (a socket holds the one chosen
 *   for its next read until that read comes): a session that goes quiet right after a bulk read
 *   holds one, so this bounds what quiet sessions can hold, whatever their number; past it,
 *   reads go to `PROBE`.
 */
/**
 * Small, because each burst's first read is copied (change 15 measured POP3 RETR, which Dovecot
 * writes in ~60 KB pieces, each then read as a probe read and a pool read: 16 KB cost 1.0–1.2x
 * nginx's CPU per MB, 4 KB 0.85–0.93x; since change 24 a probe-sized read counts as bulk, so the
 * pieces after a burst's first land in pool buffers whole).
 */
export const PROBE_SIZE = 4 * 1024;
const BULK_SIZE = 64 * 1024;
const PROBE = Buffer.allocUnsafe(PROBE_SIZE);
/** Pool buffers no write or socket holds, ready for the next bulk read. */
const spare: Buffer[] = [];
export const MAX_SPARE = 8;
/** Pool buffers chosen for a socket's next read, not read into yet. */
let lent = 0;
export const MAX_LENT = 64;

/** The pool now, for the metrics (`postern_relay_read_buffers`) and the tests of its bounds. */
export function readBuffers(): { lent: number; spare: number } {
  return { lent, spare: spare.length };
}

const recycle = (buffer: Buffer): void => {
  if (spare.length < MAX_SPARE) spare.push(buffer);
};

/** Who takes a backend's bytes during the login: each chunk a copy it may keep. */
export type BytesConsumer = (chunk: Buffer) => void;

class ChosenReads {
  /** The login's reader; null once the login is over. */
  consumer: BytesConsumer | null = null;
  /** Where the relay writes what this socket reads (the other side), once it runs. */
  #relayTo: Writable | null = null;
  /** The pool buffer chosen for the next read, or null (`PROBE`). */
  #lent: Buffer | null = null;
  /** The last read was at least the probe's size: more is likely waiting. */
  #bulk = false;
  /** Bytes read while no one takes them (between the login and the relay): the client's first. */
  #held: Buffer[] | null = null;

  /** The buffer for the next read (net's `onread.buffer`). */
  next(): Buffer {
    // Asked again before a read came (net does not, today): the same one, so none is lost.
    if (this.#lent !== null) return this.#lent;
    if (!this.#bulk || lent >= MAX_LENT) return PROBE;
    lent += 1;
    return (this.#lent = spare.pop() ?? Buffer.allocUnsafe(BULK_SIZE));
  }

  /** One read (net's `onread.callback`); false pauses the socket. */
  read(length: number, buffer: Buffer): boolean {
    // At least the probe's worth: bulk data is flowing. (Not "filled its buffer": a TLS socket
    // hands over what it decrypted a record at a time, at most 16 KB, and the rest of a record
    // that began in the probe would never fill a pool buffer.)
    this.#bulk = length >= PROBE_SIZE;
    const pooled = buffer !== PROBE;
    if (pooled) this.#returned();
    const relayTo = this.#relayTo;
    if (relayTo !== null) {
      if (!pooled) return relayTo.write(Buffer.from(buffer.subarray(0, length)));
      return relayTo.write(buffer.subarray(0, length), () => recycle(buffer));
    }
    const copy = Buffer.from(buffer.subarray(0, length));
    if (pooled) recycle(buffer);
    if (this.consumer !== null) {
      this.consumer(copy);
      return true;
    }
    (this.#held ??= []).push(copy);
    return false;
  }

  /** From now on each read goes to `client`, after what was held. */
  relayTo(client: Writable): void {
    this.consumer = null;
    this.#relayTo = client;
    for (const chunk of this.#held ?? []) client.write(chunk);
    this.#held = null;
  }

  /** The socket closed: the buffer chosen for its next read goes back. */
  closed(): void {
    const buffer = this.#lent;
    if (buffer === null) return;
    this.#returned();
    recycle(buffer);
  }

  #returned(): void {
    this.#lent = null;
    lent -= 1;
  }
}

const READS = Symbol('relayed socket reads');
type ReadingSocket = net.Socket & { [READS]?: ChosenReads };

function onRead(this: ReadingSocket, length: number, buffer: Buffer): boolean {
  return this[READS]!.read(length, buffer);
}

function onClose(this: ReadingSocket): void {
  this[READS]!.closed();
}

/** `socket` reads through `reads` from now on; its chosen buffer goes back when it closes. */
function attach(socket: ReadingSocket, reads: ChosenReads): void {
  socket[READS] = reads;
  socket.on('close', onClose);
}

/** A plaintext connection to a backend whose reads are chosen as above; `consumer` gets them until the relay. */
export function connectPlainBackend(options: net.TcpNetConnectOpts, consumer: BytesConsumer): net.Socket {
  const reads = new ChosenReads();
  reads.consumer = consumer;
  const socket: ReadingSocket = net.connect({ ...options, onread: { buffer: () => reads.next(), callback: onRead as (n: number, b: Uint8Array) => boolean } });
  attach(socket, reads);
  return socket;
}

/** Reads `socket` with `consumer` from now on (a login step's own reader). */
export function setBackendConsumer(socket: net.Socket, consumer: BytesConsumer | null): void {
  (socket as ReadingSocket)[READS]!.consumer = consumer;
}

/** Whether `socket` reads into chosen buffers (connectPlainBackend's, or switched): its bytes come as callbacks, not `data` events. */
export function readsIntoChosenBuffers(socket: net.Socket): boolean {
  return (socket as ReadingSocket)[READS] !== undefined;
}

/**
 * A direction of the relay: each read of `socket` written to `to`; a `write()` that asks to wait
 * pauses `socket` (the relay resumes it on `to`'s `drain`).
 */
export function relayChosenReads(socket: net.Socket, to: Writable): void {
  (socket as ReadingSocket)[READS]!.relayTo(to);
}

/**
 * Where a socket made by someone else keeps what net's `onread` sets: its read buffer, the
 * callback and the next buffer's maker. Node offers `onread` only when it makes the socket
 * (`net.connect`, `new net.Socket`), not for an accepted one nor a TLS socket over it, so these are
 * found on the socket itself (every net socket has the three, null without `onread`), with the
 * handle's `useUserBuffer`, which `onread` calls. Node 20 and 24 have them
 * (test/unit/proxy/relay-reads-client.test.ts); a Node without them gets `null`, and the client
 * is read with `data` events as before.
 */
interface ReadHooks {
  buffer: symbol;
  callback: symbol;
  next: symbol;
}
let hooks: ReadHooks | null | undefined;

function readHooksOf(socket: net.Socket): ReadHooks | null {
  if (hooks !== undefined) return hooks;
  const named = (name: string) => Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === name);
  const [buffer, callback, next] = [named('kBuffer'), named('kBufferCb'), named('kBufferGen')];
  hooks = buffer !== undefined && callback !== undefined && next !== undefined ? { buffer, callback, next } : null;
  return hooks;
}

type UserBufferHandle = { useUserBuffer?: (buffer: Buffer) => void };

/**
 * A direction of the relay over a socket Postern did not make with `onread` (the client's
 * transport, the accepted socket or the TLS socket over it; a backend over TLS): from now on it
 * reads into chosen buffers as a plaintext backend does, each read written to `to`. What the socket had
 * read and not yet given out goes first. Returns false, changing nothing, where this Node cannot
 * (see ReadHooks): the caller then reads it with `data` events.
 */
export function switchToChosenReads(socket: net.Socket, to: Writable): boolean {
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  const found = readHooksOf(socket);
  if (found === null || typeof handle?.useUserBuffer !== 'function' || (socket as ReadingSocket)[READS] !== undefined) return false;
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) to.write(chunk);
  const reads = new ChosenReads();
  const reading = socket as ReadingSocket & Record<symbol, unknown>;
  attach(reading, reads);
  reads.relayTo(to);
  const first = reads.next();
  reading[found.callback] = onRead;
  reading[found.next] = () => reads.next();
  reading[found.buffer] = first;
  handle.useUserBuffer(first);
  return true;
}
