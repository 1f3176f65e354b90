import { and, eq, inArray } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { newId } from '../../shared/ids.js';
import { contextMemberships, type ContextType, type MembershipStatus } from './contexts.table.js';

export type ContextRef = { contextoTipo: ContextType; contextoId: string };

export function createContextsRepository({ db }: { db: Executor }) {
  return {
    async isActiveMember(userId: string, context: ContextRef, tx: Executor = db): Promise<boolean> {
      const [row] = await tx
        .select({ id: contextMemberships.id })
        .from(contextMemberships)
        .where(
          and(
            eq(contextMemberships.userId, userId),
            eq(contextMemberships.contextoTipo, context.contextoTipo),
            eq(contextMemberships.contextoId, context.contextoId),
            eq(contextMemberships.status, 'ativo'),
          ),
        );
      return row !== undefined;
    },
    /** Which of these users are active members of the context. */
    async filterActiveMembers(
      userIds: string[],
      context: ContextRef,
      tx: Executor = db,
    ): Promise<Set<string>> {
      if (userIds.length === 0) return new Set();
      const rows = await tx
        .select({ userId: contextMemberships.userId })
        .from(contextMemberships)
        .where(
          and(
            inArray(contextMemberships.userId, userIds),
            eq(contextMemberships.contextoTipo, context.contextoTipo),
            eq(contextMemberships.contextoId, context.contextoId),
            eq(contextMemberships.status, 'ativo'),
          ),
        );
      return new Set(rows.map((row) => row.userId));
    },
    async upsert(userId: string, context: ContextRef, status: MembershipStatus, tx: Executor = db) {
      const [row] = await tx
        .insert(contextMemberships)
        .values({ id: newId(), userId, ...context, status })
        .onConflictDoUpdate({
          target: [contextMemberships.userId, contextMemberships.contextoTipo, contextMemberships.contextoId],
          set: { status, updatedAt: new Date() },
        })
        .returning();
      return row!;
    },
    async delete(userId: string, context: ContextRef, tx: Executor = db): Promise<boolean> {
      const rows = await tx
        .delete(contextMemberships)
        .where(
          and(
            eq(contextMemberships.userId, userId),
            eq(contextMemberships.contextoTipo, context.contextoTipo),
            eq(contextMemberships.contextoId, context.contextoId),
          ),
        )
        .returning({ id: contextMemberships.id });
      return rows.length > 0;
    },
  };
}
export type ContextsRepository = ReturnType<typeof createContextsRepository>;
