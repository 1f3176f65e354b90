import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Connection, SocketUser } from '../../realtime/connection.js';
import type { RealtimeKit } from '../../realtime/gateway.js';
import type { ChannelEvent, UserEvent } from '../../shared/events.js';
import { messageVisibility } from '../messages/messages.policy.js';
import { replyVisibility } from '../messages/messages.replies.js';
import './notifications.events.js';

const PREVIEW_CHARS = 140;

/** What a new message tells the user's other channels' listeners; undefined when nobody is told. */
export function toNotification(event: ChannelEvent<'chat.message'>): UserEvent<'chat.notification'> {
  const message = event.payload;
  return {
    type: 'chat.notification',
    channel: event.channel,
    mensagem_id: message.id,
    remetente: message.remetente,
    // End-to-end encrypted messages have no plaintext to preview.
    preview: message.conteudo_cifrado ? null : [...message.conteudo].slice(0, PREVIEW_CHARS).join(''),
    reply_to: message.reply_to,
  };
}

/**
 * The notification socket (`/ws/chat/notificacoes/`): follows every channel the user may read,
 * starting and stopping with access changes, and turns each new message into a
 * `chat.notification` — never for the user's own messages, and for a hidden one only to those
 * the messages' visibility rule lets see it.
 */
export async function registerNotificationSocket(
  app: FastifyInstance,
  kit: RealtimeKit,
  deps: { listChannelIds(user: SocketUser): Promise<string[]> },
) {
  const { streams, policy, registry, logger } = kit;
  const listenersByChannel = new Map<string, Set<Connection>>();
  const channelsOf = new Map<Connection, Set<string>>();
  // Each sync of a socket gets a number: an older one that answers late must not re-attach a
  // channel that a newer one (after a removal) already dropped.
  const syncs = new WeakMap<Connection, number>();

  streams.observe((stream, event) => {
    const listeners = listenersByChannel.get(stream.channelId);
    if (!listeners || listeners.size === 0 || !('seq' in event)) return;
    if (event.type === 'chat.message') {
      notify(event, listeners);
      return;
    }
    if (!policy.canEndAccess(event)) return;
    for (const connection of [...listeners])
      if (policy.endsAccess(event, connection.viewer)) detach(connection, stream.channelId);
  });

  function notify(event: ChannelEvent<'chat.message'>, listeners: Set<Connection>) {
    const message = event.payload;
    const notification = toNotification(event);
    const frame = Buffer.from(JSON.stringify(notification));
    // A reply to a hidden or spam message: non-moderators get its `reply_to` as unavailable.
    const redacted = replyVisibility.isRestricted(notification.reply_to)
      ? Buffer.from(
          JSON.stringify({ ...notification, reply_to: replyVisibility.redact(notification.reply_to) }),
        )
      : frame;
    for (const connection of listeners) {
      if (connection.user.id === message.remetente?.id) continue;
      if (!messageVisibility.canSee(message, connection.viewer)) continue;
      connection.sendRaw(messageVisibility.seesHidden(connection.viewer) ? frame : redacted);
    }
  }

  async function attach(connection: Connection, channelId: string) {
    const channels = channelsOf.get(connection);
    if (!channels || channels.has(channelId)) return;
    channels.add(channelId);
    let listeners = listenersByChannel.get(channelId);
    if (!listeners) listenersByChannel.set(channelId, (listeners = new Set()));
    listeners.add(connection);
    await streams.acquire(channelId, connection);
  }

  function detach(connection: Connection, channelId: string) {
    channelsOf.get(connection)?.delete(channelId);
    const listeners = listenersByChannel.get(channelId);
    listeners?.delete(connection);
    if (listeners?.size === 0) listenersByChannel.delete(channelId);
    streams.release(channelId, connection);
  }

  /** Makes a notification socket follow exactly the channels its user may read now. */
  async function sync(connection: Connection) {
    const generation = (syncs.get(connection) ?? 0) + 1;
    syncs.set(connection, generation);
    const wanted = new Set(await deps.listChannelIds(connection.user));
    const current = channelsOf.get(connection);
    if (!current || !connection.isOpen || syncs.get(connection) !== generation) return;
    for (const channelId of [...current]) if (!wanted.has(channelId)) detach(connection, channelId);
    await Promise.all([...wanted].map((channelId) => attach(connection, channelId)));
  }

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
        registry.reserve(request.user!.id, request.raw);
      },
    },
    (socket, request) => {
      const connection = kit.openConnection(socket, request.user!, {
        kind: 'notifications',
        sessionKey: request.sessionKey,
        upgrade: request.raw,
      });
      channelsOf.set(connection, new Set());
      connection.recheck = async () => {
        if (await kit.sessionStands(connection)) await sync(connection);
      };
      socket.on('close', () => {
        for (const channelId of [...(channelsOf.get(connection) ?? [])]) detach(connection, channelId);
        channelsOf.delete(connection);
      });
      socket.on('message', () =>
        connection.sendFrame({
          type: 'error',
          code: 'read_only',
          detail: 'This socket only delivers notifications.',
        }),
      );
      connection.release();
      void sync(connection).catch((error: unknown) => {
        logger.warn({ err: error }, 'notification subscription failed');
        connection.close(1011, 'server error');
      });
    },
  );
}
