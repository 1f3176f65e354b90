import { ConfigError, loadConfigFromProcess } from '../config/config.js';
import { openDatabase } from '../platform/db/client.js';
import { runMigrations } from '../platform/db/migrate.js';

// `npm run migrate`: applies pending migrations and exits non-zero on any failure.
try {
  const config = loadConfigFromProcess();
  const database = await openDatabase(config.database);
  try {
    await runMigrations(database);
    console.log(`migrations applied (${database.kind})`);
  } finally {
    await database.close();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exitCode = 1;
}
