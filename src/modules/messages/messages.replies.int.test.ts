import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { connectAs, listen, type Frame, type WsClient } from '../../../test/support/ws.js';
import { chatMessages } from './messages.table.js';

type Preview = { id: string; indisponivel?: true; conteudo?: string; [key: string]: unknown };
type Message = { id: string; seq: number; reply_to: Preview | null };

// A reply's `reply_to` is its parent's preview on every path (REST list, single read, the send's
// answer, live events, `since` replays, notifications); a hidden, spam or deleted parent shows
// `{id, indisponivel: true}` to non-moderators (deleted: to everyone), read at delivery time.
describe.skipIf(skipDatabaseTests)('reply previews', () => {
  let t: TestApp;
  let base: string;
  let chat: ReturnType<typeof chatClient>;
  let alice: TestUser;
  let bob: TestUser;
  let moderator: TestUser;
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    base = await listen(t);
    chat = chatClient(t);
    alice = await t.createUser();
    bob = await t.createUser();
    moderator = await t.createUser({ staff: true });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t?.close();
  });

  const newChannel = async (body: Record<string, unknown> = {}) =>
    (await chat.createChannel(alice, { participantes: [bob.id, moderator.id], ...body })).id;
  const open = (path: string, user: TestUser) => connectAs(base, path, user, sockets);
  const send = async (user: TestUser, channelId: string, body: Record<string, unknown>) =>
    (await chat.sendMessage(user, channelId, body)) as unknown as Message;
  const read = async (user: TestUser, channelId: string, messageId: string) => {
    const response = await t.inject({
      url: `/api/chat/channels/${channelId}/messages/${messageId}/`,
      headers: user.auth,
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<Message>();
  };
  const listed = async (user: TestUser, channelId: string, messageId: string) => {
    const response = await t.inject({
      url: `/api/chat/channels/${channelId}/messages/?limit=200`,
      headers: user.auth,
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json<{ results: Message[] }>().results.find((message) => message.id === messageId)!;
  };
  /** The reply as each path of REST shows it to this user: list and single read agree. */
  const restPreview = async (user: TestUser, channelId: string, messageId: string) => {
    const fromList = (await listed(user, channelId, messageId)).reply_to;
    expect((await read(user, channelId, messageId)).reply_to).toEqual(fromList);
    return fromList;
  };
  const setParent = (id: string, values: Partial<typeof chatMessages.$inferInsert>) =>
    t.deps.database.db.update(chatMessages).set(values).where(eq(chatMessages.id, id));
  const payloadAt = async (socket: WsClient, seq: number) =>
    (await socket.waitFor((frame: Frame) => frame.type === 'chat.message' && frame.seq === seq))
      .payload as Message;
  const unavailable = (id: string) => ({ id, indisponivel: true });

  it('carries the preview on the send, list, single read and live event; cut at 120 characters', async () => {
    const channelId = await newChannel();
    const live = await open(`/ws/chat/${channelId}/`, bob);
    // 10 astral characters (two UTF-16 units each) then 200 letters: 120 characters are 10 + 110.
    const long = '😀'.repeat(10) + 'x'.repeat(200);
    const parent = await send(alice, channelId, { conteudo: long });
    const reply = await send(bob, channelId, { conteudo: 'resposta', reply_to: parent.id });
    const expected = {
      id: parent.id,
      remetente: { id: alice.id, username: alice.username },
      conteudo: '😀'.repeat(10) + 'x'.repeat(110),
      tipo: 'text',
      hidden_at: null,
      is_spam: false,
    };
    expect(reply.reply_to).toEqual(expected);
    expect(await restPreview(alice, channelId, reply.id)).toEqual(expected);
    expect((await payloadAt(live, reply.seq)).reply_to).toEqual(expected);
    // Not a reply: null everywhere.
    expect((await read(alice, channelId, parent.id)).reply_to).toBeNull();
    expect((await payloadAt(live, parent.seq)).reply_to).toBeNull();
  });

  it('the socket send path carries it too', async () => {
    const channelId = await newChannel();
    const parent = await send(alice, channelId, { conteudo: 'pelo socket' });
    const b = await open(`/ws/chat/${channelId}/`, bob);
    b.send({ tipo: 'text', conteudo: 'resposta', reply_to: parent.id, client_id: 'r-1' });
    const ack = await b.waitFor((frame) => frame.type === 'ack' && frame.client_id === 'r-1');
    expect((await payloadAt(b, ack.seq as number)).reply_to).toMatchObject({
      id: parent.id,
      conteudo: 'pelo socket',
      remetente: { id: alice.id },
    });
  });

  it('a parent hidden or marked spam after the reply: unavailable to non-moderators, whole to moderators (read time)', async () => {
    for (const state of [{ hiddenAt: new Date() }, { isSpam: true }] as const) {
      const channelId = await newChannel();
      const parent = await send(alice, channelId, { conteudo: 'polêmica' });
      const reply = await send(bob, channelId, { conteudo: 'resposta', reply_to: parent.id });
      await setParent(parent.id, state);
      for (const user of [alice, bob]) {
        expect(await restPreview(user, channelId, reply.id)).toEqual(unavailable(parent.id));
      }
      const whole = await restPreview(moderator, channelId, reply.id);
      expect(whole).toMatchObject({ id: parent.id, conteudo: 'polêmica' });
      expect(whole!.hidden_at !== null || whole!.is_spam).toBe(true);
    }
  });

  it('a deleted parent is unavailable to everyone, moderators included', async () => {
    const channelId = await newChannel();
    const parent = await send(alice, channelId, { conteudo: 'apagada' });
    const reply = await send(bob, channelId, { conteudo: 'resposta', reply_to: parent.id });
    const deleted = await t.inject({
      method: 'DELETE',
      url: `/api/chat/channels/${channelId}/messages/${parent.id}/`,
      headers: alice.auth,
    });
    expect(deleted.statusCode).toBe(204);
    for (const user of [alice, bob, moderator]) {
      expect(await restPreview(user, channelId, reply.id)).toEqual(unavailable(parent.id));
    }
  });

  it("a moderator's reply to a hidden parent: live and in notifications, non-moderators get it unavailable", async () => {
    const channelId = await newChannel();
    const parent = await send(alice, channelId, { conteudo: 'escondida' });
    await setParent(parent.id, { hiddenAt: new Date() });
    const bobLive = await open(`/ws/chat/${channelId}/`, bob);
    const modLive = await open(`/ws/chat/${channelId}/`, moderator);
    const bobNotes = await open('/ws/chat/notificacoes/', bob);
    const aliceNotes = await open('/ws/chat/notificacoes/', alice);
    // The notification sockets follow their channels once a sentinel gets through.
    const sentinel = await send(moderator, channelId, { conteudo: 'sentinela' });
    await bobNotes.waitFor((frame) => frame.mensagem_id === sentinel.id);
    await aliceNotes.waitFor((frame) => frame.mensagem_id === sentinel.id);

    const reply = await send(moderator, channelId, { conteudo: 'resposta', reply_to: parent.id });
    expect(reply.reply_to).toMatchObject({ id: parent.id, conteudo: 'escondida' });
    expect((await payloadAt(bobLive, reply.seq)).reply_to).toEqual(unavailable(parent.id));
    expect((await payloadAt(modLive, reply.seq)).reply_to).toMatchObject({
      id: parent.id,
      conteudo: 'escondida',
      hidden_at: expect.any(String),
    });
    const note = await bobNotes.waitFor((frame) => frame.mensagem_id === reply.id);
    expect(note.reply_to).toEqual(unavailable(parent.id));
    expect((await aliceNotes.waitFor((frame) => frame.mensagem_id === reply.id)).reply_to).toEqual(
      unavailable(parent.id),
    );
    // A non-moderator still may not reply to it (validated as before).
    const refused = await t.inject({
      method: 'POST',
      url: `/api/chat/channels/${channelId}/messages/`,
      headers: bob.auth,
      payload: { tipo: 'text', conteudo: 'x', reply_to: parent.id },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json()).toMatchObject({ code: 'messages.invalid_reply_to' });
  });

  it('notifications carry the preview of a visible parent', async () => {
    const channelId = await newChannel();
    const notes = await open('/ws/chat/notificacoes/', alice);
    const sentinel = await send(bob, channelId, { conteudo: 'sentinela' });
    await notes.waitFor((frame) => frame.mensagem_id === sentinel.id);
    const parent = await send(alice, channelId, { conteudo: 'pergunta' });
    const reply = await send(bob, channelId, { conteudo: 'resposta', reply_to: parent.id });
    const note = await notes.waitFor((frame) => frame.mensagem_id === reply.id);
    expect(note).toMatchObject({
      type: 'chat.notification',
      preview: 'resposta',
      reply_to: {
        id: parent.id,
        conteudo: 'pergunta',
        remetente: { id: alice.id, username: alice.username },
        tipo: 'text',
      },
    });
  });

  it('a since replay shows the parent as it is now: hidden after the reply was sent → unavailable to non-moderators', async () => {
    const channelId = await newChannel();
    const parent = await send(alice, channelId, { conteudo: 'antes visível' });
    const reply = await send(bob, channelId, { conteudo: 'resposta', reply_to: parent.id });
    const other = await send(bob, channelId, { conteudo: 'sem resposta' });
    await setParent(parent.id, { hiddenAt: new Date() });

    const bobReplay = await open(`/ws/chat/${channelId}/?since=${parent.seq}`, bob);
    expect((await payloadAt(bobReplay, reply.seq)).reply_to).toEqual(unavailable(parent.id));
    expect((await payloadAt(bobReplay, other.seq)).reply_to).toBeNull();
    const modReplay = await open(`/ws/chat/${channelId}/?since=${parent.seq}`, moderator);
    expect((await payloadAt(modReplay, reply.seq)).reply_to).toMatchObject({
      id: parent.id,
      conteudo: 'antes visível',
      hidden_at: expect.any(String),
    });

    // Deleted since: unavailable for everyone.
    await setParent(parent.id, { deletedAt: new Date() });
    const again = await open(`/ws/chat/${channelId}/?since=${parent.seq}`, moderator);
    expect((await payloadAt(again, reply.seq)).reply_to).toEqual(unavailable(parent.id));
  });

  it('an E2EE parent previews without text', async () => {
    const channelId = await newChannel({ e2ee_habilitado: true });
    const cipher = { tipo: 'text', conteudo: undefined, alg: 'AES-GCM', key_version: 1 };
    const parent = await send(alice, channelId, { ...cipher, conteudo_cifrado: 'Y2lmcmFkbw==' });
    const reply = await send(bob, channelId, {
      ...cipher,
      conteudo_cifrado: 'cmVzcG9zdGE=',
      reply_to: parent.id,
    });
    const expected = {
      id: parent.id,
      remetente: { id: alice.id, username: alice.username },
      conteudo: '',
      tipo: 'text',
      hidden_at: null,
      is_spam: false,
    };
    expect(reply.reply_to).toEqual(expected);
    expect(await restPreview(bob, channelId, reply.id)).toEqual(expected);
  });
});
