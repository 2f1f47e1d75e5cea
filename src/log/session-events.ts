/**
 * What a session tells the access log and the metrics, at the few moments they count: never
 * per byte (relay bytes are read from the sockets' counters once, at the end).
 */
export interface SessionEnd {
  /** nginx's connection number, as in the error_log. */
  number: number;
  /** When the connection was accepted (ms since the epoch). */
  startedAt: number;
  durationMs: number;
  /** `addr:port` of the client and of the listener. */
  client: string;
  server: string;
  protocol: string;
  tls: { version: string; cipher: string; resumed: boolean } | undefined;
  login: string | undefined;
  upstream: string | undefined;
  /** Bytes on the client connection (TLS records included), from and to the client. */
  bytesFromClient: number;
  bytesToClient: number;
  /** Bytes relayed after the login: client to upstream, upstream to client. */
  relayedToUpstream: number;
  relayedToClient: number;
  outcome: Outcome;
}

/** How a session ended, in a few words a dashboard can count. */
export type Outcome =
  | 'proxied'
  | 'auth_failed'
  | 'auth_error'
  | 'backend_error'
  | 'client_closed'
  | 'quit'
  | 'timeout'
  | 'tls_error'
  | 'protocol_error'
  | 'internal_error';

export interface SessionEvents {
  opened(protocol: string, server: string): void;
  tlsEstablished(version: string, resumed: boolean): void;
  tlsFailed(): void;
  /** The auth service answered (`wait` counts as ok: it asked to ask again). */
  authAnswered(result: 'ok' | 'fail' | 'error', seconds: number): void;
  backendLoggedIn(seconds: number): void;
  ended(end: SessionEnd): void;
}

/** Several listeners as one (the server's access log and the process's metrics). */
export function allOf(listeners: ReadonlyArray<SessionEvents | undefined>): SessionEvents | undefined {
  const present = listeners.filter((listener): listener is SessionEvents => listener !== undefined);
  if (present.length <= 1) return present[0];
  return {
    opened: (protocol, server) => present.forEach((l) => l.opened(protocol, server)),
    tlsEstablished: (version, resumed) => present.forEach((l) => l.tlsEstablished(version, resumed)),
    tlsFailed: () => present.forEach((l) => l.tlsFailed()),
    authAnswered: (result, seconds) => present.forEach((l) => l.authAnswered(result, seconds)),
    backendLoggedIn: (seconds) => present.forEach((l) => l.backendLoggedIn(seconds)),
    ended: (end) => present.forEach((l) => l.ended(end)),
  };
}

/** The outcome a close reason means, where the session knows no better (an auth or backend error it saw). */
export function outcomeOf(reason: string): Outcome {
  if (reason.startsWith('proxied session done') || reason === 'client timed out while proxying') return 'proxied';
  if (reason === 'client login failed') return 'auth_failed';
  if (reason === 'client quit') return 'quit';
  if (reason === 'client closed connection') return 'client_closed';
  if (reason.startsWith('client timed out')) return 'timeout';
  if (reason === 'upstream timed out') return 'backend_error';
  if (reason.startsWith('auth http server')) return 'auth_error';
  if (reason.startsWith('SSL handshake failed') || reason.includes('SSL certificate')) return 'tls_error';
  if (reason.startsWith('client sent') || reason === 'client was rejected before greeting') return 'protocol_error';
  return 'internal_error';
}
