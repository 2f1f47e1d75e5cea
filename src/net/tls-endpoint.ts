import tls, { type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Protocol } from '../config/types.js';
import { keepClientChains } from './client-certificate.js';
import { peekClientHello } from './client-hello.js';
import type { EndpointSessions, SessionStore } from './session-cache.js';
import { sessionFields, TLS1_3_VERSION } from './session-der.js';
import { sniCallback } from './sni.js';
import type { ServerContexts } from './tls-contexts.js';
import { TlsSetupError } from './tls.js';

/** What a session hears about the handshake it asked for. */
export interface HandshakeHandlers {
  secure(socket: TLSSocket): void;
  failed(reason: string): void;
}

export interface TlsEndpointOptions {
  /** The server's contexts, built once for this load (tls-contexts.ts), ticket keys installed. */
  contexts: ServerContexts;
  /** The mail protocol: its name is the one ALPN id accepted (nginx 1.21.4+). */
  protocol: Protocol;
  /** nginx's `timeout` also bounds the handshake. */
  handshakeTimeoutMs: number;
  /** `ssl_verify_client` other than off: ask for a certificate, never fail the handshake for it. */
  requestCert: boolean;
  /** Session resumption (absent: Node's defaults, which behave as `ssl_session_cache none`). */
  sessions?: Pick<EndpointSessions, 'store' | 'timeoutMs'>;
}

const BUILT = Symbol('built context');

/**
 * A tls.Server serving a context built beforehand. Node's builds its own from the options it is
 * given: its constructor calls setSecureContext(options), which keeps the result as the internal
 * `_sharedCreds` every accepted socket is wrapped with (Node 20 and 24 alike). This override keeps
 * the given context there instead, so the one built and checked at load is the one served; the
 * constructor fails if Node stops calling it (test/unit/net/tls-contexts.test.ts would too).
 */
export class BuiltContextServer extends tls.Server {
  constructor(context: tls.SecureContext, options: tls.TlsOptions) {
    super({ ...options, [BUILT]: context } as tls.TlsOptions);
    if ((this as unknown as { _sharedCreds?: tls.SecureContext })._sharedCreds !== context) {
      throw new TlsSetupError('this Node.js does not let Postern serve the TLS context it built (tls.Server changed)');
    }
  }

  override setSecureContext(options: tls.SecureContextOptions): void {
    const context = (options as { [BUILT]?: tls.SecureContext })[BUILT];
    if (context === undefined) throw new TlsSetupError('a BuiltContextServer takes a built context only');
    (this as unknown as { _sharedCreds: tls.SecureContext })._sharedCreds = context;
  }
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
    const { contexts, sessions } = options;
    this.store = sessions?.store ?? null;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs;
    // Only then does OpenSSL look a TLS 1.3 session up in the cache by its PSK identity.
    this.readsPskIdentity = this.store !== null && !contexts.ticketsOn && contexts.offersTls13;
    this.server = new BuiltContextServer(contexts.context, {
      requestCert: options.requestCert,
      // nginx completes the handshake and answers a bad certificate inside the mail protocol.
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
      // A client offering ALPN without our protocol gets a fatal no_application_protocol alert.
      ALPNCallback: ({ protocols }) => (protocols.includes(alpnId) ? alpnId : undefined),
      ...(contexts.sni.length === 0 ? {} : { SNICallback: sniCallback(contexts.sni) }),
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
    if (options.requestCert) keepClientChains(this.server);
    if (this.store !== null) this.cacheSessions(this.store, sessions!.timeoutMs, contexts.ticketsOn);
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
    peekClientHello(socket, this.handshakeTimeoutMs, (result) => {
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
      // A store in this process answers within this callback: no promise, no extra tick.
      const now = store.lookupNow?.(lookup);
      if (now !== undefined) return answer(null, now);
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
