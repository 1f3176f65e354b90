import { and, asc, eq, gt, isNull, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { contextMemberships } from '../contexts/contexts.table.js';
import { chatParticipants } from './participants.table.js';
import { isChannelMember, isModerator, type Logic, type ModeratorFacts } from './channels.access.js';
import { chatChannels, type ChannelRow } from './channels.table.js';

const notDeleted = isNull(chatChannels.deletedAt);

/**
 * channels.access's rules rendered in SQL, for the statements that decide access in the database
 * (the channel list here, the send path in messages.repository): same functions, other logic.
 */
export const accessSql = {
  logic: {
    and: (...terms) => sql`(${sql.join(terms, sql` and `)})`,
    or: (...terms) => sql`(${sql.join(terms, sql` or `)})`,
    not: (term) => sql`(not ${term})`,
  } satisfies Logic<SQL>,
  /** As isContextChannel in channels.access. */
  isContextChannel(channel: { contextoTipo: SQLWrapper; contextoId: SQLWrapper }): SQL {
    return sql`(${channel.contextoTipo} <> 'privado' and ${channel.contextoId} is not null)`;
  },
  /** The user is an active member of the channel's context (false for private channels). */
  inContext(userId: SQLWrapper, channel: { contextoTipo: SQLWrapper; contextoId: SQLWrapper }): SQL {
    return sql`exists (
      select 1 from ${contextMemberships}
      where ${contextMemberships.userId} = ${userId}
        and ${contextMemberships.contextoTipo} = ${channel.contextoTipo}
        and ${contextMemberships.contextoId} = ${channel.contextoId}
        and ${contextMemberships.status} = 'ativo')`;
  },
};

export function createChannelsRepository({ db }: { db: Executor }) {
  return {
    async insert(values: typeof chatChannels.$inferInsert, tx: Executor = db): Promise<ChannelRow> {
      const [row] = await tx.insert(chatChannels).values(values).returning();
      return row!;
    },
    async findById(id: string, tx: Executor = db): Promise<ChannelRow | undefined> {
      const [row] = await tx
        .select()
        .from(chatChannels)
        .where(and(eq(chatChannels.id, id), notDeleted));
      return row;
    },
    /**
     * One query for everything access needs, for many (channel, user) pairs at once: the channel,
     * the user's participant row (active or removed) and whether the user is an active member of
     * the channel's context. Answers one entry per pair, in order (undefined: no such channel).
     */
    async findManyWithMembership(pairs: Array<{ channelId: string; userId: string }>, tx: Executor = db) {
      const keys = JSON.stringify(pairs.map((pair, ord) => ({ ord, c: pair.channelId, u: pair.userId })));
      const rows = await tx
        .select({
          ord: sql<number>`k.ord`,
          channel: chatChannels,
          participant: chatParticipants,
          inContext: sql<boolean>`${accessSql.inContext(sql`k.u`, chatChannels)}`,
        })
        .from(sql`jsonb_to_recordset(${keys}::jsonb) as k(ord int, c uuid, u uuid)`)
        .innerJoin(chatChannels, and(sql`${chatChannels.id} = k.c`, notDeleted))
        .leftJoin(
          chatParticipants,
          and(eq(chatParticipants.channelId, chatChannels.id), sql`${chatParticipants.userId} = k.u`),
        );
      const found: Array<Omit<(typeof rows)[number], 'ord'> | undefined> = pairs.map(() => undefined);
      for (const { ord, ...row } of rows) found[ord] = row;
      return found;
    },
    async update(
      id: string,
      values: Partial<Pick<ChannelRow, 'titulo' | 'descricao' | 'categoria' | 'deletedAt'>>,
      tx: Executor = db,
    ): Promise<ChannelRow | undefined> {
      const [row] = await tx
        .update(chatChannels)
        .set(values)
        .where(and(eq(chatChannels.id, id), notDeleted))
        .returning();
      return row;
    },
    /**
     * Channels the user may see in their list: those they are a member of (channels.access's
     * isChannelMember; not every channel a moderator can read). Keyset-paginated by id.
     */
    async listVisibleTo(
      user: { id: string } & ModeratorFacts,
      options: { categoria?: string | undefined; afterId?: string | undefined; limit: number },
      tx: Executor = db,
    ): Promise<ChannelRow[]> {
      // true: an active participant row, false: a removed one, null: none.
      const participantRow = sql`(
        select ${chatParticipants.removedAt} is null from ${chatParticipants}
        where ${chatParticipants.channelId} = ${chatChannels.id} and ${chatParticipants.userId} = ${user.id})`;
      const isMember = isChannelMember(accessSql.logic, {
        isContextChannel: accessSql.isContextChannel(chatChannels),
        hasActiveRow: sql`(${participantRow} is true)`,
        hasNoRow: sql`(${participantRow} is null)`,
        inContext: accessSql.inContext(sql`${user.id}`, chatChannels),
        isModerator: isModerator(user) ? sql`true` : sql`false`,
      });
      return tx
        .select()
        .from(chatChannels)
        .where(
          and(
            notDeleted,
            options.categoria !== undefined ? eq(chatChannels.categoria, options.categoria) : undefined,
            options.afterId ? gt(chatChannels.id, options.afterId) : undefined,
            isMember,
          ),
        )
        .orderBy(asc(chatChannels.id))
        .limit(options.limit + 1);
    },
  };
}
export type ChannelsRepository = ReturnType<typeof createChannelsRepository>;
