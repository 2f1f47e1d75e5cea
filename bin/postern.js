#!/usr/bin/env node
// Entry point of the `postern` command; the TypeScript is compiled to dist/ by `npm run build`.
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`postern: [emerg] ${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
