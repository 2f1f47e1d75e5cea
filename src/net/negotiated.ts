import type { TLSSocket } from 'node:tls';

/** The protocol and cipher suite a TLS handshake negotiated (nginx's `$ssl_protocol`, `$ssl_cipher`). */
export interface Negotiated {
  readonly protocol: string;
  readonly cipher: string;
}

/** The same, as a session's facts record it for the access log and the metrics. */
export interface NegotiatedSession {
  readonly version: string;
  readonly cipher: string;
  readonly resumed: boolean;
}

/**
 * What handshakes negotiated, as frozen objects shared by every connection that negotiated the
 * same: an idle TLS connection would otherwise hold two records and two copies of its cipher
 * suite's name (~170 B; docs/performance.md, change 23). A server offers a handful of suites; past
 * MAX_SHARED shapes (a bound, not an expected number) a connection gets its own.
 */
const MAX_SHARED = 128;
const shared = new Map<string, object>();

function sharedFor<T extends object>(key: string, make: () => T): T {
  const known = shared.get(key) as T | undefined;
  if (known !== undefined) return known;
  const made = Object.freeze(make());
  if (shared.size < MAX_SHARED) shared.set(key, made);
  return made;
}

/** What `socket`'s handshake negotiated (after it completed). */
export function negotiated(socket: TLSSocket): Negotiated {
  const protocol = socket.getProtocol() ?? 'unknown';
  const cipher = socket.getCipher()?.name ?? '';
  return sharedFor(`p ${protocol} ${cipher}`, () => ({ protocol, cipher }));
}

/** The session's facts of `suite`, and whether the handshake resumed a session. */
export function negotiatedSession(suite: Negotiated, resumed: boolean): NegotiatedSession {
  return sharedFor(`s ${suite.protocol} ${suite.cipher} ${resumed}`, () => ({ version: suite.protocol, cipher: suite.cipher, resumed }));
}
