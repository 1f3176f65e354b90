import {
  boolean,
  index,
  integer,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import { chatChannels } from '../channels/channels.table.js';
import { idColumn, timestamps } from '../../platform/db/columns.js';
import { chatMessages } from '../messages/messages.table.js';
import { users } from '../users/users.table.js';

/** What the moderation log records (the wire names of `acao`). */
export const MODERATION_ACTIONS = [
  'flag',
  'hidden',
  'approved',
  'removed',
  'spam',
  'edit_restored',
  'edit',
  'retencao',
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

/**
 * The moderation audit log. It outlives what it describes: a message removed for good (retention)
 * leaves its rows with `message_id` null and the content in `previous_content`.
 */
export const chatModerationLogs = pgTable(
  'chat_moderation_logs',
  {
    id: idColumn(),
    messageId: uuid('message_id').references(() => chatMessages.id, { onDelete: 'set null' }),
    channelId: uuid('channel_id').references(() => chatChannels.id, { onDelete: 'set null' }),
    action: varchar('action', { length: 16 }).$type<ModerationAction>().notNull(),
    /** The actor (a flagger, a moderator, the sender whose message tripped a spam rule). */
    moderatorId: uuid('moderator_id').references(() => users.id, { onDelete: 'set null' }),
    previousContent: text('previous_content'),
    reason: text('reason'),
    ...timestamps(),
  },
  (t) => [
    index('chat_moderation_logs_message_idx').on(t.messageId),
    index('chat_moderation_logs_created_idx').on(t.createdAt, t.id),
    index('chat_moderation_logs_channel_created_idx').on(t.channelId, t.createdAt, t.id),
  ],
);

export const REVIEW_STATUSES = ['pendente', 'resolvido'] as const;
export type ReviewStatus = (typeof REVIEW_STATUSES)[number];
export const REVIEW_DECISIONS = ['approved', 'removed'] as const;
export type ReviewDecision = (typeof REVIEW_DECISIONS)[number];

/**
 * The moderator's queue: one row per message that needs (or had) a decision, opened by its first
 * flag or by a spam rule, resolved by approve or remove. A new flag after a decision reopens it.
 */
export const chatModerationQueue = pgTable(
  'chat_moderation_queue',
  {
    messageId: uuid('message_id')
      .primaryKey()
      .references(() => chatMessages.id, { onDelete: 'cascade' }),
    channelId: uuid('channel_id')
      .notNull()
      .references(() => chatChannels.id, { onDelete: 'cascade' }),
    status: varchar('status', { length: 16 }).$type<ReviewStatus>().notNull().default('pendente'),
    /** Unresolved flags (distinct flaggers since the last decision). */
    flagCount: integer('flag_count').notNull().default(0),
    isSpam: boolean('is_spam').notNull().default(false),
    /** The latest flag or spam detection: "newest first" orders by it. */
    lastActivityAt: timestamp('last_activity_at', { withTimezone: true }).notNull().defaultNow(),
    decision: varchar('decision', { length: 16 }).$type<ReviewDecision>(),
    resolvedBy: uuid('resolved_by').references(() => users.id, { onDelete: 'set null' }),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    ...timestamps(),
  },
  (t) => [
    index('chat_moderation_queue_flags_idx').on(t.status, t.flagCount, t.messageId),
    index('chat_moderation_queue_recent_idx').on(t.status, t.lastActivityAt, t.messageId),
  ],
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
    /** Set when a moderator decided on the message; resolved flags no longer count. */
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    ...timestamps(),
  },
  (t) => [uniqueIndex('chat_message_flags_message_user_key').on(t.messageId, t.userId)],
);
