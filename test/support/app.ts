import type { FastifyInstance, InjectOptions } from 'fastify';
import { buildApp } from '../../src/app/build-app.js';
import { createDependencies, type Dependencies } from '../../src/app/dependencies.js';
import { loadConfig } from '../../src/config/config.js';
import { hashPassword } from '../../src/modules/auth/auth.passwords.js';
import type { AuthUser } from '../../src/modules/auth/auth.service.js';
import type { Bus } from '../../src/platform/bus/bus.js';
import { chatModerators } from '../../src/modules/users/moderators.table.js';
import { newId } from '../../src/shared/ids.js';
import { openTestDatabase } from './database.js';
import { deleteRedisKeys } from './redis.js';
import { makeTempDir } from './temp-dirs.js';

export const TEST_PASSWORD = 'correct-horse-battery';
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-0123456789';
export const ALLOWED_ORIGIN = 'https://app.hubx.test';

let sharedHash: Promise<string> | undefined;
let counter = 0;

export type TestUser = AuthUser & { token: string; auth: { authorization: string } };

export type TestAppOptions = {
  /**
   * Wraps the bus the app runs on (Redis when REDIS_URL is set, else in-process), so a test can
   * watch its subscriptions or lose and delay publishes. Without it the app builds its own bus.
   */
  wrapBus?: (bus: Bus) => Bus;
};

export async function createTestApp(env: Record<string, string> = {}, options: TestAppOptions = {}) {
  const database = await openTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_SECRET: TEST_JWT_SECRET,
    DATA_DIR: makeTempDir('hubx-test-'),
    ALLOWED_ORIGINS: ALLOWED_ORIGIN,
    // Tests send faster than a person; the limiter has tests of its own.
    CHAT_SEND_RATE_LIMIT: '0',
    AUTH_RATE_LIMIT: '0',
    // Spam rules still run, with limits no test reaches by accident (spam.int.test.ts sets real ones).
    CHAT_SPAM_MESSAGES_PER_MINUTE: '1000000',
    CHAT_SPAM_REPEAT_LIMIT: '1000000',
    CHAT_SPAM_LINK_LIMIT: '1000000',
    ...env,
  });
  const deps: Dependencies = await createDependencies(config, {
    database: database.handle,
    wrapBus: options.wrapBus,
  });
  const app: FastifyInstance = await buildApp(deps);
  await app.ready();

  /** Creates an active user straight in the database (hashing once per file keeps tests fast). */
  async function createUser(
    options: { staff?: boolean; moderator?: boolean; username?: string; active?: boolean } = {},
  ): Promise<TestUser> {
    sharedHash ??= hashPassword(TEST_PASSWORD);
    counter += 1;
    const username = options.username ?? `user${counter}_${newId().slice(-6)}`;
    const row = (await deps.usersRepository.insert({
      id: newId(),
      username,
      email: `${username}@example.test`,
      passwordHash: await sharedHash,
      isStaff: options.staff ?? false,
      isActive: options.active ?? true,
    }))!;
    // A granted moderator (staff moderate by their flag).
    if (options.moderator) await deps.database.db.insert(chatModerators).values({ userId: row.id });
    const token = await deps.tokens.signAccess(row.id);
    return {
      id: row.id,
      username: row.username,
      email: row.email,
      isStaff: row.isStaff,
      isModerator: row.isStaff || options.moderator === true,
      token,
      auth: { authorization: `Bearer ${token}` },
    };
  }

  const peers: Array<{ app: FastifyInstance; deps: Dependencies }> = [];
  /**
   * A second API node in this process: its own app, bus connection and job runner, over the same
   * database and the same settings (so, with REDIS_URL, the same Redis prefix: the two share fan-out
   * and limits as production nodes do). Closed with the test app.
   */
  async function addNode() {
    const peerDeps = await createDependencies(config, {
      database: database.handle,
      wrapBus: options.wrapBus,
    });
    const peerApp = await buildApp(peerDeps);
    await peerApp.ready();
    peers.push({ app: peerApp, deps: peerDeps });
    return { app: peerApp, deps: peerDeps, inject: (request: InjectOptions) => peerApp.inject(request) };
  }

  return {
    app,
    deps,
    config,
    database,
    createUser,
    addNode,
    inject: (options: InjectOptions) => app.inject(options),
    async close() {
      for (const peer of peers.splice(0)) {
        await peer.app.close();
        await peer.deps.close();
      }
      await app.close();
      await deps.close();
      await database.drop();
      if (config.redis) await deleteRedisKeys(config.redis.url, config.redis.prefix);
    },
  };
}
export type TestApp = Awaited<ReturnType<typeof createTestApp>>;
