// The program node:cluster starts for each worker process (see master.ts).
// First of all, a SIGUSR1 handler: without one, Node.js answers SIGUSR1 by opening its inspector
// (a debugger port), and importing the rest takes long enough for a signal to arrive meanwhile.
process.on('SIGUSR1', () => undefined);

const { runWorker } = await import('./worker.js');
runWorker().catch((error: unknown) => {
  process.stderr.write(`postern: [emerg] worker: ${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
