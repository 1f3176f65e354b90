import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALLOWED_ORIGIN,
  createTestApp,
  TEST_PASSWORD,
  type TestApp,
  type TestUser,
} from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { busEnv, buses, connect, listen, type Frame, type WsClient } from '../../../test/support/ws.js';
import { setModerator, UsageError } from '../../main/cli.js';
import { chatMessages } from '../messages/messages.table.js';
import { chatModerators } from '../users/moderators.table.js';

// Who moderates: staff, and users staff grant the role (PUT|DELETE /api/chat/moderadores/<uid>/,
// the CLI). A grant gives the chat powers of staff at once — REST and open sockets — and a
// revocation takes them away at once.

const UNKNOWN_ID = '0190f5b2-7c1a-7d3e-8a4b-1c2d3e4f5a6b';
type Reply = Awaited<ReturnType<TestApp['inject']>>;

async function grantRows(t: TestApp, userId: string) {
  return t.deps.database.db.select().from(chatModerators).where(eq(chatModerators.userId, userId));
}

const hide = (t: TestApp, messageId: string) =>
  t.deps.database.db.update(chatMessages).set({ hiddenAt: new Date() }).where(eq(chatMessages.id, messageId));

describe.skipIf(skipDatabaseTests)('granting and revoking the moderator role', () => {
  let t: TestApp;
  let chat: ReturnType<typeof chatClient>;
  let staff: TestUser;
  let owner: TestUser;
  let admin: TestUser;
  let participant: TestUser;
  let outsider: TestUser;
  let moderator: TestUser;
  let channelId: string;

  beforeAll(async () => {
    t = await createTestApp();
    chat = chatClient(t);
    staff = await t.createUser({ staff: true });
    owner = await t.createUser();
    admin = await t.createUser();
    participant = await t.createUser();
    outsider = await t.createUser();
    moderator = await t.createUser({ moderator: true });
    channelId = (await chat.createChannel(owner, { participantes: [admin.id, participant.id] })).id;
    await chat.setRole(owner, channelId, admin, true);
  });
  afterAll(async () => t?.close());

  const put = (user: TestUser | undefined, userId: string) =>
    t.inject({ method: 'PUT', url: `/api/chat/moderadores/${userId}/`, headers: user?.auth ?? {} });
  const del = (user: TestUser | undefined, userId: string) =>
    t.inject({ method: 'DELETE', url: `/api/chat/moderadores/${userId}/`, headers: user?.auth ?? {} });
  const list = (user: TestUser | undefined, query = '') =>
    t.inject({ url: `/api/chat/moderadores/${query}`, headers: user?.auth ?? {} });
  const me = async (user: TestUser) =>
    (await t.inject({ url: '/api/auth/me', headers: user.auth })).json<{ is_moderator: boolean }>();
  const expectError = (response: Reply, status: number, code: string) => {
    expect(response.statusCode, response.body).toBe(status);
    expect(response.json()).toMatchObject({ code, detail: expect.any(String) });
  };

  it('staff grant: 201 the first time, then 200 with the same grant; the user is a moderator at once', async () => {
    const target = await t.createUser();
    expect(await me(target)).toMatchObject({ is_moderator: false });
    const first = await put(staff, target.id);
    expect(first.statusCode, first.body).toBe(201);
    const body = first.json();
    expect(body).toEqual({
      user: { id: target.id, username: target.username },
      is_moderator: true,
      granted_by: { id: staff.id, username: staff.username },
      created_at: expect.any(String),
    });
    expect(await me(target)).toMatchObject({ is_staff: false, is_moderator: true });
    // Idempotent, even from another staff user: the original grant stays as it was.
    const otherStaff = await t.createUser({ staff: true });
    const again = await put(otherStaff, target.id);
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(body);
    expect(await grantRows(t, target.id)).toHaveLength(1);
  });

  it('refuses everyone but staff: anonymous 401, others 403 moderation.not_staff (moderators too), writing nothing', async () => {
    const target = await t.createUser();
    const granted = await t.createUser({ moderator: true });
    expectError(await put(undefined, target.id), 401, 'auth.not_authenticated');
    expectError(await del(undefined, granted.id), 401, 'auth.not_authenticated');
    for (const user of [outsider, participant, admin, owner, moderator]) {
      expectError(await put(user, target.id), 403, 'moderation.not_staff');
      expectError(await del(user, granted.id), 403, 'moderation.not_staff');
    }
    // A granted moderator may not grant themselves again nor step down through the API.
    expectError(await del(moderator, moderator.id), 403, 'moderation.not_staff');
    expect(await grantRows(t, target.id)).toHaveLength(0);
    expect(await grantRows(t, granted.id)).toHaveLength(1);
    expect(await grantRows(t, moderator.id)).toHaveLength(1);
  });

  it('answers 404 for unknown users, inactive ones (grant) and ids that are not UUIDs; 400 for bad list queries', async () => {
    expectError(await put(staff, UNKNOWN_ID), 404, 'users.not_found');
    expectError(await del(staff, UNKNOWN_ID), 404, 'users.not_found');
    const inactive = await t.createUser({ active: false });
    expectError(await put(staff, inactive.id), 404, 'users.not_found');
    expect(await grantRows(t, inactive.id)).toHaveLength(0);
    // An id that is not even a UUID names nothing: 404, as everywhere (docs/permissions.md).
    for (const bad of ['not-a-uuid', '1', `${UNKNOWN_ID}x`]) {
      expectError(await put(staff, bad), 404, 'not_found');
      expectError(await del(staff, bad), 404, 'not_found');
    }
    expect((await list(staff, '?cursor=nope')).statusCode).toBe(400);
    expect((await list(staff, '?limit=0')).statusCode).toBe(400);
    expect((await list(staff, '?limit=201')).statusCode).toBe(400);
  });

  it('staff revoke: 204, the role is gone at once; again 204 (idempotent); staff stay moderators by their flag', async () => {
    const target = await t.createUser({ moderator: true });
    expect(await me(target)).toMatchObject({ is_moderator: true });
    const response = await del(staff, target.id);
    expect(response.statusCode, response.body).toBe(204);
    expect(response.body).toBe('');
    expect(await me(target)).toMatchObject({ is_moderator: false });
    expect(await grantRows(t, target.id)).toHaveLength(0);
    expect((await del(staff, target.id)).statusCode).toBe(204);
    // Revoking from a staff user (even themselves) leaves them moderating.
    expect((await del(staff, staff.id)).statusCode).toBe(204);
    expect(await me(staff)).toMatchObject({ is_staff: true, is_moderator: true });
    // An inactive user's grant can still be revoked.
    const gone = await t.createUser({ moderator: true });
    await t.deps.usersRepository.update(gone.id, { isActive: false });
    expect((await del(staff, gone.id)).statusCode).toBe(204);
    expect(await grantRows(t, gone.id)).toHaveLength(0);
  });

  it('lists granted moderators to staff and moderators (keyset pages), 403 moderation.not_moderator to others', async () => {
    const extra = [await t.createUser({ moderator: true }), await t.createUser({ moderator: true })];
    expectError(await list(undefined), 401, 'auth.not_authenticated');
    for (const user of [outsider, participant, admin, owner]) {
      expectError(await list(user), 403, 'moderation.not_moderator');
    }
    for (const user of [staff, moderator]) {
      const response = await list(user, '?limit=200');
      expect(response.statusCode, response.body).toBe(200);
      const ids = response
        .json<{ results: Array<{ user: { id: string } }> }>()
        .results.map((row) => row.user.id);
      expect(ids).toEqual(expect.arrayContaining([moderator.id, ...extra.map((user) => user.id)]));
      // Staff moderate by their flag: they hold no grant and are not listed.
      expect(ids).not.toContain(staff.id);
      expect(ids).toEqual([...ids].sort());
    }
    const seen: string[] = [];
    let url: string | null = '/api/chat/moderadores/?limit=1';
    while (url) {
      const response = await t.inject({ url, headers: staff.auth });
      expect(response.statusCode).toBe(200);
      const page = response.json<{ results: Array<{ user: { id: string } }>; next: string | null }>();
      expect(page.results.length).toBeLessThanOrEqual(1);
      seen.push(...page.results.map((row) => row.user.id));
      url = page.next ? new URL(page.next).pathname + new URL(page.next).search : null;
    }
    const all = (await list(staff, '?limit=200')).json<{ results: Array<{ user: { id: string } }> }>();
    expect(seen).toEqual(all.results.map((row) => row.user.id));
  });

  it('/api/auth/me says is_moderator over a session cookie and a bearer token, following grants', async () => {
    const target = await t.createUser();
    const login = await t.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: target.username, password: TEST_PASSWORD },
      headers: { origin: ALLOWED_ORIGIN },
    });
    expect(login.statusCode, login.body).toBe(200);
    expect(login.json()).toMatchObject({ is_moderator: false });
    const cookie = login.cookies.find((c) => c.name === t.config.auth.session.cookieName)!;
    const viaCookie = async () =>
      (await t.inject({ url: '/api/auth/me', cookies: { [cookie.name]: cookie.value } })).json<{
        is_moderator: boolean;
      }>().is_moderator;
    expect(await viaCookie()).toBe(false);
    expect((await put(staff, target.id)).statusCode).toBe(201);
    expect(await viaCookie()).toBe(true);
    expect((await me(target)).is_moderator).toBe(true);
    const relogin = await t.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: target.username, password: TEST_PASSWORD },
    });
    expect(relogin.json()).toMatchObject({ is_moderator: true });
    expect((await del(staff, target.id)).statusCode).toBe(204);
    expect(await viaCookie()).toBe(false);
    expect((await me(target)).is_moderator).toBe(false);
  });

  it('CLI: grant-moderator and revoke-moderator --username (no granter recorded); unknown users and missing flags fail', async () => {
    const target = await t.createUser();
    const lines: string[] = [];
    const print = (line: string) => lines.push(line);
    await setModerator(t.deps, ['--username', target.username.toUpperCase()], 'grant', print);
    expect(JSON.parse(lines[0]!)).toEqual({
      user: { id: target.id, username: target.username },
      is_moderator: true,
      granted_by: null,
      created_at: expect.any(String),
      created: true,
    });
    expect(await me(target)).toMatchObject({ is_moderator: true });
    await setModerator(t.deps, ['--username', target.username], 'grant', print);
    expect(JSON.parse(lines[1]!)).toMatchObject({ created: false, granted_by: null });
    await setModerator(t.deps, ['--username', target.username], 'revoke', print);
    expect(JSON.parse(lines[2]!)).toEqual({ username: target.username, revoked: true });
    expect(await me(target)).toMatchObject({ is_moderator: false });
    await setModerator(t.deps, ['--username', target.username], 'revoke', print);
    expect(JSON.parse(lines[3]!)).toEqual({ username: target.username, revoked: false });

    await expect(setModerator(t.deps, ['--username', 'nobody-here'], 'grant', print)).rejects.toMatchObject({
      code: 'users.not_found',
    });
    await expect(setModerator(t.deps, ['--username', 'nobody-here'], 'revoke', print)).rejects.toMatchObject({
      code: 'users.not_found',
    });
    await expect(setModerator(t.deps, [], 'grant', print)).rejects.toBeInstanceOf(UsageError);
    await expect(setModerator(t.deps, ['--bogus'], 'grant', print)).rejects.toThrow();
    expect(lines).toHaveLength(4);
  });

  it('a granted moderator sees hidden messages and approves or removes them; after revocation, none of it', async () => {
    const granted = await t.createUser();
    expect((await put(staff, granted.id)).statusCode).toBe(201);
    const first = await chat.sendMessage(participant, channelId, { conteudo: 'primeiro escondido' });
    const second = await chat.sendMessage(participant, channelId, { conteudo: 'segundo escondido' });
    await hide(t, first.id);
    await hide(t, second.id);
    const read = (user: TestUser, id: string) =>
      t.inject({ url: `/api/chat/channels/${channelId}/messages/${id}/`, headers: user.auth });
    const listed = async (user: TestUser) =>
      (await t.inject({ url: `/api/chat/channels/${channelId}/messages/`, headers: user.auth }))
        .json<{ results: Array<{ id: string }> }>()
        .results.map((row) => row.id);
    const decide = (user: TestUser, id: string, decision: 'approve' | 'remove') =>
      t.inject({
        method: 'POST',
        url: `/api/chat/moderacao/messages/${id}/${decision}/`,
        headers: user.auth,
      });

    // Not a participant of the channel, yet reads it, hidden messages included.
    expect((await read(granted, first.id)).json()).toMatchObject({
      conteudo: 'primeiro escondido',
      hidden_at: expect.any(String),
    });
    expect(await listed(granted)).toEqual(expect.arrayContaining([first.id, second.id]));
    // A channel admin is no moderator: hidden content stays hidden from them.
    expect((await read(admin, first.id)).statusCode).toBe(404);
    expect(await listed(admin)).not.toContain(first.id);

    const approved = await decide(granted, first.id, 'approve');
    expect(approved.statusCode, approved.body).toBe(200);
    expect(approved.json()).toEqual({ id: first.id, channel: channelId, action: 'approved' });
    expect((await read(participant, first.id)).json()).toMatchObject({ hidden_at: null });

    expect((await del(staff, granted.id)).statusCode).toBe(204);
    expectError(await decide(granted, second.id, 'remove'), 403, 'moderation.not_moderator');
    expect((await read(granted, second.id)).statusCode).toBe(404);
    expect(
      (await t.inject({ url: `/api/chat/channels/${channelId}/`, headers: granted.auth })).statusCode,
    ).toBe(404);
    expect((await read(staff, second.id)).json()).toMatchObject({ conteudo: 'segundo escondido' });

    expect((await put(staff, granted.id)).statusCode).toBe(201);
    const removed = await decide(granted, second.id, 'remove');
    expect(removed.json()).toEqual({ id: second.id, channel: channelId, action: 'removed' });
    expect((await read(staff, second.id)).statusCode).toBe(404);
  });
});

// Access is live: a grant or a revocation reaches the user's open sockets at once, on every node
// (the access change goes over the bus), without reconnecting.
describe.skipIf(skipDatabaseTests).each(buses)(
  'moderator role changes on open sockets ($name)',
  ({ redis, skip }) => {
    let t: TestApp;
    let base: string;
    let chat: ReturnType<typeof chatClient>;
    let staff: TestUser;
    let owner: TestUser;
    const sockets: WsClient[] = [];

    beforeAll(async () => {
      if (skip) return;
      t = await createTestApp(busEnv(redis));
      base = await listen(t);
      chat = chatClient(t);
      staff = await t.createUser({ staff: true });
      owner = await t.createUser();
    });
    afterAll(async () => {
      for (const socket of sockets) socket.close();
      await t?.close();
    });

    const open = async (path: string, user: TestUser) => {
      const socket = await connect(`${base}${path}?token=${user.token}`);
      sockets.push(socket);
      return socket;
    };
    const setRole = async (method: 'PUT' | 'DELETE', user: TestUser) => {
      const response = await t.inject({
        method,
        url: `/api/chat/moderadores/${user.id}/`,
        headers: staff.auth,
      });
      expect(response.statusCode, response.body).toBe(method === 'PUT' ? 201 : 204);
    };
    /** Staff edits the hidden message; resolves with the edit as the socket got it. */
    const editHidden = async (socket: WsClient, channelId: string, messageId: string, conteudo: string) => {
      // Counted before the edit: its frame may arrive before the PATCH answers.
      const from = socket.frames.length;
      const response = await t.inject({
        method: 'PATCH',
        url: `/api/chat/channels/${channelId}/messages/${messageId}/`,
        headers: staff.auth,
        payload: { conteudo },
      });
      expect(response.statusCode, response.body).toBe(200);
      const seq = (response.json() as { seq?: number }).seq;
      const frame: Frame = await socket.waitFor(
        (candidate) =>
          candidate.type === 'chat.message.updated' &&
          (candidate.payload as { id: string }).id === messageId &&
          (seq === undefined || candidate.seq !== undefined),
        5_000,
        from,
      );
      return frame.payload as { conteudo: string; hidden_at: string | null };
    };

    it.skipIf(skip)(
      "a grant shows hidden content on the user's open socket at once; a revocation withholds it and closes channels they are not in (4403)",
      async () => {
        const user = await t.createUser();
        const member = await chat.createChannel(owner, { participantes: [user.id] });
        const elsewhere = await chat.createChannel(owner);
        const message = await chat.sendMessage(owner, member.id, { conteudo: 'original' });
        await hide(t, message.id);

        const live = await open(`/ws/chat/${member.id}/`, user);
        const ready = await chat.sendMessage(owner, member.id, { conteudo: 'ready' });
        await live.waitFor((frame) => frame.seq === ready.seq);
        // Not a moderator yet: the edit of a hidden message arrives without its content.
        expect(await editHidden(live, member.id, message.id, 'v1')).toMatchObject({ conteudo: '' });
        // Not a member elsewhere, not a moderator: the upgrade is refused.
        await expect(open(`/ws/chat/${elsewhere.id}/`, user)).rejects.toMatchObject({ status: 404 });

        await setRole('PUT', user);
        expect(await editHidden(live, member.id, message.id, 'v2')).toMatchObject({
          conteudo: 'v2',
          hidden_at: expect.any(String),
        });
        const outside = await open(`/ws/chat/${elsewhere.id}/`, user);
        const outsideReady = await chat.sendMessage(owner, elsewhere.id, { conteudo: 'ready' });
        await outside.waitFor((frame) => frame.seq === outsideReady.seq);

        await setRole('DELETE', user);
        expect(await outside.waitForClose()).toBe(4403);
        expect(outside.closeReason).toBe('access revoked');
        expect(await editHidden(live, member.id, message.id, 'v3')).toMatchObject({ conteudo: '' });
        // The member's socket stays open and keeps getting what anyone may see.
        expect(live.closeCode).toBeUndefined();
        const after = await chat.sendMessage(owner, member.id, { conteudo: 'visible' });
        expect(await live.waitFor((frame) => frame.seq === after.seq)).toMatchObject({
          payload: { conteudo: 'visible' },
        });
        // What the socket was sent while it moderated stays; nothing hidden arrived after the revocation.
        const hiddenAfterRevoke = live.frames
          .slice(
            live.frames.findIndex((frame) => (frame.payload as { conteudo?: string })?.conteudo === 'v2') + 1,
          )
          .filter((frame) => (frame.payload as { hidden_at?: string | null })?.hidden_at)
          .map((frame) => (frame.payload as { conteudo: string }).conteudo);
        expect(hiddenAfterRevoke).toEqual(['']);
      },
    );

    it.skipIf(skip)(
      'a re-check that finds the user deactivated closes their sockets with 4401 (the notification socket too)',
      async () => {
        const user = await t.createUser({ moderator: true });
        const channel = await chat.createChannel(owner, { participantes: [user.id] });
        const live = await open(`/ws/chat/${channel.id}/`, user);
        const notifications = await open('/ws/chat/notificacoes/', user);
        const ready = await chat.sendMessage(owner, channel.id, { conteudo: 'ready' });
        await live.waitFor((frame) => frame.seq === ready.seq);
        await t.deps.usersRepository.update(user.id, { isActive: false });
        await setRole('DELETE', user);
        expect(await live.waitForClose()).toBe(4401);
        expect(await notifications.waitForClose()).toBe(4401);
      },
    );

    it.skipIf(skip)(
      "the socket's frames act as the refreshed user: a revoked moderator can no longer reply to a hidden message",
      async () => {
        const user = await t.createUser({ moderator: true });
        const member = await chat.createChannel(owner, { participantes: [user.id] });
        const message = await chat.sendMessage(owner, member.id, { conteudo: 'escondida' });
        await hide(t, message.id);
        const live = await open(`/ws/chat/${member.id}/`, user);
        const reply = async (clientId: string) => {
          const from = live.frames.length;
          live.send({ tipo: 'text', conteudo: 'resposta', reply_to: message.id, client_id: clientId });
          return live.waitFor((frame) => frame.type === 'ack' || frame.type === 'error', 5_000, from);
        };
        // As a moderator, the socket may reply to the hidden message.
        const ack = await reply('r1');
        expect(ack.type, JSON.stringify(ack)).toBe('ack');
        await setRole('DELETE', user);
        // The re-check runs when the access change arrives (just after the DELETE answered).
        const answers: Frame[] = [];
        for (let attempt = 0; attempt < 20; attempt += 1) {
          answers.push(await reply(`r2-${attempt}`));
          if (answers.at(-1)!.type === 'error') break;
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        expect(answers.at(-1)).toMatchObject({ type: 'error', code: expect.any(String) });
        expect(answers.length).toBeLessThanOrEqual(2);
      },
    );
  },
);
