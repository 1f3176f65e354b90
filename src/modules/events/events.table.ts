import { bigint, index, jsonb, pgTable, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../platform/db/columns.js';
import { chatChannels } from '../channels/channels.table.js';

// The per-channel event log, written in the same transaction as the change it describes.
export const chatEvents = pgTable(
  'chat_events',
  {
    id: idColumn(),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => chatChannels.id, { onDelete: 'cascade' }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    type: varchar('type', { length: 64 }).notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('chat_events_channel_seq_key').on(t.channelId, t.seq),
    index('chat_events_created_idx').on(t.createdAt),
  ],
);
