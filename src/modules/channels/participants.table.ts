import { boolean, index, pgTable, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../platform/db/columns.js';
import { chatChannels } from './channels.table.js';
import { users } from '../users/users.table.js';

export const chatParticipants = pgTable(
  'chat_participants',
  {
    id: idColumn(),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => chatChannels.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    isOwner: boolean('is_owner').notNull().default(false),
    isAdmin: boolean('is_admin').notNull().default(false),
    // Set when an admin removes the user: keeps context members from silently re-joining.
    removedAt: timestamp('removed_at', { withTimezone: true }),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('chat_participants_channel_user_key').on(t.channelId, t.userId),
    index('chat_participants_user_idx').on(t.userId),
  ],
);
export type ParticipantRow = typeof chatParticipants.$inferSelect;
