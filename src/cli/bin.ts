// `npm run conformance` (and other scripts) run the CLI from source with tsx: no build needed.
import { main } from './main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`postern: [emerg] ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(1);
  },
);
