import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { currentUser } from '../auth/auth.hooks.js';
import { ChannelParams } from '../channels/channels.schemas.js';
import { buildPageUrl } from '../../shared/page-url.js';
import { errorResponses, PageSchema } from '../../shared/schemas.js';
import type { MessagesService } from './messages.service.js';
import { EditMessageBody, ListMessagesQuery, MessageSchema, SendMessageBody } from './messages.schemas.js';

const MessageParams = Type.Object({
  id: Type.String({ format: 'uuid' }),
  mid: Type.String({ format: 'uuid' }),
});

export const messagesRoutes: FastifyPluginAsyncTypebox<{ messagesService: MessagesService }> = async (
  app,
  { messagesService },
) => {
  const tags = ['messages'];

  app.post(
    '/channels/:id/messages/',
    {
      schema: {
        operationId: 'sendMessage',
        summary: 'Send a message (201; 200 with the original when client_id was already used)',
        tags,
        params: ChannelParams,
        body: SendMessageBody,
        response: { 200: MessageSchema, 201: MessageSchema, ...errorResponses(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request, reply) => {
      const result = await messagesService.sendMessage(currentUser(request), request.params.id, request.body);
      return reply.status(result.created ? 201 : 200).send(result.message);
    },
  );

  app.get(
    '/channels/:id/messages/',
    {
      schema: {
        operationId: 'listMessages',
        summary: 'Messages in chronological order, newest page first, with keyset cursors',
        description:
          'Each page lists its messages in ascending `seq` order (oldest first). Without `desde`, the ' +
          'first page is the newest one and `previous` leads back to older pages (from an older page, ' +
          '`next` leads forward again). With `desde`, the list runs forward from that time: the first ' +
          'page holds the oldest messages created at or after it and `next` leads to newer pages. ' +
          '`ate` leaves out messages created after it (with `ate` alone, the first page is the newest ' +
          'one up to `ate`). `next` and `previous` are absolute URLs that keep the filters and `limit`, ' +
          'with a new `cursor`; null when there is nothing further that way. Deleted messages are ' +
          'never listed; hidden ones only to staff.',
        tags,
        params: ChannelParams,
        querystring: ListMessagesQuery,
        response: { 200: PageSchema(MessageSchema), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const page = await messagesService.listMessages(currentUser(request), request.params.id, request.query);
      return {
        results: page.results,
        next: buildPageUrl(request, page.next),
        previous: buildPageUrl(request, page.previous),
      };
    },
  );

  app.get(
    '/channels/:id/messages/:mid/',
    {
      schema: {
        operationId: 'getMessage',
        summary: 'One message',
        tags,
        params: MessageParams,
        response: { 200: MessageSchema, ...errorResponses(401, 404) },
      },
    },
    async (request) =>
      messagesService.getMessage(currentUser(request), request.params.id, request.params.mid),
  );

  app.patch(
    '/channels/:id/messages/:mid/',
    {
      schema: {
        operationId: 'editMessage',
        summary:
          'Edit a message (sender or channel admin; rate-limited per user); the previous text is kept in the history',
        tags,
        params: MessageParams,
        body: EditMessageBody,
        response: { 200: MessageSchema, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) =>
      messagesService.editMessage(currentUser(request), request.params.id, request.params.mid, request.body),
  );

  for (const action of ['pin', 'unpin'] as const) {
    app.post(
      `/channels/:id/messages/:mid/${action}/`,
      {
        schema: {
          operationId: action === 'pin' ? 'pinMessage' : 'unpinMessage',
          summary:
            action === 'pin'
              ? 'Pin a message (channel admins and owners)'
              : 'Unpin a message (channel admins and owners)',
          tags,
          params: MessageParams,
          response: { 200: MessageSchema, ...errorResponses(401, 403, 404) },
        },
      },
      async (request) =>
        messagesService.setPinned(
          currentUser(request),
          request.params.id,
          request.params.mid,
          action === 'pin',
        ),
    );
  }

  app.get(
    '/channels/:id/pins/',
    {
      schema: {
        operationId: 'listPins',
        summary: 'Pinned messages, newest first',
        tags,
        params: ChannelParams,
        querystring: Type.Object(
          {
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
            limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: PageSchema(MessageSchema), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const page = await messagesService.listPins(currentUser(request), request.params.id, request.query);
      return { results: page.results, next: buildPageUrl(request, page.next), previous: null };
    },
  );

  app.delete(
    '/channels/:id/messages/:mid/',
    {
      schema: {
        operationId: 'deleteMessage',
        summary: 'Delete a message (sender, channel admin or staff; soft delete)',
        tags,
        params: MessageParams,
        response: { 204: { type: 'null' }, ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await messagesService.deleteMessage(currentUser(request), request.params.id, request.params.mid);
      return reply.status(204).send(null);
    },
  );
};
