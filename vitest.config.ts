import { defineConfig } from 'vitest/config';

export default defineConfig({
  // apps/ import Keel by its package name; this condition points `keel/...` at src/, as node's does.
  resolve: { conditions: ['keel-source'] },
  ssr: { resolve: { conditions: ['keel-source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**'],
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts', 'test/**/*.test-d.ts'] },
    restoreMocks: true,
  },
});
