import type { Executor } from '../../platform/db/client.js';
import { createBatcher } from '../../shared/batching.js';
import type { AuthUser } from '../auth/auth.service.js';
import type { ContextsRepository } from '../contexts/contexts.repository.js';
import type { EventRecorder } from '../../shared/events.js';
import type { ParticipantsRepository } from './participants.repository.js';
import type { ParticipantRow } from './participants.table.js';
import type { ChannelsRepository } from './channels.repository.js';
import type { ChannelContextType, ChannelRow } from './channels.table.js';
import type { ContextType } from '../contexts/contexts.table.js';
import type { UsersRepository, UserWithGrant } from '../users/users.repository.js';
import {
  createChannelNotFoundError,
  createInvalidUsersError,
  createNotChannelAdminError,
  createNotChannelMemberError,
} from './channels.errors.js';

// The rules of who may read, post, administer and moderate are written here and nowhere else.
// Where the database must decide in a statement (the send path, the channel list), the repositories
// render these same functions in SQL (channels.repository: accessSql).

/** Who a rule needs to know about a user to tell whether they moderate. */
export type ModeratorFacts = { isStaff: boolean; isModerator: boolean };

/**
 * Moderators are staff and the users staff granted the role (chat_moderators, loaded with the user
 * as `isModerator`): they read every channel (hidden messages too) and hold admin rights
 * everywhere. Granting and revoking the role stays with staff (moderation/moderators.service).
 */
export function isModerator(user: ModeratorFacts): boolean {
  return user.isStaff || user.isModerator;
}

/** Private channels are open to anyone; context channels (núcleo, evento, organização) to moderators only. */
export function mayCreateChannel(user: ModeratorFacts, contextoTipo: ChannelContextType): boolean {
  return contextoTipo === 'privado' || isModerator(user);
}

/** A channel of a context (núcleo, evento, organização); the others are private. */
export function isContextChannel(channel: Pick<ChannelRow, 'contextoTipo' | 'contextoId'>): boolean {
  return channel.contextoTipo !== 'privado' && channel.contextoId !== null;
}

/** The boolean operations the rules below are written with: booleans here, SQL in the repositories. */
export type Logic<T> = { and(...terms: T[]): T; or(...terms: T[]): T; not(term: T): T };

export const booleanLogic: Logic<boolean> = {
  and: (...terms) => terms.every((term) => term),
  or: (...terms) => terms.some((term) => term),
  not: (term) => !term,
};

/** The facts membership is decided on, for one user and one channel (in SQL, each never null). */
export type MembershipFacts<T> = {
  /** The channel belongs to a context (núcleo, evento, organização) rather than being private. */
  isContextChannel: T;
  /** The user has a participant row that was not removed. */
  hasActiveRow: T;
  /** The user has no participant row at all: a removed row keeps a context member out. */
  hasNoRow: T;
  /** The user is an active member of the channel's context. */
  inContext: T;
  isModerator: T;
};

/** An active participant keeps access to a context channel only while in its context (moderators always). */
export function participantKeepsAccess<T>(
  logic: Logic<T>,
  facts: Pick<MembershipFacts<T>, 'isContextChannel' | 'inContext' | 'isModerator'>,
): T {
  return logic.or(logic.not(facts.isContextChannel), facts.inContext, facts.isModerator);
}

/** A context member who was never a participant (nor removed) may use the channel; they join on first use. */
export function joinsOnFirstUse<T>(logic: Logic<T>, facts: MembershipFacts<T>): T {
  return logic.and(facts.isContextChannel, facts.hasNoRow, facts.inContext);
}

/** A member reads and posts, and sees the channel in their list. */
export function isChannelMember<T>(logic: Logic<T>, facts: MembershipFacts<T>): T {
  return logic.or(
    logic.and(facts.hasActiveRow, participantKeepsAccess(logic, facts)),
    joinsOnFirstUse(logic, facts),
  );
}

/** What one user may do in one channel, computed fresh on every request (access is live). */
export type ChannelStanding = {
  user: AuthUser;
  channel: ChannelRow;
  /** The user's active participant row, if any. */
  participant: ParticipantRow | undefined;
  /** May read and post (isChannelMember). */
  isMember: boolean;
  /** A context member who has no participant row yet; gets a plain one on first use. */
  needsJoin: boolean;
  /** See isModerator: reads every channel (hidden messages too), holds admin rights everywhere. */
  isModerator: boolean;
  /** Administers the channel: edits it, adds and removes participants, pins, edits and deletes any message. */
  isAdmin: boolean;
  isOwner: boolean;
  /** Removes admins and changes roles: the owner and moderators. */
  canManageAdmins: boolean;
  /** Deletes the channel: moderators only. */
  canDelete: boolean;
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
    const participant = row && row.removedAt === null ? row : undefined;
    const facts: MembershipFacts<boolean> = {
      isContextChannel: isContextChannel(channel),
      hasActiveRow: participant !== undefined,
      hasNoRow: !row,
      inContext: found.inContext === true,
      isModerator: isModerator(user),
    };
    const isMember = isChannelMember(booleanLogic, facts);
    const member = isMember ? participant : undefined;
    const isOwner = member?.isOwner === true;
    return {
      user,
      channel,
      participant: member,
      isMember,
      needsJoin: isMember && member === undefined,
      isModerator: facts.isModerator,
      isAdmin: member?.isAdmin === true || isOwner || facts.isModerator,
      isOwner,
      canManageAdmins: isOwner || facts.isModerator,
      canDelete: facts.isModerator,
      canRead: isMember || facts.isModerator,
    };
  }

  return {
    getStanding,
    /**
     * Checks that users may be made participants: they exist, are active and, for context channels,
     * belong to the context (or are moderators). Refuses the whole list otherwise, so nothing is half-applied.
     */
    async checkInvitees(
      channel: Pick<ChannelRow, 'contextoTipo' | 'contextoId'>,
      userIds: string[],
    ): Promise<Map<string, UserWithGrant>> {
      const unique = [...new Set(userIds)];
      const byId = new Map((await usersRepository.findActiveByIds(unique)).map((user) => [user.id, user]));
      const invalid = unique.filter((id) => !byId.has(id));
      if (isContextChannel(channel)) {
        const members = await contextsRepository.filterActiveMembers(unique, {
          contextoTipo: channel.contextoTipo as ContextType,
          contextoId: channel.contextoId!,
        });
        // The membership rule again: only a moderator stays a participant outside the context.
        invalid.push(
          ...unique.filter((id) => {
            const user = byId.get(id);
            return user && !members.has(id) && !isModerator({ ...user, isModerator: user.hasModeratorGrant });
          }),
        );
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
