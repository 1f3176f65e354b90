import { expect } from 'vitest';
import type { TestApp, TestUser } from './app.js';

// Small request helpers over `app.inject`, so tests read as what a client does.
export function chatClient(t: TestApp) {
  async function changeParticipants(
    action: 'add_participant' | 'remove_participant',
    admin: TestUser,
    channelId: string,
    users: TestUser[],
  ) {
    const response = await t.inject({
      method: 'POST',
      url: `/api/chat/channels/${channelId}/${action}/`,
      headers: admin.auth,
      payload: { usuarios: users.map((user) => user.id) },
    });
    expect(response.statusCode, response.body).toBe(200);
  }
  return {
    async createChannel(owner: TestUser, body: Record<string, unknown> = {}) {
      const response = await t.inject({
        method: 'POST',
        url: '/api/chat/channels/',
        headers: owner.auth,
        payload: { contexto_tipo: 'privado', titulo: 'Canal', ...body },
      });
      expect(response.statusCode, response.body).toBe(201);
      return response.json() as { id: string; [key: string]: unknown };
    },
    addParticipants: (admin: TestUser, channelId: string, users: TestUser[]) =>
      changeParticipants('add_participant', admin, channelId, users),
    removeParticipants: (admin: TestUser, channelId: string, users: TestUser[]) =>
      changeParticipants('remove_participant', admin, channelId, users),
    async setRole(owner: TestUser, channelId: string, user: TestUser, isAdmin: boolean) {
      const response = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${channelId}/participants/${user.id}/role/`,
        headers: owner.auth,
        payload: { is_admin: isAdmin },
      });
      expect(response.statusCode, response.body).toBe(200);
    },
    async sendMessage(user: TestUser, channelId: string, body: Record<string, unknown> = {}) {
      const response = await t.inject({
        method: 'POST',
        url: `/api/chat/channels/${channelId}/messages/`,
        headers: user.auth,
        payload: { tipo: 'text', conteudo: 'olá', ...body },
      });
      expect(response.statusCode, response.body).toBe(201);
      return response.json() as { id: string; seq: number; [key: string]: unknown };
    },
    async setContextMember(
      staff: TestUser,
      tipo: string,
      contextoId: string,
      user: TestUser,
      status = 'ativo',
    ) {
      const response = await t.inject({
        method: 'PUT',
        url: `/api/chat/contexts/${tipo}/${contextoId}/members/${user.id}/`,
        headers: staff.auth,
        payload: { status },
      });
      expect(response.statusCode, response.body).toBe(200);
    },
  };
}
