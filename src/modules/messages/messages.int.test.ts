import { webcrypto } from 'node:crypto';
import { and, asc, count, eq } from 'drizzle-orm';
import { expectEventLogIntact as expectLogIntact } from '../../../test/support/event-log.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { busEnv, connect, listen, skipRedisTests, type Frame } from '../../../test/support/ws.js';
import { newId } from '../../shared/ids.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatEvents } from '../events/events.table.js';
import { chatMessageEdits, chatModerationLogs } from '../moderation/moderation.table.js';
import { chatParticipants } from '../channels/participants.table.js';
import { createMessagesRepository } from './messages.repository.js';
import { chatMessages } from './messages.table.js';

type Message = {
  id: string;
  channel: string;
  seq: number;
  remetente: { id: string; username: string } | null;
  tipo: string;
  conteudo: string;
  conteudo_cifrado: string | null;
  alg: string | null;
  key_version: number | null;
  reply_to: { id: string; [key: string]: unknown } | null;
  client_id: string | null;
  pinned_at: string | null;
  hidden_at: string | null;
  edited_at: string | null;
  reactions: Record<string, number>;
  created_at: string;
};
type Page = { results: Message[]; next: string | null; previous: string | null };
type Response = Awaited<ReturnType<TestApp['inject']>>;

/** What 4000 characters (MESSAGE_MAX_CHARS) of 4 UTF-8 bytes each encrypt to: IV + ciphertext + tag, base64. */
const CIPHERTEXT_BOUND = 4 * Math.ceil((4 * 4000 + 12 + 16) / 3); // 21,372

/** AES-GCM as a browser client does it: a fresh 12-byte IV sent ahead of the sealed text, in base64. */
async function encrypt(text: string): Promise<string> {
  const key = await webcrypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt']);
  const iv = webcrypto.getRandomValues(new Uint8Array(12));
  const sealed = await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(text));
  return Buffer.concat([iv, new Uint8Array(sealed)]).toString('base64');
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function expectError(response: Response, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.json()).toEqual(expect.objectContaining({ detail: expect.any(String), code }));
}

/** The path and query of an absolute `next`/`previous` URL, for app.inject. */
function pathOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

describe.skipIf(skipDatabaseTests)('messages', () => {
  let t: TestApp;
  let client: ReturnType<typeof chatClient>;
  let alice: TestUser; // owner of the main channel
  let bob: TestUser; // participant
  let carol: TestUser; // participant
  let dave: TestUser; // admin, not owner
  let eve: TestUser; // outsider
  let staff: TestUser; // staff, not a participant
  let channelId: string;
  const touchedChannels = new Set<string>();

  const db = () => t.deps.database.db;
  const messagesUrl = (channel: string) => `/api/chat/channels/${channel}/messages/`;
  const messageUrl = (channel: string, message: string) =>
    `/api/chat/channels/${channel}/messages/${message}/`;

  async function newChannel(owner: TestUser, members: TestUser[], extra: Record<string, unknown> = {}) {
    const channel = await client.createChannel(owner, {
      participantes: members.map((user) => user.id),
      ...extra,
    });
    touchedChannels.add(channel.id);
    return channel.id;
  }

  /** Promotes a participant straight in the database (the role endpoint has its own tests). */
  async function makeAdmin(channel: string, user: TestUser) {
    await db()
      .update(chatParticipants)
      .set({ isAdmin: true })
      .where(and(eq(chatParticipants.channelId, channel), eq(chatParticipants.userId, user.id)));
  }

  function send(user: TestUser, channel: string, body: Record<string, unknown>) {
    return t.inject({ method: 'POST', url: messagesUrl(channel), headers: user.auth, payload: body });
  }

  function edit(user: TestUser, channel: string, id: string, body: Record<string, unknown>) {
    return t.inject({ method: 'PATCH', url: messageUrl(channel, id), headers: user.auth, payload: body });
  }

  async function editHistory(messageId: string) {
    return db().select().from(chatMessageEdits).where(eq(chatMessageEdits.messageId, messageId));
  }

  async function sendText(
    user: TestUser,
    channel: string,
    conteudo: string,
    extra: Record<string, unknown> = {},
  ) {
    return (await client.sendMessage(user, channel, { conteudo, ...extra })) as unknown as Message;
  }

  async function list(user: TestUser, channel: string, query = ''): Promise<Page> {
    const response = await t.inject({ url: `${messagesUrl(channel)}${query}`, headers: user.auth });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Page;
  }

  async function countMessages(channel: string) {
    const [row] = await db()
      .select({ total: count() })
      .from(chatMessages)
      .where(eq(chatMessages.channelId, channel));
    return Number(row!.total);
  }

  async function messageRow(id: string) {
    const [row] = await db().select().from(chatMessages).where(eq(chatMessages.id, id));
    return row!;
  }

  const expectEventLogIntact = (channel: string) => expectLogIntact(db(), channel);

  beforeAll(async () => {
    t = await createTestApp();
    client = chatClient(t);
    [alice, bob, carol, dave, eve] = await Promise.all([
      t.createUser(),
      t.createUser(),
      t.createUser(),
      t.createUser(),
      t.createUser(),
    ]);
    staff = await t.createUser({ staff: true });
    channelId = await newChannel(alice, [bob, carol, dave]);
    await makeAdmin(channelId, dave);
  });
  afterAll(async () => t?.close());

  describe('sending', () => {
    it('answers 201 with the full message, logs a chat.message event with its seq and updates the channel', async () => {
      const response = await send(bob, channelId, { tipo: 'text', conteudo: 'Bom dia' });
      expect(response.statusCode, response.body).toBe(201);
      const message = response.json() as Message;
      expect(message).toMatchObject({
        channel: channelId,
        remetente: { id: bob.id, username: bob.username },
        tipo: 'text',
        conteudo: 'Bom dia',
        reply_to: null,
        pinned_at: null,
        hidden_at: null,
        edited_at: null,
        reactions: {},
      });
      expect(message.id).toMatch(UUID);
      expect(message.created_at).toMatch(ISO_TIMESTAMP);
      expect(Number.isInteger(message.seq)).toBe(true);

      const events = await expectEventLogIntact(channelId);
      const event = events.find((e) => e.seq === message.seq);
      expect(event).toMatchObject({
        type: 'chat.message',
        payload: expect.objectContaining({ id: message.id }),
      });
      expect(events[events.length - 1]!.seq).toBe(message.seq);

      const channel = await t.inject({ url: `/api/chat/channels/${channelId}/`, headers: carol.auth });
      expect(channel.statusCode).toBe(200);
      expect(channel.json()).toMatchObject({
        participantes: 4,
        last_seq: message.seq,
        ultima_mensagem: expect.objectContaining({ id: message.id, conteudo: 'Bom dia' }),
      });
    });

    it('lets participants post; anonymous 401, outsider 404, staff who is not a participant 403', async () => {
      const before = await countMessages(channelId);
      const body = { tipo: 'text', conteudo: 'x' };
      const anonymous = await t.inject({ method: 'POST', url: messagesUrl(channelId), payload: body });
      expect(anonymous.statusCode).toBe(401);
      expectError(await send(eve, channelId, body), 404, 'channels.not_found');
      expectError(await send(staff, channelId, body), 403, 'channels.not_member');
      expect(await countMessages(channelId)).toBe(before);
      for (const user of [alice, bob, dave]) expect((await send(user, channelId, body)).statusCode).toBe(201);
      expect(await countMessages(channelId)).toBe(before + 3);
      await expectEventLogIntact(channelId);
    });

    it('refuses empty or blank content (400 messages.empty) and writes nothing', async () => {
      const channel = await newChannel(alice, [bob]);
      const before = await expectEventLogIntact(channel);
      expectError(await send(bob, channel, { tipo: 'text', conteudo: '' }), 400, 'messages.empty');
      expectError(await send(bob, channel, { tipo: 'text', conteudo: ' \n\t ' }), 400, 'messages.empty');
      expectError(await send(bob, channel, { tipo: 'text' }), 400, 'messages.empty');
      expect(await countMessages(channel)).toBe(0);
      expect(await expectEventLogIntact(channel)).toHaveLength(before.length);
    });

    it('limits content to MESSAGE_MAX_CHARS (4000) counted in characters, not UTF-16 units', async () => {
      expect(t.config.chat.messageMaxChars).toBe(4000);
      const channel = await newChannel(alice, [bob]);
      expect((await send(bob, channel, { tipo: 'text', conteudo: 'a'.repeat(4000) })).statusCode).toBe(201);
      expectError(
        await send(bob, channel, { tipo: 'text', conteudo: 'a'.repeat(4001) }),
        400,
        'messages.too_long',
      );
      // 4000 emoji are 8000 UTF-16 code units but 4000 characters.
      const emoji = await send(bob, channel, { tipo: 'text', conteudo: '😀'.repeat(4000) });
      expect(emoji.statusCode, emoji.body).toBe(201);
      expect([...(emoji.json() as Message).conteudo]).toHaveLength(4000);
      expectError(
        await send(bob, channel, { tipo: 'text', conteudo: '😀'.repeat(4001) }),
        400,
        'messages.too_long',
      );
      expect(await countMessages(channel)).toBe(2);
      await expectEventLogIntact(channel);
    });

    it('refuses image, video and file with a clear code until uploads exist', async () => {
      const before = await countMessages(channelId);
      for (const tipo of ['image', 'video', 'file']) {
        expectError(
          await send(bob, channelId, { tipo, conteudo: 'https://example.test/x.png' }),
          400,
          'messages.type_not_supported',
        );
      }
      expectError(await send(bob, channelId, { tipo: 'audio', conteudo: 'x' }), 400, 'validation_error');
      expect(await countMessages(channelId)).toBe(before);
      await expectEventLogIntact(channelId);
    });

    it('reply_to must be a visible message of the same channel', async () => {
      const original = await sendText(bob, channelId, 'pergunta');
      const reply = await sendText(carol, channelId, 'resposta', { reply_to: original.id });
      // reply_to is the parent's preview (messages.replies.ts), on the send and on reads.
      const preview = {
        id: original.id,
        remetente: { id: bob.id, username: bob.username },
        conteudo: 'pergunta',
        tipo: 'text',
        hidden_at: null,
        is_spam: false,
      };
      expect(reply.reply_to).toEqual(preview);
      const fetched = await t.inject({ url: messageUrl(channelId, reply.id), headers: alice.auth });
      expect(fetched.json()).toMatchObject({ reply_to: preview });

      const otherChannel = await newChannel(bob, []);
      const elsewhere = await sendText(bob, otherChannel, 'em outro canal');
      const before = await countMessages(channelId);
      const eventsBefore = (await expectEventLogIntact(channelId)).length;
      expectError(
        await send(bob, channelId, { tipo: 'text', conteudo: 'x', reply_to: elsewhere.id }),
        400,
        'messages.invalid_reply_to',
      );
      expectError(
        await send(bob, channelId, { tipo: 'text', conteudo: 'x', reply_to: newId() }),
        400,
        'messages.invalid_reply_to',
      );

      const deleted = await sendText(bob, channelId, 'apagada');
      expect(
        (await t.inject({ method: 'DELETE', url: messageUrl(channelId, deleted.id), headers: bob.auth }))
          .statusCode,
      ).toBe(204);
      const hidden = await sendText(bob, channelId, 'moderada');
      await db().update(chatMessages).set({ hiddenAt: new Date() }).where(eq(chatMessages.id, hidden.id));
      expectError(
        await send(carol, channelId, { tipo: 'text', conteudo: 'x', reply_to: deleted.id }),
        400,
        'messages.invalid_reply_to',
      );
      expectError(
        await send(carol, channelId, { tipo: 'text', conteudo: 'x', reply_to: hidden.id }),
        400,
        'messages.invalid_reply_to',
      );
      // Only the two messages sent on purpose (and the delete event) were written.
      expect(await countMessages(channelId)).toBe(before + 2);
      expect((await expectEventLogIntact(channelId)).length).toBe(eventsBefore + 3);
    });
  });

  describe('client_id (idempotent retries)', () => {
    it('a client_id whose message was deleted since is refused with 409, not answered with the deleted message', async () => {
      const channel = await newChannel(alice, [bob]);
      const first = (
        await send(bob, channel, { tipo: 'text', conteudo: 'apagar', client_id: 'gone-1' })
      ).json() as Message;
      const deleted = await t.inject({
        method: 'DELETE',
        url: messageUrl(channel, first.id),
        headers: bob.auth,
      });
      expect(deleted.statusCode).toBe(204);
      const retry = await send(bob, channel, { tipo: 'text', conteudo: 'apagar', client_id: 'gone-1' });
      expect(retry.statusCode).toBe(409);
      expect(retry.json()).toEqual({ detail: expect.any(String), code: 'messages.client_id_reused' });
      expect(retry.body).not.toContain('apagar');
    });

    it('a repeated client_id from the same sender answers 200 with the original message', async () => {
      const channel = await newChannel(alice, [bob, carol]);
      const first = await send(bob, channel, { tipo: 'text', conteudo: 'uma vez', client_id: 'c-1' });
      expect(first.statusCode).toBe(201);
      const original = first.json() as Message;
      expect(original.client_id).toBe('c-1');

      const retry = await send(bob, channel, { tipo: 'text', conteudo: 'outro texto', client_id: 'c-1' });
      expect(retry.statusCode, retry.body).toBe(200);
      expect(retry.json()).toMatchObject({ id: original.id, seq: original.seq, conteudo: 'uma vez' });

      // Another sender, or the same sender in another channel, may reuse the id.
      const carols = await send(carol, channel, { tipo: 'text', conteudo: 'carol', client_id: 'c-1' });
      expect(carols.statusCode).toBe(201);
      expect((carols.json() as Message).id).not.toBe(original.id);
      const otherChannel = await newChannel(bob, []);
      expect(
        (await send(bob, otherChannel, { tipo: 'text', conteudo: 'x', client_id: 'c-1' })).statusCode,
      ).toBe(201);

      expect(await countMessages(channel)).toBe(2);
      const events = await expectEventLogIntact(channel);
      expect(events.filter((event) => event.type === 'chat.message')).toHaveLength(2);
    });

    it('two identical sends racing: exactly one 201, the other 200 with the same id, and no seq gap', async () => {
      const channel = await newChannel(alice, [bob]);
      for (let round = 0; round < 3; round++) {
        const body = { tipo: 'text', conteudo: `corrida ${round}`, client_id: `race-${round}` };
        const responses = await Promise.all([send(bob, channel, body), send(bob, channel, body)]);
        const statuses = responses.map((response) => response.statusCode).sort();
        expect(statuses, responses.map((response) => response.body).join('\n')).toEqual([200, 201]);
        const [a, b] = responses.map((response) => response.json() as Message);
        expect(a!.id).toBe(b!.id);
        expect(a!.seq).toBe(b!.seq);
      }
      // Five at once as well.
      const body = { tipo: 'text', conteudo: 'cinco', client_id: 'race-5' };
      const responses = await Promise.all(Array.from({ length: 5 }, () => send(bob, channel, body)));
      expect(responses.filter((response) => response.statusCode === 201)).toHaveLength(1);
      expect(responses.filter((response) => response.statusCode === 200)).toHaveLength(4);
      expect(new Set(responses.map((response) => (response.json() as Message).id)).size).toBe(1);

      expect(await countMessages(channel)).toBe(4);
      const events = await expectEventLogIntact(channel);
      expect(events.filter((event) => event.type === 'chat.message')).toHaveLength(4);
      // The next message takes the very next seq: nothing was handed out and lost.
      const next = await sendText(bob, channel, 'depois');
      expect(next.seq).toBe(events.length + 1);
      await expectEventLogIntact(channel);
    });

    it('concurrent sends without client_id get distinct seqs with no gaps', async () => {
      const channel = await newChannel(alice, [bob, carol]);
      const responses = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          send(i % 2 ? bob : carol, channel, { tipo: 'text', conteudo: `m${i}` }),
        ),
      );
      expect(responses.map((response) => response.statusCode)).toEqual(Array(12).fill(201));
      const seqs = responses.map((response) => (response.json() as Message).seq);
      expect(new Set(seqs).size).toBe(12);
      const events = await expectEventLogIntact(channel);
      expect(
        events
          .filter((event) => event.type === 'chat.message')
          .map((event) => event.seq)
          .sort((x, y) => x - y),
      ).toEqual([...seqs].sort((x, y) => x - y));
    });

    it('concurrent sends over many channels (group writes): every channel gets its own gap-free seqs, a repeated client_id answers only itself', async () => {
      const channels = await Promise.all(Array.from({ length: 6 }, () => newChannel(alice, [bob, carol])));
      const sends = channels.flatMap((channel, c) =>
        Array.from({ length: 6 }, (_, i) =>
          send(i % 2 ? bob : carol, channel, {
            tipo: 'text',
            conteudo: `c${c} m${i}`,
            // Messages 4 and 5 of each channel are the same retried send.
            client_id: `k${c}-${Math.min(i, 4)}`,
          }),
        ),
      );
      const responses = await Promise.all(sends);
      for (const [c, channel] of channels.entries()) {
        const mine = responses.slice(c * 6, c * 6 + 6);
        const bodies = mine.map((response) => response.json() as Message);
        expect(mine.slice(0, 4).map((response) => response.statusCode)).toEqual([201, 201, 201, 201]);
        // The two sends of k-4 come from different senders (carol and bob): both are new messages.
        expect(mine.slice(4).map((response) => response.statusCode)).toEqual([201, 201]);
        expect(bodies.every((body) => body.channel === channel)).toBe(true);
        const seqs = bodies.map((body) => body.seq).sort((x, y) => x - y);
        const events = await expectEventLogIntact(channel);
        const messageSeqs = events.filter((event) => event.type === 'chat.message').map((event) => event.seq);
        expect(seqs).toEqual(messageSeqs);
        for (const body of bodies) {
          expect(events.find((event) => event.seq === body.seq)?.payload).toMatchObject({
            id: body.id,
            conteudo: body.conteudo,
          });
        }
      }
      // The same sender retrying one client_id in several channels at once: one message per channel.
      const retries = await Promise.all(
        channels.flatMap((channel) =>
          [0, 1, 2].map(() => send(bob, channel, { tipo: 'text', conteudo: 'r', client_id: 'same' })),
        ),
      );
      for (const [c, channel] of channels.entries()) {
        const mine = retries.slice(c * 3, c * 3 + 3);
        expect(mine.map((response) => response.statusCode).sort()).toEqual([200, 200, 201]);
        expect(new Set(mine.map((response) => (response.json() as Message).id)).size).toBe(1);
        await expectEventLogIntact(channel);
      }
    });

    it('the group write stores messages of several channels in one statement, in order, and skips deleted or unknown channels and senders who may not post', async () => {
      const repository = createMessagesRepository({ db: db() });
      const [first, second, deleted] = await Promise.all([
        newChannel(alice, [bob, carol]),
        newChannel(alice, [bob]),
        newChannel(alice, [bob]),
      ]);
      await sendText(bob, second, 'already one');
      await db().update(chatChannels).set({ deletedAt: new Date() }).where(eq(chatChannels.id, deleted));
      // carol was removed from the first channel; eve never was in it; staff is not a participant.
      await db()
        .update(chatParticipants)
        .set({ removedAt: new Date() })
        .where(and(eq(chatParticipants.channelId, first), eq(chatParticipants.userId, carol.id)));
      const write = (
        channel: string,
        conteudo: string,
        options: { clientId?: string; sender?: TestUser } = {},
      ) => {
        const now = new Date();
        const sender = options.sender ?? bob;
        const message = {
          id: newId(),
          channelId: channel,
          remetenteId: sender.id,
          tipo: 'text' as const,
          conteudo,
          clientId: options.clientId ?? null,
          createdAt: now,
        };
        return {
          message,
          senderIsStaff: sender.isStaff,
          eventId: newId(),
          payload: { id: message.id, conteudo },
        };
      };
      const lastSeq = async (channel: string) =>
        (await db().select().from(chatChannels).where(eq(chatChannels.id, channel)))[0]!.lastSeq;
      const [f, s] = [await lastSeq(first), await lastSeq(second)];
      const items = [
        write(first, 'f1'),
        write(second, 's1'),
        write(deleted, 'd1'),
        write(first, 'by a removed participant', { sender: carol }),
        write(first, 'f2'),
        write(newId(), 'unknown'),
        write(second, 'by an outsider', { sender: eve }),
        write(second, 's2'),
        write(first, 'by staff, not a participant', { sender: staff }),
        write(first, 'f3'),
      ];
      expect(await repository.insertWithEvents(items)).toEqual([
        f + 1,
        s + 1,
        undefined,
        undefined,
        f + 2,
        undefined,
        undefined,
        s + 2,
        undefined,
        f + 3,
      ]);
      for (const channel of [first, second]) {
        const events = await expectEventLogIntact(channel);
        expect(events.at(-1)!.payload).toMatchObject({ seq: events.length });
      }
      expect(await countMessages(deleted)).toBe(0);
      expect(await countMessages(first)).toBe(3);

      // A repeated client_id fails the whole statement: nothing is stored and no seq is used up.
      const dupes = [
        write(first, 'x', { clientId: 'dup' }),
        write(second, 'y'),
        write(first, 'z', { clientId: 'dup' }),
      ];
      await expect(repository.insertWithEvents(dupes)).rejects.toThrow();
      expect(await countMessages(first)).toBe(3);
      expect((await expectEventLogIntact(second)).length).toBe(s + 2);
      expect(await lastSeq(first)).toBe(f + 3);
    });
  });

  describe('end-to-end encrypted channels', () => {
    let e2ee: string;
    const cipher = {
      tipo: 'text',
      conteudo_cifrado: 'bWVuc2FnZW0gY2lmcmFkYQ==',
      alg: 'AES-GCM',
      key_version: 1,
    };

    beforeAll(async () => {
      e2ee = await newChannel(alice, [bob], { e2ee_habilitado: true });
    });

    it('refuses plaintext (400 messages.e2ee_required) and writes nothing', async () => {
      expectError(
        await send(bob, e2ee, { tipo: 'text', conteudo: 'segredo' }),
        400,
        'messages.e2ee_required',
      );
      expectError(await send(bob, e2ee, { ...cipher, conteudo: 'segredo' }), 400, 'messages.e2ee_required');
      expectError(
        await send(bob, e2ee, { ...cipher, key_version: undefined }),
        400,
        'messages.e2ee_required',
      );
      expectError(
        await send(bob, e2ee, { ...cipher, conteudo_cifrado: undefined }),
        400,
        'messages.e2ee_required',
      );
      expectError(await send(bob, e2ee, { ...cipher, alg: 'AES-CBC' }), 400, 'messages.e2ee_required');
      expect(await countMessages(e2ee)).toBe(0);
      await expectEventLogIntact(e2ee);
    });

    it('requires alg as well (conteudo_cifrado, alg and key_version are all required)', async () => {
      const before = await countMessages(e2ee);
      const { alg: _alg, ...withoutAlg } = cipher;
      const response = await send(bob, e2ee, withoutAlg);
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toMatchObject({ code: 'messages.e2ee_required', detail: expect.any(String) });
      expect(await countMessages(e2ee)).toBe(before);
    });

    it('stores conteudo_cifrado, alg and key_version and never any conteudo', async () => {
      const response = await send(bob, e2ee, cipher);
      expect(response.statusCode, response.body).toBe(201);
      const message = response.json() as Message;
      expect(message).toMatchObject({
        conteudo: '',
        conteudo_cifrado: cipher.conteudo_cifrado,
        alg: 'AES-GCM',
        key_version: 1,
      });
      const row = await messageRow(message.id);
      expect(row).toMatchObject({
        conteudo: '',
        conteudoCifrado: cipher.conteudo_cifrado,
        alg: 'AES-GCM',
        keyVersion: 1,
      });
      const page = await list(alice, e2ee);
      expect(page.results.map((m) => m.id)).toContain(message.id);
      await expectEventLogIntact(e2ee);
    });

    it('edits replace the ciphertext; plaintext edits are refused; history keeps the old ciphertext', async () => {
      const message = (await send(bob, e2ee, cipher)).json() as Message;
      expectError(
        await t.inject({
          method: 'PATCH',
          url: messageUrl(e2ee, message.id),
          headers: bob.auth,
          payload: { conteudo: 'texto claro' },
        }),
        400,
        'messages.e2ee_required',
      );
      const edited = await t.inject({
        method: 'PATCH',
        url: messageUrl(e2ee, message.id),
        headers: bob.auth,
        payload: { conteudo_cifrado: 'bm92bw==', key_version: 2 },
      });
      expect(edited.statusCode, edited.body).toBe(200);
      expect(edited.json()).toMatchObject({
        conteudo: '',
        conteudo_cifrado: 'bm92bw==',
        key_version: 2,
        alg: 'AES-GCM',
      });
      const history = await db()
        .select()
        .from(chatMessageEdits)
        .where(eq(chatMessageEdits.messageId, message.id));
      expect(history.map((row) => row.previousContent)).toEqual([cipher.conteudo_cifrado]);
      expect((await messageRow(message.id)).conteudo).toBe('');
      await expectEventLogIntact(e2ee);
    });

    it('caps conteudo_cifrado at what a MESSAGE_MAX_CHARS plaintext encrypts to: at the bound 201, longer 400 messages.too_long, nothing stored', async () => {
      const channel = await newChannel(alice, [bob], { e2ee_habilitado: true });
      // The longest plaintext there is: 4000 characters of 4 UTF-8 bytes each.
      const longest = await encrypt('😀'.repeat(4000));
      expect(longest).toHaveLength(CIPHERTEXT_BOUND);
      const accepted = await send(bob, channel, { ...cipher, conteudo_cifrado: longest });
      expect(accepted.statusCode, accepted.body).toBe(201);
      expect((await messageRow((accepted.json() as Message).id)).conteudoCifrado).toBe(longest);
      const eventsBefore = (await expectEventLogIntact(channel)).length;

      for (const conteudo_cifrado of [`${longest}A`, 'A'.repeat(500_000)]) {
        expectError(await send(bob, channel, { ...cipher, conteudo_cifrado }), 400, 'messages.too_long');
      }
      // Beyond what the largest MESSAGE_MAX_CHARS allows, the request schema refuses it already.
      expectError(
        await send(bob, channel, { ...cipher, conteudo_cifrado: 'A'.repeat(600_000) }),
        400,
        'validation_error',
      );
      expect(await countMessages(channel)).toBe(1);
      expect(await expectEventLogIntact(channel)).toHaveLength(eventsBefore);
      const view = await t.inject({ url: `/api/chat/channels/${channel}/`, headers: alice.auth });
      expect(view.json()).toMatchObject({
        ultima_mensagem: expect.objectContaining({ conteudo_cifrado: longest }),
      });
    });

    it('over WebSocket the same bound applies: a longer ciphertext gets an error frame messages.too_long and is not stored', async () => {
      const channel = await newChannel(alice, [bob], { e2ee_habilitado: true });
      const socket = await connect(`${await listen(t)}/ws/chat/${channel}/?token=${bob.token}`);
      try {
        const reply = (clientId: string) =>
          socket.waitFor((frame: Frame) => frame.client_id === clientId && frame.type !== 'chat.message');
        socket.send({ ...cipher, conteudo_cifrado: 'A'.repeat(CIPHERTEXT_BOUND + 1), client_id: 'longa' });
        expect(await reply('longa')).toMatchObject({ type: 'error', code: 'messages.too_long' });
        socket.send({ ...cipher, conteudo_cifrado: 'A'.repeat(CIPHERTEXT_BOUND), client_id: 'no-limite' });
        const ack = await reply('no-limite');
        expect(ack).toMatchObject({ type: 'ack', id: expect.any(String) });
        expect(await countMessages(channel)).toBe(1);
        expect((await messageRow(ack.id as string)).conteudoCifrado).toHaveLength(CIPHERTEXT_BOUND);
      } finally {
        socket.close();
        await socket.waitForClose();
      }
    });

    it('edits are held to the same bound: a longer ciphertext is refused (400 messages.too_long) and changes nothing', async () => {
      const channel = await newChannel(alice, [bob], { e2ee_habilitado: true });
      const message = (await send(bob, channel, cipher)).json() as Message;
      const eventsBefore = (await expectEventLogIntact(channel)).length;
      for (const conteudo_cifrado of ['A'.repeat(CIPHERTEXT_BOUND + 1), 'A'.repeat(500_000)]) {
        expectError(
          await edit(bob, channel, message.id, { conteudo_cifrado, key_version: 2 }),
          400,
          'messages.too_long',
        );
      }
      expect(await messageRow(message.id)).toMatchObject({
        conteudoCifrado: cipher.conteudo_cifrado,
        keyVersion: 1,
        editedAt: null,
      });
      expect(await editHistory(message.id)).toHaveLength(0);
      expect(await expectEventLogIntact(channel)).toHaveLength(eventsBefore);

      const atBound = 'A'.repeat(CIPHERTEXT_BOUND);
      const edited = await edit(bob, channel, message.id, { conteudo_cifrado: atBound, key_version: 2 });
      expect(edited.statusCode, edited.body).toBe(200);
      expect((await messageRow(message.id)).conteudoCifrado).toBe(atBound);
    });

    it('a channel without E2EE refuses ciphertext (400 messages.e2ee_not_enabled)', async () => {
      const before = await countMessages(channelId);
      expectError(await send(bob, channelId, cipher), 400, 'messages.e2ee_not_enabled');
      expectError(
        await send(bob, channelId, { tipo: 'text', conteudo: 'x', key_version: 1 }),
        400,
        'messages.e2ee_not_enabled',
      );
      expect(await countMessages(channelId)).toBe(before);
    });
  });

  describe('listing', () => {
    it('pages 120 messages with keyset cursors both ways: newest page first, chronological, no gaps or duplicates', async () => {
      const channel = await newChannel(alice, [bob]);
      const sent: Message[] = [];
      for (let i = 1; i <= 120; i++) {
        sent.push(await sendText(i % 3 ? alice : bob, channel, `m${i}`));
        // Other events in between: message seqs are not contiguous, paging must not care.
        if (i === 40) await client.addParticipants(alice, channel, [carol]);
      }
      const ids = (messages: Message[]) => messages.map((m) => m.id);
      const contents = (messages: Message[]) => messages.map((m) => m.conteudo);
      const range = (from: number, to: number) =>
        Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);

      // Without a cursor: the newest page.
      const newest = await list(bob, channel, '?limit=50');
      expect(contents(newest.results)).toEqual(range(71, 120));
      expect(newest.next).toBeNull();
      expect(newest.previous).not.toBeNull();

      // previous walks to older pages.
      const older = (await t.inject({ url: pathOf(newest.previous!), headers: bob.auth })).json() as Page;
      expect(contents(older.results)).toEqual(range(21, 70));
      expect(older.previous).not.toBeNull();
      expect(older.next).not.toBeNull();
      const oldest = (await t.inject({ url: pathOf(older.previous!), headers: bob.auth })).json() as Page;
      expect(contents(oldest.results)).toEqual(range(1, 20));
      expect(oldest.previous).toBeNull();
      expect(oldest.next).not.toBeNull();

      const backwards = [...oldest.results, ...older.results, ...newest.results];
      expect(ids(backwards)).toEqual(ids(sent));

      // next walks back to newer pages.
      const forward: Message[] = [...oldest.results];
      let url: string | null = oldest.next;
      let pages = 1;
      while (url) {
        const page = (await t.inject({ url: pathOf(url), headers: bob.auth })).json() as Page;
        expect(page.results.length).toBeGreaterThan(0);
        expect(page.results.length).toBeLessThanOrEqual(50);
        forward.push(...page.results);
        url = page.next;
        pages++;
        expect(pages).toBeLessThan(10);
      }
      expect(pages).toBe(3);
      expect(ids(forward)).toEqual(ids(sent));
      expect(new Set(ids(forward)).size).toBe(120);

      // Chronological: seq strictly increases, created_at never goes back.
      const seqs = forward.map((m) => m.seq);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(seqs.length);
      const times = forward.map((m) => Date.parse(m.created_at));
      expect(times).toEqual([...times].sort((x, y) => x - y));

      // Default limit 50, max 200.
      const byDefault = await list(bob, channel);
      expect(contents(byDefault.results)).toEqual(range(71, 120));
      const all = await list(bob, channel, '?limit=200');
      expect(ids(all.results)).toEqual(ids(sent));
      expect(all.next).toBeNull();
      expect(all.previous).toBeNull();
      await expectEventLogIntact(channel);
    });

    it('filters by desde/ate (ISO 8601) and pages within the filter', async () => {
      const channel = await newChannel(alice, [bob]);
      const sent: Message[] = [];
      for (let day = 1; day <= 6; day++) {
        const message = await sendText(bob, channel, `dia ${day}`);
        await db()
          .update(chatMessages)
          .set({ createdAt: new Date(`2021-01-0${day}T12:00:00.000Z`) })
          .where(eq(chatMessages.id, message.id));
        sent.push(message);
      }
      const contents = (page: Page) => page.results.map((m) => m.conteudo);
      expect(contents(await list(bob, channel, '?desde=2021-01-04T00:00:00Z'))).toEqual([
        'dia 4',
        'dia 5',
        'dia 6',
      ]);
      expect(contents(await list(bob, channel, '?ate=2021-01-02T23:59:59.999Z'))).toEqual(['dia 1', 'dia 2']);
      expect(
        contents(await list(bob, channel, '?desde=2021-01-03T12:00:00Z&ate=2021-01-04T12:00:00Z')),
      ).toEqual(['dia 3', 'dia 4']);
      expect(
        contents(await list(bob, channel, `?desde=${encodeURIComponent('2021-01-05T09:00:00-03:00')}`)),
      ).toEqual(['dia 5', 'dia 6']);
      expect(contents(await list(bob, channel, '?desde=2021-01-06'))).toEqual(['dia 6']);

      // ate with a small limit: the newest page inside the filter, then previous.
      const newestBeforeAte = await list(bob, channel, '?ate=2021-01-03T23:00:00Z&limit=2');
      expect(contents(newestBeforeAte)).toEqual(['dia 2', 'dia 3']);
      expect(newestBeforeAte.next).toBeNull();
      const olderBeforeAte = (
        await t.inject({ url: pathOf(newestBeforeAte.previous!), headers: bob.auth })
      ).json() as Page;
      expect(contents(olderBeforeAte)).toEqual(['dia 1']);
      expect(olderBeforeAte.previous).toBeNull();

      // desde with a small limit: walking whatever links are offered yields exactly the filtered set.
      const first = await list(bob, channel, '?desde=2021-01-02T00:00:00Z&limit=2');
      const seen = new Map<string, Message>(first.results.map((m) => [m.id, m]));
      for (const direction of ['next', 'previous'] as const) {
        let url = first[direction];
        for (let guard = 0; url && guard < 10; guard++) {
          const page = (await t.inject({ url: pathOf(url), headers: bob.auth })).json() as Page;
          for (const m of page.results) {
            expect(seen.has(m.id)).toBe(false);
            seen.set(m.id, m);
          }
          url = page[direction];
        }
      }
      expect([...seen.values()].map((m) => m.conteudo).sort()).toEqual([
        'dia 2',
        'dia 3',
        'dia 4',
        'dia 5',
        'dia 6',
      ]);

      expect(seen.size).toBe(5);
    });

    async function expectInvalidDate(value: string) {
      for (const param of ['desde', 'ate']) {
        const response = await t.inject({
          url: `${messagesUrl(channelId)}?${param}=${encodeURIComponent(value)}`,
          headers: bob.auth,
        });
        expect(response.statusCode, `${param}=${value}: ${response.body}`).toBe(400);
        expect(response.json()).toEqual({ detail: expect.any(String), code: 'messages.invalid_date' });
      }
    }

    it('refuses desde/ate that are not ISO 8601 timestamps (400 messages.invalid_date)', async () => {
      for (const bad of [
        'ontem',
        '2021-13-01',
        '2021-01-01T25:00:00Z',
        '01/02/2021',
        '1609459200',
        '',
        'null',
      ]) {
        await expectInvalidDate(bad);
      }
    });

    it('refuses impossible calendar dates instead of rolling them over (2021-02-30 is not 2 March)', async () => {
      for (const bad of ['2021-02-30T00:00:00Z', '2021-02-29', '2021-04-31T10:00:00Z'])
        await expectInvalidDate(bad);
    });

    it('rejects invalid cursors and limits with 400', async () => {
      const bogus = [
        'abc',
        Buffer.from(JSON.stringify(['x', 1])).toString('base64url'),
        Buffer.from(JSON.stringify(['a', -1])).toString('base64url'),
        Buffer.from(JSON.stringify(['b', 1.5])).toString('base64url'),
        Buffer.from(JSON.stringify({ direction: 'after', seq: 1 })).toString('base64url'),
      ];
      for (const cursor of bogus) {
        expectError(
          await t.inject({ url: `${messagesUrl(channelId)}?cursor=${cursor}`, headers: bob.auth }),
          400,
          'invalid_cursor',
        );
      }
      for (const limit of ['0', '201', 'abc', '-5', '1.5']) {
        const response = await t.inject({
          url: `${messagesUrl(channelId)}?limit=${limit}`,
          headers: bob.auth,
        });
        expect(response.statusCode, `limit=${limit}`).toBe(400);
      }
      expect((await list(bob, channelId, '?limit=1')).results).toHaveLength(1);
      expect((await list(bob, channelId, '?limit=200')).results.length).toBeGreaterThan(1);
    });

    it('hides moderated messages from non-staff but shows them to staff; deleted messages to nobody', async () => {
      const channel = await newChannel(alice, [bob]);
      const visible = await sendText(bob, channel, 'visível');
      const hidden = await sendText(bob, channel, 'moderada');
      const deleted = await sendText(bob, channel, 'apagada');
      const hiddenAt = new Date();
      await db().update(chatMessages).set({ hiddenAt }).where(eq(chatMessages.id, hidden.id));
      expect(
        (await t.inject({ method: 'DELETE', url: messageUrl(channel, deleted.id), headers: bob.auth }))
          .statusCode,
      ).toBe(204);

      for (const user of [alice, bob]) {
        expect((await list(user, channel)).results.map((m) => m.id)).toEqual([visible.id]);
        expectError(
          await t.inject({ url: messageUrl(channel, hidden.id), headers: user.auth }),
          404,
          'messages.not_found',
        );
        expectError(
          await t.inject({ url: messageUrl(channel, deleted.id), headers: user.auth }),
          404,
          'messages.not_found',
        );
      }
      const staffPage = await list(staff, channel);
      expect(staffPage.results.map((m) => m.id)).toEqual([visible.id, hidden.id]);
      expect(staffPage.results[1]!.hidden_at).toBe(hiddenAt.toISOString());
      const staffRead = await t.inject({ url: messageUrl(channel, hidden.id), headers: staff.auth });
      expect(staffRead.statusCode).toBe(200);
      expect(staffRead.json()).toMatchObject({ id: hidden.id, hidden_at: hiddenAt.toISOString() });

      // The channel's ultima_mensagem skips hidden and deleted messages.
      const view = await t.inject({ url: `/api/chat/channels/${channel}/`, headers: bob.auth });
      expect(view.json()).toMatchObject({ ultima_mensagem: expect.objectContaining({ id: visible.id }) });
      await expectEventLogIntact(channel);
    });

    it('outsiders get 404 and anonymous 401; staff may read', async () => {
      expectError(
        await t.inject({ url: messagesUrl(channelId), headers: eve.auth }),
        404,
        'channels.not_found',
      );
      expect((await t.inject({ url: messagesUrl(channelId) })).statusCode).toBe(401);
      expect((await list(staff, channelId)).results.length).toBeGreaterThan(0);
    });
  });

  describe('one message', () => {
    it('reads a message; ids of other channels or unknown ids are 404 for everyone', async () => {
      const message = await sendText(bob, channelId, 'leia-me');
      const read = await t.inject({ url: messageUrl(channelId, message.id), headers: carol.auth });
      expect(read.statusCode).toBe(200);
      expect(read.json()).toEqual(message);
      expect(
        (await t.inject({ url: messageUrl(channelId, message.id), headers: staff.auth })).statusCode,
      ).toBe(200);
      expectError(
        await t.inject({ url: messageUrl(channelId, message.id), headers: eve.auth }),
        404,
        'channels.not_found',
      );

      const otherChannel = await newChannel(carol, [bob]);
      const foreign = await sendText(carol, otherChannel, 'de outro canal');
      for (const user of [bob, carol, staff]) {
        for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
          const response = await t.inject({
            method,
            url: messageUrl(channelId, foreign.id),
            headers: user.auth,
            ...(method === 'PATCH' ? { payload: { conteudo: 'invadido' } } : {}),
          });
          expectError(response, 404, 'messages.not_found');
        }
      }
      expectError(
        await t.inject({ url: messageUrl(channelId, newId()), headers: bob.auth }),
        404,
        'messages.not_found',
      );
      expect((await messageRow(foreign.id)).conteudo).toBe('de outro canal');
      expect((await messageRow(foreign.id)).deletedAt).toBeNull();
    });
  });

  describe('editing', () => {
    async function history(messageId: string) {
      const edits = await db()
        .select()
        .from(chatMessageEdits)
        .where(eq(chatMessageEdits.messageId, messageId))
        .orderBy(asc(chatMessageEdits.createdAt));
      const logs = await db()
        .select()
        .from(chatModerationLogs)
        .where(eq(chatModerationLogs.messageId, messageId))
        .orderBy(asc(chatModerationLogs.createdAt));
      return { edits, logs };
    }
    const patch = (user: TestUser, channel: string, id: string, payload: Record<string, unknown>) =>
      t.inject({ method: 'PATCH', url: messageUrl(channel, id), headers: user.auth, payload });

    it('the sender edits: edited_at set, previous text kept in chat_message_edits and chat_moderation_logs', async () => {
      const message = await sendText(bob, channelId, 'primeira versão');
      const eventsBefore = (await expectEventLogIntact(channelId)).length;
      const response = await patch(bob, channelId, message.id, { conteudo: 'segunda versão' });
      expect(response.statusCode, response.body).toBe(200);
      const edited = response.json() as Message;
      expect(edited).toMatchObject({ id: message.id, seq: message.seq, conteudo: 'segunda versão' });
      expect(edited.edited_at).toMatch(ISO_TIMESTAMP);

      expect((await patch(bob, channelId, message.id, { conteudo: 'terceira versão' })).statusCode).toBe(200);
      const { edits, logs } = await history(message.id);
      expect(edits.map((row) => [row.previousContent, row.editorId])).toEqual([
        ['primeira versão', bob.id],
        ['segunda versão', bob.id],
      ]);
      expect(logs.map((row) => [row.action, row.previousContent, row.moderatorId])).toEqual([
        ['edit', 'primeira versão', bob.id],
        ['edit', 'segunda versão', bob.id],
      ]);
      const read = await t.inject({ url: messageUrl(channelId, message.id), headers: carol.auth });
      expect(read.json()).toMatchObject({
        conteudo: 'terceira versão',
        edited_at: expect.stringMatching(ISO_TIMESTAMP),
      });

      const events = await expectEventLogIntact(channelId);
      expect(events.slice(eventsBefore).map((event) => event.type)).toEqual([
        'chat.message.updated',
        'chat.message.updated',
      ]);
      expect(events[events.length - 1]!.payload).toMatchObject({
        id: message.id,
        conteudo: 'terceira versão',
      });
    });

    it("a channel admin, the owner and staff may edit someone else's message; another participant may not", async () => {
      const message = await sendText(bob, channelId, 'original');
      expectError(
        await patch(carol, channelId, message.id, { conteudo: 'da carol' }),
        403,
        'messages.cannot_edit',
      );
      expectError(await patch(eve, channelId, message.id, { conteudo: 'da eve' }), 404, 'channels.not_found');
      expect(
        (
          await t.inject({
            method: 'PATCH',
            url: messageUrl(channelId, message.id),
            payload: { conteudo: 'x' },
          })
        ).statusCode,
      ).toBe(401);
      expect((await messageRow(message.id)).conteudo).toBe('original');
      expect((await history(message.id)).edits).toHaveLength(0);

      expect((await patch(dave, channelId, message.id, { conteudo: 'pelo admin' })).statusCode).toBe(200);
      expect((await patch(alice, channelId, message.id, { conteudo: 'pela dona' })).statusCode).toBe(200);
      expect((await patch(staff, channelId, message.id, { conteudo: 'pela moderação' })).statusCode).toBe(
        200,
      );
      const { edits, logs } = await history(message.id);
      expect(edits.map((row) => [row.previousContent, row.editorId])).toEqual([
        ['original', dave.id],
        ['pelo admin', alice.id],
        ['pela dona', staff.id],
      ]);
      expect(logs.every((row) => row.action === 'edit')).toBe(true);
      expect((await messageRow(message.id)).conteudo).toBe('pela moderação');
      await expectEventLogIntact(channelId);
    });

    it('refuses blank, too long or unknown edits, and edits of deleted messages, writing nothing', async () => {
      const message = await sendText(bob, channelId, 'intacta');
      const eventsBefore = (await expectEventLogIntact(channelId)).length;
      expectError(await patch(bob, channelId, message.id, { conteudo: '   ' }), 400, 'messages.empty');
      expectError(
        await patch(bob, channelId, message.id, { conteudo: 'a'.repeat(4001) }),
        400,
        'messages.too_long',
      );
      expectError(await patch(bob, channelId, message.id, {}), 400, 'validation_error');
      expectError(
        await patch(bob, channelId, message.id, { conteudo: 'x', tipo: 'text' }),
        400,
        'validation_error',
      );
      expectError(await patch(bob, channelId, message.id, { conteudo: 5 }), 400, 'validation_error');
      expect((await messageRow(message.id)).conteudo).toBe('intacta');
      expect((await messageRow(message.id)).editedAt).toBeNull();
      expect((await history(message.id)).edits).toHaveLength(0);
      expect((await expectEventLogIntact(channelId)).length).toBe(eventsBefore);

      expect(
        (await t.inject({ method: 'DELETE', url: messageUrl(channelId, message.id), headers: bob.auth }))
          .statusCode,
      ).toBe(204);
      expectError(
        await patch(bob, channelId, message.id, { conteudo: 'ressuscitada' }),
        404,
        'messages.not_found',
      );
      expect((await history(message.id)).edits).toHaveLength(0);
    });
  });

  describe('deleting', () => {
    const remove = (user: TestUser, channel: string, id: string) =>
      t.inject({ method: 'DELETE', url: messageUrl(channel, id), headers: user.auth });

    it('the sender soft-deletes: 204, the row stays with deleted_at, a chat.message.deleted event is logged', async () => {
      const channel = await newChannel(alice, [bob]);
      const first = await sendText(bob, channel, 'primeira');
      const last = await sendText(bob, channel, 'última');
      const response = await remove(bob, channel, last.id);
      expect(response.statusCode).toBe(204);
      expect(response.body).toBe('');
      const row = await messageRow(last.id);
      expect(row.deletedAt).toBeInstanceOf(Date);
      expect(row.conteudo).toBe('última');
      expectError(await remove(bob, channel, last.id), 404, 'messages.not_found');
      expect((await list(bob, channel)).results.map((m) => m.id)).toEqual([first.id]);
      const view = await t.inject({ url: `/api/chat/channels/${channel}/`, headers: bob.auth });
      expect(view.json()).toMatchObject({ ultima_mensagem: expect.objectContaining({ id: first.id }) });

      const events = await expectEventLogIntact(channel);
      expect(events[events.length - 1]).toMatchObject({
        type: 'chat.message.deleted',
        payload: { mensagem_id: last.id },
      });
    });

    it('another participant may not delete (403); admin, owner and staff may; outsiders get 404', async () => {
      const [m1, m2, m3, m4] = [
        await sendText(bob, channelId, 'd1'),
        await sendText(bob, channelId, 'd2'),
        await sendText(bob, channelId, 'd3'),
        await sendText(bob, channelId, 'd4'),
      ];
      expectError(await remove(carol, channelId, m1!.id), 403, 'messages.cannot_delete');
      expectError(await remove(eve, channelId, m1!.id), 404, 'channels.not_found');
      expect((await t.inject({ method: 'DELETE', url: messageUrl(channelId, m1!.id) })).statusCode).toBe(401);
      expect((await messageRow(m1!.id)).deletedAt).toBeNull();

      expect((await remove(dave, channelId, m1!.id)).statusCode).toBe(204);
      expect((await remove(alice, channelId, m2!.id)).statusCode).toBe(204);
      expect((await remove(staff, channelId, m3!.id)).statusCode).toBe(204);
      expect((await remove(bob, channelId, m4!.id)).statusCode).toBe(204);
      for (const m of [m1, m2, m3, m4]) expect((await messageRow(m!.id)).deletedAt).toBeInstanceOf(Date);
      await expectEventLogIntact(channelId);
    });
  });

  describe('a configured MESSAGE_MAX_CHARS (10)', () => {
    let small: TestApp;

    beforeAll(async () => {
      small = await createTestApp({ MESSAGE_MAX_CHARS: '10' });
    });
    afterAll(async () => small?.close());

    it('the ciphertext bound follows it: 92 base64 characters (IV + 40 bytes + tag) pass, 93 are too long', async () => {
      const chat = chatClient(small);
      const owner = await small.createUser();
      const channel = (await chat.createChannel(owner, { e2ee_habilitado: true })).id;
      const longest = await encrypt('😀'.repeat(10));
      expect(longest).toHaveLength(92);
      const sendCipher = (conteudo_cifrado: string) =>
        small.inject({
          method: 'POST',
          url: messagesUrl(channel),
          headers: owner.auth,
          payload: { tipo: 'text', conteudo_cifrado, alg: 'AES-GCM', key_version: 1 },
        });
      const accepted = await sendCipher(longest);
      expect(accepted.statusCode, accepted.body).toBe(201);
      expectError(await sendCipher(`${longest}A`), 400, 'messages.too_long');
      const message = accepted.json() as Message;
      expectError(
        await small.inject({
          method: 'PATCH',
          url: messageUrl(channel, message.id),
          headers: owner.auth,
          payload: { conteudo_cifrado: 'A'.repeat(93), key_version: 2 },
        }),
        400,
        'messages.too_long',
      );
      const rows = await small.deps.database.db
        .select({ conteudoCifrado: chatMessages.conteudoCifrado, editedAt: chatMessages.editedAt })
        .from(chatMessages)
        .where(eq(chatMessages.channelId, channel));
      expect(rows).toEqual([{ conteudoCifrado: longest, editedAt: null }]);
    });
  });

  describe.each([
    { name: 'in-process limiter', redis: false, skip: false },
    { name: 'Redis limiter', redis: true, skip: skipRedisTests },
  ])('edit rate limit (CHAT_SEND_RATE_LIMIT=3/60s, $name)', ({ redis, skip }) => {
    let limited: TestApp;

    beforeAll(async () => {
      if (skip) return;
      limited = await createTestApp({ ...busEnv(redis), CHAT_SEND_RATE_LIMIT: '3/60s' });
    });
    afterAll(async () => limited?.close());

    it.skipIf(skip)(
      'the 4th edit by the same user answers 429 rate_limited with Retry-After and is not applied; other users and sends keep their own budgets',
      async () => {
        const chat = chatClient(limited);
        const owner = await limited.createUser();
        const member = await limited.createUser();
        const channel = (await chat.createChannel(owner, { participantes: [member.id] })).id;
        const message = await chat.sendMessage(member, channel, { conteudo: 'v0' });
        const editAs = (user: TestUser, conteudo: string) =>
          limited.inject({
            method: 'PATCH',
            url: messageUrl(channel, message.id),
            headers: user.auth,
            payload: { conteudo },
          });
        const sendAs = (user: TestUser, conteudo: string) =>
          limited.inject({
            method: 'POST',
            url: messagesUrl(channel),
            headers: user.auth,
            payload: { tipo: 'text', conteudo },
          });
        const row = async () =>
          (
            await limited.deps.database.db.select().from(chatMessages).where(eq(chatMessages.id, message.id))
          )[0]!;
        const history = async () =>
          (
            await limited.deps.database.db
              .select()
              .from(chatMessageEdits)
              .where(eq(chatMessageEdits.messageId, message.id))
              .orderBy(asc(chatMessageEdits.createdAt))
          ).map((edit) => [edit.previousContent, edit.editorId]);

        for (const version of ['v1', 'v2', 'v3']) {
          const edited = await editAs(member, version);
          expect(edited.statusCode, edited.body).toBe(200);
        }
        const eventsBefore = (await expectLogIntact(limited.deps.database.db, channel)).length;
        const refused = await editAs(member, 'v4');
        expect(refused.statusCode, refused.body).toBe(429);
        expect(refused.json()).toMatchObject({ code: 'rate_limited', detail: expect.any(String) });
        const retryAfter = Number(refused.headers['retry-after']);
        expect(Number.isInteger(retryAfter)).toBe(true);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect((await row()).conteudo).toBe('v3');
        expect(await history()).toEqual([
          ['v0', member.id],
          ['v1', member.id],
          ['v2', member.id],
        ]);
        expect(await expectLogIntact(limited.deps.database.db, channel)).toHaveLength(eventsBefore);

        // The budget is per user: the owner (a channel admin) still edits the same message, even
        // after spending every send of their own.
        for (let i = 0; i < 3; i++) expect((await sendAs(owner, `s${i}`)).statusCode).toBe(201);
        expectError(await sendAs(owner, 'uma a mais'), 429, 'rate_limited');
        const byOwner = await editAs(owner, 'pela dona');
        expect(byOwner.statusCode, byOwner.body).toBe(200);
        expect((await row()).conteudo).toBe('pela dona');
        // Edits and sends are counted apart: the member, out of edits, still has two sends left.
        expect((await sendAs(member, 'nova')).statusCode).toBe(201);
        expectError(await editAs(member, 'v5'), 429, 'rate_limited');
        expect(await history()).toEqual([
          ['v0', member.id],
          ['v1', member.id],
          ['v2', member.id],
          ['v3', owner.id],
        ]);
      },
    );
  });

  it('every channel touched keeps a gap-free event log with last_seq = N', async () => {
    const channels = await db().select({ id: chatChannels.id }).from(chatChannels);
    expect(channels.length).toBeGreaterThanOrEqual(touchedChannels.size);
    for (const { id } of channels) await expectEventLogIntact(id);
    // Every live message's seq points at its own chat.message event.
    const rows = await db()
      .select({
        id: chatMessages.id,
        seq: chatMessages.seq,
        type: chatEvents.type,
        payload: chatEvents.payload,
      })
      .from(chatMessages)
      .leftJoin(
        chatEvents,
        and(eq(chatEvents.channelId, chatMessages.channelId), eq(chatEvents.seq, chatMessages.seq)),
      );
    expect(rows.length).toBeGreaterThan(150);
    for (const row of rows) {
      expect(row.type).toBe('chat.message');
      expect(row.payload).toMatchObject({ id: row.id });
    }
  });
});
