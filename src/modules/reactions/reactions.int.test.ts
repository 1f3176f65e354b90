import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatEvents } from '../events/events.table.js';
import { chatMessages } from '../messages/messages.table.js';
import { chatMessageReactions } from './reactions.table.js';

type Message = {
  id: string;
  seq: number;
  conteudo: string;
  pinned_at: string | null;
  hidden_at: string | null;
  reactions: Record<string, number>;
  user_reactions?: string[];
};
type Page = { results: Message[]; next: string | null; previous: string | null };
type Response = Awaited<ReturnType<TestApp['inject']>>;

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const MAX_DISTINCT = 3;

function expectError(response: Response, status: number, code?: string) {
  expect(response.statusCode, response.body).toBe(status);
  const body = response.json() as { detail: unknown; code: unknown };
  expect(body.detail).toEqual(expect.any(String));
  if (code) expect(body.code).toBe(code);
}

describe.skipIf(skipDatabaseTests)('reactions and pins', () => {
  let t: TestApp;
  let client: ReturnType<typeof chatClient>;
  let alice: TestUser; // owner
  let bob: TestUser; // participant
  let carol: TestUser; // participant
  let dave: TestUser; // admin (not owner)
  let eve: TestUser; // outsider
  let staff: TestUser; // staff, not a participant
  let channelId: string;
  let otherChannelId: string;

  const db = () => t.deps.database.db;
  const base = (channel: string) => `/api/chat/channels/${channel}`;

  function react(user: TestUser, channel: string, messageId: string, body: unknown): Promise<Response> {
    return t.inject({
      method: 'POST',
      url: `${base(channel)}/messages/${messageId}/react/`,
      headers: user.auth,
      payload: body as Record<string, unknown>,
    });
  }
  async function reactOk(user: TestUser, channel: string, messageId: string, emoji: string) {
    const response = await react(user, channel, messageId, { emoji });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Message & { user_reactions: string[] };
  }
  function pin(user: TestUser, channel: string, messageId: string, action: 'pin' | 'unpin' = 'pin') {
    return t.inject({
      method: 'POST',
      url: `${base(channel)}/messages/${messageId}/${action}/`,
      headers: user.auth,
    });
  }
  async function listPins(user: TestUser, channel: string, query = ''): Promise<Page> {
    const response = await t.inject({ url: `${base(channel)}/pins/${query}`, headers: user.auth });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Page;
  }
  async function getMessage(user: TestUser, channel: string, messageId: string) {
    const response = await t.inject({ url: `${base(channel)}/messages/${messageId}/`, headers: user.auth });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Message;
  }
  async function send(user: TestUser, channel = channelId, conteudo = 'olá') {
    return (await client.sendMessage(user, channel, { conteudo })) as unknown as Message;
  }
  async function eventsOf(channel: string) {
    return db()
      .select({
        seq: chatEvents.seq,
        type: chatEvents.type,
        payload: chatEvents.payload,
        createdAt: chatEvents.createdAt,
      })
      .from(chatEvents)
      .where(eq(chatEvents.channelId, channel))
      .orderBy(asc(chatEvents.seq));
  }
  async function lastSeq(channel: string) {
    const [row] = await db()
      .select({ lastSeq: chatChannels.lastSeq })
      .from(chatChannels)
      .where(eq(chatChannels.id, channel));
    return row!.lastSeq;
  }
  async function reactionRows(messageId: string) {
    return db()
      .select({ userId: chatMessageReactions.userId, emoji: chatMessageReactions.emoji })
      .from(chatMessageReactions)
      .where(eq(chatMessageReactions.messageId, messageId));
  }

  beforeAll(async () => {
    t = await createTestApp({ REACTION_MAX_DISTINCT: String(MAX_DISTINCT) });
    client = chatClient(t);
    [alice, bob, carol, dave, eve] = await Promise.all([
      t.createUser(),
      t.createUser(),
      t.createUser(),
      t.createUser(),
      t.createUser(),
    ]);
    staff = await t.createUser({ staff: true });
    channelId = (await client.createChannel(alice, { participantes: [bob.id, carol.id, dave.id] })).id;
    await client.setRole(alice, channelId, dave, true);
    otherChannelId = (await client.createChannel(eve, { participantes: [] })).id;
  });
  afterAll(async () => t?.close());

  describe('POST messages/<mid>/react/', () => {
    it('toggles the caller’s reaction and answers the message with counts and user_reactions', async () => {
      const message = await send(bob);
      const first = await reactOk(alice, channelId, message.id, '👍');
      expect(first).toMatchObject({ id: message.id, seq: message.seq, conteudo: message.conteudo });
      expect(first.reactions).toEqual({ '👍': 1 });
      expect(first.user_reactions).toEqual(['👍']);

      const second = await reactOk(bob, channelId, message.id, '👍');
      expect(second.reactions).toEqual({ '👍': 2 });
      expect(second.user_reactions).toEqual(['👍']);

      const third = await reactOk(alice, channelId, message.id, '❤️');
      expect(third.reactions).toEqual({ '👍': 2, '❤️': 1 });
      expect([...third.user_reactions].sort()).toEqual(['❤️', '👍'].sort());

      // Toggling again removes only the caller's own reaction.
      const removed = await reactOk(alice, channelId, message.id, '👍');
      expect(removed.reactions).toEqual({ '👍': 1, '❤️': 1 });
      expect(removed.user_reactions).toEqual(['❤️']);

      const last = await reactOk(alice, channelId, message.id, '❤️');
      expect(last.reactions).toEqual({ '👍': 1 });
      expect(last.user_reactions).toEqual([]);

      expect(await reactionRows(message.id)).toEqual([{ userId: bob.id, emoji: '👍' }]);
      // Everyone reading the message sees the counts.
      expect((await getMessage(carol, channelId, message.id)).reactions).toEqual({ '👍': 1 });
    });

    it('accepts the configured reaction names and complex emoji graphemes', async () => {
      const message = await send(bob);
      const named = await reactOk(carol, channelId, message.id, 'like');
      expect(named.reactions).toEqual({ like: 1 });
      const family = await reactOk(carol, channelId, message.id, '👨‍👩‍👧');
      expect(family.reactions).toEqual({ like: 1, '👨‍👩‍👧': 1 });
      const flag = await reactOk(carol, channelId, message.id, '🇧🇷');
      expect(flag.user_reactions).toHaveLength(3);
    });

    it('refuses empty and invalid emoji with 400, writing nothing', async () => {
      const message = await send(bob);
      const seqBefore = await lastSeq(channelId);
      expectError(await react(alice, channelId, message.id, { emoji: '' }), 400);
      expectError(await react(alice, channelId, message.id, {}), 400);
      expectError(await react(alice, channelId, message.id, { emoji: 42 }), 400);
      for (const emoji of ['a', 'ab', '👍👍', '👍 ', ' ', 'LIKE', 'like ', '<b>', '1', 'x'.repeat(65)]) {
        const response = await react(alice, channelId, message.id, { emoji });
        expect(response.statusCode, `${JSON.stringify(emoji)}: ${response.body}`).toBe(400);
      }
      expectError(await react(alice, channelId, message.id, { emoji: 'ab' }), 400, 'reactions.invalid_emoji');
      expectError(
        await react(alice, channelId, message.id, { emoji: '👍👍' }),
        400,
        'reactions.invalid_emoji',
      );
      expect(await reactionRows(message.id)).toEqual([]);
      expect(await lastSeq(channelId)).toBe(seqBefore);
    });

    it(`caps the distinct emoji per message at REACTION_MAX_DISTINCT (${MAX_DISTINCT}) with 400`, async () => {
      const message = await send(bob);
      await reactOk(alice, channelId, message.id, '😀');
      await reactOk(alice, channelId, message.id, '😁');
      await reactOk(bob, channelId, message.id, '😂');
      const seqBefore = await lastSeq(channelId);
      expectError(await react(carol, channelId, message.id, { emoji: '🎉' }), 400, 'reactions.too_many');
      expectError(await react(alice, channelId, message.id, { emoji: 'like' }), 400, 'reactions.too_many');
      expect(await lastSeq(channelId)).toBe(seqBefore);
      // An emoji already on the message can still be added by someone else.
      expect((await reactOk(carol, channelId, message.id, '😀')).reactions).toEqual({
        '😀': 2,
        '😁': 1,
        '😂': 1,
      });
      // Once an emoji is gone, a new one fits again.
      await reactOk(bob, channelId, message.id, '😂');
      expect((await reactOk(carol, channelId, message.id, '🎉')).reactions).toEqual({
        '😀': 2,
        '😁': 1,
        '🎉': 1,
      });
    });

    it('the cap holds under concurrent toggles', async () => {
      const message = await send(bob);
      const users = [alice, bob, carol, dave];
      const emoji = ['🍎', '🍌', '🍇', '🍉', '🍒', '🍍'];
      const responses = await Promise.all(
        emoji.map((value, index) =>
          react(users[index % users.length]!, channelId, message.id, { emoji: value }),
        ),
      );
      expect(responses.filter((response) => response.statusCode === 200)).toHaveLength(MAX_DISTINCT);
      for (const response of responses.filter((r) => r.statusCode !== 200)) {
        expectError(response, 400, 'reactions.too_many');
      }
      const rows = await reactionRows(message.id);
      expect(new Set(rows.map((row) => row.emoji)).size).toBe(MAX_DISTINCT);
    });

    it('records a chat.reaction event per toggle in chat_events, in the same seq line as messages', async () => {
      const message = await send(bob);
      await reactOk(carol, channelId, message.id, '🔥');
      await reactOk(carol, channelId, message.id, '🔥');
      const events = await eventsOf(channelId);
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
      expect(await lastSeq(channelId)).toBe(events.length);
      const [added, removed] = events.slice(-2);
      expect(added).toMatchObject({
        seq: message.seq + 1,
        type: 'chat.reaction',
        payload: {
          mensagem_id: message.id,
          reactions: { '🔥': 1 },
          actor: { id: carol.id, username: carol.username },
          emoji: '🔥',
          action: 'added',
        },
      });
      expect(removed).toMatchObject({
        seq: message.seq + 2,
        type: 'chat.reaction',
        payload: {
          mensagem_id: message.id,
          reactions: {},
          actor: { id: carol.id, username: carol.username },
          emoji: '🔥',
          action: 'removed',
        },
      });
    });

    it('permissions: outsiders 404, staff outside the channel 403, foreign/deleted/hidden messages 404', async () => {
      const message = await send(bob);
      expectError(await react(eve, channelId, message.id, { emoji: '👍' }), 404, 'channels.not_found');
      expectError(await react(staff, channelId, message.id, { emoji: '👍' }), 403, 'channels.not_member');
      const anonymous = await t.inject({
        method: 'POST',
        url: `${base(channelId)}/messages/${message.id}/react/`,
        payload: { emoji: '👍' },
      });
      expect(anonymous.statusCode).toBe(401);

      // A message of another channel, through this channel's URL.
      const foreign = await send(eve, otherChannelId);
      expectError(await react(alice, channelId, foreign.id, { emoji: '👍' }), 404, 'messages.not_found');
      expectError(
        await react(alice, channelId, '00000000-0000-4000-8000-000000000000', { emoji: '👍' }),
        404,
        'messages.not_found',
      );

      const deleted = await send(bob);
      const deletion = await t.inject({
        method: 'DELETE',
        url: `${base(channelId)}/messages/${deleted.id}/`,
        headers: bob.auth,
      });
      expect(deletion.statusCode).toBe(204);
      expectError(await react(alice, channelId, deleted.id, { emoji: '👍' }), 404, 'messages.not_found');

      const hidden = await send(bob);
      await db().update(chatMessages).set({ hiddenAt: new Date() }).where(eq(chatMessages.id, hidden.id));
      expectError(await react(alice, channelId, hidden.id, { emoji: '👍' }), 404, 'messages.not_found');
      expect(await reactionRows(foreign.id)).toEqual([]);
      expect(await reactionRows(deleted.id)).toEqual([]);
      expect(await reactionRows(hidden.id)).toEqual([]);
    });

    it('a removed participant can no longer react', async () => {
      const frank = await t.createUser();
      const channel = (await client.createChannel(alice, { participantes: [frank.id] })).id;
      const message = await send(alice, channel);
      await reactOk(frank, channel, message.id, '👍');
      const removal = await t.inject({
        method: 'POST',
        url: `${base(channel)}/remove_participant/`,
        headers: alice.auth,
        payload: { usuarios: [frank.id] },
      });
      expect(removal.statusCode, removal.body).toBe(200);
      expectError(await react(frank, channel, message.id, { emoji: '👍' }), 404, 'channels.not_found');
    });
  });

  describe('pin / unpin / pins', () => {
    it('admins and owners pin and unpin; the message carries pinned_at', async () => {
      const message = await send(bob);
      const pinned = await pin(alice, channelId, message.id);
      expect(pinned.statusCode, pinned.body).toBe(200);
      const body = pinned.json() as Message;
      expect(body.id).toBe(message.id);
      expect(body.pinned_at).toMatch(ISO_TIMESTAMP);
      const [row] = await db().select().from(chatMessages).where(eq(chatMessages.id, message.id));
      expect(row!.pinnedAt?.toISOString()).toBe(body.pinned_at);
      expect((await getMessage(bob, channelId, message.id)).pinned_at).toBe(body.pinned_at);

      const unpinned = await pin(dave, channelId, message.id, 'unpin');
      expect(unpinned.statusCode, unpinned.body).toBe(200);
      expect((unpinned.json() as Message).pinned_at).toBeNull();
      expect((await getMessage(bob, channelId, message.id)).pinned_at).toBeNull();

      // A channel admin (not owner) can pin too.
      const byAdmin = await pin(dave, channelId, message.id);
      expect(byAdmin.statusCode, byAdmin.body).toBe(200);
      expect((byAdmin.json() as Message).pinned_at).toMatch(ISO_TIMESTAMP);
      expect((await pin(alice, channelId, message.id, 'unpin')).statusCode).toBe(200);
    });

    it('members get 403, outsiders 404, anonymous 401; staff may (admin rights everywhere)', async () => {
      const message = await send(bob);
      const seqBefore = await lastSeq(channelId);
      for (const action of ['pin', 'unpin'] as const) {
        expectError(await pin(bob, channelId, message.id, action), 403, 'channels.not_admin');
        expectError(await pin(carol, channelId, message.id, action), 403, 'channels.not_admin');
        expectError(await pin(eve, channelId, message.id, action), 404, 'channels.not_found');
        const anonymous = await t.inject({
          method: 'POST',
          url: `${base(channelId)}/messages/${message.id}/${action}/`,
        });
        expect(anonymous.statusCode).toBe(401);
      }
      expect(await lastSeq(channelId)).toBe(seqBefore);
      expect((await getMessage(bob, channelId, message.id)).pinned_at).toBeNull();

      const byStaff = await pin(staff, channelId, message.id);
      expect(byStaff.statusCode, byStaff.body).toBe(200);
      expect((byStaff.json() as Message).pinned_at).toMatch(ISO_TIMESTAMP);
      expect((await pin(staff, channelId, message.id, 'unpin')).statusCode).toBe(200);
    });

    it('pinning a message of another channel, a deleted or an unknown one answers 404', async () => {
      const foreign = await send(eve, otherChannelId);
      expectError(await pin(alice, channelId, foreign.id), 404, 'messages.not_found');
      const deleted = await send(bob);
      expect(
        (
          await t.inject({
            method: 'DELETE',
            url: `${base(channelId)}/messages/${deleted.id}/`,
            headers: alice.auth,
          })
        ).statusCode,
      ).toBe(204);
      expectError(await pin(alice, channelId, deleted.id), 404, 'messages.not_found');
      expectError(await pin(alice, channelId, '00000000-0000-4000-8000-000000000000'), 404);
      const [row] = await db().select().from(chatMessages).where(eq(chatMessages.id, foreign.id));
      expect(row!.pinnedAt).toBeNull();
    });

    it('records chat.pin events; repeating a pin or an unpin changes and logs nothing', async () => {
      const message = await send(bob);
      const first = (await pin(alice, channelId, message.id)).json() as Message;
      const again = await pin(alice, channelId, message.id);
      expect(again.statusCode).toBe(200);
      expect((again.json() as Message).pinned_at).toBe(first.pinned_at);
      expect((await pin(alice, channelId, message.id, 'unpin')).statusCode).toBe(200);
      expect((await pin(alice, channelId, message.id, 'unpin')).statusCode).toBe(200);

      const events = (await eventsOf(channelId)).filter(
        (event) => (event.payload as { mensagem_id?: string }).mensagem_id === message.id,
      );
      expect(events.map((event) => event.type)).toEqual(['chat.pin', 'chat.pin']);
      expect(events[0]!.payload).toEqual({ mensagem_id: message.id, pinned_at: first.pinned_at });
      expect(events[1]!.payload).toEqual({ mensagem_id: message.id, pinned_at: null });
      expect(events[0]!.seq).toBe(message.seq + 1);
      expect(events[1]!.seq).toBe(message.seq + 2);
      expect(await lastSeq(channelId)).toBe(message.seq + 2);
    });

    it('GET pins/ lists pinned messages only, newest first, with keyset pages', async () => {
      const channel = (await client.createChannel(alice, { participantes: [bob.id] })).id;
      const messages: Message[] = [];
      for (let i = 0; i < 5; i++) messages.push(await send(bob, channel, `m${i}`));
      expect((await listPins(bob, channel)).results).toEqual([]);
      for (const index of [0, 2, 3, 4])
        expect((await pin(alice, channel, messages[index]!.id)).statusCode).toBe(200);
      expect((await pin(alice, channel, messages[4]!.id, 'unpin')).statusCode).toBe(200);

      const all = await listPins(bob, channel);
      expect(all.results.map((message) => message.conteudo)).toEqual(['m3', 'm2', 'm0']);
      for (const message of all.results) expect(message.pinned_at).toMatch(ISO_TIMESTAMP);
      expect(all.next).toBeNull();

      const first = await listPins(bob, channel, '?limit=2');
      expect(first.results.map((message) => message.conteudo)).toEqual(['m3', 'm2']);
      expect(first.next).toEqual(expect.any(String));
      const url = new URL(first.next!);
      const second = await listPins(bob, channel, url.search);
      expect(second.results.map((message) => message.conteudo)).toEqual(['m0']);
      expect(second.next).toBeNull();

      // Hidden pinned messages: staff see them, participants do not.
      await db()
        .update(chatMessages)
        .set({ hiddenAt: new Date() })
        .where(eq(chatMessages.id, messages[2]!.id));
      expect((await listPins(bob, channel)).results.map((message) => message.conteudo)).toEqual(['m3', 'm0']);
      expect((await listPins(staff, channel)).results.map((message) => message.conteudo)).toEqual([
        'm3',
        'm2',
        'm0',
      ]);
      // Deleted pinned messages are gone for everyone.
      await db()
        .update(chatMessages)
        .set({ deletedAt: new Date() })
        .where(and(eq(chatMessages.id, messages[0]!.id), eq(chatMessages.channelId, channel)));
      expect((await listPins(staff, channel)).results.map((message) => message.conteudo)).toEqual([
        'm3',
        'm2',
      ]);
    });

    it('GET pins/: outsiders 404, anonymous 401, bad cursor 400', async () => {
      const outsider = await t.inject({ url: `${base(channelId)}/pins/`, headers: eve.auth });
      expectError(outsider, 404, 'channels.not_found');
      expect((await t.inject({ url: `${base(channelId)}/pins/` })).statusCode).toBe(401);
      expectError(await t.inject({ url: `${base(channelId)}/pins/?cursor=nope`, headers: bob.auth }), 400);
    });
  });
});
