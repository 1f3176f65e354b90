import { pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.table.js';

/**
 * Users that staff granted the chat moderator role (staff are moderators without a row). It lives
 * with users because authentication reads it for every request and socket: `is_moderator`.
 */
export const chatModerators = pgTable('chat_moderators', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  grantedBy: uuid('granted_by').references(() => users.id, { onDelete: 'set null' }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
