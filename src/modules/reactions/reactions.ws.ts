import type { FrameContext, ReactionFrame } from '../../realtime/frames.js';
import type { ReactionsService } from './reactions.service.js';

export function createReactionFrameHandlers({ reactionsService }: { reactionsService: ReactionsService }) {
  return {
    async reaction({ user, channelId }: FrameContext, frame: ReactionFrame) {
      const message = await reactionsService.toggleReaction(user, channelId, frame.mensagem_id, frame.emoji);
      return {
        type: 'ack',
        tipo: 'reaction',
        client_id: frame.client_id ?? null,
        mensagem_id: message.id,
        reactions: message.reactions,
        user_reactions: message.user_reactions,
      };
    },
  };
}
