import { and, eq, getTableColumns, inArray, sql } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { chatModerators } from './moderators.table.js';
import { users, type UserRow } from './users.table.js';

/**
 * Whether the user holds a granted moderator row (staff moderate without one). Read in the same
 * statement as the user wherever authentication loads one, so `is_moderator` costs no round trip.
 */
export const hasModeratorGrant = sql<boolean>`exists (select 1 from ${chatModerators} where ${chatModerators.userId} = ${users.id})`;
/** A user row as authentication loads it: with its moderator grant. */
export type UserWithGrant = UserRow & { hasModeratorGrant: boolean };
export const userWithGrantColumns = { ...getTableColumns(users), hasModeratorGrant };

export function createUsersRepository({ db }: { db: Executor }) {
  return {
    async findById(id: string, tx: Executor = db): Promise<UserWithGrant | undefined> {
      const [row] = await tx.select(userWithGrantColumns).from(users).where(eq(users.id, id));
      return row;
    },
    async findByUsername(username: string, tx: Executor = db): Promise<UserWithGrant | undefined> {
      const [row] = await tx
        .select(userWithGrantColumns)
        .from(users)
        .where(sql`lower(${users.username}) = lower(${username})`);
      return row;
    },
    async findByExternalIdentity(
      issuer: string,
      subject: string,
      tx: Executor = db,
    ): Promise<UserWithGrant | undefined> {
      const [row] = await tx
        .select(userWithGrantColumns)
        .from(users)
        .where(and(eq(users.externalIssuer, issuer), eq(users.externalSubject, subject)));
      return row;
    },
    async findByIds(ids: string[], tx: Executor = db): Promise<UserRow[]> {
      if (ids.length === 0) return [];
      return tx.select().from(users).where(inArray(users.id, ids));
    },
    async findActiveByIds(ids: string[], tx: Executor = db): Promise<UserWithGrant[]> {
      if (ids.length === 0) return [];
      return tx
        .select(userWithGrantColumns)
        .from(users)
        .where(and(inArray(users.id, ids), eq(users.isActive, true)));
    },
    /** Inserts a user; returns undefined when the username (case-insensitive) or identity is taken. */
    async insert(values: typeof users.$inferInsert, tx: Executor = db): Promise<UserRow | undefined> {
      const [row] = await tx.insert(users).values(values).onConflictDoNothing().returning();
      return row;
    },
    async update(
      id: string,
      values: Partial<typeof users.$inferInsert>,
      tx: Executor = db,
    ): Promise<UserWithGrant | undefined> {
      const [row] = await tx
        .update(users)
        .set(values)
        .where(eq(users.id, id))
        .returning(userWithGrantColumns);
      return row;
    },
  };
}
export type UsersRepository = ReturnType<typeof createUsersRepository>;
