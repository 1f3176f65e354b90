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
import {
  createLastMessageReader,
  createMessageEditor,
  createMessageFinder,
  createMessagesService,
} from '../modules/messages/messages.service.js';
import { createReactionsService } from '../modules/reactions/reactions.service.js';
import { createModerationService } from '../modules/moderation/moderation.service.js';
import { createHistoryRestorer } from '../modules/moderation/moderation.history.js';
import { createSpamGuard } from '../modules/moderation/spam.service.js';
import { createModeratorsService } from '../modules/moderation/moderators.service.js';
import { createModeratorsRepository } from '../modules/users/moderators.repository.js';
import { createEventLogReader } from '../modules/events/events.log.js';
import { createMessageEventRefreshers } from '../modules/messages/messages.policy.js';
import { publishOn, topics, type AccessChange } from '../shared/topics.js';
import { createRedisBus } from '../platform/bus/redis-bus.js';
import {
  createMemoryRateLimiter,
  createMemoryWindowCounter,
  createRedisRateLimiter,
  createRedisWindowCounter,
  type RateLimitRule,
} from '../platform/rate-limit/rate-limit.js';
import { Redis } from 'ioredis';
import { createModerationRepository } from '../modules/moderation/moderation.repository.js';
import { createModerationQueueRepository } from '../modules/moderation/moderation.queue.repository.js';
import { createModerationQueueService } from '../modules/moderation/moderation.queue.js';
import { createParticipantsRepository } from '../modules/channels/participants.repository.js';
import { createParticipantsService } from '../modules/channels/participants.service.js';
import { createReactionsRepository } from '../modules/reactions/reactions.repository.js';
import { createUsersRepository } from '../modules/users/users.repository.js';
import { createEventsJobs, EVENT_LOG_PRUNE_INTERVAL_MS } from '../modules/events/events.jobs.js';
import { createInlineJobRunner } from '../platform/jobs/inline-runner.js';
import { createJobRegistry } from '../platform/jobs/jobs.js';
import { createOperationsService } from '../modules/operations/operations.service.js';
import { createMetrics } from '../platform/metrics/metrics.js';
import { createAttachmentsRepository } from '../modules/attachments/attachments.repository.js';
import { createAttachmentsService } from '../modules/attachments/attachments.service.js';
import { createStorage } from '../platform/storage/create-storage.js';
import { createScanner } from '../platform/scanner/create-scanner.js';
import type { Storage } from '../platform/storage/storage.js';
import type { Scanner } from '../platform/scanner/scanner.js';

/** Logs a recurring failure (Redis down) once per interval instead of once per attempt. */
function throttledLogger(logger: Logger, message: string, intervalMs = 10_000) {
  let last = 0;
  return (error: unknown) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    logger.warn({ err: error }, message);
  };
}

/**
 * The composition root: builds the database, the bus and then each module with exactly the
 * dependencies it needs. Tests pass their own database handle (a shared PGlite, a fresh Postgres).
 */
export async function createDependencies(
  config: Config,
  overrides: {
    database?: DatabaseHandle;
    bus?: Bus;
    logger?: Logger;
    /** Tests: wraps the bus built here (to watch subscriptions, lose or delay publishes). */
    wrapBus?: ((bus: Bus) => Bus) | undefined;
  } = {},
) {
  const database = overrides.database ?? (await openDatabase(config.database));
  const logger = overrides.logger ?? createLogger(config.log.level);
  // --- metrics: one registry per container (tests build many); wired into the bus and services below ---
  const metrics = createMetrics({
    collectProcessMetrics: config.metrics.token !== undefined,
    onCollectError: (error) => logger.warn({ err: error }, 'a metrics source failed during a scrape'),
  });
  // --- end metrics ---
  const redisErrors = throttledLogger(
    logger,
    'redis unavailable; serving locally and catching up from the event log',
  );
  const redis = config.redis
    ? new Redis(config.redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: false })
    : undefined;
  redis?.on('error', redisErrors);
  const busReconnectHandlers = new Set<() => void>();
  // A bug in one subscriber is reported in full, each time, and delivery goes on.
  const subscriberErrors = (error: unknown) => logger.error({ err: error }, 'bus subscriber failed');
  const builtBus =
    overrides.bus ??
    (config.redis
      ? await createRedisBus({
          url: config.redis.url,
          prefix: config.redis.prefix,
          onError: redisErrors,
          onReconnect: () => busReconnectHandlers.forEach((handler) => handler()),
          onSubscriberError: subscriberErrors,
          onConnectionRestored: (connection) => metrics.busReconnected(connection),
          exposeBacklog: (read) => metrics.setBusBacklogSource(read),
        })
      : createMemoryBus({ onError: subscriberErrors }));
  const bus = overrides.wrapBus ? overrides.wrapBus(builtBus) : builtBus;
  // Shared by every node through Redis when there is one, else this process's own.
  const rateLimiter = (rule: RateLimitRule | undefined) =>
    redis && config.redis
      ? createRedisRateLimiter(redis, { rule, prefix: config.redis.prefix, onError: redisErrors })
      : createMemoryRateLimiter(rule);
  const sendRateLimiter = rateLimiter(config.chat.sendRateLimit);
  const authAttemptLimiter = rateLimiter(config.auth.attemptRateLimit);
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
  const announce = (change: AccessChange) => void publishOn(bus, topics.access, change).catch(redisErrors);
  const authService = createAuthService({
    onSessionEnded: ({ sessionKey }) => announce({ kind: 'session', sessionKey }),
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
  const contextsService = createContextsService({
    contextsRepository,
    usersRepository,
    onMembershipChanged: ({ userId }) => announce({ kind: 'user', userId }),
  });
  const announceUsers = ({ userIds }: { userIds: string[] }) =>
    userIds.forEach((userId) => announce({ kind: 'user', userId }));
  const channelsService = createChannelsService({
    uow,
    access,
    channelsRepository,
    participantsRepository,
    lastMessages: createLastMessageReader({ messagesRepository, reactionsRepository }),
    onAccessChanged: announceUsers,
  });
  const participantsService = createParticipantsService({
    uow,
    access,
    participantsRepository,
    usersRepository,
    onAccessChanged: announceUsers,
  });
  const messagesService = createMessagesService({
    uow,
    access,
    messagesRepository,
    moderationRepository,
    reactionsRepository,
    sendRateLimiter,
    // One budget per user for every node through Redis when there is one, else per process.
    spam: createSpamGuard({
      settings: config.chat.spam,
      counter:
        redis && config.redis
          ? createRedisWindowCounter(redis, { prefix: config.redis.prefix, onError: redisErrors })
          : createMemoryWindowCounter(),
      moderationRepository,
    }),
    metrics,
    settings: { messageMaxChars: config.chat.messageMaxChars },
  });
  const moderationService = createModerationService({
    uow,
    access,
    messages: createMessageFinder({ messagesRepository }),
    messagesRepository,
    moderationRepository,
    flagRateLimiter: rateLimiter(config.chat.flagRateLimit),
    settings: { hideThreshold: config.chat.flagHideThreshold },
  });
  const moderationQueueService = createModerationQueueService({
    queueRepository: createModerationQueueRepository({ db }),
  });
  const historyRestorer = createHistoryRestorer({
    uow,
    access,
    messages: createMessageFinder({ messagesRepository }),
    editor: createMessageEditor({ messagesRepository, moderationRepository, reactionsRepository }),
    moderationRepository,
  });
  const moderatorsService = createModeratorsService({
    moderatorsRepository: createModeratorsRepository({ db }),
    usersRepository,
    // Awaited: the CLI publishes before it exits, and a request answers after the change is sent.
    onModeratorChanged: ({ userId }) =>
      publishOn(bus, topics.access, { kind: 'user', userId }).catch(redisErrors),
  });
  const reactionsService = createReactionsService({
    uow,
    access,
    messages: createMessageFinder({ messagesRepository }),
    reactionsRepository,
    settings: { names: config.chat.reactionNames, maxDistinct: config.chat.reactionMaxDistinct },
  });
  // --- attachments ---
  // STORAGE_DRIVER: disk under DATA_DIR/attachments, or S3 (what several nodes share).
  const storage: Storage = createStorage(config.storage);
  // CLAMAV_*: clamd over TCP or a Unix socket, or no scanner (uploads say scan: "skipped").
  const scanner: Scanner = createScanner(config);
  const attachmentsService = createAttachmentsService({
    attachmentsRepository: createAttachmentsRepository({ db }),
    storage,
    scanner,
    uploadRateLimiter: rateLimiter(config.attachments.uploadRateLimit),
    settings: {
      maxSize: config.attachments.maxSize,
      allowedMimeTypes: config.attachments.allowedMimeTypes,
      scannerRequired: config.scanner?.required ?? false,
    },
  });
  // --- end attachments ---

  // --- Background jobs (src/platform/jobs): each module declares its jobs in <feature>.jobs.ts. ---
  // With REDIS_URL they go to BullMQ queues that `npm run worker` processes; without it they run in
  // this process once the runner is started (api.ts starts it). Enqueue only after commit.
  const jobRegistry = createJobRegistry([
    ...createEventsJobs({ eventsRepository, retentionMs: config.realtime.eventLogRetentionMs, logger }),
  ]);
  const jobs = config.redis
    ? // Loaded only with Redis: BullMQ costs ≈ 25 MB of memory that the embedded mode never uses.
      (await import('../platform/jobs/bullmq-runner.js')).createBullmqJobRunner({
        registry: jobRegistry,
        redis: config.redis,
        settings: config.jobs,
        logger,
      })
    : createInlineJobRunner({ registry: jobRegistry, settings: config.jobs, logger });
  jobs.schedule('events.prune_log', { everyMs: EVENT_LOG_PRUNE_INTERVAL_MS, payload: {} });
  const operationsService = createOperationsService({ jobs });
  metrics.setJobCountsSource(async () =>
    (await jobs.counts()).flatMap(({ queue, counts }) =>
      Object.entries(counts).map(([state, count]) => ({ queue, state, count })),
    ),
  );
  // --- end of background jobs ---

  const eventLog = createEventLogReader({
    eventsRepository,
    refreshers: { ...createMessageEventRefreshers({ messagesRepository }) },
  });

  return {
    config,
    eventLog,
    logger,
    database,
    bus,
    metrics,
    tokens,
    access,
    eventsRepository,
    usersRepository,
    authService,
    authAttemptLimiter,
    contextsService,
    channelsService,
    participantsService,
    messagesService,
    reactionsService,
    moderationService,
    attachmentsService,
    storage,
    moderationQueueService,
    historyRestorer,
    moderatorsService,
    channelsRepository,
    /** Background jobs: enqueue (after commit), counts() for the queue view and metrics. */
    jobs,
    operationsService,
    /** Lets the realtime layer re-read the event log after the bus reconnects. */
    onBusReconnect(handler: () => void) {
      busReconnectHandlers.add(handler);
    },
    /** Closes what this container opened, in reverse order of creation. */
    async close() {
      // Jobs first: active ones still use the database and the bus (the worker gives them a grace).
      await jobs.close({ graceMs: config.shutdownTimeoutMs / 2 });
      await bus.close();
      await scanner.close();
      await storage.close();
      if (redis) await redis.quit().catch(() => redis.disconnect());
      if (!overrides.database) await database.close();
    },
  };
}
export type Dependencies = Awaited<ReturnType<typeof createDependencies>>;
