import { and, asc, desc, eq, gte, inArray, isNull, lte, or, sql, type SQL } from 'drizzle-orm';
import { alias, type PgColumn } from 'drizzle-orm/pg-core';
import type { Executor } from '../../platform/db/client.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatMessages } from '../messages/messages.table.js';
import { users } from '../users/users.table.js';
import {
  chatMessageFlags,
  chatModerationLogs,
  chatModerationQueue,
  type ModerationAction,
  type ReviewStatus,
} from './moderation.table.js';

/**
 * A timestamp as exact ISO 8601 text (microseconds, UTC). Keyset cursors carry it: a JS Date keeps
 * only milliseconds, and a rounded boundary would repeat or skip rows that share the millisecond.
 */
const exactTime = (column: PgColumn) =>
  sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export type QueueOrder = 'flags' | 'recentes';
export type QueueFilter = { status: ReviewStatus; channelId?: string; desde?: Date; ate?: Date };
/** The sort key of the last row of a page: flag count or exact activity time, then message id. */
export type QueueAfter =
  | { order: 'flags'; flagCount: number; messageId: string }
  | { order: 'recentes'; activityAt: string; messageId: string };

export type LogFilter = {
  channelId?: string;
  action?: ModerationAction;
  actorId?: string;
  desde?: Date;
  ate?: Date;
};
export type LogAfter = { createdAt: string; id: string };

/** The moderator's queue and the moderation log, read with keyset pagination (never OFFSET). */
export function createModerationQueueRepository({ db }: { db: Executor }) {
  const queue = chatModerationQueue;
  const logs = chatModerationLogs;
  const sender = alias(users, 'sender');
  const resolver = alias(users, 'resolver');

  return {
    /** One page of queue entries, in `order`, with one extra row to tell whether more exist. */
    async listQueuePage(
      filter: QueueFilter,
      page: { order: QueueOrder; after?: QueueAfter; limit: number },
      tx: Executor = db,
    ) {
      const conditions: SQL[] = [eq(queue.status, filter.status)];
      if (filter.channelId !== undefined) conditions.push(eq(queue.channelId, filter.channelId));
      if (filter.desde !== undefined) conditions.push(gte(queue.lastActivityAt, filter.desde));
      if (filter.ate !== undefined) conditions.push(lte(queue.lastActivityAt, filter.ate));
      const after = page.after;
      // Row comparisons, in the order of the (status, flag_count | last_activity_at, message_id) indexes.
      if (after?.order === 'flags') {
        conditions.push(
          sql`(${queue.flagCount}, ${queue.messageId}) < (${after.flagCount}::integer, ${after.messageId}::uuid)`,
        );
      } else if (after?.order === 'recentes') {
        conditions.push(
          sql`(${queue.lastActivityAt}, ${queue.messageId}) < (${after.activityAt}::timestamptz, ${after.messageId}::uuid)`,
        );
      }
      return tx
        .select({
          messageId: queue.messageId,
          status: queue.status,
          flagCount: queue.flagCount,
          isSpam: queue.isSpam,
          lastActivityAt: queue.lastActivityAt,
          activityKey: exactTime(queue.lastActivityAt),
          decision: queue.decision,
          resolvedBy: queue.resolvedBy,
          resolverUsername: resolver.username,
          resolvedAt: queue.resolvedAt,
          message: {
            conteudo: chatMessages.conteudo,
            tipo: chatMessages.tipo,
            remetenteId: chatMessages.remetenteId,
            createdAt: chatMessages.createdAt,
            hiddenAt: chatMessages.hiddenAt,
            isSpam: chatMessages.isSpam,
            deletedAt: chatMessages.deletedAt,
          },
          senderUsername: sender.username,
          channel: {
            id: chatChannels.id,
            titulo: chatChannels.titulo,
            contextoTipo: chatChannels.contextoTipo,
          },
        })
        .from(queue)
        .innerJoin(chatMessages, eq(chatMessages.id, queue.messageId))
        .innerJoin(chatChannels, eq(chatChannels.id, queue.channelId))
        .leftJoin(sender, eq(sender.id, chatMessages.remetenteId))
        .leftJoin(resolver, eq(resolver.id, queue.resolvedBy))
        .where(and(...conditions))
        .orderBy(
          ...(page.order === 'flags'
            ? [desc(queue.flagCount), desc(queue.messageId)]
            : [desc(queue.lastActivityAt), desc(queue.messageId)]),
        )
        .limit(page.limit + 1);
    },

    /**
     * The flags of each entry's current round, oldest first: the unresolved ones of a pending
     * entry, the ones its decision resolved for a resolved entry (resolveReview stamps both alike).
     */
    async listRoundFlags(messageIds: string[], tx: Executor = db) {
      if (messageIds.length === 0) return [];
      const flags = chatMessageFlags;
      return tx
        .select({
          messageId: flags.messageId,
          userId: flags.userId,
          username: users.username,
          motivo: flags.motivo,
          createdAt: flags.createdAt,
        })
        .from(flags)
        .innerJoin(queue, eq(queue.messageId, flags.messageId))
        .leftJoin(users, eq(users.id, flags.userId))
        .where(
          and(
            inArray(flags.messageId, messageIds),
            or(
              and(eq(queue.status, 'pendente'), isNull(flags.resolvedAt)),
              and(eq(queue.status, 'resolvido'), eq(flags.resolvedAt, queue.resolvedAt)),
            ),
          ),
        )
        .orderBy(asc(flags.createdAt), asc(flags.id));
    },

    /** One page of the moderation log, newest first, with one extra row to tell whether more exist. */
    async listLogPage(filter: LogFilter, page: { after?: LogAfter; limit: number }, tx: Executor = db) {
      const conditions: SQL[] = [];
      if (filter.channelId !== undefined) conditions.push(eq(logs.channelId, filter.channelId));
      if (filter.action !== undefined) conditions.push(eq(logs.action, filter.action));
      if (filter.actorId !== undefined) conditions.push(eq(logs.moderatorId, filter.actorId));
      if (filter.desde !== undefined) conditions.push(gte(logs.createdAt, filter.desde));
      if (filter.ate !== undefined) conditions.push(lte(logs.createdAt, filter.ate));
      if (page.after) {
        conditions.push(
          sql`(${logs.createdAt}, ${logs.id}) < (${page.after.createdAt}::timestamptz, ${page.after.id}::uuid)`,
        );
      }
      return tx
        .select({
          id: logs.id,
          action: logs.action,
          actorId: logs.moderatorId,
          actorUsername: users.username,
          messageId: logs.messageId,
          channelId: logs.channelId,
          channelTitulo: chatChannels.titulo,
          previousContent: logs.previousContent,
          reason: logs.reason,
          createdAt: logs.createdAt,
          createdKey: exactTime(logs.createdAt),
        })
        .from(logs)
        .leftJoin(users, eq(users.id, logs.moderatorId))
        .leftJoin(chatChannels, eq(chatChannels.id, logs.channelId))
        .where(and(...conditions))
        .orderBy(desc(logs.createdAt), desc(logs.id))
        .limit(page.limit + 1);
    },
  };
}
export type ModerationQueueRepository = ReturnType<typeof createModerationQueueRepository>;
