/**
 * What a session writes about itself beyond the machine's own lines: socket errors, the relay's
 * failure and the end in nginx's words, and the facts the access log and the metrics get when
 * it ends. The session calls these; the texts and the counters are read here.
 */
import type { Socket } from 'node:net';
import { errnoText } from '../process/errno.js';
import type { ConnectionLog } from './connection.js';
import type { Outcome, SessionEnd } from './session-events.js';
import { endLine } from './session-lines.js';

/** What a connection's end reports beyond its log context. */
export interface SessionFacts {
  startedAt: number;
  tls: SessionEnd['tls'];
  /** An auth or backend error the session saw (its close reason alone cannot tell). */
  failure: Outcome | undefined;
  /** The upstream's byte counters when the relay began. */
  relayBase?: { socket: Socket; read: number; written: number };
}

/** The access log's and the metrics' view of an ended connection: counters read once, here. */
export function sessionEnd(socket: Socket, log: ConnectionLog, facts: SessionFacts, protocol: string, outcome: Outcome): SessionEnd {
  const { context } = log;
  const relay = facts.relayBase;
  return {
    number: context.number,
    startedAt: facts.startedAt,
    durationMs: Date.now() - facts.startedAt,
    client: addressText(socket.remoteAddress, socket.remotePort),
    server: context.server ?? '',
    protocol,
    tls: facts.tls,
    login: context.login,
    upstream: context.upstream,
    bytesFromClient: socket.bytesRead,
    bytesToClient: socket.bytesWritten,
    relayedToUpstream: relay === undefined ? 0 : relay.socket.bytesWritten - relay.written,
    relayedToClient: relay === undefined ? 0 : relay.socket.bytesRead - relay.read,
    outcome,
  };
}

/** nginx's `addr:port` (`[addr]:port` for IPv6), an IPv4-mapped address as IPv4. */
export function addressText(address: string | undefined, port: number | undefined): string {
  const host = (address ?? '').replace(/^::ffff:/, '');
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A socket error as nginx logs a failed recv()/send() of a client (info). */
export function logSocketError(log: ConnectionLog, error: NodeJS.ErrnoException): void {
  if (!log.enabled('info')) return;
  log.write('info', error.errno === undefined ? `client connection error: ${error.message}` : `${error.syscall === 'write' ? 'send' : 'recv'}() failed ${errnoText(error)}`);
}

/**
 * A socket error that ended the relay, as nginx's proxy handler logs it: the upstream's at
 * error, the client's at info (nginx's log_error of each connection), with the direction.
 */
export function logRelayFailure(log: ConnectionLog, side: 'client' | 'upstream', error: NodeJS.ErrnoException): void {
  if (error.errno === undefined) return;
  const sending = error.syscall === 'write';
  log.context.action = sending ? `proxying and sending to ${side}` : `proxying and reading from ${side}`;
  log.write(side === 'upstream' ? 'error' : 'info', `${sending ? 'send' : 'recv'}() failed ${errnoText(error)}`);
}

/** The line for a connection's end, in nginx's words; reasons nginx does not log at info go to debug. */
export function logEnd(log: ConnectionLog, reason: string): void {
  const line = endLine(reason);
  if (line === null) {
    log.write('debug', reason);
    return;
  }
  if (line.action !== undefined) log.context.action = line.action ?? undefined;
  log.write(line.level, line.message);
}
