/**
 * Reading a ClientHello before Node does, for one case Node cannot serve alone: TLS 1.3
 * resumption from a session cache (`ssl_session_tickets off` with `builtin`/`shared`). OpenSSL
 * then issues stateful tickets whose PSK identity is the session id, but Node's `resumeSession`
 * event is given the ClientHello's legacy session id (random in TLS 1.3), never the PSK identity.
 * The endpoint reads the identity here, then puts every byte back for the handshake.
 */
import type { Socket } from 'node:net';

export interface ClientHelloInfo {
  /** legacy_session_id: what Node's `resumeSession` event is given. */
  sessionId: Buffer;
  /** pre_shared_key identities, in the client's order. */
  pskIdentities: Buffer[];
}

/** A ClientHello (all records) is at most this long here; longer ones are left to Node. */
const MAX_HELLO_BYTES = 64 * 1024;
const HANDSHAKE_RECORD = 0x16;
const CLIENT_HELLO = 0x01;
const PRE_SHARED_KEY = 41;

/** 'more': incomplete so far; null: not a ClientHello this code can read (Node will judge it). */
export function parseClientHello(bytes: Buffer): ClientHelloInfo | 'more' | null {
  // Join the handshake fragments of the leading handshake records.
  const fragments: Buffer[] = [];
  let offset = 0;
  let needed: number | undefined;
  let have = 0;
  while (needed === undefined || have < needed) {
    if (bytes.length < offset + 5) return 'more';
    if (bytes[offset] !== HANDSHAKE_RECORD) return null;
    const length = bytes.readUInt16BE(offset + 3);
    if (bytes.length < offset + 5 + length) return 'more';
    const fragment = bytes.subarray(offset + 5, offset + 5 + length);
    fragments.push(fragment);
    have += fragment.length;
    offset += 5 + length;
    if (needed === undefined && have >= 4) {
      const head = Buffer.concat(fragments);
      if (head[0] !== CLIENT_HELLO) return null;
      needed = 4 + head.readUIntBE(1, 3);
    }
  }
  return readHelloBody(Buffer.concat(fragments).subarray(4, needed));
}

function readHelloBody(body: Buffer): ClientHelloInfo | null {
  try {
    let at = 2 + 32; // legacy_version, random
    const idLength = body[at]!;
    const sessionId = body.subarray(at + 1, at + 1 + idLength);
    at += 1 + idLength;
    at += 2 + body.readUInt16BE(at); // cipher_suites
    at += 1 + body[at]!; // legacy_compression_methods
    const pskIdentities: Buffer[] = [];
    if (at + 2 <= body.length) {
      const end = at + 2 + body.readUInt16BE(at);
      at += 2;
      while (at + 4 <= end) {
        const type = body.readUInt16BE(at);
        const length = body.readUInt16BE(at + 2);
        const data = body.subarray(at + 4, at + 4 + length);
        if (type === PRE_SHARED_KEY) pskIdentities.push(...identities(data));
        at += 4 + length;
      }
    }
    return { sessionId: Buffer.from(sessionId), pskIdentities };
  } catch {
    return null;
  }
}

function identities(extension: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const end = 2 + extension.readUInt16BE(0);
  let at = 2;
  while (at + 2 <= end) {
    const length = extension.readUInt16BE(at);
    out.push(Buffer.from(extension.subarray(at + 2, at + 2 + length)));
    at += 2 + length + 4; // identity, obfuscated_ticket_age
  }
  return out;
}

export type PeekResult = { hello: ClientHelloInfo | null } | { failure: 'timeout' | 'closed' };

/**
 * Reads from the paused `socket` until a whole ClientHello is there (or it cannot be one), then
 * puts every byte back with `unshift`, leaves the socket paused with no listener, and calls
 * `done` in that same turn: the TLS handshake then reads them as if nothing had happened.
 * `timeoutMs` bounds the wait, as the handshake timeout would; a client that goes away first is
 * reported as closed. A callback and `data` events rather than a promise and `readable`: this
 * runs for every handshake of such a server (docs/performance.md, change 12).
 */
export function peekClientHello(socket: Socket, timeoutMs: number, done: (result: PeekResult) => void): void {
  const chunks: Buffer[] = [];
  let total = 0;
  const finish = (result: PeekResult) => {
    clearTimeout(timer);
    socket.pause();
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('close', onGone);
    socket.off('error', onGone);
    if ('hello' in result && total > 0) socket.unshift(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    done(result);
  };
  const onGone = () => finish({ failure: 'closed' });
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    total += chunk.length;
    // Most ClientHellos arrive in one read: parsed where they lie.
    const parsed = parseClientHello(chunks.length === 1 ? chunk : Buffer.concat(chunks, total));
    if (parsed === 'more' && total < MAX_HELLO_BYTES) return;
    finish({ hello: parsed === 'more' ? null : parsed });
  };
  const timer = setTimeout(() => finish({ failure: 'timeout' }), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onGone);
  socket.once('close', onGone);
  socket.once('error', onGone);
  // Flowing, bytes already buffered (an early ClientHello) come first.
  socket.resume();
}
