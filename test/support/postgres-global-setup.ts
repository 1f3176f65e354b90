import pg from 'pg';
import type { TestProject } from 'vitest/node';

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAvailable: boolean;
  }
}

/** Checks once whether PostgreSQL answers; in CI it must, elsewhere its absence skips loudly. */
export default async function setup(project: TestProject) {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL, connectionTimeoutMillis: 3000 });
  let available = false;
  try {
    await client.connect();
    await client.query('select 1');
    available = true;
  } catch (error) {
    if (process.env.CI === 'true') {
      throw new Error(
        `PostgreSQL is required in CI but unreachable at ${ADMIN_DATABASE_URL}: ${String(error)}`,
        {
          cause: error,
        },
      );
    }
    console.warn(
      `\n${'!'.repeat(78)}\n!! PostgreSQL unreachable at ${ADMIN_DATABASE_URL}: the int-postgres tests are SKIPPED.\n${'!'.repeat(78)}\n`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  project.provide('postgresAvailable', available);
}
