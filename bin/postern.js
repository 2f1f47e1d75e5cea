#!/usr/bin/env node
// Entry point of the `postern` command; the TypeScript is compiled to dist/ by `npm run build`.
// First of all, a SIGUSR1 handler: without one, Node.js answers SIGUSR1 (nginx's log reopen
// signal, sent daily by logrotate) by opening its inspector, a debugger port. The application is
// imported only then: loading it takes long enough for a signal to arrive meanwhile.
process.on('SIGUSR1', () => undefined);

const { main } = await import('../dist/src/cli/main.js');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`postern: [emerg] ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
