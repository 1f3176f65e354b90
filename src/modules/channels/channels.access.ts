import type { Executor } from '../../platform/db/client.js';
import { createBatcher } from '../../shared/batching.js';
import type { AuthUser } from '../auth/auth.service.js';
import type { ContextsRepository } from '../contexts/contexts.repository.js';
import type { EventRecorder } from '../events/events.service.js';
import type { ParticipantsRepository } from './participants.repository.js';
import type { ParticipantRow } from './participants.table.js';
import type { ChannelsRepository } from './channels.repository.js';
import type { ChannelRow } from './channels.table.js';
import type { ContextType } from '../contexts/contexts.table.js';
import type { UsersRepository } from '../users/users.repository.js';
import type { UserRow } from '../users/users.table.js';
import {
  createChannelNotFoundError,
  createInvalidUsersError,
  createNotChannelAdminError,
  createNotChannelMemberError,
} from './channels.errors.js';

/** What one user may do in one channel, computed fresh on every request (access is live). */
export type ChannelStanding = {
  user: AuthUser;
  channel: ChannelRow;
  /** The user's active participant row, if any. */
  participant: ParticipantRow | undefined;
  /** May read and post: an active participant (still in the context, for context channels). */
  isMember: boolean;
  /** A context member who has no participant row yet; gets a plain one on first use. */
  needsJoin: boolean;
  /** Staff act as moderators: they read every channel and hold admin rights everywhere. */
  isModerator: boolean;
  isAdmin: boolean;
  isOwner: boolean;
  canRead: boolean;
};

export function createChannelAccess(deps: {
  channelsRepository: Pick<ChannelsRepository, 'findManyWithMembership'>;
  participantsRepository: Pick<ParticipantsRepository, 'addMany'>;
  contextsRepository: Pick<ContextsRepository, 'filterActiveMembers'>;
  usersRepository: Pick<UsersRepository, 'findActiveByIds'>;
}) {
  const { channelsRepository, participantsRepository, contextsRepository, usersRepository } = deps;
  // Every request, socket upgrade and access re-check (and a channel's first send on this process)
  // reads access; under load the reads that arrive while earlier ones are in flight share one
  // query. Each is still read fresh from the database.
  const lookups = createBatcher({
    run: (pairs: Array<{ channelId: string; userId: string }>) =>
      channelsRepository.findManyWithMembership(pairs),
    maxInFlight: 2,
  });

  async function getStanding(user: AuthUser, channelId: string, tx?: Executor): Promise<ChannelStanding> {
    const pair = { channelId, userId: user.id };
    // Inside a transaction the read must see (and wait for) what the transaction holds.
    const found = tx
      ? (await channelsRepository.findManyWithMembership([pair], tx))[0]
      : await lookups.submit(pair);
    if (!found) throw createChannelNotFoundError();
    const { channel, participant: row } = found;
    const removed = row?.removedAt != null;
    const participant = row && !removed ? row : undefined;
    const isContextChannel = channel.contextoTipo !== 'privado' && channel.contextoId !== null;
    const inContext = isContextChannel && !removed && found.inContext === true;
    const isMember = participant !== undefined ? !isContextChannel || inContext || user.isStaff : inContext;
    const isModerator = user.isStaff;
    const participantAdmin =
      isMember && participant !== undefined && (participant.isAdmin || participant.isOwner);
    return {
      user,
      channel,
      participant: isMember ? participant : undefined,
      isMember,
      needsJoin: isMember && participant === undefined,
      isModerator,
      isAdmin: participantAdmin || isModerator,
      isOwner: isMember && participant?.isOwner === true,
      canRead: isMember || isModerator,
    };
  }

  return {
    getStanding,
    /**
     * Checks that users may be made participants: they exist, are active and, for context channels,
     * belong to the context (or are staff). Refuses the whole list otherwise, so nothing is half-applied.
     */
    async checkInvitees(
      channel: Pick<ChannelRow, 'contextoTipo' | 'contextoId'>,
      userIds: string[],
    ): Promise<Map<string, UserRow>> {
      const unique = [...new Set(userIds)];
      const byId = new Map((await usersRepository.findActiveByIds(unique)).map((user) => [user.id, user]));
      const invalid = unique.filter((id) => !byId.has(id));
      if (channel.contextoTipo !== 'privado' && channel.contextoId) {
        const members = await contextsRepository.filterActiveMembers(unique, {
          contextoTipo: channel.contextoTipo as ContextType,
          contextoId: channel.contextoId,
        });
        invalid.push(...unique.filter((id) => byId.has(id) && !members.has(id) && !byId.get(id)!.isStaff));
      }
      if (invalid.length > 0) {
        throw createInvalidUsersError(
          `These users are unknown, inactive or not members of the channel's context: ${invalid.join(', ')}`,
        );
      }
      return byId;
    },
    /** The standing of a user who may see the channel; 404 for everyone else (no existence leak). */
    async requireReadable(user: AuthUser, channelId: string, tx?: Executor): Promise<ChannelStanding> {
      const standing = await getStanding(user, channelId, tx);
      if (!standing.canRead) throw createChannelNotFoundError();
      return standing;
    },
    async requireMember(user: AuthUser, channelId: string, tx?: Executor): Promise<ChannelStanding> {
      const standing = await getStanding(user, channelId, tx);
      if (!standing.canRead) throw createChannelNotFoundError();
      if (!standing.isMember) throw createNotChannelMemberError();
      return standing;
    },
    async requireAdmin(user: AuthUser, channelId: string, tx?: Executor): Promise<ChannelStanding> {
      const standing = await getStanding(user, channelId, tx);
      if (!standing.canRead) throw createChannelNotFoundError();
      if (!standing.isAdmin) throw createNotChannelAdminError();
      return standing;
    },
    /** Gives a context member their plain participant row the first time they use the channel. */
    async joinIfNeeded(standing: ChannelStanding, tx: Executor, events: EventRecorder): Promise<void> {
      if (!standing.needsJoin) return;
      const added = await participantsRepository.addMany(standing.channel.id, [standing.user.id], {}, tx);
      if (added.length > 0) {
        await events.record({
          channelId: standing.channel.id,
          type: 'chat.participant',
          payload: { action: 'joined', user: { id: standing.user.id, username: standing.user.username } },
        });
      }
    },
  };
}
export type ChannelAccess = ReturnType<typeof createChannelAccess>;
