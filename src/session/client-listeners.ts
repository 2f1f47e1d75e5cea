import type { Socket } from 'node:net';
import { logSocketError } from '../log/session-report.js';
import type { SessionContext } from './context.js';

/**
 * The listeners of a client's transports (the accepted socket, then the TLS socket on it):
 * functions shared by every connection, each finding its session through a symbol on the socket,
 * rather than closures made per connection with the scope they keep (~250 B of an idle
 * connection's heap per transport; docs/performance.md, change 19).
 */
const SESSION = Symbol('session: the session this socket is the client transport of');
type ClientTransport = Socket & { [SESSION]?: SessionContext };

/** Marks `transport` as `session`'s, for the listeners below. */
export function attachSession(transport: Socket, session: SessionContext): void {
  (transport as ClientTransport)[SESSION] = session;
}

/** `error`: nginx's info line for a failed recv()/send() of the client. */
export function onClientError(this: ClientTransport, error: Error): void {
  const session = this[SESSION];
  if (session !== undefined) logSocketError(session.log, error);
}

/** `end` or `close`: the machine hears that the client went. */
export function onClientGone(this: ClientTransport): void {
  this[SESSION]?.send({ type: 'client.closed' });
}
