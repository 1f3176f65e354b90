import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { currentUser } from '../auth/auth.hooks.js';
import { errorResponses } from '../../shared/schemas.js';
import { ContextoId } from './contexts.schemas.js';
import type { ContextsService } from './contexts.service.js';

const Params = Type.Object({
  tipo: Type.Union([Type.Literal('nucleo'), Type.Literal('evento'), Type.Literal('organizacao')]),
  contextoId: ContextoId,
  userId: Type.String({ format: 'uuid' }),
});
const MembershipSchema = Type.Object({
  user: Type.String({ format: 'uuid' }),
  contexto_tipo: Type.String(),
  contexto_id: Type.String(),
  status: Type.String({ enum: ['ativo', 'inativo'] }),
});

export const contextsRoutes: FastifyPluginAsyncTypebox<{ contextsService: ContextsService }> = async (
  app,
  { contextsService },
) => {
  const tags = ['contexts'];

  app.put(
    '/contexts/:tipo/:contextoId/members/:userId/',
    {
      schema: {
        operationId: 'putContextMember',
        summary: 'Add or update a member of a núcleo, evento or organização (staff only)',
        tags,
        params: Params,
        body: Type.Object(
          { status: Type.Optional(Type.Union([Type.Literal('ativo'), Type.Literal('inativo')])) },
          { additionalProperties: false },
        ),
        response: { 200: MembershipSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { tipo, contextoId, userId } = request.params;
      const row = await contextsService.setMembership(currentUser(request), {
        contextoTipo: tipo,
        contextoId,
        userId,
        status: request.body?.status ?? 'ativo',
      });
      return {
        user: row.userId,
        contexto_tipo: row.contextoTipo,
        contexto_id: row.contextoId,
        status: row.status,
      };
    },
  );

  app.delete(
    '/contexts/:tipo/:contextoId/members/:userId/',
    {
      schema: {
        operationId: 'deleteContextMember',
        summary: 'Remove a member from a context (staff only); their access ends at once',
        tags,
        params: Params,
        response: { 204: { type: 'null' }, ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { tipo, contextoId, userId } = request.params;
      await contextsService.removeMembership(currentUser(request), {
        contextoTipo: tipo,
        contextoId,
        userId,
      });
      return reply.status(204).send(null);
    },
  );
};
