import closeWithGrace from 'close-with-grace';
import { buildApp } from '../app/build-app.js';
import { createDependencies } from '../app/dependencies.js';
import { ConfigError, loadConfigFromProcess } from '../config/config.js';
import { runMigrations } from '../platform/db/migrate.js';

async function main() {
  const config = loadConfigFromProcess();
  const deps = await createDependencies(config);
  if (config.migrateOnStart) await runMigrations(deps.database);
  const app = await buildApp(deps);
  // Embedded mode: this process runs the jobs (the event-log pruning among them). With REDIS_URL it
  // only enqueues them, and `npm run worker` processes them.
  if (deps.jobs.mode === 'inline') await deps.jobs.start();
  else app.log.info('jobs go to Redis queues: run `npm run worker` to process them');

  // Ordered shutdown: stop accepting and finish in-flight requests (app.close), then the jobs, the
  // bus and the database; force exit after the deadline.
  app.addHook('onClose', async () => {
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
