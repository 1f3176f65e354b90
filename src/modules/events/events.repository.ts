import { and, asc, eq, gt, isNull, lt, lte, max, min, sql } from 'drizzle-orm';
import type { Executor } from '../../platform/db/client.js';
import type { ChannelEvent } from '../../shared/events.js';
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
      values: {
        channelId: string;
        seq: number;
        type: ChannelEvent['type'];
        payload: ChannelEvent['payload'];
      },
    ) {
      const [row] = await tx
        .insert(chatEvents)
        .values({ id: newId(), ...values, payload: values.payload as Record<string, unknown> })
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
     * Per channel with events older than `cutoff`: its lowest seq and the newest such event's seq.
     * Retention deletes up to that seq, not by time alone: a send's `created_at` is taken before
     * its seq, so times are not quite in seq order, and deleting by time could drop seq n+1 and
     * keep n, a hole that `firstSeq` cannot see.
     */
    async findPrunable(cutoff: Date, tx: Executor = db) {
      return tx
        .select({ channelId: chatEvents.channelId, first: min(chatEvents.seq), upTo: max(chatEvents.seq) })
        .from(chatEvents)
        .where(lt(chatEvents.createdAt, cutoff))
        .groupBy(chatEvents.channelId);
    },
    /** Deletes the channel's events with seq ≤ `upTo` (an index range); returns how many. */
    async deleteUpTo(channelId: string, upTo: number, tx: Executor = db): Promise<number> {
      const rows = await tx
        .delete(chatEvents)
        .where(and(eq(chatEvents.channelId, channelId), lte(chatEvents.seq, upTo)))
        .returning({ seq: chatEvents.seq });
      return rows.length;
    },
    /** The channel's last seq; undefined when it does not exist or was deleted. */
    async lastSeq(channelId: string, tx: Executor = db): Promise<number | undefined> {
      const [row] = await tx
        .select({ lastSeq: chatChannels.lastSeq })
        .from(chatChannels)
        .where(and(eq(chatChannels.id, channelId), isNull(chatChannels.deletedAt)));
      return row?.lastSeq;
    },
    async listAfter(channelId: string, afterSeq: number, limit: number, tx: Executor = db) {
      const rows = await tx
        .select()
        .from(chatEvents)
        .where(and(eq(chatEvents.channelId, channelId), gt(chatEvents.seq, afterSeq)))
        .orderBy(asc(chatEvents.seq))
        .limit(limit);
      return rows.map((row) => ({ id: row.id, event: toLoggedEvent(row) }));
    },
  };
}
export type EventsRepository = ReturnType<typeof createEventsRepository>;

/** A logged row in the shape it was published. The log only holds what `toChannelEvent` made. */
function toLoggedEvent(row: typeof chatEvents.$inferSelect): ChannelEvent {
  return {
    type: row.type,
    seq: row.seq,
    channel: row.channelId,
    created_at: row.createdAt.toISOString(),
    payload: row.payload,
  } as ChannelEvent;
}
