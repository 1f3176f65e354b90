import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openTestDatabase, skipDatabaseTests, testDatabaseKind } from './support/database.js';
import { ADMIN_DATABASE_URL } from './support/global-setup.js';

async function databaseExists(url: string): Promise<boolean> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    return rows.length > 0;
  } finally {
    await admin.end();
  }
}

// The suites' own databases must not outlive them ("never leave data behind").
describe.skipIf(testDatabaseKind !== 'postgres' || skipDatabaseTests)('test databases', () => {
  it('drop() removes the database', async () => {
    const database = await openTestDatabase();
    expect(await databaseExists(database.url!)).toBe(true);
    await database.drop();
    expect(await databaseExists(database.url!)).toBe(false);
  });

  it('drop() removes the database after the test closed its pool itself', async () => {
    const database = await openTestDatabase();
    await database.handle.close();
    await database.drop();
    expect(await databaseExists(database.url!)).toBe(false);
  });
});
