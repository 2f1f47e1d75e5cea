// `npm run conformance` (and other scripts) run the CLI from source with tsx: no build needed.
// First of all, a SIGUSR1 handler: without one, Node.js answers SIGUSR1 (nginx's log reopen
// signal) by opening its inspector, a debugger port; importing the rest takes a while.
process.on('SIGUSR1', () => undefined);

const { main } = await import('./main.js');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`postern: [emerg] ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
