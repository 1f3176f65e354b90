import { and, asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { busEnv, buses, connectAs, listen, type Frame, type WsClient } from '../../../test/support/ws.js';
import { chatEvents } from '../events/events.table.js';
import { chatMessageFlags, chatModerationLogs, chatModerationQueue } from './moderation.table.js';

// Issue 13's moderation flow end to end, over REST and the socket, on both buses. With Redis there
// are two API nodes (two apps on one database and one Redis prefix, as in production) and the
// requests and sockets are spread over both; the in-process bus is the one-process embedded mode.
// Three flags from three users hide a message for every non-moderator at once, moderators keep
// seeing it, approve brings it back everywhere, remove deletes it; each step is broadcast once and
// logged.
describe.skipIf(skipDatabaseTests).each(buses)('moderation end to end ($name)', ({ redis, skip }) => {
  type Node = Pick<TestApp, 'app' | 'inject'>;
  let t: TestApp;
  let nodes: [Node, Node];
  let bases: [string, string];
  let chat: ReturnType<typeof chatClient>;
  let alice: TestUser;
  let flaggers: TestUser[];
  let erin: TestUser;
  let admin: TestUser;
  let moderator: TestUser;
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    if (skip) return;
    t = await createTestApp({ ...busEnv(redis), FLAG_HIDE_THRESHOLD: '3', CHAT_FLAG_RATE_LIMIT: '0' });
    const second = redis ? await t.addNode() : t;
    nodes = [t, second];
    bases = [await listen(t), await listen(second)];
    chat = chatClient(t);
    alice = await t.createUser();
    flaggers = [await t.createUser(), await t.createUser(), await t.createUser()];
    erin = await t.createUser();
    admin = await t.createUser();
    // A granted moderator (not staff): the role alone gives the moderator's view and decisions.
    moderator = await t.createUser({ moderator: true });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t?.close();
  });

  const SECRET = 'conteúdo impróprio 7f3a';

  const open = (node: 0 | 1, path: string, user: TestUser) => connectAs(bases[node], path, user, sockets);
  const read = (node: 0 | 1, user: TestUser, channelId: string, messageId: string) =>
    nodes[node].inject({ url: `/api/chat/channels/${channelId}/messages/${messageId}/`, headers: user.auth });
  async function list(node: 0 | 1, user: TestUser, channelId: string) {
    const response = await nodes[node].inject({
      url: `/api/chat/channels/${channelId}/messages/`,
      headers: user.auth,
    });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as { results: Array<Record<string, unknown>> }).results;
  }
  const flagOverRest = (node: 0 | 1, user: TestUser, channelId: string, messageId: string) =>
    nodes[node].inject({
      method: 'POST',
      url: `/api/chat/channels/${channelId}/messages/${messageId}/flag/`,
      headers: user.auth,
      payload: { motivo: 'ofensivo' },
    });
  const decide = (node: 0 | 1, user: TestUser, messageId: string, decision: 'approve' | 'remove') =>
    nodes[node].inject({
      method: 'POST',
      url: `/api/chat/moderacao/messages/${messageId}/${decision}/`,
      headers: user.auth,
    });
  const isSeq = (seq: number) => (frame: Frame) => frame.seq === seq;
  const moderationFrame = (action: string, messageId: string) => (frame: Frame) =>
    frame.type === 'chat.moderation' &&
    (frame.payload as { action: string; mensagem_id: string }).action === action &&
    (frame.payload as { mensagem_id: string }).mensagem_id === messageId;
  const logActions = async (messageId: string) =>
    (
      await t.deps.database.db
        .select()
        .from(chatModerationLogs)
        .where(eq(chatModerationLogs.messageId, messageId))
        .orderBy(asc(chatModerationLogs.createdAt), asc(chatModerationLogs.id))
    ).map((row) => [row.action, row.channelId]);
  const moderationEvents = async (channelId: string, action: string) =>
    (
      await t.deps.database.db
        .select()
        .from(chatEvents)
        .where(and(eq(chatEvents.channelId, channelId), eq(chatEvents.type, 'chat.moderation')))
    ).filter((row) => (row.payload as { action: string }).action === action);

  /** A channel with everyone in it (admin made a channel admin) and alice's message to moderate. */
  async function setting() {
    const channel = await chat.createChannel(alice, {
      participantes: [...flaggers, erin, admin, moderator].map((user) => user.id),
    });
    await chat.setRole(alice, channel.id, admin, true);
    return { channelId: channel.id };
  }

  it.skipIf(skip)(
    'three flags hide it for every non-moderator at once on every path and node; approve brings it back',
    async () => {
      const { channelId } = await setting();
      // Erin (a participant) and the channel admin follow the channel on different nodes.
      const erinLive = await open(1, `/ws/chat/${channelId}/`, erin);
      const adminLive = await open(0, `/ws/chat/${channelId}/`, admin);
      const moderatorLive = await open(0, `/ws/chat/${channelId}/`, moderator);
      const erinNotifications = await open(1, '/ws/chat/notificacoes/', erin);
      const carolSocket = await open(1, `/ws/chat/${channelId}/`, flaggers[1]!);
      const live = [erinLive, adminLive, moderatorLive, carolSocket];

      const message = await chat.sendMessage(alice, channelId, { conteudo: SECRET });
      const reply = await chat.sendMessage(flaggers[0]!, channelId, {
        conteudo: 'respondendo',
        reply_to: message.id,
      });
      for (const socket of live) await socket.waitFor(isSeq(reply.seq));
      await erinNotifications.waitFor((frame) => frame.mensagem_id === reply.id);

      // Two flags: still visible. The third (on the other node, by another user) hides it.
      expect((await flagOverRest(0, flaggers[0]!, channelId, message.id)).json()).toEqual({ flags: 1 });
      carolSocket.send({ tipo: 'flag', mensagem_id: message.id, client_id: 'carol-1' });
      expect(await carolSocket.waitFor((frame) => frame.type === 'ack')).toMatchObject({
        tipo: 'flag',
        mensagem_id: message.id,
        flags: 2,
      });
      expect((await read(1, erin, channelId, message.id)).statusCode).toBe(200);
      const erinFramesBeforeHide = erinLive.frames.length;
      const erinNotificationsBeforeHide = erinNotifications.frames.length;
      expect((await flagOverRest(1, flaggers[2]!, channelId, message.id)).json()).toEqual({ flags: 3 });

      // Broadcast once, seq'd, to every socket on both nodes.
      const hiddenFrames = await Promise.all(
        live.map((socket) => socket.waitFor(moderationFrame('hidden', message.id))),
      );
      expect(new Set(hiddenFrames.map((frame) => frame.seq)).size).toBe(1);
      expect(hiddenFrames[0]!.seq).toBeGreaterThan(reply.seq);
      expect(await moderationEvents(channelId, 'hidden')).toHaveLength(1);
      expect(await logActions(message.id)).toEqual([
        ['flag', channelId],
        ['flag', channelId],
        ['flag', channelId],
        ['hidden', channelId],
      ]);
      const [queued] = await t.deps.database.db
        .select()
        .from(chatModerationQueue)
        .where(eq(chatModerationQueue.messageId, message.id));
      expect(queued).toMatchObject({ status: 'pendente', flagCount: 3, channelId });

      // Non-moderators (a participant, the channel admin): gone from single reads and lists on
      // both nodes; a `since` replay has it without content.
      for (const user of [erin, admin]) {
        for (const node of [0, 1] as const) {
          expect((await read(node, user, channelId, message.id)).statusCode).toBe(404);
          const rows = await list(node, user, channelId);
          expect(rows.map((row) => row.id)).toContain(reply.id);
          expect(rows.map((row) => row.id)).not.toContain(message.id);
          expect(JSON.stringify(rows)).not.toContain(SECRET);
        }
      }
      // The reply's preview of it: unavailable to them, on both nodes.
      for (const user of [erin, admin])
        for (const node of [0, 1] as const)
          expect((await read(node, user, channelId, reply.id)).json()).toMatchObject({
            reply_to: { id: message.id, indisponivel: true },
          });
      const erinReplay = await open(0, `/ws/chat/${channelId}/?since=${message.seq - 1}`, erin);
      expect((await erinReplay.waitFor(isSeq(message.seq))).payload).toMatchObject({
        id: message.id,
        conteudo: '',
      });
      expect((await erinReplay.waitFor(isSeq(reply.seq))).payload).toMatchObject({
        reply_to: { id: message.id, indisponivel: true },
      });
      await erinReplay.waitFor(moderationFrame('hidden', message.id));

      // Moderators still see it, with hidden_at set, everywhere.
      const seen = await read(1, moderator, channelId, message.id);
      expect(seen.json()).toMatchObject({ id: message.id, conteudo: SECRET });
      expect((seen.json() as { hidden_at: string | null }).hidden_at).not.toBeNull();
      expect((await list(0, moderator, channelId)).map((row) => row.id)).toContain(message.id);
      expect((await read(0, moderator, channelId, reply.id)).json()).toMatchObject({
        reply_to: { id: message.id, conteudo: SECRET },
      });
      const moderatorReplay = await open(1, `/ws/chat/${channelId}/?since=${message.seq - 1}`, moderator);
      expect((await moderatorReplay.waitFor(isSeq(message.seq))).payload).toMatchObject({
        conteudo: SECRET,
      });

      // Later traffic reaches erin, and nothing she received since the hide carries the content.
      const next = await chat.sendMessage(alice, channelId, { conteudo: 'seguindo' });
      await erinLive.waitFor(isSeq(next.seq));
      await erinNotifications.waitFor((frame) => frame.mensagem_id === next.id);
      expect(JSON.stringify(erinLive.frames.slice(erinFramesBeforeHide))).not.toContain(SECRET);
      expect(JSON.stringify(erinNotifications.frames.slice(erinNotificationsBeforeHide))).not.toContain(
        SECRET,
      );
      expect(JSON.stringify(erinReplay.frames)).not.toContain(SECRET);

      // Approve (on the other node): back for everyone, flags resolved, broadcast once and logged.
      const approved = await decide(1, moderator, message.id, 'approve');
      expect(approved.statusCode, approved.body).toBe(200);
      const approvedFrames = await Promise.all(
        [erinLive, adminLive, moderatorLive].map((socket) =>
          socket.waitFor(moderationFrame('approved', message.id)),
        ),
      );
      expect(new Set(approvedFrames.map((frame) => frame.seq)).size).toBe(1);
      expect(await moderationEvents(channelId, 'approved')).toHaveLength(1);
      for (const node of [0, 1] as const) {
        expect((await read(node, erin, channelId, message.id)).json()).toMatchObject({
          conteudo: SECRET,
          hidden_at: null,
        });
        expect((await list(node, admin, channelId)).map((row) => row.id)).toContain(message.id);
        expect((await read(node, erin, channelId, reply.id)).json()).toMatchObject({
          reply_to: { id: message.id, conteudo: SECRET, hidden_at: null },
        });
      }
      expect((await logActions(message.id)).at(-1)).toEqual(['approved', channelId]);
      const [resolved] = await t.deps.database.db
        .select()
        .from(chatModerationQueue)
        .where(eq(chatModerationQueue.messageId, message.id));
      expect(resolved).toMatchObject({ status: 'resolvido', decision: 'approved', resolvedBy: moderator.id });
      const flags = await t.deps.database.db
        .select()
        .from(chatMessageFlags)
        .where(eq(chatMessageFlags.messageId, message.id));
      expect(flags.map((flag) => flag.resolvedAt !== null)).toEqual([true, true, true]);
    },
  );

  it.skipIf(skip)(
    'remove deletes it: participants get 404 on both nodes, every socket is told once, and it is logged',
    async () => {
      const { channelId } = await setting();
      const erinLive = await open(1, `/ws/chat/${channelId}/`, erin);
      const moderatorLive = await open(0, `/ws/chat/${channelId}/`, moderator);
      const message = await chat.sendMessage(alice, channelId, { conteudo: SECRET });
      for (const socket of [erinLive, moderatorLive]) await socket.waitFor(isSeq(message.seq));

      // Not even flagged: moderators may remove any message.
      const removed = await decide(0, moderator, message.id, 'remove');
      expect(removed.statusCode, removed.body).toBe(200);
      expect(removed.json()).toEqual({ id: message.id, channel: channelId, action: 'removed' });
      for (const socket of [erinLive, moderatorLive])
        await socket.waitFor(moderationFrame('removed', message.id));
      expect(await moderationEvents(channelId, 'removed')).toHaveLength(1);
      for (const node of [0, 1] as const) {
        for (const user of [erin, admin, alice]) {
          expect((await read(node, user, channelId, message.id)).statusCode).toBe(404);
          expect((await list(node, user, channelId)).map((row) => row.id)).not.toContain(message.id);
        }
      }
      expect(await logActions(message.id)).toEqual([['removed', channelId]]);
      // Removed is final: neither decision applies to it again.
      expect((await decide(1, moderator, message.id, 'approve')).statusCode).toBe(404);
      expect((await decide(1, moderator, message.id, 'remove')).statusCode).toBe(404);
      expect(await moderationEvents(channelId, 'removed')).toHaveLength(1);
    },
  );

  it.skipIf(skip)(
    'races: one user flagging from two sockets (two nodes) at once counts once; three users at once hide it once',
    async () => {
      const { channelId } = await setting();
      const message = await chat.sendMessage(alice, channelId, { conteudo: SECRET });
      const bobOnA = await open(0, `/ws/chat/${channelId}/`, flaggers[0]!);
      const bobOnB = await open(1, `/ws/chat/${channelId}/`, flaggers[0]!);
      const watcher = await open(1, `/ws/chat/${channelId}/`, erin);
      bobOnA.send({ tipo: 'flag', mensagem_id: message.id, client_id: 'a' });
      bobOnB.send({ tipo: 'flag', mensagem_id: message.id, client_id: 'b' });
      const outcomes = await Promise.all(
        [bobOnA, bobOnB].map((socket) =>
          socket.waitFor(
            (frame) => (frame.type === 'ack' && frame.tipo === 'flag') || frame.type === 'error',
          ),
        ),
      );
      expect(outcomes.map((frame) => frame.type).sort()).toEqual(['ack', 'error']);
      expect(outcomes.find((frame) => frame.type === 'ack')).toMatchObject({ flags: 1 });
      expect(outcomes.find((frame) => frame.type === 'error')).toMatchObject({
        code: 'moderation.already_flagged',
      });
      const flagRows = () =>
        t.deps.database.db.select().from(chatMessageFlags).where(eq(chatMessageFlags.messageId, message.id));
      expect(await flagRows()).toHaveLength(1);

      // Two more users at once, on different nodes, with bob's: the third distinct flag hides it,
      // exactly once.
      const second = await chat.sendMessage(alice, channelId, { conteudo: 'outra' });
      const replies = await Promise.all(
        flaggers.map((user, index) => flagOverRest(index % 2 === 0 ? 0 : 1, user, channelId, second.id)),
      );
      expect(replies.map((response) => response.statusCode)).toEqual([200, 200, 200]);
      expect(replies.map((response) => (response.json() as { flags: number }).flags).sort()).toEqual([
        1, 2, 3,
      ]);
      await watcher.waitFor(moderationFrame('hidden', second.id));
      const last = await chat.sendMessage(alice, channelId, { conteudo: 'depois' });
      await watcher.waitFor(isSeq(last.seq));
      expect(watcher.frames.filter(moderationFrame('hidden', second.id))).toHaveLength(1);
      expect(await moderationEvents(channelId, 'hidden')).toHaveLength(1);
      expect((await logActions(second.id)).filter(([action]) => action === 'hidden')).toHaveLength(1);
    },
  );
});
