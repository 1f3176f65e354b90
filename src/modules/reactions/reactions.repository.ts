import { count, inArray } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { chatMessageReactions } from './reactions.table.js';

export type ReactionCounts = Record<string, number>;

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
  };
}
export type ReactionsRepository = ReturnType<typeof createReactionsRepository>;
