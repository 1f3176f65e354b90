import { and, asc, desc, eq, gt, gte, inArray, isNotNull, isNull, lt, lte, type SQL } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { users } from '../users/users.table.js';
import { chatMessages, type MessageRow } from './messages.table.js';

export type MessageWithSender = { message: MessageRow; username: string | null };

export type MessageListFilter = {
  channelId: string;
  includeHidden: boolean;
  desde?: Date | undefined;
  ate?: Date | undefined;
};

function filterConditions(filter: MessageListFilter): SQL[] {
  const conditions: SQL[] = [eq(chatMessages.channelId, filter.channelId), isNull(chatMessages.deletedAt)];
  if (!filter.includeHidden) conditions.push(isNull(chatMessages.hiddenAt));
  if (filter.desde) conditions.push(gte(chatMessages.createdAt, filter.desde));
  if (filter.ate) conditions.push(lte(chatMessages.createdAt, filter.ate));
  return conditions;
}

export function createMessagesRepository({ db }: { db: Executor }) {
  const selectWithSender = (tx: Executor) =>
    tx
      .select({ message: chatMessages, username: users.username })
      .from(chatMessages)
      .leftJoin(users, eq(users.id, chatMessages.remetenteId));

  return {
    /** Inserts a message; undefined when (channel, sender, client_id) already exists. */
    async insert(
      values: typeof chatMessages.$inferInsert,
      tx: Executor = db,
    ): Promise<MessageRow | undefined> {
      const [row] = await tx.insert(chatMessages).values(values).onConflictDoNothing().returning();
      return row;
    },
    async findByClientId(
      channelId: string,
      senderId: string,
      clientId: string,
      tx: Executor = db,
    ): Promise<MessageWithSender | undefined> {
      const [row] = await selectWithSender(tx).where(
        and(
          eq(chatMessages.channelId, channelId),
          eq(chatMessages.remetenteId, senderId),
          eq(chatMessages.clientId, clientId),
        ),
      );
      return row;
    },
    /** A message of this channel (deleted ones too: the service decides what the caller may see). */
    async findInChannel(
      channelId: string,
      messageId: string,
      tx: Executor = db,
      options: { lock?: boolean } = {},
    ): Promise<MessageWithSender | undefined> {
      const query = selectWithSender(tx).where(
        and(eq(chatMessages.channelId, channelId), eq(chatMessages.id, messageId)),
      );
      const [row] = options.lock ? await query.for('update', { of: chatMessages }) : await query;
      return row;
    },
    /** One keyset page in the given direction, with one extra row to tell whether more exist. */
    async listPage(
      filter: MessageListFilter,
      page: { direction: 'after' | 'before'; seq: number | undefined; limit: number },
      tx: Executor = db,
    ): Promise<MessageWithSender[]> {
      const conditions = filterConditions(filter);
      if (page.seq !== undefined) {
        conditions.push(
          page.direction === 'after' ? gt(chatMessages.seq, page.seq) : lt(chatMessages.seq, page.seq),
        );
      }
      return selectWithSender(tx)
        .where(and(...conditions))
        .orderBy(page.direction === 'after' ? asc(chatMessages.seq) : desc(chatMessages.seq))
        .limit(page.limit + 1);
    },
    async existsBeyond(filter: MessageListFilter, side: 'after' | 'before', seq: number, tx: Executor = db) {
      const [row] = await tx
        .select({ id: chatMessages.id })
        .from(chatMessages)
        .where(
          and(
            ...filterConditions(filter),
            side === 'after' ? gt(chatMessages.seq, seq) : lt(chatMessages.seq, seq),
          ),
        )
        .limit(1);
      return row !== undefined;
    },
    /** Pinned messages, newest first, keyset-paginated by seq. */
    async listPinned(
      filter: { channelId: string; includeHidden: boolean },
      page: { beforeSeq: number | undefined; limit: number },
      tx: Executor = db,
    ): Promise<MessageWithSender[]> {
      const conditions = filterConditions(filter);
      conditions.push(isNotNull(chatMessages.pinnedAt));
      if (page.beforeSeq !== undefined) conditions.push(lt(chatMessages.seq, page.beforeSeq));
      return selectWithSender(tx)
        .where(and(...conditions))
        .orderBy(desc(chatMessages.seq))
        .limit(page.limit + 1);
    },
    async update(id: string, values: Partial<typeof chatMessages.$inferInsert>, tx: Executor = db) {
      const [row] = await tx.update(chatMessages).set(values).where(eq(chatMessages.id, id)).returning();
      return row;
    },
    async findManyInChannel(channelId: string, ids: string[], tx: Executor = db) {
      if (ids.length === 0) return [];
      return tx
        .select({ id: chatMessages.id })
        .from(chatMessages)
        .where(and(eq(chatMessages.channelId, channelId), inArray(chatMessages.id, ids)));
    },
  };
}
export type MessagesRepository = ReturnType<typeof createMessagesRepository>;
