import { and, eq } from 'drizzle-orm';
import { expectEventLogIntact as expectLogIntact } from '../../../test/support/event-log.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';
import { newId } from '../../shared/ids.js';
import { chatChannels } from './channels.table.js';
import { chatParticipants } from './participants.table.js';

type Response = Awaited<ReturnType<TestApp['inject']>>;
type Participant = { user: { id: string; username: string }; is_owner: boolean; is_admin: boolean };

function expectError(response: Response, status: number, code: string) {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.json()).toEqual(expect.objectContaining({ detail: expect.any(String), code }));
}

describe.skipIf(skipDatabaseTests)('participants', () => {
  let t: TestApp;
  let client: ReturnType<typeof chatClient>;
  let owner: TestUser;
  let admin: TestUser;
  let member: TestUser;
  let outsider: TestUser;
  let staff: TestUser;
  let spare: TestUser[];

  const db = () => t.deps.database.db;
  const url = (channel: string, action: string) => `/api/chat/channels/${channel}/${action}/`;

  // A request that never answers (a query issued outside the open transaction waits forever on
  // PGlite's single connection) fails within seconds, and the tests after it fail at once instead of
  // each waiting for its own timeout.
  let stuck: string | undefined;
  async function within<T>(label: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        stuck = label;
        reject(new Error(`${label}: no answer within 10 s (database deadlocked?)`));
      }, 10_000);
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  function post(
    user: TestUser | undefined,
    channel: string,
    action: string,
    payload?: Record<string, unknown>,
  ) {
    return within(
      `POST ${action}`,
      t.inject({
        method: 'POST',
        url: url(channel, action),
        ...(user ? { headers: user.auth } : {}),
        ...(payload ? { payload } : {}),
      }),
    );
  }
  const add = (user: TestUser | undefined, channel: string, ids: string[]) =>
    post(user, channel, 'add_participant', { usuarios: ids });
  const removeUsers = (user: TestUser | undefined, channel: string, ids: string[]) =>
    post(user, channel, 'remove_participant', { usuarios: ids });
  const leave = (user: TestUser | undefined, channel: string) => post(user, channel, 'leave');
  const setRole = (user: TestUser | undefined, channel: string, target: string, isAdmin: unknown) =>
    post(user, channel, `participants/${target}/role`, { is_admin: isAdmin });

  async function participantRows(channel: string) {
    return db().select().from(chatParticipants).where(eq(chatParticipants.channelId, channel));
  }
  async function activeIds(channel: string) {
    return (await participantRows(channel))
      .filter((row) => row.removedAt === null)
      .map((row) => row.userId)
      .sort();
  }
  async function listed(user: TestUser, channel: string): Promise<Participant[]> {
    const response = await t.inject({ url: url(channel, 'participants'), headers: user.auth });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as { results: Participant[] }).results;
  }
  async function participantCount(user: TestUser, channel: string) {
    const response = await t.inject({ url: `/api/chat/channels/${channel}/`, headers: user.auth });
    expect(response.statusCode, response.body).toBe(200);
    return (response.json() as { participantes: number }).participantes;
  }

  const expectEventLogIntact = (channel: string) => expectLogIntact(db(), channel);

  /** A private channel with an owner, an admin (promoted in the database) and a plain member. */
  async function newChannel(extra: TestUser[] = []) {
    const channel = await client.createChannel(owner, {
      participantes: [admin.id, member.id, ...extra.map((user) => user.id)],
    });
    await db()
      .update(chatParticipants)
      .set({ isAdmin: true })
      .where(and(eq(chatParticipants.channelId, channel.id), eq(chatParticipants.userId, admin.id)));
    return channel.id;
  }

  beforeAll(async () => {
    t = await createTestApp();
    client = chatClient(t);
    [owner, admin, member, outsider] = await Promise.all([
      t.createUser(),
      t.createUser(),
      t.createUser(),
      t.createUser(),
    ]);
    staff = await t.createUser({ staff: true });
    spare = await Promise.all(Array.from({ length: 8 }, () => t.createUser()));
  });
  beforeEach(() => {
    expect(stuck, `the database stopped answering during an earlier "${stuck}"`).toBeUndefined();
  });
  // A deadlocked PGlite cannot be closed; the worker discards it.
  afterAll(async () => (stuck ? undefined : t?.close()));

  describe('add_participant', () => {
    it('an admin adds users: 200 {adicionados}, one joined event each, the count follows', async () => {
      const channel = await newChannel();
      const [u1, u2] = spare;
      const before = (await expectEventLogIntact(channel)).length;
      const response = await add(admin, channel, [u1!.id, u2!.id, u1!.id]);
      expect(response.statusCode, response.body).toBe(200);
      expect((response.json() as { adicionados: string[] }).adicionados.sort()).toEqual(
        [u1!.id, u2!.id].sort(),
      );
      expect(await activeIds(channel)).toEqual([owner.id, admin.id, member.id, u1!.id, u2!.id].sort());
      expect(await participantCount(u1!, channel)).toBe(5);
      expect((await listed(u2!, channel)).map((p) => p.user.id)).toContain(u1!.id);

      const events = await expectEventLogIntact(channel);
      const added = events.slice(before);
      expect(added.map((event) => event.type)).toEqual(['chat.participant', 'chat.participant']);
      expect(added.map((event) => (event.payload as { user: { id: string } }).user.id).sort()).toEqual(
        [u1!.id, u2!.id].sort(),
      );
      expect(added.every((event) => (event.payload as { action: string }).action === 'joined')).toBe(true);

      // Adding someone who is already in: nothing new, no event.
      const again = await add(owner, channel, [u1!.id, member.id]);
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual({ adicionados: [] });
      expect((await expectEventLogIntact(channel)).length).toBe(events.length);
    });

    it('unknown or inactive user ids: 400 channels.invalid_users and nobody is added', async () => {
      const channel = await newChannel();
      const inactive = await t.createUser({ active: false });
      const valid = spare[2]!;
      const before = await participantRows(channel);
      const eventsBefore = (await expectEventLogIntact(channel)).length;

      expectError(await add(owner, channel, [valid.id, newId()]), 400, 'channels.invalid_users');
      expectError(await add(owner, channel, [inactive.id, valid.id]), 400, 'channels.invalid_users');
      expectError(await add(owner, channel, [newId()]), 400, 'channels.invalid_users');

      expect(await participantRows(channel)).toEqual(before);
      expect((await expectEventLogIntact(channel)).length).toBe(eventsBefore);
      expect(
        (await t.inject({ url: `/api/chat/channels/${channel}/`, headers: valid.auth })).statusCode,
      ).toBe(404);
    });

    it('only admins, owners and staff may add; members 403, outsiders 404, anonymous 401', async () => {
      const channel = await newChannel();
      const target = spare[3]!;
      expect((await add(undefined, channel, [target.id])).statusCode).toBe(401);
      expectError(await add(outsider, channel, [target.id]), 404, 'channels.not_found');
      expectError(await add(member, channel, [target.id]), 403, 'channels.not_admin');
      expect(await activeIds(channel)).not.toContain(target.id);

      const byStaff = await add(staff, channel, [target.id]);
      expect(byStaff.statusCode, byStaff.body).toBe(200);
      expect(byStaff.json()).toEqual({ adicionados: [target.id] });
      // Staff added someone without becoming a participant themselves.
      expect(await activeIds(channel)).not.toContain(staff.id);
      await expectEventLogIntact(channel);
    });
  });

  describe('leave', () => {
    it('a member leaves: 204, access ends, a left event is logged', async () => {
      const channel = await newChannel();
      const response = await leave(member, channel);
      expect(response.statusCode, response.body).toBe(204);
      expect(await activeIds(channel)).toEqual([owner.id, admin.id].sort());
      expect(
        (await t.inject({ url: `/api/chat/channels/${channel}/`, headers: member.auth })).statusCode,
      ).toBe(404);
      const events = await expectEventLogIntact(channel);
      expect(events[events.length - 1]).toMatchObject({
        type: 'chat.participant',
        payload: { action: 'left', user: { id: member.id } },
      });
      // Leaving again: no longer in the channel at all.
      expectError(await leave(member, channel), 404, 'channels.not_found');
    });

    it('the last admin may not leave (400 participants.last_admin); with another admin left they may', async () => {
      const solo = (await client.createChannel(owner, { participantes: [member.id] })).id;
      expectError(await leave(owner, solo), 400, 'participants.last_admin');
      expect(await activeIds(solo)).toContain(owner.id);

      const channel = await newChannel();
      expect((await leave(owner, channel)).statusCode).toBe(204);
      expectError(await leave(admin, channel), 400, 'participants.last_admin');
      expect(await activeIds(channel)).toEqual([admin.id, member.id].sort());
      await expectEventLogIntact(solo);
      await expectEventLogIntact(channel);
    });

    it('an owner who leaves hands ownership to the longest-standing admin (role_changed event)', async () => {
      const channel = await newChannel();
      expect((await leave(owner, channel)).statusCode).toBe(204);
      const list = await t.inject({
        url: `/api/chat/channels/${channel}/participants/`,
        headers: admin.auth,
      });
      expect(list.json().results).toContainEqual(
        expect.objectContaining({
          user: { id: admin.id, username: admin.username },
          is_owner: true,
          is_admin: true,
        }),
      );
      const events = await expectEventLogIntact(channel);
      expect(events.at(-1)).toMatchObject({
        type: 'chat.participant',
        payload: { action: 'role_changed', user: { id: admin.id }, is_owner: true },
      });
      // The new owner can now change roles.
      const promote = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${channel}/participants/${member.id}/role/`,
        headers: admin.auth,
        payload: { is_admin: true },
      });
      expect(promote.statusCode).toBe(200);
    });

    it('staff who are not participants cannot leave (400); outsiders 404; anonymous 401', async () => {
      const channel = await newChannel();
      const eventsBefore = (await expectEventLogIntact(channel)).length;
      expectError(await leave(staff, channel), 400, 'participants.not_participant');
      expectError(await leave(outsider, channel), 404, 'channels.not_found');
      expect((await leave(undefined, channel)).statusCode).toBe(401);
      expect((await expectEventLogIntact(channel)).length).toBe(eventsBefore);
    });
  });

  it('every channel keeps a gap-free event log with last_seq = N', async () => {
    const channels = await db().select({ id: chatChannels.id }).from(chatChannels);
    expect(channels.length).toBeGreaterThan(5);
    for (const { id } of channels) await expectEventLogIntact(id);
  });

  describe('remove_participant', () => {
    it('an admin removes a member: 200 {removidos}, access ends at once, a removed event is logged', async () => {
      const channel = await newChannel();
      const before = (await expectEventLogIntact(channel)).length;
      const response = await removeUsers(admin, channel, [member.id]);
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({ removidos: [member.id] });

      expect(await activeIds(channel)).toEqual([owner.id, admin.id].sort());
      // The row is kept with removed_at (so context members do not silently re-join).
      const row = (await participantRows(channel)).find((r) => r.userId === member.id);
      expect(row?.removedAt).toBeInstanceOf(Date);
      expectError(
        await t.inject({ url: `/api/chat/channels/${channel}/`, headers: member.auth }),
        404,
        'channels.not_found',
      );
      expectError(
        await t.inject({ url: `/api/chat/channels/${channel}/messages/`, headers: member.auth }),
        404,
        'channels.not_found',
      );
      expect(await participantCount(owner, channel)).toBe(2);

      const events = await expectEventLogIntact(channel);
      expect(events.slice(before)).toEqual([
        expect.objectContaining({
          type: 'chat.participant',
          payload: { action: 'removed', user: { id: member.id, username: member.username } },
        }),
      ]);

      // Removing someone who is not (or no longer) a participant removes nobody.
      const again = await removeUsers(admin, channel, [member.id, spare[4]!.id]);
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual({ removidos: [] });

      // Being added again clears removed_at.
      const readded = await add(owner, channel, [member.id]);
      expect(readded.json()).toEqual({ adicionados: [member.id] });
      expect(await activeIds(channel)).toContain(member.id);
      expect(
        (await t.inject({ url: `/api/chat/channels/${channel}/`, headers: member.auth })).statusCode,
      ).toBe(200);
      await expectEventLogIntact(channel);
    });

    it('unknown user ids: 400 and nothing is removed', async () => {
      const channel = await newChannel();
      const before = await participantRows(channel);
      const eventsBefore = (await expectEventLogIntact(channel)).length;
      const response = await removeUsers(owner, channel, [member.id, newId()]);
      expect(response.statusCode, response.body).toBe(400);
      expect(response.json()).toEqual(
        expect.objectContaining({ detail: expect.any(String), code: expect.any(String) }),
      );
      expect(await participantRows(channel)).toEqual(before);
      expect((await expectEventLogIntact(channel)).length).toBe(eventsBefore);
    });

    it('an admin may not remove the owner or another admin; the owner and staff may remove admins', async () => {
      const second = spare[5]!;
      const channel = await newChannel([second]);
      await db()
        .update(chatParticipants)
        .set({ isAdmin: true })
        .where(and(eq(chatParticipants.channelId, channel), eq(chatParticipants.userId, second.id)));
      const before = await participantRows(channel);
      const eventsBefore = (await expectEventLogIntact(channel)).length;

      expectError(await removeUsers(admin, channel, [owner.id]), 403, 'participants.cannot_remove_owner');
      // The whole request is refused, including the member listed alongside.
      expectError(
        await removeUsers(admin, channel, [member.id, second.id]),
        403,
        'participants.cannot_remove_admin',
      );
      expectError(await removeUsers(staff, channel, [owner.id]), 403, 'participants.cannot_remove_owner');
      expectError(await removeUsers(member, channel, [admin.id]), 403, 'channels.not_admin');
      expectError(await removeUsers(outsider, channel, [member.id]), 404, 'channels.not_found');
      expect(await participantRows(channel)).toEqual(before);
      expect((await expectEventLogIntact(channel)).length).toBe(eventsBefore);

      const byOwner = await removeUsers(owner, channel, [second.id]);
      expect(byOwner.statusCode, byOwner.body).toBe(200);
      expect(byOwner.json()).toEqual({ removidos: [second.id] });
      const byStaff = await removeUsers(staff, channel, [admin.id]);
      expect(byStaff.statusCode, byStaff.body).toBe(200);
      expect(byStaff.json()).toEqual({ removidos: [admin.id] });
      expect(await activeIds(channel)).toEqual([owner.id, member.id].sort());
      await expectEventLogIntact(channel);
    });
  });

  describe('role', () => {
    it('the owner grants and revokes admin; the new admin can then manage participants', async () => {
      const channel = await newChannel();
      const target = spare[6]!;
      const granted = await setRole(owner, channel, member.id, true);
      expect(granted.statusCode, granted.body).toBe(200);
      expect(granted.json()).toMatchObject({
        user: { id: member.id, username: member.username },
        is_owner: false,
        is_admin: true,
      });
      expect((await listed(owner, channel)).find((p) => p.user.id === member.id)).toMatchObject({
        is_admin: true,
      });
      expect((await add(member, channel, [target.id])).statusCode).toBe(200);

      const revoked = await setRole(owner, channel, member.id, false);
      expect(revoked.statusCode, revoked.body).toBe(200);
      expect(revoked.json()).toMatchObject({ is_admin: false });
      expectError(await add(member, channel, [spare[7]!.id]), 403, 'channels.not_admin');

      const events = await expectEventLogIntact(channel);
      const roleEvents = events.filter(
        (event) => (event.payload as { action?: string }).action === 'role_changed',
      );
      expect(roleEvents.map((event) => (event.payload as { is_admin: boolean }).is_admin)).toEqual([
        true,
        false,
      ]);
    });

    it('admins and members may not change roles (403); outsiders 404; staff may', async () => {
      const channel = await newChannel();
      expectError(await setRole(admin, channel, member.id, true), 403, 'participants.not_owner');
      expectError(await setRole(member, channel, member.id, true), 403, 'participants.not_owner');
      expectError(await setRole(outsider, channel, member.id, true), 404, 'channels.not_found');
      expect((await setRole(undefined, channel, member.id, true)).statusCode).toBe(401);
      expect((await participantRows(channel)).find((r) => r.userId === member.id)?.isAdmin).toBe(false);

      const byStaff = await setRole(staff, channel, member.id, true);
      expect(byStaff.statusCode, byStaff.body).toBe(200);
      expect((await participantRows(channel)).find((r) => r.userId === member.id)?.isAdmin).toBe(true);
      await expectEventLogIntact(channel);
    });

    it("the owner's role is fixed (400); non-participants are 404; is_admin must be a boolean", async () => {
      const channel = await newChannel();
      const eventsBefore = (await expectEventLogIntact(channel)).length;
      expectError(await setRole(owner, channel, owner.id, false), 400, 'participants.owner_role_fixed');
      expectError(await setRole(owner, channel, outsider.id, true), 404, 'participants.not_found');
      expectError(await setRole(owner, channel, newId(), true), 404, 'participants.not_found');
      expectError(await setRole(owner, channel, member.id, 'yes'), 400, 'validation_error');
      expect((await participantRows(channel)).find((r) => r.userId === owner.id)).toMatchObject({
        isOwner: true,
        isAdmin: true,
      });
      expect((await expectEventLogIntact(channel)).length).toBe(eventsBefore);
    });
  });
});
