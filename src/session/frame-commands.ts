import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Observable } from 'rxjs/internal/Observable';
import type { Subscriber } from 'rxjs/internal/Subscriber';
import type { TeardownLogic } from 'rxjs/internal/types';
import type { CommandFramer, FrameMode, Framed } from '../protocols/types.js';

/**
 * The Observable alone (rxjs's index loads every operator: about 5.6 MB more RSS at start),
 * with require(): an `import` would run Node's CommonJS export lexer over it (src/xstate.ts).
 */
const { Observable: RxObservable } = createRequire(import.meta.url)('rxjs/internal/Observable') as typeof import('rxjs/internal/Observable');

/**
 * Commands one connection may have framed and handled in one turn of the event loop. A client
 * pipelining thousands of commands in one 64 KB chunk is answered in order, a batch per turn, so
 * that every other connection's events run in between (nginx handles one command per read event).
 */
export const COMMANDS_PER_TURN = 16;

/** The framed commands read from one socket, and the way to re-run framing without a new chunk. */
export interface CommandStream {
  readonly commands$: Observable<Framed>;
  /** The machine reads again, or the client's replies drained: frame what is already buffered. */
  wake(): void;
}

/** What the session tells the framing loop, and what the loop tells it back. */
export interface FramingControl {
  /** The connection's framer, asked for when bytes are there to frame (an idle connection holds none). */
  framer(): CommandFramer;
  /** How to read the next command, or `null` not to read at all (authenticating, upgrading, relaying). */
  mode(): FrameMode | null;
  /** The client's replies are backed up: frame nothing until `wake()`. */
  held(): boolean;
  /** `true` when this connection used its turn with input left; `false` when its next turn starts. */
  yielding(yielding: boolean): void;
}

/** The framing loop of the socket it is stored on (so that one `data` listener serves every socket). */
const LOOP = Symbol('framing: the loop reading this socket');
type FramedSource = EventEmitter & { [LOOP]?: FramingLoop };

/**
 * Socket chunks in, framed commands out, one at a time. Before each item it asks `mode()` how to
 * read (command or SASL line) or whether to read at all, and `held()` whether the client reads its
 * replies; items are handed on synchronously, so the machine has reacted to one before the next is
 * framed. After COMMANDS_PER_TURN items it yields the event loop (`setImmediate`), telling the
 * session so that the socket is paused meanwhile and the buffered bytes stay one chunk.
 *
 * One `data` listener feeding one Observable: a `fromEvent` + `merge` + wake `Subject` chain
 * costs ~3.5 KB and ~15 µs per connection (docs/performance.md), and every connection has one.
 * The loop is an object whose listener, subscribe function and turn callback are shared by every
 * connection, rather than a handful of closures per connection (about 1 KB of heap each).
 */
class FramingLoop implements CommandStream {
  readonly commands$: Observable<Framed>;
  #subscriber: Subscriber<Framed> | null = null;
  #nextTurn: NodeJS.Immediate | null = null;
  /**
   * Whether a chunk has come through this loop. Until one has, there is nothing to frame (what a
   * socket before it left unframed was taken at the switch: STARTTLS drops it), and a wake-up
   * must not make the framer an idle connection does not need (~340 B with its scanner).
   */
  #fed = false;

  constructor(
    readonly source: FramedSource,
    private readonly control: FramingControl,
  ) {
    this.commands$ = new CommandObservable(this);
  }

  subscribed(subscriber: Subscriber<Framed>): TeardownLogic {
    this.#subscriber = subscriber;
    this.source[LOOP] = this;
    this.source.on('data', onData);
    return this;
  }

  /** The teardown: no more framing, not even a pending turn's. */
  unsubscribe(): void {
    this.#subscriber = null;
    if (this.source[LOOP] === this) delete this.source[LOOP];
    if (this.#nextTurn !== null) clearImmediate(this.#nextTurn);
    this.#nextTurn = null;
    this.source.off('data', onData);
  }

  wake(): void {
    if (this.#subscriber !== null) this.run();
  }

  pushed(chunk: Buffer): void {
    const subscriber = this.#subscriber;
    if (subscriber === null) return;
    this.#fed = true;
    try {
      this.control.framer().push(chunk);
    } catch (error) {
      subscriber.error(error);
      return;
    }
    this.run();
  }

  run(): void {
    const subscriber = this.#subscriber;
    if (this.#nextTurn !== null || subscriber === null || !this.#fed) return;
    const { control } = this;
    try {
      for (let budget = COMMANDS_PER_TURN; ; budget--) {
        const current = control.mode();
        if (current === null || subscriber.closed || control.held()) return;
        if (budget === 0) {
          control.yielding(true);
          this.#nextTurn = setImmediate(nextTurn, this);
          return;
        }
        const item = control.framer().next(current);
        if (item === undefined) return;
        subscriber.next(item);
      }
    } catch (error) {
      // A fault in framing or in what a command set off belongs to this connection alone.
      subscriber.error(error);
    }
  }

  turnStarted(): void {
    this.#nextTurn = null;
    this.control.yielding(false);
    this.run();
  }
}

function onData(this: FramedSource, chunk: Buffer): void {
  this[LOOP]?.pushed(chunk);
}

function nextTurn(loop: FramingLoop): void {
  loop.turnStarted();
}

class CommandObservable extends RxObservable<Framed> {
  constructor(readonly loop: FramingLoop) {
    super(subscribeLoop);
  }
}

function subscribeLoop(this: Observable<Framed>, subscriber: Subscriber<Framed>): TeardownLogic {
  return (this as CommandObservable).loop.subscribed(subscriber);
}

export function frameCommands(source: EventEmitter, control: FramingControl): CommandStream {
  return new FramingLoop(source, control);
}
