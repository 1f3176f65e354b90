import { and, asc, count, eq, isNull, sql } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { users } from '../users/users.table.js';
import { newId } from '../../shared/ids.js';
import {
  chatMessageEdits,
  chatMessageFlags,
  chatModerationLogs,
  chatModerationQueue,
  type ModerationAction,
  type ReviewDecision,
} from './moderation.table.js';

export function createModerationRepository({ db }: { db: Executor }) {
  return {
    async insertEdit(
      values: { messageId: string; previousContent: string; editorId: string },
      tx: Executor = db,
    ) {
      await tx.insert(chatMessageEdits).values({ id: newId(), ...values });
    },
    async insertLog(
      values: {
        messageId: string | null;
        channelId: string | null;
        action: ModerationAction;
        moderatorId: string | null;
        previousContent?: string | null;
        reason?: string | null;
      },
      tx: Executor = db,
    ) {
      await tx.insert(chatModerationLogs).values({ id: newId(), ...values });
    },
    /** Records a user's flag; false when that user had already flagged the message. */
    async insertFlag(
      values: { messageId: string; userId: string; motivo: string | null },
      tx: Executor = db,
    ): Promise<boolean> {
      const rows = await tx
        .insert(chatMessageFlags)
        .values({ id: newId(), ...values })
        .onConflictDoNothing({ target: [chatMessageFlags.messageId, chatMessageFlags.userId] })
        .returning({ id: chatMessageFlags.id });
      return rows.length > 0;
    },
    /**
     * Opens (or reopens) the message's queue entry: a flag sets its count of unresolved flags, a
     * spam rule marks it spam. Either makes it pending again and moves its activity time.
     */
    async openReview(
      values: { messageId: string; channelId: string; flagCount?: number; isSpam?: boolean },
      tx: Executor = db,
    ) {
      const now = new Date();
      const set: Record<string, unknown> = {
        status: 'pendente',
        lastActivityAt: now,
        decision: null,
        resolvedBy: null,
        resolvedAt: null,
        updatedAt: now,
      };
      if (values.flagCount !== undefined) set.flagCount = values.flagCount;
      if (values.isSpam) set.isSpam = true;
      await tx
        .insert(chatModerationQueue)
        .values({
          messageId: values.messageId,
          channelId: values.channelId,
          flagCount: values.flagCount ?? 0,
          isSpam: values.isSpam ?? false,
          lastActivityAt: now,
        })
        .onConflictDoUpdate({ target: chatModerationQueue.messageId, set });
    },
    /**
     * A moderator's decision: the message's unresolved flags are resolved (they no longer count
     * toward hiding) and its queue entry, if any, is resolved with the decision.
     */
    async resolveReview(
      values: { messageId: string; decision: ReviewDecision; moderatorId: string },
      tx: Executor = db,
    ) {
      const now = new Date();
      await tx
        .update(chatMessageFlags)
        .set({ resolvedAt: now })
        .where(and(eq(chatMessageFlags.messageId, values.messageId), isNull(chatMessageFlags.resolvedAt)));
      await tx
        .update(chatModerationQueue)
        .set({
          status: 'resolvido',
          flagCount: 0,
          decision: values.decision,
          resolvedBy: values.moderatorId,
          resolvedAt: now,
          updatedAt: sql`now()`,
        })
        .where(eq(chatModerationQueue.messageId, values.messageId));
    },
    /** A message's earlier versions, oldest first, with who replaced each. */
    async listEdits(messageId: string, tx: Executor = db) {
      return tx
        .select({
          id: chatMessageEdits.id,
          previousContent: chatMessageEdits.previousContent,
          editorId: chatMessageEdits.editorId,
          editorUsername: users.username,
          createdAt: chatMessageEdits.createdAt,
        })
        .from(chatMessageEdits)
        .leftJoin(users, eq(users.id, chatMessageEdits.editorId))
        .where(eq(chatMessageEdits.messageId, messageId))
        .orderBy(asc(chatMessageEdits.createdAt), asc(chatMessageEdits.id));
    },
    /** One earlier version of this message (none when the id is another message's version). */
    async findEdit(messageId: string, editId: string, tx: Executor = db) {
      const [row] = await tx
        .select({ id: chatMessageEdits.id, previousContent: chatMessageEdits.previousContent })
        .from(chatMessageEdits)
        .where(and(eq(chatMessageEdits.id, editId), eq(chatMessageEdits.messageId, messageId)));
      return row;
    },
    /** How many distinct users flagged the message since the last moderator decision. */
    async countFlaggers(messageId: string, tx: Executor = db): Promise<number> {
      const [row] = await tx
        .select({ n: count() })
        .from(chatMessageFlags)
        .where(and(eq(chatMessageFlags.messageId, messageId), isNull(chatMessageFlags.resolvedAt)));
      return row?.n ?? 0;
    },
  };
}
export type ModerationRepository = ReturnType<typeof createModerationRepository>;
