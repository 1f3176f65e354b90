import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';

export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAvailable: boolean;
    redisAvailable: boolean;
  }
}

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

function loudSkip(what: string) {
  console.warn(`\n${'!'.repeat(78)}\n!! ${what}\n${'!'.repeat(78)}\n`);
}

async function checkRedis(): Promise<boolean> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/**
 * Checks once whether PostgreSQL (int-postgres project only) and Redis answer; in CI they must,
 * elsewhere their absence skips the tests that need them, loudly.
 */
export default async function setup(project: TestProject) {
  const redisAvailable = await checkRedis();
  if (!redisAvailable) {
    if (process.env.CI === 'true') throw new Error(`Redis is required in CI but unreachable at ${REDIS_URL}`);
    loudSkip(`Redis unreachable at ${REDIS_URL}: the Redis-backed tests are SKIPPED.`);
  }
  project.provide('redisAvailable', redisAvailable);
  if (project.name !== 'int-postgres') {
    project.provide('postgresAvailable', false);
    return;
  }
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
