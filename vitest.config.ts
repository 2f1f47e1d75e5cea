import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // End-to-end suites start real daemons on fixed loopback ports per file; two workers match the 2-core machine.
    maxWorkers: 2,
  },
});
