import type { Socket } from 'node:net';
import type { ConnectionEvent } from '../../machines/types.js';
import type { Observer, SubscriptionLike, TeardownLogic } from 'rxjs/internal/types';
import type { CommandFramer, FrameMode, Framed } from '../protocols/types.js';
import { frameCommands, type CommandStream, type FramingControl } from './frame-commands.js';
import type { MachineCore } from './machine-core.js';
import { Hold, ReadGate } from './read-gate.js';
import { toMachineEvent, type SaslRejected } from './to-event.js';

/** Where the framed input goes, and where a framing fault goes. */
export interface InputSink extends SaslRejected {
  /** The connection's framer (made when the first bytes arrive). */
  framer(): CommandFramer;
  send(event: ConnectionEvent): void;
  fail(error: unknown): void;
}

/**
 * One transport's input (the TCP socket, then the TLS socket after STARTTLS): its bytes framed
 * into machine events while the machine reads, its replies written with backpressure, and its
 * flow control (read-gate.ts). Dropped at STARTTLS, at the relay and at the close.
 *
 * It subscribes to the framed commands as its own subscriber: an object that is both an
 * `Observer` and a `Subscription` is one rxjs uses as it is (`isSubscriber` in rxjs's
 * Observable.subscribe), where a plain observer would be wrapped in a `SafeSubscriber`, a
 * `ConsumerObserver` and a finalizer array grown to 17 slots for the one teardown: ~290 B that
 * every idle connection held (docs/performance.md, change 20). What the wrapper guarantees is kept
 * here: nothing is delivered once closed, and the source's teardown runs once.
 */
export class ClientInput implements FramingControl, Observer<Framed>, SubscriptionLike {
  readonly #gate: ReadGate;
  readonly #commands: CommandStream;
  /** Unsubscribed, or the source failed: nothing more is delivered. */
  closed = false;
  /** The framing loop's teardown, the one thing this subscriber is ever given (rxjs's `add`). */
  #teardown: Exclude<TeardownLogic, void> | null = null;

  constructor(
    private readonly transport: Socket,
    private readonly core: MachineCore,
    private readonly sink: InputSink,
  ) {
    const gate = (this.#gate = new ReadGate(transport));
    gate.set(Hold.Busy, core.frameMode() === null);
    // This object is both the framing loop's control and its observer: no closures per connection.
    this.#commands = frameCommands(transport, this);
    this.#commands.commands$.subscribe(this);
  }

  // The subscription (rxjs calls `add` with the source's teardown as it subscribes).

  add(teardown: TeardownLogic): void {
    if (teardown === undefined || teardown === this) return;
    if (this.closed) runTeardown(teardown);
    else if (this.#teardown === null) this.#teardown = teardown;
    else throw new Error('a client input subscribes to one source');
  }

  remove(teardown: Exclude<TeardownLogic, void>): void {
    if (this.#teardown === teardown) this.#teardown = null;
  }

  unsubscribe(): void {
    if (this.closed) return;
    this.closed = true;
    const teardown = this.#teardown;
    this.#teardown = null;
    if (teardown !== null) runTeardown(teardown);
  }

  // The framing loop's control (FramingControl).

  framer(): CommandFramer {
    return this.sink.framer();
  }

  mode(): FrameMode | null {
    return this.core.frameMode();
  }

  held(): boolean {
    return this.#gate.has(Hold.RepliesQueued);
  }

  yielding(yielding: boolean): void {
    this.#gate.set(Hold.Yielding, yielding);
  }

  // The framed commands (Observer).

  next(item: Framed): void {
    if (this.closed) return;
    // Decoding a line is this connection's fault alone, like the machine's own.
    try {
      this.sink.send(toMachineEvent(item, this.core.saslStep(), this.sink));
    } catch (error) {
      this.sink.fail(error);
    }
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.sink.fail(error);
    this.unsubscribe();
  }

  complete(): void {
    this.unsubscribe();
  }

  /** Whether something holds the input now (the transport is paused). */
  get holding(): boolean {
    return this.#gate.holding;
  }

  /** nginx does not read the client while it authenticates: paused while the machine does not read. */
  machineChanged(): void {
    const reading = this.core.frameMode() !== null;
    if (this.#gate.has(Hold.Busy) !== reading) return;
    this.#gate.set(Hold.Busy, !reading);
    // Not from inside the machine's own transition: framing the next command must see the new state.
    if (reading) queueMicrotask(() => this.#commands.wake());
  }

  /** A reply to the client; while the client leaves replies unread, its input is not read. */
  reply(text: string): void {
    if (this.transport.write(text, 'latin1') || this.#gate.has(Hold.RepliesQueued)) return;
    this.#gate.set(Hold.RepliesQueued, true);
    this.transport.once('drain', (this.#drained ??= () => this.#replyDrained()));
  }

  /** The `drain` listener, made the first time the client leaves replies unread (most never do). */
  #drained: (() => void) | undefined;

  #replyDrained(): void {
    this.#gate.set(Hold.RepliesQueued, false);
    this.#commands.wake();
  }

  /**
   * No more input from this transport: a later `wake` (a microtask) frames nothing, and a drain
   * after STARTTLS or the relay started neither resumes the transport nor keeps this input alive.
   */
  stop(): void {
    this.unsubscribe();
    if (this.#drained !== undefined) this.transport.off('drain', this.#drained);
  }
}

function runTeardown(teardown: Exclude<TeardownLogic, void>): void {
  if (typeof teardown === 'function') teardown();
  else teardown.unsubscribe();
}
