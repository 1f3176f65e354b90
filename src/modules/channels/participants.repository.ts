import { and, asc, count, eq, gt, inArray, isNull, or, sql } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { newId } from '../../shared/ids.js';
import { users } from '../users/users.table.js';
import { chatParticipants, type ParticipantRow } from './participants.table.js';

const active = isNull(chatParticipants.removedAt);

export function createParticipantsRepository({ db }: { db: Executor }) {
  return {
    /** The user's row in the channel, active or removed. */
    async find(channelId: string, userId: string, tx: Executor = db): Promise<ParticipantRow | undefined> {
      const [row] = await tx
        .select()
        .from(chatParticipants)
        .where(and(eq(chatParticipants.channelId, channelId), eq(chatParticipants.userId, userId)));
      return row;
    },
    async findMany(channelId: string, userIds: string[], tx: Executor = db): Promise<ParticipantRow[]> {
      if (userIds.length === 0) return [];
      return tx
        .select()
        .from(chatParticipants)
        .where(and(eq(chatParticipants.channelId, channelId), inArray(chatParticipants.userId, userIds)));
    },
    /**
     * Adds users as plain (or given-role) participants, reactivating removed rows; returns the user
     * ids that were not active participants before.
     */
    async addMany(
      channelId: string,
      userIds: string[],
      role: { isOwner?: boolean; isAdmin?: boolean } = {},
      tx: Executor = db,
    ): Promise<string[]> {
      if (userIds.length === 0) return [];
      const rows = await tx
        .insert(chatParticipants)
        .values(
          userIds.map((userId) => ({
            id: newId(),
            channelId,
            userId,
            isOwner: role.isOwner ?? false,
            isAdmin: role.isAdmin ?? false,
          })),
        )
        .onConflictDoUpdate({
          target: [chatParticipants.channelId, chatParticipants.userId],
          set: { removedAt: null, isAdmin: false, isOwner: false, updatedAt: new Date() },
          setWhere: sql`${chatParticipants.removedAt} is not null`,
        })
        .returning({ userId: chatParticipants.userId });
      return rows.map((row) => row.userId);
    },
    /** Marks participants removed (keeps the row so context members do not re-join by themselves). */
    async markRemoved(channelId: string, userIds: string[], tx: Executor = db): Promise<string[]> {
      if (userIds.length === 0) return [];
      const rows = await tx
        .update(chatParticipants)
        .set({ removedAt: new Date(), isAdmin: false, isOwner: false })
        .where(
          and(eq(chatParticipants.channelId, channelId), inArray(chatParticipants.userId, userIds), active),
        )
        .returning({ userId: chatParticipants.userId });
      return rows.map((row) => row.userId);
    },
    async delete(channelId: string, userId: string, tx: Executor = db): Promise<boolean> {
      const rows = await tx
        .delete(chatParticipants)
        .where(and(eq(chatParticipants.channelId, channelId), eq(chatParticipants.userId, userId), active))
        .returning({ id: chatParticipants.id });
      return rows.length > 0;
    },
    async setAdmin(channelId: string, userId: string, isAdmin: boolean, tx: Executor = db) {
      const [row] = await tx
        .update(chatParticipants)
        .set({ isAdmin })
        .where(and(eq(chatParticipants.channelId, channelId), eq(chatParticipants.userId, userId), active))
        .returning();
      return row;
    },
    async makeOwner(channelId: string, userId: string, tx: Executor = db) {
      await tx
        .update(chatParticipants)
        .set({ isOwner: true, isAdmin: true })
        .where(and(eq(chatParticipants.channelId, channelId), eq(chatParticipants.userId, userId), active));
    },
    /** Active admins and owners (longest-standing first), locked so two cannot both leave at once. */
    async lockAdmins(channelId: string, tx: Executor): Promise<string[]> {
      const rows = await tx
        .select({ userId: chatParticipants.userId })
        .from(chatParticipants)
        .where(
          and(
            eq(chatParticipants.channelId, channelId),
            active,
            or(eq(chatParticipants.isAdmin, true), eq(chatParticipants.isOwner, true)),
          ),
        )
        .orderBy(asc(chatParticipants.createdAt), asc(chatParticipants.id))
        .for('update');
      return rows.map((row) => row.userId);
    },
    async countActive(channelIds: string[], tx: Executor = db): Promise<Map<string, number>> {
      if (channelIds.length === 0) return new Map();
      const rows = await tx
        .select({ channelId: chatParticipants.channelId, total: count() })
        .from(chatParticipants)
        .where(and(inArray(chatParticipants.channelId, channelIds), active))
        .groupBy(chatParticipants.channelId);
      return new Map(rows.map((row) => [row.channelId, Number(row.total)]));
    },
    /** One page of active participants, keyset-paginated by participant id. */
    async listActive(
      channelId: string,
      options: { afterId?: string | undefined; limit: number },
      tx: Executor = db,
    ) {
      return tx
        .select({
          id: chatParticipants.id,
          userId: chatParticipants.userId,
          username: users.username,
          isOwner: chatParticipants.isOwner,
          isAdmin: chatParticipants.isAdmin,
          createdAt: chatParticipants.createdAt,
        })
        .from(chatParticipants)
        .innerJoin(users, eq(users.id, chatParticipants.userId))
        .where(
          and(
            eq(chatParticipants.channelId, channelId),
            active,
            options.afterId ? gt(chatParticipants.id, options.afterId) : undefined,
          ),
        )
        .orderBy(asc(chatParticipants.id))
        .limit(options.limit + 1);
    },
  };
}
export type ParticipantsRepository = ReturnType<typeof createParticipantsRepository>;
