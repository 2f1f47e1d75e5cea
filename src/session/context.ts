import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionEffect, ConnectionEvent } from '../../machines/types.js';
import type { ServerConfig } from '../config/types.js';
import type { ConnectionLog } from '../log.js';
import { outcomeOf } from '../log/session-events.js';
import { logEnd, sessionEnd, type SessionFacts } from '../log/session-report.js';
import { framerFor, protocolFor } from '../protocols/registry.js';
import type { CommandFramer } from '../protocols/types.js';
import type { BackendSession } from '../proxy/backend-login.js';
import { ClientInput, type InputSink } from './client-input.js';
import type { MachineCore, MachineHooks } from './machine-core.js';
import type { SessionOptions } from './options.js';

/** Carries out one effect the machine emitted (effects.ts holds the table). */
export type EffectDispatch = (effect: ConnectionEffect, session: SessionContext) => void;

/** A reason of our own: abort() without one builds a DOMException (a stack capture) per session. */
const SESSION_CLOSED = new Error('session closed');

/**
 * What one connection's effect handlers share: the sockets and what the session holds besides
 * the machine (the input being read, the backend, `worker_connections` slots, requests in
 * flight), and the one way each of them ends. What the machine knows (whether it reads, whether
 * it is over) is asked of the machine (`core`), never kept here.
 *
 * Errors have one path: `fail()` (an alert line, the internal-error reply, the close). Callbacks
 * from the world come back in through `enter()`, the one guard against a session that is over.
 */
export class SessionContext implements MachineHooks, InputSink {
  readonly server: ServerConfig;
  readonly core: MachineCore;
  /** The socket the client's bytes go through: the accepted one, then the TLS socket on it. */
  transport: Socket | TLSSocket;
  /** A TLS handshake with the client runs: a client that closes now closed "in SSL handshake". */
  handshaking = false;
  /** The transport's input, read while the machine reads; null once STARTTLS, the relay or the close took it. */
  input: ClientInput | null = null;
  /** The backend connection once logged in (the relay takes it over). */
  backend: BackendSession | null = null;
  /** nginx's action while logging in to the backend: what a timeout there was waiting for. */
  upstreamAction: string | undefined;
  /** An error line already written when it happened, not to be written again as the close reason. */
  loggedError: string | undefined;
  /** Made with the first bytes to frame: a connection that sends nothing holds no buffer. */
  #framer: CommandFramer | undefined;
  /** Made when an auth request or a backend login starts: most connections never need one. */
  #inFlight: AbortController | undefined;
  /** `worker_connections` slots held for an auth request or the upstream connection. */
  #slots = 0;

  constructor(
    readonly socket: Socket,
    readonly options: SessionOptions,
    readonly log: ConnectionLog,
    readonly facts: SessionFacts,
    /** An implicit-TLS handshake done before the `resolver` lookup; the machine hears of it at start. */
    readonly established: TLSSocket | undefined,
    private readonly dispatch: EffectDispatch,
    machine: (hooks: MachineHooks) => MachineCore,
  ) {
    this.server = options.server;
    this.transport = socket;
    this.core = machine(this);
  }

  // The machine's outputs (MachineHooks).

  effect(effect: ConnectionEffect): void {
    this.dispatch(effect, this);
  }

  changed(): void {
    this.input?.machineChanged();
  }

  failed(error: unknown): void {
    this.fail(error);
  }

  // The client's input (InputSink).

  send(event: ConnectionEvent): void {
    this.core.send(event);
  }

  /** nginx's info line for a refused SASL payload (src/session/to-event.ts). */
  saslRejected(message: string): void {
    this.log.write('info', message);
  }

  framer(): CommandFramer {
    return (this.#framer ??= framerFor(this.server.protocol, protocolFor(this.server.protocol).settings(this.server).clientBuffer));
  }

  /** What the client sent that was not framed yet (dropped at STARTTLS, handed to the backend at the relay). */
  takeUnframed(): Buffer | undefined {
    return this.#framer?.takeRemainder();
  }

  /** Read and frame `from`'s bytes while the machine reads. */
  listen(from: Socket): void {
    this.input = new ClientInput(from, this.core, this);
  }

  stopListening(): void {
    this.input?.stop();
    this.input = null;
  }

  /**
   * The relay takes over: what the client sent that was not framed (for the backend), and
   * everything only the login needed let go (the input, the framer and its buffer, the abort
   * controller), so that an idle relayed session holds its two sockets and what its end needs
   * (the log context, the facts, the machine's snapshot).
   */
  handOffToRelay(): Buffer | undefined {
    this.stopListening();
    const unframed = this.takeUnframed();
    this.#framer = undefined;
    // The backend login is done: nothing is in flight any more.
    this.#inFlight = undefined;
    return unframed;
  }

  reply(text: string): void {
    if (this.input === null) this.transport.write(text, 'latin1');
    else this.input.reply(text);
  }

  /** Aborts what is in flight for this session (an auth request, a backend login) when it closes. */
  signal(): AbortSignal {
    return (this.#inFlight ??= new AbortController()).signal;
  }

  /** One `worker_connections` slot for an auth request or the upstream connection; false (and nginx's alert) when none is left. */
  takeSlot(): boolean {
    if (!this.options.budget.take()) {
      this.log.alert(this.options.budget.exhaustedMessage);
      return false;
    }
    this.#slots++;
    return true;
  }

  releaseSlot(): void {
    if (this.#slots === 0) return;
    this.#slots--;
    this.options.budget.release();
  }

  /** An error line written now, as nginx logs an auth or backend failure once. */
  logError(message: string): void {
    this.log.write('error', message);
    this.loggedError = message;
  }

  /**
   * The one way back in for a callback from the world (a handshake, an auth answer, a backend
   * login): it runs only while the session is live, and a throw in it fails the session.
   * False when the session was over: the caller drops what it brought.
   */
  enter(run: () => void): boolean {
    if (this.core.over) return false;
    try {
      run();
    } catch (error) {
      this.fail(error);
    }
    return true;
  }

  /**
   * Containment: a fault anywhere in this connection (its machine, an effect, a callback) ends
   * this connection only, with the internal-error reply where the client waits for one.
   */
  fail(error: unknown): void {
    if (this.core.over) return;
    this.log.alert({ err: error instanceof Error ? error.message : String(error) }, 'internal error in this connection, closing it');
    if (this.input !== null && !this.transport.destroyed) this.transport.write(protocolFor(this.server.protocol).dialect.internalError, 'latin1');
    this.core.stop();
    this.close('internal error');
  }

  /** The end: the close reason in nginx's words, then everything the session holds given back. Runs once (the machine is over). */
  close(reason: string): void {
    this.#logClose(reason);
    const { options, facts, socket, log, transport } = this;
    options.events?.ended(sessionEnd(socket, log, facts, this.server.protocol, facts.failure ?? outcomeOf(reason)));
    this.stopListening();
    this.#inFlight?.abort(SESSION_CLOSED);
    this.backend?.socket.destroy();
    // An auth request aborted above settles later; its slot goes back now.
    while (this.#slots > 0) this.releaseSlot();
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
    const deadline = setTimeout(() => transport.destroy(), Math.min(this.server.timeoutMs, 5_000));
    deadline.unref();
    transport.end(() => {
      clearTimeout(deadline);
      transport.destroy();
    });
  }

  #logClose(reason: string): void {
    const { log } = this;
    if (reason === 'upstream timed out') log.context.action = this.upstreamAction ?? 'connecting to upstream';
    if (reason === 'client sent too long command' && log.enabled('info')) {
      // nginx shows its full command buffer, in quotes.
      const clientBuffer = protocolFor(this.server.protocol).settings(this.server).clientBuffer;
      const buffered = this.takeUnframed()?.subarray(0, clientBuffer).toString('latin1') ?? '';
      log.write('info', `${reason} "${buffered}"`);
    } else if (reason === 'client closed connection' && this.handshaking) {
      log.write('info', 'peer closed connection in SSL handshake');
    } else if (reason !== this.loggedError) {
      // An auth or backend failure was logged when it happened, as nginx logs it once.
      logEnd(log, reason);
    }
  }
}
