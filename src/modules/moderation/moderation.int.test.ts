import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import {
  busEnv,
  buses,
  connect,
  listen,
  type Frame,
  type WsClient,
  connectAs,
} from '../../../test/support/ws.js';
import { chatEvents } from '../events/events.table.js';
import { chatMessageFlags } from './moderation.table.js';

// Flags and automatic hiding: POST …/flag/ and the `flag` frame; at FLAG_HIDE_THRESHOLD (3 here)
// distinct flaggers the message is hidden for everyone but moderators, once — on both buses.
describe.skipIf(skipDatabaseTests).each(buses)('flagging messages ($name)', ({ redis, skip }) => {
  let t: TestApp;
  let base: string;
  let chat: ReturnType<typeof chatClient>;
  let owner: TestUser;
  let members: TestUser[];
  let moderator: TestUser;
  let outsider: TestUser;
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    if (skip) return;
    t = await createTestApp({ ...busEnv(redis), FLAG_HIDE_THRESHOLD: '3', CHAT_FLAG_RATE_LIMIT: '0' });
    base = await listen(t);
    chat = chatClient(t);
    owner = await t.createUser();
    members = [await t.createUser(), await t.createUser(), await t.createUser(), await t.createUser()];
    moderator = await t.createUser({ staff: true });
    outsider = await t.createUser();
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t?.close();
  });

  async function channelWithMessage() {
    const channel = await chat.createChannel(owner, {
      participantes: [...members.map((member) => member.id), moderator.id],
    });
    const message = await chat.sendMessage(owner, channel.id, { conteudo: 'ofensivo' });
    return { channelId: channel.id, message };
  }
  const flag = (user: TestUser, channelId: string, messageId: string, payload: object = {}) =>
    t.inject({
      method: 'POST',
      url: `/api/chat/channels/${channelId}/messages/${messageId}/flag/`,
      headers: user.auth,
      payload,
    });
  const flagCount = async (messageId: string) =>
    (
      await t.deps.database.db
        .select()
        .from(chatMessageFlags)
        .where(eq(chatMessageFlags.messageId, messageId))
    ).length;
  const moderationEvents = (channelId: string) =>
    t.deps.database.db
      .select()
      .from(chatEvents)
      .where(and(eq(chatEvents.channelId, channelId), eq(chatEvents.type, 'chat.moderation')));
  const open = (path: string, user: TestUser) => connectAs(base, path, user, sockets);

  it.skipIf(skip)(
    'three flags hide the message for non-moderators at once, with one chat.moderation event',
    async () => {
      const { channelId, message } = await channelWithMessage();
      const live = await open(`/ws/chat/${channelId}/`, members[3]!);
      const ready = await chat.sendMessage(owner, channelId, { conteudo: 'ready' });
      await live.waitFor((frame) => frame.seq === ready.seq);

      expect((await flag(members[0]!, channelId, message.id, { motivo: 'spam' })).json()).toEqual({
        flags: 1,
      });
      expect((await flag(members[1]!, channelId, message.id)).json()).toEqual({ flags: 2 });
      // Still visible below the threshold.
      const single = (user: TestUser) =>
        t.inject({ url: `/api/chat/channels/${channelId}/messages/${message.id}/`, headers: user.auth });
      expect((await single(members[3]!)).statusCode).toBe(200);
      expect((await flag(members[2]!, channelId, message.id)).json()).toEqual({ flags: 3 });

      const hidden = await live.waitFor((frame) => frame.type === 'chat.moderation');
      expect(hidden).toMatchObject({
        channel: channelId,
        payload: { action: 'hidden', mensagem_id: message.id },
      });
      expect(await moderationEvents(channelId)).toHaveLength(1);
      expect((await single(members[3]!)).statusCode).toBe(404);
      expect((await single(moderator)).json()).toMatchObject({ id: message.id, conteudo: 'ofensivo' });
      const list = async (user: TestUser) =>
        (
          (
            await t.inject({ url: `/api/chat/channels/${channelId}/messages/`, headers: user.auth })
          ).json() as {
            results: Array<{ id: string }>;
          }
        ).results.map((row) => row.id);
      expect(await list(members[3]!)).not.toContain(message.id);
      expect(await list(moderator)).toContain(message.id);
      // A replay from before it gives non-moderators the message without its content.
      const replay = await open(`/ws/chat/${channelId}/?since=${message.seq - 1}`, members[3]!);
      const replayed = await replay.waitFor((frame: Frame) => frame.seq === message.seq);
      expect(replayed.payload).toMatchObject({ conteudo: '' });
      // Hidden now: a non-moderator can no longer see it to flag it.
      expect((await flag(members[3]!, channelId, message.id)).statusCode).toBe(404);
    },
  );

  it.skipIf(skip)(
    "refuses a second flag (409), the sender's own message (400) and ids of other channels or outsiders (404), recording nothing",
    async () => {
      const { channelId, message } = await channelWithMessage();
      const other = await channelWithMessage();
      expect((await flag(members[0]!, channelId, message.id)).statusCode).toBe(200);
      const again = await flag(members[0]!, channelId, message.id);
      expect(again.statusCode).toBe(409);
      expect(again.json()).toMatchObject({ code: 'moderation.already_flagged' });
      const own = await flag(owner, channelId, message.id);
      expect(own.statusCode).toBe(400);
      expect(own.json()).toMatchObject({ code: 'moderation.own_message' });
      // Another channel's message through this channel's path.
      const foreign = await flag(members[1]!, channelId, other.message.id);
      expect(foreign.statusCode).toBe(404);
      expect(foreign.json()).toMatchObject({ code: 'messages.not_found' });
      expect((await flag(outsider, channelId, message.id)).statusCode).toBe(404);
      expect((await flag(members[1]!, channelId, message.id, { motivo: 'x'.repeat(501) })).statusCode).toBe(
        400,
      );
      expect(await flagCount(message.id)).toBe(1);
      expect(await flagCount(other.message.id)).toBe(0);
    },
  );

  it.skipIf(skip)(
    'takes the flag frame on the socket, with the count in its ack and errors as frames',
    async () => {
      const { channelId, message } = await channelWithMessage();
      const socket = await open(`/ws/chat/${channelId}/`, members[0]!);
      socket.send({ tipo: 'flag', mensagem_id: message.id, motivo: 'rude', client_id: 'f-1' });
      expect(await socket.waitFor((frame) => frame.type === 'ack')).toEqual({
        type: 'ack',
        tipo: 'flag',
        client_id: 'f-1',
        mensagem_id: message.id,
        flags: 1,
      });
      socket.send({ tipo: 'flag', mensagem_id: message.id, client_id: 'f-2' });
      expect(await socket.waitFor((frame) => frame.type === 'error')).toMatchObject({
        code: 'moderation.already_flagged',
        client_id: 'f-2',
      });
    },
  );

  it.skipIf(skip)(
    'counts the same user flagging twice at once once, and three users at once hide the message once',
    async () => {
      const { channelId, message } = await channelWithMessage();
      const twice = await Promise.all([
        flag(members[0]!, channelId, message.id),
        flag(members[0]!, channelId, message.id),
      ]);
      expect(twice.map((response) => response.statusCode).sort()).toEqual([200, 409]);
      expect(await flagCount(message.id)).toBe(1);

      const second = await channelWithMessage();
      const three = await Promise.all(
        members.slice(0, 3).map((member) => flag(member, second.channelId, second.message.id)),
      );
      expect(three.map((response) => response.statusCode)).toEqual([200, 200, 200]);
      expect(three.map((response) => (response.json() as { flags: number }).flags).sort()).toEqual([1, 2, 3]);
      expect(await moderationEvents(second.channelId)).toHaveLength(1);
    },
  );
});

describe.skipIf(skipDatabaseTests)('moderators approve and remove', () => {
  let t: TestApp;
  let base: string;
  let chat: ReturnType<typeof chatClient>;
  let owner: TestUser;
  let flaggers: TestUser[];
  let moderator: TestUser;
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    t = await createTestApp({ FLAG_HIDE_THRESHOLD: '2', CHAT_FLAG_RATE_LIMIT: '0' });
    base = await listen(t);
    chat = chatClient(t);
    owner = await t.createUser();
    flaggers = [await t.createUser(), await t.createUser()];
    moderator = await t.createUser({ staff: true });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t?.close();
  });

  /** A channel with a message that two flags hid, and a live socket of a flagger on it. */
  async function hiddenMessage() {
    const channel = await chat.createChannel(owner, { participantes: flaggers.map((user) => user.id) });
    const message = await chat.sendMessage(owner, channel.id, { conteudo: 'duvidoso' });
    for (const user of flaggers) {
      const response = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${channel.id}/messages/${message.id}/flag/`,
        headers: user.auth,
        payload: {},
      });
      expect(response.statusCode, response.body).toBe(200);
    }
    const socket = await connect(`${base}/ws/chat/${channel.id}/?token=${flaggers[0]!.token}`);
    sockets.push(socket);
    return { channelId: channel.id, message, socket };
  }
  const decide = (user: TestUser, messageId: string, decision: 'approve' | 'remove') =>
    t.inject({
      method: 'POST',
      url: `/api/chat/moderacao/messages/${messageId}/${decision}/`,
      headers: user.auth,
    });
  const read = (user: TestUser, channelId: string, messageId: string) =>
    t.inject({ url: `/api/chat/channels/${channelId}/messages/${messageId}/`, headers: user.auth });

  it('approve makes a hidden message visible again, clears its flags and broadcasts chat.moderation approved', async () => {
    const { channelId, message, socket } = await hiddenMessage();
    expect((await read(flaggers[1]!, channelId, message.id)).statusCode).toBe(404);
    const response = await decide(moderator, message.id, 'approve');
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ id: message.id, channel: channelId, action: 'approved' });
    expect(await socket.waitFor((frame) => frame.type === 'chat.moderation')).toMatchObject({
      payload: { action: 'approved', mensagem_id: message.id },
    });
    expect((await read(flaggers[1]!, channelId, message.id)).json()).toMatchObject({
      conteudo: 'duvidoso',
      hidden_at: null,
    });
    const flags = await t.deps.database.db
      .select()
      .from(chatMessageFlags)
      .where(eq(chatMessageFlags.messageId, message.id));
    // Cleared: kept for the record, resolved, so they no longer count toward hiding.
    expect(flags.length).toBeGreaterThan(0);
    expect(flags.every((flag) => flag.resolvedAt !== null)).toBe(true);
  });

  it('remove deletes the message for everyone and broadcasts chat.moderation removed', async () => {
    const { channelId, message, socket } = await hiddenMessage();
    const response = await decide(moderator, message.id, 'remove');
    expect(response.json()).toEqual({ id: message.id, channel: channelId, action: 'removed' });
    expect(await socket.waitFor((frame) => frame.type === 'chat.moderation')).toMatchObject({
      payload: { action: 'removed', mensagem_id: message.id },
    });
    expect((await read(flaggers[1]!, channelId, message.id)).statusCode).toBe(404);
    expect((await read(moderator, channelId, message.id)).statusCode).toBe(404);
    // Once removed, there is nothing left to decide on.
    expect((await decide(moderator, message.id, 'approve')).statusCode).toBe(404);
  });

  it('refuses everyone but moderators (403) and unknown messages (404), changing nothing', async () => {
    const { channelId, message } = await hiddenMessage();
    for (const user of [owner, flaggers[0]!]) {
      for (const decision of ['approve', 'remove'] as const) {
        const response = await decide(user, message.id, decision);
        expect(response.statusCode).toBe(403);
        expect(response.json()).toMatchObject({ code: 'moderation.not_moderator' });
      }
    }
    expect(
      (await t.inject({ method: 'POST', url: `/api/chat/moderacao/messages/${message.id}/approve/` }))
        .statusCode,
    ).toBe(401);
    expect((await decide(moderator, '0190f5b2-7c1a-7d3e-8a4b-1c2d3e4f5a6b', 'remove')).statusCode).toBe(404);
    expect((await read(flaggers[1]!, channelId, message.id)).statusCode).toBe(404);
    expect((await read(moderator, channelId, message.id)).json()).toMatchObject({ conteudo: 'duvidoso' });
    expect(
      await t.deps.database.db
        .select()
        .from(chatEvents)
        .where(and(eq(chatEvents.channelId, channelId), eq(chatEvents.type, 'chat.moderation'))),
    ).toHaveLength(1);
  });
});

describe.skipIf(skipDatabaseTests)("a message's edit history", () => {
  let t: TestApp;
  let chat: ReturnType<typeof chatClient>;
  let owner: TestUser;
  let sender: TestUser;
  let other: TestUser;
  let moderator: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    chat = chatClient(t);
    owner = await t.createUser();
    sender = await t.createUser();
    other = await t.createUser();
    moderator = await t.createUser({ staff: true });
  });
  afterAll(async () => t?.close());

  const history = (user: TestUser, channelId: string, messageId: string) =>
    t.inject({ url: `/api/chat/channels/${channelId}/messages/${messageId}/history/`, headers: user.auth });
  const edit = async (user: TestUser, channelId: string, messageId: string, conteudo: string) => {
    const response = await t.inject({
      method: 'PATCH',
      url: `/api/chat/channels/${channelId}/messages/${messageId}/`,
      headers: user.auth,
      payload: { conteudo },
    });
    expect(response.statusCode, response.body).toBe(200);
  };

  it('lists what each edit replaced, oldest first, to the sender, channel admins and moderators only', async () => {
    const channel = await chat.createChannel(owner, { participantes: [sender.id, other.id] });
    const message = await chat.sendMessage(sender, channel.id, { conteudo: 'v1' });
    await edit(sender, channel.id, message.id, 'v2');
    await edit(owner, channel.id, message.id, 'v3');
    const expected = [
      { conteudo: 'v1', editor: { id: sender.id, username: sender.username } },
      { conteudo: 'v2', editor: { id: owner.id, username: owner.username } },
    ];
    for (const user of [sender, owner, moderator]) {
      const response = await history(user, channel.id, message.id);
      expect(response.statusCode, response.body).toBe(200);
      expect((response.json() as { results: unknown[] }).results).toMatchObject(expected);
    }
    const refused = await history(other, channel.id, message.id);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: 'moderation.history_forbidden' });
    // Another channel's message through this channel's path, and outsiders: 404.
    const elsewhere = await chat.createChannel(owner);
    const foreign = await chat.sendMessage(owner, elsewhere.id, { conteudo: 'alheia' });
    expect((await history(owner, channel.id, foreign.id)).statusCode).toBe(404);
    expect((await history(other, elsewhere.id, foreign.id)).statusCode).toBe(404);
    expect((await history(sender, channel.id, foreign.id)).json()).toMatchObject({
      code: 'messages.not_found',
    });
  });
});
