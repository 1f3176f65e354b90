import { index, pgTable, timestamp, uuid, varchar } from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../platform/db/columns.js';
import { users } from '../users/users.table.js';

// Server-side sessions; only a SHA-256 of the cookie value is stored.
export const sessions = pgTable(
  'sessions',
  {
    id: idColumn(),
    tokenHash: varchar('token_hash', { length: 64 }).notNull().unique(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    ...timestamps(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);
