import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp, type TestUser } from '../../../test/support/app.js';
import { chatClient } from '../../../test/support/chat.js';
import { skipDatabaseTests } from '../../../test/support/database.js';

describe.skipIf(skipDatabaseTests)('channels', () => {
  let t: TestApp;
  let client: ReturnType<typeof chatClient>;
  let alice: TestUser;
  let bob: TestUser;
  let staff: TestUser;

  beforeAll(async () => {
    t = await createTestApp();
    client = chatClient(t);
    alice = await t.createUser();
    bob = await t.createUser();
    staff = await t.createUser({ staff: true });
  });
  afterAll(async () => t?.close());

  it("creates the seed's private channel with only a titulo; the creator is owner and admin", async () => {
    const response = await t.inject({
      method: 'POST',
      url: '/api/chat/channels/',
      headers: alice.auth,
      payload: { contexto_tipo: 'privado', titulo: 'Projeto' },
    });
    expect(response.statusCode).toBe(201);
    const channel = response.json();
    expect(channel).toMatchObject({
      contexto_tipo: 'privado',
      titulo: 'Projeto',
      participantes: 1,
      ultima_mensagem: null,
    });
    const participants = await t.inject({
      url: `/api/chat/channels/${channel.id}/participants/`,
      headers: alice.auth,
    });
    expect(participants.json().results).toEqual([
      expect.objectContaining({
        user: { id: alice.id, username: alice.username },
        is_owner: true,
        is_admin: true,
      }),
    ]);
  });

  it('lists only channels the user takes part in, filtered by categoria', async () => {
    const mine = await client.createChannel(bob, { titulo: 'Bob A', categoria: 'trabalho' });
    const other = await client.createChannel(bob, { titulo: 'Bob B' });
    const all = await t.inject({ url: '/api/chat/channels/', headers: bob.auth });
    const ids = all.json().results.map((c: { id: string }) => c.id);
    expect(ids).toEqual(expect.arrayContaining([mine.id, other.id]));
    const filtered = await t.inject({ url: '/api/chat/channels/?categoria=trabalho', headers: bob.auth });
    expect(filtered.json().results.map((c: { id: string }) => c.id)).toEqual([mine.id]);
    const alices = await t.inject({ url: '/api/chat/channels/', headers: alice.auth });
    expect(alices.json().results.map((c: { id: string }) => c.id)).not.toContain(mine.id);
  });

  it('context channels: staff only, contexto_id required, visible to context members who join on first use', async () => {
    const denied = await t.inject({
      method: 'POST',
      url: '/api/chat/channels/',
      headers: alice.auth,
      payload: { contexto_tipo: 'nucleo', contexto_id: 'n1', titulo: 'Núcleo' },
    });
    expect(denied.statusCode).toBe(403);
    const missing = await t.inject({
      method: 'POST',
      url: '/api/chat/channels/',
      headers: staff.auth,
      payload: { contexto_tipo: 'nucleo', titulo: 'Núcleo' },
    });
    expect(missing.statusCode).toBe(400);
    const channel = await client.createChannel(staff, {
      contexto_tipo: 'nucleo',
      contexto_id: 'n1',
      titulo: 'Núcleo',
    });
    expect(
      (await t.inject({ url: `/api/chat/channels/${channel.id}/`, headers: alice.auth })).statusCode,
    ).toBe(404);

    await client.setContextMember(staff, 'nucleo', 'n1', alice);
    const list = await t.inject({ url: '/api/chat/channels/', headers: alice.auth });
    expect(list.json().results.map((c: { id: string }) => c.id)).toContain(channel.id);
    await client.sendMessage(alice, channel.id, { conteudo: 'cheguei' });
    const participants = await t.inject({
      url: `/api/chat/channels/${channel.id}/participants/`,
      headers: alice.auth,
    });
    expect(participants.json().results).toContainEqual(
      expect.objectContaining({
        user: { id: alice.id, username: alice.username },
        is_owner: false,
        is_admin: false,
      }),
    );

    // Losing the context membership ends access at once, despite the participant row.
    const removed = await t.inject({
      method: 'DELETE',
      url: `/api/chat/contexts/nucleo/n1/members/${alice.id}/`,
      headers: staff.auth,
    });
    expect(removed.statusCode).toBe(204);
    expect(
      (await t.inject({ url: `/api/chat/channels/${channel.id}/messages/`, headers: alice.auth })).statusCode,
    ).toBe(404);
    const after = await t.inject({ url: '/api/chat/channels/', headers: alice.auth });
    expect(after.json().results.map((c: { id: string }) => c.id)).not.toContain(channel.id);
  });
});
