import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../../shared/schemas.js';
import { currentUser } from '../auth/auth.hooks.js';
import { CSV_CONTENT_TYPE } from '../../platform/csv/csv.js';
import { MessageSchema } from '../messages/messages.schemas.js';
import { historyToCsv, type HistoryRestorer } from './moderation.history.js';
import type { ModerationService } from './moderation.service.js';

export const FlagBody = Type.Object(
  { motivo: Type.Optional(Type.String({ maxLength: 500, description: 'Why the message is flagged' })) },
  { additionalProperties: false },
);
export const FlagResult = Type.Object({
  flags: Type.Integer({ description: 'Distinct users who flagged the message' }),
});

/** Optional: approve and remove also take no body at all. */
const DecisionBody = Type.Union(
  [
    Type.Object(
      {
        motivo: Type.Optional(
          Type.String({ maxLength: 500, description: 'Why; kept in the moderation log' }),
        ),
      },
      { additionalProperties: false },
    ),
    Type.Null(),
  ],
  { description: "Optional `{motivo}`, stored as the log entry's reason" },
);
const HistorySchema = Type.Object({
  results: Type.Array(
    Type.Object({
      id: Type.String({ format: 'uuid' }),
      conteudo: Type.String(),
      editor: Type.Union([Type.Object({ id: Type.String(), username: Type.String() }), Type.Null()]),
      created_at: Type.String({ format: 'date-time' }),
    }),
  ),
});

const DecisionResult = Type.Object({
  id: Type.String({ format: 'uuid' }),
  channel: Type.String({ format: 'uuid' }),
  action: Type.Union([Type.Literal('approved'), Type.Literal('removed')]),
});

export const moderationRoutes: FastifyPluginAsyncTypebox<{
  moderationService: ModerationService;
  historyRestorer: HistoryRestorer;
}> = async (app, { moderationService, historyRestorer }) => {
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

  app.get(
    '/channels/:id/messages/:mid/history/',
    {
      schema: {
        operationId: 'listMessageHistory',
        summary: "A message's earlier versions, oldest first (its sender, channel admins, moderators)",
        description:
          'Each entry is the text an edit replaced (ciphertext on E2EE channels), with who edited and ' +
          'when. A message of another channel, or one the caller cannot see, answers 404; others than ' +
          'the sender, channel admins and moderators get 403 `moderation.history_forbidden`. ' +
          '`?formato=csv` downloads the same entries as `message-<mid>-history.csv` (columns id, ' +
          'conteudo, editor (username), created_at; cells starting with =, +, -, @, tab or CR are ' +
          "prefixed with '); any other `formato` answers 400.",
        tags: ['moderation'],
        params: Type.Object({ id: Type.String({ format: 'uuid' }), mid: Type.String({ format: 'uuid' }) }),
        querystring: Type.Object(
          {
            formato: Type.Optional(
              Type.Union([Type.Literal('json'), Type.Literal('csv')], { default: 'json' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description: 'The earlier versions (JSON), or the CSV document with ?formato=csv',
            content: {
              'application/json': { schema: HistorySchema },
              'text/csv': { schema: Type.String() },
            },
          },
          ...errorResponses(400, 401, 403, 404),
        },
      },
    },
    async (request, reply) => {
      const history = await moderationService.listHistory(
        currentUser(request),
        request.params.id,
        request.params.mid,
      );
      if (request.query.formato !== 'csv') return history;
      return reply
        .type(CSV_CONTENT_TYPE)
        .header('content-disposition', `attachment; filename="message-${request.params.mid}-history.csv"`)
        .send(historyToCsv(history.results));
    },
  );

  app.post(
    '/channels/:id/messages/:mid/history/:version_id/restore/',
    {
      schema: {
        operationId: 'restoreMessageVersion',
        summary: 'Restore an earlier version of a message as a new edit (channel admins, owner, moderators)',
        description:
          "The version's text replaces the message's content exactly as an edit does (the replaced " +
          'text joins the history, `edited_at` moves, `chat.message.updated` reaches every socket) and ' +
          'the moderation log gets `edit_restored` (reason: the version id). The sender alone may not ' +
          'restore (403 `moderation.restore_forbidden`); a version id of another message answers 404 ' +
          '`moderation.version_not_found` and writes nothing; E2EE messages answer 409 ' +
          '`moderation.restore_encrypted` (the server cannot re-encrypt). Answers the message.',
        tags: ['moderation'],
        params: Type.Object({
          id: Type.String({ format: 'uuid' }),
          mid: Type.String({ format: 'uuid' }),
          version_id: Type.String({ format: 'uuid' }),
        }),
        response: { 200: MessageSchema, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) =>
      historyRestorer.restoreVersion(
        currentUser(request),
        request.params.id,
        request.params.mid,
        request.params.version_id,
      ),
  );

  for (const decision of ['approve', 'remove'] as const) {
    app.post(
      `/moderacao/messages/:mid/${decision}/`,
      {
        schema: {
          operationId: decision === 'approve' ? 'approveMessage' : 'removeMessage',
          summary:
            decision === 'approve'
              ? 'Moderators: make a message visible again and clear its flags'
              : 'Moderators: delete a message (participants then get 404)',
          description:
            'Moderators only (others 403 `moderation.not_moderator`); a deleted or absent message ' +
            'answers 404. Logged, and broadcast to the channel as `chat.moderation` ' +
            (decision === 'approve' ? '`approved`.' : '`removed`.'),
          tags: ['moderation'],
          params: Type.Object({ mid: Type.String({ format: 'uuid' }) }),
          body: DecisionBody,
          response: { 200: DecisionResult, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) =>
        moderationService.decide(currentUser(request), request.params.mid, decision, request.body?.motivo),
    );
  }
};
