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
import { alias } from 'drizzle-orm/pg-core';
import { buildPreparedSql, executePrepared, type Executor } from '../../platform/db/client.js';
import { users } from '../users/users.table.js';
import { participantKeepsAccess } from '../channels/channels.access.js';
import { accessSql } from '../channels/channels.repository.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatEvents } from '../events/events.table.js';
import { chatParticipants } from '../channels/participants.table.js';
import { REPLY_PREVIEW_CHARS, type ReplyParentRow } from './messages.replies.js';
import { chatMessages, type MessageRow } from './messages.table.js';

// A reply's parent and its sender, joined at read time so previews follow its current state.
const replyParent = alias(chatMessages, 'reply_parent');
const replySender = alias(users, 'reply_sender');

/** The columns of a reply's parent that its preview needs (ReplyParent), cut in the database. */
const replyParentColumns = (
  parent: typeof replyParent | typeof chatMessages,
  sender: typeof replySender | typeof users,
) => ({
  id: parent.id,
  remetenteId: parent.remetenteId,
  username: sender.username,
  tipo: parent.tipo,
  conteudo: sql<string>`left(${parent.conteudo}, ${sql.raw(String(REPLY_PREVIEW_CHARS))})`,
  encrypted: sql<boolean>`(${parent.conteudoCifrado} is not null)`,
  hiddenAt: parent.hiddenAt,
  isSpam: parent.isSpam,
  deletedAt: parent.deletedAt,
});

/** A message with its sender's username and, for a reply, its parent as the preview needs it. */
export type MessageWithSender = {
  message: MessageRow;
  username: string | null;
  /** Absent, null or all-null (a left join) when the message is not a reply or its parent row is gone. */
  replyTo?: ReplyParentRow | null | undefined;
};

/** One message to store with its `chat.message` event (seq is given by the database). */
export type MessageWrite<Payload extends object = object> = {
  message: Omit<typeof chatMessages.$inferInsert, 'seq' | 'remetenteId'> & {
    remetenteId: string;
    createdAt: Date;
  };
  /** Staff keep posting in a context channel they participate in without being in the context. */
  senderIsStaff: boolean;
  eventId: string;
  /** The `chat.message` event's payload (the message's view), logged with its seq set. */
  payload: Payload;
};

export type MessageListFilter = {
  channelId: string;
  includeHidden: boolean;
  /** Without includeHidden: this user's own messages hidden by a spam rule are listed too (as sent). */
  ownSpamOf?: string | undefined;
  desde?: Date | undefined;
  ate?: Date | undefined;
};

function filterConditions(filter: MessageListFilter): SQL[] {
  const conditions: SQL[] = [eq(chatMessages.channelId, filter.channelId), isNull(chatMessages.deletedAt)];
  if (!filter.includeHidden) {
    conditions.push(
      filter.ownSpamOf
        ? or(
            isNull(chatMessages.hiddenAt),
            and(eq(chatMessages.isSpam, true), eq(chatMessages.remetenteId, filter.ownSpamOf)),
          )!
        : isNull(chatMessages.hiddenAt),
    );
  }
  if (filter.desde) conditions.push(gte(chatMessages.createdAt, filter.desde));
  if (filter.ate) conditions.push(lte(chatMessages.createdAt, filter.ate));
  return conditions;
}

/** channels.access's participantKeepsAccess for the sender and channel rows of the statement below. */
const SENDER_KEEPS_ACCESS = participantKeepsAccess(accessSql.logic, {
  isContextChannel: accessSql.isContextChannel({
    contextoTipo: sql`ch.contexto_tipo`,
    contextoId: sql`ch.contexto_id`,
  }),
  inContext: accessSql.inContext(sql`r.remetente_id`, {
    contextoTipo: sql`ch.contexto_tipo`,
    contextoId: sql`ch.contexto_id`,
  }),
  isModerator: sql`r.sender_staff`,
});

/** The send hot path's statement (see insertWithEvents), built once and run prepared. */
const INSERT_WITH_EVENTS = buildPreparedSql(
  sql`
  with accepted as (
    select r.*, row_number() over (partition by r.channel_id order by r.ord) as idx
    from jsonb_to_recordset(${sql.placeholder('rows')}::jsonb) as r(ord int, channel_id uuid, id uuid,
      remetente_id uuid, sender_staff boolean, tipo text, conteudo text, conteudo_cifrado text,
      alg text, key_version int, reply_to_id uuid, client_id text, created_at timestamptz,
      event_id uuid, payload jsonb, hidden_at timestamptz, is_spam boolean)
    -- One index probe per message, whatever the table statistics say (LIMIT keeps the planner
    -- from turning these lookups into a scan of the whole table; a batch has few rows).
    cross join lateral (
      select ch.contexto_tipo, ch.contexto_id from ${chatChannels} ch
      where ch.id = r.channel_id and ch.deleted_at is null limit 1
    ) ch
    cross join lateral (
      select 1 from ${chatParticipants} p
      where p.channel_id = r.channel_id and p.user_id = r.remetente_id and p.removed_at is null limit 1
    ) p
    -- The join on p keeps senders with an active participant row (context members without one
    -- take the full check and join first); for them, the rest of channels.access's member rule:
    where ${SENDER_KEEPS_ACCESS}
  ), counts as (
    select channel_id as id, count(*)::int as n from accepted group by channel_id
  ), next as (
    -- The channels' next seqs, locked and taken in id order by one index probe each
    -- (chat_take_seqs, migration 0001): inline, this join's plan hinged on table statistics.
    select t.channel_id as id, t.last_seq, c.n from counts c
    join chat_take_seqs(
      (select array_agg(id order by id) from counts), (select array_agg(n order by id) from counts)
    ) t on t.channel_id = c.id
  ), batch as (
    select a.*, next.last_seq - next.n + a.idx as seq from accepted a join next on next.id = a.channel_id
  ), inserted as (
    insert into ${chatMessages} (id, channel_id, remetente_id, tipo, conteudo, conteudo_cifrado, alg,
      key_version, reply_to_id, client_id, seq, created_at, updated_at, hidden_at, is_spam)
    select id, channel_id, remetente_id, tipo, conteudo, conteudo_cifrado, alg, key_version,
      reply_to_id, client_id, seq, created_at, created_at, hidden_at, coalesce(is_spam, false)
    from batch
    returning id, seq
  ), events as (
    insert into ${chatEvents} (id, channel_id, seq, type, payload, created_at, updated_at)
    select event_id, channel_id, seq, 'chat.message', jsonb_set(payload, '{seq}', to_jsonb(seq)),
      created_at, created_at
    from batch
    returning seq
  )
  select id, seq, (select count(*) from events) as logged from inserted`,
);

export function createMessagesRepository({ db }: { db: Executor }) {
  const selectWithSender = (tx: Executor) =>
    tx
      .select({
        message: chatMessages,
        username: users.username,
        replyTo: replyParentColumns(replyParent, replySender),
      })
      .from(chatMessages)
      .leftJoin(users, eq(users.id, chatMessages.remetenteId))
      .leftJoin(replyParent, eq(replyParent.id, chatMessages.replyToId))
      .leftJoin(replySender, eq(replySender.id, replyParent.remetenteId));

  return {
    /**
     * The send hot path in ONE statement, for messages of one or several channels. It keeps only
     * the messages whose sender may post there right now (an active participant; for context
     * channels also an active member of the context, unless staff), takes each channel's next
     * seqs (row locks, in id order), inserts the messages (in the order given within each channel)
     * and their `chat.message` events. Run on its own (autocommit), the locks are held only inside
     * PostgreSQL, never across a round trip to this process, and the whole batch shares one WAL
     * flush. A repeated (channel, sender, client_id) fails the whole statement with a unique
     * violation, so no seq is consumed (no gap). Answers each item's seq, or undefined when it
     * was not stored: the channel is gone or deleted, or the sender may not post there.
     */
    async insertWithEvents(items: MessageWrite[], tx: Executor = db): Promise<Array<number | undefined>> {
      const rows = items.map(({ message: m, senderIsStaff, eventId, payload }, ord) => ({
        ord,
        channel_id: m.channelId,
        id: m.id,
        remetente_id: m.remetenteId,
        sender_staff: senderIsStaff,
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
        // Only a spam message carries these (hidden pending review): ordinary rows stay as small.
        ...(m.isSpam ? { hidden_at: m.hiddenAt?.toISOString() ?? null, is_spam: true } : {}),
      }));
      const stored = new Map(
        (
          await executePrepared<{ id: string; seq: string | number }>(
            tx,
            'messages_insert_with_events',
            INSERT_WITH_EVENTS,
            {
              rows: JSON.stringify(rows),
            },
          )
        ).map((row) => [row.id, Number(row.seq)]),
      );
      return items.map((item) => stored.get(item.message.id));
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
    /**
     * The parent a send names in `reply_to`, if it is a message of this channel: what the send
     * checks and what its preview needs (the text cut here), in the one read the send makes.
     */
    async findReplyParent(
      channelId: string,
      messageId: string,
      tx: Executor = db,
    ): Promise<ReplyParentRow | undefined> {
      const [row] = await tx
        .select(replyParentColumns(chatMessages, users))
        .from(chatMessages)
        .leftJoin(users, eq(users.id, chatMessages.remetenteId))
        .where(and(eq(chatMessages.channelId, channelId), eq(chatMessages.id, messageId)));
      return row;
    },
    /** Reply parents by id, in their current state (a `since` replay's previews). */
    async findReplyParents(ids: string[], tx: Executor = db): Promise<ReplyParentRow[]> {
      if (ids.length === 0) return [];
      return tx
        .select(replyParentColumns(chatMessages, users))
        .from(chatMessages)
        .leftJoin(users, eq(users.id, chatMessages.remetenteId))
        .where(inArray(chatMessages.id, ids));
    },
    /** A message by id, whatever its channel (moderators act on messages across channels). */
    async findById(
      messageId: string,
      tx: Executor = db,
      options: { lock?: boolean } = {},
    ): Promise<MessageWithSender | undefined> {
      const query = selectWithSender(tx).where(eq(chatMessages.id, messageId));
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
    /** The newest visible (not deleted, not hidden) message of each channel: one index probe each. */
    async findLastMessages(channelIds: string[], tx: Executor = db): Promise<MessageWithSender[]> {
      if (channelIds.length === 0) return [];
      const last = tx
        .select({ id: chatMessages.id })
        .from(chatMessages)
        .where(
          and(
            eq(chatMessages.channelId, chatChannels.id),
            isNull(chatMessages.deletedAt),
            isNull(chatMessages.hiddenAt),
          ),
        )
        .orderBy(desc(chatMessages.seq))
        .limit(1)
        .as('last_message');
      const ids = await tx
        .select({ id: last.id })
        .from(chatChannels)
        .innerJoinLateral(last, sql`true`)
        .where(inArray(chatChannels.id, channelIds));
      if (ids.length === 0) return [];
      return selectWithSender(tx).where(
        inArray(
          chatMessages.id,
          ids.map((row) => row.id),
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
