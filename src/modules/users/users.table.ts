import { sql } from 'drizzle-orm';
import { boolean, pgTable, text, uniqueIndex, varchar } from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../platform/db/columns.js';

export const users = pgTable(
  'users',
  {
    id: idColumn(),
    username: varchar('username', { length: 150 }).notNull(),
    email: varchar('email', { length: 254 }).notNull().default(''),
    // Null for users provisioned from platform tokens: they cannot log in with a password here.
    passwordHash: text('password_hash'),
    isStaff: boolean('is_staff').notNull().default(false),
    isActive: boolean('is_active').notNull().default(true),
    externalIssuer: text('external_issuer'),
    externalSubject: text('external_subject'),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('users_username_lower_key').on(sql`lower(${t.username})`),
    uniqueIndex('users_external_identity_key').on(t.externalIssuer, t.externalSubject),
  ],
);
export type UserRow = typeof users.$inferSelect;
