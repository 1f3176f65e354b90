import type { RateLimiter } from '../../platform/rate-limit/rate-limit.js';
import { createBatcher } from '../../shared/batching.js';
import { createRateLimitedError, isAppError } from '../../shared/errors.js';
import type { EventRecorder, UnitOfWork, Viewer } from '../../shared/events.js';
import { newId } from '../../shared/ids.js';
import type { Executor } from '../../platform/db/client.js';
import type { AuthUser } from '../auth/auth.service.js';
import { isModerator, type ChannelAccess, type ChannelStanding } from '../channels/channels.access.js';
import { createChannelNotFoundError } from '../channels/channels.errors.js';
import type { Content, ContentChecker } from './messages.content.js';
import {
  createClientIdReusedError,
  createInvalidReplyError,
  createUnsupportedTypeError,
} from './messages.errors.js';
import { messageVisibility } from './messages.policy.js';
import { replyVisibility } from './messages.replies.js';
import type { MessagesRepository, MessageWithSender, MessageWrite } from './messages.repository.js';
import type { MessageRow, MessageType } from './messages.table.js';
import { toMessageView, type MessageView } from './messages.views.js';

/**
 * Group writes of sends running at once per process. One: the next batch forms while the current
 * one is written, and each statement costs PostgreSQL ≈ 0.7 ms before its first row, so fewer,
 * larger statements leave the machine more room than overlapping ones (two in flight took ≈ 12 %
 * more of a core in PostgreSQL and 6 % more in the server for the same 2,000 msg/s; bench/RESULTS.md).
 */
const SEND_WRITES_IN_FLIGHT = 1;

/** A send as the group writer carries it: the message and its view, the event's payload. */
type SendWrite = MessageWrite<MessageView>;

/**
 * The spam rules (the moderation module's, handed in by the composition root): `check` classifies
 * a send before its write (undefined: not spam; else the rule it tripped), `record` puts a spam
 * message in the moderators' queue and log inside the write's transaction.
 */
export type SpamGuard = {
  check(senderId: string, content: Content): Promise<string | undefined>;
  record(
    spam: { messageId: string; channelId: string; senderId: string; reason: string },
    tx: Executor,
  ): Promise<void>;
};

export type SendMessageInput = {
  tipo: MessageType;
  conteudo?: string | undefined;
  conteudo_cifrado?: string | undefined;
  alg?: string | undefined;
  key_version?: number | undefined;
  reply_to?: string | null | undefined;
  client_id?: string | undefined;
};

/**
 * The send hot path: one statement per group of sends (no query before it in a channel this
 * process has seen), its events recorded through `uow.runCommitted`, idempotent by `client_id`.
 */
export function createMessageSender(deps: {
  uow: UnitOfWork;
  access: ChannelAccess;
  messagesRepository: Pick<MessagesRepository, 'insertWithEvents' | 'findByClientId' | 'findReplyParent'>;
  /** Views of stored messages with their reactions, as this viewer may see them (a retry's answer). */
  withReactions(rows: MessageWithSender[], viewer: Viewer): Promise<MessageView[]>;
  checkContent: ContentChecker;
  /** CHAT_SEND_RATE_LIMIT: sends (`send:<user>`). */
  sendRateLimiter: RateLimiter;
  /** Spam rules; without it every send is ordinary. */
  spam?: SpamGuard | undefined;
  metrics?: { messagesWritten(count: number): void } | undefined;
}) {
  const { uow, access, messagesRepository, withReactions, checkContent } = deps;
  // Group commit: sends that arrive while earlier writes are in flight share the next statement
  // (one WAL flush for many messages, of any channels); a channel is in one write at a time, so
  // its messages keep their order.
  const groupWriter = createBatcher({
    run: (items: SendWrite[]) => messagesRepository.insertWithEvents(items),
    keyOf: (item) => item.message.channelId,
    maxInFlight: SEND_WRITES_IN_FLIGHT,
  });

  /**
   * One send through the group writer. Its event is published by the sender once its group's
   * statement has returned, not inside the group: the write slot is free for the next group while
   * the events go out (on Redis, a publish is a round trip).
   */
  const submitToGroup = (write: SendWrite) =>
    uow.runCommitted(async (events) => {
      const seq = await groupWriter.submit(write);
      logSent([write], [seq], events);
      return seq;
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

  /** A repeated client_id answers with the original message, unless that message was deleted since. */
  async function answerRetry(original: MessageWithSender, user: AuthUser) {
    if (original.message.deletedAt) throw createClientIdReusedError();
    const viewer = { id: user.id, isModerator: isModerator(user) };
    return { message: (await withReactions([original], viewer))[0]!, created: false };
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

  /**
   * A write in a transaction of its own, outside the group: a context member's first post also
   * creates their participant row, and a spam message also enters the moderators' queue and log
   * (so neither the message nor its review can exist without the other).
   */
  function writeAlone(standing: ChannelStanding | undefined, write: SendWrite, spamReason?: string) {
    return uow.run(async (tx, events) => {
      if (standing?.needsJoin) await access.joinIfNeeded(standing, tx, events);
      const [stored] = await writeMessages([write], (seqs) => logSent([write], seqs, events), tx);
      if (stored !== undefined && spamReason) {
        const { id: messageId, channelId, remetenteId: senderId } = write.message;
        await deps.spam!.record({ messageId, channelId, senderId, reason: spamReason }, tx);
      }
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
        return answerRetry(existing, user);
      }
      throw createRateLimitedError(decision.retryAfterMs);
    }
    // The one read of the parent both checks it and gives its preview (messages.replies.ts).
    const viewer = { id: user.id, isModerator: isModerator(user) };
    const parent = input.reply_to
      ? await messagesRepository.findReplyParent(channelId, input.reply_to)
      : undefined;
    if (input.reply_to) {
      if (
        !parent ||
        parent.deletedAt ||
        (parent.hiddenAt &&
          !messageVisibility.seesHidden(viewer) &&
          // A spam sender may answer their own held message, like any message they see as sent.
          !messageVisibility.isOwnSpam(
            { isSpam: parent.isSpam === true, hidden: true, senderId: parent.remetenteId },
            viewer,
          ))
      ) {
        throw createInvalidReplyError();
      }
    }
    // --- spam rules: a send that trips one is stored hidden, for review, and answered as sent ---
    const spamReason = deps.spam ? await deps.spam.check(user.id, content) : undefined;
    // --- end spam rules ---
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
      hiddenAt: spamReason ? now : null,
      isSpam: spamReason !== undefined,
      editedAt: null,
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    } satisfies MessageRow;
    // The message's view, built once: its seq is set when the write stores it.
    const view = toMessageView({ message, username: user.username, replyTo: parent });
    const write: SendWrite = {
      message,
      senderIsStaff: isModerator(user),
      eventId: newId(),
      payload: view,
    };
    let seq: number | undefined;
    let duplicate = false;
    try {
      seq =
        checked?.needsJoin || spamReason
          ? await writeAlone(checked, write, spamReason)
          : await submitToGroup(write);
      if (seq === undefined) {
        // Refused: the channel is gone or the sender may not post (or must join first). The full
        // check says which; someone who became a member meanwhile is written once more.
        const standing = await access.requireMember(user, channelId);
        seq =
          standing.needsJoin || spamReason
            ? await writeAlone(standing, write, spamReason)
            : await submitToGroup(write);
      }
    } catch (error) {
      // The same client_id sent twice at once (two nodes, a retry): the loser of the unique index
      // answers with the winner's message instead of an error.
      if (!(input.client_id && isUniqueViolation(error))) throw error;
      duplicate = true;
    }
    if (seq === undefined && !duplicate) throw createChannelNotFoundError();
    if (seq !== undefined)
      return { message: messageVisibility.asSent(replyVisibility.forViewer(view, viewer)), created: true };
    const original = await messagesRepository.findByClientId(channelId, user.id, input.client_id!);
    if (!original) throw new Error('client_id conflict without an original message');
    return answerRetry(original, user);
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
  };
}

function isUniqueViolation(error: unknown): boolean {
  let current: unknown = error;
  // drizzle wraps driver errors; the SQLSTATE sits on the error or its cause.
  for (let depth = 0; current && depth < 4; depth++) {
    if (typeof current === 'object' && (current as { code?: unknown }).code === '23505') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
