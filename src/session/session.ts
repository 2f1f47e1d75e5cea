import { randomBytes, randomInt } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Subscription } from 'rxjs';
import { createActor, type InspectionEvent, type Observer, type SnapshotFrom } from 'xstate';
import { connectionMachine, READS_INPUT, SASL_STEPS, saslTag, type SaslStep } from '../../machines/connection.js';
import type { AuthOutcome, AuthRequest, ConnectionEffect, ConnectionEvent, ConnectionInput } from '../../machines/types.js';
import type { ServerConfig } from '../config/types.js';
import { framerFor, protocolFor } from '../protocols/registry.js';
import type { CommandFramer, FrameMode } from '../protocols/types.js';
import { tlsInfo } from '../net/client-certificate.js';
import type { TlsEndpoint } from '../net/tls-endpoint.js';
import { dnsLookup, resolveClientHost, UNAVAILABLE } from '../net/resolve-client.js';
import { loginToBackend, BackendLoginError } from '../proxy/backend-login.js';
import { relay } from '../proxy/relay.js';
import { ConnectionLog, toErrorLog, type Logger } from '../log.js';
import { nextConnectionNumber } from '../log/context.js';
import { outcomeOf, type Outcome, type SessionEvents } from '../log/session-events.js';
import { addressText, logEnd, logRelayFailure, logSocketError, sessionEnd, type SessionFacts } from '../log/session-report.js';
import { upstreamActionAfter } from '../log/upstream-action.js';
import { frameCommands, type CommandStream } from './frame-commands.js';
import { Hold, ReadGate } from './read-gate.js';
import type { ConnectionBudget } from '../net/connection-budget.js';
import { toMachineEvent } from './to-event.js';
import type { ClientAddress } from '../net/realip.js';
import { unmapIpv4 } from '../net/ip-text.js';
import { backendProxyHeader } from '../proxy/backend-proxy-header.js';
import { recordJournal, type JournalFactory, type JournalSink } from '../journal/record.js';

/** Asks the auth service about one set of credentials; never rejects. */
export interface AuthService {
  request(request: AuthRequest, signal: AbortSignal): Promise<AuthOutcome>;
}

export type { JournalSink };

/** Chooses the connections the Stately inspector sees (see src/inspect/inspector.ts). */
export interface SessionInspector {
  /** The inspection observer for a new connection from `clientIp`, or undefined to leave it alone. */
  observerFor(clientIp: string): Observer<InspectionEvent> | undefined;
}

export interface SessionOptions {
  server: ServerConfig;
  /** Whether this listener is `listen ... ssl` (or the server has the legacy `ssl on`). */
  implicitTls: boolean;
  /** The server's TLS side; null when it has no TLS at all. */
  tls: TlsEndpoint | null;
  auth: AuthService;
  /** The server's error_log. */
  logger: Logger;
  /** The listening host as configured (nginx's `server:` in log lines: `0.0.0.0:143` for `listen 143`); default, the socket's own. */
  listenHost?: string;
  /** The access log and the metrics: told of a session's few countable moments. */
  events?: SessionEvents;
  /** Opens a journal for a new connection (the `postern_journal` extension directive). */
  journal?: JournalFactory;
  /** Streams selected connections to the Stately inspector (`postern --inspect`). */
  inspector?: SessionInspector;
  /** `worker_connections`: auth_http requests and upstream connections take one each. */
  budget: ConnectionBudget;
  /** The connection chart; tests provide a variant (a faulty guard, say) to prove containment. */
  machine?: ConnectionMachine;
  /** Who the client is when a PROXY header said so (`listen ... proxy_protocol`); absent: the TCP peer. */
  client?: ClientAddress;
}

export type ConnectionMachine = typeof connectionMachine;

const EMPTY = Buffer.alloc(0);
const SESSION_CLOSED = new Error('session closed');

/** The facts one connection's machine starts from; the salt is where randomness and the clock come in. */
export function connectionInput(server: ServerConfig, implicitTls: boolean, clientIp: string, clientHost = UNAVAILABLE): ConnectionInput {
  const settings = protocolFor(server.protocol).settings(server);
  return {
    protocol: server.protocol,
    starttls: server.starttls,
    verifyClient: server.ssl.verifyClient,
    implicitTls,
    authMethods: settings.authMethods,
    capabilities: settings.capabilities,
    maxErrors: server.maxErrors,
    timeoutMs: server.timeoutMs,
    authHttpTimeoutMs: server.authHttpTimeoutMs,
    serverName: server.serverName,
    salt: `<${randomInt(0, 2 ** 31 - 1)}.${Math.floor(Date.now() / 1000)}@${server.serverName}>`,
    clientIp,
    // From `resolver` (SMTP); without one nginx sends the `[UNAVAILABLE]` placeholder.
    clientHost,
    proxyPassErrorMessage: server.proxyPassErrorMessage,
    greetingDelayMs: settings.greetingDelayMs,
    xclient: server.xclient,
    proxySmtpAuth: settings.proxySmtpAuth,
  };
}

type Snapshot = SnapshotFrom<ConnectionMachine>;

/** Asked for every framed command: the tag names are built once, not per call. */
const SASL_TAGS = SASL_STEPS.map((step) => [step, saslTag(step)] as const);

function saslStepOf(snapshot: Snapshot): SaslStep | null {
  for (const [step, tag] of SASL_TAGS) if (snapshot.hasTag(tag)) return step;
  return null;
}

const readsInput = (snapshot: Snapshot): boolean => snapshot.status === 'active' && snapshot.hasTag(READS_INPUT);

/**
 * One client connection: the machine decides, this runs what it decides. Socket bytes go
 * through the framer into machine events; emitted effects become writes, TLS handshakes, auth
 * requests, the backend login and finally the byte relay, which bypasses the machine.
 */
export function runSession(socket: Socket, options: SessionOptions): void {
  const { server } = options;
  const clientIp = options.client?.ip ?? unmapIpv4(socket.remoteAddress ?? '');
  // The socket's own addresses are read only when a line (or a metrics label) needs them.
  const log = new ConnectionLog(toErrorLog(options.logger), clientIp, () => addressText(options.listenHost ?? socket.localAddress, socket.localPort));
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

/** `established`: the implicit-TLS handshake already done (SMTP with `resolver`, as nginx orders it). */
function startSession(socket: Socket, options: SessionOptions, log: ConnectionLog, facts: SessionFacts, clientHost: string, established?: TLSSocket): void {
  const { server } = options;
  const clientIp = log.context.client;
  const input = connectionInput(server, options.implicitTls, clientIp, clientHost);
  log.context.action = options.implicitTls && established === undefined ? 'SSL handshaking' : 'in auth state';
  // Asked for only by the backend login: most connections never need the socket's own address.
  let localAddress: { ip: string; port: number } | undefined;
  const local = () => (localAddress ??= { ip: unmapIpv4(socket.localAddress ?? ''), port: socket.localPort ?? 0 });
  const startedAt = performance.now();
  const elapsed = () => Math.round((performance.now() - startedAt) * 1000) / 1000;
  // Made with the first bytes to frame: a connection that sends nothing holds no buffer.
  let framer: CommandFramer | undefined;
  const framerNow = (): CommandFramer => (framer ??= framerFor(server.protocol, protocolFor(server.protocol).settings(server).clientBuffer));
  // Made when an auth request or a backend connection starts: most connections never need one.
  let inFlight: AbortController | null = null;
  const inFlightSignal = () => (inFlight ??= new AbortController()).signal;

  let transport: Socket | TLSSocket = socket;
  let input$: Subscription | null = null;
  let commands: CommandStream | null = null;
  /** Flow control of the transport being read; replaced with it at STARTTLS, dropped at the relay. */
  let gate: ReadGate | null = null;
  let backendSocket: Socket | null = null;
  let backendFirstReply: Buffer = EMPTY;
  let closed = false;
  /** A TLS handshake with the client runs: a client that closes now closed "in SSL handshake". */
  let handshaking = false;
  /** nginx's action while logging in to the backend: what a timeout there was waiting for. */
  let upstreamAction: string | undefined;
  /** The last error line written, not to be written again as the close reason. */
  let loggedError: string | undefined;
  const logError = (message: string): string => {
    log.write('error', message);
    return message;
  };
  /** A `worker_connections` slot held for an auth request or the upstream connection. */
  let slots = 0;
  const takeSlot = (): boolean => {
    if (!options.budget.take()) {
      log.alert(options.budget.exhaustedMessage);
      return false;
    }
    slots++;
    return true;
  };
  const releaseSlot = () => {
    if (slots === 0) return;
    slots--;
    options.budget.release();
  };

  const inspect = options.inspector?.observerFor(clientIp);
  const actor = createActor(options.machine ?? connectionMachine, { input, ...(inspect === undefined ? {} : { inspect }) });
  // Subscribed before anything else, so the journal sees the initial state and every effect first.
  const journal = options.journal === undefined ? undefined : recordJournal(actor, input, options.journal(), elapsed);

  /**
   * Containment: a fault anywhere in this connection (its machine, an effect, a callback) ends
   * this connection only, with the internal-error reply where the client waits for one.
   */
  const fail = (error: unknown) => {
    if (closed) return;
    log.alert({ err: error instanceof Error ? error.message : String(error) }, 'internal error in this connection, closing it');
    if (gate !== null && !transport.destroyed) transport.write(protocolFor(server.protocol).dialect.internalError, 'latin1');
    actor.stop();
    close('internal error');
  };

  const send = (event: ConnectionEvent) => {
    if (closed || actor.getSnapshot().status !== 'active') return;
    try {
      journal?.event(event);
      actor.send(event);
    } catch (error) {
      fail(error);
    }
  };

  /** A reply to the client; while the client leaves replies unread, its input is not read. */
  const reply = (text: string) => {
    if (transport.write(text, 'latin1') || gate === null || gate.has(Hold.RepliesQueued)) return;
    const held = gate;
    held.set(Hold.RepliesQueued, true);
    transport.once('drain', () => {
      held.set(Hold.RepliesQueued, false);
      if (!closed && held === gate) commands?.wake();
    });
  };

  const logSaslRejection = (message: string) => log.write('info', message);

  const frameMode = (): FrameMode | null => {
    const snapshot = actor.getSnapshot();
    if (!readsInput(snapshot)) return null;
    return saslStepOf(snapshot) === null ? 'command' : 'sasl';
  };

  /** Feed the machine from `from`'s bytes until the subscription is dropped (STARTTLS, relay, close). */
  const listen = (from: Socket | TLSSocket) => {
    const fromGate = new ReadGate(from);
    gate = fromGate;
    fromGate.set(Hold.Busy, !readsInput(actor.getSnapshot()));
    commands = frameCommands(from, framerNow, {
      mode: frameMode,
      held: () => fromGate.has(Hold.RepliesQueued),
      yielding: (yielding) => fromGate.set(Hold.Yielding, yielding),
    });
    input$ = commands.commands$.subscribe({
      next: (item) => send(toMachineEvent(item, saslStepOf(actor.getSnapshot()), logSaslRejection)),
      error: fail,
    });
  };
  const stopListening = () => {
    input$?.unsubscribe();
    input$ = null;
    gate = null;
  };

  /** nginx does not read the client while it authenticates: pause, and resume when the machine reads again. */
  /** At debug level, each state the connection's machine enters (nginx logs its own steps there). */
  let lastState = '';
  actor.subscribe({
    next: (snapshot) => {
      if (log.enabled('debug')) {
        const state = JSON.stringify(snapshot.value);
        if (state !== lastState) log.write('debug', `mail state ${(lastState = state)}`);
      }
      const reading = readsInput(snapshot);
      if (gate === null || gate.has(Hold.Busy) !== reading) return;
      gate.set(Hold.Busy, !reading);
      // Not from inside the machine's own transition: framing the next command must see the new state.
      if (reading) {
        queueMicrotask(() => {
          if (!closed) commands?.wake();
        });
      }
    },
    // A guard or action that threw: XState stops the actor and reports it here.
    error: fail,
  });

  const startTls = () => {
    const endpoint = options.tls;
    if (endpoint === null) {
      send({ type: 'tls.failed', reason: 'no TLS context for this server' });
      return;
    }
    stopListening();
    socket.pause();
    // Everything the client pipelined after STARTTLS is dropped (CVE-2014-3556 class).
    const dropped = framer?.takeRemainder().length ?? 0;
    if (dropped > 0) log.debug({ bytes: dropped }, 'discarded input pipelined after STARTTLS');
    if (transport === socket && established === undefined) {
      handshaking = true;
      // nginx marks a STARTTLS connection at once; "in starttls state" lasts as long as the handshake.
      if (!options.implicitTls) log.context.starttls = true;
      log.context.action = options.implicitTls ? 'SSL handshaking' : 'in starttls state';
    }
    const onSecure = (secure: TLSSocket) => {
      handshaking = false;
      if (closed) {
        secure.destroy();
        return;
      }
      if (secure.destroyed) {
        // The client left between the handshake and now (a TLS 1.3 server sends its tickets first):
        // there is no session to describe, only a client that closed.
        log.context.action = 'in auth state';
        socket.destroy();
        send({ type: 'client.closed' });
        return;
      }
      facts.tls = { version: secure.getProtocol() ?? '', cipher: secure.getCipher()?.name ?? '', resumed: secure.isSessionReused() };
      options.events?.tlsEstablished(facts.tls.version, facts.tls.resumed);
      log.context.action = 'in auth state';
      transport = secure;
      secure.on('error', (error) => logSocketError(log, error));
      secure.on('end', () => send({ type: 'client.closed' }));
      listen(secure);
      send({ type: 'tls.established', tls: tlsInfo(secure, server.ssl, server.authHttpPassClientCert) });
    };
    if (established !== undefined && transport === socket) {
      // The handshake came before the resolver lookup; the machine hears of it now.
      queueMicrotask(() => contained(() => onSecure(established)));
      return;
    }
    const handOver = () => {
      if (closed) return;
      endpoint.handshake(socket, {
        secure: (secure) => contained(() => onSecure(secure)),
        failed: (reason) => {
          handshaking = false;
          options.events?.tlsFailed();
          send({ type: 'tls.failed', reason });
        },
      });
    };
    // Hand over once the reply has been flushed, so that it precedes the handshake on the wire:
    // after the machine's current step (which writes that reply), then at once when nothing is
    // queued (`listen ... ssl`, or a reply the kernel took whole): no empty write per connection.
    queueMicrotask(() =>
      contained(() => {
        if (socket.writableLength === 0) handOver();
        else socket.write('', () => contained(handOver));
      }),
    );
  };

  const authenticate = (request: AuthRequest) => {
    // nginx's auth_http request is a connection of the worker's pool too.
    if (!takeSlot()) {
      queueMicrotask(() => send({ type: 'auth.result', outcome: { status: 'error', reason: options.budget.exhaustedMessage } }));
      return;
    }
    const proxyProtocol = options.client?.proxyProtocol;
    // nginx's auth_http request is a connection of its own, with its own number.
    nextConnectionNumber();
    log.context.login = request.user;
    log.context.action = 'in http auth state';
    const asked = performance.now();
    options.auth
      .request(proxyProtocol === undefined ? request : { ...request, proxyProtocol }, inFlightSignal())
      .then((outcome) => {
        releaseSlot();
        // The session ended meanwhile (the client left) and aborted the request: nothing to report.
        if (closed) return;
        options.events?.authAnswered(outcome.status === 'wait' ? 'ok' : outcome.status, (performance.now() - asked) / 1000);
        if (outcome.status === 'error') {
          loggedError = logError(outcome.reason);
          facts.failure = 'auth_error';
        } else if (outcome.status === 'fail') log.write('info', `client login failed: "${outcome.text}"`);
        log.context.action = 'in auth state';
        send({ type: 'auth.result', outcome });
      })
      .catch(fail);
  };

  const connectBackend = (effect: Extract<ConnectionEffect, { type: 'connectBackend' }>) => {
    if (!takeSlot()) {
      queueMicrotask(() => send({ type: 'backend.failed', reason: options.budget.exhaustedMessage }));
      return;
    }
    nextConnectionNumber();
    log.context.upstream = addressText(effect.target.server, effect.target.port);
    log.context.action = undefined;
    const onSend = (line: string) => (upstreamAction = upstreamActionAfter(line, upstreamAction));
    const connecting = performance.now();
    const clientPort = options.client?.port ?? socket.remotePort ?? 0;
    const { ip: localIp, port: localPort } = local();
    const proxyHeader = backendProxyHeader(server.proxyProtocol, { ip: clientIp, port: clientPort }, { ip: localIp, port: localPort });
    const forward = server.proxyForward ? { clientIp, clientPort, localIp, localPort, sessionId: randomBytes(12).toString('base64url') } : undefined;
    loginToBackend(server.protocol, effect.target, { bufferSize: server.proxyBufferSize, signal: inFlightSignal(), proxySsl: server.proxySsl, logger: log, onSend, proxyHeader, forward }).then(
      (session) => {
        if (closed) {
          session.socket.destroy();
          return;
        }
        options.events?.backendLoggedIn((performance.now() - connecting) / 1000);
        backendSocket = session.socket;
        backendFirstReply = session.firstReply;
        backendSocket.on('error', () => undefined);
        backendSocket.once('close', releaseSlot);
        send({ type: 'backend.ready' });
      },
      (error: BackendLoginError) => {
        releaseSlot();
        if (error.message !== 'aborted') {
          loggedError = logError(error.message);
          facts.failure = 'backend_error';
        }
        send({
          type: 'backend.failed',
          reason: error.message,
          ...(error.passthrough === undefined ? {} : { passthrough: error.passthrough }),
        });
      },
    ).catch(fail);
  };

  const startRelay = () => {
    stopListening();
    transport.removeAllListeners('end');
    const upstream = backendSocket;
    if (upstream === null) {
      send({ type: 'relay.ended', reason: 'no backend connection' });
      return;
    }
    facts.relayBase = { socket: upstream, read: upstream.bytesRead, written: upstream.bytesWritten };
    transport.resume();
    relay(transport as Socket, upstream, {
      toClient: backendFirstReply,
      toBackend: framer?.takeRemainder() ?? EMPTY,
      idleTimeoutMs: server.proxyTimeoutMs,
    }).then((result) => {
      if (result.failure !== undefined) logRelayFailure(log, result.failure.side, result.failure.error);
      // One log line per session end: the close effect logs this reason (nginx's wording first).
      const reason = result.reason === 'client timed out while proxying' ? result.reason : `proxied session done (${result.reason})`;
      send({ type: 'relay.ended', reason });
    }, fail);
  };

  const close = (reason: string) => {
    if (closed) return;
    closed = true;
    // An auth or backend failure was logged when it happened, as nginx logs it once.
    if (reason === 'upstream timed out') log.context.action = upstreamAction ?? 'connecting to upstream';
    if (reason === 'client sent too long command' && log.enabled('info')) {
      // nginx shows its full command buffer, in quotes.
      const buffered = framer?.takeRemainder().subarray(0, protocolFor(server.protocol).settings(server).clientBuffer).toString('latin1') ?? '';
      log.write('info', `${reason} "${buffered}"`);
    } else if (reason === 'client closed connection' && handshaking) {
      log.write('info', 'peer closed connection in SSL handshake');
    } else if (reason !== loggedError) logEnd(log, reason);
    options.events?.ended(sessionEnd(socket, log, facts, server.protocol, facts.failure ?? outcomeOf(reason)));
    stopListening();
    // A reason of our own: abort() without one builds a DOMException (a stack capture) per session.
    inFlight?.abort(SESSION_CLOSED);
    backendSocket?.destroy();
    // An auth request aborted above settles later; its slot goes back now.
    while (slots > 0) releaseSlot();
    // The relay destroyed it, or the client is gone: nothing left to flush.
    if (transport.destroyed) return;
    // A TLS client that closed (or reset: Node may report that as an end) is gone as well, and Node
    // can keep what was written to such a socket queued for good (behind the TLS 1.3 tickets of a
    // socket read a turn after its handshake): nothing to wait for. nginx closes at once too.
    if (transport !== socket && transport.readableEnded) {
      transport.destroy();
      return;
    }
    // Let queued replies reach the client, but never wait on a client that does not read.
    const deadline = setTimeout(() => transport.destroy(), Math.min(server.timeoutMs, 5_000));
    deadline.unref();
    transport.end(() => {
      clearTimeout(deadline);
      transport.destroy();
    });
  };

  /** Runs one effect or callback; a throw fails this connection (XState would rethrow it from a timer). */
  const contained = (run: () => void) => {
    try {
      run();
    } catch (error) {
      fail(error);
    }
  };

  actor.on('*', (effect: ConnectionEffect) => contained(() => runEffect(effect)));

  const runEffect = (effect: ConnectionEffect) => {
    switch (effect.type) {
      case 'reply':
        if (!closed && effect.text !== '') reply(effect.text);
        return;
      case 'startTls':
        startTls();
        return;
      case 'authenticate':
        authenticate(effect.request);
        return;
      case 'connectBackend':
        connectBackend(effect);
        return;
      case 'startRelay':
        startRelay();
        return;
      case 'log':
        log[effect.level](effect.message);
        return;
      case 'forgetTlsSession':
        // nginx removes a session whose client certificate it refused, so resuming cannot skip the check.
        if (options.tls !== null && transport !== socket) void options.tls.forgetSession(transport as TLSSocket);
        return;
      case 'close':
        close(effect.reason);
        return;
    }
  };

  socket.setNoDelay(true);
  socket.on('error', (error) => logSocketError(log, error));
  socket.on('close', () => send({ type: 'client.closed' }));
  // At debug level a line before the greeting (which the machine writes as it starts), as nginx's own.
  if (log.enabled('debug')) log.write('debug', `mail session: ${server.protocol}${options.implicitTls ? ', implicit TLS' : ''}`);
  contained(() => actor.start());
  if (closed) return;

  if (options.implicitTls) {
    startTls();
  } else {
    socket.on('end', () => send({ type: 'client.closed' }));
    listen(socket);
    // Paused while resolving the client (`resolver`); flowing as for any other connection now.
    if (!gate!.holding) socket.resume();
  }
}
