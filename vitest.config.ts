import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/build.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start real tgtd processes; two cores, so keep the pool small.
    pool: 'forks',
    maxWorkers: 2,
  },
});
