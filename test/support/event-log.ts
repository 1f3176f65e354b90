import { asc, eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { chatChannels } from '../../src/modules/channels/channels.table.js';
import { chatEvents } from '../../src/modules/events/events.table.js';
import type { Database } from '../../src/platform/db/client.js';

/** Asserts the channel's event log runs 1..N with no gap and last_seq is N; returns the events. */
export async function expectEventLogIntact(db: Database, channelId: string) {
  const events = await db
    .select({ seq: chatEvents.seq, type: chatEvents.type, payload: chatEvents.payload })
    .from(chatEvents)
    .where(eq(chatEvents.channelId, channelId))
    .orderBy(asc(chatEvents.seq));
  const [row] = await db
    .select({ lastSeq: chatChannels.lastSeq })
    .from(chatChannels)
    .where(eq(chatChannels.id, channelId));
  expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
  expect(row!.lastSeq).toBe(events.length);
  return events;
}
