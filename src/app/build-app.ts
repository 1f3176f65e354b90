import cookie from '@fastify/cookie';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { registerAuthentication } from '../modules/auth/auth.hooks.js';
import { authRoutes } from '../modules/auth/auth.routes.js';
import { channelsRoutes } from '../modules/channels/channels.routes.js';
import { contextsRoutes } from '../modules/contexts/contexts.routes.js';
import { messagesRoutes } from '../modules/messages/messages.routes.js';
import { attachmentsRoutes } from '../modules/attachments/attachments.routes.js';
import { operationsRoutes } from '../modules/operations/operations.routes.js';
import { MessageSchema } from '../modules/messages/messages.schemas.js';
import { participantsRoutes } from '../modules/channels/participants.routes.js';
import { reactionsRoutes } from '../modules/reactions/reactions.routes.js';
import { isModerator } from '../modules/channels/channels.access.js';
import { channelEventPolicies } from '../modules/channels/channels.events.js';
import { messageEventPolicies } from '../modules/messages/messages.policy.js';
import { messagePinFrames, messageSendFrames } from '../modules/messages/messages.ws.js';
import { registerNotificationSocket } from '../modules/notifications/notifications.socket.js';
import { participantEventPolicies } from '../modules/channels/participants.events.js';
import { reactionFrames } from '../modules/reactions/reactions.ws.js';
import { moderationRoutes } from '../modules/moderation/moderation.routes.js';
import { moderationQueueRoutes } from '../modules/moderation/moderation.queue.routes.js';
import { moderatorsRoutes } from '../modules/moderation/moderators.routes.js';
import { flagFrames } from '../modules/moderation/moderation.ws.js';
import { typingFrames } from '../modules/typing/typing.ws.js';
import { registerRealtimeGateway } from '../realtime/gateway.js';
import { registerHttpMetrics, registerMetricsRoute } from '../platform/metrics/metrics.routes.js';
import { createValidationError } from '../shared/errors.js';
import type { AuthUser } from '../modules/auth/auth.service.js';
import type { Dependencies } from './dependencies.js';
import { registerErrorHandler } from './error-handler.js';
import { registerOpenApi } from './openapi.js';
import { registerValidation } from './validation.js';
import { containsUnstorableText } from '../shared/text.js';

/** Builds the Fastify instance with every plugin and route; tests use it through `app.inject`. */
export async function buildApp(deps: Dependencies): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.http.bodyLimit,
    trustProxy: config.http.trustProxy,
    // Paths are documented with trailing slashes (as the platform has them); both forms resolve.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    requestIdHeader: 'x-request-id',
    genReqId: () => crypto.randomUUID(),
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerValidation(app);
  // Public routes say so in the OpenAPI document (no security requirement).
  app.addHook('onRoute', (route) => {
    if (route.config?.public && route.schema) route.schema = { ...route.schema, security: [] };
  });
  registerErrorHandler(app);
  // Before any plugin or route, so the timing hook covers them all.
  registerHttpMetrics(app, deps.metrics);
  await app.register(cookie);
  registerAuthentication(app, {
    authService: deps.authService,
    cookieName: config.auth.session.cookieName,
    allowedOrigins: config.http.allowedOrigins,
  });
  app.addHook('onSend', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  app.addHook('preValidation', async (request) => {
    if ([request.body, request.query, request.params].some((part) => containsUnstorableText(part))) {
      throw createValidationError(
        'Text may not contain NUL characters or unpaired surrogates.',
        'invalid_characters',
      );
    }
  });
  await registerOpenApi(app);
  registerMetricsRoute(app, { metrics: deps.metrics, token: config.metrics.token });

  app.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        operationId: 'healthz',
        summary: 'The process is alive',
        tags: ['health'],
        response: { 200: Type.Object({ status: Type.String() }) },
      },
    },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        operationId: 'readyz',
        summary: 'The database answers',
        tags: ['health'],
        response: {
          200: Type.Object({ status: Type.String() }),
          503: Type.Object({ status: Type.String() }),
        },
      },
    },
    async (request, reply) => {
      try {
        await deps.database.ping();
        return { status: 'ok' };
      } catch (error) {
        request.log.warn({ err: error }, 'readiness check failed');
        return reply.status(503).send({ status: 'unavailable' });
      }
    },
  );

  await app.register(authRoutes, {
    prefix: '/api/auth',
    authService: deps.authService,
    attemptLimiter: deps.authAttemptLimiter,
    session: config.auth.session,
    allowedOrigins: config.http.allowedOrigins,
  });
  await app.register(
    async (chat) => {
      await chat.register(channelsRoutes, {
        channelsService: deps.channelsService,
        lastMessageSchema: MessageSchema,
      });
      await chat.register(participantsRoutes, { participantsService: deps.participantsService });
      await chat.register(messagesRoutes, { messagesService: deps.messagesService });
      await chat.register(contextsRoutes, { contextsService: deps.contextsService });
      await chat.register(reactionsRoutes, { reactionsService: deps.reactionsService });
      await chat.register(moderationRoutes, {
        moderationService: deps.moderationService,
        historyRestorer: deps.historyRestorer,
      });
      await chat.register(moderationQueueRoutes, { moderationQueueService: deps.moderationQueueService });
      await chat.register(moderatorsRoutes, { moderatorsService: deps.moderatorsService });
      await chat.register(operationsRoutes, { operationsService: deps.operationsService });
      await chat.register(attachmentsRoutes, {
        attachmentsService: deps.attachmentsService,
        maxSize: config.attachments.maxSize,
      });
    },
    { prefix: '/api/chat' },
  );
  // Looked up at each call (tests replace service methods with spies).
  const canRead = (user: AuthUser, channelId: string) => deps.channelsService.canRead(user, channelId);
  const realtime = await registerRealtimeGateway(app, {
    bus: deps.bus,
    logger: deps.logger,
    eventLog: deps.eventLog,
    policies: { ...channelEventPolicies, ...participantEventPolicies, ...messageEventPolicies },
    viewerOf: (user) => ({ id: user.id, isModerator: isModerator(user) }),
    openChannel: (user, channelId) => deps.channelsService.openChannel(user, channelId),
    canRead,
    loadUser: (userId) => deps.authService.findUser(userId),
    sessionActive: (sessionKey) => deps.authService.isSessionActive(sessionKey),
    // Listed to clients in this order.
    frames: [
      messageSendFrames({ messagesService: deps.messagesService }),
      reactionFrames({ reactionsService: deps.reactionsService }),
      messagePinFrames({ messagesService: deps.messagesService }),
      typingFrames({ bus: deps.bus, canRead }),
      flagFrames({ moderationService: deps.moderationService }),
    ],
    onBusReconnect: deps.onBusReconnect,
    metrics: deps.metrics,
    settings: { ...config.realtime },
  });
  await registerNotificationSocket(app, realtime, {
    listChannelIds: (user) => deps.channelsService.listChannelIds(user),
  });
  return app;
}
