import {
  bigint,
  boolean,
  check,
  index,
  integer,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
  type AnyPgColumn,
} from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { deletedAtColumn, idColumn, timestamps } from '../../platform/db/columns.js';
import { chatChannels } from '../channels/channels.table.js';
import { users } from '../users/users.table.js';

export const MESSAGE_TYPES = ['text', 'image', 'video', 'file'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const chatMessages = pgTable(
  'chat_messages',
  {
    id: idColumn(),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => chatChannels.id, { onDelete: 'cascade' }),
    remetenteId: uuid('remetente_id').references(() => users.id, { onDelete: 'set null' }),
    tipo: varchar('tipo', { length: 16 }).$type<MessageType>().notNull(),
    conteudo: text('conteudo').notNull().default(''),
    conteudoCifrado: text('conteudo_cifrado'),
    alg: varchar('alg', { length: 32 }),
    keyVersion: integer('key_version'),
    replyToId: uuid('reply_to_id').references((): AnyPgColumn => chatMessages.id, { onDelete: 'set null' }),
    pinnedAt: timestamp('pinned_at', { withTimezone: true }),
    hiddenAt: timestamp('hidden_at', { withTimezone: true }),
    isSpam: boolean('is_spam').notNull().default(false),
    clientId: varchar('client_id', { length: 64 }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    editedAt: timestamp('edited_at', { withTimezone: true }),
    ...timestamps(),
    deletedAt: deletedAtColumn(),
  },
  (t) => [
    uniqueIndex('chat_messages_channel_seq_key').on(t.channelId, t.seq),
    uniqueIndex('chat_messages_client_id_key').on(t.channelId, t.remetenteId, t.clientId),
    index('chat_messages_channel_created_idx').on(t.channelId, t.createdAt, t.id),
    check('chat_messages_tipo_check', sql`${t.tipo} in ('text', 'image', 'video', 'file')`),
  ],
);
export type MessageRow = typeof chatMessages.$inferSelect;
