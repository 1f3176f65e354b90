import closeWithGrace from 'close-with-grace';
import { createDependencies } from '../app/dependencies.js';
import { ConfigError, loadConfigFromProcess } from '../config/config.js';
import { runMigrations } from '../platform/db/migrate.js';

class WorkerSetupError extends Error {}

/**
 * The job worker (`npm run worker`): processes the BullMQ queues the API processes enqueue into,
 * and keeps the periodic jobs scheduled. Run as many as the load needs; each job runs once.
 */
async function main() {
  const config = loadConfigFromProcess();
  if (!config.redis) {
    throw new WorkerSetupError(
      'The worker processes the Redis job queues: set REDIS_URL. Without it, `npm start` runs every job itself.',
    );
  }
  if (config.database.kind !== 'postgres') {
    throw new WorkerSetupError(
      'The worker works on the API processes’ database: set DATABASE_URL (an embedded PGlite cannot be shared).',
    );
  }
  const deps = await createDependencies(config);
  const { logger } = deps;
  // Concurrent starts take PostgreSQL's advisory lock: one process migrates, the others wait.
  if (config.migrateOnStart) await runMigrations(deps.database);

  // Active jobs get most of the deadline to finish; one still running after that is left to its
  // lock's expiry, and another worker retries it. Then the bus, Redis and the database close.
  closeWithGrace({ delay: config.shutdownTimeoutMs }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'worker shutting down after an error');
    else logger.info({ signal }, 'worker shutting down');
    await deps.jobs.close({ graceMs: Math.floor(config.shutdownTimeoutMs * 0.8) });
    await deps.close();
  });

  await deps.jobs.start();
  logger.info(
    { database: deps.database.kind, concurrency: config.jobs.concurrency },
    'Hubx Chat worker is ready',
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof WorkerSetupError) {
    console.error(error.message);
  } else {
    console.error(error);
  }
  process.exit(1);
});
