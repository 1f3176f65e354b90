import { toReplyPreview } from './messages.replies.js';
import type { MessageWithSender } from './messages.repository.js';

/** {emoji: count} of one message (the reactions module counts them). */
export type ReactionCounts = Record<string, number>;

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/**
 * The wire shape of a message (REST responses and `chat.message` events), as moderators see it:
 * a hidden or spam parent's preview is redacted per viewer (replyVisibility, the event policy).
 */
export function toMessageView(row: MessageWithSender, reactions: ReactionCounts = {}) {
  const { message } = row;
  return {
    id: message.id,
    channel: message.channelId,
    seq: message.seq,
    remetente: message.remetenteId ? { id: message.remetenteId, username: row.username ?? '' } : null,
    tipo: message.tipo,
    conteudo: message.conteudo,
    conteudo_cifrado: message.conteudoCifrado,
    alg: message.alg,
    key_version: message.keyVersion,
    reply_to: toReplyPreview(message.replyToId, row.replyTo),
    client_id: message.clientId,
    pinned_at: iso(message.pinnedAt),
    hidden_at: iso(message.hiddenAt),
    is_spam: message.isSpam,
    edited_at: iso(message.editedAt),
    reactions,
    created_at: message.createdAt.toISOString(),
    updated_at: message.updatedAt.toISOString(),
  };
}
export type MessageView = ReturnType<typeof toMessageView>;
