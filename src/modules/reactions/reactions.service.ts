import type { AuthUser } from '../auth/auth.service.js';
import type { ChannelAccess } from '../channels/channels.access.js';
import { createNotChannelMemberError } from '../channels/channels.errors.js';
import type { UnitOfWork } from '../../shared/events.js';
import type { MessageFinder } from '../messages/messages.service.js';
import { replyVisibility } from '../messages/messages.replies.js';
import { toMessageView } from '../messages/messages.views.js';
import { isValidReaction } from './reactions.emoji.js';
import { createInvalidEmojiError, createTooManyReactionsError } from './reactions.errors.js';
import type { ReactionsRepository } from './reactions.repository.js';

export function createReactionsService(deps: {
  uow: UnitOfWork;
  access: Pick<ChannelAccess, 'requireReadable' | 'joinIfNeeded'>;
  messages: MessageFinder;
  reactionsRepository: ReactionsRepository;
  settings: { names: ReadonlySet<string>; maxDistinct: number };
}) {
  const { uow, access, messages, reactionsRepository, settings } = deps;

  return {
    /** Adds the caller's reaction, or removes it when present; answers the message with counts. */
    async toggleReaction(user: AuthUser, channelId: string, messageId: string, rawEmoji: string) {
      const emoji = rawEmoji.normalize('NFC');
      if (!isValidReaction(emoji, settings.names)) throw createInvalidEmojiError();
      // The order of docs/permissions.md: the channel (404), the message in it (404), then the role (403).
      const standing = await access.requireReadable(user, channelId);
      return uow.run(async (tx, events) => {
        // The message row lock serializes toggles on one message, so the distinct-emoji cap holds.
        const row = await messages.findVisible(standing, messageId, tx, true);
        if (!standing.isMember) throw createNotChannelMemberError();
        await access.joinIfNeeded(standing, tx, events);
        const removed = await reactionsRepository.delete(row.message.id, user.id, emoji, tx);
        if (!removed) {
          const { distinct, present } = await reactionsRepository.describeEmojis(row.message.id, emoji, tx);
          if (!present && distinct >= settings.maxDistinct) throw createTooManyReactionsError();
          await reactionsRepository.insert(row.message.id, user.id, emoji, tx);
        }
        const counts =
          (await reactionsRepository.countByMessage([row.message.id], tx)).get(row.message.id) ?? {};
        await events.record({
          channelId: standing.channel.id,
          type: 'chat.reaction',
          payload: {
            mensagem_id: row.message.id,
            reactions: counts,
            actor: { id: user.id, username: user.username },
            emoji,
            action: removed ? 'removed' : 'added',
          },
        });
        return {
          ...replyVisibility.forViewer(toMessageView(row, counts), {
            id: standing.user.id,
            isModerator: standing.isModerator,
          }),
          user_reactions: await reactionsRepository.listUserEmojis(row.message.id, user.id, tx),
        };
      });
    },
  };
}
export type ReactionsService = ReturnType<typeof createReactionsService>;
