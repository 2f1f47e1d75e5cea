import type { EventEmitter } from 'node:events';
import { Observable } from 'rxjs';
import type { CommandFramer, FrameMode, Framed } from '../protocols/types.js';

/** The framed commands read from one socket, and the way to re-run framing without a new chunk. */
export interface CommandStream {
  readonly commands$: Observable<Framed>;
  /** The machine reads again (after an `Auth-Wait` failure, say): frame what is already buffered. */
  wake(): void;
}

/**
 * Socket chunks in, framed commands out, one at a time. Before each item it asks `mode()` how to
 * read (command or SASL line) or whether to read at all (`null`: the machine is busy
 * authenticating, upgrading or relaying); items are handed on synchronously, so the machine has
 * reacted to one before the next is framed.
 *
 * One `data` listener feeding one Observable: a `fromEvent` + `merge` + wake `Subject` chain
 * costs ~3.5 KB and ~15 µs per connection (docs/performance.md), and every connection has one.
 * `framer` is asked for the connection's framer when bytes are there to frame (the session makes
 * it then: an idle connection that never sent anything holds no buffer).
 */
export function frameCommands(source: EventEmitter, framer: () => CommandFramer, mode: () => FrameMode | null): CommandStream {
  let drain: (() => void) | null = null;
  const commands$ = new Observable<Framed>((subscriber) => {
    const run = () => {
      for (;;) {
        const current = mode();
        if (current === null || subscriber.closed) return;
        const item = framer().next(current);
        if (item === undefined) return;
        subscriber.next(item);
      }
    };
    const onData = (chunk: Buffer) => {
      framer().push(chunk);
      run();
    };
    drain = run;
    source.on('data', onData);
    return () => {
      drain = null;
      source.off('data', onData);
    };
  });
  return { commands$, wake: () => drain?.() };
}
