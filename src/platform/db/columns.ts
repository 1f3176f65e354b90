import { timestamp, uuid } from 'drizzle-orm/pg-core';

// Shared column helpers: every table has an app-made UUID id and created/updated timestamps.
export const idColumn = () => uuid('id').primaryKey();
export const timestamps = () => ({
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true })
    .notNull()
    .defaultNow()
    .$onUpdate(() => new Date()),
});
export const deletedAtColumn = () => timestamp('deleted_at', { withTimezone: true });
