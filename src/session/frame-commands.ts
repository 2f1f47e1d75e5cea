import { merge, Observable, type OperatorFunction } from 'rxjs';
import type { CommandFramer, FrameMode, Framed } from '../protocols/types.js';

/**
 * RxJS operator: socket chunks in, framed commands out, one at a time. Before each item it asks
 * `mode()` how to read (command or SASL line) or whether to read at all (`null`: the machine is
 * busy authenticating, upgrading or relaying); items are handed on synchronously, so the machine
 * has reacted to one before the next is framed. `wake$` re-runs the loop when the machine starts
 * reading again (after an `Auth-Wait` failure, say) without a new chunk.
 */
export function frameCommands(
  framer: CommandFramer,
  mode: () => FrameMode | null,
  wake$: Observable<void>,
): OperatorFunction<Buffer, Framed> {
  return (chunks$) =>
    new Observable<Framed>((subscriber) => {
      const drain = () => {
        for (;;) {
          const current = mode();
          if (current === null || subscriber.closed) return;
          const item = framer.next(current);
          if (item === undefined) return;
          subscriber.next(item);
        }
      };
      const subscription = merge(
        new Observable<void>((inner) =>
          chunks$.subscribe({
            next: (chunk) => {
              framer.push(chunk);
              inner.next();
            },
            error: (error: unknown) => inner.error(error),
            complete: () => inner.complete(),
          }),
        ),
        wake$,
      ).subscribe({
        next: drain,
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      return () => subscription.unsubscribe();
    });
}
