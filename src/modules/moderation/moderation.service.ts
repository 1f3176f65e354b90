import type { RateLimiter } from '../../platform/rate-limit/rate-limit.js';
import { createRateLimitedError } from '../../shared/errors.js';
import type { UnitOfWork } from '../../shared/events.js';
import type { AuthUser } from '../auth/auth.service.js';
import { isModerator, type ChannelAccess } from '../channels/channels.access.js';
import { createMessageNotFoundError } from '../messages/messages.errors.js';
import type { MessageFinder } from '../messages/messages.service.js';
import type { MessagesRepository } from '../messages/messages.repository.js';
import {
  createAlreadyFlaggedError,
  createHistoryForbiddenError,
  createNotModeratorError,
  createOwnMessageFlagError,
} from './moderation.errors.js';
import './moderation.events.js';
import type { ModerationRepository } from './moderation.repository.js';

export function createModerationService(deps: {
  uow: UnitOfWork;
  access: Pick<ChannelAccess, 'requireReadable'>;
  messages: MessageFinder;
  messagesRepository: Pick<MessagesRepository, 'update' | 'findById'>;
  moderationRepository: Pick<
    ModerationRepository,
    'insertFlag' | 'countFlaggers' | 'insertLog' | 'openReview' | 'resolveReview' | 'listEdits'
  >;
  /** CHAT_FLAG_RATE_LIMIT, per user (`flag:<user>`). */
  flagRateLimiter: RateLimiter;
  settings: { hideThreshold: number };
}) {
  const { uow, access, messages, moderationRepository, settings } = deps;

  return {
    /**
     * Flags a message the caller can read (not their own, once per user). At FLAG_HIDE_THRESHOLD
     * distinct flaggers it is hidden: from that commit on, non-moderators no longer get its content
     * anywhere, and the channel gets `chat.moderation` `hidden`. The message row lock serializes
     * the flags of one message, so concurrent flags count once each and hide it exactly once.
     */
    async flagMessage(user: AuthUser, channelId: string, messageId: string, motivo: string | undefined) {
      // The order of docs/permissions.md: the channel (404), the message in it (404), then the rules.
      const standing = await access.requireReadable(user, channelId);
      const decision = await deps.flagRateLimiter.consume(`flag:${user.id}`);
      if (!decision.allowed) throw createRateLimitedError(decision.retryAfterMs);
      return uow.run(async (tx, events) => {
        const row = await messages.findVisible(standing, messageId, tx, true);
        if (row.message.remetenteId === user.id) throw createOwnMessageFlagError();
        const isNew = await moderationRepository.insertFlag(
          { messageId: row.message.id, userId: user.id, motivo: motivo ?? null },
          tx,
        );
        if (!isNew) throw createAlreadyFlaggedError();
        const channelId = standing.channel.id;
        await moderationRepository.insertLog(
          {
            messageId: row.message.id,
            channelId,
            action: 'flag',
            moderatorId: user.id,
            reason: motivo ?? null,
          },
          tx,
        );
        const flags = await moderationRepository.countFlaggers(row.message.id, tx);
        await moderationRepository.openReview({ messageId: row.message.id, channelId, flagCount: flags }, tx);
        if (flags >= settings.hideThreshold && row.message.hiddenAt === null) {
          await deps.messagesRepository.update(row.message.id, { hiddenAt: new Date() }, tx);
          await moderationRepository.insertLog(
            { messageId: row.message.id, channelId, action: 'hidden', moderatorId: user.id },
            tx,
          );
          await events.record({
            channelId: standing.channel.id,
            type: 'chat.moderation',
            payload: { action: 'hidden', mensagem_id: row.message.id },
          });
        }
        return { flags };
      });
    },

    /**
     * A message's earlier versions (what each edit replaced), oldest first: for its sender, the
     * channel's admins and moderators. The message must be one of the channel's that the caller
     * can see (404 otherwise, before the role check).
     */
    async listHistory(user: AuthUser, channelId: string, messageId: string) {
      const standing = await access.requireReadable(user, channelId);
      const row = await messages.findVisible(standing, messageId);
      const isSender = row.message.remetenteId === user.id && standing.isMember;
      if (!isSender && !standing.isAdmin) throw createHistoryForbiddenError();
      const edits = await moderationRepository.listEdits(row.message.id);
      return {
        results: edits.map((edit) => ({
          id: edit.id,
          conteudo: edit.previousContent,
          editor: edit.editorId ? { id: edit.editorId, username: edit.editorUsername ?? '' } : null,
          created_at: edit.createdAt.toISOString(),
        })),
      };
    },

    /**
     * A moderator's decision on a message, in any channel: `approve` makes it visible again and
     * clears its flags; `remove` deletes it (participants then get 404). Each is logged and
     * broadcast to the channel as `chat.moderation`. A deleted or absent message answers 404.
     */
    async decide(user: AuthUser, messageId: string, decision: 'approve' | 'remove', motivo?: string) {
      if (!isModerator(user)) throw createNotModeratorError();
      return uow.run(async (tx, events) => {
        const row = await deps.messagesRepository.findById(messageId, tx, { lock: true });
        if (!row || row.message.deletedAt) throw createMessageNotFoundError();
        const { message } = row;
        const action = decision === 'approve' ? 'approved' : 'removed';
        if (decision === 'approve') {
          await deps.messagesRepository.update(message.id, { hiddenAt: null, isSpam: false }, tx);
        } else {
          await deps.messagesRepository.update(message.id, { deletedAt: new Date() }, tx);
        }
        await moderationRepository.resolveReview(
          { messageId: message.id, decision: action, moderatorId: user.id },
          tx,
        );
        await moderationRepository.insertLog(
          {
            messageId: message.id,
            channelId: message.channelId,
            action,
            moderatorId: user.id,
            previousContent: message.conteudo,
            reason: motivo ?? null,
          },
          tx,
        );
        await events.record({
          channelId: message.channelId,
          type: 'chat.moderation',
          payload: { action, mensagem_id: message.id },
        });
        return { id: message.id, channel: message.channelId, action } as const;
      });
    },
  };
}
export type ModerationService = ReturnType<typeof createModerationService>;
