import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ServerConfig } from '../config/types.js';
import { ConnectionLog, toErrorLog } from '../log.js';
import { outcomeOf, type Outcome } from '../log/session-events.js';
import { addressText, logEnd, logSocketError, sessionEnd, type SessionFacts } from '../log/session-report.js';
import { unmapIpv4 } from '../net/ip-text.js';
import { dnsLookup, resolveClientHost, UNAVAILABLE } from '../net/resolve-client.js';
import { protocolFor } from '../protocols/registry.js';
import type { SessionOptions } from './options.js';
import { startSession } from './runtime.js';

export type { JournalSink } from '../journal/record.js';
export type { AuthService, ConnectionMachine, SessionInspector, SessionOptions } from './options.js';
// bench/object-cost.mjs builds inputs as the session does.
export { connectionInput } from './machine-core.js';

/**
 * One client connection: its first log line, the `resolver` lookup where the protocol asks for
 * one (after an implicit-TLS handshake, as nginx orders it), then the session (runtime.ts): the
 * machine decides, the effect handlers carry out what it decides.
 */
export function runSession(socket: Socket, options: SessionOptions): void {
  const { server } = options;
  const clientIp = options.client?.ip ?? unmapIpv4(socket.remoteAddress ?? '');
  // The listener's address is known (a socket's own would cost a system call: a server's tests pass none).
  const log = new ConnectionLog(toErrorLog(options.logger), clientIp, options.listenAddress ?? addressText(socket.localAddress, socket.localPort));
  const facts: SessionFacts = { startedAt: Date.now(), tls: undefined, failure: undefined };
  log.connected(() => addressText(socket.remoteAddress, socket.remotePort));
  options.events?.opened(server.protocol, log.context.server ?? '');
  const { resolver } = protocolFor(server.protocol).settings(server);
  if (resolver === undefined) {
    startSession(socket, options, log, facts, UNAVAILABLE);
    return;
  }
  // nginx looks the client up before the greeting and does not read it meanwhile; on an
  // implicit-TLS listener it completes the handshake first.
  socket.pause();
  if (!options.implicitTls || options.tls === null) {
    resolveThenStart(socket, socket, options, resolver, log, facts);
    return;
  }
  log.context.action = 'SSL handshaking';
  socket.on('error', (error) => logSocketError(log, error));
  options.tls.handshake(socket, {
    secure: (secure) => resolveThenStart(socket, secure, options, resolver, log, facts, secure),
    failed: (reason) => {
      logEnd(log, reason);
      options.events?.tlsFailed();
      options.events?.ended(sessionEnd(socket, log, facts, server.protocol, outcomeOf(reason)));
      socket.destroy();
    },
  });
}

/** The `resolver` lookup of the client's name, then the session; `timeout` bounds the wait. */
function resolveThenStart(
  socket: Socket,
  transport: Socket | TLSSocket,
  options: SessionOptions,
  resolver: NonNullable<ServerConfig['resolver']>,
  log: ConnectionLog,
  facts: SessionFacts,
  established?: TLSSocket,
): void {
  const { server } = options;
  const lookup = dnsLookup(resolver, server.resolverTimeoutMs);
  let gone = false;
  log.context.action = 'in resolving client address';
  const onError = (error: Error) => logSocketError(log, error);
  const stop = () => {
    gone = true;
    clearTimeout(deadline);
    transport.off('close', onClose);
    transport.off('error', onError);
    lookup.cancel();
  };
  const endEarly = (outcome: Outcome) => options.events?.ended(sessionEnd(socket, log, facts, server.protocol, outcome));
  const onClose = () => {
    stop();
    endEarly('client_closed');
  };
  const deadline = setTimeout(() => {
    log.write('info', 'client timed out (110: Connection timed out)');
    stop();
    transport.destroy();
    endEarly('timeout');
  }, server.timeoutMs);
  transport.once('close', onClose);
  transport.on('error', onError);
  void resolveClientHost(log.context.client, lookup, resolver).then((clientHost) => {
    if (gone) return;
    stop();
    if (transport.destroyed) {
      endEarly('client_closed');
      return;
    }
    startSession(socket, options, log, facts, clientHost, established);
  });
}
