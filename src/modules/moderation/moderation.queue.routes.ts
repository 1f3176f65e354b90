import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { CSV_CONTENT_TYPE, csvStream } from '../../platform/csv/csv.js';
import { buildPageUrl } from '../../shared/page-url.js';
import { errorResponses, LimitQuery, NullableString, PageSchema } from '../../shared/schemas.js';
import { currentUser } from '../auth/auth.hooks.js';
import { LOG_CSV_COLUMNS, type ModerationQueueService } from './moderation.queue.js';
import { MODERATION_ACTIONS, REVIEW_DECISIONS, REVIEW_STATUSES } from './moderation.table.js';

const UserRef = Type.Object({ id: Type.String({ format: 'uuid' }), username: Type.String() });
const NullableDate = () => NullableString({ format: 'date-time' });

const Cursor = Type.Optional(
  Type.String({ maxLength: 200, description: 'Opaque; taken from the `next` URL of an earlier page' }),
);
const Desde = Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601: at or after' }));
const Ate = Type.Optional(Type.String({ maxLength: 64, description: 'ISO 8601: at or before' }));
const Canal = Type.Optional(Type.String({ format: 'uuid', description: 'Only this channel' }));

const QueueQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum([...REVIEW_STATUSES])),
    canal: Canal,
    desde: Desde,
    ate: Ate,
    ordem: Type.Optional(Type.Enum(['flags', 'recentes'])),
    limit: LimitQuery,
    cursor: Cursor,
  },
  { additionalProperties: false },
);

const QueueItem = Type.Object({
  mensagem: Type.Object({
    id: Type.String({ format: 'uuid' }),
    conteudo: Type.String(),
    tipo: Type.String(),
    remetente: Type.Union([UserRef, Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
    hidden_at: NullableDate(),
    is_spam: Type.Boolean(),
    deleted_at: NullableDate(),
  }),
  canal: Type.Object({
    id: Type.String({ format: 'uuid' }),
    titulo: Type.String(),
    contexto_tipo: Type.String(),
  }),
  flags: Type.Integer({ description: 'Unresolved flags (0 once resolved)' }),
  motivos: Type.Array(
    Type.Object({
      usuario: UserRef,
      motivo: NullableString(),
      created_at: Type.String({ format: 'date-time' }),
    }),
    {
      description:
        "The current round's flags, oldest first (for a resolved entry: those its decision resolved)",
    },
  ),
  status: Type.Enum([...REVIEW_STATUSES]),
  is_spam: Type.Boolean({ description: 'A spam rule put it in the queue' }),
  decisao: Type.Union([Type.Enum([...REVIEW_DECISIONS]), Type.Null()]),
  resolvido_por: Type.Union([UserRef, Type.Null()]),
  resolved_at: NullableDate(),
  last_activity_at: Type.String({ format: 'date-time', description: 'The latest flag or spam detection' }),
});

const LogQuery = Type.Object(
  {
    canal: Canal,
    acao: Type.Optional(Type.Enum([...MODERATION_ACTIONS])),
    usuario: Type.Optional(Type.String({ format: 'uuid', description: 'Only this actor' })),
    desde: Desde,
    ate: Ate,
    limit: LimitQuery,
    cursor: Cursor,
    formato: Type.Optional(Type.Enum(['json', 'csv'])),
  },
  { additionalProperties: false },
);

const LogEntry = Type.Object({
  id: Type.String({ format: 'uuid' }),
  acao: Type.Enum([...MODERATION_ACTIONS]),
  ator: Type.Union([UserRef, Type.Null()], { description: 'Null when the user is gone' }),
  mensagem_id: NullableString({ format: 'uuid' }),
  canal: Type.Union([
    Type.Object({ id: Type.String({ format: 'uuid' }), titulo: Type.String() }),
    Type.Null(),
  ]),
  conteudo_anterior: NullableString(),
  motivo: NullableString(),
  created_at: Type.String({ format: 'date-time' }),
});

export const moderationQueueRoutes: FastifyPluginAsyncTypebox<{
  moderationQueueService: ModerationQueueService;
}> = async (app, { moderationQueueService }) => {
  app.get(
    '/moderacao/flags/',
    {
      schema: {
        operationId: 'listModerationQueue',
        summary: 'Moderators: the queue of flagged and spam messages of every channel',
        description:
          'Moderators only (others 403 `moderation.not_moderator`). `status` pendente (default) or ' +
          'resolvido; `ordem` flags (default: most flagged first, ties newest message first) or ' +
          'recentes (latest activity first); `desde`/`ate` (ISO 8601, else 400 ' +
          '`moderation.invalid_date`) bound `last_activity_at`; `canal` keeps one channel. Keyset ' +
          'pages: `next` is the URL of the next page (null at the end); a cursor of the other order ' +
          'answers 400 `invalid_cursor`.',
        tags: ['moderation'],
        querystring: QueueQuery,
        response: { 200: PageSchema(QueueItem), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const page = await moderationQueueService.listQueue(currentUser(request), request.query);
      return { results: page.results, next: buildPageUrl(request, page.next), previous: null };
    },
  );

  app.get(
    '/moderacao/logs/',
    {
      schema: {
        operationId: 'listModerationLogs',
        summary: 'Moderators: the moderation log, newest first (JSON pages, or all of it as CSV)',
        description:
          'Moderators only (others 403 `moderation.not_moderator`). Filters: `canal`, `acao`, ' +
          '`usuario` (the actor), `desde`/`ate` (ISO 8601 on `created_at`, else 400 ' +
          '`moderation.invalid_date`). Keyset pages; `next` is the URL of the next page. With ' +
          '`formato=csv` every row the filters select is streamed as `text/csv` (attachment ' +
          '`moderation-logs.csv`; `limit` and `cursor` ignored) with the columns ' +
          `${LOG_CSV_COLUMNS.join(', ')}; cells starting with =, +, -, @, tab or CR are prefixed with '.`,
        tags: ['moderation'],
        querystring: LogQuery,
        response: {
          200: {
            description: 'A page of the log, or with `formato=csv` the whole selection as CSV',
            content: {
              'application/json': { schema: PageSchema(LogEntry) },
              'text/csv': { schema: Type.String() },
            },
          },
          ...errorResponses(400, 401, 403),
        },
      },
    },
    async (request, reply) => {
      const { formato, limit: _limit, cursor: _cursor, ...filters } = request.query;
      const user = currentUser(request);
      if (formato === 'csv') {
        const rows = moderationQueueService.exportLogs(user, filters);
        const csv = csvStream(LOG_CSV_COLUMNS);
        // A failure mid-way destroys the stream, so the client sees a cut download, not a short file.
        void pipeline(Readable.from(rows), csv).catch((error: unknown) => {
          // The client going away mid-download is not a failure of ours.
          const aborted = (error as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE';
          if (aborted) request.log.debug('moderation log CSV download aborted by the client');
          else request.log.error({ err: error }, 'moderation log CSV export failed');
        });
        return (
          reply
            .type(CSV_CONTENT_TYPE)
            .header('content-disposition', 'attachment; filename="moderation-logs.csv"')
            // A stream is sent as is (no serializer); the reply type only knows the schema's shapes.
            .send(csv as unknown as string)
        );
      }
      const page = await moderationQueueService.listLogs(user, request.query);
      return { results: page.results, next: buildPageUrl(request, page.next), previous: null };
    },
  );
};
