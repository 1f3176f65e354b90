import closeWithGrace from 'close-with-grace';
import { buildApp } from '../app/build-app.js';
import { createDependencies } from '../app/dependencies.js';
import { ConfigError, loadConfigFromProcess } from '../config/config.js';
import { runMigrations } from '../platform/db/migrate.js';
import { createEventLogPruner } from '../modules/events/events.jobs.js';

async function main() {
  const config = loadConfigFromProcess();
  const deps = await createDependencies(config);
  if (config.migrateOnStart) await runMigrations(deps.database);
  const app = await buildApp(deps);
  const stopPruning = createEventLogPruner({
    eventsRepository: deps.eventsRepository,
    retentionMs: config.realtime.eventLogRetentionMs,
    logger: app.log,
  }).start();

  // Ordered shutdown: stop accepting and finish in-flight requests (app.close), then close the
  // bus and the database; force exit after the deadline.
  app.addHook('onClose', async () => {
    stopPruning();
    await deps.close();
  });
  closeWithGrace({ delay: config.shutdownTimeoutMs }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
  });

  await app.listen({ host: config.http.host, port: config.http.port });
  app.log.info(
    { database: deps.database.kind, docs: `http://${config.http.host}:${config.http.port}/api/docs` },
    'Hubx Chat is ready',
  );
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else {
    console.error(error);
  }
  process.exit(1);
});
