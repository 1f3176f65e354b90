import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, integer, pgTable, text, uuid, varchar } from 'drizzle-orm/pg-core';
import { deletedAtColumn, idColumn, timestamps } from '../../platform/db/columns.js';
import { users } from '../users/users.table.js';

export const CHANNEL_CONTEXT_TYPES = ['privado', 'nucleo', 'evento', 'organizacao'] as const;
export type ChannelContextType = (typeof CHANNEL_CONTEXT_TYPES)[number];

export const chatChannels = pgTable(
  'chat_channels',
  {
    id: idColumn(),
    contextoTipo: varchar('contexto_tipo', { length: 16 }).$type<ChannelContextType>().notNull(),
    contextoId: varchar('contexto_id', { length: 64 }),
    titulo: varchar('titulo', { length: 200 }).notNull(),
    descricao: text('descricao').notNull().default(''),
    e2eeHabilitado: boolean('e2ee_habilitado').notNull().default(false),
    retencaoDias: integer('retencao_dias'),
    categoria: varchar('categoria', { length: 64 }),
    // Last sequence number handed out in this channel's event log; bumped under the row lock.
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull().default(0),
    createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
    ...timestamps(),
    deletedAt: deletedAtColumn(),
  },
  (t) => [
    index('chat_channels_context_idx').on(t.contextoTipo, t.contextoId),
    check(
      'chat_channels_contexto_tipo_check',
      sql`${t.contextoTipo} in ('privado', 'nucleo', 'evento', 'organizacao')`,
    ),
  ],
);
export type ChannelRow = typeof chatChannels.$inferSelect;
