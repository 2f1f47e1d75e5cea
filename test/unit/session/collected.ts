import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// `global.gc` for this test process, without a flag on vitest's command line.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * Whether every target is garbage-collected within a few forced GCs. A weak target survives the
 * job that made or read it, so each GC runs on a later turn of the event loop.
 */
export async function collected(refs: ReadonlyArray<WeakRef<object>>): Promise<boolean> {
  for (let round = 0; round < 20; round++) {
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    if (refs.every((ref) => ref.deref() === undefined)) return true;
  }
  return false;
}
