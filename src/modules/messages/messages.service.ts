import { newId } from '../../shared/ids.js';
import { decodeCursor, encodeCursor } from '../../shared/cursor.js';
import { parseIsoTimestamp } from '../../shared/time.js';
import type { AuthUser } from '../auth/auth.service.js';
import { isModerator, type ChannelAccess, type ChannelStanding } from '../channels/channels.access.js';
import { createChannelNotFoundError, createNotChannelAdminError } from '../channels/channels.errors.js';
import type { Executor } from '../../platform/db/client.js';
import type { RateLimiter } from '../../platform/rate-limit/rate-limit.js';
import { createRateLimitedError, isAppError } from '../../shared/errors.js';
import type { EventRecorder, UnitOfWork } from '../../shared/events.js';
import type { MessageRow, MessageType } from './messages.table.js';
import type {
  MessageListFilter,
  MessagesRepository,
  MessageWithSender,
  MessageWrite,
} from './messages.repository.js';
import {
  createCannotDeleteError,
  createCannotEditError,
  createCiphertextRefusedError,
  createClientIdReusedError,
  createEmptyMessageError,
  createInvalidCursorError,
  createInvalidDateError,
  createInvalidReplyError,
  createMessageNotFoundError,
  createMessageTooLongError,
  createPlaintextRefusedError,
  createUnsupportedTypeError,
} from './messages.errors.js';
import { maxCiphertextLength } from './messages.schemas.js';
import { messageVisibility } from './messages.policy.js';
import { toMessageView, type MessageView, type ReactionCounts } from './messages.views.js';
import { createBatcher } from '../../shared/batching.js';

/**
 * Group writes of sends running at once per process. One: the next batch forms while the current
 * one is written, and each statement costs PostgreSQL ≈ 0.7 ms before its first row, so fewer,
 * larger statements leave the machine more room than overlapping ones (two in flight took ≈ 12 %
 * more of a core in PostgreSQL and 6 % more in the server for the same 2,000 msg/s; bench/RESULTS.md).
 */
const SEND_WRITES_IN_FLIGHT = 1;

/** A send as the group writer carries it: the message and its view, the event's payload. */
type SendWrite = MessageWrite<MessageView>;

export type SendMessageInput = {
  tipo: MessageType;
  conteudo?: string | undefined;
  conteudo_cifrado?: string | undefined;
  alg?: string | undefined;
  key_version?: number | undefined;
  reply_to?: string | null | undefined;
  client_id?: string | undefined;
};
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

/** The content columns of a message after the channel's plaintext/E2EE rules were applied. */
type Content = {
  conteudo: string;
  conteudoCifrado: string | null;
  alg: string | null;
  keyVersion: number | null;
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
      if (row.message.hiddenAt && !messageVisibility.seesHidden(viewerOf(standing)))
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
    values: { messageId: string; action: 'edit'; moderatorId: string; previousContent: string },
    tx?: Executor,
  ): Promise<void>;
};

/** The newest visible message of each channel with its reactions, by channel id (the channel list's `ultima_mensagem`). */
export function createLastMessageReader(deps: {
  messagesRepository: Pick<MessagesRepository, 'findLastMessages'>;
  reactionsRepository: ReactionCounter;
}) {
  return async (channelIds: string[]): Promise<Map<string, MessageView>> => {
    const rows = await deps.messagesRepository.findLastMessages(channelIds);
    const reactions = await deps.reactionsRepository.countByMessage(rows.map((row) => row.message.id));
    return new Map(
      rows.map((row) => [row.message.channelId, toMessageView(row, reactions.get(row.message.id))]),
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
  metrics?: { messagesWritten(count: number): void };
  settings: { messageMaxChars: number };
}) {
  const { uow, access, messagesRepository, moderationRepository, reactionsRepository, settings } = deps;
  const maxCiphertextChars = maxCiphertextLength(settings.messageMaxChars);
  const { findVisible } = createMessageFinder({ messagesRepository });
  // Group commit: sends that arrive while earlier writes are in flight share the next statement
  // (one WAL flush for many messages, of any channels); a channel is in one write at a time, so
  // its messages keep their order.
  const sendWriter = createBatcher({
    run: (items: SendWrite[]) =>
      uow.runCommitted((events) => writeMessages(items, (seqs) => logSent(items, seqs, events))),
    keyOf: (item) => item.message.channelId,
    maxInFlight: SEND_WRITES_IN_FLIGHT,
  });

  async function writeMessages(
    items: SendWrite[],
    onStored: (seqs: Array<number | undefined>) => void,
    tx?: Executor,
  ): Promise<Array<number | undefined>> {
    const seqs = await messagesRepository.insertWithEvents(items, tx);
    onStored(seqs);
    return seqs;
  }

  /**
   * The stored messages' `chat.message` events, which the statement logged: each message's view
   * (built once, before the write) gets its seq here and is the event's payload as published.
   */
  function logSent(
    items: SendWrite[],
    seqs: Array<number | undefined>,
    events: Pick<EventRecorder, 'logged'>,
  ) {
    let stored = 0;
    items.forEach((item, index) => {
      const seq = seqs[index];
      if (seq === undefined) return;
      stored += 1;
      item.payload.seq = seq;
      events.logged(
        { channelId: item.message.channelId, type: 'chat.message', payload: item.payload },
        seq,
        item.message.createdAt,
      );
    });
    if (stored > 0) deps.metrics?.messagesWritten(stored);
  }

  async function withReactions(rows: MessageWithSender[]): Promise<MessageView[]> {
    const reactions = await reactionsRepository.countByMessage(rows.map((row) => row.message.id));
    return rows.map((row) => toMessageView(row, reactions.get(row.message.id)));
  }

  /** Applies the plaintext or E2EE rules of the channel to submitted content. */
  function checkContent(
    channel: { e2eeHabilitado: boolean },
    input: {
      conteudo?: string | undefined;
      conteudo_cifrado?: string | undefined;
      alg?: string | undefined;
      key_version?: number | undefined;
    },
  ): Content {
    if (channel.e2eeHabilitado) {
      if ((input.conteudo ?? '') !== '' || !input.conteudo_cifrado || input.key_version === undefined) {
        throw createPlaintextRefusedError();
      }
      if (input.alg !== 'AES-GCM') throw createPlaintextRefusedError();
      // Every message rides in channel lists, events and sockets: ciphertext may be no longer than
      // a MESSAGE_MAX_CHARS plaintext can encrypt to.
      if (input.conteudo_cifrado.length > maxCiphertextChars) {
        throw createMessageTooLongError(
          `conteudo_cifrado is longer than ${maxCiphertextChars} characters (what ${settings.messageMaxChars} characters encrypt to at most).`,
        );
      }
      return {
        conteudo: '',
        conteudoCifrado: input.conteudo_cifrado,
        alg: 'AES-GCM',
        keyVersion: input.key_version,
      };
    }
    if (input.conteudo_cifrado !== undefined || input.alg !== undefined || input.key_version !== undefined) {
      throw createCiphertextRefusedError();
    }
    const text = input.conteudo ?? '';
    if (text.trim().length === 0) throw createEmptyMessageError();
    if ([...text].length > settings.messageMaxChars) {
      throw createMessageTooLongError(
        `Message content is longer than ${settings.messageMaxChars} characters.`,
      );
    }
    return { conteudo: text, conteudoCifrado: null, alg: null, keyVersion: null };
  }

  /** A repeated client_id answers with the original message, unless that message was deleted since. */
  async function answerRetry(original: MessageWithSender) {
    if (original.message.deletedAt) throw createClientIdReusedError();
    return { message: (await withReactions([original]))[0]!, created: false };
  }

  /**
   * What a send needs to know of a channel before its write, cached per process: the E2EE flag is
   * fixed when the channel is created, and the write itself refuses deleted channels.
   */
  const channelFacts = new Map<string, { e2eeHabilitado: boolean }>();
  const CHANNEL_FACTS_MAX = 50_000;

  async function requireSender(user: AuthUser, channelId: string): Promise<ChannelStanding> {
    const standing = await access.requireMember(user, channelId);
    if (channelFacts.size >= CHANNEL_FACTS_MAX) channelFacts.delete(channelFacts.keys().next().value!);
    channelFacts.set(channelId, { e2eeHabilitado: standing.channel.e2eeHabilitado });
    return standing;
  }

  /** A context member's first post also creates their participant row: one transaction then. */
  function joinAndWrite(standing: ChannelStanding, write: SendWrite) {
    return uow.run(async (tx, events) => {
      await access.joinIfNeeded(standing, tx, events);
      const [stored] = await writeMessages([write], (seqs) => logSent([write], seqs, events), tx);
      return stored;
    });
  }

  async function sendChecked(
    user: AuthUser,
    channelId: string,
    input: SendMessageInput,
    checked: ChannelStanding | undefined,
  ): Promise<{ message: MessageView; created: boolean }> {
    const content = checkContent(channelFacts.get(channelId) ?? checked!.channel, input);
    const decision = await deps.sendRateLimiter.consume(`send:${user.id}`);
    if (!decision.allowed) {
      // A retry of a message that was already stored is answered, not refused.
      const existing = input.client_id
        ? await messagesRepository.findByClientId(channelId, user.id, input.client_id)
        : undefined;
      if (existing) {
        if (!checked) await access.requireMember(user, channelId);
        return answerRetry(existing);
      }
      throw createRateLimitedError(decision.retryAfterMs);
    }
    if (input.reply_to) {
      const target = await messagesRepository.findInChannel(channelId, input.reply_to);
      if (
        !target ||
        target.message.deletedAt ||
        (target.message.hiddenAt &&
          !messageVisibility.seesHidden({ id: user.id, isModerator: isModerator(user) }))
      ) {
        throw createInvalidReplyError();
      }
    }
    const now = new Date();
    const message = {
      id: newId(),
      channelId,
      remetenteId: user.id,
      tipo: input.tipo,
      ...content,
      replyToId: input.reply_to ?? null,
      clientId: input.client_id ?? null,
      seq: 0,
      pinnedAt: null,
      hiddenAt: null,
      isSpam: false,
      editedAt: null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    } satisfies MessageRow;
    // The message's view, built once: its seq is set when the write stores it.
    const view = toMessageView({ message, username: user.username });
    const write: SendWrite = {
      message,
      senderIsStaff: isModerator(user),
      eventId: newId(),
      payload: view,
    };
    let seq: number | undefined;
    let duplicate = false;
    try {
      seq = checked?.needsJoin ? await joinAndWrite(checked, write) : await sendWriter.submit(write);
      if (seq === undefined) {
        // Refused: the channel is gone or the sender may not post (or must join first). The full
        // check says which; someone who became a member meanwhile is written once more.
        const standing = await access.requireMember(user, channelId);
        seq = standing.needsJoin ? await joinAndWrite(standing, write) : await sendWriter.submit(write);
      }
    } catch (error) {
      // The same client_id sent twice at once (two nodes, a retry): the loser of the unique index
      // answers with the winner's message instead of an error.
      if (!(input.client_id && isUniqueViolation(error))) throw error;
      duplicate = true;
    }
    if (seq === undefined && !duplicate) throw createChannelNotFoundError();
    if (seq !== undefined) return { message: view, created: true };
    const original = await messagesRepository.findByClientId(channelId, user.id, input.client_id!);
    if (!original) throw new Error('client_id conflict without an original message');
    return answerRetry(original);
  }

  return {
    /** Sends a message; `created` is false when the client_id was already used (idempotent retry). */
    async sendMessage(
      user: AuthUser,
      channelId: string,
      input: SendMessageInput,
    ): Promise<{ message: MessageView; created: boolean }> {
      if (input.tipo !== 'text') throw createUnsupportedTypeError();
      // In a channel this process has seen, no access query precedes the write: the write checks
      // membership itself, in the same statement. A channel seen for the first time, a refused
      // write and any error take the full check first, so outsiders learn nothing but "not found"
      // and members get the precise reason.
      const standing = channelFacts.has(channelId) ? undefined : await requireSender(user, channelId);
      try {
        return await sendChecked(user, channelId, input, standing);
      } catch (error) {
        if (!standing && isAppError(error)) await access.requireMember(user, channelId);
        throw error;
      }
    },

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
        results: await withReactions(page),
        next: newerExists ? encodeCursor({ direction: 'after', seq: last! }) : undefined,
        previous: olderExists ? encodeCursor({ direction: 'before', seq: first! }) : undefined,
      };
    },

    async getMessage(user: AuthUser, channelId: string, messageId: string): Promise<MessageView> {
      const standing = await access.requireReadable(user, channelId);
      const row = await findVisible(standing, messageId);
      return (await withReactions([row]))[0]!;
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
        const previous = row.message.conteudoCifrado ?? row.message.conteudo;
        await moderationRepository.insertEdit(
          { messageId: row.message.id, previousContent: previous, editorId: user.id },
          tx,
        );
        await moderationRepository.insertLog(
          { messageId: row.message.id, action: 'edit', moderatorId: user.id, previousContent: previous },
          tx,
        );
        const message = (await messagesRepository.update(
          row.message.id,
          { ...content, editedAt: new Date() },
          tx,
        ))!;
        const counts = (await reactionsRepository.countByMessage([message.id], tx)).get(message.id);
        const view = toMessageView({ message, username: row.username }, counts);
        await events.record({ channelId: standing.channel.id, type: 'chat.message.updated', payload: view });
        return { message, username: row.username };
      });
      return (await withReactions([updated]))[0]!;
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
        return { message, username: current.username };
      });
      return (await withReactions([row]))[0]!;
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
        results: await withReactions(page),
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

function isUniqueViolation(error: unknown): boolean {
  let current: unknown = error;
  // drizzle wraps driver errors; the SQLSTATE sits on the error or its cause.
  for (let depth = 0; current && depth < 4; depth++) {
    if (typeof current === 'object' && (current as { code?: unknown }).code === '23505') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
