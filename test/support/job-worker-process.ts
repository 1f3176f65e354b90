// A job worker process on the test registry (test-jobs.ts), started by the BullMQ tests: it builds
// the BullMQ runner the way the real worker does, starts it, and closes it on SIGTERM.
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/config.js';
import { createBullmqJobRunner } from '../../src/platform/jobs/bullmq-runner.js';
import { createTestJobRegistry } from './test-jobs.js';

const config = loadConfig({ ...process.env, LOG_LEVEL: 'silent', JWT_SECRET: 'x'.repeat(32) });
if (!config.redis) throw new Error('REDIS_URL is required');
const redis = new Redis(config.redis.url);
const log =
  (level: string) =>
  (...args: unknown[]) =>
    console.log(level, JSON.stringify(args));
const runner = createBullmqJobRunner({
  registry: createTestJobRegistry(redis, config.redis.prefix),
  redis: config.redis,
  settings: config.jobs,
  logger: { debug: () => undefined, info: log('info'), warn: log('warn'), error: log('error') },
});
const tickEveryMs = Number(process.env.TICK_EVERY_MS ?? 0);
if (tickEveryMs > 0) runner.schedule('test.tick', { everyMs: tickEveryMs, payload: {} });

process.once('SIGTERM', () => {
  void (async () => {
    await runner.close({ graceMs: 2_000 });
    redis.disconnect();
    process.exit(0);
  })();
});
await runner.start();
console.log(`test worker ready ${process.pid}`);
