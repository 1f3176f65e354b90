import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/platform/db/client.js';
import { runMigrations } from '../../src/platform/db/migrate.js';
import { ADMIN_DATABASE_URL } from './global-setup.js';

export type TestDatabaseKind = 'pglite' | 'postgres';
export const testDatabaseKind = (process.env.TEST_DB ?? 'pglite') as TestDatabaseKind;

/** True when this project's database cannot be reached and the tests should skip (never in CI). */
export const skipDatabaseTests = testDatabaseKind === 'postgres' && !inject('postgresAvailable');

export function databaseUrlFor(name: string): string {
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * A migrated database of its own for one test file: an in-memory PGlite, or a fresh PostgreSQL
 * database that is dropped afterwards. Nothing outside what it created is touched.
 */
export async function openTestDatabase(): Promise<{
  handle: DatabaseHandle;
  url?: string;
  drop(): Promise<void>;
}> {
  if (testDatabaseKind === 'pglite') {
    const handle = await openDatabase({ kind: 'pglite' });
    await runMigrations(handle);
    return { handle, drop: () => handle.close() };
  }
  const name = `hubx_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = databaseUrlFor(name);
  const handle = await openDatabase({ kind: 'postgres', url, poolSize: 5 });
  await runMigrations(handle);
  // Tests that hand the database to another process close their own pool early; closing a pool
  // twice throws, and drop() must still drop the database then (it used to leak it).
  const closePool = handle.close.bind(handle);
  let closing: Promise<void> | undefined;
  handle.close = () => (closing ??= closePool());
  return {
    handle,
    url,
    async drop() {
      await handle.close();
      const cleaner = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await cleaner.connect();
      await cleaner.query(`drop database if exists ${name} with (force)`);
      await cleaner.end();
    },
  };
}
