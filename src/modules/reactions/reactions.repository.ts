import { and, count, countDistinct, eq, inArray } from 'drizzle-orm';
import { newId } from '../../shared/ids.js';
import type { Executor } from '../../platform/db/client.js';
import type { ReactionCounts } from '../messages/messages.views.js';
import { chatMessageReactions } from './reactions.table.js';

export function createReactionsRepository({ db }: { db: Executor }) {
  return {
    /** {emoji: count} for each message id (messages without reactions are absent). */
    async countByMessage(messageIds: string[], tx: Executor = db): Promise<Map<string, ReactionCounts>> {
      const result = new Map<string, ReactionCounts>();
      if (messageIds.length === 0) return result;
      const rows = await tx
        .select({
          messageId: chatMessageReactions.messageId,
          emoji: chatMessageReactions.emoji,
          total: count(),
        })
        .from(chatMessageReactions)
        .where(inArray(chatMessageReactions.messageId, messageIds))
        .groupBy(chatMessageReactions.messageId, chatMessageReactions.emoji);
      for (const row of rows) {
        const counts = result.get(row.messageId) ?? {};
        counts[row.emoji] = Number(row.total);
        result.set(row.messageId, counts);
      }
      return result;
    },
    async listUserEmojis(messageId: string, userId: string, tx: Executor = db): Promise<string[]> {
      const rows = await tx
        .select({ emoji: chatMessageReactions.emoji })
        .from(chatMessageReactions)
        .where(and(eq(chatMessageReactions.messageId, messageId), eq(chatMessageReactions.userId, userId)));
      return rows.map((row) => row.emoji).sort();
    },
    /** Removes the user's reaction; true when there was one. */
    async delete(messageId: string, userId: string, emoji: string, tx: Executor = db): Promise<boolean> {
      const rows = await tx
        .delete(chatMessageReactions)
        .where(
          and(
            eq(chatMessageReactions.messageId, messageId),
            eq(chatMessageReactions.userId, userId),
            eq(chatMessageReactions.emoji, emoji),
          ),
        )
        .returning({ id: chatMessageReactions.id });
      return rows.length > 0;
    },
    async insert(messageId: string, userId: string, emoji: string, tx: Executor = db) {
      await tx
        .insert(chatMessageReactions)
        .values({ id: newId(), messageId, userId, emoji })
        .onConflictDoNothing();
    },
    /** Whether the emoji is already on the message, and how many distinct emoji it carries. */
    async describeEmojis(messageId: string, emoji: string, tx: Executor = db) {
      const [row] = await tx
        .select({
          distinct: countDistinct(chatMessageReactions.emoji),
        })
        .from(chatMessageReactions)
        .where(eq(chatMessageReactions.messageId, messageId));
      const [present] = await tx
        .select({ id: chatMessageReactions.id })
        .from(chatMessageReactions)
        .where(and(eq(chatMessageReactions.messageId, messageId), eq(chatMessageReactions.emoji, emoji)))
        .limit(1);
      return { distinct: Number(row?.distinct ?? 0), present: present !== undefined };
    },
  };
}
export type ReactionsRepository = ReturnType<typeof createReactionsRepository>;
