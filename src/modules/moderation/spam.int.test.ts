import { and, eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../app/build-app.js';
import { createDependencies } from '../../app/dependencies.js';
import { loadConfig } from '../../config/config.js';
import { createTestApp, TEST_JWT_SECRET, type TestApp, type TestUser } from '../../../test/support/app.js';
import { makeTempDir } from '../../../test/support/temp-dirs.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import {
  buses,
  connectAs,
  listen,
  skipRedisTests,
  TEST_REDIS_URL,
  uniqueRedisPrefix,
  type Frame,
  type WsClient,
} from '../../../test/support/ws.js';
import { chatMessages } from '../messages/messages.table.js';
import { chatModerationLogs, chatModerationQueue } from './moderation.table.js';

// The spam rules of issue 13 with their real limits: 20 sends a minute, 3 identical, 3 links, and
// a suspicious domain. Each limit is tried at exactly the limit (normal) and one over (spam), over
// REST and over the socket; spam is stored hidden, queued and logged, and its sender sees it as sent.
const SPAM_ENV = {
  CHAT_SPAM_MESSAGES_PER_MINUTE: '20',
  CHAT_SPAM_REPEAT_LIMIT: '3',
  CHAT_SPAM_LINK_LIMIT: '3',
  CHAT_SPAM_DOMAINS: 'spam.example, Promo.Test',
};

type View = { id: string; seq: number; conteudo: string; hidden_at: string | null; is_spam: boolean };
const links = (n: number) => Array.from({ length: n }, (_, i) => `https://site${i}.example/p`).join(' ');

/** What the database holds about a message's spam state: the row, its queue entry, its spam logs. */
async function spamRecord(t: TestApp, messageId: string) {
  const db = t.deps.database.db;
  const [row] = await db.select().from(chatMessages).where(eq(chatMessages.id, messageId));
  const queue = await db
    .select()
    .from(chatModerationQueue)
    .where(eq(chatModerationQueue.messageId, messageId));
  const logs = await db
    .select()
    .from(chatModerationLogs)
    .where(and(eq(chatModerationLogs.messageId, messageId), eq(chatModerationLogs.action, 'spam')));
  return { row: row!, queue, logs };
}

describe.skipIf(skipDatabaseTests).each(buses)('spam rules on one node ($name)', ({ redis, skip }) => {
  let t: TestApp;
  let base: string;
  let chat: ReturnType<typeof chatClient>;
  let owner: TestUser;
  let other: TestUser;
  let moderator: TestUser;
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    if (skip) return;
    t = await createTestApp({
      ...(redis ? { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: uniqueRedisPrefix() } : {}),
      ...SPAM_ENV,
    });
    base = await listen(t);
    chat = chatClient(t);
    owner = await t.createUser();
    other = await t.createUser();
    moderator = await t.createUser({ staff: true });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t?.close();
  });

  /** A fresh spammer (budgets are per user) in a channel with the owner, another member and a moderator. */
  async function setup() {
    const spammer = await t.createUser();
    const channel = await chat.createChannel(owner, {
      participantes: [spammer.id, other.id, moderator.id],
    });
    return { spammer, channelId: channel.id };
  }
  const post = (user: TestUser, channelId: string, body: Record<string, unknown>) =>
    t.inject({
      method: 'POST',
      url: `/api/chat/channels/${channelId}/messages/`,
      headers: user.auth,
      payload: { tipo: 'text', ...body },
    });
  async function sendRest(user: TestUser, channelId: string, conteudo: string): Promise<View> {
    const response = await post(user, channelId, { conteudo });
    expect(response.statusCode, response.body).toBe(201);
    return response.json();
  }
  const open = (path: string, user: TestUser) => connectAs(base, path, user, sockets);
  let frameId = 0;
  async function sendSocket(socket: WsClient, conteudo: string) {
    const clientId = `f-${++frameId}`;
    const from = socket.frames.length;
    socket.send({ tipo: 'text', conteudo, client_id: clientId });
    return socket.waitFor((frame) => frame.client_id === clientId, 5_000, from);
  }
  /** The REST reply or ack must look like any sent message, then the database says spam or not. */
  async function expectNormal(messageId: string) {
    const { row, queue, logs } = await spamRecord(t, messageId);
    expect({ isSpam: row.isSpam, hiddenAt: row.hiddenAt, queue, logs }).toEqual({
      isSpam: false,
      hiddenAt: null,
      queue: [],
      logs: [],
    });
  }
  async function expectSpam(messageId: string, sender: TestUser, channelId: string, reason: string) {
    const { row, queue, logs } = await spamRecord(t, messageId);
    expect(row.isSpam).toBe(true);
    expect(row.hiddenAt).toBeInstanceOf(Date);
    expect(queue).toEqual([
      expect.objectContaining({ channelId, status: 'pendente', isSpam: true, flagCount: 0 }),
    ]);
    expect(logs).toEqual([
      expect.objectContaining({ channelId, action: 'spam', moderatorId: sender.id, reason }),
    ]);
  }
  const asSent = (view: View, conteudo: string) =>
    expect(view).toMatchObject({ conteudo, hidden_at: null, is_spam: false });

  it.skipIf(skip)(
    'rate over REST: 20 sends in a minute are fine, the 21st is spam (any channels)',
    async () => {
      const { spammer, channelId } = await setup();
      // One budget across channels: 5 of the 20 go to another channel.
      const second = await chat.createChannel(owner, { participantes: [spammer.id] });
      const sent: View[] = [];
      for (let i = 1; i <= 20; i++)
        sent.push(await sendRest(spammer, i <= 5 ? second.id : channelId, `m ${i}`));
      for (const view of sent) await expectNormal(view.id);
      const over = await sendRest(spammer, channelId, 'm 21');
      asSent(over, 'm 21');
      await expectSpam(over.id, spammer, channelId, 'rate');
      // Someone else's budget is their own.
      await expectNormal((await sendRest(other, channelId, 'hello')).id);
    },
  );

  it.skipIf(skip)(
    'rate over the socket: the 20th frame is acked normally, the 21st too but is spam',
    async () => {
      const { spammer, channelId } = await setup();
      const socket = await open(`/ws/chat/${channelId}/`, spammer);
      const acks: Frame[] = [];
      for (let i = 1; i <= 21; i++) acks.push(await sendSocket(socket, `s ${i}`));
      for (const ack of acks) expect(ack).toMatchObject({ type: 'ack', id: expect.any(String) });
      expect(Object.keys(acks[20]!).sort()).toEqual(Object.keys(acks[19]!).sort());
      await expectNormal(acks[19]!.id as string);
      await expectSpam(acks[20]!.id as string, spammer, channelId, 'rate');
    },
  );

  it.skipIf(skip)(
    'repeat: 3 identical messages are fine, the 4th (normalized) is spam; REST then socket',
    async () => {
      const { spammer, channelId } = await setup();
      const first = [
        await sendRest(spammer, channelId, 'Buy now'),
        await sendRest(spammer, channelId, '  buy   NOW '),
        await sendRest(spammer, channelId, 'something else'),
        await sendRest(spammer, channelId, 'buy now'),
      ];
      for (const view of first) await expectNormal(view.id);
      const fourth = await sendRest(spammer, channelId, 'BUY now');
      asSent(fourth, 'BUY now');
      await expectSpam(fourth.id, spammer, channelId, 'repeat');

      const { spammer: viaSocket, channelId: socketChannel } = await setup();
      const socket = await open(`/ws/chat/${socketChannel}/`, viaSocket);
      const acks = [];
      for (let i = 0; i < 4; i++) acks.push(await sendSocket(socket, 'same again'));
      for (const ack of acks.slice(0, 3)) await expectNormal(ack.id as string);
      await expectSpam(acks[3]!.id as string, viaSocket, socketChannel, 'repeat');
    },
  );

  it.skipIf(skip)('links: 3 links are fine, 4 are spam; REST and socket', async () => {
    const { spammer, channelId } = await setup();
    await expectNormal((await sendRest(spammer, channelId, `three ${links(3)}`)).id);
    const four = await sendRest(spammer, channelId, `four ${links(4)}`);
    asSent(four, `four ${links(4)}`);
    await expectSpam(four.id, spammer, channelId, 'links');

    const socket = await open(`/ws/chat/${channelId}/`, spammer);
    await expectNormal((await sendSocket(socket, `www.a.example www.b.example ${links(1)}`)).id as string);
    const ack = await sendSocket(socket, `www.a.example www.b.example ${links(2)}`);
    await expectSpam(ack.id as string, spammer, channelId, 'links');
  });

  it.skipIf(skip)(
    'domain: a link to a listed domain or a subdomain is spam, a look-alike is not',
    async () => {
      const { spammer, channelId } = await setup();
      await expectNormal((await sendRest(spammer, channelId, 'see https://notspam.example/x')).id);
      await expectNormal((await sendRest(spammer, channelId, 'see https://spam.example.org/x')).id);
      const sub = await sendRest(spammer, channelId, 'win at https://win.SPAM.example/now');
      await expectSpam(sub.id, spammer, channelId, 'domain');
      const socket = await open(`/ws/chat/${channelId}/`, spammer);
      const ack = await sendSocket(socket, 'cheap at promo.test/deal');
      await expectSpam(ack.id as string, spammer, channelId, 'domain');
    },
  );

  it.skipIf(skip)(
    'the spammer sees it as sent; other participants never get its content; moderators see is_spam and hidden_at',
    async () => {
      const { spammer, channelId } = await setup();
      const before = await sendRest(owner, channelId, 'before');
      const spammerLive = await open(`/ws/chat/${channelId}/`, spammer);
      const otherLive = await open(`/ws/chat/${channelId}/`, other);
      const moderatorLive = await open(`/ws/chat/${channelId}/`, moderator);
      const notifications = await open('/ws/chat/notificacoes/', other);
      const ready = await sendRest(owner, channelId, 'ready');
      for (const socket of [spammerLive, otherLive, moderatorLive])
        await socket.waitFor((frame) => frame.seq === ready.seq);
      await notifications.waitFor((frame) => frame.mensagem_id === ready.id);

      const spam = await sendRest(spammer, channelId, `buy ${links(4)}`);
      const content = `buy ${links(4)}`;
      asSent(spam, content);
      await expectSpam(spam.id, spammer, channelId, 'links');
      const after = await sendRest(owner, channelId, 'after');

      // Live: the spammer gets it as sent, the other participant without content, the moderator as is.
      const live = async (socket: WsClient) =>
        (await socket.waitFor((frame) => frame.seq === spam.seq)).payload as View;
      asSent(await live(spammerLive), content);
      expect(await live(otherLive)).toMatchObject({
        id: spam.id,
        conteudo: '',
        hidden_at: expect.any(String),
      });
      expect(await live(moderatorLive)).toMatchObject({
        conteudo: content,
        is_spam: true,
        hidden_at: expect.any(String),
      });
      // No notification of it for the other participant (the next message's does arrive).
      await notifications.waitFor((frame) => frame.mensagem_id === after.id);
      expect(notifications.frames.some((frame) => frame.mensagem_id === spam.id)).toBe(false);

      // REST list and single read.
      const list = async (user: TestUser) =>
        (
          (
            await t.inject({ url: `/api/chat/channels/${channelId}/messages/`, headers: user.auth })
          ).json() as {
            results: View[];
          }
        ).results;
      const single = (user: TestUser) =>
        t.inject({ url: `/api/chat/channels/${channelId}/messages/${spam.id}/`, headers: user.auth });
      asSent(
        (await list(spammer)).find((row) => row.id === spam.id)!,
        content,
      );
      asSent((await single(spammer)).json(), content);
      expect((await list(other)).map((row) => row.id)).toEqual([before.id, ready.id, after.id]);
      expect((await single(other)).statusCode).toBe(404);
      expect((await single(owner)).statusCode).toBe(404);
      expect((await list(moderator)).find((row) => row.id === spam.id)).toMatchObject({
        conteudo: content,
        is_spam: true,
        hidden_at: expect.any(String),
      });
      expect((await single(moderator)).json()).toMatchObject({
        is_spam: true,
        hidden_at: expect.any(String),
      });

      // A `since` replay: the same three views.
      const replay = async (user: TestUser) => {
        const socket = await open(`/ws/chat/${channelId}/?since=${before.seq}`, user);
        return (await socket.waitFor((frame) => frame.seq === spam.seq)).payload as View;
      };
      asSent(await replay(spammer), content);
      expect(await replay(other)).toMatchObject({ conteudo: '', hidden_at: expect.any(String) });
      expect(await replay(moderator)).toMatchObject({ conteudo: content, is_spam: true });

      // The sender may reply to it (others may not: for them it does not exist).
      const reply = await post(spammer, channelId, { conteudo: 'reply', reply_to: spam.id });
      expect(reply.statusCode, reply.body).toBe(201);
      // Its preview: as sent to the sender, unavailable to others, as is to moderators.
      expect(reply.json().reply_to).toEqual({
        id: spam.id,
        remetente: { id: spammer.id, username: spammer.username },
        conteudo: content,
        tipo: 'text',
        hidden_at: null,
        is_spam: false,
      });
      const replyId = (reply.json() as { id: string }).id;
      const previewFor = async (user: TestUser) =>
        (
          (
            await t.inject({
              url: `/api/chat/channels/${channelId}/messages/${replyId}/`,
              headers: user.auth,
            })
          ).json() as { reply_to: unknown }
        ).reply_to;
      expect(await previewFor(spammer)).toMatchObject({ id: spam.id, conteudo: content, is_spam: false });
      expect(await previewFor(other)).toEqual({ id: spam.id, indisponivel: true });
      expect(await previewFor(moderator)).toMatchObject({ id: spam.id, conteudo: content, is_spam: true });
      const refused = await post(other, channelId, { conteudo: 'reply', reply_to: spam.id });
      expect(refused.statusCode, refused.body).toBe(400);

      // The sender can still edit it like any message of theirs: the edit stays hidden from others.
      const edited = await t.inject({
        method: 'PATCH',
        url: `/api/chat/channels/${channelId}/messages/${spam.id}/`,
        headers: spammer.auth,
        payload: { conteudo: 'edited' },
      });
      expect(edited.statusCode, edited.body).toBe(200);
      asSent(edited.json(), 'edited');
      const update = await otherLive.waitFor((frame) => frame.type === 'chat.message.updated');
      expect(update.payload).toMatchObject({ id: spam.id, conteudo: '' });
      const ownUpdate = await spammerLive.waitFor((frame) => frame.type === 'chat.message.updated');
      asSent(ownUpdate.payload as View, 'edited');
    },
  );

  it.skipIf(skip)(
    'a retried spam send (same client_id) stores one message, one queue row and one log',
    async () => {
      const { spammer, channelId } = await setup();
      const body = { conteudo: `retry ${links(4)}`, client_id: 'spam-retry-1' };
      const first = await post(spammer, channelId, body);
      expect(first.statusCode, first.body).toBe(201);
      const again = await post(spammer, channelId, body);
      expect(again.statusCode, again.body).toBe(200);
      expect(again.json()).toMatchObject({ id: first.json().id, hidden_at: null, is_spam: false });
      // Over the socket too.
      const socket = await open(`/ws/chat/${channelId}/`, spammer);
      const from = socket.frames.length;
      socket.send({ tipo: 'text', ...body });
      const ack = await socket.waitFor((frame) => frame.client_id === body.client_id, 5_000, from);
      expect(ack).toMatchObject({ type: 'ack', id: first.json().id });

      const rows = await t.deps.database.db
        .select()
        .from(chatMessages)
        .where(and(eq(chatMessages.channelId, channelId), eq(chatMessages.clientId, body.client_id)));
      expect(rows).toHaveLength(1);
      await expectSpam(first.json().id, spammer, channelId, 'links');
    },
  );
});

// Two app instances on one database sharing REDIS_URL and REDIS_PREFIX: one budget per user.
describe.skipIf(skipDatabaseTests || skipRedisTests)('spam budgets across two nodes sharing Redis', () => {
  let nodeA: TestApp;
  let nodeB: { app: FastifyInstance; close(): Promise<void> };
  let owner: TestUser;

  beforeAll(async () => {
    const env = { REDIS_URL: TEST_REDIS_URL, REDIS_PREFIX: uniqueRedisPrefix(), ...SPAM_ENV };
    nodeA = await createTestApp(env);
    // The same settings as createTestApp's (tokens signed by node A are valid on node B).
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'silent',
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: makeTempDir('hubx-test-'),
      CHAT_SEND_RATE_LIMIT: '0',
      ...env,
    });
    const deps = await createDependencies(config, { database: nodeA.database.handle });
    const app = await buildApp(deps);
    await app.ready();
    nodeB = {
      app,
      async close() {
        await app.close();
        await deps.close();
      },
    };
    owner = await nodeA.createUser();
  });
  afterAll(async () => {
    await nodeB?.close();
    await nodeA?.close();
  });

  const send = async (
    node: { app: FastifyInstance },
    user: TestUser,
    channelId: string,
    conteudo: string,
  ) => {
    const response = await node.app.inject({
      method: 'POST',
      url: `/api/chat/channels/${channelId}/messages/`,
      headers: user.auth,
      payload: { tipo: 'text', conteudo },
    });
    expect(response.statusCode, response.body).toBe(201);
    return response.json() as View;
  };
  const isSpam = async (id: string) => (await spamRecord(nodeA, id)).row.isSpam;
  async function spammerIn() {
    const spammer = await nodeA.createUser();
    const channel = await chatClient(nodeA).createChannel(owner, { participantes: [spammer.id] });
    return { spammer, channelId: channel.id };
  }

  it('20 sends split across the nodes are fine; the 21st is spam on either node', async () => {
    const { spammer, channelId } = await spammerIn();
    const sent = [];
    for (let i = 1; i <= 20; i++) sent.push(await send(i % 2 ? nodeA : nodeB, spammer, channelId, `n ${i}`));
    for (const view of sent) expect(await isSpam(view.id)).toBe(false);
    const onB = await send(nodeB, spammer, channelId, 'n 21');
    expect(onB).toMatchObject({ is_spam: false, hidden_at: null });
    expect(await isSpam(onB.id)).toBe(true);
    expect(await isSpam((await send(nodeA, spammer, channelId, 'n 22')).id)).toBe(true);
    const logs = await spamRecord(nodeA, onB.id);
    expect(logs.logs).toEqual([expect.objectContaining({ reason: 'rate', moderatorId: spammer.id })]);
  });

  it('3 identical messages across the nodes are fine; the 4th is spam', async () => {
    const { spammer, channelId } = await spammerIn();
    const three = [
      await send(nodeA, spammer, channelId, 'same'),
      await send(nodeB, spammer, channelId, 'same'),
      await send(nodeA, spammer, channelId, 'SAME'),
    ];
    for (const view of three) expect(await isSpam(view.id)).toBe(false);
    const fourth = await send(nodeB, spammer, channelId, ' same ');
    expect(await isSpam(fourth.id)).toBe(true);
    expect((await spamRecord(nodeA, fourth.id)).logs).toEqual([
      expect.objectContaining({ reason: 'repeat' }),
    ]);
  });
});
