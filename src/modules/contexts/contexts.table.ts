import { sql } from 'drizzle-orm';
import { check, index, pgTable, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../platform/db/columns.js';
import { users } from '../users/users.table.js';

export const CONTEXT_TYPES = ['nucleo', 'evento', 'organizacao'] as const;
export type ContextType = (typeof CONTEXT_TYPES)[number];
export const MEMBERSHIP_STATUSES = ['ativo', 'inativo'] as const;
export type MembershipStatus = (typeof MEMBERSHIP_STATUSES)[number];

// Mirror of the platform's memberships (núcleos, eventos, organizações), kept by staff through the API.
export const contextMemberships = pgTable(
  'context_memberships',
  {
    id: idColumn(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    contextoTipo: varchar('contexto_tipo', { length: 16 }).$type<ContextType>().notNull(),
    contextoId: varchar('contexto_id', { length: 64 }).notNull(),
    status: varchar('status', { length: 16 }).$type<MembershipStatus>().notNull().default('ativo'),
    ...timestamps(),
  },
  (t) => [
    uniqueIndex('context_memberships_user_context_key').on(t.userId, t.contextoTipo, t.contextoId),
    index('context_memberships_context_idx').on(t.contextoTipo, t.contextoId),
    check('context_memberships_tipo_check', sql`${t.contextoTipo} in ('nucleo', 'evento', 'organizacao')`),
    check('context_memberships_status_check', sql`${t.status} in ('ativo', 'inativo')`),
  ],
);
