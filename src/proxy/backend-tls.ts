/**
 * TLS from Postern to the backend (the `postern_proxy_ssl*` extension directives): one client
 * secure context per server, verification after the handshake as nginx's upstream SSL does
 * (chain first, then the name), and resumption of sessions with the same backend.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ProxySslConfig } from '../config/types.js';
import { tlsVersions, type TlsVersions } from '../net/tls.js';

/** A setting that cannot be turned into a TLS context; `directive` is the one at fault. */
export class BackendTlsSetupError extends Error {
  readonly directive: string;
  constructor(message: string, directive: string) {
    super(message);
    this.directive = directive;
  }
}

/** Backends whose last session is remembered, per server (oldest forgotten first). */
const MAX_SESSIONS = 64;

function readPem(path: string, what: string, directive: string): Buffer {
  try {
    // nginx's inline form, as for ssl_certificate.
    return path.startsWith('data:') ? Buffer.from(path.slice(5)) : readFileSync(path);
  } catch (error) {
    throw new BackendTlsSetupError(`cannot load ${what} "${path}": ${(error as NodeJS.ErrnoException).code ?? 'error'}`, directive);
  }
}

function tryContext(options: tls.SecureContextOptions, message: string, directive: string): tls.SecureContext {
  try {
    return tls.createSecureContext(options);
  } catch (error) {
    throw new BackendTlsSetupError(`${message} (${(error as Error).message})`, directive);
  }
}

/**
 * The client context of one server, built in steps so that a failure names its directive:
 * versions and ciphers, trusted CAs, then the client certificate with its key.
 */
export function createBackendContext(config: ProxySslConfig): tls.SecureContext {
  let versions: TlsVersions;
  try {
    versions = tlsVersions(config.protocols, () => `no TLS protocol Node.js supports in "postern_proxy_ssl_protocols ${config.protocols.join(' ')}"`);
  } catch (error) {
    throw new BackendTlsSetupError((error as Error).message, 'postern_proxy_ssl_protocols');
  }
  const options: tls.SecureContextOptions = { ciphers: config.ciphers, ...versions };
  tryContext(options, `cannot use ciphers "${config.ciphers}"`, 'postern_proxy_ssl_ciphers');
  if (config.trustedCertificate !== undefined) {
    const ca = readPem(config.trustedCertificate, 'trusted certificate', 'postern_proxy_ssl_trusted_certificate');
    // Node ignores a CA file without any certificate in it: refuse it, or nothing would verify.
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
      throw new BackendTlsSetupError(`cannot load trusted certificate "${config.trustedCertificate}": no certificate found`, 'postern_proxy_ssl_trusted_certificate');
    }
    options.ca = ca;
    tryContext({ ca }, `cannot load trusted certificate "${config.trustedCertificate}"`, 'postern_proxy_ssl_trusted_certificate');
  }
  if (config.certificate !== undefined && config.certificateKey !== undefined) {
    const cert = readPem(config.certificate, 'certificate', 'postern_proxy_ssl_certificate');
    const key = readPem(config.certificateKey, 'certificate key', 'postern_proxy_ssl_certificate_key');
    options.cert = cert;
    options.key = key;
    tryContext({ cert, key }, `cannot load certificate "${config.certificate}"`, 'postern_proxy_ssl_certificate');
  }
  return tryContext(options, 'cannot create the backend TLS context', 'postern_proxy_ssl');
}

export interface BackendAddress {
  server: string;
  port: number;
}

/** A TLS connection to a backend, not yet trusted: call `check()` on `secureConnect`. */
export interface BackendTlsConnection {
  socket: tls.TLSSocket;
  /** Why the backend must not be used (nginx's wording), or null; remembers the session if trusted. */
  check(): string | null;
}

/** One server's backend TLS: its context, its settings and the sessions worth resuming. */
export class BackendTls {
  readonly mode: 'on' | 'starttls';
  readonly #config: ProxySslConfig;
  readonly #context: tls.SecureContext;
  readonly #sessions = new Map<string, Buffer>();

  constructor(config: ProxySslConfig) {
    if (config.mode === 'off') throw new Error('backend TLS with postern_proxy_ssl off');
    this.mode = config.mode;
    this.#config = config;
    this.#context = createBackendContext(config);
  }

  /**
   * Starts TLS with `target`: over `plain` (STARTTLS, already connected) or on a new connection
   * (implicit TLS). The handshake never fails on verification by itself; `check()` decides.
   */
  connect(target: BackendAddress, plain?: net.Socket): BackendTlsConnection {
    const name = this.#config.name ?? target.server;
    const key = `${target.server}:${target.port} ${name}`;
    const session = this.#config.sessionReuse ? this.#sessions.get(key) : undefined;
    const socket = tls.connect({
      ...(plain === undefined ? { host: target.server, port: target.port } : { socket: plain }),
      secureContext: this.#context,
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      // As nginx, never an IP address as SNI.
      ...(this.#config.serverName && net.isIP(name) === 0 ? { servername: name } : {}),
      ...(session === undefined ? {} : { session }),
    });
    let trusted = false;
    let pending: Buffer | undefined;
    if (this.#config.sessionReuse) {
      // TLS 1.2 sessions arrive before the check, TLS 1.3 tickets after it: keep only trusted ones.
      socket.on('session', (data: Buffer) => {
        if (trusted) this.#remember(key, data);
        else pending = data;
      });
    }
    return {
      socket,
      check: () => {
        const problem = this.#verify(socket, name);
        if (problem !== null) {
          this.#sessions.delete(key);
          return problem;
        }
        trusted = true;
        if (pending !== undefined) this.#remember(key, pending);
        return null;
      },
    };
  }

  #verify(socket: tls.TLSSocket, name: string): string | null {
    if (!this.#config.verify) return null;
    if (!socket.authorized) return `upstream SSL certificate verify error: (${String(socket.authorizationError)})`;
    if (tls.checkServerIdentity(name, socket.getPeerCertificate()) !== undefined) return `upstream SSL certificate does not match "${name}"`;
    return null;
  }

  #remember(key: string, session: Buffer): void {
    this.#sessions.delete(key);
    this.#sessions.set(key, session);
    if (this.#sessions.size > MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
  }
}

const perServer = new WeakMap<ProxySslConfig, BackendTls>();

/** The backend TLS of a server's settings, built once; null for `postern_proxy_ssl off`. */
export function backendTlsFor(config: ProxySslConfig): BackendTls | null {
  if (config.mode === 'off') return null;
  let backendTls = perServer.get(config);
  if (backendTls === undefined) {
    backendTls = new BackendTls(config);
    perServer.set(config, backendTls);
  }
  return backendTls;
}
