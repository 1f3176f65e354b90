import { and, asc, eq, gt, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import type { Executor } from '../../platform/db/client.js';
import { chatModerators } from './moderators.table.js';
import { users } from './users.table.js';

const granters = alias(users, 'granter');

/** A granted moderator as the moderators endpoints show them. */
export type ModeratorGrant = {
  user: { id: string; username: string };
  grantedBy: { id: string; username: string } | null;
  createdAt: Date;
};

const grantColumns = {
  userId: chatModerators.userId,
  username: users.username,
  granterId: granters.id,
  granterUsername: granters.username,
  createdAt: chatModerators.createdAt,
};

const toGrant = (row: {
  userId: string;
  username: string;
  granterId: string | null;
  granterUsername: string | null;
  createdAt: Date;
}): ModeratorGrant => ({
  user: { id: row.userId, username: row.username },
  grantedBy:
    row.granterId !== null && row.granterUsername !== null
      ? { id: row.granterId, username: row.granterUsername }
      : null,
  createdAt: row.createdAt,
});

/** The granted moderator role (chat_moderators); authentication reads it through users.repository. */
export function createModeratorsRepository({ db }: { db: Executor }) {
  async function find(userId: string, tx: Executor = db): Promise<ModeratorGrant | undefined> {
    const [row] = await tx
      .select(grantColumns)
      .from(chatModerators)
      .innerJoin(users, eq(users.id, chatModerators.userId))
      .leftJoin(granters, eq(granters.id, chatModerators.grantedBy))
      .where(eq(chatModerators.userId, userId));
    return row ? toGrant(row) : undefined;
  }

  return {
    find,
    /**
     * Grants the role; an existing grant is kept as it was (its granter and time). `created` says
     * whether this call made it. One statement, so a concurrent revoke cannot fall in between.
     */
    async grant(userId: string, grantedBy: string | null, tx: Executor = db): Promise<{ created: boolean }> {
      const [row] = await tx
        .insert(chatModerators)
        .values({ userId, grantedBy })
        .onConflictDoUpdate({
          target: chatModerators.userId,
          set: { grantedBy: sql`${chatModerators.grantedBy}` },
        })
        // xmax is 0 only on a row version this statement inserted (not one it updated).
        .returning({ created: sql<boolean>`(xmax = 0)` });
      return { created: row?.created === true };
    },
    /** Revokes the role; false when the user held no grant. */
    async revoke(userId: string, tx: Executor = db): Promise<boolean> {
      const rows = await tx
        .delete(chatModerators)
        .where(eq(chatModerators.userId, userId))
        .returning({ userId: chatModerators.userId });
      return rows.length > 0;
    },
    /** Granted moderators by user id (keyset), one more than `limit` to tell whether a page follows. */
    async list(
      options: { afterId?: string | undefined; limit: number },
      tx: Executor = db,
    ): Promise<ModeratorGrant[]> {
      const rows = await tx
        .select(grantColumns)
        .from(chatModerators)
        .innerJoin(users, eq(users.id, chatModerators.userId))
        .leftJoin(granters, eq(granters.id, chatModerators.grantedBy))
        .where(and(options.afterId ? gt(chatModerators.userId, options.afterId) : undefined))
        .orderBy(asc(chatModerators.userId))
        .limit(options.limit + 1);
      return rows.map(toGrant);
    },
  };
}
export type ModeratorsRepository = ReturnType<typeof createModeratorsRepository>;
