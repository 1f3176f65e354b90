import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { currentUser } from '../auth/auth.hooks.js';
import { ChannelParams } from './channels.schemas.js';
import { buildPageUrl } from '../../shared/page-url.js';
import { errorResponses, PageSchema } from '../../shared/schemas.js';
import type { ParticipantsService } from './participants.service.js';

const ParticipantSchema = Type.Object({
  user: Type.Object({ id: Type.String({ format: 'uuid' }), username: Type.String() }),
  is_owner: Type.Boolean(),
  is_admin: Type.Boolean(),
  joined_at: Type.Optional(Type.String({ format: 'date-time' })),
});
const UsersBody = Type.Object(
  { usuarios: Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 500 }) },
  { additionalProperties: false },
);

export const participantsRoutes: FastifyPluginAsyncTypebox<{
  participantsService: ParticipantsService;
}> = async (app, { participantsService }) => {
  const tags = ['participants'];

  app.post(
    '/channels/:id/add_participant/',
    {
      schema: {
        operationId: 'addParticipants',
        summary: 'Add users to the channel (channel admins and owners)',
        tags,
        params: ChannelParams,
        body: UsersBody,
        response: {
          200: Type.Object({ adicionados: Type.Array(Type.String({ format: 'uuid' })) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) =>
      participantsService.addParticipants(currentUser(request), request.params.id, request.body.usuarios),
  );

  app.post(
    '/channels/:id/remove_participant/',
    {
      schema: {
        operationId: 'removeParticipants',
        summary: 'Remove users from the channel (channel admins and owners)',
        tags,
        params: ChannelParams,
        body: UsersBody,
        response: {
          200: Type.Object({ removidos: Type.Array(Type.String({ format: 'uuid' })) }),
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request) =>
      participantsService.removeParticipants(currentUser(request), request.params.id, request.body.usuarios),
  );

  app.post(
    '/channels/:id/leave/',
    {
      schema: {
        operationId: 'leaveChannel',
        summary: 'Leave the channel (the last admin cannot)',
        tags,
        params: ChannelParams,
        response: { 204: { type: 'null' }, ...errorResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await participantsService.leaveChannel(currentUser(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/channels/:id/participants/',
    {
      schema: {
        operationId: 'listParticipants',
        summary: 'Participants of the channel',
        tags,
        params: ChannelParams,
        querystring: Type.Object(
          {
            cursor: Type.Optional(Type.String({ format: 'uuid' })),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: PageSchema(ParticipantSchema), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const page = await participantsService.listParticipants(currentUser(request), request.params.id, {
        afterId: request.query.cursor,
        limit: request.query.limit,
      });
      return { results: page.results, next: buildPageUrl(request, page.nextAfterId), previous: null };
    },
  );

  app.post(
    '/channels/:id/participants/:userId/role/',
    {
      schema: {
        operationId: 'setParticipantRole',
        summary: "Grant or revoke a participant's admin role (channel owner)",
        tags,
        params: Type.Object({ id: Type.String({ format: 'uuid' }), userId: Type.String({ format: 'uuid' }) }),
        body: Type.Object({ is_admin: Type.Boolean() }, { additionalProperties: false }),
        response: { 200: ParticipantSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) =>
      participantsService.setRole(
        currentUser(request),
        request.params.id,
        request.params.userId,
        request.body.is_admin,
      ),
  );
};
