import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { connectAs, listen, type Frame, type WsClient } from '../../../test/support/ws.js';
import { newId } from '../../shared/ids.js';
import { toChannelEvent } from '../../shared/events.js';
import { publishOn, topics } from '../../shared/topics.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatEvents } from '../events/events.table.js';
import { chatMessages } from './messages.table.js';
import { toMessageView } from './messages.views.js';

// The viewer policy of messages (messages.policy.ts) is one rule for every way a message reaches
// a viewer: a hidden message's content reaches moderators only — on live sockets, in `since`
// replays, in REST reads and in notifications.
describe.skipIf(skipDatabaseTests)('a hidden message, as the viewer policy shows it', () => {
  let t: TestApp;
  let base: string;
  let chat: ReturnType<typeof chatClient>;
  let alice: TestUser;
  let bob: TestUser;
  let moderator: TestUser;
  let channelId: string;
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    base = await listen(t);
    chat = chatClient(t);
    alice = await t.createUser();
    bob = await t.createUser();
    moderator = await t.createUser({ staff: true });
    channelId = (await chat.createChannel(alice, { participantes: [bob.id, moderator.id] })).id;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t?.close();
  });

  const open = (path: string, user: TestUser) => connectAs(base, path, user, sockets);
  const isSeq = (seq: number) => (frame: Frame) => frame.type === 'chat.message' && frame.seq === seq;

  /**
   * Stores a hidden message of alice's the way a write does (message row + logged event with the
   * channel's next seq, then published after the commit): moderation is what will hide messages,
   * and it is not built yet.
   */
  async function storeHiddenMessage(conteudo: string) {
    const db = t.deps.database.db;
    const now = new Date();
    const event = await db.transaction(async (tx) => {
      const [channel] = await tx
        .update(chatChannels)
        .set({ lastSeq: sql`${chatChannels.lastSeq} + 1` })
        .where(eq(chatChannels.id, channelId))
        .returning({ seq: chatChannels.lastSeq });
      const [message] = await tx
        .insert(chatMessages)
        .values({
          id: newId(),
          channelId,
          remetenteId: alice.id,
          tipo: 'text',
          conteudo,
          seq: channel!.seq,
          hiddenAt: now,
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      const payload = toMessageView({ message: message!, username: alice.username });
      await tx.insert(chatEvents).values({
        id: newId(),
        channelId,
        seq: channel!.seq,
        type: 'chat.message',
        payload,
        createdAt: now,
        updatedAt: now,
      });
      return toChannelEvent({ channelId, type: 'chat.message', payload }, channel!.seq, now);
    });
    await publishOn(t.deps.bus, topics.channel(channelId), event);
    return event;
  }

  it('reaches moderators with its content and everyone else without it, on every path', async () => {
    const bobLive = await open(`/ws/chat/${channelId}/`, bob);
    const moderatorLive = await open(`/ws/chat/${channelId}/`, moderator);
    const bobNotifications = await open('/ws/chat/notificacoes/', bob);
    const moderatorNotifications = await open('/ws/chat/notificacoes/', moderator);
    // Every socket follows the channel before the message is stored.
    const ready = await chat.sendMessage(alice, channelId, { conteudo: 'ready' });
    for (const socket of [bobLive, moderatorLive]) await socket.waitFor(isSeq(ready.seq));
    for (const socket of [bobNotifications, moderatorNotifications])
      await socket.waitFor((frame) => frame.mensagem_id === ready.id);

    const hidden = await storeHiddenMessage('segredo');
    const { seq, payload } = hidden;

    // Live delivery.
    expect((await bobLive.waitFor(isSeq(seq))).payload).toMatchObject({
      id: payload.id,
      conteudo: '',
      conteudo_cifrado: null,
      hidden_at: payload.hidden_at,
    });
    expect((await moderatorLive.waitFor(isSeq(seq))).payload).toMatchObject({
      id: payload.id,
      conteudo: 'segredo',
    });

    // Notifications: the moderator is told, bob is not (he is told of the next one).
    expect(await moderatorNotifications.waitFor((frame) => frame.mensagem_id === payload.id)).toMatchObject({
      type: 'chat.notification',
      preview: 'segredo',
    });
    const next = await chat.sendMessage(alice, channelId, { conteudo: 'visible' });
    await bobNotifications.waitFor((frame) => frame.mensagem_id === next.id);
    expect(bobNotifications.frames.map((frame) => frame.mensagem_id)).toEqual([ready.id, next.id]);

    // Replay with `since`.
    const bobReplay = await open(`/ws/chat/${channelId}/?since=${seq - 1}`, bob);
    expect((await bobReplay.waitFor(isSeq(seq))).payload).toMatchObject({
      conteudo: '',
      hidden_at: payload.hidden_at,
    });
    const moderatorReplay = await open(`/ws/chat/${channelId}/?since=${seq - 1}`, moderator);
    expect((await moderatorReplay.waitFor(isSeq(seq))).payload).toMatchObject({ conteudo: 'segredo' });

    // REST reads.
    const list = async (user: TestUser) =>
      (
        (
          await t.inject({
            method: 'GET',
            url: `/api/chat/channels/${channelId}/messages/`,
            headers: user.auth,
          })
        ).json() as { results: Array<{ id: string; conteudo: string }> }
      ).results;
    expect((await list(bob)).map((message) => message.id)).toEqual([ready.id, next.id]);
    expect((await list(moderator)).find((message) => message.id === payload.id)).toMatchObject({
      conteudo: 'segredo',
    });
    const single = (user: TestUser) =>
      t.inject({
        method: 'GET',
        url: `/api/chat/channels/${channelId}/messages/${payload.id}/`,
        headers: user.auth,
      });
    expect((await single(bob)).statusCode).toBe(404);
    expect((await single(moderator)).json()).toMatchObject({ id: payload.id, conteudo: 'segredo' });
  });
});
