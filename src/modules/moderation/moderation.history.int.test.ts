import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { connect, listen, type WsClient } from '../../../test/support/ws.js';
import { chatEvents } from '../events/events.table.js';
import { chatMessages } from '../messages/messages.table.js';
import { chatMessageEdits, chatModerationLogs } from './moderation.table.js';

// Edit history as CSV, and restoring an earlier version as a new edit (issue 13, "Edit history").
describe.skipIf(skipDatabaseTests)('edit history: CSV and restore', () => {
  let t: TestApp;
  let base: string;
  let chat: ReturnType<typeof chatClient>;
  let owner: TestUser;
  let admin: TestUser;
  let sender: TestUser;
  let participant: TestUser;
  let outsider: TestUser;
  let moderator: TestUser;
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    t = await createTestApp();
    base = await listen(t);
    chat = chatClient(t);
    owner = await t.createUser();
    admin = await t.createUser();
    sender = await t.createUser();
    participant = await t.createUser();
    outsider = await t.createUser();
    moderator = await t.createUser({ staff: true });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await t?.close();
  });

  const db = () => t.deps.database.db;
  const messagePath = (channelId: string, messageId: string) =>
    `/api/chat/channels/${channelId}/messages/${messageId}/`;
  const edit = async (user: TestUser, channelId: string, messageId: string, conteudo: string) => {
    const response = await t.inject({
      method: 'PATCH',
      url: messagePath(channelId, messageId),
      headers: user.auth,
      payload: { conteudo },
    });
    expect(response.statusCode, response.body).toBe(200);
  };
  const history = (user: TestUser, channelId: string, messageId: string, query = '') =>
    t.inject({ url: `${messagePath(channelId, messageId)}history/${query}`, headers: user.auth });
  const versions = async (channelId: string, messageId: string) =>
    (await history(owner, channelId, messageId)).json<{ results: Array<{ id: string; conteudo: string }> }>()
      .results;
  const restore = (user: TestUser | undefined, channelId: string, messageId: string, versionId: string) =>
    t.inject({
      method: 'POST',
      url: `${messagePath(channelId, messageId)}history/${versionId}/restore/`,
      headers: user?.auth ?? {},
    });
  const contentOf = async (messageId: string) =>
    (await db().select().from(chatMessages).where(eq(chatMessages.id, messageId)))[0]!.conteudo;
  const editsOf = async (messageId: string) =>
    db().select().from(chatMessageEdits).where(eq(chatMessageEdits.messageId, messageId));
  const logsOf = async (messageId: string) =>
    db().select().from(chatModerationLogs).where(eq(chatModerationLogs.messageId, messageId));
  const updatesIn = async (channelId: string) =>
    db()
      .select()
      .from(chatEvents)
      .where(and(eq(chatEvents.channelId, channelId), eq(chatEvents.type, 'chat.message.updated')));

  /** A channel (owner, admin, sender, participant) with a message edited twice: v1 → v2 → v3. */
  async function editedMessage() {
    const channel = await chat.createChannel(owner, { participantes: [admin.id, sender.id, participant.id] });
    await chat.setRole(owner, channel.id, admin, true);
    const message = await chat.sendMessage(sender, channel.id, { conteudo: 'v1' });
    await edit(sender, channel.id, message.id, 'v2');
    await edit(sender, channel.id, message.id, 'v3');
    const [v1, v2] = await versions(channel.id, message.id);
    return { channelId: channel.id, messageId: message.id, v1: v1!, v2: v2! };
  }

  describe('?formato=csv', () => {
    it('downloads the history as CSV: header, quoting, formula cells neutralized', async () => {
      const channel = await chat.createChannel(owner, { participantes: [sender.id] });
      const message = await chat.sendMessage(sender, channel.id, { conteudo: '=HYPERLINK("http://x")' });
      await edit(sender, channel.id, message.id, 'a, "b"\nc');
      await edit(owner, channel.id, message.id, 'final');
      const entries = await versions(channel.id, message.id);

      const response = await history(sender, channel.id, message.id, '?formato=csv');
      expect(response.statusCode, response.body).toBe(200);
      expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(response.headers['content-disposition']).toBe(
        `attachment; filename="message-${message.id}-history.csv"`,
      );
      const lines = response.body.split('\r\n');
      expect(lines[0]).toBe('id,conteudo,editor,created_at');
      // The `=` cell gets a leading quote (and is quoted for its own quotes); the comma, quotes
      // and newline of the second version are quoted RFC 4180 style.
      expect(lines[1]).toMatch(
        new RegExp(`^${entries[0]!.id},"'=HYPERLINK\\(""http://x""\\)",${sender.username},\\d{4}-`),
      );
      expect(response.body).toContain(`${entries[1]!.id},"a, ""b""\nc",${owner.username},`);
      expect(response.body.endsWith('\r\n')).toBe(true);
    });

    it('answers JSON for formato=json and by default; anything else is 400', async () => {
      const { channelId, messageId } = await editedMessage();
      const byDefault = await history(owner, channelId, messageId);
      const json = await history(owner, channelId, messageId, '?formato=json');
      expect(json.statusCode).toBe(200);
      expect(json.headers['content-type']).toMatch(/^application\/json/);
      expect(json.json()).toEqual(byDefault.json());
      for (const formato of ['xml', 'CSV', '']) {
        const refused = await history(owner, channelId, messageId, `?formato=${formato}`);
        expect(refused.statusCode, formato).toBe(400);
        expect(refused.json()).toMatchObject({ code: 'validation_error' });
      }
    });

    it('keeps the permission rules of the JSON history', async () => {
      const { channelId, messageId } = await editedMessage();
      const refused = await history(participant, channelId, messageId, '?formato=csv');
      expect(refused.statusCode).toBe(403);
      expect(refused.json()).toMatchObject({ code: 'moderation.history_forbidden' });
      expect((await history(outsider, channelId, messageId, '?formato=csv')).statusCode).toBe(404);
      const anonymous = await t.inject({ url: `${messagePath(channelId, messageId)}history/?formato=csv` });
      expect(anonymous.statusCode).toBe(401);
    });
  });

  describe('POST …/history/<version_id>/restore/', () => {
    it('restores a version as a new edit for admins, the owner and moderators, logged as edit_restored', async () => {
      for (const actor of [admin, owner, moderator]) {
        const { channelId, messageId, v1 } = await editedMessage();
        const response = await restore(actor, channelId, messageId, v1.id);
        expect(response.statusCode, response.body).toBe(200);
        expect(response.json()).toMatchObject({
          id: messageId,
          conteudo: 'v1',
          edited_at: expect.any(String),
        });
        expect(await contentOf(messageId)).toBe('v1');
        // The replaced text joins the history like any edit's.
        expect((await versions(channelId, messageId)).map((entry) => entry.conteudo)).toEqual([
          'v1',
          'v2',
          'v3',
        ]);
        const logs = await logsOf(messageId);
        const restored = logs.filter((row) => row.action === 'edit_restored');
        expect(restored).toEqual([
          expect.objectContaining({
            moderatorId: actor.id,
            channelId,
            messageId,
            previousContent: 'v3',
            reason: v1.id,
          }),
        ]);
        // The edit path's own log row, as for PATCH.
        expect(logs.filter((row) => row.action === 'edit' && row.moderatorId === actor.id)).toHaveLength(1);
      }
    });

    it('refuses the sender alone, participants (403), outsiders (404) and anonymous (401), writing nothing', async () => {
      const { channelId, messageId, v1 } = await editedMessage();
      const before = { edits: (await editsOf(messageId)).length, logs: (await logsOf(messageId)).length };
      const cases: Array<[TestUser | undefined, number, string]> = [
        [sender, 403, 'moderation.restore_forbidden'],
        [participant, 403, 'moderation.restore_forbidden'],
        [outsider, 404, 'channels.not_found'],
        [undefined, 401, 'auth.not_authenticated'],
      ];
      for (const [user, status, code] of cases) {
        const response = await restore(user, channelId, messageId, v1.id);
        expect(response.statusCode, response.body).toBe(status);
        expect(response.json()).toMatchObject({ code });
      }
      expect(await contentOf(messageId)).toBe('v3');
      expect((await editsOf(messageId)).length).toBe(before.edits);
      expect((await logsOf(messageId)).length).toBe(before.logs);
    });

    it("answers 404 for another message's version, another channel's message and ids that are not UUIDs, writing nothing", async () => {
      const first = await editedMessage();
      const second = await editedMessage();
      const sibling = await chat.sendMessage(sender, first.channelId, { conteudo: 'irmã' });
      const updatesBefore = (await updatesIn(first.channelId)).length;
      const attempts = [
        // A version of a message in another channel, through this message's path.
        [first.channelId, first.messageId, second.v1.id, 'moderation.version_not_found'],
        // A version of this channel's other message, through the sibling's path.
        [first.channelId, sibling.id, first.v1.id, 'moderation.version_not_found'],
        // The other channel's message through this channel's path.
        [first.channelId, second.messageId, second.v1.id, 'messages.not_found'],
        [first.channelId, first.messageId, 'not-a-uuid', 'not_found'],
        [first.channelId, 'not-a-uuid', first.v1.id, 'not_found'],
      ] as const;
      for (const [channelId, messageId, versionId, code] of attempts) {
        for (const actor of [owner, moderator]) {
          const response = await restore(actor, channelId, messageId, versionId);
          expect(response.statusCode, response.body).toBe(404);
          expect(response.json()).toMatchObject({ code });
        }
      }
      expect(await contentOf(first.messageId)).toBe('v3');
      expect(await contentOf(second.messageId)).toBe('v3');
      expect(await contentOf(sibling.id)).toBe('irmã');
      expect(await editsOf(sibling.id)).toHaveLength(0);
      expect((await logsOf(first.messageId)).some((row) => row.action === 'edit_restored')).toBe(false);
      expect(await updatesIn(first.channelId)).toHaveLength(updatesBefore);
    });

    it('answers 404 for a deleted message and 409 for an E2EE one', async () => {
      const { channelId, messageId, v1 } = await editedMessage();
      const deleted = await t.inject({
        method: 'DELETE',
        url: messagePath(channelId, messageId),
        headers: owner.auth,
      });
      expect(deleted.statusCode).toBe(204);
      const gone = await restore(moderator, channelId, messageId, v1.id);
      expect(gone.statusCode).toBe(404);
      expect(gone.json()).toMatchObject({ code: 'messages.not_found' });

      const e2ee = await chat.createChannel(owner, { participantes: [sender.id], e2ee_habilitado: true });
      const cipher = { tipo: 'text', alg: 'AES-GCM', key_version: 1 };
      const secret = await chat.sendMessage(sender, e2ee.id, {
        ...cipher,
        conteudo: undefined,
        conteudo_cifrado: 'Y2lmcmEx',
      });
      const patched = await t.inject({
        method: 'PATCH',
        url: messagePath(e2ee.id, secret.id),
        headers: sender.auth,
        payload: { conteudo_cifrado: 'Y2lmcmEy', key_version: 1 },
      });
      expect(patched.statusCode, patched.body).toBe(200);
      const [version] = await versions(e2ee.id, secret.id);
      const refused = await restore(owner, e2ee.id, secret.id, version!.id);
      expect(refused.statusCode).toBe(409);
      expect(refused.json()).toMatchObject({ code: 'moderation.restore_encrypted' });
      expect(await editsOf(secret.id)).toHaveLength(1);
    });

    it('reaches live sockets as an edit (chat.message.updated with the restored content)', async () => {
      const { channelId, messageId, v2 } = await editedMessage();
      const live = await connect(`${base}/ws/chat/${channelId}/?token=${participant.token}`);
      sockets.push(live);
      const ready = await chat.sendMessage(owner, channelId, { conteudo: 'pronto' });
      await live.waitFor((frame) => frame.seq === ready.seq);
      expect((await restore(admin, channelId, messageId, v2.id)).statusCode).toBe(200);
      const update = await live.waitFor((frame) => frame.type === 'chat.message.updated');
      expect(update).toMatchObject({
        channel: channelId,
        seq: ready.seq + 1,
        payload: { id: messageId, conteudo: 'v2', edited_at: expect.any(String) },
      });
    });
  });
});
