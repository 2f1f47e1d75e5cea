import tls, { type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Protocol } from '../config/types.js';
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

  constructor(options: TlsEndpointOptions) {
    const alpnId = options.protocol;
    this.server = tls.createServer({
      ...options.context,
      requestCert: options.requestCert,
      // nginx completes the handshake and answers a bad certificate inside the mail protocol.
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
      // A client offering ALPN without our protocol gets a fatal no_application_protocol alert.
      ALPNCallback: ({ protocols }) => (protocols.includes(alpnId) ? alpnId : undefined),
      ...(options.sni === undefined || options.sni.length === 0
        ? {}
        : { SNICallback: sniCallback(options.sni.map((entry) => ({ pattern: entry.pattern, context: tls.createSecureContext(entry.options) }))) }),
    });
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const handlers = this.take(socket);
      if (handlers) handlers.secure(socket);
      else socket.destroy();
    });
    this.server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      this.take(socket)?.failed(handshakeFailure(error));
      socket.destroy();
    });
  }

  /**
   * Start the handshake over `socket`, which must be paused with no `data` listener left; bytes
   * still buffered in it (an early ClientHello) go into the handshake.
   */
  handshake(socket: Socket, handlers: HandshakeHandlers): void {
    this.waiting.set(socket, handlers);
    this.server.emit('connection', socket);
  }

  /** The TLS socket Node builds keeps the accepted socket as its (internal) `_parent`. */
  private take(socket: TLSSocket): HandshakeHandlers | undefined {
    const parent = (socket as TLSSocket & { _parent?: Socket })._parent;
    if (parent === undefined) return undefined;
    const handlers = this.waiting.get(parent);
    this.waiting.delete(parent);
    return handlers;
  }
}

function handshakeFailure(error: NodeJS.ErrnoException): string {
  if (error.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'client timed out while SSL handshaking';
  return `SSL handshake failed: ${error.message}`;
}
