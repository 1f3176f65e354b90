// Every table, for drizzle-kit and for the typed query builder.
export * from '../../modules/users/users.table.js';
export * from '../../modules/users/moderators.table.js';
export * from '../../modules/auth/auth.table.js';
export * from '../../modules/contexts/contexts.table.js';
export * from '../../modules/channels/channels.table.js';
export * from '../../modules/channels/participants.table.js';
export * from '../../modules/messages/messages.table.js';
export * from '../../modules/moderation/moderation.table.js';
export * from '../../modules/reactions/reactions.table.js';
export * from '../../modules/events/events.table.js';
export * from '../../modules/attachments/attachments.table.js';
