import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // End-to-end suites start real daemons on fixed loopback ports per file; two workers match the 2-core machine.
    maxWorkers: 2,
    // One retry absorbs a timing accident of a loaded machine; a test that needs it is listed at
    // the end of the run with its first error (test/reporters/run-summary.ts), never hidden.
    retry: 1,
    reporters: ['default', './test/reporters/run-summary.ts'],
  },
});
