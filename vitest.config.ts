import { defineConfig } from 'vitest/config';

// Three projects: fast unit tests, and the integration tests twice — on PGlite and on PostgreSQL.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', 'node_modules/**'],
          setupFiles: ['test/support/setup-temp-dirs.ts'],
        },
      },
      {
        test: {
          name: 'int-pglite',
          include: ['src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          env: { TEST_DB: 'pglite' },
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/support/setup-temp-dirs.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'int-postgres',
          include: ['src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          env: { TEST_DB: 'postgres' },
          globalSetup: ['test/support/global-setup.ts'],
          setupFiles: ['test/support/setup-temp-dirs.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
