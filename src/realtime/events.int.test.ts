import { and, eq, lte } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../test/support/app.js';
import { chatClient } from '../../test/support/chat.js';
import { skipDatabaseTests } from '../../test/support/database.js';
import { busEnv, connect, type Frame, listen, buses, type WsClient } from '../../test/support/ws.js';
import { chatChannels } from '../modules/channels/channels.table.js';
import { chatEvents } from '../modules/events/events.table.js';
import { chatMessages } from '../modules/messages/messages.table.js';

// Every client→server frame and server→client event of the chat protocol, on the in-process bus
// and on Redis pub/sub.

type Message = {
  id: string;
  seq: number;
  channel: string;
  conteudo: string;
  conteudo_cifrado: string | null;
  hidden_at: string | null;
  reply_to: { id: string; [key: string]: unknown } | null;
  reactions: Record<string, number>;
  [key: string]: unknown;
};
type Payload = Record<string, unknown>;

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const CIPHER = { conteudo_cifrado: 'c2VncmVkbyBjaWZyYWRv', alg: 'AES-GCM', key_version: 1 };

/** A persisted channel event (not an ack, which also carries a seq). */
const isEvent = (frame: Frame) => typeof frame.seq === 'number' && frame.type.startsWith('chat.');
const eventSeqs = (client: WsClient) => client.frames.filter(isEvent).map((frame) => frame.seq as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const payloadOf = (frame: Frame) => frame.payload as Payload;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Frames an event must have, exactly: `{type, seq, channel, created_at, payload}`. */
function expectEnvelope(frame: Frame, type: string, channel: string) {
  expect(Object.keys(frame).sort()).toEqual(['channel', 'created_at', 'payload', 'seq', 'type']);
  expect(frame.type).toBe(type);
  expect(frame.channel).toBe(channel);
  expect(frame.seq).toEqual(expect.any(Number));
  expect(frame.created_at).toMatch(ISO_TIMESTAMP);
}

describe.skipIf(skipDatabaseTests).each(buses)('realtime events ($name)', ({ redis, skip }) => {
  let t: TestApp;
  let base: string;
  let client: ReturnType<typeof chatClient>;
  let alice: TestUser; // owner of the channels below
  let bob: TestUser; // participant
  let carol: TestUser; // participant
  let dave: TestUser; // channel admin
  let eve: TestUser; // outsider
  let staff: TestUser; // staff, not a participant
  const opened: WsClient[] = [];

  const db = () => t.deps.database.db;

  async function lastSeqOf(channel: string): Promise<number> {
    const [row] = await db()
      .select({ lastSeq: chatChannels.lastSeq })
      .from(chatChannels)
      .where(eq(chatChannels.id, channel));
    return row!.lastSeq;
  }

  /**
   * Opens a channel socket. Without an explicit `since` it resumes from the channel's current
   * position, so no event committed after this call can be missed whatever the attach timing.
   */
  async function open(user: TestUser, channel: string, since?: number | null): Promise<WsClient> {
    const from = since === undefined ? await lastSeqOf(channel) : since;
    const query = from === null ? '' : `&since=${from}`;
    const socket = await connect(`${base}/ws/chat/${channel}/?token=${user.token}${query}`);
    opened.push(socket);
    return socket;
  }

  async function openNotifications(user: TestUser): Promise<WsClient> {
    const socket = await connect(`${base}/ws/chat/notificacoes/?token=${user.token}`);
    opened.push(socket);
    return socket;
  }

  async function newChannel(owner: TestUser, members: TestUser[], extra: Record<string, unknown> = {}) {
    return (await client.createChannel(owner, { participantes: members.map((user) => user.id), ...extra }))
      .id;
  }

  function sendRest(user: TestUser, channel: string, body: Record<string, unknown> = {}) {
    return t.inject({
      method: 'POST',
      url: `/api/chat/channels/${channel}/messages/`,
      headers: user.auth,
      payload: { tipo: 'text', conteudo: 'olá', ...body },
    });
  }
  async function sendOk(user: TestUser, channel: string, body: Record<string, unknown> = {}) {
    return (await client.sendMessage(user, channel, body)) as unknown as Message;
  }
  async function getMessage(user: TestUser, channel: string, messageId: string) {
    const response = await t.inject({
      url: `/api/chat/channels/${channel}/messages/${messageId}/`,
      headers: user.auth,
    });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Message;
  }

  /** Waits until the socket got the event with this seq and returns it. */
  const eventAt = (socket: WsClient, seq: number, timeoutMs = 5_000) =>
    socket.waitFor((frame) => isEvent(frame) && frame.seq === seq, timeoutMs);
  const ackFor = (socket: WsClient, clientId: string) =>
    socket.waitFor((frame) => frame.type === 'ack' && frame.client_id === clientId);
  const errorFor = (socket: WsClient, clientId: string) =>
    socket.waitFor((frame) => frame.type === 'error' && frame.client_id === clientId);

  beforeAll(async () => {
    if (skip) return;
    // Per-socket frame limiting has its own setting; these tests send many frames on one socket.
    t = await createTestApp({ ...busEnv(redis), WS_FRAME_RATE_LIMIT: '0' });
    base = await listen(t);
    client = chatClient(t);
    [alice, bob, carol, dave, eve] = await Promise.all([
      t.createUser(),
      t.createUser(),
      t.createUser(),
      t.createUser(),
      t.createUser(),
    ]);
    staff = await t.createUser({ staff: true });
  });
  afterEach(async () => {
    const sockets = opened.splice(0);
    for (const socket of sockets) socket.close();
    await Promise.all(sockets.map((socket) => socket.waitForClose(2_000)));
  });
  afterAll(async () => t?.close());

  // ---- send ---------------------------------------------------------------------------------------
  describe('text frames', () => {
    it.skipIf(skip)(
      'ack {client_id, id, seq}; every socket gets chat.message with the full message as in REST',
      async () => {
        const channel = await newChannel(alice, [bob, carol]);
        const a = await open(alice, channel);
        const b = await open(bob, channel);
        b.send({ tipo: 'text', conteudo: 'oi pelo socket', client_id: 'c-1' });
        const ack = await ackFor(b, 'c-1');
        expect(ack).toEqual({
          type: 'ack',
          client_id: 'c-1',
          id: expect.any(String),
          seq: expect.any(Number),
        });
        expect(ack.seq).toBe(await lastSeqOf(channel));

        const rest = await getMessage(carol, channel, ack.id as string);
        for (const socket of [a, b]) {
          const event = await eventAt(socket, ack.seq as number);
          expectEnvelope(event, 'chat.message', channel);
          expect(event.payload).toEqual(rest);
        }
        expect(rest).toMatchObject({
          id: ack.id,
          seq: ack.seq,
          conteudo: 'oi pelo socket',
          client_id: 'c-1',
          remetente: { id: bob.id, username: bob.username },
        });

        // reply_to follows the REST rules too.
        b.send({ tipo: 'text', conteudo: 'resposta', reply_to: ack.id, client_id: 'c-2' });
        const reply = await ackFor(b, 'c-2');
        expect(payloadOf(await eventAt(a, reply.seq as number)).reply_to).toMatchObject({
          id: ack.id,
          conteudo: 'oi pelo socket',
          remetente: { id: bob.id, username: bob.username },
        });
      },
    );

    it.skipIf(skip)('messages sent over REST reach the sockets the same way', async () => {
      const channel = await newChannel(alice, [bob]);
      const a = await open(alice, channel);
      const sent = await sendOk(bob, channel, { conteudo: 'via REST' });
      const event = await eventAt(a, sent.seq);
      expectEnvelope(event, 'chat.message', channel);
      expect(event.payload).toEqual(await getMessage(alice, channel, sent.id));
    });

    it.skipIf(skip)('a repeated client_id acks the original message and broadcasts nothing new', async () => {
      const channel = await newChannel(alice, [bob]);
      const a = await open(alice, channel);
      const b = await open(bob, channel);
      b.send({ tipo: 'text', conteudo: 'uma vez', client_id: 'dup' });
      const first = await ackFor(b, 'dup');
      b.send({ tipo: 'text', conteudo: 'uma vez', client_id: 'dup' });
      await b.waitForCount('ack', 2);
      const acks = b.frames.filter((frame) => frame.type === 'ack' && frame.client_id === 'dup');
      expect(acks[1]).toEqual(first);
      // The same client_id over REST answers the same message (200, not 201).
      const retry = await sendRest(bob, channel, { conteudo: 'uma vez', client_id: 'dup' });
      expect(retry.statusCode).toBe(200);
      expect((retry.json() as Message).id).toBe(first.id);

      // A fresh message comes right after the original: no event was logged or sent in between.
      b.send({ tipo: 'text', conteudo: 'outra', client_id: 'fresh' });
      const fresh = await ackFor(b, 'fresh');
      expect(fresh.seq).toBe((first.seq as number) + 1);
      await eventAt(a, fresh.seq as number);
      for (const socket of [a, b]) {
        const messages = socket.frames.filter((frame) => frame.type === 'chat.message');
        expect(messages.map((frame) => payloadOf(frame).id)).toEqual([first.id, fresh.id]);
      }
      const rows = await db().select().from(chatMessages).where(eq(chatMessages.channelId, channel));
      expect(rows).toHaveLength(2);
    });

    it.skipIf(skip)('image, video and file frames answer an error frame and store nothing', async () => {
      const channel = await newChannel(alice, [bob]);
      const b = await open(bob, channel);
      const before = await lastSeqOf(channel);
      for (const tipo of ['image', 'video', 'file']) {
        b.send({ tipo, conteudo: 'x', client_id: `up-${tipo}` });
        const error = await errorFor(b, `up-${tipo}`);
        expect(error).toMatchObject({ type: 'error', code: 'messages.type_not_supported' });
        expect(error.detail).toEqual(expect.any(String));
      }
      b.send({ tipo: 'image', attachment_id: '00000000-0000-4000-8000-000000000000', client_id: 'up-att' });
      expect((await errorFor(b, 'up-att')).code).toBe('messages.type_not_supported');
      expect(await lastSeqOf(channel)).toBe(before);
      expect(b.frames.filter(isEvent)).toEqual([]);
    });

    it.skipIf(skip)(
      'REST rules apply: blank text, bad reply_to and outsider content are refused',
      async () => {
        const channel = await newChannel(alice, [bob]);
        const b = await open(bob, channel);
        const before = await lastSeqOf(channel);
        b.send({ tipo: 'text', conteudo: '   ', client_id: 'blank' });
        expect((await errorFor(b, 'blank')).code).toBe('messages.empty');
        b.send({
          tipo: 'text',
          conteudo: 'x',
          reply_to: '00000000-0000-4000-8000-000000000000',
          client_id: 'r',
        });
        expect((await errorFor(b, 'r')).code).toBe('messages.invalid_reply_to');
        b.send({ tipo: 'text', ...CIPHER, client_id: 'cipher' });
        expect((await errorFor(b, 'cipher')).code).toBe('messages.e2ee_not_enabled');
        b.send({ tipo: 'text', conteudo: 'x', extra: 1, client_id: 'extra' });
        expect((await errorFor(b, 'extra')).code).toBe('invalid_frame');
        expect(await lastSeqOf(channel)).toBe(before);
      },
    );

    it.skipIf(skip)('malformed frames get error frames; the socket stays usable', async () => {
      const channel = await newChannel(alice, [bob]);
      const b = await open(bob, channel);
      b.send('{not json');
      expect(await b.waitFor((frame) => frame.type === 'error')).toMatchObject({ code: 'invalid_json' });
      b.send({ tipo: 'shout', client_id: 'u' });
      expect(await errorFor(b, 'u')).toMatchObject({ code: 'unknown_tipo' });
      b.send([1, 2]);
      await b.waitFor((frame) => frame.type === 'error' && frame.code === 'invalid_frame');
      b.send({ tipo: 'ping' });
      expect(await b.waitFor((frame) => frame.type === 'pong')).toEqual({ type: 'pong' });
    });
  });

  describe('ping', () => {
    it.skipIf(skip)('{tipo:"ping"} answers {type:"pong"}', async () => {
      const channel = await newChannel(alice, [bob]);
      const b = await open(bob, channel);
      b.send({ tipo: 'ping' });
      expect(await b.waitFor((frame) => frame.type === 'pong')).toEqual({ type: 'pong' });
      b.send({ tipo: 'ping', client_id: 'p1' });
      expect(await b.waitFor((frame) => frame.type === 'pong' && frame.client_id === 'p1')).toEqual({
        type: 'pong',
        client_id: 'p1',
      });
      expect(await lastSeqOf(channel)).toBe(1);
    });
  });

  // ---- reactions and pins ----------------------------------------------------------------------------
  describe('reaction frames', () => {
    it.skipIf(skip)(
      'toggle the reaction: ack with reactions/user_reactions, chat.reaction to all',
      async () => {
        const channel = await newChannel(alice, [bob, carol]);
        const message = await sendOk(alice, channel, { conteudo: 'reaja' });
        const a = await open(alice, channel);
        const b = await open(bob, channel);

        b.send({ tipo: 'reaction', mensagem_id: message.id, emoji: '👍', client_id: 'r1' });
        const ack = await ackFor(b, 'r1');
        expect(ack).toMatchObject({
          type: 'ack',
          mensagem_id: message.id,
          reactions: { '👍': 1 },
          user_reactions: ['👍'],
        });
        for (const socket of [a, b]) {
          const event = await eventAt(socket, message.seq + 1);
          expectEnvelope(event, 'chat.reaction', channel);
          expect(event.payload).toEqual({
            mensagem_id: message.id,
            reactions: { '👍': 1 },
            actor: { id: bob.id, username: bob.username },
            emoji: '👍',
            action: 'added',
          });
        }

        // REST toggles emit the same event.
        const rest = await t.inject({
          method: 'POST',
          url: `/api/chat/channels/${channel}/messages/${message.id}/react/`,
          headers: carol.auth,
          payload: { emoji: '👍' },
        });
        expect(rest.statusCode, rest.body).toBe(200);
        expect(payloadOf(await eventAt(a, message.seq + 2))).toMatchObject({
          reactions: { '👍': 2 },
          actor: { id: carol.id, username: carol.username },
          action: 'added',
        });

        b.send({ tipo: 'reaction', mensagem_id: message.id, emoji: '👍', client_id: 'r2' });
        const second = await ackFor(b, 'r2');
        expect(second).toMatchObject({ reactions: { '👍': 1 }, user_reactions: [] });
        expect(await eventAt(a, message.seq + 3)).toMatchObject({
          type: 'chat.reaction',
          payload: { mensagem_id: message.id, reactions: { '👍': 1 }, emoji: '👍', action: 'removed' },
        });
      },
    );

    it.skipIf(skip)('an invalid emoji or unknown message answers an error frame', async () => {
      const channel = await newChannel(alice, [bob]);
      const message = await sendOk(alice, channel);
      const b = await open(bob, channel);
      b.send({ tipo: 'reaction', mensagem_id: message.id, emoji: 'ab', client_id: 'bad' });
      expect((await errorFor(b, 'bad')).code).toBe('reactions.invalid_emoji');
      b.send({ tipo: 'reaction', mensagem_id: message.id, emoji: '', client_id: 'empty' });
      expect(await errorFor(b, 'empty')).toEqual({
        type: 'error',
        code: 'reactions.invalid_emoji',
        detail: expect.any(String),
        client_id: 'empty',
      });
      b.send({
        tipo: 'reaction',
        mensagem_id: '00000000-0000-4000-8000-000000000000',
        emoji: '👍',
        client_id: 'missing',
      });
      expect((await errorFor(b, 'missing')).code).toBe('messages.not_found');
      expect(await lastSeqOf(channel)).toBe(message.seq);
    });
  });

  describe('pin frames', () => {
    it.skipIf(skip)('admins and owners pin/unpin (ack + chat.pin); members get an error frame', async () => {
      const channel = await newChannel(alice, [bob, dave]);
      await client.setRole(alice, channel, dave, true);
      const message = await sendOk(bob, channel);
      const a = await open(alice, channel);
      const b = await open(bob, channel);
      const d = await open(dave, channel);

      b.send({ tipo: 'pin', mensagem_id: message.id, client_id: 'member-pin' });
      expect((await errorFor(b, 'member-pin')).code).toBe('channels.not_admin');
      b.send({ tipo: 'unpin', mensagem_id: message.id, client_id: 'member-unpin' });
      expect((await errorFor(b, 'member-unpin')).code).toBe('channels.not_admin');
      const seqAfterRole = await lastSeqOf(channel);

      d.send({ tipo: 'pin', mensagem_id: message.id, client_id: 'p' });
      const pinned = await ackFor(d, 'p');
      expect(pinned).toMatchObject({ type: 'ack', mensagem_id: message.id, pinned_at: expect.any(String) });
      expect(pinned.pinned_at).toMatch(ISO_TIMESTAMP);
      for (const socket of [a, b, d]) {
        const event = await eventAt(socket, seqAfterRole + 1);
        expectEnvelope(event, 'chat.pin', channel);
        expect(event.payload).toEqual({ mensagem_id: message.id, pinned_at: pinned.pinned_at });
      }

      a.send({ tipo: 'unpin', mensagem_id: message.id, client_id: 'u' });
      expect(await ackFor(a, 'u')).toMatchObject({ type: 'ack', mensagem_id: message.id, pinned_at: null });
      expect(await eventAt(b, seqAfterRole + 2)).toMatchObject({
        type: 'chat.pin',
        payload: { mensagem_id: message.id, pinned_at: null },
      });

      // REST pins emit the same event.
      const rest = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${channel}/messages/${message.id}/pin/`,
        headers: alice.auth,
      });
      expect(rest.statusCode, rest.body).toBe(200);
      const restEvent = await eventAt(b, seqAfterRole + 3);
      expect(restEvent).toMatchObject({ type: 'chat.pin', payload: { mensagem_id: message.id } });
      expect(payloadOf(restEvent).pinned_at).toBe((rest.json() as { pinned_at: string }).pinned_at);
      // The members' refused frames logged nothing.
      expect(b.frames.filter(isEvent).map((frame) => frame.type)).toEqual([
        'chat.pin',
        'chat.pin',
        'chat.pin',
      ]);
    });
  });

  // ---- typing ---------------------------------------------------------------------------------------
  describe('typing', () => {
    /**
     * Typing is ephemeral: one sent before a socket has joined the channel's stream is lost for it
     * (a Redis subscription takes a round trip). A logged event reaching every socket proves it joined.
     */
    async function untilJoined(channel: string, sockets: WsClient[]) {
      const probe = await sendOk(alice, channel, { conteudo: 'probe' });
      for (const socket of sockets) await eventAt(socket, probe.seq);
    }

    it.skipIf(skip)(
      'typing_start/stop → ephemeral chat.typing {action, username}, no seq, not logged',
      async () => {
        const channel = await newChannel(alice, [bob]);
        const a = await open(alice, channel);
        const b = await open(bob, channel);
        await untilJoined(channel, [a, b]);
        const before = await lastSeqOf(channel);
        b.send({ tipo: 'typing_start' });
        const start = await a.waitFor((frame) => frame.type === 'chat.typing');
        expect(start.seq).toBeUndefined();
        expect(start.channel).toBe(channel);
        expect(start.payload).toMatchObject({ action: 'start', username: bob.username });
        b.send({ tipo: 'typing_stop' });
        const stop = await a.waitFor(
          (frame) => frame.type === 'chat.typing' && payloadOf(frame).action === 'stop',
        );
        expect(stop.seq).toBeUndefined();
        expect(stop.payload).toMatchObject({ action: 'stop', username: bob.username });

        expect(await lastSeqOf(channel)).toBe(before);
        const logged = await db().select().from(chatEvents).where(eq(chatEvents.channelId, channel));
        expect(logged.map((row) => row.type)).not.toContain('chat.typing');
        // Not replayed either.
        const late = await open(alice, channel, 0);
        await eventAt(late, before);
        expect(late.frames.filter((frame) => frame.type === 'chat.typing')).toEqual([]);
      },
    );

    it.skipIf(skip)('typing_start is throttled: repeated starts publish one event', async () => {
      const channel = await newChannel(alice, [bob]);
      const a = await open(alice, channel);
      const b = await open(bob, channel);
      await untilJoined(channel, [a, b]);
      for (let i = 0; i < 5; i++) b.send({ tipo: 'typing_start' });
      b.send({ tipo: 'typing_stop' });
      await a.waitFor((frame) => frame.type === 'chat.typing' && payloadOf(frame).action === 'stop');
      await sleep(100);
      const typing = a.frames.filter((frame) => frame.type === 'chat.typing').map((f) => payloadOf(f).action);
      expect(typing).toEqual(['start', 'stop']);
    });

    it.skipIf(skip)('typing_start is broadcast again once the 1 s throttle window has passed', async () => {
      const channel = await newChannel(alice, [bob]);
      const a = await open(alice, channel);
      const b = await open(bob, channel);
      await untilJoined(channel, [a, b]);
      const isStart = (frame: Frame) => frame.type === 'chat.typing' && payloadOf(frame).action === 'start';
      for (let i = 0; i < 3; i++) b.send({ tipo: 'typing_start' });
      const first = a.frames.indexOf(await a.waitFor(isStart));
      // The server stamped the broadcast before alice got it, so 1.2 s from here is past its window
      // (TYPING_THROTTLE_MS = 1 s) and well before the 3 s auto-stop: bob is still typing.
      await sleep(1_200);
      b.send({ tipo: 'typing_start' });
      b.send({ tipo: 'typing_start' });
      await a.waitFor(isStart, 5_000, first + 1);
      b.send({ tipo: 'typing_stop' });
      await a.waitFor((frame) => frame.type === 'chat.typing' && payloadOf(frame).action === 'stop');
      await sleep(100);
      // One start per window: the first burst gave one, the second (a new window) one more.
      const typing = a.frames.filter((frame) => frame.type === 'chat.typing');
      expect(typing.map((frame) => payloadOf(frame).action)).toEqual(['start', 'start', 'stop']);
      for (const frame of typing) {
        expect(frame).toEqual({
          type: 'chat.typing',
          channel,
          payload: { action: payloadOf(frame).action, username: bob.username, user_id: bob.id },
        });
      }
    });

    it.skipIf(skip)('a typing_start without a stop ends by itself after about 3 s', async () => {
      const channel = await newChannel(alice, [bob]);
      const a = await open(alice, channel);
      const b = await open(bob, channel);
      await untilJoined(channel, [a, b]);
      // Measured from the send: the server's 3 s timer cannot start before the frame left.
      const sentAt = Date.now();
      b.send({ tipo: 'typing_start' });
      await a.waitFor((frame) => frame.type === 'chat.typing' && payloadOf(frame).action === 'start');
      const stop = await a.waitFor(
        (frame) => frame.type === 'chat.typing' && payloadOf(frame).action === 'stop',
        8_000,
      );
      const elapsed = Date.now() - sentAt;
      expect(stop.payload).toMatchObject({ action: 'stop', username: bob.username });
      expect(elapsed).toBeGreaterThanOrEqual(2_900);
      // Generous upper bound: loaded CI machines deliver late, but not seconds late.
      expect(elapsed).toBeLessThan(6_000);
    });

    it.skipIf(skip)('outsiders cannot even open the socket to type', async () => {
      const channel = await newChannel(alice, [bob]);
      await expect(connect(`${base}/ws/chat/${channel}/?token=${eve.token}`)).rejects.toMatchObject({
        status: 404,
      });
    });
  });

  // ---- edits, deletes, hidden content, E2EE --------------------------------------------------------------
  describe('message updates', () => {
    it.skipIf(skip)('edit → chat.message.updated with the message as REST shows it', async () => {
      const channel = await newChannel(alice, [bob]);
      const message = await sendOk(bob, channel, { conteudo: 'antes' });
      const reacted = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${channel}/messages/${message.id}/react/`,
        headers: alice.auth,
        payload: { emoji: '🎉' },
      });
      expect(reacted.statusCode).toBe(200);
      const a = await open(alice, channel);
      const edit = await t.inject({
        method: 'PATCH',
        url: `/api/chat/channels/${channel}/messages/${message.id}/`,
        headers: bob.auth,
        payload: { conteudo: 'depois' },
      });
      expect(edit.statusCode, edit.body).toBe(200);
      const event = await eventAt(a, message.seq + 2);
      expectEnvelope(event, 'chat.message.updated', channel);
      expect(payloadOf(event)).toMatchObject({
        id: message.id,
        conteudo: 'depois',
        edited_at: expect.any(String),
      });
      // The payload is the full message, reactions included, exactly as REST answers it.
      expect(event.payload).toEqual(await getMessage(alice, channel, message.id));
    });

    it.skipIf(skip)('delete → chat.message.deleted {mensagem_id}', async () => {
      const channel = await newChannel(alice, [bob]);
      const message = await sendOk(bob, channel);
      const a = await open(alice, channel);
      const deletion = await t.inject({
        method: 'DELETE',
        url: `/api/chat/channels/${channel}/messages/${message.id}/`,
        headers: bob.auth,
      });
      expect(deletion.statusCode).toBe(204);
      const event = await eventAt(a, message.seq + 1);
      expectEnvelope(event, 'chat.message.deleted', channel);
      expect(event.payload).toEqual({ mensagem_id: message.id });
    });

    it.skipIf(skip)('hidden messages: content goes to staff sockets only, live and on replay', async () => {
      const channel = await newChannel(alice, [bob]);
      const message = await sendOk(bob, channel, { conteudo: 'conteúdo moderado' });
      const since = message.seq;
      const a = await open(alice, channel);
      const b = await open(bob, channel);
      const s = await open(staff, channel);
      await db().update(chatMessages).set({ hiddenAt: new Date() }).where(eq(chatMessages.id, message.id));
      const edit = await t.inject({
        method: 'PATCH',
        url: `/api/chat/channels/${channel}/messages/${message.id}/`,
        headers: staff.auth,
        payload: { conteudo: 'editado pela moderação' },
      });
      expect(edit.statusCode, edit.body).toBe(200);

      const forStaff = await eventAt(s, since + 1);
      expect(forStaff.type).toBe('chat.message.updated');
      expect(payloadOf(forStaff)).toMatchObject({
        id: message.id,
        conteudo: 'editado pela moderação',
        hidden_at: expect.any(String),
      });
      for (const socket of [a, b]) {
        const event = await eventAt(socket, since + 1);
        expectEnvelope(event, 'chat.message.updated', channel);
        expect(payloadOf(event)).toMatchObject({
          id: message.id,
          conteudo: '',
          hidden_at: expect.any(String),
        });
        expect(payloadOf(event).conteudo_cifrado ?? null).toBeNull();
        expect(JSON.stringify(socket.frames)).not.toContain('moderação');
      }

      // Replay from the log keeps the same rule.
      const replayBob = await open(bob, channel, since);
      const replayStaff = await open(staff, channel, since);
      expect(payloadOf(await eventAt(replayBob, since + 1)).conteudo).toBe('');
      expect(payloadOf(await eventAt(replayStaff, since + 1)).conteudo).toBe('editado pela moderação');
    });

    it.skipIf(skip)(
      'replaying from before a message was hidden or deleted never reveals its content',
      async () => {
        const channel = await newChannel(alice, [bob]);
        const hidden = await sendOk(bob, channel, { conteudo: 'segredo escondido' });
        const deleted = await sendOk(bob, channel, { conteudo: 'segredo apagado' });
        await db().update(chatMessages).set({ hiddenAt: new Date() }).where(eq(chatMessages.id, hidden.id));
        const removal = await t.inject({
          method: 'DELETE',
          url: `/api/chat/channels/${channel}/messages/${deleted.id}/`,
          headers: bob.auth,
        });
        expect(removal.statusCode).toBe(204);
        const replay = await open(alice, channel, hidden.seq - 1);
        expect(payloadOf(await eventAt(replay, hidden.seq))).toMatchObject({
          conteudo: '',
          hidden_at: expect.any(String),
        });
        expect(payloadOf(await eventAt(replay, deleted.seq)).conteudo).toBe('');
        expect(JSON.stringify(replay.frames)).not.toContain('segredo');
        const replayStaff = await open(staff, channel, hidden.seq - 1);
        expect(payloadOf(await eventAt(replayStaff, hidden.seq)).conteudo).toBe('segredo escondido');
        expect(JSON.stringify(replayStaff.frames)).not.toContain('segredo apagado');
      },
    );

    it.skipIf(skip)('E2EE channels carry ciphertext only; plaintext frames are refused', async () => {
      const channel = await newChannel(alice, [bob], { e2ee_habilitado: true });
      const a = await open(alice, channel);
      const b = await open(bob, channel);
      b.send({ tipo: 'text', conteudo: 'texto claro', client_id: 'plain' });
      expect((await errorFor(b, 'plain')).code).toBe('messages.e2ee_required');
      b.send({ tipo: 'text', ...CIPHER, client_id: 'enc' });
      const ack = await ackFor(b, 'enc');
      const event = await eventAt(a, ack.seq as number);
      expectEnvelope(event, 'chat.message', channel);
      expect(payloadOf(event)).toMatchObject({
        id: ack.id,
        conteudo: '',
        conteudo_cifrado: CIPHER.conteudo_cifrado,
        alg: 'AES-GCM',
        key_version: 1,
      });
      expect(JSON.stringify(a.frames)).not.toContain('texto claro');
      expect(a.frames.filter((frame) => frame.type === 'chat.message')).toHaveLength(1);
    });
  });

  // ---- participants and channel ------------------------------------------------------------------------
  describe('participant and channel events', () => {
    it.skipIf(skip)('joined, role_changed, left, removed; the removed user’s socket is closed', async () => {
      const frank = await t.createUser();
      const greg = await t.createUser();
      const channel = await newChannel(alice, [bob, frank]);
      const a = await open(alice, channel);
      const f = await open(frank, channel);
      const b = await open(bob, channel);
      const start = await lastSeqOf(channel);

      await client.addParticipants(alice, channel, [greg]);
      await client.setRole(alice, channel, bob, true);
      const leave = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${channel}/leave/`,
        headers: bob.auth,
      });
      expect(leave.statusCode, leave.body).toBe(204);
      await client.removeParticipants(alice, channel, [frank]);

      const expected = [
        { action: 'joined', user: { id: greg.id, username: greg.username } },
        { action: 'role_changed', user: { id: bob.id, username: bob.username }, is_admin: true },
        { action: 'left', user: { id: bob.id, username: bob.username } },
        { action: 'removed', user: { id: frank.id, username: frank.username } },
      ];
      for (const [index, payload] of expected.entries()) {
        const event = await eventAt(a, start + index + 1);
        expectEnvelope(event, 'chat.participant', channel);
        expect(event.payload).toMatchObject(payload);
      }
      expect(await f.waitForClose()).toBe(4403);
      expect(await b.waitForClose()).toBe(4403);
      // Alice is untouched and keeps receiving events.
      const after = await sendOk(alice, channel);
      expect((await eventAt(a, after.seq)).type).toBe('chat.message');
      expect(f.frames.filter((frame) => frame.seq === after.seq)).toEqual([]);
    });

    it.skipIf(skip)('chat.channel created is the channel’s first event, replayed from since=0', async () => {
      const created = await client.createChannel(alice, { participantes: [bob.id], titulo: 'Recém-criado' });
      // No socket can be open before the channel exists: a client sees the event on replay.
      const b = await open(bob, created.id, 0);
      const event = await eventAt(b, 1);
      expectEnvelope(event, 'chat.channel', created.id);
      expect(payloadOf(event).action).toBe('created');
      expect(payloadOf(event).channel).toMatchObject({
        id: created.id,
        contexto_tipo: 'privado',
        contexto_id: null,
        titulo: 'Recém-criado',
        created_by: alice.id,
        created_at: created.created_at,
        participantes: 2,
        ultima_mensagem: null,
        last_seq: 1,
      });
      expect(created.last_seq).toBe(1);
      expect(await lastSeqOf(created.id)).toBe(1);
      await sleep(100);
      expect(b.frames.filter(isEvent)).toHaveLength(1);
    });

    it.skipIf(skip)('chat.channel updated; deleted closes the channel’s sockets', async () => {
      const channel = await newChannel(alice, [bob]);
      const a = await open(alice, channel);
      const b = await open(bob, channel);
      const start = await lastSeqOf(channel);
      const update = await t.inject({
        method: 'PATCH',
        url: `/api/chat/channels/${channel}/`,
        headers: alice.auth,
        payload: { titulo: 'Novo título' },
      });
      expect(update.statusCode, update.body).toBe(200);
      const updated = await eventAt(b, start + 1);
      expectEnvelope(updated, 'chat.channel', channel);
      expect(updated.payload).toMatchObject({
        action: 'updated',
        channel: { id: channel, titulo: 'Novo título' },
      });

      const deletion = await t.inject({
        method: 'DELETE',
        url: `/api/chat/channels/${channel}/`,
        headers: staff.auth,
      });
      expect(deletion.statusCode, deletion.body).toBe(204);
      const deleted = await eventAt(a, start + 2);
      expectEnvelope(deleted, 'chat.channel', channel);
      expect(deleted.payload).toMatchObject({ action: 'deleted' });
      expect(await a.waitForClose()).toBe(4404);
      expect(await b.waitForClose()).toBe(4404);
    });
  });

  // ---- resume -------------------------------------------------------------------------------------------
  describe('resume with ?since=', () => {
    it.skipIf(skip)('replays every event after since, in order, then continues live', async () => {
      const channel = await newChannel(alice, [bob]);
      const since = await lastSeqOf(channel);
      const missed: Message[] = [];
      for (let i = 0; i < 6; i++) missed.push(await sendOk(bob, channel, { conteudo: `perdida ${i}` }));
      const last = missed[missed.length - 1]!.seq;
      const a = await open(alice, channel, since);
      await eventAt(a, last);
      expect(eventSeqs(a)).toEqual(range(since + 1, last));
      expect(a.frames.filter(isEvent).map((frame) => payloadOf(frame).conteudo)).toEqual(
        missed.map((message) => message.conteudo),
      );
      // Replayed events are the logged ones, envelope included.
      expectEnvelope(a.frames.find(isEvent)!, 'chat.message', channel);

      const live = await sendOk(bob, channel, { conteudo: 'ao vivo' });
      await eventAt(a, live.seq);
      expect(eventSeqs(a)).toEqual(range(since + 1, live.seq));
    });

    it.skipIf(skip)('since = last seq replays nothing and then delivers live events', async () => {
      const channel = await newChannel(alice, [bob]);
      await sendOk(bob, channel);
      const last = await lastSeqOf(channel);
      const a = await open(alice, channel, last);
      const live = await sendOk(bob, channel);
      await eventAt(a, live.seq);
      expect(eventSeqs(a)).toEqual([live.seq]);
      expect(a.frames.some((frame) => frame.type === 'resync_required')).toBe(false);
    });

    it.skipIf(skip)(
      'no gap and no duplicate at the replay/live boundary while messages keep arriving',
      async () => {
        const channel = await newChannel(alice, [bob, carol]);
        let keeper: WsClient | undefined;
        let keeperSince = 0;
        for (let round = 0; round < 6; round++) {
          // Half the rounds join a stream another socket already keeps open, half start a new one.
          if (round === 3) {
            keeperSince = await lastSeqOf(channel);
            keeper = await open(bob, channel, keeperSince);
          }
          const since = await lastSeqOf(channel);
          for (let i = 0; i < 3; i++) await sendOk(bob, channel, { conteudo: `antes ${round}.${i}` });
          // Sends racing the connect: some commit before the replay reads the log, some during it,
          // some after the socket went live.
          const sends = Array.from({ length: 8 }, (_, i) =>
            sendOk(i % 2 === 0 ? bob : carol, channel, { conteudo: `durante ${round}.${i}` }),
          );
          const [socket, ...sent] = await Promise.all([open(alice, channel, since), ...sends]);
          const last = Math.max(...sent.map((message) => message.seq));
          expect(last).toBe(await lastSeqOf(channel));
          await eventAt(socket!, last);
          await sleep(50);
          expect(eventSeqs(socket!)).toEqual(range(since + 1, last));
          socket!.close();
        }
        const end = await lastSeqOf(channel);
        await eventAt(keeper!, end);
        expect(eventSeqs(keeper!)).toEqual(range(keeperSince + 1, end));
      },
    );

    it.skipIf(skip)('since older than the retained log → resync_required', async () => {
      const channel = await newChannel(alice, [bob]);
      for (let i = 0; i < 6; i++) await sendOk(bob, channel);
      const last = await lastSeqOf(channel);
      // Retention pruned seqs 1..3.
      await db()
        .delete(chatEvents)
        .where(and(eq(chatEvents.channelId, channel), lte(chatEvents.seq, 3)));

      const stale = await open(alice, channel, 1);
      const resync = await stale.waitFor((frame) => frame.type === 'resync_required');
      expect(resync).toEqual({ type: 'resync_required', channel, last_seq: last });
      await sleep(100);
      expect(stale.frames.filter(isEvent)).toEqual([]);

      const zero = await open(alice, channel, 0);
      expect(await zero.waitFor((frame) => frame.type === 'resync_required')).toEqual({
        type: 'resync_required',
        channel,
        last_seq: last,
      });

      // since = 3: the log still holds 4.. — a plain replay.
      const fine = await open(alice, channel, 3);
      await eventAt(fine, last);
      expect(eventSeqs(fine)).toEqual(range(4, last));
      expect(fine.frames.some((frame) => frame.type === 'resync_required')).toBe(false);
    });

    it.skipIf(skip)('since ahead of the channel’s last seq → resync_required', async () => {
      const channel = await newChannel(alice, [bob]);
      await sendOk(bob, channel);
      const last = await lastSeqOf(channel);
      const ahead = await open(alice, channel, last + 5);
      // The channel's real position, to continue from after the refetch (not the client's since).
      expect(await ahead.waitFor((frame) => frame.type === 'resync_required')).toEqual({
        type: 'resync_required',
        channel,
        last_seq: last,
      });
      const justAhead = await open(alice, channel, last + 1);
      expect(await justAhead.waitFor((frame) => frame.type === 'resync_required')).toEqual({
        type: 'resync_required',
        channel,
        last_seq: last,
      });
      expect(justAhead.frames.filter(isEvent)).toEqual([]);
      // From there it is live: the next event is last + 1.
      const next = await sendOk(bob, channel);
      expect(next.seq).toBe(last + 1);
      await eventAt(justAhead, next.seq);
      expect(eventSeqs(justAhead)).toEqual([next.seq]);
    });
  });

  // ---- ordering -----------------------------------------------------------------------------------------
  describe('ordering', () => {
    it.skipIf(skip)(
      'every socket sees seq n before n+1, each exactly once, under concurrent senders',
      async () => {
        const channel = await newChannel(alice, [bob, carol, dave]);
        const since = await lastSeqOf(channel);
        const watchers = await Promise.all([open(alice, channel), open(staff, channel)]);
        const bobSocket = await open(bob, channel);
        const carolSocket = await open(carol, channel);
        const perSender = 10;
        const restSends = [alice, dave].flatMap((user) =>
          Array.from({ length: perSender }, (_, i) =>
            sendOk(user, channel, { conteudo: `${user.username} ${i}` }),
          ),
        );
        for (let i = 0; i < perSender; i++) {
          bobSocket.send({ tipo: 'text', conteudo: `bob ${i}`, client_id: `b${i}` });
          carolSocket.send({ tipo: 'text', conteudo: `carol ${i}`, client_id: `c${i}` });
        }
        await Promise.all(restSends);
        const bobAcks = await bobSocket.waitForCount('ack', perSender);
        const carolAcks = await carolSocket.waitForCount('ack', perSender);
        const last = since + 4 * perSender;
        expect(await lastSeqOf(channel)).toBe(last);
        // Frames of one socket are handled in the order they were sent.
        for (const acks of [bobAcks, carolAcks]) {
          const seqs = acks.map((ack) => ack.seq as number);
          expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
        }
        for (const socket of [...watchers, bobSocket, carolSocket]) {
          await eventAt(socket, last, 10_000);
          expect(eventSeqs(socket)).toEqual(range(since + 1, last));
        }
      },
    );
  });

  // ---- notifications -----------------------------------------------------------------------------------
  describe('notifications socket', () => {
    const notificationsFor = (socket: WsClient, messageId: string) =>
      socket.frames.filter((frame) => frame.type === 'chat.notification' && frame.mensagem_id === messageId);

    /** Sends probe messages until the notification socket reports one (it subscribes asynchronously). */
    async function untilFollowing(
      socket: WsClient,
      channel: string,
      sender: TestUser,
      body: Record<string, unknown> = {},
      timeoutMs = 5_000,
    ) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const probe = await sendOk(sender, channel, { conteudo: 'probe', ...body });
        try {
          return await socket.waitFor(
            (frame) => frame.type === 'chat.notification' && frame.mensagem_id === probe.id,
            250,
          );
        } catch {
          // not following yet
        }
      }
      throw new Error(`the notification socket never followed channel ${channel}`);
    }

    it.skipIf(skip)(
      'chat.notification for new messages in any of the user’s channels, not their own',
      async () => {
        const one = await newChannel(alice, [bob]);
        const two = await newChannel(carol, [bob]);
        const n = await openNotifications(bob);
        await untilFollowing(n, one, alice);
        await untilFollowing(n, two, carol);

        const fromAlice = await sendOk(alice, one, { conteudo: 'para o bob' });
        const fromCarol = await sendOk(carol, two, { conteudo: 'x'.repeat(500) });
        const own = await sendOk(bob, one, { conteudo: 'minha' });
        const sentinel = await sendOk(alice, one, { conteudo: 'sentinela' });

        const first = await n.waitFor((frame) => frame.mensagem_id === fromAlice.id);
        expect(first).toEqual({
          type: 'chat.notification',
          channel: one,
          mensagem_id: fromAlice.id,
          remetente: { id: alice.id, username: alice.username },
          preview: 'para o bob',
          reply_to: null,
        });
        const second = await n.waitFor((frame) => frame.mensagem_id === fromCarol.id);
        expect(second).toMatchObject({
          type: 'chat.notification',
          channel: two,
          remetente: { id: carol.id, username: carol.username },
        });
        expect(typeof second.preview).toBe('string');
        expect('x'.repeat(500).startsWith(second.preview as string)).toBe(true);
        await n.waitFor((frame) => frame.mensagem_id === sentinel.id);
        expect(notificationsFor(n, own.id)).toEqual([]);
        // Only notifications travel on this socket: no channel events.
        expect(n.frames.filter(isEvent)).toEqual([]);
      },
    );

    it.skipIf(skip)('it is read-only', async () => {
      const n = await openNotifications(bob);
      n.send({ tipo: 'text', conteudo: 'x' });
      expect(await n.waitFor((frame) => frame.type === 'error')).toMatchObject({ code: 'read_only' });
    });

    it.skipIf(skip)('E2EE messages are notified without a plaintext preview', async () => {
      const channel = await newChannel(alice, [bob], { e2ee_habilitado: true });
      const n = await openNotifications(bob);
      const notification = await untilFollowing(n, channel, alice, { conteudo: '', ...CIPHER });
      expect(notification).toMatchObject({ channel, remetente: { id: alice.id, username: alice.username } });
      expect(notification.preview ?? null).toBeNull();
    });

    it.skipIf(skip)('starts following a channel when the user is added to it', async () => {
      const home = await newChannel(alice, [bob]);
      const n = await openNotifications(bob);
      await untilFollowing(n, home, alice);
      const later = await newChannel(carol, []);
      await client.addParticipants(carol, later, [bob]);
      const notification = await untilFollowing(n, later, carol);
      expect(notification).toMatchObject({
        channel: later,
        remetente: { id: carol.id, username: carol.username },
      });
    });

    it.skipIf(skip)('starts following a channel created with the user as a participant', async () => {
      const home = await newChannel(alice, [bob]);
      const n = await openNotifications(bob);
      await untilFollowing(n, home, alice);
      const created = await newChannel(carol, [bob]);
      const notification = await untilFollowing(n, created, carol);
      expect(notification).toMatchObject({ channel: created });
    });

    it.skipIf(skip)('stops following a channel when the user is removed from it (or leaves)', async () => {
      const home = await newChannel(alice, [bob]);
      const removedFrom = await newChannel(alice, [bob]);
      const leftFrom = await newChannel(carol, [bob]);
      const n = await openNotifications(bob);
      await untilFollowing(n, home, alice);
      await untilFollowing(n, removedFrom, alice);
      await untilFollowing(n, leftFrom, carol);

      await client.removeParticipants(alice, removedFrom, [bob]);
      const leave = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${leftFrom}/leave/`,
        headers: bob.auth,
      });
      expect(leave.statusCode, leave.body).toBe(204);

      const afterRemoval = await sendOk(alice, removedFrom, { conteudo: 'já não é para ti' });
      const afterLeave = await sendOk(carol, leftFrom, { conteudo: 'também não' });
      const sentinel = await sendOk(alice, home, { conteudo: 'sentinela' });
      await n.waitFor((frame) => frame.mensagem_id === sentinel.id);
      await sleep(300);
      expect(notificationsFor(n, afterRemoval.id)).toEqual([]);
      expect(notificationsFor(n, afterLeave.id)).toEqual([]);
    });
  });

  // ---- send rate limit -----------------------------------------------------------------------------------
  describe('send rate limit (CHAT_SEND_RATE_LIMIT=3/2s)', () => {
    let limited: TestApp;
    let limitedBase: string;

    beforeAll(async () => {
      if (skip) return;
      limited = await createTestApp({
        ...busEnv(redis),
        CHAT_SEND_RATE_LIMIT: '3/2s',
        WS_FRAME_RATE_LIMIT: '0',
      });
      limitedBase = await listen(limited);
    });
    afterAll(async () => limited?.close());

    const sendTo = (user: TestUser, channel: string, body: Record<string, unknown> = {}) =>
      limited.inject({
        method: 'POST',
        url: `/api/chat/channels/${channel}/messages/`,
        headers: user.auth,
        payload: { tipo: 'text', conteudo: 'olá', ...body },
      });

    it.skipIf(skip)(
      'REST: the 4th send in the window answers 429 rate_limited with Retry-After',
      async () => {
        const owner = await limited.createUser();
        const member = await limited.createUser();
        const channel = (await chatClient(limited).createChannel(owner, { participantes: [member.id] })).id;
        for (let i = 0; i < 3; i++)
          expect((await sendTo(member, channel, { client_id: `k${i}` })).statusCode).toBe(201);
        const refused = await sendTo(member, channel);
        expect(refused.statusCode, refused.body).toBe(429);
        expect(refused.json()).toMatchObject({ code: 'rate_limited', detail: expect.any(String) });
        const retryAfter = Number(refused.headers['retry-after']);
        expect(Number.isInteger(retryAfter)).toBe(true);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(2);

        // The budget is per user: the owner still sends.
        expect((await sendTo(owner, channel)).statusCode).toBe(201);
        // A retry of an accepted message is not a new send: it still answers the original.
        const retry = await sendTo(member, channel, { client_id: 'k0' });
        expect(retry.statusCode, retry.body).toBe(200);

        const [row] = await limited.deps.database.db
          .select({ lastSeq: chatChannels.lastSeq })
          .from(chatChannels)
          .where(eq(chatChannels.id, channel));
        expect(row!.lastSeq).toBe(5); // created + 3 from member + 1 from owner

        // After the window the member may send again.
        await sleep(2_050);
        expect((await sendTo(member, channel)).statusCode).toBe(201);
      },
    );

    it.skipIf(skip)(
      'WebSocket: over budget answers an error frame rate_limited; REST and WS share it',
      async () => {
        const owner = await limited.createUser();
        const member = await limited.createUser();
        const channel = (await chatClient(limited).createChannel(owner, { participantes: [member.id] })).id;
        const socket = await connect(`${limitedBase}/ws/chat/${channel}/?token=${member.token}&since=1`);
        opened.push(socket);
        const watcher = await connect(`${limitedBase}/ws/chat/${channel}/?token=${owner.token}&since=1`);
        opened.push(watcher);

        expect((await sendTo(member, channel)).statusCode).toBe(201);
        socket.send({ tipo: 'text', conteudo: 'um', client_id: 'w1' });
        socket.send({ tipo: 'text', conteudo: 'dois', client_id: 'w2' });
        socket.send({ tipo: 'text', conteudo: 'três', client_id: 'w3' });
        const acks = await Promise.all([ackFor(socket, 'w1'), ackFor(socket, 'w2')]);
        const error = await errorFor(socket, 'w3');
        expect(error).toMatchObject({ type: 'error', code: 'rate_limited', client_id: 'w3' });
        expect(error.detail).toMatch(/messages/i);
        expect((await sendTo(member, channel)).statusCode).toBe(429);

        const last = acks[1]!.seq as number;
        await eventAt(watcher, last);
        await sleep(100);
        expect(watcher.frames.filter((frame) => frame.type === 'chat.message')).toHaveLength(3);
        expect(socket.frames.some((frame) => frame.type === 'ack' && frame.client_id === 'w3')).toBe(false);
      },
    );
  });
});
