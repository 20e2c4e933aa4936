import { defineConfig } from 'vitest/config';

export default defineConfig({
  // apps/ import Keel by its package name; this condition points `keel/...` at src/, as node's does.
  resolve: { conditions: ['keel-source'] },
  ssr: { resolve: { conditions: ['keel-source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The stack's fault suite runs many processes for minutes: `npm run test:stack` (vitest.stack.config.ts).
    exclude: ['dist/**', 'node_modules/**', 'test/stack/**'],
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts', 'test/**/*.test-d.ts'] },
    restoreMocks: true,
  },
});
