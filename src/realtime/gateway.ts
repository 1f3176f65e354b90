import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { Type } from 'typebox';
import type { WebSocket } from 'ws';
import type { Bus } from '../platform/bus/bus.js';
import type { Logger } from '../platform/logger/logger.js';
import type { RateLimitRule } from '../platform/rate-limit/rate-limit.js';
import type { ChannelEventPolicies, Viewer } from '../shared/events.js';
import { subscribeTo, topics } from '../shared/topics.js';
import type { EventLogReader } from './channel-stream.js';
import { createChannelSockets } from './channel-socket.js';
import { createChannelStreams, type ChannelStreams } from './channel-streams.js';
import { createConnectionRegistry, type ConnectionRegistry } from './connection-registry.js';
import { CloseCodes, Connection, type ConnectionKind, type SocketUser } from './connection.js';
import { createEventPolicy, type EventPolicy } from './event-policy.js';
import { createFrameRouter, pingFrames, type FrameRegistration } from './frame-router.js';
import { startHeartbeat } from './heartbeat.js';
import { noRealtimeMetrics, type RealtimeMetrics } from './realtime-metrics.js';

export type GatewayDependencies = {
  bus: Bus;
  logger: Logger;
  eventLog: EventLogReader;
  /** The modules' viewer policies, by event type. */
  policies: ChannelEventPolicies;
  /** Who the user is to the policies (whether they moderate). */
  viewerOf(user: SocketUser): Viewer;
  /** Checks (and records, for context members) that the user may read the channel; throws a 404 AppError. */
  openChannel(user: SocketUser, channelId: string): Promise<void>;
  canRead(user: SocketUser, channelId: string): Promise<boolean>;
  /**
   * The user as the database has them now (undefined: gone or inactive). Every access re-check
   * refreshes a socket's user and viewer with it: a moderator grant or revocation applies at once.
   */
  loadUser(userId: string): Promise<SocketUser | undefined>;
  /** Whether a browser session (by key) still stands: not logged out, not expired. */
  sessionActive(sessionKey: string): Promise<boolean>;
  /** The modules' inbound frame types, in the order their tipos are listed to clients. */
  frames: FrameRegistration[];
  onBusReconnect(handler: () => void): void;
  metrics?: RealtimeMetrics;
  settings: {
    maxPayloadBytes: number;
    maxConnectionsPerUser: number;
    heartbeatIntervalMs: number;
    maxBufferedBytes: number;
    gapWaitMs: number;
    frameRateLimit: RateLimitRule | undefined;
  };
};

/** How a socket is opened: its kind, channel (channel sockets), session and upgrade request. */
export type OpenConnectionOptions = {
  kind: ConnectionKind;
  channelId?: string;
  sessionKey: string | null;
  upgrade: IncomingMessage;
};

/** What the gateway lends the modules that add sockets of their own (notifications). */
export type RealtimeKit = {
  streams: ChannelStreams;
  policy: EventPolicy;
  registry: ConnectionRegistry;
  logger: Logger;
  openConnection(socket: WebSocket, user: SocketUser, options: OpenConnectionOptions): Connection;
  /** A cookie socket whose session ended is closed (4401); bearer sockets have no session. */
  sessionStands(connection: Connection): Promise<boolean>;
};

// Access re-checks after a bus reconnection run in slices, not 10,000 queries at once.
const RECHECK_SLICE = 100;

/**
 * The WebSocket transport: authenticated upgrades, the channel socket, frames routed to the
 * modules that registered them, per-channel ordered streams, heartbeat and backpressure. What a
 * socket may receive is the modules' viewer policy; the transport reads no payload field.
 */
export async function registerRealtimeGateway(
  app: FastifyInstance,
  deps: GatewayDependencies,
): Promise<RealtimeKit> {
  const { bus, logger, eventLog, settings } = deps;
  const metrics = deps.metrics ?? noRealtimeMetrics;
  let shuttingDown = false;
  const registry = createConnectionRegistry({
    maxConnectionsPerUser: settings.maxConnectionsPerUser,
    onOpened: (kind) => metrics.socketOpened(kind),
    onClosed: (kind) => metrics.socketClosed(kind),
  });
  const policy = createEventPolicy(deps.policies);
  const streams = createChannelStreams({ bus, eventLog, policy, gapWaitMs: settings.gapWaitMs, logger });
  streams.observe((stream, event) => {
    if (!('seq' in event)) return;
    metrics.eventsDelivered(stream.connections.size);
    // Clocks of other nodes may run ahead a little: never a negative latency.
    metrics.observeCommitToDelivery(Math.max(0, Date.now() - Date.parse(event.created_at)) / 1000);
  });
  const router = createFrameRouter({
    logger,
    frameRateLimit: settings.frameRateLimit,
    idOf: registry.idOf,
    onAckTime: (seconds) => metrics.observeSendAck(seconds),
  });
  for (const registration of deps.frames) router.register(registration);
  router.register(pingFrames);

  async function sessionStands(connection: Connection): Promise<boolean> {
    const key = connection.options.sessionKey;
    if (key === undefined || (await deps.sessionActive(key))) return true;
    connection.close(CloseCodes.unauthorized, 'session ended');
    return false;
  }
  const channelSockets = createChannelSockets({
    streams,
    eventLog,
    policy,
    canRead: deps.canRead,
    sessionStands,
    maxBufferedBytes: settings.maxBufferedBytes,
  });

  await app.register(websocket, {
    options: {
      maxPayload: settings.maxPayloadBytes,
      perMessageDeflate: false,
      // Accept the `bearer, <token>` subprotocol convention by echoing `bearer`.
      handleProtocols: (protocols) => (protocols.has('bearer') ? 'bearer' : false),
    },
    // Sockets are closed in our own preClose hook, with 1001.
    preClose: (done) => done(),
  });

  // A refused upgrade is answered over plain HTTP on the raw socket, which nothing else would close
  // (and which would keep the server from shutting down).
  app.addHook('onResponse', async (request, reply) => {
    if (request.routeOptions.config.websocket && reply.statusCode >= 400) request.raw.socket?.destroySoon();
  });

  // ---- access changes ---------------------------------------------------------------------------
  async function recheck(connection: Connection) {
    // Live events wait while the user is re-read, so none is judged with the former viewer.
    connection.hold();
    try {
      const user = await deps.loadUser(connection.user.id);
      if (!user) {
        connection.close(CloseCodes.unauthorized, 'user inactive');
        return;
      }
      connection.user = user;
      connection.viewer = deps.viewerOf(user);
      await connection.recheck();
    } catch (error) {
      logger.warn({ err: error }, 'access re-check failed');
      // Fail closed: the client reconnects, and the upgrade checks access again.
      connection.close(1011, 'access check failed');
    } finally {
      connection.release();
    }
  }

  const unsubscribeAccess = await subscribeTo(bus, topics.access, (change) => {
    if (change.kind === 'session') {
      for (const connection of registry.all())
        if (connection.options.sessionKey === change.sessionKey)
          connection.close(CloseCodes.unauthorized, 'session ended');
      return;
    }
    for (const connection of [...registry.ofUser(change.userId)]) void recheck(connection);
  });

  // Access changes published while the bus was away never arrived: after a reconnection every
  // socket is checked again, besides the streams' log reads.
  deps.onBusReconnect(() => {
    streams.fillGaps();
    const everyone = [...registry.all()];
    void (async () => {
      for (let index = 0; index < everyone.length; index += RECHECK_SLICE) {
        const slice = everyone.slice(index, index + RECHECK_SLICE).filter((connection) => connection.isOpen);
        await Promise.all(slice.map((connection) => recheck(connection)));
      }
    })();
  });

  // ---- connections ---------------------------------------------------------------------------------
  function openConnection(socket: WebSocket, user: SocketUser, options: OpenConnectionOptions) {
    const connection = new Connection(socket, user, {
      maxBufferedBytes: settings.maxBufferedBytes,
      kind: options.kind,
      channelId: options.channelId,
      sessionKey: options.sessionKey ?? undefined,
      viewer: deps.viewerOf(user),
    });
    // Listeners first, before any await: a frame or an error may arrive at once. Ours replaces
    // the plugin's error listener, whose closure would keep the upgrade's request and reply
    // objects alive for as long as the socket is open (memory per idle connection).
    socket.removeAllListeners('error');
    socket.on('error', (error) => {
      logger.debug({ err: error }, 'socket error');
      socket.terminate();
    });
    socket.on('pong', () => {
      connection.alive = true;
    });
    socket.on('close', () => registry.untrack(connection));
    registry.track(connection, options.upgrade);
    // An upgrade that was still being checked when shutdown began: its socket goes the same way.
    if (shuttingDown) connection.close(CloseCodes.goingAway, 'server shutting down');
    return connection;
  }

  const seqAtUpgrade = new WeakMap<object, number>();
  app.get(
    '/ws/chat/:channelId/',
    {
      websocket: true,
      config: { websocket: true },
      schema: {
        params: Type.Object({ channelId: Type.String({ format: 'uuid' }) }),
        querystring: Type.Object(
          {
            since: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
            token: Type.Optional(Type.String({ maxLength: 4096 })),
          },
          { additionalProperties: false },
        ),
      },
      preHandler: async (request) => {
        const user = request.user!;
        const release = registry.reserve(user.id, request.raw);
        const { channelId } = request.params as { channelId: string };
        try {
          await deps.openChannel(user, channelId);
          seqAtUpgrade.set(request.raw, (await eventLog.lastSeq(channelId)) ?? 0);
        } catch (error) {
          release();
          throw error;
        }
      },
    },
    (socket, request) => {
      const { channelId } = request.params as { channelId: string };
      const { since } = request.query as { since?: number };
      const connection = openConnection(socket, request.user!, {
        kind: 'channel',
        channelId,
        sessionKey: request.sessionKey,
        upgrade: request.raw,
      });
      connection.recheck = () => channelSockets.recheck(connection, channelId);
      socket.on('message', (data, isBinary) => router.onMessage(connection, channelId, data, isBinary));
      socket.on('close', () => channelSockets.detach(connection, channelId));
      void channelSockets
        .attach(connection, channelId, since, seqAtUpgrade.get(request.raw))
        .catch((error: unknown) => {
          logger.warn({ err: error, channelId }, 'socket attach failed');
          connection.close(1011, 'server error');
        });
    },
  );

  // ---- heartbeat and shutdown ----------------------------------------------------------------------
  const stopHeartbeat = startHeartbeat(registry, settings.heartbeatIntervalMs);
  app.addHook('preClose', async () => {
    shuttingDown = true;
    stopHeartbeat();
    for (const connection of [...registry.all()])
      connection.close(CloseCodes.goingAway, 'server shutting down');
    await unsubscribeAccess();
    await streams.stopAll();
  });

  return { streams, policy, registry, logger, openConnection, sessionStands };
}
