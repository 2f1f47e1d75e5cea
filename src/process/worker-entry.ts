// The program node:cluster starts for each worker process (see master.ts).
import { runWorker } from './worker.js';

runWorker().catch((error: unknown) => {
  process.stderr.write(`postern: [emerg] worker: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
