import {
  and,
  asc,
  desc,
  eq,
  gt,
  gte,
  inArray,
  isNotNull,
  isNull,
  lt,
  lte,
  or,
  sql,
  type SQL,
} from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { users } from '../users/users.table.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatEvents } from '../events/events.table.js';
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
    /**
     * The send hot path in ONE statement: takes the next seqs of the channel (row lock), inserts
     * the messages (all of one channel, in order) and their `chat.message` events. Run on its own
     * (autocommit), the lock is held only inside PostgreSQL, never across a round trip to this
     * process, and a batch shares one WAL flush. A repeated (channel, sender, client_id) fails the
     * whole statement with a unique violation, so no seq is consumed (no gap). Returns the seq of
     * the first message (the others follow), or undefined when the channel no longer exists.
     */
    async insertWithEvents(
      channelId: string,
      items: Array<{
        message: Omit<typeof chatMessages.$inferInsert, 'seq' | 'channelId'> & { createdAt: Date };
        eventId: string;
        payload: Record<string, unknown>;
      }>,
      tx: Executor = db,
    ): Promise<number | undefined> {
      const rows = items.map(({ message: m, eventId, payload }, index) => ({
        idx: index + 1,
        id: m.id,
        remetente_id: m.remetenteId ?? null,
        tipo: m.tipo,
        conteudo: m.conteudo ?? '',
        conteudo_cifrado: m.conteudoCifrado ?? null,
        alg: m.alg ?? null,
        key_version: m.keyVersion ?? null,
        reply_to_id: m.replyToId ?? null,
        client_id: m.clientId ?? null,
        created_at: m.createdAt.toISOString(),
        event_id: eventId,
        payload,
      }));
      const count = rows.length;
      const result = await tx.execute(sql`
        with next as (
          update ${chatChannels} set last_seq = last_seq + ${count} where id = ${channelId} returning last_seq
        ), batch as (
          select r.*, next.last_seq - ${count} + r.idx as seq
          from next, jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(idx int, id uuid,
            remetente_id uuid, tipo text, conteudo text, conteudo_cifrado text, alg text, key_version int,
            reply_to_id uuid, client_id text, created_at timestamptz, event_id uuid, payload jsonb)
        ), inserted as (
          insert into ${chatMessages} (id, channel_id, remetente_id, tipo, conteudo, conteudo_cifrado, alg,
            key_version, reply_to_id, client_id, seq, created_at, updated_at)
          select id, ${channelId}, remetente_id, tipo, conteudo, conteudo_cifrado, alg, key_version,
            reply_to_id, client_id, seq, created_at, created_at
          from batch
          returning seq
        ), events as (
          insert into ${chatEvents} (id, channel_id, seq, type, payload, created_at, updated_at)
          select event_id, ${channelId}, seq, 'chat.message', jsonb_set(payload, '{seq}', to_jsonb(seq)),
            created_at, created_at
          from batch
          returning seq
        )
        select (select min(seq) from inserted) as first, (select count(*) from events) as logged`);
      // node-postgres and PGlite both answer `{ rows }`.
      const first = (result as unknown as { rows: Array<{ first: string | number | null }> }).rows[0]?.first;
      return first === null || first === undefined ? undefined : Number(first);
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
    /** Current moderation state of messages: those hidden or deleted since they were logged. */
    async findHiddenOrDeleted(ids: string[], tx: Executor = db) {
      if (ids.length === 0) return [];
      return tx
        .select({ id: chatMessages.id, hiddenAt: chatMessages.hiddenAt, deletedAt: chatMessages.deletedAt })
        .from(chatMessages)
        .where(
          and(
            inArray(chatMessages.id, ids),
            or(isNotNull(chatMessages.hiddenAt), isNotNull(chatMessages.deletedAt)),
          ),
        );
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
