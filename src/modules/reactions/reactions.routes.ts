import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { currentUser } from '../auth/auth.hooks.js';
import { MessageSchema } from '../messages/messages.schemas.js';
import { errorResponses } from '../../shared/schemas.js';
import type { ReactionsService } from './reactions.service.js';

export const reactionsRoutes: FastifyPluginAsyncTypebox<{ reactionsService: ReactionsService }> = async (
  app,
  { reactionsService },
) => {
  app.post(
    '/channels/:id/messages/:mid/react/',
    {
      schema: {
        operationId: 'toggleReaction',
        summary: "Toggle the caller's reaction on a message",
        tags: ['reactions'],
        params: Type.Object({ id: Type.String({ format: 'uuid' }), mid: Type.String({ format: 'uuid' }) }),
        body: Type.Object(
          { emoji: Type.String({ minLength: 1, maxLength: 64 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Intersect([
            MessageSchema,
            Type.Object({
              user_reactions: Type.Array(Type.String(), { description: "The caller's reactions" }),
            }),
          ]),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) =>
      reactionsService.toggleReaction(
        currentUser(request),
        request.params.id,
        request.params.mid,
        request.body.emoji,
      ),
  );
};
