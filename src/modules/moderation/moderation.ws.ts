import { Type } from 'typebox';
import type { FrameRegistration } from '../../realtime/frame-router.js';
import { ClientIdField, UuidField } from '../../shared/frame-schemas.js';
import type { ModerationService } from './moderation.service.js';

const FlagFrame = Type.Object(
  {
    tipo: Type.Literal('flag'),
    mensagem_id: UuidField,
    motivo: Type.Optional(Type.String({ maxLength: 500 })),
    client_id: ClientIdField,
  },
  { additionalProperties: false },
);

/** `{tipo: "flag", mensagem_id, motivo?}`: the same rules as REST; the ack carries the flag count. */
export function flagFrames({
  moderationService,
}: {
  moderationService: Pick<ModerationService, 'flagMessage'>;
}): FrameRegistration<typeof FlagFrame> {
  return {
    tipos: ['flag'],
    schema: FlagFrame,
    async handle({ user, channelId }, frame) {
      const { flags } = await moderationService.flagMessage(user, channelId, frame.mensagem_id, frame.motivo);
      return {
        type: 'ack',
        tipo: 'flag',
        client_id: frame.client_id ?? null,
        mensagem_id: frame.mensagem_id,
        flags,
      };
    },
  };
}
