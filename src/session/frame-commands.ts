import type { EventEmitter } from 'node:events';
// The Observable alone (rxjs's index loads every operator: about 5.6 MB more RSS at start).
import { Observable } from 'rxjs/internal/Observable';
import type { CommandFramer, FrameMode, Framed } from '../protocols/types.js';

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
  /** How to read the next command, or `null` not to read at all (authenticating, upgrading, relaying). */
  mode(): FrameMode | null;
  /** The client's replies are backed up: frame nothing until `wake()`. */
  held(): boolean;
  /** `true` when this connection used its turn with input left; `false` when its next turn starts. */
  yielding(yielding: boolean): void;
}

/**
 * Socket chunks in, framed commands out, one at a time. Before each item it asks `mode()` how to
 * read (command or SASL line) or whether to read at all, and `held()` whether the client reads its
 * replies; items are handed on synchronously, so the machine has reacted to one before the next is
 * framed. After COMMANDS_PER_TURN items it yields the event loop (`setImmediate`), telling the
 * session so that the socket is paused meanwhile and the buffered bytes stay one chunk.
 *
 * One `data` listener feeding one Observable: a `fromEvent` + `merge` + wake `Subject` chain
 * costs ~3.5 KB and ~15 µs per connection (docs/performance.md), and every connection has one.
 * `framer` is asked for the connection's framer when bytes are there to frame (the session makes
 * it then: an idle connection that never sent anything holds no buffer).
 */
export function frameCommands(source: EventEmitter, framer: () => CommandFramer, control: FramingControl): CommandStream {
  let drain: (() => void) | null = null;
  const commands$ = new Observable<Framed>((subscriber) => {
    let nextTurn: NodeJS.Immediate | null = null;
    const run = () => {
      if (nextTurn !== null) return;
      try {
        for (let budget = COMMANDS_PER_TURN; ; budget--) {
          const current = control.mode();
          if (current === null || subscriber.closed || control.held()) return;
          if (budget === 0) {
            control.yielding(true);
            nextTurn = setImmediate(() => {
              nextTurn = null;
              control.yielding(false);
              run();
            });
            return;
          }
          const item = framer().next(current);
          if (item === undefined) return;
          subscriber.next(item);
        }
      } catch (error) {
        // A fault in framing or in what a command set off belongs to this connection alone.
        subscriber.error(error);
      }
    };
    const onData = (chunk: Buffer) => {
      try {
        framer().push(chunk);
      } catch (error) {
        subscriber.error(error);
        return;
      }
      run();
    };
    drain = run;
    source.on('data', onData);
    return () => {
      drain = null;
      if (nextTurn !== null) clearImmediate(nextTurn);
      source.off('data', onData);
    };
  });
  return { commands$, wake: () => drain?.() };
}
