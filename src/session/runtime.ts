import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionLog } from '../log.js';
import type { SessionFacts } from '../log/session-report.js';
import { attachSession, onClientError, onClientGone } from './client-listeners.js';
import { SessionContext } from './context.js';
import { runEffect } from './effects.js';
import { actorCore, connectionInput, type MachineCoreOptions } from './machine-core.js';
import { snapshotCore } from './snapshot-core.js';
import type { SessionOptions } from './options.js';
import { startTls } from './tls-upgrade.js';

/**
 * One client connection from its greeting on: the machine decides, the effect handlers
 * (effects.ts) carry out what it decides, and the socket's events come back to it as events.
 * `established`: the implicit-TLS handshake already done (SMTP with `resolver`, as nginx orders it).
 */
export function startSession(socket: Socket, options: SessionOptions, log: ConnectionLog, facts: SessionFacts, clientHost: string, established?: TLSSocket): void {
  const { server } = options;
  const clientIp = log.context.client;
  log.context.action = options.implicitTls && established === undefined ? 'SSL handshaking' : 'in auth state';
  const session = new SessionContext(socket, options, log, facts, established, runEffect, (hooks) => {
    const input = connectionInput(server, options.implicitTls, clientIp, clientHost);
    const machine = machineOptions(options, log);
    // A connection the Stately inspector watches runs as a live actor, the one the inspector follows.
    return machine.inspect === undefined ? snapshotCore(input, hooks, machine) : actorCore(input, hooks, machine);
  });
  socket.setNoDelay(true);
  attachSession(socket, session);
  socket.on('error', onClientError);
  socket.on('close', onClientGone);
  // At debug level a line before the greeting (which the machine writes as it starts), as nginx's own.
  if (log.enabled('debug')) log.write('debug', `mail session: ${server.protocol}${options.implicitTls ? ', implicit TLS' : ''}`);
  session.core.start();
  if (session.core.over) return;
  if (options.implicitTls) {
    startTls(session);
    return;
  }
  socket.on('end', onClientGone);
  session.listen(socket);
  // Paused while resolving the client (`resolver`); flowing as for any other connection now.
  if (session.input?.holding === false) socket.resume();
}

/** The chart, the inspector, the journal and the debug trace of one connection's machine. */
function machineOptions(options: SessionOptions, log: ConnectionLog): MachineCoreOptions {
  const startedAt = performance.now();
  return {
    machine: options.machine,
    inspect: options.inspector?.observerFor(log.context.client),
    journal: options.journal && { sink: options.journal(), now: () => Math.round((performance.now() - startedAt) * 1000) / 1000 },
    // At debug level, each state the connection's machine enters (nginx logs its own steps there).
    traceState: log.enabled('debug') ? (state: string) => log.write('debug', `mail state ${state}`) : undefined,
  };
}
