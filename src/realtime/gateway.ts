import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { Type } from 'typebox';
import type { RawData, WebSocket } from 'ws';
import type { Bus } from '../platform/bus/bus.js';
import type { Logger } from '../platform/logger/logger.js';
import { createMemoryRateLimiter, type RateLimitRule } from '../platform/rate-limit/rate-limit.js';
import { AppError, isAppError } from '../shared/errors.js';
import { ACCESS_TOPIC, type AccessChange } from './access-events.js';
import { ChannelStream, encodeEvent, type EventLogReader, type StreamEvent } from './channel-stream.js';
import { CloseCodes, Connection } from './connection.js';
import { parseInboundFrame, type FrameHandlers, type InboundFrame } from './frames.js';

type GatewayUser = { id: string; username: string; email: string; isStaff: boolean };

export type GatewayDependencies = {
  bus: Bus;
  logger: Logger;
  eventLog: EventLogReader & { firstSeq(channelId: string): Promise<number | undefined> };
  /** Checks (and records, for context members) that the user may read the channel; throws a 404 AppError. */
  openChannel(user: GatewayUser, channelId: string): Promise<void>;
  canRead(user: GatewayUser, channelId: string): Promise<boolean>;
  /** Whether a browser session (by key) still stands: not logged out, not expired. */
  sessionActive(sessionKey: string): Promise<boolean>;
  listChannelIds(user: GatewayUser): Promise<string[]>;
  handlers: FrameHandlers;
  onBusReconnect(handler: () => void): void;
  settings: {
    maxPayloadBytes: number;
    maxConnectionsPerUser: number;
    heartbeatIntervalMs: number;
    maxBufferedBytes: number;
    gapWaitMs: number;
    frameRateLimit: RateLimitRule | undefined;
  };
};

const REPLAY_BATCH = 500;
const TYPING_AUTO_STOP_MS = 3_000;
const TYPING_THROTTLE_MS = 1_000;
const MAX_QUEUED_FRAMES = 32;

const createTooManyConnectionsError = () =>
  new AppError({ status: 429, code: 'too_many_connections', detail: 'Too many open sockets for this user.' });

/**
 * The WebSocket transport: authenticated upgrades, per-channel ordered streams, replay from the
 * event log, heartbeat and backpressure. Business rules stay in the services it calls.
 */
export async function registerRealtimeGateway(app: FastifyInstance, deps: GatewayDependencies) {
  const { bus, logger, eventLog, settings } = deps;
  const streams = new Map<string, ChannelStream>();
  const connectionsByUser = new Map<string, Set<Connection>>();
  const notificationsByChannel = new Map<string, Set<Connection>>();
  const notificationChannels = new Map<Connection, Set<string>>();
  const frameLimiter = createMemoryRateLimiter(settings.frameRateLimit);
  const inbound = new WeakMap<Connection, { chain: Promise<void>; queued: number }>();
  const typing = new WeakMap<Connection, { active: boolean; lastSentAt: number; timer?: NodeJS.Timeout }>();
  let connectionCounter = 0;
  let shuttingDown = false;
  const seqAtUpgrade = new WeakMap<object, number>();
  const connectionIds = new WeakMap<Connection, number>();

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

  // ---- streams --------------------------------------------------------------------------------
  /**
   * Starts (or waits for) the channel's stream for a user of it, and calls `join` with it in the
   * same tick as it is found current. Undefined when the user has gone meanwhile (`wanted` is
   * false). A stream whose last user left while it was starting is stopped and out of the map by
   * then: the next one is started, rather than joining one that will never deliver.
   */
  async function acquireStream(
    channelId: string,
    wanted: () => boolean,
    join: (stream: ChannelStream) => void = () => undefined,
  ): Promise<ChannelStream | undefined> {
    for (;;) {
      let stream = streams.get(channelId);
      if (!stream) {
        const created = new ChannelStream(channelId, bus, eventLog, {
          gapWaitMs: settings.gapWaitMs,
          onEvent: (event) => onStreamEvent(created, event),
          onError: (error) => logger.warn({ err: error, channelId }, 'channel stream error'),
        });
        streams.set(channelId, (stream = created));
      }
      await stream.start(`channel:${channelId}`);
      if (!wanted()) {
        releaseStreamIfIdle(channelId);
        return undefined;
      }
      if (streams.get(channelId) !== stream) continue;
      join(stream);
      return stream;
    }
  }

  function releaseStreamIfIdle(channelId: string) {
    const stream = streams.get(channelId);
    if (!stream || stream.connections.size > 0 || (notificationsByChannel.get(channelId)?.size ?? 0) > 0)
      return;
    streams.delete(channelId);
    void stream.stop().catch((error: unknown) => logger.warn({ err: error }, 'stream stop failed'));
  }

  /**
   * Whether a logged event ends a channel socket's access: its user removed or gone, or the
   * channel deleted. Live events and replayed ones alike, so a socket never gets what follows.
   */
  function revocationBy(event: StreamEvent, userId: string): { code: number; reason: string } | undefined {
    const payload = event.payload ?? {};
    if (event.type === 'chat.participant' && (payload.action === 'removed' || payload.action === 'left')) {
      if ((payload.user as { id?: string } | undefined)?.id === userId)
        return { code: CloseCodes.forbidden, reason: 'access revoked' };
    } else if (event.type === 'chat.channel' && payload.action === 'deleted') {
      return { code: CloseCodes.notFound, reason: 'channel deleted' };
    }
    return undefined;
  }

  function onStreamEvent(stream: ChannelStream, event: StreamEvent) {
    const payload = event.payload ?? {};
    if (event.type === 'chat.message') {
      notify(stream.channelId, payload);
      return;
    }
    for (const connection of stream.connections) {
      const revoked = revocationBy(event, connection.user.id);
      if (revoked) connection.close(revoked.code, revoked.reason);
    }
    for (const connection of notificationsByChannel.get(stream.channelId) ?? []) {
      if (revocationBy(event, connection.user.id)) detachNotifications(connection, stream.channelId);
    }
  }

  // ---- notifications -----------------------------------------------------------------------------
  function notify(channelId: string, message: Record<string, unknown>) {
    const listeners = notificationsByChannel.get(channelId);
    if (!listeners || listeners.size === 0 || message.hidden_at) return;
    const sender = message.remetente as { id: string; username: string } | null;
    const text = typeof message.conteudo === 'string' ? message.conteudo : '';
    const frame = Buffer.from(
      JSON.stringify({
        type: 'chat.notification',
        channel: channelId,
        mensagem_id: message.id,
        remetente: sender,
        // End-to-end encrypted messages have no plaintext to preview.
        preview: message.conteudo_cifrado ? null : [...text].slice(0, 140).join(''),
      }),
    );
    for (const connection of listeners) {
      if (connection.user.id !== sender?.id) connection.sendRaw(frame);
    }
  }

  async function attachNotifications(connection: Connection, channelId: string) {
    const channels = notificationChannels.get(connection);
    if (!channels || channels.has(channelId)) return;
    channels.add(channelId);
    let listeners = notificationsByChannel.get(channelId);
    if (!listeners) notificationsByChannel.set(channelId, (listeners = new Set()));
    listeners.add(connection);
    await acquireStream(channelId, () => notificationsByChannel.get(channelId)?.has(connection) ?? false);
  }

  function detachNotifications(connection: Connection, channelId: string) {
    notificationChannels.get(connection)?.delete(channelId);
    const listeners = notificationsByChannel.get(channelId);
    listeners?.delete(connection);
    if (listeners?.size === 0) notificationsByChannel.delete(channelId);
    releaseStreamIfIdle(channelId);
  }

  // Each sync of a socket gets a number: an older one that answers late must not re-attach a
  // channel that a newer one (after a removal) already dropped.
  const notificationSyncs = new WeakMap<Connection, number>();

  /** Makes a notification socket follow exactly the channels its user may read now. */
  async function syncNotifications(connection: Connection) {
    const generation = (notificationSyncs.get(connection) ?? 0) + 1;
    notificationSyncs.set(connection, generation);
    const wanted = new Set(await deps.listChannelIds(connection.user));
    const current = notificationChannels.get(connection);
    if (!current || !connection.isOpen || notificationSyncs.get(connection) !== generation) return;
    for (const channelId of [...current])
      if (!wanted.has(channelId)) detachNotifications(connection, channelId);
    await Promise.all([...wanted].map((channelId) => attachNotifications(connection, channelId)));
  }

  // ---- access changes ---------------------------------------------------------------------------
  const unsubscribeAccess = await bus.subscribe(ACCESS_TOPIC, (message) => {
    let change: AccessChange;
    try {
      change = JSON.parse(message) as AccessChange;
    } catch {
      return;
    }
    if (change.kind === 'session') {
      for (const connections of connectionsByUser.values()) {
        for (const connection of connections) {
          if (connection.options.sessionKey === change.sessionKey)
            connection.close(CloseCodes.unauthorized, 'session ended');
        }
      }
      return;
    }
    for (const connection of connectionsByUser.get(change.userId) ?? []) void recheck(connection);
  });

  /** Re-checks a socket after an access change; its events are held back until the answer. */
  async function recheck(connection: Connection) {
    const channelId = connection.options.channelId;
    try {
      if (channelId === undefined) {
        if (await sessionStands(connection)) await syncNotifications(connection);
        return;
      }
      connection.hold();
      if (!(await sessionStands(connection))) return;
      if (await deps.canRead(connection.user, channelId)) connection.release();
      else connection.close(CloseCodes.forbidden, 'access revoked');
    } catch (error) {
      logger.warn({ err: error }, 'access re-check failed');
      // Fail closed: the client reconnects, and the upgrade checks access again.
      connection.close(1011, 'access check failed');
    }
  }

  /** A cookie socket whose session ended is closed (4401); bearer sockets have no session. */
  async function sessionStands(connection: Connection): Promise<boolean> {
    const key = connection.options.sessionKey;
    if (key === undefined || (await deps.sessionActive(key))) return true;
    connection.close(CloseCodes.unauthorized, 'session ended');
    return false;
  }

  // Access changes published while the bus was away never arrived: after a reconnection every
  // socket is checked again (in slices, not 10,000 queries at once), besides the streams' log reads.
  const RECHECK_SLICE = 100;
  deps.onBusReconnect(() => {
    for (const stream of streams.values()) void stream.fillGap();
    const everyone = [...connectionsByUser.values()].flatMap((connections) => [...connections]);
    void (async () => {
      for (let index = 0; index < everyone.length; index += RECHECK_SLICE) {
        const slice = everyone.slice(index, index + RECHECK_SLICE).filter((connection) => connection.isOpen);
        await Promise.all(slice.map((connection) => recheck(connection)));
      }
    })();
  });

  // ---- connection lifecycle ----------------------------------------------------------------------
  function track(connection: Connection) {
    let set = connectionsByUser.get(connection.user.id);
    if (!set) connectionsByUser.set(connection.user.id, (set = new Set()));
    set.add(connection);
    connectionIds.set(connection, ++connectionCounter);
  }

  function untrack(connection: Connection) {
    const set = connectionsByUser.get(connection.user.id);
    set?.delete(connection);
    if (set?.size === 0) connectionsByUser.delete(connection.user.id);
    const channelId = connection.options.channelId;
    if (channelId !== undefined) {
      streams.get(channelId)?.connections.delete(connection);
      releaseStreamIfIdle(channelId);
      stopTyping(connection, channelId);
    }
    for (const channel of [...(notificationChannels.get(connection) ?? [])])
      detachNotifications(connection, channel);
    notificationChannels.delete(connection);
  }

  function openConnection(
    socket: WebSocket,
    user: GatewayUser,
    options: { channelId?: string; sessionKey: string | null; upgrade: IncomingMessage },
  ) {
    const connection = new Connection(socket, user, {
      maxBufferedBytes: settings.maxBufferedBytes,
      channelId: options.channelId,
      sessionKey: options.sessionKey ?? undefined,
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
    socket.on('close', () => untrack(connection));
    // The upgrade's connection slot becomes this socket's, in the same tick.
    upgradeSlots.get(options.upgrade)?.();
    track(connection);
    // An upgrade that was still being checked when shutdown began: its socket goes the same way.
    if (shuttingDown) connection.close(CloseCodes.goingAway, 'server shutting down');
    return connection;
  }

  // Upgrades under way count against the cap from its check on: checked against open sockets
  // alone, parallel upgrades that each await the database before their socket is tracked would all
  // pass it.
  const upgradesByUser = new Map<string, number>();
  const upgradeSlots = new WeakMap<object, () => void>();

  /** Takes one of the user's connection slots for this upgrade (429 when none is left). */
  function reserveConnection(userId: string, raw: IncomingMessage) {
    const upgrading = upgradesByUser.get(userId) ?? 0;
    if ((connectionsByUser.get(userId)?.size ?? 0) + upgrading >= settings.maxConnectionsPerUser)
      throw createTooManyConnectionsError();
    upgradesByUser.set(userId, upgrading + 1);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      raw.socket.off('close', release);
      upgradeSlots.delete(raw);
      const left = (upgradesByUser.get(userId) ?? 1) - 1;
      if (left > 0) upgradesByUser.set(userId, left);
      else upgradesByUser.delete(userId);
    };
    // An upgrade that never reaches its handler (refused, or the client went away) gives it back.
    raw.socket.once('close', release);
    upgradeSlots.set(raw, release);
    return release;
  }

  // ---- inbound frames ----------------------------------------------------------------------------
  function onMessage(connection: Connection, channelId: string, data: RawData, isBinary: boolean) {
    if (isBinary) {
      connection.sendFrame({ type: 'error', code: 'binary_not_supported', detail: 'Send JSON text frames.' });
      return;
    }
    const state = inbound.get(connection) ?? { chain: Promise.resolve(), queued: 0 };
    inbound.set(connection, state);
    if (state.queued >= MAX_QUEUED_FRAMES) {
      connection.sendFrame({ type: 'error', code: 'rate_limited', detail: 'Too many frames in flight.' });
      return;
    }
    state.queued += 1;
    // Frames of one socket are handled in the order they arrived.
    state.chain = state.chain
      .then(() => handleFrame(connection, channelId, data))
      .catch((error: unknown) => logger.error({ err: error }, 'frame handling failed'))
      .finally(() => {
        state.queued -= 1;
      });
  }

  async function handleFrame(connection: Connection, channelId: string, data: RawData) {
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8');
    const budget = await frameLimiter.consume(String(connectionIds.get(connection)));
    if (!budget.allowed) {
      connection.sendFrame({ type: 'error', code: 'rate_limited', detail: 'Too many frames; slow down.' });
      return;
    }
    const parsed = parseInboundFrame(text);
    if (!parsed.ok) {
      connection.sendFrame({ type: 'error', ...parsed.error });
      return;
    }
    const frame = parsed.frame;
    const clientId = 'client_id' in frame ? frame.client_id : undefined;
    try {
      const reply = await dispatch(connection, channelId, frame);
      if (reply) connection.sendReply(reply);
    } catch (error) {
      const base = isAppError(error)
        ? { code: error.code, detail: error.detail }
        : { code: 'server_error', detail: 'Internal server error.' };
      if (!isAppError(error)) logger.error({ err: error }, 'frame handler failed');
      connection.sendFrame({ type: 'error', ...base, ...(clientId ? { client_id: clientId } : {}) });
    }
  }

  async function dispatch(
    connection: Connection,
    channelId: string,
    frame: InboundFrame,
  ): Promise<object | undefined> {
    const context = { user: connection.user, channelId };
    switch (frame.tipo) {
      case 'ping':
        return { type: 'pong', ...(frame.client_id ? { client_id: frame.client_id } : {}) };
      case 'typing_start':
      case 'typing_stop':
        if (!(await deps.canRead(connection.user, channelId)))
          throw new AppError({ status: 403, code: 'channels.not_member', detail: 'No access.' });
        if (frame.tipo === 'typing_start') startTyping(connection, channelId);
        else stopTyping(connection, channelId);
        return undefined;
      case 'reaction':
        return deps.handlers.reaction(context, frame);
      case 'pin':
      case 'unpin':
        return deps.handlers.pin(context, frame);
      default:
        return deps.handlers.send(context, frame);
    }
  }

  // ---- typing (ephemeral: no seq, not logged) -------------------------------------------------------
  function publishTyping(connection: Connection, channelId: string, action: 'start' | 'stop') {
    const event = {
      type: 'chat.typing',
      channel: channelId,
      payload: { action, username: connection.user.username, user_id: connection.user.id },
    };
    void bus.publish(`channel:${channelId}`, JSON.stringify(event)).catch(() => undefined);
  }

  function startTyping(connection: Connection, channelId: string) {
    const state = typing.get(connection) ?? { active: false, lastSentAt: 0 };
    typing.set(connection, state);
    const now = Date.now();
    if (!state.active || now - state.lastSentAt >= TYPING_THROTTLE_MS) {
      publishTyping(connection, channelId, 'start');
      state.lastSentAt = now;
    }
    state.active = true;
    clearTimeout(state.timer);
    state.timer = setTimeout(() => stopTyping(connection, channelId), TYPING_AUTO_STOP_MS);
    state.timer.unref();
  }

  function stopTyping(connection: Connection, channelId: string) {
    const state = typing.get(connection);
    if (!state?.active) return;
    clearTimeout(state.timer);
    state.active = false;
    publishTyping(connection, channelId, 'stop');
  }

  // ---- replay ------------------------------------------------------------------------------------
  /**
   * Sends the log after `connection.lastSeq`, pacing itself on the client's reading speed. False
   * when the log no longer starts right after it: retention pruned it meanwhile (the log has no
   * other gaps), and the client must resync instead of getting a jump.
   */
  async function replay(connection: Connection, channelId: string): Promise<boolean> {
    for (;;) {
      const events = await eventLog.listAfter(channelId, connection.lastSeq, REPLAY_BATCH);
      for (const event of events) {
        if (event.seq! > connection.lastSeq + 1) return false;
        connection.sendEvent(encodeEvent(event));
        const revoked = revocationBy(event, connection.user.id);
        if (revoked) {
          connection.close(revoked.code, revoked.reason);
          return true;
        }
        if (
          connection.socket.bufferedAmount > settings.maxBufferedBytes / 2 &&
          !(await connection.waitForDrain())
        )
          return true;
      }
      if (events.length < REPLAY_BATCH || !connection.isOpen) return true;
    }
  }

  const lastSeqOrZero = async (channelId: string) => (await eventLog.lastSeq(channelId)) ?? 0;

  async function attachToChannel(
    connection: Connection,
    channelId: string,
    since: number | undefined,
    seenAtUpgrade: number | undefined,
  ) {
    const stream = await acquireStream(
      channelId,
      () => connection.isOpen,
      (started) => started.connections.add(connection),
    );
    if (!stream) return;
    // From here on the stream closes this socket on a removal or deletion. One that committed
    // between the upgrade check and now would be missed, so look once more.
    const current = await eventLog.lastSeq(channelId);
    if (current === undefined) {
      connection.close(CloseCodes.notFound, 'channel deleted');
      return;
    }
    if (!(await deps.canRead(connection.user, channelId))) {
      connection.close(CloseCodes.forbidden, 'access revoked');
      return;
    }
    if (!(await sessionStands(connection))) return;
    const last = current;
    // The log no longer holds what the client missed (or the client is ahead of it): refetch.
    const requireResync = (lastSeq: number) => {
      // Live events go on from what the stream forwarded; never back over what was sent already.
      connection.lastSeq = Math.max(connection.lastSeq, Math.min(stream.position, lastSeq));
      connection.sendFrame({ type: 'resync_required', channel: channelId, last_seq: lastSeq });
    };
    if (since === undefined) {
      // Live from the moment of the upgrade: what was committed since then comes from the log.
      connection.lastSeq = seenAtUpgrade ?? last;
      if (!(await replay(connection, channelId))) requireResync(await lastSeqOrZero(channelId));
    } else {
      const first = await eventLog.firstSeq(channelId);
      const pruned = since < last && (first === undefined || first > since + 1);
      if (since > last || pruned) requireResync(last);
      else {
        connection.lastSeq = since;
        if (!(await replay(connection, channelId))) requireResync(await lastSeqOrZero(channelId));
      }
    }
    connection.release();
  }

  // ---- routes ------------------------------------------------------------------------------------
  app.get(
    '/ws/chat/notificacoes/',
    {
      websocket: true,
      config: { websocket: true },
      schema: {
        querystring: Type.Object(
          { token: Type.Optional(Type.String({ maxLength: 4096 })) },
          { additionalProperties: false },
        ),
      },
      preHandler: async (request) => {
        reserveConnection(request.user!.id, request.raw);
      },
    },
    (socket, request) => {
      const connection = openConnection(socket, request.user!, {
        sessionKey: request.sessionKey,
        upgrade: request.raw,
      });
      notificationChannels.set(connection, new Set());
      socket.on('message', () =>
        connection.sendFrame({
          type: 'error',
          code: 'read_only',
          detail: 'This socket only delivers notifications.',
        }),
      );
      connection.release();
      void syncNotifications(connection).catch((error: unknown) => {
        logger.warn({ err: error }, 'notification subscription failed');
        connection.close(1011, 'server error');
      });
    },
  );

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
        const release = reserveConnection(user.id, request.raw);
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
        channelId,
        sessionKey: request.sessionKey,
        upgrade: request.raw,
      });
      socket.on('message', (data, isBinary) => onMessage(connection, channelId, data, isBinary));
      void attachToChannel(connection, channelId, since, seqAtUpgrade.get(request.raw)).catch(
        (error: unknown) => {
          logger.warn({ err: error, channelId }, 'socket attach failed');
          connection.close(1011, 'server error');
        },
      );
    },
  );

  // ---- heartbeat and shutdown ----------------------------------------------------------------------
  // Each socket is pinged once per interval, but not all in the same tick: a ping to 10,000
  // sockets at once would stall the event loop (and every delivery) for a noticeable moment, so
  // the interval is cut into slices and each tick serves one slice of the sockets.
  const HEARTBEAT_SLICES = 16;
  let heartbeatTick = 0;
  const heartbeat = setInterval(
    () => {
      const slice = heartbeatTick++ % HEARTBEAT_SLICES;
      for (const connections of connectionsByUser.values()) {
        for (const connection of connections) {
          if ((connectionIds.get(connection) ?? 0) % HEARTBEAT_SLICES !== slice) continue;
          if (!connection.alive) {
            connection.socket.terminate();
            continue;
          }
          connection.alive = false;
          try {
            connection.socket.ping();
          } catch {
            connection.socket.terminate();
          }
        }
      }
    },
    Math.max(1, Math.floor(settings.heartbeatIntervalMs / HEARTBEAT_SLICES)),
  );
  heartbeat.unref();

  app.addHook('preClose', async () => {
    shuttingDown = true;
    clearInterval(heartbeat);
    for (const connections of [...connectionsByUser.values()]) {
      for (const connection of [...connections])
        connection.close(CloseCodes.goingAway, 'server shutting down');
    }
    await unsubscribeAccess();
    await Promise.all([...streams.values()].map((stream) => stream.stop()));
    streams.clear();
  });
}
