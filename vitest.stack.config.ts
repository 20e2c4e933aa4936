import { defineConfig } from 'vitest/config';

/** The stack's fault suite: one file at a time, no parallel files (each starts a whole stack). */
export default defineConfig({
  resolve: { conditions: ['keel-source'] },
  ssr: { resolve: { conditions: ['keel-source'] } },
  test: {
    include: ['test/stack/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 240_000,
  },
});
