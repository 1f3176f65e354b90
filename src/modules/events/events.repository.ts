import { and, asc, eq, gt, min, sql } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import { newId } from '../../shared/ids.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatEvents } from './events.table.js';

export function createEventsRepository({ db }: { db: Executor }) {
  return {
    /**
     * Hands out the channel's next sequence number. The UPDATE takes the channel row lock, so
     * concurrent writers to one channel serialize here and commit in seq order; a rollback gives
     * the number back, so the log has no gaps.
     */
    async allocateSeq(tx: Executor, channelId: string): Promise<number> {
      const [row] = await tx
        .update(chatChannels)
        .set({ lastSeq: sql`${chatChannels.lastSeq} + 1` })
        .where(eq(chatChannels.id, channelId))
        .returning({ seq: chatChannels.lastSeq });
      if (!row) throw new Error(`channel ${channelId} vanished while allocating a sequence number`);
      return row.seq;
    },
    async insert(
      tx: Executor,
      values: { channelId: string; seq: number; type: string; payload: Record<string, unknown> },
    ) {
      const [row] = await tx
        .insert(chatEvents)
        .values({ id: newId(), ...values })
        .returning({ createdAt: chatEvents.createdAt });
      return row!.createdAt;
    },
    /** The oldest seq still in the log for the channel (older ones were pruned by retention). */
    async firstSeq(channelId: string, tx: Executor = db): Promise<number | undefined> {
      const [row] = await tx
        .select({ first: min(chatEvents.seq) })
        .from(chatEvents)
        .where(eq(chatEvents.channelId, channelId));
      return row?.first ?? undefined;
    },
    /**
     * Deletes, per channel, every event up to its newest one older than `cutoff`, at most `limit`
     * rows, lowest seqs first; returns how many. By seq, not by time alone: a send's `created_at`
     * is taken before its seq, so times are not quite in seq order, and deleting by time could
     * drop seq n+1 and keep n, a hole that `firstSeq` cannot see. What stays is always a gap-free
     * run up to the channel's last seq.
     */
    async deleteOlderThan(cutoff: Date, limit: number, tx: Executor = db): Promise<number> {
      const result = (await tx.execute(sql`
        with old as (
          select ${chatEvents.channelId} as channel_id, max(${chatEvents.seq}) as upto
          from ${chatEvents} where ${chatEvents.createdAt} < ${cutoff} group by ${chatEvents.channelId}
        ), doomed as (
          select e.id from ${chatEvents} e join old on e.channel_id = old.channel_id and e.seq <= old.upto
          order by e.channel_id, e.seq limit ${limit}
        ), deleted as (
          delete from ${chatEvents} where ${chatEvents.id} in (select id from doomed) returning 1
        )
        select count(*)::int as n from deleted`)) as { rows: Array<{ n: number }> };
      return Number(result.rows[0]?.n ?? 0);
    },
    async listAfter(channelId: string, afterSeq: number, limit: number, tx: Executor = db) {
      return tx
        .select()
        .from(chatEvents)
        .where(and(eq(chatEvents.channelId, channelId), gt(chatEvents.seq, afterSeq)))
        .orderBy(asc(chatEvents.seq))
        .limit(limit);
    },
  };
}
export type EventsRepository = ReturnType<typeof createEventsRepository>;
