import { constants } from 'node:os';
import { errnoText } from '../process/errno.js';
import type { Level } from './levels.js';

/** What the error_log says about a connection's end: nginx's level, message and `while ...` action. */
export interface EndLine {
  level: Level;
  message: string;
  /** Replaces the connection's action for this line (`null`: none, as nginx clears it). */
  action?: string | null;
}

/** nginx appends strerror to a timeout: `client timed out (110: Connection timed out)`. */
const TIMED_OUT = '(110: Connection timed out)';

/** Node's words for a client gone before its TLS handshake ended. */
const HANDSHAKE_GONE = 'SSL handshake failed: Client network socket disconnected before secure TLS connection was established';

/**
 * The line for a session's close reason, as nginx words that event (src/mail/*.c), or null
 * where nginx writes nothing at info and above: the client closed or quit, the login failed
 * (logged when the auth service answered), the error already logged when it happened.
 */
export function endLine(reason: string): EndLine | null {
  if (reason === 'client timed out') return { level: 'info', message: `client timed out ${TIMED_OUT}` };
  if (reason === 'client timed out while proxying') return { level: 'info', message: `client timed out ${TIMED_OUT}`, action: 'proxying' };
  // The action is the session's: "SSL handshaking", or "in starttls state" after STARTTLS.
  if (reason === 'client timed out while SSL handshaking') return { level: 'info', message: `client timed out ${TIMED_OUT}` };
  // The action is the session's: what the backend did not answer.
  if (reason === 'upstream timed out') return { level: 'info', message: `upstream timed out ${TIMED_OUT}` };
  if (reason.startsWith('proxied session done')) return { level: 'info', message: 'proxied session done', action: null };
  if (reason === 'client sent too many invalid commands' || reason === 'client sent no required SSL certificate') {
    return { level: 'info', message: reason };
  }
  if (reason.startsWith('client SSL certificate verify error')) return { level: 'info', message: reason };
  if (reason === HANDSHAKE_GONE) return { level: 'info', message: 'peer closed connection in SSL handshake' };
  if (reason.startsWith('SSL handshake failed: ')) return { level: 'info', message: sslHandshakeFailure(reason.slice('SSL handshake failed: '.length)) };
  return null;
}

/**
 * OpenSSL's error as nginx prints it (ngx_ssl_error): `SSL_do_handshake() failed (SSL:
 * error:0A00010B:SSL routines::wrong version number)`. Node's message carries the same queue
 * entry with the function name and source position nginx's OpenSSL 3 leaves out.
 */
export function sslHandshakeFailure(nodeMessage: string): string {
  // A socket error under the handshake (`read ECONNRESET`): nginx prints its errno.
  const socketError = /^(?:read|write) (E[A-Z]+)$/.exec(nodeMessage);
  if (socketError !== null) return `SSL_do_handshake() failed ${errnoText(Object.assign(new Error(nodeMessage), { code: socketError[1], errno: -(constants.errno as Record<string, number>)[socketError[1]!]! }))}`;
  const entry = /error:([0-9A-F]{8}):([^:]*):[^:]*:([^:\n]*)/.exec(nodeMessage);
  if (entry === null) return `SSL_do_handshake() failed (${nodeMessage})`;
  return `SSL_do_handshake() failed (SSL: error:${entry[1]}:${entry[2]}::${entry[3]})`;
}
