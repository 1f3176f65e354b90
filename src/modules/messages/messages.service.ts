import type { Executor } from '../../platform/db/client.js';
import type { RateLimiter } from '../../platform/rate-limit/rate-limit.js';
import { decodeCursor, encodeCursor } from '../../shared/cursor.js';
import { createRateLimitedError } from '../../shared/errors.js';
import type { EventRecorder, UnitOfWork, Viewer } from '../../shared/events.js';
import { parseIsoTimestamp } from '../../shared/time.js';
import type { AuthUser } from '../auth/auth.service.js';
import type { ChannelAccess, ChannelStanding } from '../channels/channels.access.js';
import { createNotChannelAdminError } from '../channels/channels.errors.js';
import { createContentChecker } from './messages.content.js';
import {
  createCannotDeleteError,
  createCannotEditError,
  createInvalidCursorError,
  createInvalidDateError,
  createMessageNotFoundError,
} from './messages.errors.js';
import { messageVisibility } from './messages.policy.js';
import type { MessageListFilter, MessagesRepository, MessageWithSender } from './messages.repository.js';
import { replyVisibility } from './messages.replies.js';
import { createMessageSender, type SpamGuard } from './messages.send.js';
import type { MessageRow } from './messages.table.js';
import { toMessageView, type MessageView, type ReactionCounts } from './messages.views.js';

export type { SendMessageInput, SpamGuard } from './messages.send.js';
export type EditMessageInput = {
  conteudo?: string | undefined;
  conteudo_cifrado?: string | undefined;
  key_version?: number | undefined;
};
export type ListMessagesInput = {
  cursor?: string | undefined;
  limit: number;
  desde?: string | undefined;
  ate?: string | undefined;
};

/** The standing's user as the messages' visibility rule sees them. */
const viewerOf = (standing: ChannelStanding) => ({ id: standing.user.id, isModerator: standing.isModerator });

/** Looks up a message of a channel as a given user may see it: 404 for other channels, deleted ones and (for non-moderators) hidden ones. */
export function createMessageFinder({
  messagesRepository,
}: {
  messagesRepository: Pick<MessagesRepository, 'findInChannel'>;
}) {
  return {
    async findVisible(standing: ChannelStanding, messageId: string, tx?: Executor, lock = false) {
      const row = await messagesRepository.findInChannel(standing.channel.id, messageId, tx, { lock });
      if (!row || row.message.deletedAt) throw createMessageNotFoundError();
      const viewer = viewerOf(standing);
      if (
        row.message.hiddenAt &&
        !messageVisibility.seesHidden(viewer) &&
        !messageVisibility.isOwnSpam(
          { isSpam: row.message.isSpam, hidden: true, senderId: row.message.remetenteId },
          viewer,
        )
      )
        throw createMessageNotFoundError();
      return row;
    },
  };
}
export type MessageFinder = ReturnType<typeof createMessageFinder>;

// What this module needs from the modules above it (reactions, moderation), declared here and
// handed in by the composition root, so that no import points upward.

/** Reaction counts per message id (the reactions repository). */
export type ReactionCounter = {
  countByMessage(messageIds: string[], tx?: Executor): Promise<Map<string, ReactionCounts>>;
};

/** Keeps the previous text of an edited message (the moderation module's history and log). */
export type EditHistory = {
  insertEdit(
    values: { messageId: string; previousContent: string; editorId: string },
    tx?: Executor,
  ): Promise<void>;
  insertLog(
    values: {
      messageId: string;
      channelId: string;
      action: 'edit';
      moderatorId: string;
      previousContent: string;
    },
    tx?: Executor,
  ): Promise<void>;
};

/**
 * The one write of an edit, inside the caller's transaction: keeps the replaced text in the
 * history and the moderation log, rewrites the message and records `chat.message.updated`. Used by
 * PATCH and by the moderators' restore of an earlier version, so both reach clients the same way.
 */
export function createMessageEditor(deps: {
  messagesRepository: Pick<MessagesRepository, 'update'>;
  moderationRepository: EditHistory;
  reactionsRepository: ReactionCounter;
}) {
  const { messagesRepository, moderationRepository, reactionsRepository } = deps;
  return {
    async applyEdit(
      tx: Executor,
      events: Pick<EventRecorder, 'record'>,
      input: {
        /** The message as read (and locked) in this transaction. */
        row: MessageWithSender;
        editorId: string;
        content: Partial<Pick<MessageRow, 'conteudo' | 'conteudoCifrado' | 'alg' | 'keyVersion'>>;
      },
    ): Promise<MessageWithSender & { view: MessageView }> {
      const { row, editorId } = input;
      const previous = row.message.conteudoCifrado ?? row.message.conteudo;
      await moderationRepository.insertEdit(
        { messageId: row.message.id, previousContent: previous, editorId },
        tx,
      );
      await moderationRepository.insertLog(
        {
          messageId: row.message.id,
          channelId: row.message.channelId,
          action: 'edit',
          moderatorId: editorId,
          previousContent: previous,
        },
        tx,
      );
      const message = (await messagesRepository.update(
        row.message.id,
        { ...input.content, editedAt: new Date() },
        tx,
      ))!;
      const counts = (await reactionsRepository.countByMessage([message.id], tx)).get(message.id);
      const updated = { message, username: row.username, replyTo: row.replyTo };
      const view = toMessageView(updated, counts);
      await events.record({ channelId: message.channelId, type: 'chat.message.updated', payload: view });
      return { ...updated, view };
    },
  };
}
export type MessageEditor = ReturnType<typeof createMessageEditor>;

const NO_MODERATOR: Viewer = { id: '', isModerator: false };

/** The newest visible message of each channel with its reactions, by channel id (the channel list's `ultima_mensagem`). */
export function createLastMessageReader(deps: {
  messagesRepository: Pick<MessagesRepository, 'findLastMessages'>;
  reactionsRepository: ReactionCounter;
}) {
  return async (channelIds: string[]): Promise<Map<string, MessageView>> => {
    const rows = await deps.messagesRepository.findLastMessages(channelIds);
    const reactions = await deps.reactionsRepository.countByMessage(rows.map((row) => row.message.id));
    // The channel list has no viewer here: a hidden or spam parent's preview is redacted for all.
    return new Map(
      rows.map((row) => [
        row.message.channelId,
        replyVisibility.forViewer(toMessageView(row, reactions.get(row.message.id)), NO_MODERATOR),
      ]),
    );
  };
}

export function createMessagesService(deps: {
  uow: UnitOfWork;
  access: ChannelAccess;
  messagesRepository: MessagesRepository;
  moderationRepository: EditHistory;
  reactionsRepository: ReactionCounter;
  /** CHAT_SEND_RATE_LIMIT: sends (`send:<user>`) and edits (`edit:<user>`) each have their own budget. */
  sendRateLimiter: RateLimiter;
  /** The spam rules of every send (the moderation module's). */
  spam?: SpamGuard | undefined;
  metrics?: { messagesWritten(count: number): void };
  settings: { messageMaxChars: number };
}) {
  const { uow, access, messagesRepository, moderationRepository, reactionsRepository, settings } = deps;
  const { findVisible } = createMessageFinder({ messagesRepository });
  const checkContent = createContentChecker(settings);
  const editor = createMessageEditor({ messagesRepository, moderationRepository, reactionsRepository });

  /** The views of these messages as this viewer may see them (a hidden parent's preview redacted). */
  async function withReactions(rows: MessageWithSender[], viewer: Viewer): Promise<MessageView[]> {
    const reactions = await reactionsRepository.countByMessage(rows.map((row) => row.message.id));
    // The reply preview as the viewer may see it, and the viewer's own spam as sent.
    return rows.map((row) =>
      messageVisibility.viewFor(
        replyVisibility.forViewer(toMessageView(row, reactions.get(row.message.id)), viewer),
        viewer,
      ),
    );
  }

  const sender = createMessageSender({
    uow,
    access,
    messagesRepository,
    withReactions,
    checkContent,
    sendRateLimiter: deps.sendRateLimiter,
    spam: deps.spam,
    metrics: deps.metrics,
  });

  return {
    /** Sends a message; `created` is false when the client_id was already used (idempotent retry). */
    sendMessage: sender.sendMessage,

    async listMessages(user: AuthUser, channelId: string, input: ListMessagesInput) {
      const desde = input.desde !== undefined ? parseIsoTimestamp(input.desde) : undefined;
      const ate = input.ate !== undefined ? parseIsoTimestamp(input.ate) : undefined;
      if ((input.desde !== undefined && !desde) || (input.ate !== undefined && !ate))
        throw createInvalidDateError();
      const cursor = input.cursor !== undefined ? decodeCursor(input.cursor) : undefined;
      if (input.cursor !== undefined && !cursor) throw createInvalidCursorError();
      const standing = await access.requireReadable(user, channelId);
      if (standing.needsJoin) await uow.run((tx, events) => access.joinIfNeeded(standing, tx, events));

      const filter: MessageListFilter = {
        channelId: standing.channel.id,
        includeHidden: messageVisibility.seesHidden(viewerOf(standing)),
        ownSpamOf: standing.user.id,
        desde,
        ate,
      };
      // Without a cursor: the newest page, unless `desde` asks to read forward from a point in time.
      const direction = cursor?.direction ?? (desde ? 'after' : 'before');
      const rows = await messagesRepository.listPage(filter, {
        direction,
        seq: cursor?.seq,
        limit: input.limit,
      });
      const hasMore = rows.length > input.limit;
      const page = rows.slice(0, input.limit);
      if (direction === 'before') page.reverse();
      const first = page[0]?.message.seq;
      const last = page[page.length - 1]?.message.seq;
      const olderExists =
        first === undefined
          ? false
          : direction === 'before'
            ? hasMore
            : await messagesRepository.existsBeyond(filter, 'before', first);
      const newerExists =
        last === undefined
          ? false
          : direction === 'after'
            ? hasMore
            : await messagesRepository.existsBeyond(filter, 'after', last);
      return {
        results: await withReactions(page, viewerOf(standing)),
        next: newerExists ? encodeCursor({ direction: 'after', seq: last! }) : undefined,
        previous: olderExists ? encodeCursor({ direction: 'before', seq: first! }) : undefined,
      };
    },

    async getMessage(user: AuthUser, channelId: string, messageId: string): Promise<MessageView> {
      const standing = await access.requireReadable(user, channelId);
      const row = await findVisible(standing, messageId);
      return (await withReactions([row], viewerOf(standing)))[0]!;
    },

    async editMessage(
      user: AuthUser,
      channelId: string,
      messageId: string,
      input: EditMessageInput,
    ): Promise<MessageView> {
      const standing = await access.requireReadable(user, channelId);
      // Each edit rewrites the message for every reader (event, socket, channel list): edits get
      // the send rule, with a budget of their own. Checked before the transaction locks the row.
      const decision = await deps.sendRateLimiter.consume(`edit:${user.id}`);
      if (!decision.allowed) throw createRateLimitedError(decision.retryAfterMs);
      const updated = await uow.run(async (tx, events) => {
        const row = await findVisible(standing, messageId, tx, true);
        const isSender = row.message.remetenteId === user.id && standing.isMember;
        if (!isSender && !standing.isAdmin) throw createCannotEditError();
        const content = checkContent(standing.channel, {
          ...input,
          alg: standing.channel.e2eeHabilitado ? 'AES-GCM' : undefined,
        });
        return editor.applyEdit(tx, events, { row, editorId: user.id, content });
      });
      return (await withReactions([updated], viewerOf(standing)))[0]!;
    },

    /**
     * Pins or unpins (channel admins and owners); repeating it changes nothing and logs nothing.
     * Checks in the order of docs/permissions.md, like edit, delete and react: the channel (404),
     * the message in it (404), then the role (403).
     */
    async setPinned(
      user: AuthUser,
      channelId: string,
      messageId: string,
      pinned: boolean,
    ): Promise<MessageView> {
      const standing = await access.requireReadable(user, channelId);
      const row = await uow.run(async (tx, events) => {
        const current = await findVisible(standing, messageId, tx, true);
        if (!standing.isAdmin) throw createNotChannelAdminError();
        if ((current.message.pinnedAt !== null) === pinned) return current;
        const message = (await messagesRepository.update(
          current.message.id,
          { pinnedAt: pinned ? new Date() : null },
          tx,
        ))!;
        await events.record({
          channelId: standing.channel.id,
          type: 'chat.pin',
          payload: { mensagem_id: message.id, pinned_at: message.pinnedAt?.toISOString() ?? null },
        });
        return { message, username: current.username, replyTo: current.replyTo };
      });
      return (await withReactions([row], viewerOf(standing)))[0]!;
    },

    async listPins(user: AuthUser, channelId: string, input: { cursor?: string | undefined; limit: number }) {
      const cursor = input.cursor !== undefined ? decodeCursor(input.cursor) : undefined;
      if (input.cursor !== undefined && (!cursor || cursor.direction !== 'before'))
        throw createInvalidCursorError();
      const standing = await access.requireReadable(user, channelId);
      const rows = await messagesRepository.listPinned(
        { channelId: standing.channel.id, includeHidden: messageVisibility.seesHidden(viewerOf(standing)) },
        { beforeSeq: cursor?.seq, limit: input.limit },
      );
      const page = rows.slice(0, input.limit);
      const last = page[page.length - 1]?.message.seq;
      return {
        results: await withReactions(page, viewerOf(standing)),
        next:
          rows.length > input.limit && last !== undefined
            ? encodeCursor({ direction: 'before', seq: last })
            : undefined,
      };
    },

    async deleteMessage(user: AuthUser, channelId: string, messageId: string): Promise<void> {
      const standing = await access.requireReadable(user, channelId);
      await uow.run(async (tx, events) => {
        const row = await findVisible(standing, messageId, tx, true);
        const isSender = row.message.remetenteId === user.id && standing.isMember;
        if (!isSender && !standing.isAdmin) throw createCannotDeleteError();
        await messagesRepository.update(row.message.id, { deletedAt: new Date() }, tx);
        await events.record({
          channelId: standing.channel.id,
          type: 'chat.message.deleted',
          payload: { mensagem_id: row.message.id },
        });
      });
    },
  };
}
export type MessagesService = ReturnType<typeof createMessagesService>;
