import { and, eq, gt, lt } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { userWithGrantColumns, type UserWithGrant } from '../users/users.repository.js';
import { users } from '../users/users.table.js';
import { sessions } from './auth.table.js';

export function createSessionsRepository({ db }: { db: Executor }) {
  return {
    async insert(values: typeof sessions.$inferInsert, tx: Executor = db) {
      await tx.insert(sessions).values(values);
    },
    /** The active user behind an unexpired session, or undefined. */
    async findUserByTokenHash(
      tokenHash: string,
      now: Date,
      tx: Executor = db,
    ): Promise<UserWithGrant | undefined> {
      const [row] = await tx
        .select({ user: userWithGrantColumns })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(and(eq(sessions.tokenHash, tokenHash), gt(sessions.expiresAt, now), eq(users.isActive, true)));
      return row?.user;
    },
    async deleteByTokenHash(tokenHash: string, tx: Executor = db) {
      const rows = await tx
        .delete(sessions)
        .where(eq(sessions.tokenHash, tokenHash))
        .returning({ userId: sessions.userId, id: sessions.id });
      return rows[0];
    },
    async deleteExpired(now: Date, tx: Executor = db) {
      await tx.delete(sessions).where(lt(sessions.expiresAt, now));
    },
  };
}
export type SessionsRepository = ReturnType<typeof createSessionsRepository>;
