import { index, pgTable, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../platform/db/columns.js';
import { chatMessages } from '../messages/messages.table.js';
import { users } from '../users/users.table.js';

export const chatMessageReactions = pgTable(
  'chat_message_reactions',
  {
    id: idColumn(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => chatMessages.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    emoji: varchar('emoji', { length: 64 }).notNull(),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('chat_message_reactions_key').on(t.messageId, t.userId, t.emoji),
    index('chat_message_reactions_message_idx').on(t.messageId),
  ],
);
