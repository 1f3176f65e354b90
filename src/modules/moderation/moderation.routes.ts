import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../../shared/schemas.js';
import { currentUser } from '../auth/auth.hooks.js';
import type { ModerationService } from './moderation.service.js';

export const FlagBody = Type.Object(
  { motivo: Type.Optional(Type.String({ maxLength: 500, description: 'Why the message is flagged' })) },
  { additionalProperties: false },
);
export const FlagResult = Type.Object({
  flags: Type.Integer({ description: 'Distinct users who flagged the message' }),
});

export const moderationRoutes: FastifyPluginAsyncTypebox<{ moderationService: ModerationService }> = async (
  app,
  { moderationService },
) => {
  app.post(
    '/channels/:id/messages/:mid/flag/',
    {
      schema: {
        operationId: 'flagMessage',
        summary: 'Flag a message (once per user; at FLAG_HIDE_THRESHOLD flaggers it is hidden)',
        description:
          'Any user who can read the message may flag it, except its sender (400 ' +
          '`moderation.own_message`), once (409 `moderation.already_flagged`); CHAT_FLAG_RATE_LIMIT ' +
          'per user (429). A message id of another channel, or one the caller cannot see, answers 404 ' +
          'and records nothing. When FLAG_HIDE_THRESHOLD distinct users have flagged it, the message ' +
          'is hidden for everyone but moderators and the channel gets `chat.moderation` `hidden`.',
        tags: ['moderation'],
        params: Type.Object({ id: Type.String({ format: 'uuid' }), mid: Type.String({ format: 'uuid' }) }),
        body: FlagBody,
        response: { 200: FlagResult, ...errorResponses(400, 401, 404, 409, 429) },
      },
    },
    async (request) =>
      moderationService.flagMessage(
        currentUser(request),
        request.params.id,
        request.params.mid,
        request.body.motivo,
      ),
  );
};
