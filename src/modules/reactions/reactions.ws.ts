import { Type } from 'typebox';
import type { FrameRegistration } from '../../realtime/frame-router.js';
import { ClientIdField, UuidField } from '../../shared/frame-schemas.js';
import type { ReactionsService } from './reactions.service.js';

const ReactionFrame = Type.Object(
  {
    tipo: Type.Literal('reaction'),
    mensagem_id: UuidField,
    emoji: Type.String({ maxLength: 64 }),
    client_id: ClientIdField,
  },
  { additionalProperties: false },
);

export function reactionFrames({
  reactionsService,
}: {
  reactionsService: Pick<ReactionsService, 'toggleReaction'>;
}): FrameRegistration<typeof ReactionFrame> {
  return {
    tipos: ['reaction'],
    schema: ReactionFrame,
    async handle({ user, channelId }, frame) {
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
