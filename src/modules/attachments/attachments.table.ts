import { bigint, check, index, pgTable, text, uniqueIndex, uuid, varchar } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import { deletedAtColumn, idColumn, timestamps } from '../../platform/db/columns.js';
import { chatChannels } from '../channels/channels.table.js';
import { chatMessages } from '../messages/messages.table.js';
import { users } from '../users/users.table.js';

export const ATTACHMENT_TYPES = ['image', 'video', 'file'] as const;
export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];
export const SCAN_STATUSES = ['clean', 'infected', 'skipped', 'pending'] as const;
export type ScanStatus = (typeof SCAN_STATUSES)[number];

export const chatAttachments = pgTable(
  'chat_attachments',
  {
    id: idColumn(),
    // Set null: an upload outlives its uploader's account like the messages that carry it do.
    uploaderId: uuid('uploader_id').references(() => users.id, { onDelete: 'set null' }),
    storageKey: text('storage_key').notNull(),
    nome: varchar('nome', { length: 255 }).notNull(),
    mimeType: varchar('mime_type', { length: 127 }).notNull(),
    tipo: varchar('tipo', { length: 16 }).$type<AttachmentType>().notNull(),
    tamanho: bigint('tamanho', { mode: 'number' }).notNull(),
    scanStatus: varchar('scan_status', { length: 16 }).$type<ScanStatus>().notNull().default('pending'),
    scanSignature: text('scan_signature'),
    // Filled when a message carries it (later work); set null so deleting a message keeps the row
    // for the cleanup job that removes the bytes.
    messageId: uuid('message_id').references(() => chatMessages.id, { onDelete: 'set null' }),
    channelId: uuid('channel_id').references(() => chatChannels.id, { onDelete: 'set null' }),
    thumbKey: text('thumb_key'),
    ...timestamps(),
    deletedAt: deletedAtColumn(),
  },
  (t) => [
    uniqueIndex('chat_attachments_storage_key').on(t.storageKey),
    index('chat_attachments_uploader_idx').on(t.uploaderId),
    index('chat_attachments_message_idx').on(t.messageId),
    index('chat_attachments_channel_idx').on(t.channelId),
    check('chat_attachments_tipo_check', sql`${t.tipo} in ('image', 'video', 'file')`),
    check(
      'chat_attachments_scan_status_check',
      sql`${t.scanStatus} in ('clean', 'infected', 'skipped', 'pending')`,
    ),
    check('chat_attachments_tamanho_check', sql`${t.tamanho} >= 0`),
  ],
);
export type AttachmentRow = typeof chatAttachments.$inferSelect;
