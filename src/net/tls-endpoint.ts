import { constants } from 'node:crypto';
import tls, { type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Protocol } from '../config/types.js';
import { peekClientHello } from './client-hello.js';
import type { EndpointSessions, SessionStore } from './session-cache.js';
import { sessionFields, TLS1_3_VERSION } from './session-der.js';
import { useTicketKeys, useTicketKeysOnContext } from './ticket-key-callback.js';
import { fitsNodeTicketKeys, nodeTicketKeys, type TicketKey } from './ticket-keys.js';
import { sniCallback } from './sni.js';

/** What a session hears about the handshake it asked for. */
export interface HandshakeHandlers {
  secure(socket: TLSSocket): void;
  failed(reason: string): void;
}

export interface TlsEndpointOptions {
  /** The server's certificates, protocols, ciphers, CAs... as Node secure-context options. */
  context: tls.SecureContextOptions;
  /** The mail protocol: its name is the one ALPN id accepted (nginx 1.21.4+). */
  protocol: Protocol;
  /** nginx's `timeout` also bounds the handshake. */
  handshakeTimeoutMs: number;
  /** `ssl_verify_client` other than off: ask for a certificate, never fail the handshake for it. */
  requestCert: boolean;
  /** `postern_ssl_sni_certificate` (extension): other certificates, chosen by the client's SNI name. */
  sni?: Array<{ pattern: string; options: tls.SecureContextOptions }>;
  /** Session resumption (absent: Node's defaults, which behave as `ssl_session_cache none`). */
  sessions?: EndpointSessions;
}

/**
 * One `server { }`'s TLS side: a `tls.Server` that never listens. Accepted sockets (implicit
 * TLS) and upgraded ones (STARTTLS/STLS) are injected with `emit('connection')`, so every
 * handshake gets the server's context, session callbacks, ALPN and client-certificate request,
 * and `setSecureContext` swaps certificates for new handshakes only.
 */
export class TlsEndpoint {
  readonly server: tls.Server;
  private readonly waiting = new WeakMap<Socket, HandshakeHandlers>();
  private readonly store: SessionStore | null;
  /** TLS 1.3 stateful tickets: the PSK identity read from a ClientHello, by its legacy session id. */
  private readonly pskBySessionId = new Map<string, Buffer>();
  private readonly pskKeyOf = new WeakMap<Socket, string>();
  private readonly readsPskIdentity: boolean;
  private readonly handshakeTimeoutMs: number;

  constructor(options: TlsEndpointOptions) {
    const alpnId = options.protocol;
    const sessions = options.sessions;
    const keys = sessions?.ticketKeys ?? [];
    // One 48-byte key fits Node's public `ticketKeys`; several, or an 80-byte file's, need the callback.
    const publicKeys = keys.length === 1 && fitsNodeTicketKeys(keys[0]!) ? nodeTicketKeys(keys[0]!) : undefined;
    const viaCallback = keys.length > 0 && publicKeys === undefined;
    const ticketsOn = ((options.context.secureOptions ?? 0) & constants.SSL_OP_NO_TICKET) === 0;
    this.store = sessions?.store ?? null;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs;
    // Only then does OpenSSL look a TLS 1.3 session up in the cache by its PSK identity.
    this.readsPskIdentity = this.store !== null && !ticketsOn && (options.context.maxVersion ?? 'TLSv1.3') === 'TLSv1.3';
    this.server = tls.createServer({
      ...options.context,
      ...(publicKeys === undefined ? {} : { ticketKeys: publicKeys }),
      requestCert: options.requestCert,
      // nginx completes the handshake and answers a bad certificate inside the mail protocol.
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
      // A client offering ALPN without our protocol gets a fatal no_application_protocol alert.
      ALPNCallback: ({ protocols }) => (protocols.includes(alpnId) ? alpnId : undefined),
      ...(options.sni === undefined || options.sni.length === 0
        ? {}
        : { SNICallback: sniCallback(options.sni.map((entry) => ({ pattern: entry.pattern, context: sniContext(entry.options, keys, publicKeys) }))) }),
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const handlers = this.take(socket);
      if (handlers === undefined) socket.destroy();
      // TLS 1.3: OpenSSL writes the NewSessionTicket messages once this I/O callback is over; a
      // greeting written now would precede them, and a client that reads the greeting and leaves
      // (nginx's mail_ssl_session_reuse.t) would have no ticket. nginx's tickets come first.
      else if (socket.getProtocol() === 'TLSv1.3') setImmediate(() => handlers.secure(socket));
      else handlers.secure(socket);
    });
    this.server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.take(socket)?.failed(handshakeFailure(error));
      socket.destroy();
    });
    if (viaCallback) useTicketKeys(this.server, keys);
    if (this.store !== null) this.cacheSessions(this.store, sessions!.timeoutMs, ticketsOn);
  }

  /**
   * Start the handshake over `socket`, which must be paused with no `data` listener left; bytes
   * still buffered in it (an early ClientHello) go into the handshake.
   */
  handshake(socket: Socket, handlers: HandshakeHandlers): void {
    this.waiting.set(socket, handlers);
    if (!this.readsPskIdentity) {
      this.server.emit('connection', socket);
      return;
    }
    void peekClientHello(socket, this.handshakeTimeoutMs).then((result) => {
      if ('failure' in result) {
        this.waiting.delete(socket);
        handlers.failed(result.failure === 'timeout' ? TIMED_OUT : `SSL handshake failed: ${DISCONNECTED}`);
        socket.destroy();
        return;
      }
      const identity = result.hello?.pskIdentities.find((id) => id.length === 32);
      if (result.hello && identity && result.hello.sessionId.length > 0) {
        const key = result.hello.sessionId.toString('hex');
        this.pskBySessionId.set(key, identity);
        this.pskKeyOf.set(socket, key);
        // Whatever becomes of the handshake, the entry goes with the connection.
        socket.once('close', () => this.pskBySessionId.delete(key));
      }
      this.server.emit('connection', socket);
    });
  }

  /**
   * Drop from the cache the session `socket` established (nginx removes it when a client
   * certificate is refused, so that resuming cannot skip the check). Like nginx, this is the
   * socket's current session; tickets cannot be revoked.
   */
  async forgetSession(socket: TLSSocket): Promise<void> {
    if (this.store === null) return;
    const der = socket.getSession();
    const fields = der === undefined ? undefined : sessionFields(der);
    if (fields === undefined || fields.id.length === 0) return;
    await this.store.delete(fields.id).catch(() => undefined);
  }

  /** `newSession`/`resumeSession`: sessions by id in `store`, as nginx's session cache callbacks. */
  private cacheSessions(store: SessionStore, timeoutMs: number, ticketsOn: boolean): void {
    this.server.on('newSession', (id: Buffer, session: Buffer, done: () => void) => {
      // Like ngx_ssl_new_session: TLS 1.3 sessions resumed by stateless tickets are not cached.
      if (ticketsOn && sessionFields(session)?.protocolVersion === TLS1_3_VERSION) return done();
      // Store in the background and let the handshake go on at once: while a TLS 1.3 server waits
      // for this callback, Node drops what is written and ended meanwhile (a one-line refusal).
      // The request to a primary's store is already on its way before the client can come back.
      void store.set(id, session, timeoutMs).catch(() => undefined);
      done();
    });
    this.server.on('resumeSession', (id: Buffer, answer: (error: Error | null, session: Buffer | null) => void) => {
      const key = id.toString('hex');
      const lookup = this.pskBySessionId.get(key) ?? id;
      this.pskBySessionId.delete(key);
      store.get(lookup).then(
        (session) => answer(null, session ?? null),
        () => answer(null, null),
      );
    });
  }

  /** The TLS socket Node builds keeps the accepted socket as its (internal) `_parent`. */
  private take(socket: TLSSocket): HandshakeHandlers | undefined {
    const parent = (socket as TLSSocket & { _parent?: Socket })._parent;
    if (parent === undefined) return undefined;
    const handlers = this.waiting.get(parent);
    this.waiting.delete(parent);
    const pskKey = this.pskKeyOf.get(parent);
    if (pskKey !== undefined) this.pskBySessionId.delete(pskKey);
    return handlers;
  }
}

const TIMED_OUT = 'client timed out while SSL handshaking';
/** Node's words for a client gone before the handshake ended (its tlsClientError message). */
const DISCONNECTED = 'Client network socket disconnected before secure TLS connection was established';

function handshakeFailure(error: NodeJS.ErrnoException): string {
  if (error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return TIMED_OUT;
  return `SSL handshake failed: ${error.message}`;
}

/**
 * An SNI certificate's context, with the server's ticket keys: OpenSSL handles a ticket in the
 * context the SNI name selected, so every name must encrypt and decrypt with the same keys.
 */
function sniContext(options: tls.SecureContextOptions, keys: readonly TicketKey[], publicKeys: Buffer | undefined): tls.SecureContext {
  const context = tls.createSecureContext({ ...options, ...(publicKeys === undefined ? {} : { ticketKeys: publicKeys }) });
  if (keys.length > 0 && publicKeys === undefined) useTicketKeysOnContext(context, keys);
  return context;
}
