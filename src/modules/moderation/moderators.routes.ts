import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { buildPageUrl } from '../../shared/page-url.js';
import { errorResponses, PageSchema } from '../../shared/schemas.js';
import { currentUser } from '../auth/auth.hooks.js';
import type { ModeratorsService } from './moderators.service.js';

const UserRef = Type.Object({ id: Type.String({ format: 'uuid' }), username: Type.String() });
const ModeratorSchema = Type.Object({
  user: UserRef,
  is_moderator: Type.Literal(true),
  granted_by: Type.Union([UserRef, Type.Null()], {
    description: 'The staff user who granted the role; null when granted from the CLI or that user is gone',
  }),
  created_at: Type.String({ format: 'date-time' }),
});
const ModeratorParams = Type.Object({ userId: Type.String({ format: 'uuid' }) });

export const moderatorsRoutes: FastifyPluginAsyncTypebox<{ moderatorsService: ModeratorsService }> = async (
  app,
  { moderatorsService },
) => {
  const tags = ['moderation'];

  app.get(
    '/moderadores/',
    {
      schema: {
        operationId: 'listModerators',
        summary: 'Users granted the moderator role (staff and moderators)',
        description:
          'Only granted moderators are listed: staff moderate by their staff flag and have no grant. ' +
          'Others get 403 `moderation.not_moderator`.',
        tags,
        querystring: Type.Object(
          {
            cursor: Type.Optional(Type.String({ format: 'uuid' })),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: PageSchema(ModeratorSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const page = await moderatorsService.listModerators(currentUser(request), {
        afterId: request.query.cursor,
        limit: request.query.limit,
      });
      return { results: page.results, next: buildPageUrl(request, page.nextAfterId), previous: null };
    },
  );

  app.put(
    '/moderadores/:userId/',
    {
      schema: {
        operationId: 'grantModerator',
        summary: 'Grant a user the moderator role (staff only)',
        description:
          'Idempotent: 201 on the first grant, 200 (the existing grant, unchanged) afterwards. Unknown or ' +
          'inactive users answer 404 `users.not_found`; non-staff 403 `moderation.not_staff`. The ' +
          "user's open sockets follow at once.",
        tags,
        params: ModeratorParams,
        response: { 200: ModeratorSchema, 201: ModeratorSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const result = await moderatorsService.grantModerator(currentUser(request), request.params.userId);
      return reply.status(result.created ? 201 : 200).send(result.moderator);
    },
  );

  app.delete(
    '/moderadores/:userId/',
    {
      schema: {
        operationId: 'revokeModerator',
        summary: 'Revoke the moderator role (staff only)',
        description:
          'Idempotent: 204 whether or not the user held a grant (staff stay moderators by their flag). ' +
          'Unknown users answer 404 `users.not_found`; non-staff 403 `moderation.not_staff`. The ' +
          "user's open sockets lose the role at once.",
        tags,
        params: ModeratorParams,
        response: { 204: { type: 'null' }, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      await moderatorsService.revokeModerator(currentUser(request), request.params.userId);
      return reply.status(204).send(null);
    },
  );
};
