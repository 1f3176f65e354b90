import type { CsvCell } from '../../platform/csv/csv.js';
import { decodeKeyCursor, encodeKeyCursor } from '../../shared/cursor.js';
import { isUuid } from '../../shared/ids.js';
import { parseIsoTimestamp } from '../../shared/time.js';
import type { AuthUser } from '../auth/auth.service.js';
import { isModerator } from '../channels/channels.access.js';
import { createInvalidCursorError } from '../messages/messages.errors.js';
import { createInvalidModerationDateError, createNotModeratorError } from './moderation.errors.js';
import type {
  LogAfter,
  LogFilter,
  ModerationQueueRepository,
  QueueAfter,
  QueueOrder,
} from './moderation.queue.repository.js';
import type { ModerationAction, ReviewStatus } from './moderation.table.js';

export type QueueQuery = {
  status?: ReviewStatus | undefined;
  canal?: string | undefined;
  desde?: string | undefined;
  ate?: string | undefined;
  ordem?: QueueOrder | undefined;
  limit: number;
  cursor?: string | undefined;
};
export type LogQuery = {
  canal?: string | undefined;
  acao?: ModerationAction | undefined;
  usuario?: string | undefined;
  desde?: string | undefined;
  ate?: string | undefined;
  limit: number;
  cursor?: string | undefined;
};

/** The columns of `GET moderacao/logs/?formato=csv`, in order (documented in the README). */
export const LOG_CSV_COLUMNS = [
  'id',
  'acao',
  'ator_id',
  'ator',
  'mensagem_id',
  'canal_id',
  'canal',
  'conteudo_anterior',
  'motivo',
  'created_at',
] as const;
/** Rows read per query while streaming the CSV: memory stays flat whatever the log's size. */
const CSV_BATCH_SIZE = 500;

/** Only the form the repository writes (UTC, microseconds): anything else could fail in SQL. */
const isExactTime = (value: unknown): value is string =>
  typeof value === 'string' &&
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(value) &&
  parseIsoTimestamp(value) !== undefined;
const MAX_INT32 = 2_147_483_647;
const isId = (value: unknown): value is string => typeof value === 'string' && isUuid(value);

function parseDates(input: { desde?: string | undefined; ate?: string | undefined }) {
  const desde = input.desde !== undefined ? parseIsoTimestamp(input.desde) : undefined;
  const ate = input.ate !== undefined ? parseIsoTimestamp(input.ate) : undefined;
  if ((input.desde !== undefined && !desde) || (input.ate !== undefined && !ate))
    throw createInvalidModerationDateError();
  return { desde, ate };
}

function decodeQueueCursor(value: string, order: QueueOrder): QueueAfter {
  const parts = decodeKeyCursor(value, (p): p is [string, number | string, string] => p.length === 3);
  if (parts?.[0] === 'f' && order === 'flags') {
    const [, flagCount, messageId] = parts;
    if (
      Number.isInteger(flagCount) &&
      (flagCount as number) >= 0 &&
      (flagCount as number) <= MAX_INT32 &&
      isId(messageId)
    )
      return { order, flagCount: flagCount as number, messageId };
  }
  if (parts?.[0] === 'r' && order === 'recentes') {
    const [, activityAt, messageId] = parts;
    if (isExactTime(activityAt) && isId(messageId)) return { order, activityAt, messageId };
  }
  // Also a cursor of the other order: its key means nothing in this one.
  throw createInvalidCursorError();
}

function decodeLogCursor(value: string): LogAfter {
  const parts = decodeKeyCursor(
    value,
    (p): p is [string, string] => p.length === 2 && isExactTime(p[0]) && isId(p[1]),
  );
  if (!parts) throw createInvalidCursorError();
  return { createdAt: parts[0], id: parts[1] };
}

export function createModerationQueueService(deps: {
  queueRepository: Pick<ModerationQueueRepository, 'listQueuePage' | 'listRoundFlags' | 'listLogPage'>;
}) {
  const { queueRepository } = deps;

  function requireModerator(user: AuthUser) {
    if (!isModerator(user)) throw createNotModeratorError();
  }

  function logFilterOf(input: Omit<LogQuery, 'limit' | 'cursor'>): LogFilter {
    return {
      channelId: input.canal,
      action: input.acao,
      actorId: input.usuario,
      ...parseDates(input),
    };
  }

  type LogRow = Awaited<ReturnType<ModerationQueueRepository['listLogPage']>>[number];
  const logView = (row: LogRow) => ({
    id: row.id,
    acao: row.action,
    ator: row.actorId ? { id: row.actorId, username: row.actorUsername ?? '' } : null,
    mensagem_id: row.messageId,
    canal: row.channelId ? { id: row.channelId, titulo: row.channelTitulo ?? '' } : null,
    conteudo_anterior: row.previousContent,
    motivo: row.reason,
    created_at: row.createdAt.toISOString(),
  });

  return {
    /**
     * The moderator's queue (moderators only): flagged or spam messages of every channel with
     * content, author, channel, the current round's flags and the state. `flags` orders by the
     * most flagged (ties: newest message first), `recentes` by the latest activity.
     */
    async listQueue(user: AuthUser, input: QueueQuery) {
      requireModerator(user);
      const order = input.ordem ?? 'flags';
      const { desde, ate } = parseDates(input);
      const after = input.cursor !== undefined ? decodeQueueCursor(input.cursor, order) : undefined;
      const rows = await queueRepository.listQueuePage(
        { status: input.status ?? 'pendente', channelId: input.canal, desde, ate },
        { order, after, limit: input.limit },
      );
      const page = rows.slice(0, input.limit);
      const flags = await queueRepository.listRoundFlags(page.map((row) => row.messageId));
      const last = rows.length > input.limit ? page[page.length - 1] : undefined;
      return {
        results: page.map((row) => ({
          mensagem: {
            id: row.messageId,
            conteudo: row.message.conteudo,
            tipo: row.message.tipo,
            remetente: row.message.remetenteId
              ? { id: row.message.remetenteId, username: row.senderUsername ?? '' }
              : null,
            created_at: row.message.createdAt.toISOString(),
            hidden_at: row.message.hiddenAt?.toISOString() ?? null,
            is_spam: row.message.isSpam,
            deleted_at: row.message.deletedAt?.toISOString() ?? null,
          },
          canal: { id: row.channel.id, titulo: row.channel.titulo, contexto_tipo: row.channel.contextoTipo },
          flags: row.flagCount,
          motivos: flags
            .filter((flag) => flag.messageId === row.messageId)
            .map((flag) => ({
              usuario: { id: flag.userId, username: flag.username ?? '' },
              motivo: flag.motivo,
              created_at: flag.createdAt.toISOString(),
            })),
          status: row.status,
          is_spam: row.isSpam,
          decisao: row.decision,
          resolvido_por: row.resolvedBy ? { id: row.resolvedBy, username: row.resolverUsername ?? '' } : null,
          resolved_at: row.resolvedAt?.toISOString() ?? null,
          last_activity_at: row.lastActivityAt.toISOString(),
        })),
        next: last
          ? encodeKeyCursor(
              order === 'flags'
                ? ['f', last.flagCount, last.messageId]
                : ['r', last.activityKey, last.messageId],
            )
          : undefined,
      };
    },

    /** The moderation log (moderators only), newest first, filtered by channel, action, actor, time. */
    async listLogs(user: AuthUser, input: LogQuery) {
      requireModerator(user);
      const filter = logFilterOf(input);
      const after = input.cursor !== undefined ? decodeLogCursor(input.cursor) : undefined;
      const rows = await queueRepository.listLogPage(filter, { after, limit: input.limit });
      const page = rows.slice(0, input.limit);
      const last = rows.length > input.limit ? page[page.length - 1] : undefined;
      return {
        results: page.map(logView),
        next: last ? encodeKeyCursor([last.createdKey, last.id]) : undefined,
      };
    },

    /**
     * Every log row the filters select, newest first, as CSV cells in LOG_CSV_COLUMNS order. The
     * checks run now (so a refusal is an ordinary error answer); the rows are read in batches as
     * the consumer pulls them.
     */
    exportLogs(user: AuthUser, input: Omit<LogQuery, 'limit' | 'cursor'>): AsyncIterable<CsvCell[]> {
      requireModerator(user);
      const filter = logFilterOf(input);
      return (async function* () {
        let after: LogAfter | undefined;
        for (;;) {
          const rows = await queueRepository.listLogPage(filter, { after, limit: CSV_BATCH_SIZE });
          const batch = rows.slice(0, CSV_BATCH_SIZE);
          for (const row of batch) {
            yield [
              row.id,
              row.action,
              row.actorId,
              row.actorUsername,
              row.messageId,
              row.channelId,
              row.channelTitulo,
              row.previousContent,
              row.reason,
              row.createdAt.toISOString(),
            ];
          }
          const last = batch[batch.length - 1];
          if (rows.length <= CSV_BATCH_SIZE || !last) return;
          after = { createdAt: last.createdKey, id: last.id };
        }
      })();
    },
  };
}
export type ModerationQueueService = ReturnType<typeof createModerationQueueService>;
