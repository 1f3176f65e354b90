import { and, asc, eq, gt, lt, min, sql } from 'drizzle-orm';
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
    /** Deletes events older than the retention window; returns how many. */
    async deleteOlderThan(cutoff: Date, tx: Executor = db): Promise<number> {
      const rows = await tx
        .delete(chatEvents)
        .where(lt(chatEvents.createdAt, cutoff))
        .returning({ id: chatEvents.id });
      return rows.length;
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
