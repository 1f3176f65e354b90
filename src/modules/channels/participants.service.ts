import type { AuthUser } from '../auth/auth.service.js';
import type { ChannelAccess } from './channels.access.js';
import { createInvalidUsersError } from './channels.errors.js';
import type { EventRecorder, UnitOfWork } from '../../shared/events.js';
import type { Executor } from '../../platform/db/client.js';
import type { UsersRepository } from '../users/users.repository.js';
import type { ParticipantsRepository } from './participants.repository.js';
import {
  createCannotRemoveAdminError,
  createCannotRemoveOwnerError,
  createLastAdminError,
  createNotOwnerError,
  createNotParticipantError,
  createOwnerRoleError,
  createParticipantNotFoundError,
} from './participants.errors.js';

export function createParticipantsService(deps: {
  uow: UnitOfWork;
  access: ChannelAccess;
  participantsRepository: ParticipantsRepository;
  usersRepository: Pick<UsersRepository, 'findByIds'>;
  /** Told after commit about users whose access changed, so their live sockets follow. */
  onAccessChanged?: (change: { channelId: string; userIds: string[] }) => void;
}) {
  const { uow, access, participantsRepository, usersRepository } = deps;

  /** Logs a `role_changed` event for the user; returns the user reference it carries. */
  async function recordRoleChange(
    tx: Executor,
    events: EventRecorder,
    channelId: string,
    userId: string,
    role: { isAdmin: boolean; isOwner: boolean },
  ) {
    const [found] = await usersRepository.findByIds([userId], tx);
    const user = { id: userId, username: found?.username ?? '' };
    await events.record({
      channelId,
      type: 'chat.participant',
      payload: { action: 'role_changed', user, is_admin: role.isAdmin, is_owner: role.isOwner },
    });
    return user;
  }

  return {
    async addParticipants(actor: AuthUser, channelId: string, userIds: string[]) {
      const standing = await access.requireAdmin(actor, channelId);
      const { channel } = standing;
      const unique = [...new Set(userIds)];
      const byId = await access.checkInvitees(channel, unique);
      const added = await uow.run(async (tx, events) => {
        const ids = await participantsRepository.addMany(channel.id, unique, {}, tx);
        for (const id of ids) {
          await events.record({
            channelId: channel.id,
            type: 'chat.participant',
            payload: { action: 'joined', user: { id, username: byId.get(id)!.username } },
          });
        }
        return ids;
      });
      if (added.length > 0) deps.onAccessChanged?.({ channelId: channel.id, userIds: added });
      return { adicionados: added };
    },

    async removeParticipants(actor: AuthUser, channelId: string, userIds: string[]) {
      const standing = await access.requireAdmin(actor, channelId);
      const unique = [...new Set(userIds)];
      const known = new Map(
        (await usersRepository.findByIds(unique)).map((user) => [user.id, user.username]),
      );
      const unknown = unique.filter((id) => !known.has(id));
      if (unknown.length > 0) throw createInvalidUsersError(`Unknown user ids: ${unknown.join(', ')}`);
      const removed = await uow.run(async (tx, events) => {
        const rows = (await participantsRepository.findMany(standing.channel.id, unique, tx)).filter(
          (row) => row.removedAt === null,
        );
        for (const row of rows) {
          if (row.isOwner) throw createCannotRemoveOwnerError();
          if (row.isAdmin && !standing.canManageAdmins) throw createCannotRemoveAdminError();
        }
        const ids = await participantsRepository.markRemoved(
          standing.channel.id,
          rows.map((row) => row.userId),
          tx,
        );
        for (const id of ids) {
          await events.record({
            channelId: standing.channel.id,
            type: 'chat.participant',
            payload: { action: 'removed', user: { id, username: known.get(id) ?? '' } },
          });
        }
        return ids;
      });
      if (removed.length > 0) deps.onAccessChanged?.({ channelId: standing.channel.id, userIds: removed });
      return { removidos: removed };
    },

    async leaveChannel(actor: AuthUser, channelId: string) {
      const standing = await access.requireReadable(actor, channelId);
      if (!standing.participant) throw createNotParticipantError();
      await uow.run(async (tx, events) => {
        const admins = await participantsRepository.lockAdmins(standing.channel.id, tx);
        if (admins.includes(actor.id) && admins.length === 1) throw createLastAdminError();
        const deleted = await participantsRepository.delete(standing.channel.id, actor.id, tx);
        if (!deleted) throw createNotParticipantError();
        await events.record({
          channelId: standing.channel.id,
          type: 'chat.participant',
          payload: { action: 'left', user: { id: actor.id, username: actor.username } },
        });
        // An owner who leaves hands the channel to the longest-standing remaining admin.
        const successor = standing.isOwner ? admins.find((id) => id !== actor.id) : undefined;
        if (successor) {
          await participantsRepository.makeOwner(standing.channel.id, successor, tx);
          await recordRoleChange(tx, events, standing.channel.id, successor, {
            isAdmin: true,
            isOwner: true,
          });
        }
      });
      deps.onAccessChanged?.({ channelId: standing.channel.id, userIds: [actor.id] });
    },

    async listParticipants(
      actor: AuthUser,
      channelId: string,
      options: { afterId?: string | undefined; limit: number },
    ) {
      const standing = await access.requireReadable(actor, channelId);
      const rows = await participantsRepository.listActive(standing.channel.id, options);
      const page = rows.slice(0, options.limit);
      return {
        results: page.map((row) => ({
          user: { id: row.userId, username: row.username },
          is_owner: row.isOwner,
          is_admin: row.isAdmin,
          joined_at: row.createdAt.toISOString(),
        })),
        nextAfterId: rows.length > options.limit ? page[page.length - 1]!.id : undefined,
      };
    },

    async setRole(actor: AuthUser, channelId: string, userId: string, isAdmin: boolean) {
      const standing = await access.requireReadable(actor, channelId);
      if (!standing.canManageAdmins) throw createNotOwnerError();
      return uow.run(async (tx, events) => {
        const target = await participantsRepository.find(standing.channel.id, userId, tx);
        if (!target || target.removedAt !== null) throw createParticipantNotFoundError();
        if (target.isOwner) throw createOwnerRoleError();
        const row = (await participantsRepository.setAdmin(standing.channel.id, userId, isAdmin, tx))!;
        const user = await recordRoleChange(tx, events, standing.channel.id, userId, row);
        return {
          user,
          is_owner: row.isOwner,
          is_admin: row.isAdmin,
        };
      });
    },
  };
}
export type ParticipantsService = ReturnType<typeof createParticipantsService>;
