import { index, pgTable, text, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { idColumn, timestamps } from '../../platform/db/columns.js';
import { chatMessages } from '../messages/messages.table.js';
import { users } from '../users/users.table.js';

export const MODERATION_ACTIONS = [
  'approve',
  'remove',
  'edit',
  'create_item',
  'retencao',
  'spam',
  'flag',
  'hidden',
] as const;
export type ModerationAction = (typeof MODERATION_ACTIONS)[number];

export const chatMessageEdits = pgTable(
  'chat_message_edits',
  {
    id: idColumn(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => chatMessages.id, { onDelete: 'cascade' }),
    previousContent: text('previous_content').notNull(),
    editorId: uuid('editor_id').references(() => users.id, { onDelete: 'set null' }),
    ...timestamps(),
  },
  (t) => [index('chat_message_edits_message_idx').on(t.messageId)],
);

export const chatModerationLogs = pgTable(
  'chat_moderation_logs',
  {
    id: idColumn(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => chatMessages.id, { onDelete: 'cascade' }),
    action: varchar('action', { length: 16 }).$type<ModerationAction>().notNull(),
    moderatorId: uuid('moderator_id').references(() => users.id, { onDelete: 'set null' }),
    previousContent: text('previous_content'),
    ...timestamps(),
  },
  (t) => [index('chat_moderation_logs_message_idx').on(t.messageId)],
);

/** One user's flag on one message (a user flags a message once). */
export const chatMessageFlags = pgTable(
  'chat_message_flags',
  {
    id: idColumn(),
    messageId: uuid('message_id')
      .notNull()
      .references(() => chatMessages.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    motivo: text('motivo'),
    ...timestamps(),
  },
  (t) => [uniqueIndex('chat_message_flags_message_user_key').on(t.messageId, t.userId)],
);
