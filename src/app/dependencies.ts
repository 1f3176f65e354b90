import type { Config } from '../config/config.js';
import type { Bus } from '../platform/bus/bus.js';
import { createMemoryBus } from '../platform/bus/memory-bus.js';
import { createLogger, type Logger } from '../platform/logger/logger.js';
import { openDatabase, type DatabaseHandle } from '../platform/db/client.js';
import { guardAgainstQueriesOutsideTransaction } from '../platform/db/transaction-guard.js';
import { createSessionsRepository } from '../modules/auth/auth.repository.js';
import { createAuthService } from '../modules/auth/auth.service.js';
import { createTokenCodec } from '../modules/auth/auth.tokens.js';
import { createChannelAccess } from '../modules/channels/channels.access.js';
import { createChannelsRepository } from '../modules/channels/channels.repository.js';
import { createChannelsService } from '../modules/channels/channels.service.js';
import { createContextsRepository } from '../modules/contexts/contexts.repository.js';
import { createContextsService } from '../modules/contexts/contexts.service.js';
import { createEventsRepository } from '../modules/events/events.repository.js';
import { createUnitOfWork } from '../modules/events/events.service.js';
import { createMessagesRepository } from '../modules/messages/messages.repository.js';
import { createMessagesService } from '../modules/messages/messages.service.js';
import { createModerationRepository } from '../modules/moderation/moderation.repository.js';
import { createParticipantsRepository } from '../modules/participants/participants.repository.js';
import { createParticipantsService } from '../modules/participants/participants.service.js';
import { createReactionsRepository } from '../modules/reactions/reactions.repository.js';
import { createUsersRepository } from '../modules/users/users.repository.js';

/**
 * The composition root: builds the database, the bus and then each module with exactly the
 * dependencies it needs. Tests pass their own database handle (a shared PGlite, a fresh Postgres).
 */
export async function createDependencies(
  config: Config,
  overrides: { database?: DatabaseHandle; bus?: Bus; logger?: Logger } = {},
) {
  const database = overrides.database ?? (await openDatabase(config.database));
  const bus = overrides.bus ?? createMemoryBus();
  const logger = overrides.logger ?? createLogger(config.log.level);
  const rawDb = database.db;
  // Repositories get a guarded handle: using it inside a unit of work instead of `tx` throws.
  const db = guardAgainstQueriesOutsideTransaction(rawDb);

  const usersRepository = createUsersRepository({ db });
  const sessionsRepository = createSessionsRepository({ db });
  const contextsRepository = createContextsRepository({ db });
  const channelsRepository = createChannelsRepository({ db });
  const participantsRepository = createParticipantsRepository({ db });
  const messagesRepository = createMessagesRepository({ db });
  const moderationRepository = createModerationRepository({ db });
  const reactionsRepository = createReactionsRepository({ db });
  const eventsRepository = createEventsRepository({ db });

  const uow = createUnitOfWork({
    db: rawDb,
    eventsRepository,
    bus,
    onPublishError: (error) =>
      logger.error({ err: error }, 'event publish failed; clients recover through the log'),
  });
  const tokens = createTokenCodec(
    {
      secret: config.auth.jwtSecret,
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      accessTtlSeconds: config.auth.accessTtlSeconds,
      refreshTtlSeconds: config.auth.refreshTtlSeconds,
    },
    config.auth.platform,
  );
  const authService = createAuthService({
    usersRepository,
    sessionsRepository,
    tokens,
    settings: {
      allowRegistration: config.auth.allowRegistration,
      passwordMinLength: config.auth.passwordMinLength,
      sessionTtlSeconds: config.auth.session.ttlSeconds,
      platformIssuer: config.auth.platform?.issuer,
    },
  });
  const access = createChannelAccess({
    channelsRepository,
    participantsRepository,
    contextsRepository,
    usersRepository,
  });
  const contextsService = createContextsService({ contextsRepository, usersRepository });
  const channelsService = createChannelsService({
    uow,
    access,
    channelsRepository,
    participantsRepository,
    reactionsRepository,
  });
  const participantsService = createParticipantsService({
    uow,
    access,
    participantsRepository,
    usersRepository,
  });
  const messagesService = createMessagesService({
    uow,
    access,
    messagesRepository,
    moderationRepository,
    reactionsRepository,
    settings: { messageMaxChars: config.chat.messageMaxChars },
  });

  return {
    config,
    logger,
    database,
    bus,
    tokens,
    access,
    eventsRepository,
    usersRepository,
    authService,
    contextsService,
    channelsService,
    participantsService,
    messagesService,
    /** Closes what this container opened, in reverse order of creation. */
    async close() {
      await bus.close();
      if (!overrides.database) await database.close();
    },
  };
}
export type Dependencies = Awaited<ReturnType<typeof createDependencies>>;
