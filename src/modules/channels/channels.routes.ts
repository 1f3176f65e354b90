import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TSchema } from 'typebox';
import { currentUser } from '../auth/auth.hooks.js';
import { buildPageUrl } from '../../shared/page-url.js';
import { errorResponses, PageSchema } from '../../shared/schemas.js';
import type { ChannelsService } from './channels.service.js';
import type { LastMessageView } from './channels.views.js';
import {
  ChannelParams,
  createChannelSchema,
  CreateChannelBody,
  ListChannelsQuery,
  UpdateChannelBody,
} from './channels.schemas.js';

export const channelsRoutes: FastifyPluginAsyncTypebox<{
  channelsService: ChannelsService;
  /** The schema of a message (the messages module's), for `ultima_mensagem`. */
  lastMessageSchema: TSchema;
}> = async (app, { channelsService, lastMessageSchema }) => {
  const tags = ['channels'];
  const ChannelSchema = createChannelSchema<LastMessageView>(lastMessageSchema);

  app.post(
    '/channels/',
    {
      schema: {
        operationId: 'createChannel',
        summary: 'Create a channel; the creator becomes its owner and admin',
        tags,
        body: CreateChannelBody,
        response: { 201: ChannelSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const channel = await channelsService.createChannel(currentUser(request), request.body);
      return reply.status(201).send(channel);
    },
  );

  app.get(
    '/channels/',
    {
      schema: {
        operationId: 'listChannels',
        summary: 'Channels the user takes part in (and the channels of their contexts)',
        tags,
        querystring: ListChannelsQuery,
        response: { 200: PageSchema(ChannelSchema), ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { categoria, cursor, limit } = request.query;
      const page = await channelsService.listChannels(currentUser(request), {
        categoria,
        afterId: cursor,
        limit,
      });
      return { results: page.results, next: buildPageUrl(request, page.nextAfterId), previous: null };
    },
  );

  app.get(
    '/channels/:id/',
    {
      schema: {
        operationId: 'getChannel',
        summary: 'One channel',
        tags,
        params: ChannelParams,
        response: { 200: ChannelSchema, ...errorResponses(401, 404) },
      },
    },
    async (request) => channelsService.getChannel(currentUser(request), request.params.id),
  );

  app.patch(
    '/channels/:id/',
    {
      schema: {
        operationId: 'updateChannel',
        summary: 'Change titulo, descricao or categoria (channel admins and owners)',
        tags,
        params: ChannelParams,
        body: UpdateChannelBody,
        response: { 200: ChannelSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => channelsService.updateChannel(currentUser(request), request.params.id, request.body),
  );

  app.delete(
    '/channels/:id/',
    {
      schema: {
        operationId: 'deleteChannel',
        summary: 'Delete a channel (staff only; soft delete)',
        tags,
        params: ChannelParams,
        response: { 204: { type: 'null' }, ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await channelsService.deleteChannel(currentUser(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
};
