import type { UserRef, Viewer } from '../../shared/events.js';
import type { MessageType } from './messages.table.js';

/** How much of the parent's text a reply carries (characters, i.e. code points, as PostgreSQL's left()). */
export const REPLY_PREVIEW_CHARS = 120;

/**
 * The parent of a reply as read with it (one join, or the send's own validation read): only what
 * its preview needs, with `conteudo` already cut to REPLY_PREVIEW_CHARS.
 */
export type ReplyParent = {
  id: string;
  remetenteId: string | null;
  username: string | null;
  tipo: MessageType;
  conteudo: string;
  /** Whether it is end-to-end encrypted (its preview then has no text). */
  encrypted: boolean;
  hiddenAt: Date | null;
  isSpam: boolean;
  deletedAt: Date | null;
};

/** A parent as a left join reads it: every column null when there is no parent row. */
export type ReplyParentRow = { [K in keyof ReplyParent]: ReplyParent[K] | null };

/** A reply's `reply_to` for those who may see its parent. */
export type ReplyPreviewFull = {
  id: string;
  remetente: UserRef | null;
  /** The parent's first 120 characters; '' when it is end-to-end encrypted. */
  conteudo: string;
  tipo: MessageType;
  /** Set when the parent is hidden: only moderators get such a preview, others the unavailable one. */
  hidden_at: string | null;
  is_spam: boolean;
};
/** A reply's `reply_to` when its parent is deleted, or hidden or spam for a non-moderator. */
export type ReplyPreviewUnavailable = { id: string; indisponivel: true };
export type ReplyPreview = ReplyPreviewFull | ReplyPreviewUnavailable;

export const cutPreview = (text: string): string =>
  text.length <= REPLY_PREVIEW_CHARS ? text : [...text].slice(0, REPLY_PREVIEW_CHARS).join('');

const unavailable = (id: string): ReplyPreviewUnavailable => ({ id, indisponivel: true });

/**
 * The preview of a reply's parent as everyone may not see it: unavailable when the parent is gone
 * or deleted (for everyone), else complete, with its moderation state for `replyVisibility`.
 */
export function toReplyPreview(
  replyToId: string | null,
  parent: ReplyParentRow | null | undefined,
): ReplyPreview | null {
  if (replyToId === null) return null;
  if (!parent || parent.id !== replyToId || parent.deletedAt) return unavailable(replyToId);
  return {
    id: parent.id,
    remetente: parent.remetenteId ? { id: parent.remetenteId, username: parent.username ?? '' } : null,
    conteudo: parent.encrypted ? '' : cutPreview(parent.conteudo ?? ''),
    tipo: parent.tipo ?? 'text',
    hidden_at: parent.hiddenAt ? parent.hiddenAt.toISOString() : null,
    is_spam: parent.isSpam === true,
  };
}

/**
 * Who sees a reply's parent: a hidden or spam parent reaches moderators only (the rule of
 * messageVisibility); everyone else gets `{id, indisponivel: true}`.
 */
export const replyVisibility = {
  isRestricted(preview: ReplyPreview | null | undefined): preview is ReplyPreviewFull {
    // Payloads built elsewhere (older logs, other event shapes) may lack the field: nothing to hide.
    return (
      typeof preview === 'object' &&
      preview !== null &&
      'tipo' in preview &&
      (preview.hidden_at !== null || preview.is_spam)
    );
  },
  /** The `reply_to` for a viewer who may not see hidden content. */
  redact: (preview: ReplyPreview | null): ReplyPreview | null =>
    replyVisibility.isRestricted(preview) ? unavailable(preview.id) : preview,
  /** A message view (or notification) as this viewer may see its `reply_to`; the same object when nothing changes. */
  forViewer<T extends { reply_to: ReplyPreview | null }>(view: T, viewer: Viewer): T {
    const preview = view.reply_to;
    if (viewer.isModerator || !replyVisibility.isRestricted(preview)) return view;
    // A spam sender sees their own held message as sent (messageVisibility.asSent), in previews too.
    if (preview.is_spam && preview.hidden_at !== null && preview.remetente?.id === viewer.id)
      return { ...view, reply_to: { ...preview, hidden_at: null, is_spam: false } };
    return { ...view, reply_to: unavailable(preview.id) };
  },
};

/**
 * Before a `since` replay: each logged reply's `reply_to` is rebuilt from its parent's current
 * state (hidden, spam or deleted since the reply was sent; logs from before previews held a bare
 * id), in one read for the batch and none when it has no replies.
 */
export function createReplyRefresher(deps: {
  messagesRepository: { findReplyParents(ids: string[]): Promise<ReplyParentRow[]> };
}) {
  return async <E extends { payload: { reply_to: ReplyPreview | string | null } }>(events: E[]) => {
    const idOf = (replyTo: ReplyPreview | string | null) =>
      replyTo === null ? null : typeof replyTo === 'string' ? replyTo : replyTo.id;
    const ids = [...new Set(events.map((event) => idOf(event.payload.reply_to)).filter((id) => id !== null))];
    if (ids.length === 0) return events;
    const parents = new Map(
      (await deps.messagesRepository.findReplyParents(ids)).map((parent) => [parent.id, parent]),
    );
    return events.map((event) => {
      const id = idOf(event.payload.reply_to);
      if (id === null) return event;
      return { ...event, payload: { ...event.payload, reply_to: toReplyPreview(id, parents.get(id)) } };
    });
  };
}
